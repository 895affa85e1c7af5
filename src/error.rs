//! The crate-wide error: one variant per module error, and the exit code each one means.

use std::path::{Path, PathBuf};

use crate::acme::AcmeError;
use crate::config::ConfigError;
use crate::keys::KeyError;
use crate::names::NameError;
use crate::nginx::NginxError;
use crate::store::StoreError;
use crate::verify::VerifyError;

/// Input certctl refuses before it acts (exit 2): a certificate that does not exist or cannot
/// be used this way, flags that contradict each other or what is stored, a file the user named
/// that cannot be read or is not what it should be. Nothing has been written.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// No certificate by that name in the state directory.
    #[error("no certificate named {name:?}{}", hint.text())]
    UnknownCert {
        /// The name asked for.
        name: String,
        /// What the user can do.
        hint: UnknownCertHint,
    },
    /// The certificate has a record but no live version.
    #[error("certificate {0:?} has no live version yet")]
    NotLive(String),
    /// A certificate installed by hand cannot be revoked through certctl's account.
    #[error("{0} was installed by hand (install-cert); revoke it with the CA that issued it")]
    RevokeManual(String),
    /// A certificate installed by hand cannot be issued over ACME.
    #[error("a manual certificate cannot be issued over ACME")]
    IssueManual,
    /// No ACME account for the certificate's CA in this state directory.
    #[error("no account for {0} in this state directory")]
    NoAccount(String),
    /// `--reuse-key` on a certificate revoked for key compromise.
    #[error("{0} was revoked for keyCompromise; its key must not be reused: drop --reuse-key")]
    CompromisedKey(String),
    /// `--reuse-key` with a `--key-type` other than the kept key's.
    #[error(
        "--reuse-key keeps the current {kept} key of {name}; drop --key-type {asked} or drop --reuse-key"
    )]
    ReuseKeyType {
        /// The certificate.
        name: String,
        /// The live key's type.
        kept: crate::keys::KeyType,
        /// What --key-type asked for.
        asked: crate::keys::KeyType,
    },
    /// `--dual` with an RSA key type for the ECDSA half.
    #[error(
        "--dual pairs an ECDSA key with an RSA 2048 key; --key-type {0} cannot be the ECDSA half"
    )]
    DualRsa(crate::keys::KeyType),
    /// A file certctl would create already exists.
    #[error("{} exists; certctl does not overwrite it", .0.display())]
    Exists(PathBuf),
    /// A file the user named cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file the user named is not what it should be.
    #[error("{}: {reason}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// What an unknown-certificate error suggests.
#[derive(Clone, Copy, Debug)]
pub enum UnknownCertHint {
    /// Nothing more.
    None,
    /// `certctl list` shows the names.
    List,
    /// `certctl issue` makes it.
    Issue,
}

impl UnknownCertHint {
    fn text(self) -> &'static str {
        match self {
            Self::None => "",
            Self::List => "; `certctl list` shows them",
            Self::Issue => "; run `certctl issue` first",
        }
    }
}

impl InputError {
    /// A file the user named could not be read.
    pub fn unreadable(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Unreadable {
            path: path.to_owned(),
            source,
        }
    }

