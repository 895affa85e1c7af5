//! The filesystem store: the default, and for now the only, [`CertStore`].
//!
//! Crash safety comes from three habits: every file is written to a temporary name, fsynced and
//! renamed into place; a version directory is complete before it is renamed into archive/; and
//! live/NAME is a symlink replaced by a single rename, so readers see the old set or the new set,
//! never a mix. Locks are `flock`s on files next to what they protect; waiters block.

use std::fs::{self, DirBuilder};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::layout::{Layout, check_cert_name};
use super::{CertFiles, CertStore, DeployStep, KeySlot, LivePaths, StoreError, StoreLock};
use crate::config::RenewalRecord;
use crate::fsio;
use crate::renewal::state::{RenewalState, Stamp};

const PRIVATE_DIR: u32 = 0o700;
const PUBLIC_DIR: u32 = 0o755;
const PRIVATE_FILE: u32 = 0o600;
const PUBLIC_FILE: u32 = 0o644;
/// The renewal record's file name, in certs/NAME/ and (until made current) in a version.
const RECORD: &str = "renewal.toml";

/// A [`CertStore`] in a state directory (default /var/lib/certctl).
#[derive(Clone, Debug)]
pub struct FsStore {
    layout: Layout,
}

impl FsStore {
    /// A store rooted at `root`. Nothing is created until something is written.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            layout: Layout::new(root),
        }
    }

    /// The layout (paths) of this store.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn ensure_root(&self) -> Result<(), StoreError> {
        ensure_dir(self.layout.root(), PUBLIC_DIR)
    }

    /// The certificate's directories, and live/NAME free for certctl's symlink.
    fn ensure_live_dirs(&self, name: &str) -> Result<(), StoreError> {
        self.ensure_cert_dirs(name)?;
        let link = self.layout.live_link(name);
        if let Ok(meta) = fs::symlink_metadata(&link)
            && !meta.file_type().is_symlink()
        {
            return Err(StoreError::InTheWay(link));
        }
        Ok(())
    }

    fn ensure_cert_dirs(&self, name: &str) -> Result<(), StoreError> {
        check_cert_name(name)?;
        self.ensure_root()?;
        ensure_dir(&self.layout.certs_dir(), PRIVATE_DIR)?;
        ensure_dir(&self.layout.cert_dir(name), PRIVATE_DIR)?;
        ensure_dir(&self.layout.archive_dir(name), PRIVATE_DIR)?;
        ensure_dir(&self.layout.live_dir(), PUBLIC_DIR)
    }

    /// The highest version number in archive/ (0 when empty). Leftover temporary directories
    /// from an interrupted run are removed on the way (the caller holds the cert lock).
    fn last_version(&self, name: &str) -> Result<u64, StoreError> {
        let dir = self.layout.archive_dir(name);
        let mut last = 0;
        for entry in fs::read_dir(&dir).map_err(io("cannot read", &dir))? {
            let entry = entry.map_err(io("cannot read", &dir))?;
            let file_name = entry.file_name();
            let file_name = file_name.to_string_lossy();
            if let Ok(n) = file_name.parse::<u64>() {
                last = last.max(n);
            } else if file_name.starts_with(".tmp-") {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        Ok(last)
    }

    /// A state file that does not parse is kept beside as `state.json.corrupt-TIME` and
    /// replaced by a state that records the failure, so `list` and the metrics count it and
    /// renewal goes on (the state only steers timing; the record and live files are intact).
    fn set_aside_state(
        &self,
        name: &str,
        path: &Path,
        reason: &str,
    ) -> Result<RenewalState, StoreError> {
        let now = crate::clock::unix_now();
        let aside = path.with_file_name(format!("state.json.corrupt-{now}"));
        fs::rename(path, &aside).map_err(io("cannot set aside", path))?;
        tracing::warn!(
            "{name}: {} did not parse ({reason}); kept as {}",
            path.display(),
            aside.display()
        );
        let mut state = RenewalState::default();
        state.failed(
            now,
            format!(
                "state.json did not parse ({reason}); set aside as {}",
                aside.display()
            ),
            crate::renewal::due::FailureKind::NeedsAttention,
            None,
        );
        // Due again at once: the state only steered timing.
        state.next_retry = None;
        write_atomic(path, state.to_json().as_bytes(), PRIVATE_FILE)?;
        Ok(state)
    }

    fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
        match read_small(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("cannot read", path)(e)),
        }
    }
}

