//! Applying a set of nginx file changes safely: ownership checks, backups, `nginx -t`, reload,
//! and a full restore when anything fails.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::NginxError;
use super::binary::Nginx;
use super::render::{Ownership, ownership};
use crate::fsio;

/// One change certctl wants to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Write a file certctl owns (refused if someone else wrote or edited it).
    Owned {
        /// Where.
        path: PathBuf,
        /// The whole new content.
        content: String,
    },
    /// Rewrite a user's file with one added line (the new content was computed from the old).
    UserFile {
        /// Where.
        path: PathBuf,
        /// The whole new content.
        content: String,
    },
    /// A symlink (sites-enabled → sites-available).
    Symlink {
        /// The link.
        link: PathBuf,
        /// What it points at.
        target: PathBuf,
    },
}

impl Change {
    /// The file (or link) it writes.
    pub fn path(&self) -> &Path {
        match self {
            Self::Owned { path, .. } | Self::UserFile { path, .. } => path,
            Self::Symlink { link, .. } => link,
        }
    }
}

/// The result of [`apply`].
#[derive(Debug, Default, serde::Serialize)]
pub struct Applied {
    /// Files and links that changed.
    pub changed: Vec<PathBuf>,
    /// Where the previous versions were saved.
    pub backup_dir: Option<PathBuf>,
    /// nginx was reloaded.
    pub reloaded: bool,
    /// The configuration nginx accepted before that reload (`nginx -T`, which tests it as
    /// `nginx -t` does): what it serves now, without asking again.
    #[serde(skip)]
    pub config: Option<String>,
}

/// What a path held before, to restore it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Before {
    Missing,
    File(Vec<u8>, u32),
    Link(PathBuf),
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> NginxError + 'a {
    move |source| crate::fsio::io(action, path)(source).into()
}

fn read_before(path: &Path) -> Result<Before, NginxError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Before::Missing),
        Err(e) => Err(io("cannot read", path)(e)),
        Ok(meta) if meta.file_type().is_symlink() => Ok(Before::Link(
            fs::read_link(path).map_err(io("cannot read", path))?,
        )),
        Ok(meta) => Ok(Before::File(
            fs::read(path).map_err(io("cannot read", path))?,
            meta.permissions().mode() & 0o7777,
        )),
    }
}

/// Refuses a file someone else wrote, or edited after certctl wrote it.
fn check_ours(path: &Path, content: &str) -> Result<(), NginxError> {
    let why = match ownership(content) {
        Ownership::Ours => return Ok(()),
        Ownership::OursEdited => "was edited after certctl wrote it",
        Ownership::NotOurs => "was not written by certctl",
    };
    Err(NginxError::NotOurs {
        path: path.to_owned(),
        why,
    })
}

/// Whether certctl's own file exists at `path`: Ok(false) when there is none, an error when a
/// file is there that certctl did not write or that was edited since.
pub fn owned_file_exists(path: &Path) -> Result<bool, NginxError> {
    match fs::read_to_string(path) {
        Ok(text) => check_ours(path, &text).map(|()| true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io("cannot read", path)(e)),
    }
}

/// Checks every change against what is on disk; returns the changes that differ.
pub fn pending(changes: &[Change]) -> Result<Vec<Change>, NginxError> {
    let mut out = Vec::new();
    for change in changes {
        let before = read_before(change.path())?;
        let differs = match (change, &before) {
            (Change::Owned { path, content }, Before::File(old, _)) => {
                let old = String::from_utf8_lossy(old);
                check_ours(path, &old)?;
                old != *content
            }
            (Change::Owned { path, .. }, Before::Link(_)) => {
                return Err(NginxError::NotOurs {
                    path: path.clone(),
                    why: "is a symlink certctl did not make",
                });
            }
            (Change::UserFile { content, .. }, Before::File(old, _)) => old != content.as_bytes(),
            (Change::Symlink { target, .. }, Before::Link(old)) => old != target,
            (Change::UserFile { path, .. }, Before::Link(_)) => {
                return Err(NginxError::NotOurs {
                    path: path.clone(),
                    why: "is a symlink (certctl edits the file it points to)",
                });
            }
            (Change::Symlink { link, .. }, Before::File(..)) => {
                return Err(NginxError::NotOurs {
                    path: link.clone(),
                    why: "is a file, not the symlink certctl would make",
                });
            }
            (_, Before::Missing) => true,
        };
        if differs {
            out.push(change.clone());
        }
    }
    Ok(out)
}

