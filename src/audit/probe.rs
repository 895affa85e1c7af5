//! The socket side of the audit: one connection per question. Each probe first takes a
//! connection slot from the audit's budget, then has one absolute deadline for the whole
//! exchange (connect, write, every read), so a peer that trickles bytes cannot stretch it; the
//! audit's overall deadline ([`with_budget`]) bounds the wait for a slot and the probe alike.
//! Reads are bounded in size (see [`wire::MAX_FLIGHT`]). Server behaviour is data: what could
//! not be decided comes back as a [`ProbeError`], never as a "no".

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::wire::enums::cipher_suites;
use super::wire::{self, Answer, CipherSuite, HelloSpec, Version, WireError};

/// Cipher suites offered when only the protocol is in question: every family a server of the
/// last twenty years might pick (ECDHE/DHE/RSA with AES-GCM, ChaCha20, AES-CBC, 3DES, RC4).
pub const BROAD_SUITES: [CipherSuite; 28] = cipher_suites![
    0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0x009E, 0x009F, 0xC009, 0xC013, 0xC00A, 0xC014,
    0xC023, 0xC027, 0xC024, 0xC028, 0x0033, 0x0039, 0x009C, 0x009D, 0x002F, 0x0035, 0x003C, 0x003D,
    0x000A, 0xC012, 0x0005, 0x0004,
];
/// The TLS 1.3 suites (RFC 8446 and RFC 9150's CCM ones).
pub const TLS13_SUITES: [CipherSuite; 5] = [
    CipherSuite::TLS_AES_128_GCM_SHA256,
    CipherSuite::TLS_AES_256_GCM_SHA384,
    CipherSuite::TLS_CHACHA20_POLY1305_SHA256,
    CipherSuite::TLS_AES_128_CCM_SHA256,
    CipherSuite::TLS_AES_128_CCM_8_SHA256,
];

/// The budget of the audit running in a task: how many probe connections may be open at once,
/// and the instant by which the whole audit must end.
struct Budget {
    permits: Arc<Semaphore>,
    until: Option<Instant>,
}

tokio::task_local! {
    /// The budget of the audit running in this task (see [`with_budget`]).
    static BUDGET: Arc<Budget>;
}

/// Runs `work` with at most `n` probe connections open at once, so a real server is not
/// hammered. Without it, probes are not limited.
pub async fn with_concurrency<F: Future>(n: usize, work: F) -> F::Output {
    with_budget(n, None, work).await
}

/// [`with_concurrency`], and every probe in `work` also ends by `until` (the audit's overall
/// deadline), whatever its own deadline says: one that is still waiting for a connection slot
/// or an answer then fails with [`ProbeError::Cut`].
pub async fn with_budget<F: Future>(n: usize, until: Option<Instant>, work: F) -> F::Output {
    let budget = Arc::new(Budget {
        permits: Arc::new(Semaphore::new(n.max(1))),
        until,
    });
    BUDGET.scope(budget, work).await
}

/// The overall deadline of the audit running in this task, if it has one.
pub fn audit_deadline() -> Option<Instant> {
    BUDGET.try_with(|b| b.until).ok().flatten()
}

/// Runs `work` (a connection the probes do not make themselves: an HTTP fetch, a rustls
/// handshake) while holding one of the budget's connection slots, so that it counts against the
/// same `--concurrency` (shared by every target of `audit_many`). `work` starts once the slot is
/// held and bounds itself; the audit's deadline passing before a slot is [`ProbeError::Cut`].
pub async fn holding_slot<F: Future>(
    timeout: Duration,
    work: impl FnOnce() -> F,
) -> Result<F::Output, ProbeError> {
    let _slot = Slot::take(timeout).await?;
    Ok(work().await)
}

/// One probe's turn: a connection slot from the budget, then an absolute deadline for the whole
/// exchange (connect, write, every read). The deadline starts counting only once the slot is
/// held, so waiting behind other probes does not eat into it; the audit's deadline still
/// bounds both.
pub(super) struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
    deadline: Instant,
    /// The audit's deadline comes before the probe's own.
    cut: bool,
    timeout: Duration,
}

impl Slot {
    pub(super) async fn take(timeout: Duration) -> Result<Self, ProbeError> {
        let budget = BUDGET.try_with(Arc::clone).ok();
        let until = budget.as_ref().and_then(|b| b.until);
        let permit = match &budget {
            None => None,
            Some(b) => {
                let acquire = Arc::clone(&b.permits).acquire_owned();
                match until {
                    Some(until) => tokio::time::timeout_at(until, acquire)
                        .await
                        .map_err(|_| ProbeError::Cut)?
                        .ok(),
                    None => acquire.await.ok(),
                }
            }
        };
        let own = Instant::now() + timeout;
        let (deadline, cut) = match until {
            Some(until) if until < own => (until, true),
            _ => (own, false),
        };
        Ok(Self {
            _permit: permit,
            deadline,
            cut,
            timeout,
        })
    }

