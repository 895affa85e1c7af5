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

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

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
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(KeepAnyChain(provider)))
        .with_no_client_auth();
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
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(KeepAnyChain(provider)))
            .with_no_client_auth(),
    );
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

#[derive(Debug)]
struct KeepAnyChain(Arc<CryptoProvider>);

impl ServerCertVerifier for KeepAnyChain {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