/// A unified diff of every change, for `--dry-run`.
pub fn diff(changes: &[Change]) -> Result<String, NginxError> {
    let mut out = String::new();
    for change in pending(changes)? {
        let path = change.path().display().to_string();
        let old = match read_before(change.path())? {
            Before::File(bytes, _) => String::from_utf8_lossy(&bytes).into_owned(),
            Before::Link(target) => format!("-> {}\n", target.display()),
            Before::Missing => String::new(),
        };
        let new = match &change {
            Change::Owned { content, .. } | Change::UserFile { content, .. } => content.clone(),
            Change::Symlink { target, .. } => format!("-> {}\n", target.display()),
        };
        let text = similar::TextDiff::from_lines(&old, &new);
        out.push_str(
            &text
                .unified_diff()
                .header(&format!("a{path}"), &format!("b{path}"))
                .to_string(),
        );
    }
    Ok(out)
}

/// When [`apply`] reloads nginx.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reload {
    /// Only when a file changed.
    IfChanged,
    /// Even when no file changed: a new certificate went live behind unchanged paths.
    Always,
}

/// Writes the changes, runs `nginx -t`, reloads. On any failure every path is restored to what it
/// was and nginx keeps running its previous configuration. Previous versions go to `backup_root`.
pub fn apply(
    changes: &[Change],
    nginx: &Nginx,
    backup_root: &Path,
    reload: Reload,
    journal: Option<&Path>,
) -> Result<Applied, NginxError> {
    apply_recording(
        changes,
        nginx,
        backup_root,
        reload,
        true,
        |paths, saved| match journal {
            Some(dir) => record(dir, paths, saved),
            None => Ok(()),
        },
    )
}

/// [`apply`] for changes made for several certificates at once (`import certbot`): one
/// `nginx -t` and one reload for all, and each changed path recorded in the journal of every
/// certificate it was changed for (`journals`: journal directory → its paths), so
/// `certctl nginx NAME --revert` works per certificate.
pub fn apply_for_each(
    changes: &[Change],
    nginx: &Nginx,
    backup_root: &Path,
    journals: &[(PathBuf, Vec<PathBuf>)],
) -> Result<Applied, NginxError> {
    // Nothing checks what nginx serves right after an import: the reload is not waited on.
    apply_recording(
        changes,
        nginx,
        backup_root,
        Reload::IfChanged,
        false,
        |_, saved| {
            // The journals there were before are read once, not once per certificate; each
            // journal waits on its fsyncs, so a hundred are written side by side.
            let mut before = match journals.first().and_then(|(dir, _)| dir.parent()) {
                Some(root) => journals_under(root)?,
                None => Vec::new(),
            };
            crate::parallel::map(journals, 8, |(dir, paths)| {
                let mine: Vec<(PathBuf, Before)> = saved
                    .iter()
                    .filter(|(path, _)| paths.contains(path))
                    .cloned()
                    .collect();
                match mine.is_empty() {
                    true => Ok(()),
                    false => write_journal(dir, paths, &mine, &before),
                }
            })
            .into_iter()
            .collect::<Result<(), NginxError>>()?;
            before.retain(|(dir, _)| !journals.iter().any(|(d, _)| d == dir));
            let written: Vec<&PathBuf> = saved.iter().map(|(p, _)| p).collect();
            update_after(&mut before, &written)
        },
    )
}

