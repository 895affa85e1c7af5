//! Why an audit could not run: a target the user got wrong (exit 2) or a server that could not be
//! assessed (exit 1). A weak server is not an error: that is the grade.

use std::net::SocketAddr;

use super::probe::ProbeError;

/// Every way `certctl audit` fails before it has a report.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// HOST[:PORT] does not parse.
    #[error("audit target {target:?}: {why}")]
    BadTarget {
        /// As given.
        target: String,
        /// What is wrong with it ("bad port", "unclosed [").
        why: &'static str,
    },
    /// Port 0.
    #[error("the audit port must be between 1 and 65535")]
    PortZero,
    /// The host name has no address.
    #[error("cannot resolve {host}")]
    Unresolved {
        /// The name looked up.
        host: String,
    },
    /// No protocol version got a TLS answer (nothing listens, not TLS, closed).
    #[error("cannot audit {addr}: {probe}")]
    NoAnswer {
        /// The server.
        addr: SocketAddr,
        /// The first probe's failure.
        probe: ProbeError,
    },
    /// The server speaks TLS but accepts none of the cipher suites certctl knows.
    #[error("cannot audit {addr}: it accepted no cipher suite in any protocol")]
    NoSuites {
        /// The server.
        addr: SocketAddr,
    },
}

impl AuditError {
    /// Bad input (exit 2) rather than a server that could not be assessed (exit 1).
    pub fn is_usage(&self) -> bool {
        match self {
            Self::BadTarget { .. } | Self::PortZero | Self::Unresolved { .. } => true,
            Self::NoAnswer { .. } | Self::NoSuites { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_mistakes_exit_2_and_unassessable_servers_exit_1() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 443));
        let cases = [
            (
                AuditError::BadTarget {
                    target: "host:x".into(),
                    why: "bad port",
                },
                2,
                "audit target \"host:x\": bad port",
            ),
            (
                AuditError::PortZero,
                2,
                "the audit port must be between 1 and 65535",
            ),
            (
                AuditError::Unresolved {
                    host: "nowhere.test".into(),
                },
                2,
                "cannot resolve nowhere.test",
            ),
            (
                AuditError::NoAnswer {
                    addr,
                    probe: ProbeError::Closed,
                },
                1,
                "cannot audit 127.0.0.1:443: the server closed the connection without answering",
            ),
            (
                AuditError::NoSuites { addr },
                1,
                "cannot audit 127.0.0.1:443: it accepted no cipher suite in any protocol",
            ),
        ];
        for (err, code, message) in cases {
            assert_eq!(err.to_string(), message);
            assert_eq!(crate::Error::from(err).exit_code(), code, "{message}");
        }
    }
}
