//! The connections of the oracle probes ([`super::oracle`] judges what they see).
//!
//! ROBOT: for each of the five premaster encodings ([`Variant`]), a hello offering only the RSA
//! key exchange suites the server accepted, then ClientKeyExchange, ChangeCipherSpec and a
//! Finished no server can accept, in one write; the reaction is the first thing that comes back.
//!
//! CBC padding: for each of three spoiled records ([`Flaw`]), a full TLS 1.2 handshake on an
//! AES-CBC suite the server accepted (RSA or ECDHE key exchange, the keys from
//! [`super::wire::tls12`]), then one application-data record with a bad MAC, bad padding bytes or
//! an impossible padding length; the reaction is the server's (decrypted) alert, a data record, a
//! close, or silence.
//!
//! Each connection is one probe slot with one deadline for the handshake; the reaction is waited
//! for at most [`SILENCE`] beyond it. The variants run concurrently; a difference is asked once
//! more ([`super::oracle::Step::AskAgain`]).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::cert::rsa_public_key;
use super::oracle::{self, Reaction, Step, Verdict};
use super::probe::{self, Accepted, ProbeError, Slot};
use super::suites;
use super::wire::robot::{self, Variant};
use super::wire::tls12::{self, CbcSuite, Flaw, Header, Kex, Session};
use super::wire::{self, Answer, CipherSuite, ContentType, HelloSpec, ServerHello, Version, codec};

/// The longest wait for a reaction once the variant is sent: a server that says nothing by
/// then is silent (a reaction too).
pub const SILENCE: Duration = Duration::from_secs(2);

/// A probe's verdict and the connections it took.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// What the probe concluded.
    pub verdict: Verdict,
    /// Connections made.
    pub connections: usize,
}

/// Why one connection gave no reaction.
enum Failure {
    /// No usable answer: the verdict is unknown.
    Probe(ProbeError),
    /// The probe cannot run against this server.
    Untested(String),
}

impl From<ProbeError> for Failure {
    fn from(e: ProbeError) -> Self {
        Self::Probe(e)
    }
}

fn untested(why: impl Into<String>) -> Failure {
    Failure::Untested(why.into())
}

type Accepts = [(Version, Result<Accepted, ProbeError>)];

/// Runs `once` for every variant, concurrently, asking a second time when `judge` wants it.
async fn rounds<V: Copy, F: Future<Output = Result<Reaction, Failure>>>(
    variants: &[V],
    once: impl Fn(V) -> F,
    judge: impl Fn(&[Reaction], Option<&[Reaction]>) -> Step,
) -> Outcome {
    let mut runs: Vec<Vec<Reaction>> = Vec::new();
    let mut connections = 0;
    loop {
        let run = futures_util::future::join_all(variants.iter().map(|v| once(*v))).await;
        connections += variants.len();
        let reactions: Result<Vec<Reaction>, Failure> = run.into_iter().collect();
        let verdict = match reactions {
            Ok(reactions) => {
                runs.push(reactions);
                match judge(&runs[0], runs.get(1).map(Vec::as_slice)) {
                    Step::Verdict(v) => v,
                    Step::AskAgain => continue,
                }
            }
            Err(Failure::Untested(why)) => Verdict::Untested(why),
            Err(Failure::Probe(e)) => Verdict::Unknown(e.to_string()),
        };
        return Outcome {
            verdict,
            connections,
        };
    }
}

/// ROBOT against the best version that has RSA key exchange suites.
pub async fn robot(
    addr: SocketAddr,
    sni: Option<&str>,
    accepted: &Accepts,
    timeout: Duration,
) -> Outcome {
    let rsa_kex = |id: &CipherSuite| {
        suites::by_id(*id).is_some_and(|s| s.name.starts_with("TLS_RSA_WITH_") && s.bits >= 112)
    };
    let found = accepted.iter().rev().find_map(|(v, r)| {
        let rsa: Vec<CipherSuite> = r
            .as_ref()
            .ok()?
            .suites
            .iter()
            .copied()
            .filter(rsa_kex)
            .collect();
        (!rsa.is_empty()).then_some((*v, rsa))
    });
    let Some((version, offer)) = found else {
        return Outcome {
            verdict: Verdict::Untested("no RSA key exchange suite is accepted".into()),
            connections: 0,
        };
    };
    let names = Variant::ALL.map(Variant::name);
    rounds(
        &Variant::ALL,
        |variant| robot_once(addr, sni, version, &offer, variant, timeout),
        |first, again| oracle::compare(&names, first, again),
    )
    .await
}

