//! Certificate analysis for the audit: trust (with the chain completed from known
//! intermediates or from the AIA caIssuers fetches [`super::aia`] made), SHA-1 signatures, the
//! host name, the key; and the AIA parts that need no network (the URLs, reading what a URL
//! served). Pure: the chain, the roots, the fetched certificates and the time come in as
//! arguments.

use rustls_pki_types::CertificateDer;
use x509_parser::prelude::*;

use super::clients::ServerKey;
use super::findings;
use super::grade::KeyKind;
use super::report::CertReport;
use crate::finding::Finding;
use crate::verify::{self, VerifyError};

/// The certificate part of the report for `chain` (leaf first, not empty), checked against
/// `roots` at `now` (Unix seconds); `known` are intermediates certctl knows (from --ca-bundle)
/// that tell an incomplete chain from an untrusted one. `host` is what was audited: the host
/// name (or --sni), else the IP address, which the certificate must then name in an IP SAN.
/// `aia` is what the AIA caIssuers fetches found (possibly nothing, with why).
pub fn cert_report(
    chain: &[CertificateDer<'static>],
    roots: &[CertificateDer<'static>],
    known: &[CertificateDer<'static>],
    aia: &AiaCompletion,
    host: &str,
    now: i64,
) -> CertReport {
    let info = verify::cert_info(&chain[0]).ok();
    let mut trust = verify::check_trusted(chain, roots, None, now);
    // A chain that only verifies with an intermediate the server did not send (one certctl knows
    // from --ca-bundle, or one its AIA URL serves) is incomplete: clients that do not fetch it
    // fail.
    let mut completed_from = Vec::new();
    if matches!(trust, Err(VerifyError::Untrusted(_))) {
        let mut completed = chain.to_vec();
        completed.extend(known.iter().cloned());
        if !known.is_empty() && verify::check_trusted(&completed, roots, None, now).is_ok() {
            trust = Ok(());
            completed_from.push("--ca-bundle".to_owned());
        } else if !aia.fetched.is_empty() {
            completed.extend(aia.fetched.iter().map(|f| f.cert.clone()));
            if verify::check_trusted(&completed, roots, None, now).is_ok() {
                trust = Ok(());
                completed_from.extend(aia.fetched.iter().map(|f| f.url.clone()));
            }
        }
    }
    if let (Err(VerifyError::Untrusted(why)), Some(failed)) = (&mut trust, &aia.failure) {
        why.push_str(&format!(" (AIA caIssuers: {failed})"));
    }
    let incomplete = !completed_from.is_empty();
    let sha1 = chain
        .iter()
        .take(chain.len().saturating_sub(1).max(1))
        .any(|der| signed_with_sha1(der));
    // Checked apart from trust, so that T and M are told apart.
    let name_matches = name_ok(chain, host);
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
        checked_name: host.to_owned(),
        incomplete,
        chain: chain
            .iter()
            .map(|der| chain_cert(der, "sent"))
            .chain(
                aia.fetched
                    .iter()
                    .filter(|f| completed_from.contains(&f.url))
                    .map(|f| chain_cert(&f.cert, &f.url)),
            )
            .collect(),
        completed_from,
        details: Details::default(),
    }
}

/// What a checker reports about the certificates beyond trust and names.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Details {
    /// The leaf's key usage bits (None: no extension, anything goes).
    pub key_usage: Option<Vec<&'static str>>,
    /// The leaf's extended key usages (None: no extension).
    pub extended_key_usage: Option<Vec<String>>,
    /// SCTs embedded in the leaf (Certificate Transparency).
    pub embedded_scts: usize,
    /// The leaf asks for OCSP Must-Staple (TLS Feature status_request, RFC 7633).
    pub must_staple: bool,
    /// The leaf's validity period, in days (rounded up).
    pub validity_days: u64,
    /// Certificates below the root signed with MD5, MD2 or SHA-1: (subject, algorithm).
    pub weak_signatures: Vec<(String, &'static str)>,
    /// The findings these details bring (`audit.X509_*`), CAA's "not checked" included; the
    /// report lists them in `rating.findings`.
    #[serde(skip)]
    pub findings: Vec<Finding>,
}

/// How the server uses its key, which the key usage must allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyUse {
    /// RSA key exchange suites are accepted (the key decrypts: keyEncipherment).
    pub rsa_kex: bool,
    /// Suites where the key signs are accepted (ECDHE, DHE, TLS 1.3: digitalSignature).
    pub signs: bool,
}

const SECS_PER_DAY: i64 = 86_400;

/// The longest validity the CA/Browser Forum's Baseline Requirements allow for a server
/// certificate issued at `not_before` (Unix seconds), in days: 825 from March 2018, 398 from
/// September 2020, then ballot SC-081's steps (200 from 15 March 2026, 100 from 15 March 2027, 47
/// from 15 March 2029).
pub fn max_validity_days(not_before: i64) -> i64 {
    const STEPS: [(i64, i64); 6] = [
        (1_773_532_800, 200), // 2026-03-15
        (1_805_068_800, 100), // 2027-03-15
        (1_868_227_200, 47),  // 2029-03-15
        (1_598_918_400, 398), // 2020-09-01
        (1_519_862_400, 825), // 2018-03-01
        (i64::MIN, 1185),     // 39 months before that
    ];
    let mut best = (i64::MIN, 1185);
    for (from, days) in STEPS {
        if not_before >= from && from >= best.0 {
            best = (from, days);
        }
    }
    best.1
}

/// The certificate details of `chain` (leaf first; a self-signed last certificate is a root and
/// its own signature does not count): key usage against how the server uses the key, EKU,
/// embedded SCTs, Must-Staple against `stapled` (None: no TLS 1.2 handshake to tell), the
/// validity against the CA/B limit of its issue date, weak signatures below the root, and that
/// CAA is not checked (it needs DNS).
pub fn details(chain: &[CertificateDer<'static>], uses: KeyUse, stapled: Option<bool>) -> Details {
    let mut d = Details::default();
    let mut found = |rule: &findings::Rule, detail: String| {
        d.findings
            .push(rule.finding_with(format!("{}: {detail}", rule.message)));
    };
    let weak = weak_signatures(chain);
    let mut key_usage = None;
    let mut eku = None;
    let (mut scts, mut must_staple, mut days) = (0, false, 0);
    if let Some(Ok((_, leaf))) = chain.first().map(|der| X509Certificate::from_der(der)) {
        if let Ok(Some(ku)) = leaf.key_usage() {
            let ku = ku.value;
            let bits = [
                (ku.digital_signature(), "digitalSignature"),
                (ku.key_encipherment(), "keyEncipherment"),
                (ku.key_agreement(), "keyAgreement"),
                (ku.key_cert_sign(), "keyCertSign"),
            ];
            key_usage = Some(bits.iter().filter(|(on, _)| *on).map(|(_, n)| *n).collect());
            let mut missing = Vec::new();
            if uses.signs && !ku.digital_signature() {
                missing.push("digitalSignature (the key signs the key exchange)");
            }
            if uses.rsa_kex && !ku.key_encipherment() {
                missing.push("keyEncipherment (RSA key exchange decrypts with the key)");
            }
            if !missing.is_empty() {
                found(
                    &findings::X509_KEY_USAGE,
                    format!("it lacks {}", missing.join(" and ")),
                );
            }
        }
        if let Ok(Some(ext)) = leaf.extended_key_usage() {
            let e = ext.value;
            let mut names: Vec<String> = Vec::new();
            for (on, name) in [
                (e.any, "any"),
                (e.server_auth, "serverAuth"),
                (e.client_auth, "clientAuth"),
                (e.code_signing, "codeSigning"),
                (e.email_protection, "emailProtection"),
                (e.time_stamping, "timeStamping"),
                (e.ocsp_signing, "OCSPSigning"),
            ] {
                if on {
                    names.push(name.to_owned());
                }
            }
            names.extend(e.other.iter().map(|o| o.to_id_string()));
            if !e.server_auth && !e.any {
                found(
                    &findings::X509_NO_SERVER_AUTH,
                    format!("it lists {}", names.join(", ")),
                );
            }
            eku = Some(names);
        }
        for ext in leaf.extensions() {
            match ext.oid.to_id_string().as_str() {
                "1.3.6.1.4.1.11129.2.4.2" => scts = sct_count(ext.value),
                // TLS Feature (RFC 7633): a SEQUENCE of INTEGERs; 5 is status_request.
                "1.3.6.1.5.5.7.1.24" => must_staple = ext.value.windows(3).any(|w| w == [2, 1, 5]),
                _ => {}
            }
        }
        let (nb, na) = (
            leaf.validity().not_before.timestamp(),
            leaf.validity().not_after.timestamp(),
        );
        let seconds = na.saturating_sub(nb).saturating_add(1).max(0);
        days = (seconds + SECS_PER_DAY - 1) / SECS_PER_DAY;
        let limit = max_validity_days(nb);
        if days > limit {
            found(
                &findings::X509_VALIDITY_TOO_LONG,
                format!("{days} days, where at most {limit} are allowed for one issued then"),
            );
        }
    }
    if scts == 0 {
        d.findings.push(findings::X509_NO_SCTS.finding());
    }
    if must_staple && stapled == Some(false) {
        d.findings
            .push(findings::X509_MUST_STAPLE_UNSTAPLED.finding());
    }
    if !weak.is_empty() {
        let list: Vec<String> = weak.iter().map(|(s, a)| format!("{s} ({a})")).collect();
        let rule = &findings::X509_WEAK_SIGNATURE;
        d.findings
            .push(rule.finding_with(format!("{}: {}", rule.message, list.join("; "))));
    }
    d.findings.push(findings::X509_CAA_NOT_CHECKED.finding());
    Details {
        key_usage,
        extended_key_usage: eku,
        embedded_scts: scts,
        must_staple,
        validity_days: u64::try_from(days).unwrap_or(0),
        weak_signatures: weak,
        findings: d.findings,
    }
}

/// The name of a weak signature algorithm (MD2, MD5, SHA-1), by OID.
fn weak_signature(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "1.2.840.113549.1.1.2" => "MD2",
        "1.2.840.113549.1.1.4" => "MD5",
        "1.2.840.113549.1.1.5" | "1.2.840.10045.4.1" | "1.2.840.10040.4.3" => "SHA-1",
        _ => return None,
    })
}

