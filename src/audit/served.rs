//! What a TLS server actually presents: one handshake with SNI, the chain kept for checking.
//!
//! The handshake accepts any certificate (the caller checks the chain with the project's own
//! verifier, so it can say exactly what is wrong) but still requires the server to prove it holds
//! the key: handshake signatures are verified as usual.
//!
//! Blocking, and bounded: every exchange has one absolute deadline (`Until`), so a server that
//! trickles bytes cannot stretch it by restarting a per-read timeout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::agreement::{ECDH_P521, EphemeralPrivateKey, UnparsedPublicKey, agree_ephemeral};
use rustls::NamedGroup;
use rustls::crypto::{ActiveKeyExchange, SharedSecret, SupportedKxGroup};
use rustls_pki_types::{CertificateDer, ServerName};

/// A socket whose reads and writes all end by one instant: each call's timeout is what is left
/// until `deadline`, and past it every call fails with `TimedOut`.
struct Until {
    sock: TcpStream,
    deadline: Instant,
}

impl Until {
    fn connect(addr: SocketAddr, deadline: Instant) -> std::io::Result<Self> {
        let sock = TcpStream::connect_timeout(&addr, left(deadline)?)?;
        // The client's Finished and its request are separate writes: with Nagle's algorithm the
        // second waits for the server's delayed ACK (40 ms on Linux) before it leaves.
        sock.set_nodelay(true)?;
        Ok(Self { sock, deadline })
    }
}

/// The time left until `deadline`, or `TimedOut` when none is.
fn left(deadline: Instant) -> std::io::Result<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::TimedOut, "deadline passed"))
}

impl Read for Until {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.sock.set_read_timeout(Some(left(self.deadline)?))?;
        self.sock.read(buf)
    }
}

impl Write for Until {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sock.set_write_timeout(Some(left(self.deadline)?))?;
        self.sock.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sock.flush()
    }
}

/// The chain `addr` presents for `sni`, leaf first. Blocking; the whole handshake ends within
/// `timeout`.
pub fn served_chain(
    addr: SocketAddr,
    sni: &str,
    timeout: Duration,
) -> Result<Vec<CertificateDer<'static>>, String> {
    served_chain_until(addr, sni, Instant::now() + timeout)
}

/// [`served_chain`], ending by `deadline` (connect and handshake together).
pub fn served_chain_until(
    addr: SocketAddr,
    sni: &str,
    deadline: Instant,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let config = any_chain_config()?;
    let name = ServerName::try_from(sni.to_owned()).map_err(|e| e.to_string())?;
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut sock = Until::connect(addr, deadline).map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
    }
    let chain = conn
        .peer_certificates()
        .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default();
    conn.send_close_notify();
    let _ = conn.write_tls(&mut sock);
    Ok(chain)
}

/// Whether the server resumes sessions: two full connections sharing one client session cache,
/// the first reading a response (TLS 1.3 tickets arrive after the handshake). Blocking; both
/// connections end by `deadline`.
pub fn resumes(addr: SocketAddr, sni: &str, deadline: Instant) -> Result<bool, String> {
    let config = Arc::new(any_chain_config()?);
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let name = ServerName::try_from(sni.to_owned()).map_err(|e| e.to_string())?;
        let mut conn =
            rustls::ClientConnection::new(config.clone(), name).map_err(|e| e.to_string())?;
        let mut sock = Until::connect(addr, deadline).map_err(|e| e.to_string())?;
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        let request = format!("HEAD / HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n");
        tls.write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut sink = [0u8; 4096];
        let mut total = 0;
        // Read until the server closes (or a bound): the tickets come with the response.
        while total < 64 * 1024 {
            match tls.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        kinds.push(conn.handshake_kind());
    }
    Ok(kinds.get(1) == Some(&Some(rustls::HandshakeKind::Resumed)))
}

/// The client configuration of every handshake the audit completes (the chain, resumption, the
/// HSTS fetch): any certificate is kept (the caller judges it), the handshake signatures are
/// still verified, and secp521r1 is offered after aws-lc-rs' default groups, so a server that
/// takes only P-521 (`ssl_ecdh_curve secp521r1`) can be audited too.
pub fn any_chain_config() -> Result<rustls::ClientConfig, String> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.kx_groups.push(&P521);
    let provider = Arc::new(provider);
    Ok(
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::trust::Lenient::any(provider)))
            .with_no_client_auth(),
    )
}

/// ECDHE on secp521r1 (aws-lc-rs has it; rustls' provider does not list it).
#[derive(Debug)]
struct P521Group;

static P521: P521Group = P521Group;

impl SupportedKxGroup for P521Group {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let key = EphemeralPrivateKey::generate(&ECDH_P521, &rng)
            .map_err(|_| rustls::Error::FailedToGetRandomBytes)?;
        let public = key
            .compute_public_key()
            .map_err(|_| rustls::Error::General("P-521 public key".into()))?
            .as_ref()
            .to_vec();
        Ok(Box::new(P521Exchange { key, public }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::secp521r1
    }
}

struct P521Exchange {
    key: EphemeralPrivateKey,
    public: Vec<u8>,
}

impl ActiveKeyExchange for P521Exchange {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let peer = UnparsedPublicKey::new(&ECDH_P521, peer_pub_key);
        agree_ephemeral(
            self.key,
            peer,
            rustls::Error::from(rustls::PeerMisbehaved::InvalidKeyShare),
            |secret| Ok(SharedSecret::from(secret)),
        )
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::secp521r1
    }
}
