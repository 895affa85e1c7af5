//! Minimal HTTP clients for assertions: a plain HTTP/1.1 GET and an HTTPS GET with rustls, both
//! to 127.0.0.1 with a chosen Host (and SNI), returning what the tests look at.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::process::loopback;

/// An HTTP response, as much as the tests look at.
#[derive(Debug)]
pub struct HttpResponse {
    /// The status code (0 when the status line does not parse).
    pub status: u16,
    /// Every header, in order (`x-test-tls-version` added by [`https_get`]).
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl HttpResponse {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many headers are called `name` (any case).
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }
}

/// The status line, headers and body of a raw response.
fn parse_response(raw: &[u8]) -> HttpResponse {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A plain HTTP/1.1 GET to 127.0.0.1:port with a Host header.
pub fn http_get(port: u16, host: &str, path: &str) -> std::io::Result<HttpResponse> {
    http_get_at(loopback(port), host, path)
}

/// A plain HTTP/1.1 GET to `addr` (IPv6 too) with a Host header.
pub fn http_get_at(addr: SocketAddr, host: &str, path: &str) -> std::io::Result<HttpResponse> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    Ok(parse_response(&raw))
}

/// An HTTPS GET with rustls to 127.0.0.1:port: SNI `host`, the chain verified against `root_pem`.
pub fn https_get(
    port: u16,
    host: &str,
    path: &str,
    root_pem: &str,
) -> Result<HttpResponse, String> {
    https_get_at(loopback(port), host, path, root_pem)
}

/// Like [`https_get`], to `addr` (IPv6 too).
pub fn https_get_at(
    addr: SocketAddr,
    host: &str,
    path: &str,
    root_pem: &str,
) -> Result<HttpResponse, String> {
    use rustls_pki_types::pem::PemObject;
    use std::io::{Read, Write};
    use std::sync::Arc;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name =
        rustls_pki_types::ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let sock = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // nginx may close without close_notify after Connection: close.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e.to_string()),
    }
    let version = tls.conn.protocol_version();
    let mut rsp = parse_response(&raw);
    rsp.headers
        .push(("x-test-tls-version".into(), format!("{version:?}")));
    Ok(rsp)
}

/// How [`serve_paths`] answers one path.
#[derive(Clone, Debug)]
pub enum Served {
    /// 200 with this body.
    Body(Vec<u8>),
    /// This status, empty body.
    Status(u16),
    /// 200 announcing 4 KiB, then one byte a second (a server that never finishes).
    Trickle,
    /// 200 without a length, then this many bytes and close (a server that sends too much).
    Huge(usize),
}

/// A small plain-HTTP server on 127.0.0.1 (a thread per connection) answering GETs by path,
/// 404 for any other path: stands in for a CA's AIA or CRL host, which a test cannot reach.
pub fn serve_paths(routes: Vec<(&'static str, Served)>) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let routes = std::sync::Arc::new(routes);
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            let routes = routes.clone();
            std::thread::spawn(move || {
                let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    match sock.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let text = String::from_utf8_lossy(&head);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let answer = routes
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map_or(Served::Status(404), |(_, a)| a.clone());
                let _ = match answer {
                    Served::Body(body) => sock
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            )
                            .as_bytes(),
                        )
                        .and_then(|()| sock.write_all(&body)),
                    Served::Status(code) => sock.write_all(
                        format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .as_bytes(),
                    ),
                    Served::Trickle => {
                        let _ = sock.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\nConnection: close\r\n\r\n",
                        );
                        for _ in 0..60 {
                            std::thread::sleep(Duration::from_secs(1));
                            if sock.write_all(b"0").is_err() {
                                break;
                            }
                        }
                        Ok(())
                    }
                    Served::Huge(n) => {
                        let _ = sock.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                        let block = [0x30u8; 4096];
                        let mut sent = 0;
                        while sent < n && sock.write_all(&block).is_ok() {
                            sent += block.len();
                        }
                        Ok(())
                    }
                };
            });
        }
    });
    addr
}