/// Whether a certificate below the root of `chain` is signed with MD5 or MD2 (SSL Labs: F).
pub fn md5_signed(chain: &[CertificateDer<'static>]) -> bool {
    weak_signatures(chain).iter().any(|(_, a)| *a != "SHA-1")
}

/// The certificates below the root (a self-signed last certificate) signed with a weak
/// algorithm: (subject, algorithm).
fn weak_signatures(chain: &[CertificateDer<'static>]) -> Vec<(String, &'static str)> {
    let below_root = match chain.last().is_some_and(|c| self_signed(c)) && chain.len() > 1 {
        true => &chain[..chain.len() - 1],
        false => chain,
    };
    below_root
        .iter()
        .filter_map(|der| X509Certificate::from_der(der).ok())
        .filter_map(|(_, c)| {
            let alg = weak_signature(&c.signature_algorithm.algorithm.to_id_string())?;
            Some((c.subject().to_string(), alg))
        })
        .collect()
}

/// How many SCTs the SCT list extension holds: its value is an OCTET STRING around a TLS
/// vector of two-byte-length entries (RFC 6962 section 3.3). A broken list counts what it could.
fn sct_count(value: &[u8]) -> usize {
    let Some((0x04, start, end)) = tlv(value) else {
        return 0;
    };
    let list = &value[start..end];
    let Some(body) = list.get(2..) else { return 0 };
    let mut rest = body;
    let mut n = 0;
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let Some(next) = tail.get(len..) else { break };
        n += 1;
        rest = next;
    }
    n
}

/// Whether the leaf covers `host`: a DNS name against the DNS SANs, an IP address against the
/// IP SANs. Works for untrusted chains too.
fn name_ok(chain: &[CertificateDer<'static>], host: &str) -> bool {
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

/// The leaf's key algorithm and size (RSA-PSS keys count as RSA, Ed25519 as a 256-bit curve).
pub fn key_of(der: &[u8]) -> Option<(KeyKind, u32)> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let spki = cert.public_key();
    let Some(key) = server_key(der) else {
        // A curve TLS clients do not name (brainpool): its point size is near enough.
        return match spki.parsed().ok()? {
            x509_parser::public_key::PublicKey::EC(ec) => Some((KeyKind::Ec, ec.key_size() as u32)),
            _ => None,
        };
    };
    match key {
        ServerKey::Rsa | ServerKey::RsaPss => {
            let (_, rsa) =
                x509_parser::public_key::RSAPublicKey::from_der(&spki.subject_public_key.data)
                    .ok()?;
            Some((KeyKind::Rsa, rsa.key_size() as u32))
        }
        // The curve's size, not the point's (a P-521 point's coordinates take 528 bits).
        ServerKey::Ecdsa(curve) => Some((
            KeyKind::Ec,
            match curve {
                0x0017 => 256,
                0x0018 => 384,
                _ => 521,
            },
        )),
        ServerKey::Ed25519 => Some((KeyKind::Ec, 256)),
    }
}

/// The leaf's RSA public key (modulus, exponent, big-endian), for RSA key exchange; None for
/// any other key.
pub fn rsa_public_key(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let spki = cert.public_key();
    if spki.algorithm.algorithm.to_id_string() != "1.2.840.113549.1.1.1" {
        return None;
    }
    let (_, rsa) =
        x509_parser::public_key::RSAPublicKey::from_der(&spki.subject_public_key.data).ok()?;
    Some((rsa.modulus.to_vec(), rsa.exponent.to_vec()))
}

/// The leaf's key as a client must verify it: RSA, RSA-PSS, ECDSA on which curve, Ed25519.
pub fn server_key(der: &[u8]) -> Option<ServerKey> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let algorithm = &cert.public_key().algorithm;
    Some(match algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.1" => ServerKey::Rsa,
        "1.2.840.113549.1.1.10" => ServerKey::RsaPss,
        "1.3.101.112" => ServerKey::Ed25519,
        "1.2.840.10045.2.1" => {
            let curve = algorithm.parameters.as_ref()?.as_oid().ok()?.to_id_string();
            ServerKey::Ecdsa(match curve.as_str() {
                "1.2.840.10045.3.1.7" => 0x0017,
                "1.3.132.0.34" => 0x0018,
                "1.3.132.0.35" => 0x0019,
                _ => return None,
            })
        }
        _ => return None,
    })
}

