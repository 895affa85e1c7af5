//! nginx: render certctl's snippets and site files (pure), find what nginx already serves
//! (`nginx -T`), write files with backups, validate with the real `nginx -t`, reload, roll back.

use serde::{Deserialize, Serialize};

pub mod apply;
pub mod binary;
pub mod dump;
pub mod edit;
pub mod lex;
pub mod proxied;
pub mod render;
pub mod repoint;
pub mod workers;

/// What `certctl nginx` / `issue --nginx` set up, remembered for re-runs and renewals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NginxSite {
    /// How to run nginx.
    pub nginx: binary::Nginx,
    /// Where certctl's files go.
    pub layout: render::NginxLayout,
    /// TLS profile.
    pub profile: crate::tls_policy::Profile,
    /// HSTS header, or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hsts: Option<render::Hsts>,
    /// What the HTTPS server serves.
    pub content: render::Content,
    /// HTTPS port.
    pub https_port: u16,
    /// Listen addresses (empty: all IPv4 and IPv6).
    #[serde(default)]
    pub listen: Vec<String>,
    /// `--take-over`: a user's TLS server for a name gets certctl's certificate, TLS snippet and
    /// HSTS instead of a refusal. Not remembered: a server taken over carries certctl's region,
    /// which later runs recognise.
    #[serde(default, skip_serializing)]
    pub take_over: bool,
    /// On a fleet node: the JWK thumbprint of the fleet's account for this certificate's CA, so
    /// the ACME location answers any token of that account, on any node (a token file in the
    /// web root still wins). Not remembered: read from the store for each run.
    #[serde(skip)]
    pub fleet_thumbprint: Option<String>,
}

use std::path::PathBuf;

/// Errors from the nginx integration.
#[derive(Debug, thiserror::Error)]
pub enum NginxError {
    /// A value or option combination that cannot be written (exit 2).
    #[error("{0}")]
    Invalid(String),
    /// The nginx binary could not be run.
    #[error("cannot run {bin}: {reason}")]
    Run {
        /// The binary.
        bin: PathBuf,
        /// Why.
        reason: String,
    },
    /// `nginx -t` refused the configuration; every file was restored.
    #[error("nginx -t rejected the configuration, so every file was restored and nginx was not reloaded: {}", one_line(.stderr))]
    TestFailed {
        /// nginx's own message.
        stderr: String,
    },
    /// `nginx -T` fails on the configuration as it is, before certctl changed anything.
    #[error("nginx's configuration does not load as it is (nginx -T), before certctl changed anything: {}", one_line(.stderr))]
    Broken {
        /// nginx's own message.
        stderr: String,
    },
    /// The reload command failed; every file was restored.
    #[error("reloading nginx failed, so every file was restored: {}", one_line(.stderr))]
    ReloadFailed {
        /// The command's output.
        stderr: String,
    },
    /// A file certctl would change was not written by certctl, or was edited since.
    #[error("{path} {why}; certctl leaves it alone (move it away, or fix it by hand)")]
    NotOurs {
        /// The file.
        path: PathBuf,
        /// "was not written by certctl" / "was edited after certctl wrote it".
        why: &'static str,
    },
    /// A name is already served over TLS by a server block certctl does not own.
    #[error(
        "{name} is already served over TLS by the server at {location}; certctl changed nothing (pass --take-over to point that server at certctl's certificate, with its TLS settings and HSTS)"
    )]
    AlreadyServed {
        /// The name.
        name: String,
        /// file:line of the other server block.
        location: String,
    },
    /// Nobody serves a name yet, so certctl cannot read what its HTTPS site should serve.
    #[error(
        "no server answers {name} on port {port} yet, so there is nothing to read: say what https://{name} serves with --root DIR or --proxy-pass URL"
    )]
    NothingServed {
        /// The name.
        name: String,
        /// The HTTP port.
        port: u16,
    },
    /// The port-80 server of a name only redirects to https: there is nothing to copy.
    #[error(
        "the port-80 server at {origin} answers {name} with a redirect to https, so there is nothing to copy to https://{name} (a copy would redirect HTTPS to itself): say what https://{name} serves with --root DIR or --proxy-pass URL"
    )]
    OnlyRedirects {
        /// The name.
        name: String,
        /// file:line of the server block.
        origin: String,
    },
    /// A user's file nginx loads cannot be parsed (it changed since nginx read it).
    #[error("cannot read the server blocks of {path}: {reason}")]
    Unparsable {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file certctl changed for a certificate was edited since; a revert would lose that.
    #[error(
        "{path} was edited after certctl changed it; --revert leaves it alone (pass --force to put back the version from before certctl anyway)"
    )]
    EditedSince {
        /// The file.
        path: PathBuf,
    },
    /// Nothing to revert.
    #[error("certctl has no nginx changes recorded for {0}")]
    NothingToRevert(String),
    /// File trouble.
    #[error(transparent)]
    Io(#[from] crate::fsio::IoError),
    /// nginx was reloaded but never served the probe token over plain HTTP.
    #[error("nginx never served the probe token")]
    ProbeNeverServed,
}

impl NginxError {
    /// True for bad input (exit 2).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::Invalid(_)
                | Self::NothingServed { .. }
                | Self::OnlyRedirects { .. }
                | Self::NothingToRevert(_)
        )
    }
}

/// nginx's stderr on one line: the [emerg]/[warn] lines, joined.
fn one_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains("test failed") && !l.contains("syntax is ok"))
        .collect();
    if lines.is_empty() {
        "(no message)".to_owned()
    } else {
        lines.join(" / ")
    }
}
