//! `certctl audit`: probe a live server (protocols, suites, certificate, HSTS, redirect), grade
//! it, and report. The probes run concurrently under one overall deadline.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rustls_pki_types::CertificateDer;
use serde::Serialize;
use x509_parser::prelude::*;

use crate::Error;
use crate::audit::clients;
use crate::audit::grade::{self, Grade, KeyKind};
use crate::audit::probe::{self, Accepted};
use crate::audit::suites;
use crate::audit::wire::{self, Answer, HelloSpec, Version};
use crate::verify::{self, VerifyError};

/// What to audit.
#[derive(Clone, Debug)]
pub struct AuditRequest {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The host name (SNI, certificate name, Host header); None for a bare IP.
    pub host: Option<String>,
    /// Extra trusted roots (PEM file contents, parsed).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Port of the plain-HTTP redirect to check (None: skip).
    pub http_port: Option<u16>,
    /// Deadline per connection.
    pub timeout: Duration,
    /// At most this many probe connections at once.
    pub concurrency: usize,
}

/// One protocol version's findings.
#[derive(Clone, Debug, Serialize)]
pub struct ProtocolReport {
    /// "TLS 1.2".
    pub protocol: &'static str,
    /// Spoken.
    pub supported: bool,
    /// Accepted suites, in the order the server picked them.
    pub suites: Vec<SuiteReport>,
    /// The server's order decides.
    pub server_order: Option<bool>,
}

/// One accepted suite.
#[derive(Clone, Debug, Serialize)]
pub struct SuiteReport {
    /// IANA value.
    pub id: String,
    /// IANA name.
    pub name: String,
    /// Strength in bits.
    pub bits: u16,
    /// Forward secrecy.
    pub forward_secrecy: bool,
    /// AEAD.
    pub aead: bool,
}

/// The certificate as served.
#[derive(Clone, Debug, Serialize)]
pub struct CertReport {
    /// Names on the leaf.
    pub names: Vec<String>,
    /// Issuer CN.
    pub issuer: String,
    /// Expiry (RFC 3339).
    pub not_after: String,
    /// "EC 256" or "RSA 2048".
    pub key: String,
    /// Certificates sent.
    pub chain_length: usize,
    /// Trusted (chain to a root, valid now, no SHA-1).
    pub trusted: bool,
    /// Why not.
    pub problem: Option<String>,
    /// Covers the host name.
    pub name_matches: bool,
    /// An intermediate is missing from what the server sends (found in --ca-bundle).
    pub incomplete: bool,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    /// The grade, first.
    pub grade: String,
    /// The details of the grade.
    pub rating: Grade,
    /// Where.
    pub target: String,
    /// Per protocol.
    pub protocols: Vec<ProtocolReport>,
    /// The certificate.
    pub certificate: Option<CertReport>,
    /// HSTS max-age on the HTTPS response (None: no header).
    pub hsts_max_age: Option<u64>,
    /// The HSTS header as sent.
    pub hsts_header: Option<String>,
    /// Plain HTTP redirects to HTTPS on the same host.
    pub http_redirect: Option<Result<String, String>>,
    /// SSL 2.0 is spoken (DROWN).
    pub sslv2: bool,
    /// Heartbleed: None when the server does no heartbeats at all.
    pub heartbleed: Option<bool>,
    /// RFC 5746 secure renegotiation.
    pub secure_renegotiation: bool,
    /// The DH prime of the DHE suites, in bits (None: no DHE suite).
    pub dh_bits: Option<u32>,
    /// TLS compression accepted (CRIME).
    pub compression: bool,
    /// Named groups accepted for key exchange (TLS 1.3, else TLS 1.2 ECDHE).
    pub groups: Vec<String>,
    /// TLS_FALLBACK_SCSV honoured (a downgraded hello is refused); None when only one version.
    pub fallback_scsv: Option<bool>,
    /// A second connection resumes the first one's session (IDs or tickets).
    pub resumption: Option<bool>,
    /// ALPN h2 offered.
    pub h2: bool,
    /// An OCSP response is stapled to the TLS 1.2 handshake (None: no TLS 1.2 to ask over).
    pub ocsp_stapling: Option<bool>,
    /// What each reference client would negotiate.
    pub clients: Vec<clients::Handshake>,
    /// Connections made.
    pub connections: usize,
    /// How long it took, ms.
    pub elapsed_ms: u128,
}

