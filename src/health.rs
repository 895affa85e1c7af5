//! What `certctl status` makes of the facts about each certificate and the scheduler: findings
//! with stable IDs, and the worst of them, which is the exit code (0 all good, 1 warnings, 2 a
//! person is needed). Pure: the facts are gathered by `ops::status`.

use serde::Serialize;

use crate::finding::{Finding, Severity};
use crate::renewal::due::FailureKind;
use crate::renewal::state::LastResult;
use crate::verify::expiry::Expiry;

/// A certificate's renewal keeps failing: from this many failures in a row a person must look (at
/// once when the failure is of the kind that does not fix itself: unauthorized, DNS, CAA …).
pub const FAILURES_NEED_A_PERSON: u32 = 3;

/// What one handshake to one address for one name found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ServedResult {
    /// The live serial, with a chain that verifies for the name.
    Live,
    /// Another certificate.
    OtherSerial {
        /// Its serial.
        served: String,
    },
    /// The live serial with a chain that does not verify for the name.
    BadChain {
        /// Why.
        error: String,
    },
    /// No TLS handshake within the deadline.
    Unreachable {
        /// Why.
        error: String,
    },
    /// nginx has no TLS server for the name.
    NoTlsServer,
    /// What nginx serves could not be learned (`nginx -T` failed).
    Unknown {
        /// Why.
        why: String,
    },
}

/// One name at one address (none when no address could be checked).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Served {
    /// The name (SNI).
    pub name: String,
    /// The address nginx terminates TLS on for it.
    pub address: Option<String>,
    /// What the handshake found.
    #[serde(flatten)]
    pub result: ServedResult,
}

/// What is known about one certificate.
#[derive(Clone, Debug, Default)]
pub struct CertFacts<'a> {
    /// The certificate.
    pub name: &'a str,
    /// Why the live certificate or its record could not be read.
    pub problem: Option<&'a str>,
    /// Expiring or not, relative to its lifetime and the ARI window.
    pub expiry: Option<Expiry>,
    /// Why certctl does not renew it (installed by hand, revoked).
    pub not_renewed: Option<&'a str>,
    /// The last renewal attempt's result.
    pub last_result: Option<LastResult>,
    /// Its error.
    pub last_error: Option<&'a str>,
    /// How the last failure is expected to behave.
    pub failure_kind: Option<FailureKind>,
    /// Failures in a row.
    pub failures: u32,
    /// What nginx serves for each name.
    pub served: &'a [Served],
}

fn finding(id: &'static str, severity: Severity, message: String, fix: &str) -> Finding {
    Finding {
        id,
        severity,
        message,
        fix: fix.to_owned(),
    }
}

