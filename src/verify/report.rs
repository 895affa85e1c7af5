//! `certctl verify`: a monitoring-style report on a certificate, its chain and its key. Pure: the
//! PEM, the key, the trusted roots and the time come in as arguments.
//!
//! Every check yields a finding (ok, warning or critical); the worst decides the exit code a
//! monitoring system sees (0, 1, 2).

use std::collections::BTreeSet;

use rustls_pki_types::CertificateDer;
use serde::Serialize;

use crate::finding::Severity;
use x509_parser::prelude::*;

use super::expiry::Expiry;
use super::{CertInfo, VerifyError, cert_info, check_links, check_trusted, parse_pem_chain};

/// One check's result: the crate-wide [`Finding`](crate::finding::Finding) (ID, severity,
/// message, fix) and the check's name. JSON keeps the monitoring fields this report always had
/// (`check`, `status`: ok/warning/critical, `detail`) beside the common ones.
#[derive(Clone, Debug)]
pub struct Finding {
    /// What was checked: parse, order, trust, key, names, hostname, validity.
    pub check: String,
    /// ID, severity (ok, warning or error), message and fix.
    pub finding: crate::finding::Finding,
}

impl Finding {
    /// How bad.
    pub fn severity(&self) -> Severity {
        self.finding.severity
    }

    /// One line for a human.
    pub fn detail(&self) -> &str {
        &self.finding.message
    }
}

impl Serialize for Finding {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let f = &self.finding;
        let mut out = serializer.serialize_struct("Finding", 7)?;
        out.serialize_field("check", &self.check)?;
        out.serialize_field("status", monitoring_word(f.severity))?;
        out.serialize_field("detail", &f.message)?;
        out.serialize_field("id", f.id)?;
        out.serialize_field("severity", &f.severity)?;
        out.serialize_field("message", &f.message)?;
        out.serialize_field("fix", &f.fix)?;
        out.end()
    }
}

/// The word monitoring systems know (Nagios style): ok, warning, critical.
pub fn monitoring_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Ok | Severity::Info => "ok",
        Severity::Unknown | Severity::Warning => "warning",
        Severity::Error => "critical",
    }
}

/// The stable ID and the fix of each check's failure.
fn id_and_fix(check: &str) -> (&'static str, &'static str) {
    match check {
        "parse" => ("verify.PARSE", "give the certificate (and chain) as PEM"),
        "order" => (
            "verify.ORDER",
            "put the leaf first, then each issuer in turn",
        ),
        "trust" => (
            "verify.TRUST",
            "include the intermediates, from a CA clients trust (--ca-bundle for a private one)",
        ),
        "key" => (
            "verify.KEY",
            "use the private key this certificate was issued for",
        ),
        "names" => (
            "verify.NAMES",
            "issue again so the certificate carries exactly the recorded names",
        ),
        "hostname" => (
            "verify.HOSTNAME",
            "issue a certificate that names this host",
        ),
        _ => ("verify.VALIDITY", "renew it: certctl renew --force NAME"),
    }
}

/// What to check.
pub struct Inputs<'a> {
    /// The certificate, optionally followed by its chain (PEM).
    pub chain_pem: &'a [u8],
    /// The private key's SubjectPublicKeyInfo, when a key was given.
    pub key_spki: Option<&'a [u8]>,
    /// Trusted roots.
    pub roots: &'a [CertificateDer<'a>],
    /// The names the certificate must carry exactly (a managed certificate's record).
    pub names: Option<&'a [String]>,
    /// A host name the certificate must be valid for.
    pub hostname: Option<&'a str>,
    /// Now, Unix seconds.
    pub now: i64,
    /// Warn when fewer than this many days remain; None: relative to the lifetime and the ARI
    /// window (see [`super::expiry`]).
    pub warn_days: Option<u32>,
    /// The end of the CA's ARI window for this certificate, when known.
    pub ari_end: Option<i64>,
}

