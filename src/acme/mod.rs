//! ACME v2 (RFC 8555) over instant-acme: directory choice, accounts, HTTP-01 responders, orders.
//!
//! This module speaks to the CA and to the local challenge responder; it does not decide where
//! certificates are stored or what happens to them afterwards (that is `ops::issue`).
//! CA problem documents are kept whole and shown verbatim.

pub mod account;
pub mod ari;
pub mod chains;
pub mod challenge;
pub mod directory;
mod http;
pub mod jws;
pub mod order;
mod signed;

use std::fmt;

pub use account::Account;
pub use instant_acme::Problem;

use crate::names::Identifier;

/// Errors talking to the CA or answering challenges.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The CA's API could not be reached or answered garbage.
    #[error("cannot talk to the ACME server at {url}: {reason}")]
    Unreachable {
        /// The directory URL.
        url: String,
        /// What went wrong (connection refused, TLS failure, timeout…).
        reason: String,
    },
    /// The CA answered an HTTP error status to a request whose answer is not a problem
    /// document (the directory, a nonce), or without a problem document.
    #[error("the ACME server answered HTTP {status} to {request}{}", .problem.as_ref().map(|p| format!(": {}", ProblemDisplay(p))).unwrap_or_default())]
    Status {
        /// The method and URL ("GET https://…/directory").
        request: String,
        /// Its code and reason ("500 Internal Server Error").
        status: String,
        /// The code alone.
        code: u16,
        /// The problem document the body held, if any.
        problem: Option<Box<Problem>>,
    },
    /// The CA answered with a problem document.
    #[error("the CA refused {during}: {}{}", ProblemDisplay(.problem), .hint.map(|h| format!(" ({h})")).unwrap_or_default())]
    Refused {
        /// What certctl was asking for ("the new order", "the account"…).
        during: &'static str,
        /// The problem document, verbatim.
        problem: Problem,
        /// A hint for well-known cases (IP identifiers, …).
        hint: Option<&'static str>,
    },
    /// One or more identifiers failed validation.
    #[error("validation failed: {}", failures_display(.failures))]
    ValidationFailed {
        /// Each identifier whose authorization failed: its status and the CA's problem.
        failures: Vec<(String, String, Option<Problem>)>,
    },
    /// The private key or CSR could not be made.
    #[error("cannot make the key or CSR: {0}")]
    Key(String),
    /// The CA offers no HTTP-01 challenge for an identifier.
    #[error("the CA offers no http-01 challenge for {0}; certctl validates over HTTP-01 only")]
    NoHttp01(String),
    /// The local self-check could not fetch a token.
    #[error(
        "self-check failed for {identifier}: {url} (Host: {host}) {reason}; the CA would fail the same way, so nothing was sent to it (check the web server or --webroot, or skip with --no-self-check)"
    )]
    SelfCheck {
        /// The identifier being validated.
        identifier: Identifier,
        /// The URL fetched.
        url: String,
        /// The Host header sent.
        host: String,
        /// What came back.
        reason: String,
    },
    /// The standalone responder could not listen, or the webroot could not be written.
    #[error("{0}")]
    Responder(String),
    /// The webroot's challenge directory is a symlink (or not a directory): certctl, often root,
    /// does not write through links a web user may have planted.
    #[error(
        "refusing to write challenge files through {}: {reason}; make it a real directory",
        path.display()
    )]
    UnsafeWebroot {
        /// The offending path.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The CA took too long.
    #[error("the CA did not finish {0} in time")]
    Timeout(&'static str),
    /// No account yet and the terms of service were not accepted.
    #[error(
        "creating an account needs your agreement to the CA's terms of service{}: pass --agree-tos",
        .0.as_deref().map(|u| format!(" ({u})")).unwrap_or_default()
    )]
    TermsNotAgreed(Option<String>),
    /// `--profile` names a profile the CA does not offer.
    #[error("--profile {profile}: the CA at {directory_url} offers {}", match offered.is_empty() {
        true => "no profiles; drop --profile".to_owned(),
        false => offered.join(", "),
    })]
    ProfileNotOffered {
        /// What was asked.
        profile: String,
        /// The CA.
        directory_url: String,
        /// What it offers.
        offered: Vec<String>,
    },
    /// The `--ca-bundle` file is unusable.
    #[error(transparent)]
    CaBundle(#[from] crate::trust::BundleError),
    /// A stored account does not parse.
    #[error("the stored account for {0} is damaged; move it away to create a new one")]
    BadAccount(String),
    /// Anything else instant-acme reports.
    #[error("ACME protocol error: {0}")]
    Protocol(String),
}

