//! `certctl audit`: probe a live server (protocols, suites, certificate, HSTS, redirect), grade
//! it, and build the report. The probes run concurrently, each with its own deadline, and all of
//! them (the rustls handshakes and HTTP fetches too) end by the audit's overall deadline
//! ([`AuditRequest::deadline`]); this is the audit's I/O shell, sequencing [`super::probe`], [`super::served`], [`super::http`] and the
//! pure [`super::cert`] and [`super::grade`].

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use rustls_pki_types::CertificateDer;

use super::AuditError;
use super::cert::{self, cert_report, key_of, self_signed, server_key};
use super::grade::{Question, Unknown};
use super::oracle::Verdict;
use super::probe::{self, Accepted};
use super::report::{AuditReport, ProtocolReport, SuiteReport};
use super::wire::{self, AlertDescription, Answer, CipherSuite, HelloSpec, Version};
use super::{aia, clients, grade, http, oracle_probe, served, suites};

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
    /// Deadline per connection (connect, hello and every read), counted once it has a slot.
    pub timeout: Duration,
    /// At most this many probe connections at once.
    pub concurrency: usize,
    /// The whole audit ends within this, against any server (`--deadline`).
    pub deadline: Duration,
}

/// Runs the audit, at most `req.concurrency` probe connections at a time, all of it within
/// `req.deadline`.
pub async fn audit(req: &AuditRequest) -> Result<AuditReport, AuditError> {
    let until = Instant::now() + req.deadline;
    // Boxed: the scan's future is large, and a caller's thread (a test's 2 MiB) may be small.
    let scan = Box::pin(run(req, until));
    probe::with_budget(req.concurrency, Some(until), scan).await
}

/// Audits every request at once within one connection budget (`concurrency` probe connections
/// for all of them together) and one overall `deadline`; the results in the order asked.
/// Each finished target is told to `tally`.
pub async fn audit_many(
    reqs: &[AuditRequest],
    concurrency: usize,
    deadline: Duration,
    tally: &dyn crate::progress::Tally,
) -> Vec<Result<AuditReport, AuditError>> {
    let until = Instant::now() + deadline;
    tally.total(reqs.len() as u64);
    let all = futures_util::future::join_all(reqs.iter().map(|req| {
        Box::pin(async move {
            let report = run(req, until).await;
            let name = req.host.clone().unwrap_or_else(|| req.addr.to_string());
            tally.done(&name);
            report
        })
    }));
    probe::with_budget(concurrency, Some(until), all).await
}