    /// A file the user named is not what it should be.
    pub fn bad_file(path: &Path, reason: impl std::fmt::Display) -> Self {
        Self::BadFile {
            path: path.to_owned(),
            reason: reason.to_string(),
        }
    }
}

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
    /// Input certctl refuses before it acts.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Bad command-line input that no module owns: made only by the CLI, from its arguments.
    #[error("{0}")]
    Usage(String),
    /// A file or system operation the CLI runs failed (exit 1).
    #[error("{context}: {source}")]
    Io {
        /// What certctl was doing.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file certctl writes could not be written.
    #[error(transparent)]
    File(#[from] crate::fsio::IoError),
    /// The deploy hook failed (the certificate is installed).
    #[error("the deploy hook failed: {0}")]
    Hook(#[from] crate::hooks::HookError),
    /// An audit that could not run (bad target, or a server that could not be assessed).
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    /// Another certctl holds a lock (a certificate, an account) for longer than this run waits.
    #[error("another certctl has been working on {name} for over {waited} s; try again later")]
    Busy {
        /// What is locked: the certificate name, or "the account for URL".
        name: String,
        /// How long this run waited, seconds.
        waited: u64,
    },
    /// The new certificate went live but deploying it (nginx, the deploy hook) failed.
    #[error(
        "the new certificate for {name} (serial {serial}) is live, but deploying it failed: {failure}; `certctl renew` deploys it again"
    )]
    NotDeployed {
        /// The certificate.
        name: String,
        /// The live serial.
        serial: String,
        /// What failed.
        failure: Box<Error>,
    },
    /// `issue` reloaded nginx, and nginx does not serve the new certificate.
    #[error(
        "nginx does not serve the new certificate for {name} (serial {serial}): {problem}; {outcome}"
    )]
    NotServed {
        /// The certificate.
        name: String,
        /// The new serial.
        serial: String,
        /// What nginx serves instead.
        problem: String,
        /// Which certificate is live now.
        outcome: String,
    },
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
    /// certbot's directory cannot be imported, or its schedule cannot be disabled.
    #[error(transparent)]
    Certbot(#[from] crate::certbot::CertbotError),
    /// A config file or environment variable certctl cannot use: nothing runs.
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    /// DNS resolution could not be set up (`certctl doctor`).
    #[error(transparent)]
    Dns(#[from] crate::dns::DnsError),
}

impl Error {
    /// The exit code the README promises: 2 for bad input or usage (the invocation must change),
    /// 1 for operational failures (retrying, or fixing the system, may help). Every variant is
    /// listed, so a new one must choose.
    pub fn exit_code(&self) -> u8 {
        let usage = match self {
            Self::Name(_)
            | Self::Input(_)
            | Self::Usage(_)
            | Self::Bundle(_)
            | Self::Settings(_) => true,
            Self::Key(e) => matches!(e, KeyError::UnknownType(_)),
            Self::Store(e) => matches!(
                e,
                StoreError::BadName(_) | StoreError::BadUrl(_) | StoreError::FleetKey { .. }
            ),
            Self::Dh(e) => matches!(e, crate::dhparam::DhError::Invalid(_)),
            Self::Acme(e) => e.is_usage(),
            Self::Nginx(e) => e.is_usage(),
            Self::Django(e) => e.is_usage(),
            Self::Scheduler(e) => e.is_usage(),
            Self::Audit(e) => e.is_usage(),
            Self::Certbot(e) => e.is_usage(),
            Self::NotDeployed { failure, .. } => return failure.exit_code(),
            Self::Verify(_)
            | Self::Config(_)
            | Self::Io { .. }
            | Self::File(_)
            | Self::Hook(_)
            | Self::Busy { .. }
            | Self::NotServed { .. }
            | Self::Dns(_)
            | Self::Interrupted => false,
        };
        if usage { 2 } else { 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyType;

    fn io_error() -> std::io::Error {
        std::io::Error::from(std::io::ErrorKind::PermissionDenied)
    }

    /// Which variant an error is, by position: an exhaustive match, so a new variant does not
    /// compile until it is given a place here, and then fails the test until it has a case.
    fn variant(e: &Error) -> usize {
        match e {
            Error::Name(_) => 0,
            Error::Key(_) => 1,
            Error::Store(_) => 2,
            Error::Acme(_) => 3,
            Error::Verify(_) => 4,
            Error::Dh(_) => 5,
            Error::Nginx(_) => 6,
            Error::Config(_) => 7,
            Error::Input(_) => 8,
            Error::Usage(_) => 9,
            Error::Io { .. } => 10,
            Error::File(_) => 11,
            Error::Hook(_) => 12,
            Error::Audit(_) => 13,
            Error::Busy { .. } => 14,
            Error::Scheduler(_) => 15,
            Error::Bundle(_) => 16,
            Error::Django(_) => 17,
            Error::Interrupted => 18,
            Error::Certbot(_) => 19,
            Error::NotDeployed { .. } => 20,
            Error::NotServed { .. } => 21,
            Error::Settings(_) => 22,
            Error::Dns(_) => 23,
        }
    }
    const VARIANTS: usize = 24;

    #[test]
    fn every_error_exits_with_the_code_the_readme_promises() {
        let path = || PathBuf::from("/x");
        let cases: Vec<(Error, u8)> = vec![
            (NameError::Empty.into(), 2),
            (KeyError::UnknownType("dsa".into()).into(), 2),
            (StoreError::BadName("..".into()).into(), 2),
            (StoreError::InTheWay(path()).into(), 1),
            (StoreError::BadUrl("x".into()).into(), 2),
            (
                StoreError::FleetKey {
                    path: path(),
                    reason: "r".into(),
                }
                .into(),
                2,
            ),
            (
                StoreError::Fenced {
                    key: "cert:a".into(),
                    fence: 1,
                }
                .into(),
                1,
            ),
            (AcmeError::TermsNotAgreed(None).into(), 2),
            (
                AcmeError::ProfileNotOffered {
                    profile: "p".into(),
                    directory_url: "u".into(),
                    offered: vec![],
                }
                .into(),
                2,
            ),
            (AcmeError::Timeout("the order").into(), 1),
            (AcmeError::Protocol("bad JSON".into()).into(), 1),
            (VerifyError::KeyMismatch.into(), 1),
            (
                crate::dhparam::DhError::Invalid("--bits 1".into()).into(),
                2,
            ),
            (NginxError::Invalid("--proxy-pass".into()).into(), 2),
            (NginxError::ProbeNeverServed.into(), 1),
            (NginxError::TestFailed { stderr: "x".into() }.into(), 1),
            (NginxError::Broken { stderr: "x".into() }.into(), 1),
            (ConfigError::Format(99).into(), 1),
            (InputError::NotLive("a.test".into()).into(), 2),
            (
                InputError::ReuseKeyType {
                    name: "a.test".into(),
                    kept: KeyType::EcdsaP256,
                    asked: KeyType::Rsa2048,
                }
                .into(),
                2,
            ),
            (InputError::unreadable(&path())(io_error()).into(), 2),
            (Error::Usage("give a NAME".into()), 2),
            (
                crate::settings::SettingsError::BadEnv {
                    var: "CERTCTL_KEY_TYPE",
                    key: "acme.key_type",
                    message: "dsa".into(),
                }
                .into(),
                2,
            ),
            (
                Error::Io {
                    context: "cannot start the async runtime".into(),
                    source: io_error(),
                },
                1,
            ),
            (
                crate::fsio::io("cannot write", &path())(io_error()).into(),
                1,
            ),
            (crate::hooks::HookError::Spawn(io_error()).into(), 1),
            (crate::audit::AuditError::PortZero.into(), 2),
            (
                crate::audit::AuditError::NoSuites {
                    addr: "127.0.0.1:443".parse().unwrap(),
                }
                .into(),
                1,
            ),
            (
                Error::Busy {
                    name: "a.test".into(),
                    waited: 5,
                },
                1,
            ),
            (
                crate::scheduler::SchedulerError::UnsafePath {
                    what: "binary",
                    path: path(),
                }
                .into(),
                2,
            ),
            (crate::scheduler::SchedulerError::NotOurs(path()).into(), 1),
            (
                crate::scheduler::SchedulerError::NoSystemctl(io_error()).into(),
                1,
            ),
            (
                crate::trust::BundleError {
                    path: path(),
                    reason: "empty".into(),
                }
                .into(),
                2,
            ),
            (crate::django::DjangoError::NoProject(path()).into(), 2),
            (crate::django::DjangoError::Live("refused".into()).into(), 1),
            (
                crate::django::DjangoError::Write(crate::fsio::io("cannot write", &path())(
                    io_error(),
                ))
                .into(),
                1,
            ),
            (Error::Interrupted, 1),
            (
                Error::NotServed {
                    name: "a".into(),
                    serial: "01".into(),
                    problem: "serves serial 02".into(),
                    outcome: "the previous certificate is live again".into(),
                },
                1,
            ),
            (
                Error::NotDeployed {
                    name: "a.test".into(),
                    serial: "01".into(),
                    failure: Box::new(NginxError::ProbeNeverServed.into()),
                },
                1,
            ),
            (
                crate::dns::DnsError::Setup("no /etc/resolv.conf".into()).into(),
                1,
            ),
            (crate::certbot::CertbotError::NoConfigDir(path()).into(), 2),
            (crate::certbot::CertbotError::NotCertbot(path()).into(), 2),
            (
                crate::certbot::CertbotError::Systemctl {
                    args: "disable --now certbot.timer".into(),
                    stderr: "x".into(),
                }
                .into(),
                1,
            ),
        ];
        let mut seen = [false; VARIANTS];
        for (error, code) in &cases {
            assert_eq!(error.exit_code(), *code, "{error}");
            seen[variant(error)] = true;
        }
        let missing: Vec<usize> = (0..VARIANTS).filter(|&i| !seen[i]).collect();
        assert!(missing.is_empty(), "variants without a case: {missing:?}");
    }
}