    /// Why the deadline ended the probe.
    fn expired(&self) -> ProbeError {
        match self.cut {
            true => ProbeError::Cut,
            false => ProbeError::Timeout(self.timeout.as_millis()),
        }
    }

    /// When the exchange must be over.
    pub(super) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The audit's deadline, not the probe's own, is the slot's.
    pub(super) fn cut(&self) -> bool {
        self.cut
    }

    /// Runs `work` until the slot's deadline.
    pub(super) async fn run<T>(
        &self,
        work: impl Future<Output = Result<T, ProbeError>>,
    ) -> Result<T, ProbeError> {
        tokio::time::timeout_at(self.deadline, work)
            .await
            .unwrap_or_else(|_| Err(self.expired()))
    }
}

/// Why a question got no TLS answer.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Could not connect.
    #[error("cannot connect to {0}: {1}")]
    Connect(SocketAddr, std::io::Error),
    /// No complete answer before the deadline.
    #[error("no answer within {0} ms")]
    Timeout(u128),
    /// The audit's overall deadline passed before an answer (or before a connection slot).
    #[error("the audit deadline passed before an answer")]
    Cut,
    /// The server closed (or reset) the connection without a TLS answer.
    #[error("the server closed the connection without answering")]
    Closed,
    /// The answer was not TLS, or broken.
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// Connects and sends `hello`. Callers bound it with their [`Slot`].
pub(super) async fn open(addr: SocketAddr, hello: &[u8]) -> Result<TcpStream, ProbeError> {
    let mut sock = TcpStream::connect(addr)
        .await
        .map_err(|e| ProbeError::Connect(addr, e))?;
    // Probes that write again after the hello (Heartbleed, the oracles) send at once.
    let _ = sock.set_nodelay(true);
    sock.write_all(hello)
        .await
        .map_err(|_| ProbeError::Closed)?;
    Ok(sock)
}

/// Reads until `parse` has an answer (`Incomplete` means read on), at most
/// [`wire::MAX_FLIGHT`] bytes. When the server closes, `parse` gets one last look with
/// `closed = true`; still incomplete then is [`ProbeError::Closed`].
pub(super) async fn read_until<T>(
    sock: &mut TcpStream,
    mut parse: impl FnMut(&[u8], bool) -> Result<T, WireError>,
) -> Result<T, ProbeError> {
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        let closed = n == 0;
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > wire::MAX_FLIGHT {
            return Err(WireError::TooLarge.into());
        }
        match parse(&buf, closed) {
            Err(WireError::Incomplete) if closed => return Err(ProbeError::Closed),
            Err(WireError::Incomplete) => continue,
            other => return other.map_err(Into::into),
        }
    }
}

/// Sends one ClientHello and reads the answer. `deadline` bounds the whole exchange (connect,
/// write and every read), counted from when the probe gets its connection slot.
pub async fn ask(
    addr: SocketAddr,
    hello: &[u8],
    need_certificates: bool,
    deadline: Duration,
) -> Result<Answer, ProbeError> {
    let slot = Slot::take(deadline).await?;
    slot.run(async {
        let mut sock = open(addr, hello).await?;
        // A closed connection ends the flight: what arrived may still be an answer.
        read_until(&mut sock, |buf, closed| {
            wire::parse_answer(buf, need_certificates && !closed)
        })
        .await
    })
    .await
}