/// Findings for one certificate, worst first.
pub fn assess(c: &CertFacts<'_>) -> Vec<Finding> {
    use Severity::{Error, Info, Warning};
    let name = c.name;
    let mut out = Vec::new();
    if let Some(problem) = c.problem {
        out.push(finding(
            "status.UNREADABLE",
            Error,
            format!("{name}: {problem}"),
            &format!("`certctl verify {name}` says more; `certctl issue` makes it again"),
        ));
    }
    let failing = c.last_result == Some(LastResult::Failed);
    let last_error = c.last_error.unwrap_or("unknown error");
    match c.expiry {
        Some(Expiry::Expired) => out.push(finding(
            "status.EXPIRED",
            Error,
            format!("{name} has expired"),
            &format!("`certctl renew {name} --force`, and find out why renewal did not happen"),
        )),
        Some(Expiry::NotYetValid) => out.push(finding(
            "status.NOT_YET_VALID",
            Error,
            format!("{name} is not valid yet (is the clock right?)"),
            "check the system clock (timedatectl)",
        )),
        Some(Expiry::Expiring { why }) if failing => out.push(finding(
            "status.RENEWAL_FAILING",
            Error,
            format!("{name} is expiring ({why}) and its renewal fails: {last_error}"),
            &format!("fix the cause, then `certctl renew {name}`"),
        )),
        Some(Expiry::Expiring { why }) => out.push(finding(
            "status.EXPIRING",
            Warning,
            format!(
                "{name} is expiring ({why}){}",
                match c.not_renewed {
                    Some(why_not) => format!(" and certctl does not renew it: {why_not}"),
                    None => "; the next renew run renews it".to_owned(),
                }
            ),
            &match c.not_renewed {
                Some(_) => format!("replace it (`certctl install-cert {name}` or `certctl issue`)"),
                None => format!("`certctl renew {name}` now, or wait for the timer"),
            },
        )),
        _ if failing => out.push(finding(
            "status.RENEWAL_FAILED",
            match c.failures >= FAILURES_NEED_A_PERSON
                || c.failure_kind == Some(FailureKind::NeedsAttention)
            {
                true => Error,
                false => Warning,
            },
            format!(
                "the last renewal of {name} failed ({} in a row): {last_error}",
                c.failures
            ),
            &format!("fix the cause, then `certctl renew {name}`; it retries by itself meanwhile"),
        )),
        _ => {}
    }
    if let Some(why_not) = c.not_renewed
        && !matches!(c.expiry, Some(Expiry::Expiring { .. }))
    {
        out.push(finding(
            "status.NOT_RENEWED",
            Info,
            format!("certctl does not renew {name}: {why_not}"),
            "",
        ));
    }
    for s in c.served {
        let at = s
            .address
            .as_deref()
            .map(|a| format!(" at {a}"))
            .unwrap_or_default();
        let host = &s.name;
        match &s.result {
            ServedResult::Live => {}
            ServedResult::OtherSerial { served } => out.push(finding(
                "status.OLD_SERIAL",
                Error,
                format!("nginx{at} serves serial {served} for {host}, not {name}'s live certificate"),
                &format!("reload nginx (systemctl reload nginx); `certctl nginx {name}` rewrites its site"),
            )),
            ServedResult::BadChain { error } => out.push(finding(
                "status.BAD_CHAIN",
                Error,
                format!("nginx{at} serves {name}'s live certificate for {host} with a chain that does not verify: {error}"),
                &format!("`certctl verify {name}`"),
            )),
            ServedResult::Unreachable { error } => out.push(finding(
                "status.NOT_SERVED",
                Error,
                format!("no TLS handshake with nginx{at} for {host}: {error}"),
                "is nginx running? (systemctl status nginx)",
            )),
            ServedResult::NoTlsServer => out.push(finding(
                "status.NOT_SERVED",
                Error,
                format!("nginx has no TLS server for {host}"),
                &format!("`certctl nginx {name}`"),
            )),
            ServedResult::Unknown { why } => out.push(finding(
                "status.SERVED_UNKNOWN",
                Warning,
                format!("cannot tell what nginx serves for {host}: {why}"),
                "nginx -t",
            )),
        }
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    out
}

/// What is known about how renew runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct SchedulerFacts {
    /// certctl's timer unit is installed.
    pub timer_installed: bool,
    /// systemd says whether it is active (None: systemd does not run here).
    pub timer_active: Option<bool>,
    /// A `certctl daemon` runs.
    pub daemon: bool,
    /// Some certificate is renewed by certctl.
    pub renews_any: bool,
}

/// Findings about the scheduler.
pub fn assess_scheduler(s: SchedulerFacts) -> Vec<Finding> {
    if !s.renews_any || s.daemon {
        return Vec::new();
    }
    if !s.timer_installed {
        return vec![finding(
            "status.NO_SCHEDULER",
            Severity::Warning,
            "neither certctl's timer nor a certctl daemon runs renew".into(),
            "`certctl schedule install` (or `certctl daemon --cron …` in a container)",
        )];
    }
    if s.timer_active == Some(false) {
        return vec![finding(
            "status.TIMER_INACTIVE",
            Severity::Warning,
            "certctl-renew.timer is installed but not active".into(),
            "systemctl enable --now certctl-renew.timer",
        )];
    }
    Vec::new()
}