/// One certificate an AIA caIssuers URL supplied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The URL it came from.
    pub url: String,
    /// The certificate (the issuer of the one whose URL it was).
    pub cert: CertificateDer<'static>,
}

/// What following AIA caIssuers URLs gave: the certificates, each one's issuer next, and why
/// it stopped short when it did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AiaCompletion {
    /// In the order fetched, each the issuer of the one before (the first: of the top of the
    /// served chain).
    pub fetched: Vec<Fetched>,
    /// Why no (further) issuer was found, when one was looked for.
    pub failure: Option<String>,
    /// Requests made, each one connection (at most [`super::aia::MAX_FETCHES`]).
    pub requests: usize,
}

/// One certificate of the chain, as the reports show it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ChainCert {
    /// Its subject (RFC 4514).
    pub subject: String,
    /// Its issuer.
    pub issuer: String,
    /// Expiry (RFC 3339).
    pub not_after: String,
    /// "sent" by the server, or the AIA caIssuers URL it was fetched from.
    pub from: String,
}

/// `der` as a chain entry that came `from` there.
fn chain_cert(der: &[u8], from: &str) -> ChainCert {
    match X509Certificate::from_der(der) {
        Ok((_, c)) => ChainCert {
            subject: c.subject().to_string(),
            issuer: c.issuer().to_string(),
            not_after: verify::rfc3339(c.validity().not_after.timestamp()),
            from: from.to_owned(),
        },
        Err(_) => ChainCert {
            subject: "(not a readable certificate)".to_owned(),
            from: from.to_owned(),
            ..ChainCert::default()
        },
    }
}