impl AcmeError {
    /// Maps an instant-acme error, naming what certctl was doing.
    pub(crate) fn from_acme(during: &'static str, url: &str, err: instant_acme::Error) -> Self {
        match err {
            instant_acme::Error::Api(problem) => Self::refused(during, problem),
            instant_acme::Error::Timeout(_) => Self::Timeout(during),
            instant_acme::Error::Other(inner) => match inner.downcast::<http::ExchangeError>() {
                Ok(exchange) => match *exchange {
                    http::ExchangeError::Status {
                        method,
                        url,
                        status,
                        problem,
                    } => Self::Status {
                        request: format!("{method} {url}"),
                        status: status.to_string(),
                        code: status.as_u16(),
                        problem: problem.map(Box::new),
                    },
                    other => Self::Unreachable {
                        url: url.to_owned(),
                        reason: other.to_string(),
                    },
                },
                Err(inner) => Self::Unreachable {
                    url: url.to_owned(),
                    reason: error_chain(inner.as_ref()),
                },
            },
            instant_acme::Error::Json(e) => Self::Unreachable {
                url: url.to_owned(),
                reason: format!("the answer is not ACME JSON ({e})"),
            },
            other => Self::Protocol(error_chain(&other)),
        }
    }

    /// A refusal as the CA worded it.
    pub(crate) fn refused(during: &'static str, problem: Problem) -> Self {
        Self::Refused {
            during,
            problem,
            hint: None,
        }
    }

    /// Adds the IP-identifier explanation when an order with IP addresses was refused for its
    /// identifiers (Let's Encrypt issues for IPs only under its shortlived profile).
    pub(crate) fn with_ip_context(mut self, order_has_ip: bool) -> Self {
        if let Self::Refused { problem, hint, .. } = &mut self {
            let kind = problem.r#type.as_deref().unwrap_or_default();
            if order_has_ip
                && (kind.ends_with(":rejectedIdentifier")
                    || kind.ends_with(":unsupportedIdentifier")
                    || kind.ends_with(":malformed"))
            {
                *hint = Some(
                    "the order contains IP addresses; this CA does not issue for them here, and Let's Encrypt issues IP address certificates only under its shortlived profile",
                );
            }
        }
        self
    }

    /// True when the user must change the invocation (exit code 2), not retry.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::TermsNotAgreed(_) | Self::CaBundle(_) | Self::ProfileNotOffered { .. }
        )
    }
}

/// A problem document on one line: `detail (type)`, then each subproblem with its identifier.
pub struct ProblemDisplay<'a>(pub &'a Problem);

impl fmt::Display for ProblemDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0;
        f.write_str(p.detail.as_deref().unwrap_or("no detail given"))?;
        if let Some(kind) = &p.r#type {
            write!(f, " ({kind})")?;
        }
        for sub in &p.subproblems {
            f.write_str("; ")?;
            if let Some(id) = &sub.identifier {
                write!(f, "for {}: ", id.authorized(false))?;
            }
            f.write_str(sub.detail.as_deref().unwrap_or("no detail given"))?;
            if let Some(kind) = &sub.r#type {
                write!(f, " ({kind})")?;
            }
        }
        Ok(())
    }
}