async fn robot_once(
    addr: SocketAddr,
    sni: Option<&str>,
    version: Version,
    offer: &[CipherSuite],
    variant: Variant,
    timeout: Duration,
) -> Result<Reaction, Failure> {
    let slot = Slot::take(timeout).await?;
    let hello = probe::plain_hello(version, offer, sni);
    let sent = slot.run(async {
        let (mut sock, h) = match server_flight(addr, &hello).await? {
            Ok(flight) => flight,
            Err(why) => return Ok(Err(why)),
        };
        let Some((n, e)) = h.certificates.first().and_then(|leaf| rsa_public_key(leaf)) else {
            return Ok(Err("the server sent no RSA certificate".to_owned()));
        };
        let random = probe::fresh_random();
        let secret: [u8; 46] = std::array::from_fn(|i| random[i % 32] ^ (i as u8));
        let wire_version = version.wire();
        let encrypted = robot::encoded_premaster(
            variant,
            robot::modulus_len(&n),
            wire_version,
            &secret,
            &probe::fresh_random(),
        )
        .and_then(|em| robot::rsa_encrypt(&n, &e, &em));
        let Some(encrypted) = encrypted else {
            return Ok(Err(
                "the certificate's RSA key is too small or broken".to_owned()
            ));
        };
        let mut out = codec::record(
            ContentType::HANDSHAKE,
            wire_version,
            &robot::client_key_exchange_rsa(&encrypted),
        );
        out.extend(codec::record(
            ContentType::CHANGE_CIPHER_SPEC,
            wire_version,
            &[1],
        ));
        out.extend(robot::garbage_finished(wire_version));
        // A server that closed already has reacted: the read below sees it.
        let _ = sock.write_all(&out).await;
        Ok(Ok(sock))
    });
    let mut sock = sent.await?.map_err(untested)?;
    react(&slot, &mut sock, Vec::new(), None).await
}

/// The CBC padding probe over TLS 1.2 AES-CBC.
pub async fn cbc_padding(
    addr: SocketAddr,
    sni: Option<&str>,
    accepted: &Accepts,
    timeout: Duration,
) -> Outcome {
    let of = |v: Version| {
        accepted
            .iter()
            .filter(|(ver, _)| *ver == v)
            .filter_map(|(_, r)| r.as_ref().ok())
            .flat_map(|a| a.suites.iter().copied())
            .collect::<Vec<_>>()
    };
    let offer: Vec<CipherSuite> = of(Version::Tls12)
        .into_iter()
        .filter(|id| CbcSuite::of(*id).is_some())
        .collect();
    if offer.is_empty() {
        let any_cbc = Version::ALL
            .iter()
            .flat_map(|v| of(*v))
            .any(|id| suites::by_id(id).is_some_and(|s| s.cbc));
        let why = match any_cbc {
            true => {
                "the probe speaks TLS 1.2 with AES-CBC and RSA or ECDHE key exchange, and the server's CBC suites are not among those"
            }
            false => "no CBC suite is accepted",
        };
        return Outcome {
            verdict: Verdict::Untested(why.into()),
            connections: 0,
        };
    }
    let host = sni.map_or_else(|| addr.ip().to_string(), str::to_owned);
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let flaws = [Flaw::BadMac, Flaw::BadPaddingBytes, Flaw::BadPaddingLength];
    rounds(
        &flaws,
        |flaw| cbc_once(addr, sni, &offer, request.as_bytes(), flaw, timeout),
        oracle::cbc,
    )
    .await
}

