//! `certctl django`: a Django project's HTTPS settings, checked statically from its settings
//! modules ([`settings`] evaluates them, [`checks`] applies Django's deploy checks and certctl's
//! own) and live from the running site ([`live`]). The I/O shells sit beside them: [`project`]
//! finds the project and reads its files, env files and git; [`fetch`] fetches the live site;
//! [`secret`] makes a SECRET_KEY and writes it into an env file.

pub mod checks;
pub mod environ;
pub mod fetch;
pub mod live;
pub mod project;
pub mod python;
pub mod secret;
pub mod settings;

use std::path::PathBuf;

use settings::SettingsError;

/// Why a Django check or `secret-key` could not run: bad input (exit 2), or a site, random
/// source or file write that failed (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum DjangoError {
    /// No manage.py here or above.
    #[error("no Django project found at {} (no manage.py here, above, or one level below; pass --project)", .0.display())]
    NoProject(PathBuf),
    /// manage.py names no settings module and none was given.
    #[error("{}: manage.py names no settings module; pass --settings", .manage_py.display())]
    NoSettingsModule {
        /// The project's manage.py.
        manage_py: PathBuf,
    },
    /// The settings module has no file in the project.
    #[error("settings module {module} not found under {}", .root.display())]
    SettingsModuleNotFound {
        /// The dotted module name.
        module: String,
        /// The project directory.
        root: PathBuf,
    },
    /// A settings file is unreadable or not Python.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The --env-file could not be read.
    #[error("cannot read the env file {}: {why}", path.display())]
    EnvFile {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The OS random source failed while making a SECRET_KEY.
    #[error("the OS random source failed: {0}")]
    Random(String),
    /// `secret-key --env-file` refused the file (or could not read it).
    #[error("{}: {why}", .path.display())]
    SecretFile {
        /// The env file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// Writing the env file failed (exit 1).
    #[error(transparent)]
    Write(#[from] crate::fsio::IoError),
    /// `--url` is not a usable https:// URL.
    #[error("--url {url}: {why}")]
    BadUrl {
        /// As given.
        url: String,
        /// Why.
        why: String,
    },
    /// `--http-url` is not a usable http:// URL.
    #[error("--http-url {url}: {why}")]
    BadHttpUrl {
        /// As given.
        url: String,
        /// Why.
        why: String,
    },
    /// `--ca-bundle` could not be used.
    #[error(transparent)]
    Bundle(#[from] crate::trust::BundleError),
    /// The live site could not be fetched.
    #[error("cannot check the live site: {0}")]
    Live(String),
}

impl DjangoError {
    /// Bad input (exit 2), as opposed to a site that did not answer (exit 1).
    pub fn is_usage(&self) -> bool {
        !matches!(self, Self::Live(_) | Self::Random(_) | Self::Write(_))
    }
}