/// Runs the audit, at most `req.concurrency` probe connections at a time.
pub async fn audit(req: &AuditRequest) -> Result<AuditReport, Error> {
    probe::with_concurrency(req.concurrency, run(req)).await
}

async fn run(req: &AuditRequest) -> Result<AuditReport, Error> {
    let started = Instant::now();
    let sni = req.host.as_deref();
    let (addr, timeout) = (req.addr, req.timeout);

    let versions = Version::ALL
        .map(|v| async move { (v, probe::accepted_suites(addr, sni, v, timeout).await) });
    let hello = async {
        let suites: Vec<u16> = probe::BROAD_SUITES.to_vec();
        let spec = HelloSpec {
            version: Version::Tls12,
            suites: &suites,
            sni,
            groups: &wire::GROUPS,
            random: [0x5A; 32],
            alpn: &["h2", "http/1.1"],
            // A server that picks DEFLATE is open to CRIME.
            compression: true,
        };
        probe::ask(addr, &wire::client_hello(&spec), true, timeout).await
    };
    let host_for_chain = sni
        .map(str::to_owned)
        .unwrap_or_else(|| addr.ip().to_string());
    let chain = tokio::task::spawn_blocking(move || {
        super::served::served_chain(addr, &host_for_chain, timeout)
    });
    let (accepted, hello, chain, hsts, redirect, sslv2, heartbleed) = tokio::join!(
        futures_util::future::join_all(versions),
        hello,
        chain,
        hsts(addr, sni, timeout),
        redirect(req, timeout),
        probe::speaks_sslv2(addr, timeout),
        probe::heartbleed(addr, sni, Version::Tls12, timeout),
    );

    // Nothing answered TLS at all: say why, as an error rather than an F.
    let answered = accepted
        .iter()
        .any(|(_, r)| r.as_ref().is_ok_and(|a| !a.suites.is_empty()));
    if !answered {
        let why = accepted
            .iter()
            .find_map(|(_, r)| r.as_ref().err().map(ToString::to_string))
            .unwrap_or_else(|| "it accepted no cipher suite in any protocol".into());
        return Err(Error::Audit(format!("{}: {why}", req.addr)));
    }

    let mut connections = 6;
    let mut protocols = Vec::new();
    let mut grade_suites = Vec::new();
    for (version, result) in &accepted {
        let a = result.as_ref().ok().cloned().unwrap_or(Accepted {
            version: *version,
            suites: Vec::new(),
            server_order: None,
            connections: 1,
        });
        connections += a.connections;
        grade_suites.extend(a.suites.iter().map(|s| (*version, *s)));
        protocols.push(ProtocolReport {
            protocol: version.name(),
            supported: !a.suites.is_empty(),
            suites: a
                .suites
                .iter()
                .map(|id| {
                    let s = suites::by_id(*id);
                    SuiteReport {
                        id: format!("{id:#06x}"),
                        name: s.map_or_else(|| "unknown".to_owned(), |s| s.name.to_owned()),
                        bits: s.map_or(0, |s| s.bits),
                        forward_secrecy: s.is_some_and(|s| s.forward_secrecy),
                        aead: s.is_some_and(|s| s.aead),
                    }
                })
                .collect(),
            server_order: a.server_order,
        });
    }
    let supported: Vec<Version> = accepted
        .iter()
        .filter(|(_, r)| r.as_ref().is_ok_and(|a| !a.suites.is_empty()))
        .map(|(v, _)| *v)
        .collect();
    let ocsp_stapling = match &hello {
        Ok(Answer::Hello(h)) if h.version <= Version::Tls12 => Some(h.ocsp_stapled),
        _ => None,
    };
    let (secure_renegotiation, h2, compression, wire_chain) = match hello {
        Ok(Answer::Hello(h)) => (
            h.secure_renegotiation,
            h.alpn.as_deref() == Some("h2"),
            h.compression != 0,
            h.certificates,
        ),
        // A TLS 1.3-only server: renegotiation does not exist there.
        _ => (
            supported.iter().all(|v| *v == Version::Tls13),
            false,
            false,
            Vec::new(),
        ),
    };
    let dh_bits = dh_size(addr, sni, &accepted, timeout).await;
    if dh_bits.is_some() {
        connections += 1;
    }
    let group_version = [Version::Tls13, Version::Tls12]
        .into_iter()
        .find(|v| supported.contains(v));
    let groups = match group_version {
        Some(v) => probe::groups(addr, sni, v, timeout).await,
        None => Vec::new(),
    };
    connections += match group_version {
        Some(Version::Tls13) => wire::GROUPS.len(),
        Some(_) => 5,
        None => 0,
    };
    let fallback_scsv = fallback_scsv(addr, sni, &supported, timeout).await;
    connections += usize::from(fallback_scsv.is_some());
    let resume_host = sni
        .map(str::to_owned)
        .unwrap_or_else(|| addr.ip().to_string());
    let resumption =
        tokio::task::spawn_blocking(move || super::served::resumes(addr, &resume_host, timeout))
            .await
            .ok()
            .and_then(Result::ok);
    connections += 2;
    let chain: Vec<CertificateDer<'static>> = match chain {
        Ok(Ok(chain)) if !chain.is_empty() => chain,
        _ => wire_chain.into_iter().map(CertificateDer::from).collect(),
    };
    // --ca-bundle: self-signed certificates are roots; the others are intermediates certctl knows,
    // which tell an incomplete chain (B) from an untrusted one (T).
    let (extra_roots, known): (Vec<_>, Vec<_>) = req
        .extra_roots
        .iter()
        .cloned()
        .partition(|der| self_signed(der));
    let mut roots = crate::trust::system_roots();
    roots.extend(extra_roots);
    let certificate = (!chain.is_empty()).then(|| cert_report(&chain, &roots, &known, sni));
    let (hsts_header, hsts_max_age) = hsts.unwrap_or((None, None));

    let inputs = grade::Inputs {
        protocols: supported,
        sslv2: matches!(sslv2, Ok(true)),
        suites: grade_suites,
        key: chain.first().and_then(|leaf| key_of(leaf)),
        dh_bits,
        trusted: certificate.as_ref().is_some_and(|c| c.trusted),
        untrusted_because: certificate.as_ref().and_then(|c| c.problem.clone()),
        name_matches: certificate.as_ref().is_some_and(|c| c.name_matches),
        chain_incomplete: certificate.as_ref().is_some_and(|c| c.incomplete),
        md5: false,
        compression,
        secure_renegotiation,
        hsts_max_age,
        heartbleed: matches!(heartbleed, Ok(Some(true))),
        server_ordered: accepted
            .iter()
            .filter(|(_, r)| r.as_ref().is_ok_and(|a| a.server_order == Some(true)))
            .map(|(v, _)| *v)
            .collect(),
    };
    let clients = clients::simulate(&inputs.suites, &inputs.server_ordered);
    let rating = grade::grade_with(&inputs, &clients);
    Ok(AuditReport {
        grade: rating.grade.clone(),
        rating,
        target: match sni {
            Some(host) => format!("{host} ({})", req.addr),
            None => req.addr.to_string(),
        },
        protocols,
        certificate,
        hsts_max_age,
        hsts_header,
        http_redirect: redirect,
        sslv2: matches!(sslv2, Ok(true)),
        heartbleed: heartbleed.ok().flatten(),
        secure_renegotiation,
        dh_bits,
        compression,
        groups: groups.iter().map(|g| wire::group_name(*g)).collect(),
        fallback_scsv,
        resumption,
        h2,
        ocsp_stapling,
        clients,
        connections,
        elapsed_ms: started.elapsed().as_millis(),
    })
}