impl CertStore for FsStore {
    fn try_lock_account(&self, directory_url: &str) -> Result<Option<StoreLock>, StoreError> {
        self.ensure_root()?;
        ensure_dir(&self.layout.accounts_dir(), PRIVATE_DIR)?;
        let dir = self.layout.account_dir(directory_url);
        ensure_dir(&dir, PRIVATE_DIR)?;
        try_lock_file(&dir.join(".lock"))
    }

    fn load_account(&self, directory_url: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Self::read_optional(&self.layout.account_dir(directory_url).join("account.json"))
    }

    fn save_account(&self, directory_url: &str, credentials_json: &[u8]) -> Result<(), StoreError> {
        let dir = self.layout.account_dir(directory_url);
        ensure_dir(&dir, PRIVATE_DIR)?;
        write_atomic(&dir.join("account.json"), credentials_json, PRIVATE_FILE)
    }

    fn try_lock_cert(&self, name: &str) -> Result<Option<StoreLock>, StoreError> {
        self.ensure_cert_dirs(name)?;
        try_lock_file(&self.layout.cert_dir(name).join(".lock"))
    }

    fn try_claim_deploy(&self, name: &str) -> Result<Option<StoreLock>, StoreError> {
        self.ensure_cert_dirs(name)?;
        try_lock_file(&self.layout.cert_dir(name).join(".deploy.lock"))
    }