/// The exit code of a list of findings: 2 if any is an error, 1 if any is a warning or
/// unknown, else 0.
pub fn exit_code<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> u8 {
    match findings.into_iter().map(|f| f.severity).max() {
        Some(Severity::Error) => 2,
        Some(Severity::Warning | Severity::Unknown) => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::expiry::Why;

    fn ids(findings: &[Finding]) -> Vec<(&str, Severity)> {
        findings.iter().map(|f| (f.id, f.severity)).collect()
    }

    fn served(result: ServedResult) -> Vec<Served> {
        vec![Served {
            name: "a.test".into(),
            address: Some("127.0.0.1:443".into()),
            result,
        }]
    }

    #[test]
    fn a_healthy_certificate_has_no_findings() {
        let live = served(ServedResult::Live);
        let facts = CertFacts {
            name: "a.test",
            expiry: Some(Expiry::Fine),
            served: &live,
            ..CertFacts::default()
        };
        assert!(assess(&facts).is_empty());
        assert_eq!(exit_code(&assess(&facts)), 0);
    }

    /// Facts, the findings they give (ID, severity), the exit code.
    type Case<'a> = (CertFacts<'a>, Vec<(&'static str, Severity)>, u8);

    #[test]
    fn each_fact_gives_its_finding_and_level() {
        let expiring = Some(Expiry::Expiring { why: Why::Lifetime });
        let old = served(ServedResult::OtherSerial {
            served: "0abc".into(),
        });
        let unknown = served(ServedResult::Unknown {
            why: "nginx -T failed".into(),
        });
        let cases: Vec<Case> = vec![
            (
                CertFacts {
                    expiry: expiring,
                    ..CertFacts::default()
                },
                vec![("status.EXPIRING", Severity::Warning)],
                1,
            ),
            (
                CertFacts {
                    expiry: expiring,
                    last_result: Some(LastResult::Failed),
                    failures: 1,
                    ..CertFacts::default()
                },
                vec![("status.RENEWAL_FAILING", Severity::Error)],
                2,
            ),
            (
                CertFacts {
                    expiry: Some(Expiry::Fine),
                    last_result: Some(LastResult::Failed),
                    failures: 1,
                    ..CertFacts::default()
                },
                vec![("status.RENEWAL_FAILED", Severity::Warning)],
                1,
            ),
            (
                CertFacts {
                    expiry: Some(Expiry::Fine),
                    last_result: Some(LastResult::Failed),
                    failures: FAILURES_NEED_A_PERSON,
                    ..CertFacts::default()
                },
                vec![("status.RENEWAL_FAILED", Severity::Error)],
                2,
            ),
            (
                CertFacts {
                    expiry: Some(Expiry::Fine),
                    last_result: Some(LastResult::Failed),
                    failure_kind: Some(FailureKind::NeedsAttention),
                    failures: 1,
                    ..CertFacts::default()
                },
                vec![("status.RENEWAL_FAILED", Severity::Error)],
                2,
            ),
            (
                CertFacts {
                    expiry: Some(Expiry::Expired),
                    ..CertFacts::default()
                },
                vec![("status.EXPIRED", Severity::Error)],
                2,
            ),
            (
                CertFacts {
                    problem: Some("no live certificate"),
                    ..CertFacts::default()
                },
                vec![("status.UNREADABLE", Severity::Error)],
                2,
            ),
            (
                CertFacts {
                    expiry: Some(Expiry::Fine),
                    served: &old,
                    ..CertFacts::default()
                },
                vec![("status.OLD_SERIAL", Severity::Error)],
                2,
            ),
            (
                CertFacts {
                    expiry: Some(Expiry::Fine),
                    served: &unknown,
                    ..CertFacts::default()
                },
                vec![("status.SERVED_UNKNOWN", Severity::Warning)],
                1,
            ),
            (
                CertFacts {
                    expiry: Some(Expiry::Fine),
                    not_renewed: Some("installed by hand (install-cert)"),
                    ..CertFacts::default()
                },
                vec![("status.NOT_RENEWED", Severity::Info)],
                0,
            ),
            (
                CertFacts {
                    expiry: expiring,
                    not_renewed: Some("installed by hand (install-cert)"),
                    served: &old,
                    ..CertFacts::default()
                },
                vec![
                    ("status.OLD_SERIAL", Severity::Error),
                    ("status.EXPIRING", Severity::Warning),
                ],
                2,
            ),
        ];
        for (facts, want, code) in cases {
            let got = assess(&CertFacts {
                name: "a.test",
                ..facts.clone()
            });
            assert_eq!(ids(&got), want, "{facts:?}");
            assert_eq!(exit_code(&got), code, "{facts:?}");
        }
    }

    #[test]
    fn renew_must_run_somewhere() {
        let none = SchedulerFacts {
            renews_any: true,
            ..SchedulerFacts::default()
        };
        assert_eq!(
            ids(&assess_scheduler(none)),
            vec![("status.NO_SCHEDULER", Severity::Warning)]
        );
        let daemon = SchedulerFacts {
            daemon: true,
            ..none
        };
        assert!(assess_scheduler(daemon).is_empty());
        let inactive = SchedulerFacts {
            timer_installed: true,
            timer_active: Some(false),
            ..none
        };
        assert_eq!(
            ids(&assess_scheduler(inactive)),
            vec![("status.TIMER_INACTIVE", Severity::Warning)]
        );
        let no_systemd = SchedulerFacts {
            timer_installed: true,
            timer_active: None,
            ..none
        };
        assert!(assess_scheduler(no_systemd).is_empty());
        assert!(assess_scheduler(SchedulerFacts::default()).is_empty());
    }
}