/// `wait`: the reload returns once nginx serves the new configuration ([`Nginx::reload`]).
fn apply_recording(
    changes: &[Change],
    nginx: &Nginx,
    backup_root: &Path,
    reload: Reload,
    wait: bool,
    record_journals: impl FnOnce(&[PathBuf], &[(PathBuf, Before)]) -> Result<(), NginxError>,
) -> Result<Applied, NginxError> {
    let todo = pending(changes)?;
    let paths: Vec<PathBuf> = changes.iter().map(|c| c.path().to_owned()).collect();
    if todo.is_empty() {
        let mut config = None;
        if reload == Reload::Always {
            config = Some(nginx.test_and_dump()?);
            reload_nginx(nginx, wait)?;
        }
        record_journals(&paths, &[])?;
        return Ok(Applied {
            reloaded: reload == Reload::Always,
            config,
            ..Applied::default()
        });
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let backup_dir = backup_root.join(stamp.to_string());
    let mut saved: Vec<(PathBuf, Before)> = Vec::new();
    let result = (|| {
        for change in &todo {
            let path = change.path().to_owned();
            saved.push((path.clone(), read_before(&path)?));
        }
        // The previous versions, then the new ones: each set in one go (see fsio::replace_all).
        backup(&backup_dir, &saved)?;
        write_changes(&todo)?;
        let config = nginx.test_and_dump()?;
        reload_nginx(nginx, wait)?;
        Ok(config)
    })();
    let result = result.and_then(|config| record_journals(&paths, &saved).map(|()| config));
    match result {
        Ok(config) => Ok(Applied {
            changed: todo.iter().map(|c| c.path().to_owned()).collect(),
            backup_dir: Some(backup_dir),
            reloaded: true,
            config: Some(config),
        }),
        Err(err) => {
            for (path, before) in saved.into_iter().rev() {
                if let Err(e) = restore(&path, before) {
                    tracing::error!("cannot restore {}: {e}", path.display());
                }
            }
            Err(err)
        }
    }
}

fn reload_nginx(nginx: &Nginx, wait: bool) -> Result<(), NginxError> {
    match wait {
        true => nginx.reload(),
        false => nginx.reload_without_waiting(),
    }
}

/// One file or link certctl changed for a certificate: what it was before certctl first
/// touched it, and what certctl last made it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Entry {
    path: PathBuf,
    /// "missing", "file" (with `copy` and `mode`) or "link" (with `target`).
    before: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    copy: Option<String>,
    #[serde(default)]
    mode: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<PathBuf>,
    /// SHA-256 of the file certctl wrote, or the target of the link it made.
    after: String,
}

const JOURNAL: &str = "journal.json";

fn load_journal(dir: &Path) -> Result<Option<Vec<Entry>>, NginxError> {
    let path = dir.join(JOURNAL);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| NginxError::Invalid(format!("{} is damaged: {e}", path.display()))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("cannot read", &path)(e)),
    }
}

/// What `path` holds now, as a journal's `after` value.
fn fingerprint(before: &Before) -> String {
    match before {
        Before::Missing => String::new(),
        Before::File(bytes, _) => super::render::sha256_hex(bytes),
        Before::Link(target) => format!("-> {}", target.display()),
    }
}

/// The journals of the other certificates: the sibling directories of `dir`, with their entries.
fn sibling_journals(dir: &Path) -> Result<Vec<(PathBuf, Vec<Entry>)>, NginxError> {
    let Some(root) = dir.parent() else {
        return Ok(Vec::new());
    };
    let mut all = journals_under(root)?;
    all.retain(|(other, _)| other != dir);
    Ok(all)
}