/// The caIssuers URLs (RFC 5280 4.2.2.1) of `der` that certctl will follow: http and https
/// only (no ldap, no file).
pub fn ca_issuers(der: &[u8]) -> Vec<String> {
    const CA_ISSUERS: &str = "1.3.6.1.5.5.7.48.2";
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Vec::new();
    };
    verify::access_locations(&cert, CA_ISSUERS)
        .into_iter()
        .filter(|uri| {
            let lower = uri.to_ascii_lowercase();
            lower.starts_with("http://") || lower.starts_with("https://")
        })
        .collect()
}

/// The certificate in `body` (what a caIssuers URL served: DER, PEM, or a PKCS#7 certs-only
/// bundle) that issued `child`: its subject is `child`'s issuer. None when there is no such
/// certificate (an HTML error page, garbage, someone else's certificate).
pub fn issuer_in(body: &[u8], child: &[u8]) -> Option<CertificateDer<'static>> {
    let (_, child) = X509Certificate::from_der(child).ok()?;
    let candidates: Vec<Vec<u8>> = if body.starts_with(b"-----BEGIN") {
        verify::parse_pem_chain(body)
            .ok()?
            .into_iter()
            .map(|c| c.to_vec())
            .collect()
    } else {
        let mut found = Vec::new();
        certificates_in(body, 0, &mut found);
        found
    };
    candidates
        .into_iter()
        .find(|der| {
            X509Certificate::from_der(der)
                .is_ok_and(|(rest, c)| rest.is_empty() && c.subject() == child.issuer())
        })
        .map(CertificateDer::from)
}