/// TLS_FALLBACK_SCSV (RFC 7507): a hello for a lower version carrying the SCSV must be refused
/// with inappropriate_fallback by a server that speaks a higher one.
async fn fallback_scsv(
    addr: SocketAddr,
    sni: Option<&str>,
    supported: &[Version],
    timeout: Duration,
) -> Option<bool> {
    let lower = supported.iter().rev().nth(1).copied()?;
    let mut offer: Vec<u16> = match lower {
        Version::Tls13 => return None,
        _ => probe::BROAD_SUITES.to_vec(),
    };
    offer.push(0x5600);
    let hello = probe::plain_hello(lower, &offer, sni);
    match probe::ask(addr, &hello, false, timeout).await {
        Ok(Answer::Alert {
            description: 86, ..
        }) => Some(true),
        Ok(Answer::Hello(_)) => Some(false),
        _ => None,
    }
}

/// The DH group size, when DHE suites are accepted: one handshake offering only those, read up
/// to the ServerKeyExchange.
async fn dh_size(
    addr: SocketAddr,
    sni: Option<&str>,
    accepted: &[(Version, Result<Accepted, probe::ProbeError>)],
    timeout: Duration,
) -> Option<u32> {
    let (version, dhe) = accepted.iter().rev().find_map(|(v, r)| {
        let dhe: Vec<u16> = r
            .as_ref()
            .ok()?
            .suites
            .iter()
            .copied()
            .filter(|id| suites::by_id(*id).is_some_and(|s| s.dhe))
            .collect();
        (!dhe.is_empty()).then_some((*v, dhe))
    })?;
    let hello = probe::plain_hello(version, &dhe, sni);
    match probe::ask(addr, &hello, true, timeout).await {
        Ok(Answer::Hello(h)) => h.dh_bits,
        _ => None,
    }
}

