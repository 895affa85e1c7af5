//! certbot's configuration directory (`/etc/letsencrypt`), read so that `certctl import certbot`
//! can take its lineages over, and certbot's own schedule, stopped on request.
//!
//! [`renewal`] parses `renewal/NAME.conf` and decides what certctl would make of it and
//! [`account`] turns certbot's account into certctl's credentials (both pure); [`dir`] reads the
//! directory and [`schedule`] disables certbot's timer and cron entry. Nothing here ever writes
//! inside certbot's directory: it stays certbot's, whole, so the user can go back.

pub mod account;
pub mod dir;
pub mod renewal;
pub mod schedule;

use std::path::PathBuf;

/// What stops an import before it looks at any lineage, or stops disabling certbot.
#[derive(Debug, thiserror::Error)]
pub enum CertbotError {
    /// The directory given does not exist.
    #[error("no certbot configuration directory at {}", .0.display())]
    NoConfigDir(PathBuf),
    /// The directory exists but is not certbot's.
    #[error("{} is not a certbot configuration directory (it has no renewal/ directory)", .0.display())]
    NotCertbot(PathBuf),
    /// The directory cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        /// The directory or file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// certbot's cron file could not be rewritten.
    #[error(transparent)]
    Write(#[from] crate::fsio::IoError),
    /// systemctl refused to disable certbot's timer.
    #[error("systemctl {args} failed: {stderr}")]
    Systemctl {
        /// Its arguments.
        args: String,
        /// What it said.
        stderr: String,
    },
}

impl CertbotError {
    /// True when the user must change the invocation (exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::NoConfigDir(_) | Self::NotCertbot(_))
    }
}

/// Entry points for cargo-fuzz (fuzz/fuzz_targets/certbot_renewal.rs) and the corpus test.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses bytes as a renewal file and plans the lineage; never panics.
    pub fn renewal_conf(bytes: &[u8]) {
        if let Ok(text) = std::str::from_utf8(bytes)
            && let Ok(conf) = super::renewal::RenewalConf::parse(text)
        {
            let _ = super::renewal::plan(&conf);
        }
        let _ = super::account::account_key(bytes);
        let _ = super::account::registration(bytes);
    }
}