async fn cbc_once(
    addr: SocketAddr,
    sni: Option<&str>,
    offer: &[CipherSuite],
    request: &[u8],
    flaw: Flaw,
    timeout: Duration,
) -> Result<Reaction, Failure> {
    let slot = Slot::take(timeout).await?;
    let client_random = probe::fresh_random();
    let hello = wire::client_hello(&HelloSpec {
        version: Version::Tls12,
        suites: offer,
        sni,
        groups: &[0x001D, 0x0017],
        random: client_random,
        alpn: &[],
        compression: false,
    });
    let ready = slot.run(async {
        let (mut sock, h) = match server_flight(addr, &hello).await? {
            Ok(flight) => flight,
            Err(why) => return Ok(Err(why)),
        };
        let mut transcript = hello[codec::RECORD_HEADER_LEN..].to_vec();
        transcript.extend_from_slice(&h.transcript);
        let (session, key_exchange) = match key_exchange(&h, &client_random) {
            Ok(done) => done,
            Err(why) => return Ok(Err(why)),
        };
        transcript.extend_from_slice(&key_exchange);
        let finished = session.finished(true, &transcript);
        let v = Version::Tls12.wire();
        let mut out = codec::record(ContentType::HANDSHAKE, v, &key_exchange);
        out.extend(codec::record(ContentType::CHANGE_CIPHER_SPEC, v, &[1]));
        out.extend(seal(
            &session,
            0,
            ContentType::HANDSHAKE,
            &finished,
            Flaw::None,
        ));
        sock.write_all(&out).await.map_err(|_| ProbeError::Closed)?;
        // The server's ChangeCipherSpec and Finished (not verified: the probe only needs the
        // server to take the connection as established).
        let mut buf = Vec::new();
        let mut changed = false;
        loop {
            while let Some((kind, _, fragment, used)) = codec::split_record(&buf) {
                let alert = (kind == ContentType::ALERT).then(|| fragment.get(1).copied());
                buf.drain(..used);
                match (kind, alert) {
                    (_, Some(d)) => {
                        let d = Reaction::Alert(d.unwrap_or(0));
                        return Ok(Err(format!(
                            "the server refused the probe's TLS 1.2 handshake ({d})"
                        )));
                    }
                    (ContentType::CHANGE_CIPHER_SPEC, _) => changed = true,
                    (ContentType::HANDSHAKE, _) if changed => {
                        let record =
                            seal(&session, 1, ContentType::APPLICATION_DATA, request, flaw);
                        // A server that closed already has reacted: the read below sees it.
                        let _ = sock.write_all(&record).await;
                        return Ok(Ok((sock, session, buf)));
                    }
                    _ => {}
                }
            }
            if !read_more(&mut sock, &mut buf).await {
                return Ok(Err(
                    "the server closed the connection during the probe's TLS 1.2 handshake".into(),
                ));
            }
        }
    });
    let (mut sock, session, buf) = ready.await?.map_err(untested)?;
    react(&slot, &mut sock, buf, Some(&session)).await
}

/// The premaster secret, the session and the ClientKeyExchange for the server's flight.
fn key_exchange(h: &ServerHello, client_random: &[u8; 32]) -> Result<(Session, Vec<u8>), String> {
    let Some(suite) = CbcSuite::of(h.suite).filter(|_| h.version == Version::Tls12) else {
        return Err(format!(
            "the server answered with {} {:?}",
            h.version.name(),
            h.suite
        ));
    };
    let (premaster, message) = match suite.kex {
        Kex::Rsa => {
            let (n, e) = h
                .certificates
                .first()
                .and_then(|leaf| rsa_public_key(leaf))
                .ok_or("the server sent no RSA certificate")?;
            let random = probe::fresh_random();
            let secret: [u8; 46] = std::array::from_fn(|i| random[i % 32] ^ (i as u8));
            let k = robot::modulus_len(&n);
            let em = robot::encoded_premaster(
                Variant::Correct,
                k,
                Version::Tls12.wire(),
                &secret,
                &probe::fresh_random(),
            );
            let encrypted = em
                .and_then(|em| robot::rsa_encrypt(&n, &e, &em))
                .ok_or("the certificate's RSA key is too small or broken")?;
            let premaster = [&Version::Tls12.wire().to_be_bytes()[..], &secret].concat();
            (premaster, robot::client_key_exchange_rsa(&encrypted))
        }
        Kex::Ecdhe => {
            use aws_lc_rs::agreement;
            let (Some(group), Some(public)) = (h.ecdhe_group, h.ecdhe_public.as_deref()) else {
                return Err("the server sent no ECDHE key exchange".into());
            };
            let algorithm = match group {
                0x001D => &agreement::X25519,
                0x0017 => &agreement::ECDH_P256,
                other => {
                    return Err(format!(
                        "the server chose group {}",
                        wire::group_name(other)
                    ));
                }
            };
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let private = agreement::EphemeralPrivateKey::generate(algorithm, &rng)
                .map_err(|_| "no ECDHE key")?;
            let mine = private.compute_public_key().map_err(|_| "no ECDHE key")?;
            let peer = agreement::UnparsedPublicKey::new(algorithm, public);
            let premaster = agreement::agree_ephemeral(private, peer, (), |k| Ok(k.to_vec()))
                .map_err(|()| "the server's ECDHE point is not valid".to_owned())?;
            (premaster, robot::client_key_exchange_ecdhe(mine.as_ref()))
        }
    };
    Ok((
        Session::derive(suite, &premaster, client_random, &h.random),
        message,
    ))
}

