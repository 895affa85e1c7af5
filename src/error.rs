//! The crate-wide error: one variant per module error, and the exit code each one means.

use crate::acme::AcmeError;
use crate::config::ConfigError;
use crate::keys::KeyError;
use crate::names::NameError;
use crate::nginx::NginxError;
use crate::store::StoreError;
use crate::verify::VerifyError;

/// Every error the library returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A refused name.
    #[error(transparent)]
    Name(#[from] NameError),
    /// Key generation or CSR trouble.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// State directory trouble.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// CA or challenge trouble.
    #[error(transparent)]
    Acme(#[from] AcmeError),
    /// A certificate failed its checks before going live.
    #[error("the new certificate was not installed: {0}")]
    Verify(#[from] VerifyError),
    /// dhparam trouble.
    #[error(transparent)]
    Dh(#[from] crate::dhparam::DhError),
    /// nginx integration trouble.
    #[error(transparent)]
    Nginx(#[from] NginxError),
    /// A renewal record does not parse.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Bad command-line input that no module owns.
    #[error("{0}")]
    Usage(String),
    /// The deploy hook failed (the certificate is installed).
    #[error("the deploy hook failed: {0}")]
    Hook(#[from] crate::hooks::HookError),
    /// An audit that could not run (bad target, or a server that could not be assessed).
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    /// Another certctl holds the certificate's lock for too long.
    #[error("{0}")]
    Busy(String),
    /// The systemd timer could not be installed or read.
    #[error(transparent)]
    Scheduler(#[from] crate::scheduler::SchedulerError),
    /// A `--ca-bundle` that cannot be used.
    #[error(transparent)]
    Bundle(#[from] crate::trust::BundleError),
    /// A Django project that cannot be checked.
    #[error(transparent)]
    Django(#[from] crate::django::DjangoError),
    /// Stopped by Ctrl-C / SIGTERM.
    #[error("interrupted; the live certificate was not changed")]
    Interrupted,
}

impl Error {
    /// 2 for bad input or usage, 1 for operational failures.
    pub fn exit_code(&self) -> u8 {
        let usage = match self {
            Self::Name(_) | Self::Usage(_) | Self::Bundle(_) => true,
            Self::Key(KeyError::UnknownType(_)) => true,
            Self::Store(StoreError::BadName(_)) => true,
            Self::Acme(e) => e.is_usage(),
            Self::Nginx(e) => e.is_usage(),
            Self::Dh(crate::dhparam::DhError::Invalid(_)) => true,
            Self::Django(e) => e.is_usage(),
            Self::Scheduler(e) => e.is_usage(),
            Self::Audit(e) => e.is_usage(),
            _ => false,
        };
        if usage { 2 } else { 1 }
    }
}
