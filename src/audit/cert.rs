//! Certificate analysis for the audit: trust (with the chain completed from known
//! intermediates), SHA-1 signatures, the host name, the key. Pure: the chain, the roots and the
//! time come in as arguments.

use rustls_pki_types::CertificateDer;
use x509_parser::prelude::*;

use super::grade::KeyKind;
use super::report::CertReport;
use crate::verify::{self, VerifyError};

/// The certificate part of the report for `chain` (leaf first, not empty), checked against
/// `roots` at `now` (Unix seconds); `known` are intermediates certctl knows (from --ca-bundle)
/// that tell an incomplete chain from an untrusted one.
pub fn cert_report(
    chain: &[CertificateDer<'static>],
    roots: &[CertificateDer<'static>],
    known: &[CertificateDer<'static>],
    host: Option<&str>,
    now: i64,
) -> CertReport {
    let info = verify::cert_info(&chain[0]).ok();
    let mut trust = verify::check_trusted(chain, roots, None, now);
    // A chain that only verifies with an intermediate the server did not send (one certctl knows
    // from --ca-bundle) is incomplete: clients without that intermediate fail.
    let mut incomplete = false;
    if matches!(trust, Err(VerifyError::Untrusted(_))) && !known.is_empty() {
        let mut completed = chain.to_vec();
        completed.extend(known.iter().cloned());
        if verify::check_trusted(&completed, roots, None, now).is_ok() {
            trust = Ok(());
            incomplete = true;
        }
    }
    let sha1 = chain
        .iter()
        .take(chain.len().saturating_sub(1).max(1))
        .any(|der| signed_with_sha1(der));
    let name_matches = match host {
        Some(h) => {
            !matches!(
                verify::check_trusted(chain, roots, Some(h), now),
                Err(VerifyError::WrongName(_))
            ) && trust_name_ok(chain, h)
        }
        None => true,
    };
    let problem = match (&trust, sha1) {
        (Err(e), _) => Some(e.to_string()),
        (Ok(()), true) => Some("a certificate in the chain is signed with SHA-1".to_owned()),
        _ => None,
    };
    CertReport {
        names: info.as_ref().map(|i| i.names.clone()).unwrap_or_default(),
        issuer: info.as_ref().map(|i| i.issuer.clone()).unwrap_or_default(),
        not_after: info
            .as_ref()
            .map(|i| verify::rfc3339(i.not_after))
            .unwrap_or_default(),
        key: key_of(&chain[0]).map_or_else(
            || "unknown".to_owned(),
            |(kind, bits)| match kind {
                KeyKind::Rsa => format!("RSA {bits}"),
                KeyKind::Ec => format!("EC {bits}"),
            },
        ),
        chain_length: chain.len(),
        trusted: problem.is_none(),
        problem,
        name_matches,
        incomplete,
    }
}

/// The name check must work for untrusted chains too (T and M are told apart): match the SANs.
fn trust_name_ok(chain: &[CertificateDer<'static>], host: &str) -> bool {
    let Ok(leaf) = webpki::EndEntityCert::try_from(&chain[0]) else {
        return false;
    };
    let Ok(name) = rustls_pki_types::ServerName::try_from(host) else {
        return false;
    };
    leaf.verify_is_valid_for_subject_name(&name).is_ok()
}

/// Whether `der` is self-signed (its subject is its issuer): a root.
pub fn self_signed(der: &[u8]) -> bool {
    X509Certificate::from_der(der).is_ok_and(|(_, c)| c.subject() == c.issuer())
}

fn signed_with_sha1(der: &[u8]) -> bool {
    const SHA1: [&str; 3] = [
        "1.2.840.113549.1.1.5",
        "1.2.840.10045.4.1",
        "1.2.840.10040.4.3",
    ];
    X509Certificate::from_der(der)
        .is_ok_and(|(_, c)| SHA1.contains(&c.signature_algorithm.algorithm.to_id_string().as_str()))
}

/// The leaf's key algorithm and size.
pub fn key_of(der: &[u8]) -> Option<(KeyKind, u32)> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let spki = cert.public_key();
    match spki.parsed().ok()? {
        x509_parser::public_key::PublicKey::RSA(rsa) => Some((KeyKind::Rsa, rsa.key_size() as u32)),
        x509_parser::public_key::PublicKey::EC(ec) => Some((KeyKind::Ec, ec.key_size() as u32)),
        _ => None,
    }
}