async fn run(req: &AuditRequest, until: Instant) -> Result<AuditReport, AuditError> {
    let started = Instant::now();
    let sni = req.host.as_deref();
    let (addr, timeout) = (req.addr, req.timeout);
    // What a blocking handshake or an HTTP fetch started now may take: its own timeout, or
    // what is left of the audit's deadline when that is less.
    let bounded = || timeout.min(until.saturating_duration_since(Instant::now()));

    let versions = Version::ALL
        .map(|v| async move { (v, probe::accepted_suites(addr, sni, v, timeout).await) });
    let hello = async {
        let suites: Vec<CipherSuite> = probe::BROAD_SUITES.to_vec();
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
    // The system's roots are files: read them on the blocking pool while the probes run.
    let system_roots = tokio::task::spawn_blocking(crate::trust::system_roots);
    // The rustls handshakes and HTTP fetches hold a connection slot too, and their time counts
    // from when they have it.
    let chain = probe::holding_slot(timeout, || {
        let chain_until = std::time::Instant::now() + bounded();
        tokio::task::spawn_blocking(move || {
            served::served_chain_until(addr, &host_for_chain, chain_until)
        })
    });
    let chain = async {
        chain
            .await
            .map_err(|e| e.to_string())
            .and_then(|joined| joined.map_err(|e| e.to_string()))
    };
    let hsts = async {
        probe::holding_slot(timeout, || http::hsts(addr, sni, bounded()))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
    };
    // Resumption needs nothing the other probes find: its two handshakes run in the first wave.
    let resumption = async {
        let resume_host = sni
            .map(str::to_owned)
            .unwrap_or_else(|| addr.ip().to_string());
        probe::holding_slot(timeout, || {
            let resume_until = std::time::Instant::now() + bounded();
            tokio::task::spawn_blocking(move || served::resumes(addr, &resume_host, resume_until))
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|joined| joined.map_err(|e| e.to_string()))
        .and_then(|r| r)
    };
    let redirect = async {
        match req.http_port {
            None => None,
            Some(port) => probe::holding_slot(timeout, || {
                http::redirect(addr, sni, req.http_port, bounded())
            })
            .await
            .unwrap_or_else(|e| Some(http::Redirect::Failed(format!("port {port}: {e}")))),
        }
    };
    let (accepted, hello, chain, hsts, redirect, resumption, sslv2, heartbleed) = tokio::join!(
        futures_util::future::join_all(versions),
        hello,
        chain,
        hsts,
        redirect,
        resumption,
        probe::speaks_sslv2(addr, timeout),
        probe::heartbleed(addr, sni, Version::Tls12, timeout),
    );

    // Nothing answered TLS at all: say why, as an error rather than an F.
    let answered = accepted
        .iter()
        .any(|(_, r)| r.as_ref().is_ok_and(|a| !a.suites.is_empty()));
    if !answered {
        let addr = req.addr;
        let first_failure = accepted.into_iter().find_map(|(_, r)| r.err());
        return Err(match first_failure {
            Some(probe) => AuditError::NoAnswer { addr, probe },
            None => AuditError::NoSuites { addr },
        });
    }

    // What could not be decided: graded as its worst answer, never as a "no".
    let mut unknowns: Vec<Unknown> = Vec::new();
    let mut unknown = |question: Question, why: String| unknowns.push(Unknown { question, why });
    let mut connections = 6;
    let mut protocols = Vec::new();
    let mut grade_suites = Vec::new();
    for (version, result) in &accepted {
        match result {
            Err(e) => unknown(Question::Protocol(*version), e.to_string()),
            Ok(a) => {
                if let Some(why) = &a.incomplete {
                    unknown(Question::Suites(*version), why.clone());
                }
                if let Some(why) = &a.order_unknown {
                    unknown(Question::Order(*version), why.clone());
                }
            }
        }
        let a = result.as_ref().ok().cloned().unwrap_or(Accepted {
            version: *version,
            suites: Vec::new(),
            server_order: None,
            connections: 1,
            incomplete: None,
            order_unknown: None,
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
                        id: format!("{:#06x}", id.0),
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
    // A close is an answer only from a TLS 1.3-only server; one that speaks TLS 1.2 or older
    // and hangs up on this hello (DEFLATE, ALPN) leaves compression and renegotiation untested.
    if let Err(e) = &hello
        && (!matches!(e, probe::ProbeError::Closed)
            || supported.iter().any(|v| *v <= Version::Tls12))
    {
        unknown(Question::Handshake, e.to_string());
    }
    if let Err(e) = &sslv2 {
        unknown(Question::Ssl2, e.to_string());
    }
    if let Err(e) = &heartbleed {
        unknown(Question::Heartbleed, e.to_string());
    }
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
    let chain: Vec<CertificateDer<'static>> = match chain {
        Ok(Ok(chain)) if !chain.is_empty() => chain,
        failed => {
            let why = match failed {
                Ok(Ok(_)) => "the server sent no certificate".to_owned(),
                Ok(Err(e)) => e,
                Err(e) => e.to_string(),
            };
            let instead = match wire_chain.is_empty() {
                true => "",
                false => " (the chain sent in the clear was checked instead)",
            };
            unknown(Question::Chain, format!("{why}{instead}"));
            wire_chain.into_iter().map(CertificateDer::from).collect()
        }
    };
    // --ca-bundle: self-signed certificates are roots; the others are intermediates certctl knows,
    // which tell an incomplete chain (B) from an untrusted one (T).
    let (extra_roots, known): (Vec<_>, Vec<_>) = req
        .extra_roots
        .iter()
        .cloned()
        .partition(|der| self_signed(der));
    let now = crate::clock::unix_now();

    // The remaining probes at once, while the system's roots finish loading (awaited only to
    // judge the chain) and any AIA fetch for a short chain runs.
    let judged = async {
        let mut roots = system_roots.await.unwrap_or_default();
        roots.extend(extra_roots);
        let aia = aia::complete(&chain, &roots, &known, now, timeout, until).await;
        (roots, aia)
    };
    let group_version = [Version::Tls13, Version::Tls12]
        .into_iter()
        .find(|v| supported.contains(v));
    let groups = async {
        match group_version {
            Some(v) => probe::groups(addr, sni, v, timeout).await,
            None => (Vec::new(), None),
        }
    };
    let ((roots, aia), dh, groups, fallback, robot, padding_oracle) = tokio::join!(
        judged,
        dh_size(addr, sni, &accepted, timeout),
        groups,
        fallback_scsv(addr, sni, &supported, timeout),
        oracle_probe::robot(addr, sni, &accepted, timeout),
        oracle_probe::cbc_padding(addr, sni, &accepted, timeout),
    );
    connections += aia.requests;
    for (outcome, question) in [
        (&robot, Question::Robot),
        (&padding_oracle, Question::PaddingOracle),
    ] {
        connections += outcome.connections;
        if let Verdict::Unknown(why) = &outcome.verdict {
            unknown(question, why.clone());
        }
    }

    let dh_bits = match dh {
        Ok(bits) => bits,
        Err(e) => {
            unknown(Question::DhParams, e);
            None
        }
    };
    if dh_bits.is_some() {
        connections += 1;
    }
    let (groups, groups_complete) = match groups {
        (groups, Some(e)) => {
            unknown(Question::Detail("every key exchange group"), e.to_string());
            (groups, false)
        }
        (groups, None) => (groups, true),
    };
    connections += match group_version {
        Some(Version::Tls13) => wire::PROBED_GROUPS.len(),
        Some(_) => 5,
        None => 0,
    };
    let fallback_scsv = match fallback {
        Ok(honoured) => honoured,
        Err(e) => {
            unknown(Question::Detail("TLS_FALLBACK_SCSV"), e);
            None
        }
    };
    connections += usize::from(fallback_scsv.is_some());
    let resumption = match resumption {
        Ok(resumes) => Some(resumes),
        Err(e) => {
            unknown(Question::Detail("session resumption"), e);
            None
        }
    };
    connections += 2;
    // Without a name, the certificate must cover the address audited (SSL Labs' M otherwise).
    let checked_name = sni.map_or_else(|| addr.ip().to_string(), str::to_owned);
    let uses = cert::KeyUse {
        rsa_kex: grade_suites
            .iter()
            .any(|(_, id)| suites::by_id(*id).is_some_and(|s| s.name.starts_with("TLS_RSA_WITH_"))),
        signs: grade_suites
            .iter()
            .any(|(_, id)| suites::by_id(*id).is_some_and(|s| s.forward_secrecy)),
    };
    let certificate = (!chain.is_empty()).then(|| {
        let mut report = cert_report(&chain, &roots, &known, &aia, &checked_name, now);
        report.details = cert::details(&chain, uses, ocsp_stapling);
        report
    });
    let (hsts_header, hsts_max_age) = match hsts {
        Ok(found) => found,
        Err(e) => {
            unknown(Question::Hsts, e);
            (None, None)
        }
    };
    let redirect = redirect.map(|answer| match answer {
        http::Redirect::Good(to) => Ok(to),
        http::Redirect::Wrong(what) => Err(what),
        http::Redirect::Failed(why) => {
            unknown(Question::Redirect, why.clone());
            Err(why)
        }
    });

    let inputs = grade::Inputs {
        protocols: supported,
        sslv2: matches!(sslv2, Ok(true)),
        suites: grade_suites,
        key: chain.first().and_then(|leaf| key_of(leaf)),
        dh_bits,
        trusted: certificate.as_ref().is_some_and(|c| c.trusted),
        untrusted_because: certificate.as_ref().and_then(|c| c.problem.clone()),
        names: certificate
            .as_ref()
            .map(|c| c.names.clone())
            .unwrap_or_default(),
        name_matches: certificate.as_ref().is_some_and(|c| c.name_matches),
        checked_name: checked_name.clone(),
        chain_incomplete: certificate.as_ref().is_some_and(|c| c.incomplete),
        chain_completed_from: certificate
            .as_ref()
            .map(|c| c.completed_from.clone())
            .unwrap_or_default(),
        md5: cert::md5_signed(&chain),
        compression,
        secure_renegotiation,
        hsts_max_age,
        heartbleed: matches!(heartbleed, Ok(Some(true))),
        robot: Some(robot.verdict.clone()),
        padding_oracle: Some(padding_oracle.verdict.clone()),
        server_ordered: accepted
            .iter()
            .filter(|(_, r)| r.as_ref().is_ok_and(|a| a.server_order == Some(true)))
            .map(|(v, _)| *v)
            .collect(),
        unknowns,
    };
    let offer = clients::ServerOffer {
        key: chain.first().and_then(|leaf| server_key(leaf)),
        groups: (!groups.is_empty() && groups_complete).then(|| groups.clone()),
    };
    let clients = clients::simulate_with(&inputs.suites, &inputs.server_ordered, &offer);
    let mut rating = grade::grade_with(&inputs, &clients);
    if let Some(c) = &certificate {
        rating.findings.extend(c.details.findings.iter().cloned());
    }
    Ok(AuditReport {
        grade: rating.grade,
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
        robot: robot.verdict,
        cbc_padding_oracle: padding_oracle.verdict,
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
        complete: inputs.unknowns.is_empty(),
        elapsed_ms: started.elapsed().as_millis(),
    })
}

/// TLS_FALLBACK_SCSV (RFC 7507): a hello for a lower version carrying the SCSV must be refused
/// with inappropriate_fallback by a server that speaks a higher one. Any other alert, or a
/// hang-up, to a version the server accepted tells nothing: an error (unknown), never a "no".
async fn fallback_scsv(
    addr: SocketAddr,
    sni: Option<&str>,
    supported: &[Version],
    timeout: Duration,
) -> Result<Option<bool>, String> {
    let Some(lower) = supported.iter().rev().nth(1).copied() else {
        return Ok(None);
    };
    let mut offer: Vec<CipherSuite> = match lower {
        Version::Tls13 => return Ok(None),
        _ => probe::BROAD_SUITES.to_vec(),
    };
    offer.push(CipherSuite::TLS_FALLBACK_SCSV);
    let hello = probe::plain_hello(lower, &offer, sni);
    match probe::ask(addr, &hello, false, timeout).await {
        Ok(Answer::Alert {
            description: AlertDescription::INAPPROPRIATE_FALLBACK,
            ..
        }) => Ok(Some(true)),
        Ok(Answer::Hello(_)) => Ok(Some(false)),
        Ok(Answer::Alert { description, .. }) => Err(format!(
            "the server answered a {} hello carrying the SCSV with alert {description}",
            lower.name()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// The DH group size, when DHE suites are accepted: one handshake offering only those, read up
/// to the ServerKeyExchange. `Ok(None)` when no DHE suite is accepted; an alert or a hang-up to
/// suites the server accepted before is an error (unknown), never "no DHE".
async fn dh_size(
    addr: SocketAddr,
    sni: Option<&str>,
    accepted: &[(Version, Result<Accepted, probe::ProbeError>)],
    timeout: Duration,
) -> Result<Option<u32>, String> {
    let Some((version, dhe)) = accepted.iter().rev().find_map(|(v, r)| {
        let dhe: Vec<CipherSuite> = r
            .as_ref()
            .ok()?
            .suites
            .iter()
            .copied()
            .filter(|id| suites::by_id(*id).is_some_and(|s| s.dhe))
            .collect();
        (!dhe.is_empty()).then_some((*v, dhe))
    }) else {
        return Ok(None);
    };
    let hello = probe::plain_hello(version, &dhe, sni);
    match probe::ask(addr, &hello, true, timeout).await {
        Ok(Answer::Hello(h)) => Ok(h.dh_bits),
        Ok(Answer::Alert { description, .. }) => Err(format!(
            "the server answered the DHE suites it had accepted with alert {description}"
        )),
        Err(e) => Err(e.to_string()),
    }
}