/// Every DER certificate inside `der`: the whole of it when it is one, else whatever the
/// constructed values it is made of hold (a PKCS#7 SignedData keeps them a few levels down).
/// Depth-bounded; a definite-length DER walk, nothing more.
fn certificates_in(der: &[u8], depth: usize, found: &mut Vec<Vec<u8>>) {
    let mut rest = der;
    while let Some((tag, head, end)) = tlv(rest) {
        let (whole, next) = rest.split_at(end);
        let content = &whole[head..];
        rest = next;
        if tag == 0x30 && X509Certificate::from_der(whole).is_ok_and(|(r, _)| r.is_empty()) {
            found.push(whole.to_vec());
        } else if tag & 0x20 != 0 && depth < 6 {
            certificates_in(content, depth + 1, found);
        }
    }
}

/// One DER tag-length-value at the start of `b`: (tag, where its content starts, where it
/// ends). None when it is not one (short, indefinite or absurd length).
fn tlv(b: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, head) = match first {
        0..=0x7f => (usize::from(first), 2),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7f);
            let bytes = b.get(2..2 + n)?;
            (
                bytes
                    .iter()
                    .fold(0usize, |acc, x| (acc << 8) | usize::from(*x)),
                2 + n,
            )
        }
        _ => return None,
    };
    let end = head.checked_add(len).filter(|end| *end <= b.len())?;
    Some((tag, head, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair,
    };

    fn der_len(n: usize) -> Vec<u8> {
        match n {
            0..=127 => vec![n as u8],
            _ => vec![0x82, (n >> 8) as u8, n as u8],
        }
    }

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend(der_len(content.len()));
        out.extend_from_slice(content);
        out
    }

    /// An Authority Information Access extension naming `urls` as caIssuers.
    fn aia(urls: &[&str]) -> CustomExtension {
        let ca_issuers = [0x06, 0x08, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
        let descs: Vec<u8> = urls
            .iter()
            .flat_map(|url| {
                tlv(
                    0x30,
                    &[&ca_issuers[..], &tlv(0x86, url.as_bytes())].concat(),
                )
            })
            .collect();
        CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], tlv(0x30, &descs))
    }

    /// Root → intermediate → leaf (leaf's AIA: `urls`), as DER.
    fn pki(urls: &[&str]) -> [CertificateDer<'static>; 3] {
        let ca = |cn: &str| {
            let mut p = CertificateParams::default();
            p.distinguished_name.push(DnType::CommonName, cn);
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p
        };
        let root_key = KeyPair::generate().unwrap();
        let root = ca("AIA Root").self_signed(&root_key).unwrap();
        let root_issuer = Issuer::new(ca("AIA Root"), root_key);
        let int_key = KeyPair::generate().unwrap();
        let int = ca("AIA Intermediate")
            .signed_by(&int_key, &root_issuer)
            .unwrap();
        let int_issuer = Issuer::new(ca("AIA Intermediate"), int_key);
        let mut leaf = CertificateParams::new(vec!["aia.test".to_owned()]).unwrap();
        leaf.custom_extensions.push(aia(urls));
        let leaf = leaf
            .signed_by(&KeyPair::generate().unwrap(), &int_issuer)
            .unwrap();
        [leaf.der().clone(), int.der().clone(), root.der().clone()]
    }

    #[test]
    fn only_http_and_https_ca_issuers_urls_are_followed() {
        let [leaf, ..] = pki(&[
            "ldap://ldap.example/cn=ca",
            "http://a.example/int.der",
            "file:///etc/passwd",
            "HTTPS://b.example/int.p7c",
        ]);
        assert_eq!(
            ca_issuers(&leaf),
            ["http://a.example/int.der", "HTTPS://b.example/int.p7c"]
        );
        let [_, int, _] = pki(&[]);
        assert!(ca_issuers(&int).is_empty());
    }

    #[test]
    fn the_issuer_is_found_in_der_pem_and_pkcs7() {
        let [leaf, int, root] = pki(&[]);
        assert_eq!(issuer_in(&int, &leaf).as_ref(), Some(&int));
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64_lines(&int)
        );
        assert_eq!(issuer_in(pem.as_bytes(), &leaf).as_ref(), Some(&int));
        // PKCS#7 SignedData, certs-only: ContentInfo { signedData, [0] { version, digests,
        // contentInfo, [0] certificates } }.
        let signed_data_oid = [
            0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02,
        ];
        let data_oid = [
            0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01,
        ];
        let certs = [root.to_vec(), int.to_vec()].concat();
        let signed = tlv(
            0x30,
            &[
                &[0x02, 0x01, 0x01][..],
                &tlv(0x31, &[]),
                &tlv(0x30, &data_oid),
                &tlv(0xA0, &certs),
                &tlv(0x31, &[]),
            ]
            .concat(),
        );
        let p7 = tlv(0x30, &[&signed_data_oid[..], &tlv(0xA0, &signed)].concat());
        assert_eq!(issuer_in(&p7, &leaf).as_ref(), Some(&int));
        // The root is in there too, but it did not issue the leaf.
        assert_eq!(issuer_in(&p7, &int).as_ref(), Some(&root));
    }

    #[test]
    fn a_wrong_certificate_or_garbage_is_no_issuer_never_a_panic() {
        let [leaf, _, root] = pki(&[]);
        assert_eq!(issuer_in(&root, &leaf), None, "not the leaf's issuer");
        assert_eq!(issuer_in(b"<html>404 Not Found</html>", &leaf), None);
        assert_eq!(issuer_in(b"", &leaf), None);
        assert_eq!(issuer_in(b"-----BEGIN CERTIFICATE-----\nxx", &leaf), None);
        // Truncations and absurd lengths of a real certificate.
        let int = pki(&[])[1].to_vec();
        for cut in [1, 2, 3, 4, 100, int.len() - 1] {
            assert_eq!(issuer_in(&int[..cut], &leaf), None);
        }
        let nested: Vec<u8> = std::iter::repeat_n([0x30u8, 0x84, 0xFF, 0xFF, 0xFF, 0xFF], 50)
            .flatten()
            .collect();
        assert_eq!(issuer_in(&nested, &leaf), None);
        let deep = (0..10_000).fold(vec![0x05, 0x00], |inner, _| tlv(0x30, &inner));
        assert_eq!(issuer_in(&deep, &leaf), None, "depth-bounded");
    }

    #[test]
    fn a_chain_completed_from_aia_is_trusted_and_incomplete() {
        let [leaf, int, root] = pki(&["http://127.0.0.1:1/int.der"]);
        let now = crate::clock::unix_now();
        let served = [leaf];
        let roots = [root];
        let none = cert_report(
            &served,
            &roots,
            &[],
            &AiaCompletion::default(),
            "aia.test",
            now,
        );
        assert!(!none.trusted && !none.incomplete, "{none:?}");
        let failed = AiaCompletion {
            fetched: Vec::new(),
            failure: Some("http://127.0.0.1:1/int.der: HTTP 404".into()),
            requests: 1,
        };
        let t = cert_report(&served, &roots, &[], &failed, "aia.test", now);
        assert!(!t.trusted, "{t:?}");
        assert!(t.problem.unwrap().contains("HTTP 404"));
        let fetched = AiaCompletion {
            fetched: vec![Fetched {
                url: "http://127.0.0.1:1/int.der".into(),
                cert: int.clone(),
            }],
            failure: None,
            requests: 1,
        };
        let b = cert_report(&served, &roots, &[], &fetched, "aia.test", now);
        assert!(b.trusted && b.incomplete && b.name_matches, "{b:?}");
        assert_eq!(b.completed_from, ["http://127.0.0.1:1/int.der"]);
        // The chain lists what was sent, then what the AIA URL supplied.
        let froms: Vec<&str> = b.chain.iter().map(|c| c.from.as_str()).collect();
        assert_eq!(froms, ["sent", "http://127.0.0.1:1/int.der"]);
        assert_eq!(b.chain[1].subject, b.chain[0].issuer);
        // --ca-bundle's intermediate is named as the source when it suffices.
        let bundle = cert_report(&served, &roots, &[int], &fetched, "aia.test", now);
        assert_eq!(bundle.completed_from, ["--ca-bundle"]);
    }

    #[test]
    fn the_name_checked_is_the_host_or_the_ip_address() {
        let [leaf, int, root] = pki(&[]);
        let now = crate::clock::unix_now();
        let chain = [leaf, int];
        let none = AiaCompletion::default();
        let by_name = cert_report(
            &chain,
            std::slice::from_ref(&root),
            &[],
            &none,
            "aia.test",
            now,
        );
        assert!(by_name.trusted && by_name.name_matches);
        let by_ip = cert_report(&chain, &[root], &[], &none, "127.0.0.1", now);
        assert!(by_ip.trusted && !by_ip.name_matches, "{by_ip:?}");
        assert_eq!(by_ip.checked_name, "127.0.0.1");
        assert_eq!(by_ip.names, ["aia.test"]);
    }

    #[test]
    fn the_key_is_read_by_curve_not_point_size() {
        for (alg, group, bits) in [
            (&rcgen::PKCS_ECDSA_P256_SHA256, 0x0017, 256),
            (&rcgen::PKCS_ECDSA_P384_SHA384, 0x0018, 384),
            (&rcgen::PKCS_ECDSA_P521_SHA512, 0x0019, 521),
            (&rcgen::PKCS_ED25519, 0, 256),
        ] {
            let key = KeyPair::generate_for(alg).unwrap();
            let cert = CertificateParams::new(vec!["k.test".to_owned()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            let want = match group {
                0 => ServerKey::Ed25519,
                curve => ServerKey::Ecdsa(curve),
            };
            assert_eq!(server_key(cert.der()), Some(want));
            assert_eq!(key_of(cert.der()), Some((KeyKind::Ec, bits)));
        }
        assert_eq!(server_key(b"garbage"), None);
    }

    fn base64_lines(der: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(der)
    }

    /// A leaf for `d.test` with `edit` applied, self-signed.
    fn leaf_with(edit: impl FnOnce(&mut CertificateParams)) -> Vec<CertificateDer<'static>> {
        let mut p = CertificateParams::new(vec!["d.test".to_owned()]).unwrap();
        p.not_before = ::time::macros::datetime!(2026-04-01 0:00 UTC);
        p.not_after = ::time::macros::datetime!(2026-06-01 0:00 UTC);
        edit(&mut p);
        vec![
            p.self_signed(&KeyPair::generate().unwrap())
                .unwrap()
                .der()
                .clone(),
        ]
    }

    fn ids(d: &Details) -> Vec<&'static str> {
        d.findings.iter().map(|f| f.id).collect()
    }

    const ECDHE: KeyUse = KeyUse {
        rsa_kex: false,
        signs: true,
    };

    #[test]
    fn a_plain_short_leaf_says_only_what_is_always_said() {
        let d = details(&leaf_with(|_| {}), ECDHE, Some(true));
        assert_eq!(
            (d.key_usage.clone(), d.extended_key_usage.clone()),
            (None, None)
        );
        assert_eq!(
            (d.embedded_scts, d.must_staple, d.validity_days),
            (0, false, 62)
        );
        assert_eq!(
            ids(&d),
            ["audit.X509_NO_SCTS", "audit.X509_CAA_NOT_CHECKED"]
        );
    }

    #[test]
    fn key_usage_must_allow_how_the_key_is_used() {
        use rcgen::KeyUsagePurpose::{DigitalSignature, KeyEncipherment};
        let with = |usages: Vec<rcgen::KeyUsagePurpose>, uses| {
            details(&leaf_with(|p| p.key_usages = usages), uses, None)
        };
        let d = with(vec![KeyEncipherment], ECDHE);
        assert_eq!(d.key_usage, Some(vec!["keyEncipherment"]));
        assert!(
            d.findings[0].message.contains("lacks digitalSignature"),
            "{:?}",
            d.findings
        );
        let rsa = KeyUse {
            rsa_kex: true,
            signs: true,
        };
        let d = with(vec![DigitalSignature], rsa);
        assert!(d.findings[0].message.contains("lacks keyEncipherment"));
        let d = with(vec![DigitalSignature, KeyEncipherment], rsa);
        assert!(!ids(&d).contains(&"audit.X509_KEY_USAGE"));
    }

    #[test]
    fn an_eku_without_server_auth_is_named() {
        let d = details(
            &leaf_with(|p| {
                p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth]
            }),
            ECDHE,
            None,
        );
        assert_eq!(d.extended_key_usage, Some(vec!["clientAuth".to_owned()]));
        assert!(d.findings[0].message.ends_with("it lists clientAuth"));
        assert_eq!(d.findings[0].id, "audit.X509_NO_SERVER_AUTH");
        let ok = details(
            &leaf_with(|p| {
                p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth]
            }),
            ECDHE,
            None,
        );
        assert!(!ids(&ok).contains(&"audit.X509_NO_SERVER_AUTH"));
    }

    #[test]
    fn embedded_scts_are_counted() {
        // RFC 6962: an OCTET STRING around a u16 list of u16-prefixed SCTs.
        let sct = |n: u8| [&[0, 4][..], &[0, n, n, n]].concat();
        let list = [sct(1), sct(2)].concat();
        let tls = [&(list.len() as u16).to_be_bytes()[..], &list].concat();
        let ext =
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 11129, 2, 4, 2], tlv(0x04, &tls));
        let d = details(&leaf_with(|p| p.custom_extensions.push(ext)), ECDHE, None);
        assert_eq!(d.embedded_scts, 2);
        assert!(!ids(&d).contains(&"audit.X509_NO_SCTS"));
        assert_eq!(
            sct_count(&[0x04, 3, 0, 9, 1]),
            0,
            "a broken list counts nothing whole"
        );
    }

    #[test]
    fn must_staple_without_a_staple_is_named() {
        let staple = || {
            let features = tlv(0x30, &[2, 1, 5]);
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 24], features)
        };
        let leaf = leaf_with(|p| p.custom_extensions.push(staple()));
        let none = details(&leaf, ECDHE, Some(false));
        assert!(none.must_staple);
        assert!(ids(&none).contains(&"audit.X509_MUST_STAPLE_UNSTAPLED"));
        assert!(
            !ids(&details(&leaf, ECDHE, Some(true))).contains(&"audit.X509_MUST_STAPLE_UNSTAPLED")
        );
        assert!(!ids(&details(&leaf, ECDHE, None)).contains(&"audit.X509_MUST_STAPLE_UNSTAPLED"));
    }

    #[test]
    fn validity_is_held_to_the_limit_of_its_issue_date() {
        use ::time::macros::datetime;
        let ts = |t: ::time::OffsetDateTime| t.unix_timestamp();
        assert_eq!(max_validity_days(ts(datetime!(2017-01-01 0:00 UTC))), 1185);
        assert_eq!(max_validity_days(ts(datetime!(2019-01-01 0:00 UTC))), 825);
        assert_eq!(max_validity_days(ts(datetime!(2026-03-14 0:00 UTC))), 398);
        assert_eq!(max_validity_days(ts(datetime!(2026-03-15 0:00 UTC))), 200);
        assert_eq!(max_validity_days(ts(datetime!(2028-01-01 0:00 UTC))), 100);
        assert_eq!(max_validity_days(ts(datetime!(2030-01-01 0:00 UTC))), 47);
        // 200 days to the second is allowed; one second more (BR counts both ends) is not.
        let at_limit = |end| details(&leaf_with(|p| p.not_after = end), ECDHE, None);
        let fits = at_limit(datetime!(2026-10-17 23:59:59 UTC));
        assert_eq!(fits.validity_days, 200);
        assert!(!ids(&fits).contains(&"audit.X509_VALIDITY_TOO_LONG"));
        let over = at_limit(datetime!(2026-10-18 0:00 UTC));
        let finding = over
            .findings
            .iter()
            .find(|f| f.id == "audit.X509_VALIDITY_TOO_LONG");
        assert!(
            finding
                .unwrap()
                .message
                .contains("201 days, where at most 200")
        );
    }

    /// A self-signed RSA leaf signed with `digest`, through OpenSSL (rcgen signs no SHA-1 or MD5).
    fn openssl_leaf(digest: openssl::hash::MessageDigest) -> CertificateDer<'static> {
        use openssl::{pkey::PKey, rsa::Rsa, x509};
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "weak.test").unwrap();
        let name = name.build();
        let mut b = x509::X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        b.sign(&key, digest).unwrap();
        CertificateDer::from(b.build().to_der().unwrap())
    }

    #[test]
    fn weak_signatures_below_the_root_are_named_and_md5_is_told_apart() {
        let sha1 = openssl_leaf(openssl::hash::MessageDigest::sha1());
        let [leaf, _, root] = pki(&[]);
        // A SHA-1 leaf under a root: named; the root's own signature never counts.
        let d = details(&[sha1.clone(), root.clone()], ECDHE, None);
        assert_eq!(d.weak_signatures, [("CN=weak.test".to_owned(), "SHA-1")]);
        assert!(ids(&d).contains(&"audit.X509_WEAK_SIGNATURE"));
        assert!(!md5_signed(&[sha1]));
        assert!(
            details(&[leaf, root], ECDHE, None)
                .weak_signatures
                .is_empty()
        );
        if let Ok(md5) =
            std::panic::catch_unwind(|| openssl_leaf(openssl::hash::MessageDigest::md5()))
        {
            assert!(md5_signed(&[md5]));
        }
    }
}