    fn versions(&self, name: &str) -> Result<Vec<u64>, StoreError> {
        check_cert_name(name)?;
        let dir = self.layout.archive_dir(name);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("cannot read", &dir)(e)),
        };
        let mut versions: Vec<u64> = entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        versions.sort_unstable();
        Ok(versions)
    }

    fn version_fullchain(&self, name: &str, version: u64) -> Result<Option<Vec<u8>>, StoreError> {
        check_cert_name(name)?;
        let dir = self.layout.archive_dir(name).join(version.to_string());
        Self::read_optional(&dir.join(KeySlot::Primary.file_name("fullchain")))
    }

    fn load_record(&self, name: &str) -> Result<Option<RenewalRecord>, StoreError> {
        check_cert_name(name)?;
        // The live version's own record when an install stopped before making it current:
        // the record always matches the live certificate.
        let pending = self.layout.live_link(name).join(RECORD);
        let (path, bytes) = match Self::read_optional(&pending)? {
            Some(bytes) => (pending, Some(bytes)),
            None => {
                let path = self.record_path(name);
                let bytes = Self::read_optional(&path)?;
                (path, bytes)
            }
        };
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        RenewalRecord::from_toml(&text)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                path,
                reason: e.to_string(),
            })
    }

    fn cert_names(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.layout.certs_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("cannot read", &dir)(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io("cannot read", &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let has_record = || {
                entry.path().join(RECORD).exists()
                    || self.layout.live_link(&name).join(RECORD).exists()
            };
            if check_cert_name(&name).is_ok() && has_record() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn live_privkey(&self, name: &str, slot: KeySlot) -> Result<Option<String>, StoreError> {
        check_cert_name(name)?;
        let path = self.layout.live_paths(name, slot).privkey;
        Ok(Self::read_optional(&path)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    fn live_fullchain(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_cert_name(name)?;
        Self::read_optional(&self.layout.live_paths(name, KeySlot::Primary).fullchain)
    }

    fn live_cert(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_cert_name(name)?;
        Self::read_optional(&self.layout.live_paths(name, KeySlot::Primary).cert)
    }

    fn install(
        &self,
        name: &str,
        files: &CertFiles,
        record: &RenewalRecord,
    ) -> Result<LivePaths, StoreError> {
        self.ensure_live_dirs(name)?;

        // Never a number the cached facts name, even if that directory was deleted by hand:
        // the facts would otherwise pass for the new version's.
        let cached = self
            .load_state(name)
            .ok()
            .and_then(|s| s.live)
            .map(|l| l.version);
        let version = self.last_version(name)?.max(cached.unwrap_or(0)) + 1;
        self.write_version(name, version, files, record)
    }

    fn save_record(&self, record: &RenewalRecord) -> Result<(), StoreError> {
        self.ensure_cert_dirs(&record.name)?;
        write_atomic(
            &self.record_path(&record.name),
            record.to_toml().as_bytes(),
            PRIVATE_FILE,
        )?;
        // A record still waiting in the live version would hide the one just saved.
        self.drop_pending_record(&self.layout.live_link(&record.name))
    }

    fn live_paths(&self, name: &str, slot: KeySlot) -> LivePaths {
        self.layout.live_paths(name, slot)
    }

    fn load_state(&self, name: &str) -> Result<RenewalState, StoreError> {
        check_cert_name(name)?;
        let path = self.layout.cert_dir(name).join("state.json");
        match Self::read_optional(&path)? {
            None => Ok(RenewalState::default()),
            Some(bytes) => match RenewalState::from_json(&bytes) {
                Ok(state) => Ok(state),
                Err(reason) => self.set_aside_state(name, &path, &reason),
            },
        }
    }

    fn save_state(&self, name: &str, state: &RenewalState) -> Result<(), StoreError> {
        self.ensure_cert_dirs(name)?;
        let path = self.layout.cert_dir(name).join("state.json");
        write_atomic(&path, state.to_json().as_bytes(), PRIVATE_FILE)
    }

    fn live_version(&self, name: &str) -> Result<Option<u64>, StoreError> {
        check_cert_name(name)?;
        let link = self.layout.live_link(name);
        match fs::read_link(&link) {
            Ok(target) => Ok(target
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse().ok())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("cannot read", &link)(e)),
        }
    }

    fn restore_version(&self, name: &str, version: u64) -> Result<(), StoreError> {
        check_cert_name(name)?;
        let dir = self.layout.archive_dir(name).join(version.to_string());
        if !dir.is_dir() {
            return Err(StoreError::Corrupt {
                path: dir,
                reason: "the version to restore is missing".into(),
            });
        }
        let marks = self.layout.deploy_marks_dir(name, version);
        match fs::remove_dir_all(&marks) {
            Ok(()) => sync_dir(&dir)?,
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io("cannot remove", &marks)(e)),
        }
        self.point_live(name, version)
    }

    fn deploy_mark_path(
        &self,
        name: &str,
        version: u64,
        step: DeployStep<'_>,
    ) -> Result<PathBuf, StoreError> {
        check_cert_name(name)?;
        ensure_dir(&self.layout.deploy_marks_dir(name, version), PRIVATE_DIR)?;
        Ok(self.layout.deploy_mark(name, version, step))
    }

    fn deploy_marked(&self, name: &str, version: u64, step: DeployStep<'_>) -> bool {
        check_cert_name(name).is_ok() && self.layout.deploy_mark(name, version, step).exists()
    }

    fn mark_deployed(
        &self,
        name: &str,
        version: u64,
        step: DeployStep<'_>,
    ) -> Result<(), StoreError> {
        let path = self.deploy_mark_path(name, version, step)?;
        write_atomic(&path, b"", PRIVATE_FILE)
    }

    fn record_stamp(&self, name: &str) -> Option<Stamp> {
        check_cert_name(name).ok()?;
        stamp(&self.record_path(name))
    }

    fn shared(&self) -> std::sync::Arc<dyn CertStore> {
        std::sync::Arc::new(self.clone())
    }
}

/// Reads a whole file that is usually small (PEM, TOML, JSON) in as few system calls as it
/// takes: a renew over thousands of certificates reads one per certificate.
fn read_small(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    // A plain loop: `File::read_to_end` asks the size (statx + lseek) before reading.
    let mut file = fs::File::open(path)?;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => return Ok(bytes),
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The stamp of the file at `path` (symlinks followed), if it exists.
fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(path).ok()?;
    Some(Stamp {
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.size(),
        mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
    })
}

impl FsStore {
    /// Makes `version` of `name` live here with exactly that number: what a shared store's node
    /// does with a version the fleet made (the same archive directory, swap and record as
    /// [`CertStore::install`]). A version directory already present with the same fullchain is
    /// kept; one with another certificate under that number is refused.
    pub fn install_version(
        &self,
        name: &str,
        version: u64,
        files: &CertFiles,
        record: &RenewalRecord,
    ) -> Result<LivePaths, StoreError> {
        self.ensure_live_dirs(name)?;
        let dir = self.layout.archive_dir(name).join(version.to_string());
        if !dir.is_dir() {
            match self.write_version(name, version, files, record) {
                Ok(paths) => return Ok(paths),
                Err(e) if !dir.is_dir() => return Err(e),
                // Another process of this node (the daemon converging, a renew run installing)
                // wrote the same version meanwhile: checked below like one found here.
                Err(_) => {}
            }
        }
        let here = self.version_fullchain(name, version)?;
        if here.as_deref() != Some(files.fullchain.as_bytes()) {
            return Err(StoreError::Corrupt {
                path: dir,
                reason: "this local version holds another certificate than the store's".into(),
            });
        }
        self.point_live(name, version)?;
        self.make_record_current(name, record, &dir)
    }

    /// The files of one archive version (both key sets), if it exists: what `fleet import`
    /// copies.
    pub fn version_files(&self, name: &str, version: u64) -> Result<Option<CertFiles>, StoreError> {
        check_cert_name(name)?;
        let dir = self.layout.archive_dir(name).join(version.to_string());
        let read_set = |slot: KeySlot| -> Result<Option<CertFiles>, StoreError> {
            let text = |stem: &str| -> Result<Option<String>, StoreError> {
                Ok(Self::read_optional(&dir.join(slot.file_name(stem)))?
                    .map(|b| String::from_utf8_lossy(&b).into_owned()))
            };
            let (Some(cert), Some(fullchain), Some(privkey)) =
                (text("cert")?, text("fullchain")?, text("privkey")?)
            else {
                return Ok(None);
            };
            Ok(Some(CertFiles {
                cert,
                chain: text("chain")?.unwrap_or_default(),
                fullchain,
                privkey,
                rsa: None,
            }))
        };
        let Some(mut files) = read_set(KeySlot::Primary)? else {
            return Ok(None);
        };
        files.rsa = read_set(KeySlot::Rsa)?.map(Box::new);
        Ok(Some(files))
    }

    /// Writes version `version` (which must not exist yet) and makes it live: a complete
    /// version directory renamed into archive/, the swap, then the record made current.
    fn write_version(
        &self,
        name: &str,
        version: u64,
        files: &CertFiles,
        record: &RenewalRecord,
    ) -> Result<LivePaths, StoreError> {
        let archive = self.layout.archive_dir(name);
        // 1. A complete version directory, then one rename into archive/.
        let tmp = archive.join(format!(".tmp-{version}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        DirBuilder::new()
            .mode(PRIVATE_DIR)
            .create(&tmp)
            .map_err(io("cannot create", &tmp))?;
        write_set(&tmp, KeySlot::Primary, files)?;
        if let Some(rsa) = &files.rsa {
            write_set(&tmp, KeySlot::Rsa, rsa)?;
        }
        // The record travels with its version: until it is made current below, it is the
        // record of this version while this version is live (see `load_record`).
        write_new(&tmp.join(RECORD), record.to_toml().as_bytes(), PRIVATE_FILE)?;
        sync_dir(&tmp)?;
        crate::failpoint::hit("store.after_version_dir");
        let final_dir = archive.join(version.to_string());
        if let Err(e) = fs::rename(&tmp, &final_dir) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(io("cannot rename into", &final_dir)(e));
        }
        sync_dir(&archive)?;
        crate::failpoint::hit("store.after_archive");

        // 2. The swap: the new version, and with it its record, is live.
        crate::failpoint::hit("store.before_swap");
        self.point_live(name, version)?;
        crate::failpoint::hit("store.after_swap");

        // 3. The record made current.
        self.make_record_current(name, record, &final_dir)
    }

    /// Writes `record` as the current record, then drops the copy that travelled with the
    /// version in `version_dir` (once the current one is durable); returns the live paths.
    fn make_record_current(
        &self,
        name: &str,
        record: &RenewalRecord,
        version_dir: &Path,
    ) -> Result<LivePaths, StoreError> {
        write_atomic(
            &self.record_path(name),
            record.to_toml().as_bytes(),
            PRIVATE_FILE,
        )?;
        self.drop_pending_record(version_dir)?;
        Ok(self.layout.live_paths(name, KeySlot::Primary))
    }

    /// certs/NAME/renewal.toml: the current record.
    fn record_path(&self, name: &str) -> PathBuf {
        self.layout.cert_dir(name).join(RECORD)
    }

    /// Removes a version's own copy of the record once the current record is durable.
    fn drop_pending_record(&self, version_dir: &Path) -> Result<(), StoreError> {
        let pending = version_dir.join(RECORD);
        match fs::remove_file(&pending) {
            Ok(()) => sync_dir(version_dir),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("cannot remove", &pending)(e)),
        }
    }

    /// Points live/NAME at archive/VERSION: a fresh symlink renamed over the old one, so readers
    /// see the old set or the new set, never a mix.
    fn point_live(&self, name: &str, version: u64) -> Result<(), StoreError> {
        let link = self.layout.live_link(name);
        Ok(fsio::swap_symlink(
            &link,
            &Layout::live_target(name, version),
        )?)
    }
}

/// Writes the four files of one key set into a new version directory.
fn write_set(dir: &Path, slot: KeySlot, files: &CertFiles) -> Result<(), StoreError> {
    let file = |stem| dir.join(slot.file_name(stem));
    write_new(&file("privkey"), files.privkey.as_bytes(), PRIVATE_FILE)?;
    write_new(&file("cert"), files.cert.as_bytes(), PUBLIC_FILE)?;
    write_new(&file("chain"), files.chain.as_bytes(), PUBLIC_FILE)?;
    write_new(&file("fullchain"), files.fullchain.as_bytes(), PUBLIC_FILE)
}

/// Maps an io::Error to a [`StoreError`] naming the action and path.
fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| fsio::io(action, path)(source).into()
}

/// Creates `dir` (and missing parents) if needed; a directory certctl creates gets `mode`, and a
/// private one that already exists is tightened to `mode`.
fn ensure_dir(dir: &Path, mode: u32) -> Result<(), StoreError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            if mode == PRIVATE_DIR && meta.permissions().mode() & 0o077 != 0 {
                fs::set_permissions(dir, fs::Permissions::from_mode(mode))
                    .map_err(io("cannot set permissions on", dir))?;
            }
            Ok(())
        }
        Ok(_) => Err(StoreError::InTheWay(dir.to_owned())),
        Err(_) => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
            }
            match DirBuilder::new().mode(mode).create(dir) {
                // A new directory entry is durable only once its parent is synced.
                Ok(()) => sync_dir(dir.parent().unwrap_or(Path::new("."))),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(io("cannot create", dir)(e)),
            }
        }
    }
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    Ok(fsio::write_new(path, bytes, mode)?)
}

fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    Ok(fsio::write_atomic(path, bytes, mode)?)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    Ok(fsio::sync_dir(dir)?)
}

fn try_lock_file(path: &Path) -> Result<Option<StoreLock>, StoreError> {
    Ok(fsio::try_lock(path)?.map(|file| StoreLock(Box::new(file))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RenewalRecord, Responder};
    use crate::keys::KeyType;

    fn record(name: &str) -> RenewalRecord {
        RenewalRecord {
            format: crate::config::RECORD_FORMAT,
            name: name.to_owned(),
            domains: vec![name.to_owned()],
            key_type: KeyType::EcdsaP256,
            dual: false,
            profile: None,
            preferred_chain: None,
            reuse_key: false,
            server: "https://127.0.0.1:14000/dir".to_owned(),
            ca_bundle: None,
            email: None,
            responder: Responder::Standalone,
            nginx: None,
            reload_nginx: None,
            renew_before_days: None,
            http_port: 80,
            self_check: true,
            deploy_hook: None,
        }
    }

    fn files(tag: &str) -> CertFiles {
        CertFiles {
            cert: format!("cert {tag}"),
            chain: format!("chain {tag}"),
            fullchain: format!("fullchain {tag}"),
            privkey: format!("key {tag}"),
            rsa: None,
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn install_swaps_live_and_keeps_versions() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path().join("state"));
        let _lock = store.try_lock_cert("a.test").unwrap().unwrap();
        let paths = store
            .install("a.test", &files("one"), &record("a.test"))
            .unwrap();
        assert_eq!(
            fs::read_to_string(&paths.fullchain).unwrap(),
            "fullchain one"
        );
        store
            .install("a.test", &files("two"), &record("a.test"))
            .unwrap();
        assert_eq!(
            fs::read_to_string(&paths.fullchain).unwrap(),
            "fullchain two"
        );
        assert_eq!(fs::read_to_string(&paths.privkey).unwrap(), "key two");
        let old = store.layout().archive_dir("a.test").join("1/fullchain.pem");
        assert_eq!(fs::read_to_string(old).unwrap(), "fullchain one");
        assert_eq!(store.cert_names().unwrap(), vec!["a.test"]);
        assert_eq!(store.load_record("a.test").unwrap(), Some(record("a.test")));
    }

    #[test]
    fn a_fleet_version_keeps_its_number_and_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path().join("state"));
        let mut dual = files("seven");
        dual.rsa = Some(Box::new(files("seven rsa")));
        store
            .install_version("a.test", 7, &dual, &record("a.test"))
            .unwrap();
        assert_eq!(store.live_version("a.test").unwrap(), Some(7));
        let back = store.version_files("a.test", 7).unwrap().unwrap();
        assert_eq!(back.privkey, "key seven");
        assert_eq!(back.rsa.unwrap().fullchain, "fullchain seven rsa");
        assert!(store.version_files("a.test", 6).unwrap().is_none());
        // Again (a node syncing twice) is fine; another certificate under the number is not.
        store
            .install_version("a.test", 7, &dual, &record("a.test"))
            .unwrap();
        let err = store
            .install_version("a.test", 7, &files("other"), &record("a.test"))
            .unwrap_err();
        assert!(err.to_string().contains("another certificate"), "{err}");
        // The next local install goes past the fleet's number.
        store
            .install("a.test", &files("eight"), &record("a.test"))
            .unwrap();
        assert_eq!(store.live_version("a.test").unwrap(), Some(8));
    }

    #[test]
    fn dual_sets_are_swapped_together() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path().join("state"));
        let dual = |tag: &str| CertFiles {
            rsa: Some(Box::new(files(&format!("{tag} rsa")))),
            ..files(tag)
        };
        store
            .install("a.test", &dual("one"), &record("a.test"))
            .unwrap();
        let rsa = store.live_paths("a.test", KeySlot::Rsa);
        assert_eq!(
            fs::read_to_string(&rsa.fullchain).unwrap(),
            "fullchain one rsa"
        );
        assert_eq!(mode(&rsa.privkey), 0o600);
        store
            .install("a.test", &dual("two"), &record("a.test"))
            .unwrap();
        let primary = store.live_paths("a.test", KeySlot::Primary);
        assert_eq!(
            fs::read_to_string(&primary.fullchain).unwrap(),
            "fullchain two"
        );
        assert_eq!(fs::read_to_string(&rsa.privkey).unwrap(), "key two rsa");
        assert_eq!(
            store
                .live_privkey("a.test", KeySlot::Rsa)
                .unwrap()
                .as_deref(),
            Some("key two rsa")
        );
        // Back to a single set: the RSA files go with the swap.
        store
            .install("a.test", &files("three"), &record("a.test"))
            .unwrap();
        assert!(!rsa.fullchain.exists());
    }

    #[test]
    fn restores_an_earlier_version_and_keeps_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path().join("state"));
        assert_eq!(store.live_version("a.test").unwrap(), None);
        store
            .install("a.test", &files("one"), &record("a.test"))
            .unwrap();
        let paths = store
            .install("a.test", &files("two"), &record("a.test"))
            .unwrap();
        assert_eq!(store.live_version("a.test").unwrap(), Some(2));
        store.restore_version("a.test", 1).unwrap();
        assert_eq!(fs::read_to_string(&paths.cert).unwrap(), "cert one");
        assert!(store.restore_version("a.test", 7).is_err());
        assert_eq!(store.load_state("a.test").unwrap(), RenewalState::default());
        let mut state = RenewalState::default();
        state.succeeded(42);
        store.save_state("a.test", &state).unwrap();
        assert_eq!(store.load_state("a.test").unwrap(), state);
        let file = store.layout().cert_dir("a.test").join("state.json");
        assert_eq!(mode(&file), 0o600);
        // A torn state file no longer stops renewal (issue 13): it is set aside as a failure.
        fs::write(&file, "{").unwrap();
        assert_eq!(store.load_state("a.test").unwrap().failures, 1);
    }

    #[test]
    fn keys_and_their_directories_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path().join("state"));
        let paths = store
            .install("a.test", &files("one"), &record("a.test"))
            .unwrap();
        assert_eq!(mode(&paths.privkey), 0o600);
        assert_eq!(mode(&store.layout().archive_dir("a.test").join("1")), 0o700);
        assert_eq!(mode(&store.layout().certs_dir()), 0o700);
        store.save_account("https://ca.test/dir", b"{}").unwrap();
        let account = store.layout().account_dir("https://ca.test/dir");
        assert_eq!(mode(&account.join("account.json")), 0o600);
        assert_eq!(mode(&account), 0o700);
    }

    #[test]
    fn interrupted_version_is_ignored_and_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path().join("state"));
        let paths = store
            .install("a.test", &files("one"), &record("a.test"))
            .unwrap();
        // A crash after writing half a version leaves a temporary directory behind.
        let leftover = store.layout().archive_dir("a.test").join(".tmp-2-999");
        fs::create_dir(&leftover).unwrap();
        fs::write(leftover.join("cert.pem"), "partial").unwrap();
        assert_eq!(fs::read_to_string(&paths.cert).unwrap(), "cert one");
        store
            .install("a.test", &files("two"), &record("a.test"))
            .unwrap();
        assert!(!leftover.exists());
        assert_eq!(fs::read_to_string(&paths.cert).unwrap(), "cert two");
    }

    #[test]
    fn the_record_follows_the_live_version_when_an_install_stops_halfway() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path().join("state"));
        store
            .install("a.test", &files("one"), &record("a.test"))
            .unwrap();
        let version_dir = |n: u64| store.layout().archive_dir("a.test").join(n.to_string());
        assert!(!version_dir(1).join(RECORD).exists(), "made current");
        // What an install killed after its archive rename leaves: version 2 with its record.
        let mut wider = record("a.test");
        wider.domains.push("www.a.test".into());
        fs::create_dir(version_dir(2)).unwrap();
        fs::write(version_dir(2).join(RECORD), wider.to_toml()).unwrap();
        let domains = || store.load_record("a.test").unwrap().unwrap().domains;
        assert_eq!(domains(), ["a.test"], "not live: the current record");
        // Killed after the swap: the live version's record is the record.
        store.point_live("a.test", 2).unwrap();
        assert_eq!(domains(), ["a.test", "www.a.test"]);
        assert_eq!(store.cert_names().unwrap(), ["a.test"]);
        // Back to version 1: its record again.
        store.restore_version("a.test", 1).unwrap();
        assert_eq!(domains(), ["a.test"]);
        // A saved record is current and is not hidden by the version's copy.
        store.point_live("a.test", 2).unwrap();
        store.save_record(&record("a.test")).unwrap();
        assert_eq!(domains(), ["a.test"]);
        assert!(!version_dir(2).join(RECORD).exists());
    }

    #[test]
    fn refuses_a_live_directory_it_did_not_make() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path().join("state"));
        fs::create_dir_all(store.layout().live_link("a.test")).unwrap();
        assert!(matches!(
            store.install("a.test", &files("one"), &record("a.test")),
            Err(StoreError::InTheWay(_))
        ));
    }

    #[test]
    fn a_corrupt_state_is_set_aside_and_counted_as_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path().join("state"));
        store
            .save_state("a.test", &RenewalState::default())
            .unwrap();
        let path = store.layout.cert_dir("a.test").join("state.json");
        fs::write(&path, "{ torn").unwrap();
        let state = store.load_state("a.test").unwrap();
        assert_eq!(state.failures, 1);
        assert!(state.last_error.unwrap().contains("set aside"));
        assert_eq!(state.next_retry, None);
        let aside: Vec<_> = fs::read_dir(store.layout.cert_dir("a.test"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("state.json.corrupt-")
            })
            .collect();
        assert_eq!(aside.len(), 1);
        assert_eq!(fs::read_to_string(aside[0].path()).unwrap(), "{ torn");
        // The failure is remembered, not re-derived.
        assert_eq!(store.load_state("a.test").unwrap().failures, 1);
    }

    #[test]
    fn refuses_unsafe_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path());
        assert!(matches!(
            store.try_lock_cert("../x"),
            Err(StoreError::BadName(_))
        ));
    }
}