fn failures_display(failures: &[(String, String, Option<Problem>)]) -> String {
    failures
        .iter()
        .map(|(id, status, problem)| match problem {
            Some(p) => format!("{id}: {}", ProblemDisplay(p)),
            None => format!("{id}: the authorization is {status} and the CA gave no reason"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// An error and its sources on one line, duplicates dropped (hyper repeats itself).
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(json: &str) -> Problem {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn shows_problem_documents_verbatim_on_one_line() {
        // RFC 8555 section 6.7.1 example.
        let p = problem(
            r#"{"type":"urn:ietf:params:acme:error:malformed","detail":"Some of the identifiers requested were rejected","subproblems":[{"type":"urn:ietf:params:acme:error:malformed","detail":"Invalid underscore in DNS name \"_example.org\"","identifier":{"type":"dns","value":"_example.org"}},{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"This CA will not issue for \"example.net\"","identifier":{"type":"dns","value":"example.net"}}]}"#,
        );
        let shown = AcmeError::refused("the new order", p).to_string();
        assert_eq!(
            shown,
            "the CA refused the new order: Some of the identifiers requested were rejected (urn:ietf:params:acme:error:malformed); \
             for _example.org: Invalid underscore in DNS name \"_example.org\" (urn:ietf:params:acme:error:malformed); \
             for example.net: This CA will not issue for \"example.net\" (urn:ietf:params:acme:error:rejectedIdentifier)"
        );
        assert!(!shown.contains('\n'));
    }

    #[test]
    fn hints_at_the_shortlived_profile_when_ips_are_refused() {
        let p = problem(
            r#"{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"Cannot issue for IP address 192.0.2.1 under this profile"}"#,
        );
        let shown = AcmeError::refused("the new order", p.clone())
            .with_ip_context(true)
            .to_string();
        assert!(shown.contains("shortlived"), "{shown}");
        assert!(!shown.contains('\n'));
        assert!(
            !AcmeError::refused("the new order", p)
                .with_ip_context(false)
                .to_string()
                .contains("shortlived")
        );
        let p = problem(r#"{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many"}"#);
        assert!(
            !AcmeError::refused("the new order", p)
                .with_ip_context(true)
                .to_string()
                .contains("shortlived")
        );
    }

    #[test]
    fn an_http_error_status_is_named_with_its_url_not_taken_for_bad_json() {
        let shown = |method, url: &str, status, problem| {
            let exchange = http::ExchangeError::Status {
                method,
                url: url.into(),
                status,
                problem,
            };
            let other = instant_acme::Error::Other(Box::new(exchange));
            AcmeError::from_acme("the directory", "https://ca.test/dir", other).to_string()
        };
        assert_eq!(
            shown(
                ::http::Method::GET,
                "https://ca.test/dir",
                ::http::StatusCode::INTERNAL_SERVER_ERROR,
                Some(problem(
                    r#"{"type":"urn:ietf:params:acme:error:serverInternal","detail":"down"}"#
                )),
            ),
            "the ACME server answered HTTP 500 Internal Server Error to GET https://ca.test/dir: down (urn:ietf:params:acme:error:serverInternal)"
        );
        assert_eq!(
            shown(
                ::http::Method::POST,
                "https://ca.test/new-order",
                ::http::StatusCode::BAD_GATEWAY,
                None,
            ),
            "the ACME server answered HTTP 502 Bad Gateway to POST https://ca.test/new-order"
        );
    }

    #[test]
    fn names_each_failed_identifier() {
        let err = AcmeError::ValidationFailed {
            failures: vec![(
                "a.test".into(),
                "invalid".into(),
                Some(problem(
                    r#"{"type":"urn:ietf:params:acme:error:connection","detail":"connection refused"}"#,
                )),
            )],
        };
        assert_eq!(
            err.to_string(),
            "validation failed: a.test: connection refused (urn:ietf:params:acme:error:connection)"
        );
    }
}
