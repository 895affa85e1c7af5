//! The daemon's heartbeat, `STATE/daemon.json`: its pid, schedule and next run, rewritten at every
//! wake-up and removed when it stops, so `certctl status` can say whether a daemon runs and when.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a running `certctl daemon` last said about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonState {
    /// Its process id.
    pub pid: u32,
    /// Its cron expression.
    pub cron: String,
    /// Its next renew run, Unix seconds.
    pub next_run: i64,
    /// When it wrote this, Unix seconds.
    pub updated: i64,
}

/// Where the heartbeat lives.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("daemon.json")
}

/// Writes the heartbeat (atomically, 0644: it holds nothing secret).
pub fn write(state_dir: &Path, state: &DaemonState) -> Result<(), crate::fsio::IoError> {
    let json = serde_json::to_vec_pretty(state).expect("the daemon state serializes");
    // A fleet node's state directory may not exist yet (its first convergence makes it).
    if !state_dir.is_dir() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(state_dir)
            .map_err(crate::fsio::io("cannot create", state_dir))?;
    }
    crate::fsio::write_atomic(&path(state_dir), &json, 0o644)
}

/// Removes the heartbeat (the daemon stopped).
pub fn remove(state_dir: &Path) {
    let _ = std::fs::remove_file(path(state_dir));
}

/// The heartbeat, if a daemon wrote one and its process is still there.
pub fn running(state_dir: &Path) -> Option<DaemonState> {
    let bytes = std::fs::read(path(state_dir)).ok()?;
    let state: DaemonState = serde_json::from_slice(&bytes).ok()?;
    let pid = rustix::process::Pid::from_raw(i32::try_from(state.pid).ok()?)?;
    // EPERM: the process is there, owned by another user.
    matches!(
        rustix::process::test_kill_process(pid),
        Ok(()) | Err(rustix::io::Errno::PERM)
    )
    .then_some(state)
}