/// Runs every check. The certificate facts come back when the leaf parses.
pub fn report(inputs: &Inputs<'_>) -> (Vec<Finding>, Option<CertInfo>) {
    let mut out = Vec::new();
    let mut add = |check: &'static str, severity: Severity, message: String| {
        let (id, fix) = id_and_fix(check);
        out.push(Finding {
            check: check.to_owned(),
            finding: crate::finding::Finding {
                id,
                severity,
                message,
                fix: match severity {
                    Severity::Ok => String::new(),
                    _ => fix.to_owned(),
                },
            },
        })
    };
    let chain = match parse_pem_chain(inputs.chain_pem) {
        Ok(chain) => chain,
        Err(e) => {
            add("parse", Severity::Error, e.to_string());
            return (out, None);
        }
    };
    let info = match cert_info(&chain[0]) {
        Ok(info) => info,
        Err(e) => {
            add("parse", Severity::Error, e.to_string());
            return (out, None);
        }
    };

    match check_links(&chain) {
        Ok(()) => add(
            "order",
            Severity::Ok,
            format!(
                "{} certificate(s), leaf first, each signed by the next",
                chain.len()
            ),
        ),
        Err(e) if reorders_cleanly(&chain) => add(
            "order",
            Severity::Error,
            format!("the chain is out of order ({e}); put the leaf first, then each issuer"),
        ),
        Err(e) => add("order", Severity::Error, e.to_string()),
    }

    match check_trusted(&chain, inputs.roots, None, inputs.now) {
        Ok(()) => add("trust", Severity::Ok, "leads to a trusted root".into()),
        // Expiry is reported once, below.
        Err(VerifyError::NotValidNow { .. }) => {}
        Err(e) => add("trust", Severity::Error, e.to_string()),
    }

    if let Some(spki) = inputs.key_spki {
        match spki == info.spki.as_slice() {
            true => add(
                "key",
                Severity::Ok,
                "the private key matches the certificate".into(),
            ),
            false => add(
                "key",
                Severity::Error,
                "the private key does not match the certificate".into(),
            ),
        }
    }

    if let Some(wanted) = inputs.names {
        let wanted: BTreeSet<&str> = wanted.iter().map(String::as_str).collect();
        let found: BTreeSet<&str> = info.names.iter().map(String::as_str).collect();
        match wanted == found {
            true => add("names", Severity::Ok, info.names.join(", ")),
            false => add(
                "names",
                Severity::Error,
                format!("the certificate names {found:?}, the record expects {wanted:?}"),
            ),
        }
    }

    if let Some(host) = inputs.hostname {
        match check_trusted(&chain, inputs.roots, Some(host), inputs.now) {
            Err(VerifyError::WrongName(_)) => add(
                "hostname",
                Severity::Error,
                format!("not valid for {host} (it names {})", info.names.join(", ")),
            ),
            _ => add("hostname", Severity::Ok, format!("valid for {host}")),
        }
    }

    let days_left = (info.not_after - inputs.now).div_euclid(86_400);
    let until = super::rfc3339(info.not_after);
    let expiry = super::expiry::Inputs {
        not_before: info.not_before,
        not_after: info.not_after,
        ari_end: inputs.ari_end,
        warn_days: inputs.warn_days,
    };
    match super::expiry::assess(&expiry, inputs.now) {
        Expiry::NotYetValid => add(
            "validity",
            Severity::Error,
            format!("not valid before {}", super::rfc3339(info.not_before)),
        ),
        Expiry::Expired => add("validity", Severity::Error, format!("expired {until}")),
        Expiry::Expiring { why } => add(
            "validity",
            Severity::Warning,
            format!("expires {until}, in {days_left} day(s) ({why})"),
        ),
        Expiry::Fine => add(
            "validity",
            Severity::Ok,
            format!("valid until {until} ({days_left} days)"),
        ),
    }
    (out, Some(info))
}

/// The worst severity of a report.
pub fn worst(findings: &[Finding]) -> Severity {
    findings
        .iter()
        .map(Finding::severity)
        .max()
        .unwrap_or(Severity::Ok)
}

/// True when the same certificates link up in some other order (a mis-ordered bundle, the
/// classic outage), as opposed to a chain that is broken whatever the order.
fn reorders_cleanly(chain: &[CertificateDer<'_>]) -> bool {
    let parsed: Vec<X509Certificate<'_>> = match chain
        .iter()
        .map(|der| X509Certificate::from_der(der).map(|(_, c)| c))
        .collect()
    {
        Ok(parsed) => parsed,
        Err(_) => return false,
    };
    // The leaf is the certificate that issued none of the others.
    let Some(leaf) = (0..parsed.len()).find(|&i| {
        parsed
            .iter()
            .enumerate()
            .all(|(j, c)| j == i || c.issuer() != parsed[i].subject())
    }) else {
        return false;
    };
    let mut order = vec![leaf];
    while order.len() < parsed.len() {
        let last = &parsed[*order.last().unwrap_or(&leaf)];
        match (0..parsed.len())
            .find(|j| !order.contains(j) && parsed[*j].subject() == last.issuer())
        {
            Some(next) => order.push(next),
            None => return false,
        }
    }
    let reordered: Vec<CertificateDer<'_>> = order.iter().map(|&i| chain[i].clone()).collect();
    reordered != chain && check_links(&reordered).is_ok()
}