/// Every journal under `root`, by directory.
fn journals_under(root: &Path) -> Result<Vec<(PathBuf, Vec<Entry>)>, NginxError> {
    let listing = match fs::read_dir(root) {
        Ok(listing) => listing,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("cannot read", root)(e)),
    };
    let mut out = Vec::new();
    for entry in listing {
        let other = entry.map_err(io("cannot read", root))?.path();
        if let Some(entries) = load_journal(&other)? {
            out.push((other, entries));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn save_journal(dir: &Path, entries: &[Entry]) -> Result<(), NginxError> {
    let json = serde_json::to_vec_pretty(entries).expect("journal serializes");
    Ok(fsio::write_atomic(&dir.join(JOURNAL), &json, 0o600)?)
}

/// Records in the journal in `dir` every path of a certificate's configuration (`paths`, changed
/// now or not): what the paths written now (`saved`) hold now, and for a path new to this
/// journal what it holds now and what it held before
/// certctl first touched it — taken from another certificate's journal when that one touched it
/// first (a shared snippet, a user file with both certificates' names), else from `saved` (the
/// paths changed now), else what it holds now. The other journals that list a path changed now
/// learn what it holds now too, so none of them thinks it was edited by someone else.
fn record(dir: &Path, paths: &[PathBuf], saved: &[(PathBuf, Before)]) -> Result<(), NginxError> {
    let mut siblings = sibling_journals(dir)?;
    write_journal(dir, paths, saved, &siblings)?;
    let written: Vec<&PathBuf> = saved.iter().map(|(p, _)| p).collect();
    update_after(&mut siblings, &written)
}

/// The journal in `dir` alone, given the other journals (`siblings`; `dir`'s own is skipped).
fn write_journal(
    dir: &Path,
    paths: &[PathBuf],
    saved: &[(PathBuf, Before)],
    siblings: &[(PathBuf, Vec<Entry>)],
) -> Result<(), NginxError> {
    fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    let mut entries = load_journal(dir)?.unwrap_or_default();
    let mut changed = false;
    let mut copies: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for path in paths {
        let now = fingerprint(&read_before(path)?);
        if let Some(e) = entries.iter_mut().find(|e| e.path == *path) {
            // Only what certctl wrote now: a path it left alone keeps its fingerprint, so an
            // edit of someone else's since is still seen by --revert.
            if saved.iter().any(|(p, _)| p == path) {
                changed |= e.after != now;
                e.after = now;
            }
            continue;
        }
        changed = true;
        let first = siblings
            .iter()
            .filter(|(d, _)| d != dir)
            .find_map(|(d, list)| list.iter().find(|e| e.path == *path).map(|e| (d, e)));
        if let Some((other, e)) = first {
            let mut entry = e.clone();
            entry.after = now;
            if let Some(copy) = &e.copy {
                let from = other.join(copy);
                let bytes = fs::read(&from).map_err(io("cannot read", &from))?;
                let name = format!("{}.orig", entries.len());
                copies.push((dir.join(&name), bytes));
                entry.copy = Some(name);
            }
            entries.push(entry);
            continue;
        }
        let before = match saved.iter().find(|(p, _)| p == path) {
            Some((_, before)) => before.clone(),
            None => read_before(path)?,
        };
        let mut entry = Entry {
            path: path.clone(),
            before: "missing".into(),
            copy: None,
            mode: 0,
            target: None,
            after: now,
        };
        match before {
            Before::Missing => {}
            Before::File(bytes, mode) => {
                let copy = format!("{}.orig", entries.len());
                copies.push((dir.join(&copy), bytes));
                entry.before = "file".into();
                entry.copy = Some(copy);
                entry.mode = mode;
            }
            Before::Link(target) => {
                entry.before = "link".into();
                entry.target = Some(target);
            }
        }
        entries.push(entry);
    }
    if changed {
        // The copies and the journal that names them, in one go.
        let json = serde_json::to_vec_pretty(&entries).expect("journal serializes");
        let path = dir.join(JOURNAL);
        let mut items: Vec<fsio::Replacement<'_>> = copies
            .iter()
            .map(|(path, bytes)| fsio::Replacement::File(path, bytes, 0o600))
            .collect();
        items.push(fsio::Replacement::File(&path, &json, 0o600));
        fsio::replace_all(&items)?;
    }
    Ok(())
}

/// Sets `after` of `paths` in each of `journals` that lists them to what they hold now.
fn update_after(
    journals: &mut [(PathBuf, Vec<Entry>)],
    paths: &[&PathBuf],
) -> Result<(), NginxError> {
    for (dir, list) in journals.iter_mut() {
        let mut dirty = false;
        for e in list.iter_mut().filter(|e| paths.contains(&&e.path)) {
            let now = fingerprint(&read_before(&e.path)?);
            dirty |= e.after != now;
            e.after = now;
        }
        if dirty {
            save_journal(dir, list)?;
        }
    }
    Ok(())
}

/// One path of a revert: what it holds now, and what the revert makes it.
struct Item {
    path: PathBuf,
    now: Before,
    target: Before,
}

/// What a revert puts back.
pub struct RevertPlan {
    items: Vec<Item>,
    /// User files another certificate's journal lists too, with what they held before certctl.
    shared: Vec<(PathBuf, String)>,
}

impl RevertPlan {
    /// User files (not certctl's own) that another certificate changed too: the path and its
    /// text before certctl first touched it. The revert puts that text back unless
    /// [`RevertPlan::set_text`] says otherwise (what the other certificates still need).
    pub fn shared_user_files(&self) -> &[(PathBuf, String)] {
        &self.shared
    }

    /// Makes the revert write `text` to `path` instead of its text before certctl.
    pub fn set_text(&mut self, path: &Path, text: String) {
        if let Some(item) = self.items.iter_mut().find(|i| i.path == path) {
            let mode = match (&item.now, &item.target) {
                (Before::File(_, mode), _) | (_, Before::File(_, mode)) => *mode,
                _ => 0o644,
            };
            item.target = Before::File(text.into_bytes(), mode);
        }
    }
}

/// Reads the journal in `dir` and checks that nothing certctl wrote was edited since (unless
/// `force`). Files of certctl's own that another certificate's journal also lists (the shared
/// snippets) stay as they are; user files another certificate changed too are listed in
/// [`RevertPlan::shared_user_files`].
pub fn revert_plan(dir: &Path, force: bool) -> Result<Option<RevertPlan>, NginxError> {
    let Some(entries) = load_journal(dir)? else {
        return Ok(None);
    };
    let others: Vec<PathBuf> = sibling_journals(dir)?
        .into_iter()
        .flat_map(|(_, list)| list.into_iter().map(|e| e.path))
        .collect();
    let mut items = Vec::new();
    let mut shared = Vec::new();
    for e in entries.into_iter().rev() {
        let now = read_before(&e.path)?;
        let is_shared = others.contains(&e.path);
        let ours = match &now {
            Before::File(bytes, _) => {
                ownership(&String::from_utf8_lossy(bytes)) != Ownership::NotOurs
            }
            Before::Link(_) => true,
            Before::Missing => false,
        };
        if is_shared && ours {
            continue;
        }
        if !force && fingerprint(&now) != e.after {
            return Err(NginxError::EditedSince { path: e.path });
        }
        let before = match (e.before.as_str(), &e.copy, &e.target) {
            ("file", Some(copy), _) => {
                let copy = dir.join(copy);
                Before::File(fs::read(&copy).map_err(io("cannot read", &copy))?, e.mode)
            }
            ("link", _, Some(target)) => Before::Link(target.clone()),
            _ => Before::Missing,
        };
        if is_shared {
            shared.push((e.path.clone(), as_text(&before)));
        }
        items.push(Item {
            path: e.path,
            now,
            target: before,
        });
    }
    Ok(Some(RevertPlan { items, shared }))
}

fn as_text(before: &Before) -> String {
    match before {
        Before::File(bytes, _) => String::from_utf8_lossy(bytes).into_owned(),
        Before::Link(target) => format!("-> {}\n", target.display()),
        Before::Missing => String::new(),
    }
}

/// The unified diff of a revert.
pub fn revert_diff(plan: &RevertPlan) -> Result<String, NginxError> {
    let mut out = String::new();
    for item in &plan.items {
        if item.now == item.target {
            continue;
        }
        let path = item.path.display().to_string();
        let (old, new) = (as_text(&item.now), as_text(&item.target));
        out.push_str(
            &similar::TextDiff::from_lines(&old, &new)
                .unified_diff()
                .header(&format!("a{path}"), &format!("b{path}"))
                .to_string(),
        );
    }
    Ok(out)
}

/// Puts every path of the plan back, `nginx -t`, reload; on failure puts them back as they
/// were. The journal goes once the revert took; the other certificates' journals learn what
/// the shared files hold now.
pub fn revert(plan: &RevertPlan, nginx: &Nginx, journal: &Path) -> Result<Applied, NginxError> {
    let mut done: Vec<(PathBuf, Before)> = Vec::new();
    let result = (|| {
        for item in &plan.items {
            if item.now == item.target {
                continue;
            }
            done.push((item.path.clone(), item.now.clone()));
            restore(&item.path, item.target.clone())?;
        }
        nginx.test()?;
        nginx.reload()
    })();
    if let Err(err) = result {
        for (path, now) in done.into_iter().rev() {
            if let Err(e) = restore(&path, now) {
                tracing::error!("cannot restore {}: {e}", path.display());
            }
        }
        return Err(err);
    }
    let written: Vec<&PathBuf> = done.iter().map(|(p, _)| p).collect();
    update_after(&mut sibling_journals(journal)?, &written)?;
    fs::remove_dir_all(journal).map_err(io("cannot remove", journal))?;
    Ok(Applied {
        changed: done.into_iter().map(|(p, _)| p).collect(),
        backup_dir: None,
        reloaded: true,
        config: None,
    })
}

/// Keeps a copy of each file of `saved` (with its mode, so a private file stays private) under
/// `dir`.
fn backup(dir: &Path, saved: &[(PathBuf, Before)]) -> Result<(), NginxError> {
    let copies: Vec<(PathBuf, &[u8], u32)> = saved
        .iter()
        .filter_map(|(path, before)| match before {
            Before::File(bytes, mode) => {
                let flat = path
                    .display()
                    .to_string()
                    .trim_start_matches('/')
                    .replace('/', "%");
                Some((dir.join(flat), bytes.as_slice(), *mode))
            }
            _ => None,
        })
        .collect();
    if copies.is_empty() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    let items: Vec<fsio::Replacement<'_>> = copies
        .iter()
        .map(|(path, bytes, mode)| fsio::Replacement::File(path, bytes, *mode))
        .collect();
    Ok(fsio::replace_all(&items)?)
}

/// Writes every change (files keep their mode; new ones are 0644), in one go.
fn write_changes(changes: &[Change]) -> Result<(), NginxError> {
    let mut modes = Vec::with_capacity(changes.len());
    for change in changes {
        let parent = change.path().parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
        modes.push(match fs::metadata(change.path()) {
            Ok(meta) => meta.permissions().mode() & 0o7777,
            Err(_) => 0o644,
        });
    }
    let items: Vec<fsio::Replacement<'_>> = changes
        .iter()
        .zip(modes)
        .map(|(change, mode)| match change {
            Change::Owned { path, content } | Change::UserFile { path, content } => {
                fsio::Replacement::File(path, content.as_bytes(), mode)
            }
            Change::Symlink { link, target } => fsio::Replacement::Symlink(link, target),
        })
        .collect();
    Ok(fsio::replace_all(&items)?)
}

fn write_change(change: &Change) -> Result<(), NginxError> {
    write_changes(std::slice::from_ref(change))
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), NginxError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
    Ok(fsio::write_atomic(path, bytes, mode)?)
}

fn restore(path: &Path, before: Before) -> Result<(), NginxError> {
    match before {
        Before::Missing => match fs::remove_file(path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(io("cannot remove", path)(e)),
            _ => Ok(()),
        },
        Before::File(bytes, mode) => write_file(path, &bytes, mode),
        Before::Link(target) => write_change(&Change::Symlink {
            link: path.to_owned(),
            target,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nginx::render::managed;

    #[test]
    fn refuses_files_it_did_not_write_and_skips_identical_ones() {
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("theirs.conf");
        fs::write(&theirs, "server {}\n").unwrap();
        let err = pending(&[Change::Owned {
            path: theirs.clone(),
            content: managed("x\n"),
        }])
        .unwrap_err();
        assert!(
            err.to_string().contains("was not written by certctl"),
            "{err}"
        );

        let ours = dir.path().join("ours.conf");
        fs::write(&ours, managed("x\n")).unwrap();
        assert!(
            pending(&[Change::Owned {
                path: ours.clone(),
                content: managed("x\n")
            }])
            .unwrap()
            .is_empty()
        );
        assert_eq!(
            pending(&[Change::Owned {
                path: ours.clone(),
                content: managed("y\n")
            }])
            .unwrap()
            .len(),
            1
        );

        fs::write(&ours, managed("x\n").replace("x\n", "edited\n")).unwrap();
        let err = pending(&[Change::Owned {
            path: ours,
            content: managed("y\n"),
        }])
        .unwrap_err();
        assert!(err.to_string().contains("edited"), "{err}");
    }

    #[test]
    fn diff_shows_new_and_changed_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.conf");
        let text = diff(&[Change::Owned {
            path: path.clone(),
            content: managed("listen 443;\n"),
        }])
        .unwrap();
        assert!(text.contains("+listen 443;"), "{text}");
        assert!(!path.exists(), "a diff writes nothing");
    }
}
