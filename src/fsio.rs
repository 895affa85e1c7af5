//! The one way certctl writes a file or swaps a symlink, whoever the writer is (store, nginx files
//! and their backups, systemd units, metrics, dhparam, env files): a reader sees the old content
//! or the new, never half a file, and the new content survives a power cut once the call returns.
//!
//! A file is written to a temporary name in the same directory, created with its final mode (so
//! a private key is never readable by others, not even for a moment), fsynced, renamed over the
//! target, and the directory is fsynced so the rename itself is durable. [`replace_all`] does the
//! same for several files at once (an nginx site, its backups, a journal), paying for about one
//! round of fsyncs instead of two per file.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A filesystem operation that failed, with what certctl was doing and on which path.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct IoError {
    /// What certctl was doing ("cannot create", "cannot replace", …).
    pub action: &'static str,
    /// The path concerned.
    pub path: PathBuf,
    /// The OS error.
    pub source: std::io::Error,
}

/// Maps an `io::Error` to an [`IoError`] naming the action and path.
pub fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> IoError + 'a {
    move |source| IoError {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Creates a new file with exactly `mode` holding `bytes`, fsynced. The mode is set at creation
/// (never wider for a moment) and then made exact whatever the umask took away, since a web
/// server or nginx running as another user may need the file readable. Fails if the path
/// exists, so it never follows a planted symlink.
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IoError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io("cannot create", path))?;
    file.set_permissions(Permissions::from_mode(mode))
        .map_err(io("cannot set permissions on", path))?;
    file.write_all(bytes).map_err(io("cannot write", path))?;
    file.sync_all().map_err(io("cannot sync", path))
}

/// Replaces (or creates) `path` with `bytes` at `mode`: temporary file created with that mode,
/// fsync, rename, fsync of the directory. The directory must exist.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IoError> {
    let dir = parent(path);
    let tmp = temp_name(path);
    let _ = fs::remove_file(&tmp);
    // Errors name the file being replaced, not the temporary name the user never chose.
    let written = write_new(&tmp, bytes, mode)
        .map_err(|e| io("cannot write", path)(e.source))
        .and_then(|()| fs::rename(&tmp, path).map_err(io("cannot replace", path)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    sync_dir(dir)
}

/// Points the symlink `link` at `target` in one rename, so readers see the old target or the new,
/// never a missing link; then fsyncs the directory.
pub fn swap_symlink(link: &Path, target: &Path) -> Result<(), IoError> {
    let tmp = temp_name(link);
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(io("cannot create", &tmp))?;
    if let Err(e) = fs::rename(&tmp, link) {
        let _ = fs::remove_file(&tmp);
        return Err(io("cannot replace", link)(e));
    }
    sync_dir(parent(link))
}

/// One entry of [`replace_all`].
#[derive(Clone, Copy, Debug)]
pub enum Replacement<'a> {
    /// A file: path, bytes, mode.
    File(&'a Path, &'a [u8], u32),
    /// A symlink: the link, its target.
    Symlink(&'a Path, &'a Path),
}

impl Replacement<'_> {
    fn path(&self) -> &Path {
        match self {
            Self::File(path, ..) | Self::Symlink(path, _) => path,
        }
    }
}