/// The named groups the server accepts, asked one at a time, concurrently, with the first
/// failure of a probe that got no answer (the list may then be short). With TLS 1.3 the
/// hello lists only that group (a key share for x25519, none otherwise: a server that takes the
/// group answers with a HelloRetryRequest naming it); with TLS 1.2 the hello offers ECDHE suites
/// only and the group comes back in the ServerKeyExchange.
pub async fn groups(
    addr: SocketAddr,
    sni: Option<&str>,
    version: Version,
    deadline: Duration,
) -> (Vec<u16>, Option<ProbeError>) {
    let ecdhe: Vec<CipherSuite> = BROAD_SUITES
        .iter()
        .copied()
        .filter(|id| super::suites::by_id(*id).is_some_and(|s| s.name.contains("_ECDHE_")))
        .collect();
    let asks = wire::PROBED_GROUPS.iter().map(|&group| {
        let ecdhe = &ecdhe;
        async move {
            let tls13 = version == Version::Tls13;
            if !tls13 && group >= 0x0100 {
                return Ok(None); // ffdhe and hybrid groups do not apply to TLS 1.2's ECDHE
            }
            let suites: &[CipherSuite] = if tls13 { &TLS13_SUITES } else { ecdhe };
            let spec = HelloSpec {
                version,
                suites,
                sni,
                groups: &[group],
                random: fresh_random(),
                alpn: &[],
                compression: false,
            };
            match ask(addr, &wire::client_hello(&spec), !tls13, deadline).await {
                Ok(Answer::Hello(h)) if tls13 && h.version == Version::Tls13 => {
                    Ok((h.group == Some(group)).then_some(group))
                }
                Ok(Answer::Hello(h)) => Ok((h.ecdhe_group == Some(group)).then_some(group)),
                Ok(Answer::Alert { .. }) | Err(ProbeError::Closed) => Ok(None),
                Err(e) => Err(e),
            }
        }
    });
    let mut found = Vec::new();
    let mut failed = None;
    for answer in futures_util::future::join_all(asks).await {
        match answer {
            Ok(group) => found.extend(group),
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    (found, failed)
}

/// Heartbleed (CVE-2014-0160): `Ok(None)` when the server does not do heartbeats at all (the
/// usual case), else whether it answers a lying heartbeat request. Reads the ServerHello flight,
/// sends the request, and reads one record header: never the leaked bytes. No ServerHello
/// flight by the deadline is an error (not decided); silence after the request is a no.
pub async fn heartbleed(
    addr: SocketAddr,
    sni: Option<&str>,
    version: Version,
    deadline: Duration,
) -> Result<Option<bool>, ProbeError> {
    let slot = Slot::take(deadline).await?;
    let hello = plain_hello(version, &BROAD_SUITES, sni);
    // The ServerHello flight must come within the deadline: without it, nothing is known.
    let flight = slot.run(async {
        let mut sock = open(addr, &hello).await?;
        let flight = read_until(&mut sock, |buf, closed| match closed {
            true => Err(WireError::Incomplete),
            false => wire::parse_answer(buf, true),
        });
        match flight.await {
            Ok(Answer::Hello(h)) => Ok(Some((sock, h))),
            Ok(Answer::Alert { .. }) | Err(ProbeError::Closed) => Ok(None),
            Err(e) => Err(e),
        }
    });
    let Some((mut sock, h)) = flight.await? else {
        return Ok(None);
    };
    if !h.heartbeat {
        return Ok(None);
    }
    let answer = async {
        sock.write_all(&wire::heartbleed_request(h.version))
            .await
            .map_err(|_| ProbeError::Closed)?;
        // Five bytes at a time at most: the record header says enough, the leak stays unread.
        let mut head = Vec::new();
        let mut chunk = [0u8; 5];
        loop {
            let n = sock.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                return Ok(Some(false));
            }
            head.extend_from_slice(&chunk[..n]);
            if let Some(vulnerable) = wire::heartbleed_answer(&head) {
                return Ok(Some(vulnerable));
            }
        }
    };
    // A patched server may just stay silent: silence until the deadline is not vulnerable.
    tokio::time::timeout_at(slot.deadline, answer)
        .await
        .unwrap_or(Ok(Some(false)))
}

/// Whether the server speaks SSL 2.0 (DROWN): it answers an SSL 2.0 CLIENT-HELLO with a
/// SERVER-HELLO, with or without cipher kinds.
pub async fn speaks_sslv2(addr: SocketAddr, deadline: Duration) -> Result<bool, ProbeError> {
    let mut challenge = [0u8; 16];
    challenge.copy_from_slice(&fresh_random()[..16]);
    let hello = wire::sslv2_client_hello(challenge);
    let slot = Slot::take(deadline).await?;
    slot.run(async {
        let mut sock = match open(addr, &hello).await {
            Err(ProbeError::Closed) => return Ok(false),
            other => other?,
        };
        let answer = read_until(&mut sock, |buf, closed| match closed {
            true => Err(WireError::Incomplete),
            false => wire::parse_sslv2_answer(buf),
        });
        match answer.await {
            Ok(found) => Ok(found.is_some()),
            Err(ProbeError::Wire(WireError::TooLarge)) => Err(WireError::TooLarge.into()),
            Err(ProbeError::Closed | ProbeError::Wire(_)) => Ok(false),
            Err(e) => Err(e),
        }
    })
    .await
}

/// Whether the server speaks `version`: it answers a ClientHello for that version with a
/// ServerHello of that version. An alert, a close or a lower version all mean no.
pub async fn speaks(
    addr: SocketAddr,
    sni: Option<&str>,
    version: Version,
    deadline: Duration,
) -> Result<bool, ProbeError> {
    let suites: Vec<CipherSuite> = match version {
        Version::Tls13 => TLS13_SUITES.to_vec(),
        _ => BROAD_SUITES.to_vec(),
    };
    match ask(addr, &plain_hello(version, &suites, sni), false, deadline).await {
        Ok(Answer::Hello(h)) => Ok(h.version == version),
        Ok(Answer::Alert { .. }) | Err(ProbeError::Closed) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Every protocol version the server speaks, asked concurrently.
pub async fn protocols(
    addr: SocketAddr,
    sni: Option<&str>,
    deadline: Duration,
) -> Vec<(Version, Result<bool, ProbeError>)> {
    let asks = Version::ALL.map(|v| async move { (v, speaks(addr, sni, v, deadline).await) });
    futures_util::future::join_all(asks).await
}

/// A ClientHello for `version` offering `suites`, every group, no ALPN, a fresh random.
pub fn plain_hello(version: Version, suites: &[CipherSuite], sni: Option<&str>) -> Vec<u8> {
    wire::client_hello(&HelloSpec {
        version,
        suites,
        sni,
        groups: &wire::GROUPS,
        random: fresh_random(),
        alpn: &[],
        compression: false,
    })
}

pub(super) fn fresh_random() -> [u8; 32] {
    use aws_lc_rs::rand::SecureRandom;
    let mut random = [0u8; 32];
    let _ = aws_lc_rs::rand::SystemRandom::new().fill(&mut random);
    random
}

/// The suites a server accepts for one version, and whose order decides.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Accepted {
    /// The version asked.
    pub version: Version,
    /// Accepted suites, in the order the server picked them (its preference, when it has one).
    pub suites: Vec<CipherSuite>,
    /// The server's order decides (it picked its favourite from a reversed offer).
    pub server_order: Option<bool>,
    /// Connections this took.
    pub connections: usize,
    /// Why the list may be incomplete: a probe after the first accepted suite got no answer.
    pub incomplete: Option<String>,
    /// Why `server_order` is None although two suites were found: the order check got no answer.
    pub order_unknown: Option<String>,
}

/// Every known suite the server accepts with `version`: offer all, note the pick, remove it,
/// repeat until the server declines (one connection per accepted suite, plus one). Then one
/// more with the first two reversed tells whether the server or the client order decides.
/// No answer to the first hello is an error (the version is undecided); a later one only marks
/// the list or the order as undecided.
pub async fn accepted_suites(
    addr: SocketAddr,
    sni: Option<&str>,
    version: Version,
    deadline: Duration,
) -> Result<Accepted, ProbeError> {
    let mut remaining: Vec<CipherSuite> = super::suites::all()
        .iter()
        .filter(|s| s.tls13 == (version == Version::Tls13))
        .map(|s| s.id)
        .collect();
    let mut accepted = Vec::new();
    let mut connections = 0;
    let mut incomplete = None;
    let mut order_unknown = None;
    let pick = async |offer: &[CipherSuite]| -> Result<Option<CipherSuite>, ProbeError> {
        match ask(addr, &plain_hello(version, offer, sni), false, deadline).await {
            Ok(Answer::Hello(h)) if h.version == version && offer.contains(&h.suite) => {
                Ok(Some(h.suite))
            }
            Ok(_) | Err(ProbeError::Closed) => Ok(None),
            Err(e) => Err(e),
        }
    };
    while !remaining.is_empty() {
        connections += 1;
        match pick(&remaining).await {
            Ok(Some(suite)) => {
                accepted.push(suite);
                remaining.retain(|&s| s != suite);
            }
            Ok(None) => break,
            Err(e) if accepted.is_empty() => return Err(e),
            Err(e) => {
                incomplete = Some(e.to_string());
                break;
            }
        }
    }
    let server_order = match accepted.as_slice() {
        [first, second, ..] if incomplete.is_none() => {
            connections += 1;
            match pick(&[*second, *first]).await {
                Ok(pick) => pick.map(|s| s == *first),
                Err(e) => {
                    order_unknown = Some(e.to_string());
                    None
                }
            }
        }
        _ => None,
    };
    Ok(Accepted {
        version,
        suites: accepted,
        server_order,
        connections,
        incomplete,
        order_unknown,
    })
}