fn seal(session: &Session, seq: u64, kind: ContentType, content: &[u8], flaw: Flaw) -> Vec<u8> {
    let iv: [u8; tls12::BLOCK] = std::array::from_fn(|i| probe::fresh_random()[i]);
    let header = Header {
        seq,
        kind,
        version: Version::Tls12.wire(),
    };
    tls12::seal(&session.suite, &session.client, header, content, iv, flaw)
}

/// Connects, sends `hello` and reads the server's flight up to ServerHelloDone. An alert or a
/// close instead is a reason the probe cannot run (the suites were accepted a moment ago).
async fn server_flight(
    addr: SocketAddr,
    hello: &[u8],
) -> Result<Result<(TcpStream, ServerHello), String>, ProbeError> {
    let mut sock = probe::open(addr, hello).await?;
    let flight = probe::read_until(&mut sock, |buf, closed| match closed {
        true => Err(wire::WireError::Incomplete),
        false => wire::parse_answer(buf, true),
    });
    Ok(match flight.await {
        Ok(Answer::Hello(h)) if h.flight_done => Ok((sock, h)),
        Ok(Answer::Hello(_)) => Err("the server's flight ended early".into()),
        Ok(Answer::Alert { description, .. }) => Err(format!(
            "the server refused a hello with suites it accepted before ({description})"
        )),
        Err(ProbeError::Closed) => Err("the server closed the connection at the hello".into()),
        Err(e) => return Err(e),
    })
}

/// Reads more bytes into `buf`; false when the server closed (or reset) the connection.
async fn read_more(sock: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    match sock.read(&mut chunk).await {
        Ok(n) if n > 0 && buf.len() + n <= wire::MAX_FLIGHT => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
        _ => false,
    }
}

/// The server's reaction: the first record (an alert, decrypted with the server's keys once a
/// session is up, at sequence number 1 after its Finished), a close, or silence until
/// [`SILENCE`] or the slot's deadline. The audit's deadline ending the wait is no reaction.
async fn react(
    slot: &Slot,
    sock: &mut TcpStream,
    mut buf: Vec<u8>,
    session: Option<&Session>,
) -> Result<Reaction, Failure> {
    let wait = (Instant::now() + SILENCE).min(slot.deadline());
    let read = async {
        loop {
            if let Some((kind, version, fragment, _)) = codec::split_record(&buf) {
                if kind != ContentType::ALERT {
                    return Reaction::Data;
                }
                let plain = match session {
                    Some(s) if fragment.len() > 2 => {
                        let header = Header {
                            seq: 1,
                            kind,
                            version,
                        };
                        tls12::open(&s.suite, &s.server, header, fragment).content
                    }
                    _ => Some(fragment.to_vec()),
                };
                return Reaction::Alert(plain.and_then(|p| p.get(1).copied()).unwrap_or(0xFF));
            }
            if !read_more(sock, &mut buf).await {
                return Reaction::Closed;
            }
        }
    };
    match tokio::time::timeout_at(wait, read).await {
        Ok(reaction) => Ok(reaction),
        Err(_) if wait == slot.deadline() && slot.cut() => Err(ProbeError::Cut.into()),
        Err(_) => Ok(Reaction::Silent),
    }
}
