//! What a TLS server actually presents: one handshake with SNI, the chain kept for checking.
//!
//! The handshake accepts any certificate (the caller checks the chain with the project's own
//! verifier, so it can say exactly what is wrong) but still requires the server to prove it holds
//! the key: handshake signatures are verified as usual.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// The chain `addr` presents for `sni`, leaf first. Blocking; bounded by `timeout` per I/O step.
pub fn served_chain(
    addr: SocketAddr,
    sni: &str,
    timeout: Duration,
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
    let mut sock = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(timeout))
        .and_then(|()| sock.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
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
/// the first reading a response (TLS 1.3 tickets arrive after the handshake). Blocking.
pub fn resumes(addr: SocketAddr, sni: &str, timeout: Duration) -> Result<bool, String> {
    use std::io::{Read, Write};
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
        let mut sock = TcpStream::connect_timeout(&addr, timeout).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(timeout))
            .and_then(|()| sock.set_write_timeout(Some(timeout)))
            .map_err(|e| e.to_string())?;
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