fn cert_report(
    chain: &[CertificateDer<'static>],
    roots: &[CertificateDer<'static>],
    known: &[CertificateDer<'static>],
    host: Option<&str>,
) -> CertReport {
    let info = verify::cert_info(&chain[0]).ok();
    let now = super::unix_now();
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

fn self_signed(der: &[u8]) -> bool {
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

fn key_of(der: &[u8]) -> Option<(KeyKind, u32)> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let spki = cert.public_key();
    match spki.parsed().ok()? {
        x509_parser::public_key::PublicKey::RSA(rsa) => Some((KeyKind::Rsa, rsa.key_size() as u32)),
        x509_parser::public_key::PublicKey::EC(ec) => Some((KeyKind::Ec, ec.key_size() as u32)),
        _ => None,
    }
}

/// The HSTS header on an HTTPS GET / (certificate not checked: this is about the header).
async fn hsts(
    addr: SocketAddr,
    host: Option<&str>,
    timeout: Duration,
) -> Result<(Option<String>, Option<u64>), String> {
    let host = host
        .map(str::to_owned)
        .unwrap_or_else(|| addr.ip().to_string());
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, addr)
        .build()
        .map_err(|e| e.to_string())?;
    let url = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("https://[{ip}]:{}/", addr.port()),
        _ => format!("https://{host}:{}/", addr.port()),
    };
    let rsp = client.get(url).send().await.map_err(|e| e.to_string())?;
    let header = rsp
        .headers()
        .get("strict-transport-security")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let max_age = header
        .as_deref()
        .and_then(|h| crate::hsts::parse_hsts(h).max_age);
    Ok((header, max_age))
}

/// Plain HTTP on `http_port` should redirect to https on the same host.
async fn redirect(req: &AuditRequest, timeout: Duration) -> Option<Result<String, String>> {
    let port = req.http_port?;
    let host = req
        .host
        .clone()
        .unwrap_or_else(|| req.addr.ip().to_string());
    let target = SocketAddr::new(req.addr.ip(), port);
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, target)
        .build()
        .ok()?;
    let rsp = match client.get(format!("http://{host}:{port}/")).send().await {
        Ok(rsp) => rsp,
        Err(e) => return Some(Err(format!("port {port}: {e}"))),
    };
    let location = rsp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let ok = rsp.status().is_redirection() && location.starts_with(&format!("https://{host}"));
    Some(match ok {
        true => Ok(format!("{} to {location}", rsp.status().as_u16())),
        false => Err(format!(
            "port {port} answers {} {}",
            rsp.status().as_u16(),
            if location.is_empty() {
                "without a redirect to https".to_owned()
            } else {
                format!("to {location}, not https on the same host")
            }
        )),
    })
}
