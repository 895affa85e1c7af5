//! Running `certctl renew` on a schedule: the systemd timer certctl installs ([`systemd`]) and
//! the wake-up times of the cron daemon for containers ([`cron`]). When a certificate is *due*
//! is decided in [`crate::renewal`]; this module only decides when renew runs.

use std::path::PathBuf;

pub mod cron;
pub mod daemon;
pub mod systemd;

/// Installing or inspecting the timer failed.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// A path systemd would split or expand (exit 2).
    #[error(
        "the {what} path {} cannot be written into a systemd unit (it must be absolute, without spaces, quotes, % or $)",
        path.display()
    )]
    UnsafePath {
        /// "binary" or "state directory".
        what: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// A unit file certctl would replace is someone else's.
    #[error("{} exists and was not written by certctl; move it away first", .0.display())]
    InTheWay(PathBuf),
    /// A unit file certctl would remove is someone else's.
    #[error("{} was not written by certctl; left alone", .0.display())]
    NotOurs(PathBuf),
    /// systemctl could not be started.
    #[error("cannot run systemctl: {0}")]
    NoSystemctl(#[source] std::io::Error),
    /// systemctl ran and failed.
    #[error("systemctl {args} failed: {stderr}")]
    Systemctl {
        /// Its arguments.
        args: String,
        /// What it said.
        stderr: String,
    },
    /// Writing or removing a unit file failed.
    #[error(transparent)]
    Io(#[from] crate::fsio::IoError),
}

impl SchedulerError {
    /// True when the user must change the invocation (exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::UnsafePath { .. })
    }
}
