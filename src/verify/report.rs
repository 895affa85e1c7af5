//! `certctl verify`: a monitoring-style report on a certificate, its chain and its key. Pure: the
//! PEM, the key, the trusted roots and the time come in as arguments.
//!
//! Every check yields a finding (ok, warning or critical); the worst decides the exit code a
//! monitoring system sees (0, 1, 2).

use std::collections::BTreeSet;

use rustls_pki_types::CertificateDer;
use serde::Serialize;
use x509_parser::prelude::*;

use super::{CertInfo, VerifyError, cert_info, check_links, check_trusted, parse_pem_chain};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Needs attention soon (expiring).
    Warning,
    /// Broken now (expired, untrusted, wrong key, broken chain).
    Critical,
}

/// One check's result.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// What was checked: parse, order, trust, key, names, hostname, validity.
    pub check: String,
    /// Its status.
    pub status: Status,
    /// One line for a human.
    pub detail: String,
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
    /// Warn when fewer than this many days remain.
    pub warn_days: u32,
}

/// Runs every check. The certificate facts come back when the leaf parses.
pub fn report(inputs: &Inputs<'_>) -> (Vec<Finding>, Option<CertInfo>) {
    let mut out = Vec::new();
    let mut add = |check: &str, status: Status, detail: String| {
        out.push(Finding {
            check: check.to_owned(),
            status,
            detail,
        })
    };
    let chain = match parse_pem_chain(inputs.chain_pem) {
        Ok(chain) => chain,
        Err(e) => {
            add("parse", Status::Critical, e.to_string());
            return (out, None);
        }
    };
    let info = match cert_info(&chain[0]) {
        Ok(info) => info,
        Err(e) => {
            add("parse", Status::Critical, e.to_string());
            return (out, None);
        }
    };

    match check_links(&chain) {
        Ok(()) => add(
            "order",
            Status::Ok,
            format!(
                "{} certificate(s), leaf first, each signed by the next",
                chain.len()
            ),
        ),
        Err(e) if reorders_cleanly(&chain) => add(
            "order",
            Status::Critical,
            format!("the chain is out of order ({e}); put the leaf first, then each issuer"),
        ),
        Err(e) => add("order", Status::Critical, e.to_string()),
    }

    match check_trusted(&chain, inputs.roots, None, inputs.now) {
        Ok(()) => add("trust", Status::Ok, "leads to a trusted root".into()),
        // Expiry is reported once, below.
        Err(VerifyError::NotValidNow { .. }) => {}
        Err(e) => add("trust", Status::Critical, e.to_string()),
    }

    if let Some(spki) = inputs.key_spki {
        match spki == info.spki.as_slice() {
            true => add(
                "key",
                Status::Ok,
                "the private key matches the certificate".into(),
            ),
            false => add(
                "key",
                Status::Critical,
                "the private key does not match the certificate".into(),
            ),
        }
    }

    if let Some(wanted) = inputs.names {
        let wanted: BTreeSet<&str> = wanted.iter().map(String::as_str).collect();
        let found: BTreeSet<&str> = info.names.iter().map(String::as_str).collect();
        match wanted == found {
            true => add("names", Status::Ok, info.names.join(", ")),
            false => add(
                "names",
                Status::Critical,
                format!("the certificate names {found:?}, the record expects {wanted:?}"),
            ),
        }
    }

    if let Some(host) = inputs.hostname {
        match check_trusted(&chain, inputs.roots, Some(host), inputs.now) {
            Err(VerifyError::WrongName(_)) => add(
                "hostname",
                Status::Critical,
                format!("not valid for {host} (it names {})", info.names.join(", ")),
            ),
            _ => add("hostname", Status::Ok, format!("valid for {host}")),
        }
    }

    let days_left = (info.not_after - inputs.now).div_euclid(86_400);
    let until = super::rfc3339(info.not_after);
    if inputs.now < info.not_before {
        add(
            "validity",
            Status::Critical,
            format!("not valid before {}", super::rfc3339(info.not_before)),
        );
    } else if inputs.now > info.not_after {
        add("validity", Status::Critical, format!("expired {until}"));
    } else if days_left < i64::from(inputs.warn_days) {
        add(
            "validity",
            Status::Warning,
            format!("expires {until}, in {days_left} day(s)"),
        );
    } else {
        add(
            "validity",
            Status::Ok,
            format!("valid until {until} ({days_left} days)"),
        );
    }
    (out, Some(info))
}

/// The worst status of a report.
pub fn worst(findings: &[Finding]) -> Status {
    findings
        .iter()
        .map(|f| f.status)
        .max()
        .unwrap_or(Status::Ok)
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