/// Replaces several files and symlinks as [`write_atomic`] and [`swap_symlink`] do one, for
/// about the latency of one: every temporary is written and fsynced at the same time (a thread
/// each), then each is renamed into place, in order, then each directory is fsynced once (at the
/// same time too). Nothing is renamed unless every temporary was written; when a rename fails,
/// the entries before it are in place and the caller restores what it must.
pub fn replace_all(items: &[Replacement<'_>]) -> Result<(), IoError> {
    let temps: Vec<PathBuf> = items.iter().map(|i| temp_name(i.path())).collect();
    let write = |item: &Replacement<'_>, tmp: &Path| {
        let _ = fs::remove_file(tmp);
        match *item {
            Replacement::File(path, bytes, mode) => {
                write_new(tmp, bytes, mode).map_err(|e| io("cannot write", path)(e.source))
            }
            Replacement::Symlink(_, target) => {
                std::os::unix::fs::symlink(target, tmp).map_err(io("cannot create", tmp))
            }
        }
    };
    let written = each(items.iter().zip(&temps), |(item, tmp)| write(item, tmp));
    let clean = |from: usize| {
        for tmp in &temps[from..] {
            let _ = fs::remove_file(tmp);
        }
    };
    if let Err(e) = written {
        clean(0);
        return Err(e);
    }
    for (i, (item, tmp)) in items.iter().zip(&temps).enumerate() {
        if let Err(e) = fs::rename(tmp, item.path()) {
            clean(i);
            return Err(io("cannot replace", item.path())(e));
        }
    }
    let mut dirs: Vec<&Path> = items.iter().map(|i| parent(i.path())).collect();
    dirs.sort();
    dirs.dedup();
    each(dirs.into_iter(), sync_dir)
}

/// Runs `f` on every item, at the same time when there are several (fsyncs wait on the disk,
/// not the CPU); the first error.
fn each<T: Send>(
    items: impl Iterator<Item = T>,
    f: impl Fn(T) -> Result<(), IoError> + Sync,
) -> Result<(), IoError> {
    let items: Vec<T> = items.collect();
    if items.len() < 2 {
        return items.into_iter().try_for_each(&f);
    }
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .into_iter()
            .map(|item| scope.spawn(move || f(item)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .collect()
    })
}

/// Makes a directory's entries (a new file, a rename) durable.
pub fn sync_dir(dir: &Path) -> Result<(), IoError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("cannot sync", dir))
}

/// Tries the `flock` on `path` (created 0600 if missing) without waiting: the open file holding
/// the lock, or None when another process holds it. The kernel drops the lock when the file is
/// closed or the process dies. Waiting, bounded, is `ops::locks`'s job.
pub fn try_lock(path: &Path) -> Result<Option<File>, IoError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io("cannot open lock", path))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(io("cannot lock", path)(e)),
    }
}

fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A hidden name beside `path`, unique per process and call, so two writers never share one.
fn temp_name(path: &Path) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    parent(path).join(format!(".{name}.certctl-{}-{n}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn replaces_several_files_and_links_at_once_or_none_when_one_cannot_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, link) = (
            dir.path().join("a"),
            dir.path().join("sub/b"),
            dir.path().join("link"),
        );
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(&a, "old").unwrap();
        replace_all(&[
            Replacement::File(&a, b"new a", 0o640),
            Replacement::File(&b, b"new b", 0o600),
            Replacement::Symlink(&link, Path::new("a")),
        ])
        .unwrap();
        assert_eq!(fs::read_to_string(&a).unwrap(), "new a");
        assert_eq!(mode(&a), 0o640);
        assert_eq!(fs::read_to_string(&b).unwrap(), "new b");
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("a"));
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            3,
            "no temporary left"
        );
        // A file in a directory that does not exist: nothing is replaced, nothing is left.
        let err = replace_all(&[
            Replacement::File(&a, b"newer", 0o644),
            Replacement::File(&dir.path().join("missing/c"), b"c", 0o644),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("missing/c"), "{err}");
        assert_eq!(fs::read_to_string(&a).unwrap(), "new a");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3);
    }

    #[test]
    fn replaces_with_the_mode_given_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("privkey.pem");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&path, b"new", 0o600).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("f");
        let err = write_atomic(&path, b"x", 0o644).unwrap_err();
        assert_eq!(err.action, "cannot write");
        assert_eq!(err.path, path);
    }

    #[test]
    fn write_new_refuses_an_existing_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "planted").unwrap();
        assert!(write_new(&path, b"x", 0o600).is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "planted");
    }

    #[test]
    fn swaps_a_symlink_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("live");
        swap_symlink(&link, Path::new("a")).unwrap();
        swap_symlink(&link, Path::new("b")).unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("b"));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
