//! A small threaded HTTPS server the tests put where a CA would be: [`TlsFront`] answers each
//! request with a handler the test gives, and records every request it saw.
//!
//! Two uses: deliberately broken CAs (a response head and then nothing, a body that never
//! ends: pebble cannot be made to misbehave this way), and [`AriFront`], a thin layer in front
//! of pebble that adds ACME Renewal Information (RFC 9773), which Debian's pebble 2.4 lacks.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::process::loopback;

/// One request as the front received it.
#[derive(Clone, Debug)]
pub struct Request {
    /// GET, POST, HEAD …
    pub method: String,
    /// The path and query.
    pub path: String,
    /// Every header, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The payload of a JWS-signed ACME POST (flattened JSON serialization), as JSON; Null for
    /// anything else (POST-as-GET has an empty payload).
    pub fn jws_payload(&self) -> serde_json::Value {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|jws| URL_SAFE_NO_PAD.decode(jws["payload"].as_str()?).ok())
            .and_then(|payload| serde_json::from_slice(&payload).ok())
            .unwrap_or(serde_json::Value::Null)
    }
}

/// What a handler gets: the request, the connection to answer on, and the [`Control`] of that
/// connection.
pub type Handler = dyn Fn(&Request, &mut dyn Write, &Control) + Send + Sync;

/// What a handler may know and ask of its connection besides writing to it.
pub struct Control {
    stop: Arc<AtomicBool>,
    reset: AtomicBool,
}

impl Control {
    /// True once the front is dropped: a handler that stalls must watch this and return.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Ends the connection with a TCP reset once the handler returns (SO_LINGER 0 and a close,
    /// without TLS close_notify), as a CA's crashing load balancer does.
    pub fn reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
    }
}

/// See the module docs. Stops accepting when dropped.
pub struct TlsFront {
    /// The port it listens on, 127.0.0.1.
    pub port: u16,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl TlsFront {
    /// Serves HTTPS on a free loopback port with the certificate chain and key in `cert_pem`
    /// and `key_pem`, one thread per connection, one request per connection.
    pub fn start(cert_pem: &str, key_pem: &str, handler: Arc<Handler>) -> Self {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .map(|c| c.unwrap())
                .collect();
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
        let (stop2, seen2) = (stop.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (config, handler, stop, seen) = (
                    config.clone(),
                    handler.clone(),
                    stop2.clone(),
                    seen2.clone(),
                );
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let Ok(conn) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let mut tls = rustls::StreamOwned::new(conn, stream);
                    let Some(request) = read_request(&mut tls) else {
                        return;
                    };
                    seen.lock().unwrap().push(request.clone());
                    let control = Control {
                        stop,
                        reset: AtomicBool::new(false),
                    };
                    handler(&request, &mut tls, &control);
                    let _ = tls.flush();
                    if control.reset.load(Ordering::SeqCst) {
                        let _ = socket2::SockRef::from(&tls.sock).set_linger(Some(Duration::ZERO));
                        return;
                    }
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        Self { port, stop, seen }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }

    /// `https://127.0.0.1:PORT/dir`.
    pub fn directory_url(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&loopback(self.port), Duration::from_millis(200));
    }
}

/// Reads one HTTP/1.x request (head, then a Content-Length body).
fn read_request(stream: &mut impl Read) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

/// Writes a complete HTTP/1.1 response that closes the connection.
pub fn respond(out: &mut dyn Write, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(body);
}

/// A 200 whose body breaks off: a reset after part of it, or (`endless`) one byte every 100 ms
/// for as long as the client listens.
fn broken_answer(out: &mut dyn Write, control: &Control, endless: bool) {
    let head = match endless {
        true => {
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
        }
        false => {
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n{\"status\":"
        }
    };
    if out.write_all(head.as_bytes()).is_err() || out.flush().is_err() {
        return;
    }
    if !endless {
        return control.reset();
    }
    while !control.stopping() {
        if out.write_all(b"1\r\n \r\n").is_err() || out.flush().is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An HTTP response read from upstream.
struct Upstream {
    status: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Sends `req` to pebble over HTTPS as HTTP/1.0 (so the answer ends at the close, never
/// chunked), keeping the Host header: pebble builds its URLs, and checks each JWS `url`, from
/// it, so everything it links to stays behind the front.
fn forward(req: &Request, pebble_port: u16, roots: &rustls::RootCertStore) -> Upstream {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots.clone())
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = TcpStream::connect(loopback(pebble_port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let mut head = format!("{} {} HTTP/1.0\r\n", req.method, req.path);
    for (n, v) in &req.headers {
        if !["connection", "keep-alive", "content-length"]
            .iter()
            .any(|h| n.eq_ignore_ascii_case(h))
        {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", req.body.len()));
    tls.write_all(head.as_bytes()).unwrap();
    tls.write_all(&req.body).unwrap();
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => panic!("ARI front: pebble: {e}"),
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head from pebble");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_once(' '))
        .map(|(_, s)| s.to_owned())
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Upstream {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// What [`AriFront`] answers, set by the test at any time.
#[derive(Clone, Debug)]
pub struct AriSettings {
    /// The suggested window, Unix seconds (start, end).
    pub window: (i64, i64),
    /// The Retry-After header, seconds.
    pub retry_after: u64,
    /// Refuse the next new order that carries `replaces` with this ACME error type
    /// (`alreadyReplaced`, `malformed`), once; `ignore` passes it to pebble without echoing
    /// `replaces` (a CA that advertises ARI but ignores the field).
    pub refuse_replaces: Option<&'static str>,
    /// Answer every request (`Storm::ServerError`) or every POST (`Storm::BadNonce`) with that
    /// fault instead of passing it to pebble, until set back to None.
    pub storm: Option<Storm>,
}

/// A CA fault repeated for as long as it is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storm {
    /// 500 Internal Server Error, ACME `serverInternal`.
    ServerError,
    /// 400, ACME `badNonce`, with a fresh nonce each time (as a CA does).
    BadNonce,
    /// To every POST: a 200 head announcing 5000 bytes, part of the body, then a TCP reset.
    ResetMidBody,
    /// To every POST: a 200 head, then a chunked body trickling one byte every 100 ms, never
    /// ending (until certctl hangs up or the front is dropped).
    EndlessBody,
}

/// pebble behind a front that adds `renewalInfo` to the directory and answers it with the
/// window the test sets; every other request goes to pebble unchanged.
pub struct AriFront {
    /// The HTTPS front (its requests are the record of what certctl sent).
    pub front: TlsFront,
    /// What it answers.
    pub settings: Arc<Mutex<AriSettings>>,
}

impl AriFront {
    /// A front for pebble on `pebble_port`, serving with pebble's own certificate and key (files
    /// in `lab_dir`) and trusting `ca_bundle` (the lab CA) for the way to pebble.
    pub fn start(lab_dir: &Path, pebble_port: u16, ca_bundle: &Path) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca_bundle).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let settings = Arc::new(Mutex::new(AriSettings {
            window: (0, 0),
            retry_after: 3600,
            refuse_replaces: None,
            storm: None,
        }));
        let nonces = std::sync::atomic::AtomicU64::new(0);
        let ours = settings.clone();
        let handler = move |req: &Request, out: &mut dyn Write, control: &Control| {
            let host = req
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("host"))
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let storm = ours.lock().unwrap().storm;
            if req.method == "POST"
                && matches!(storm, Some(Storm::ResetMidBody | Storm::EndlessBody))
            {
                return broken_answer(out, control, storm == Some(Storm::EndlessBody));
            }
            let (status, kind) = match storm {
                Some(Storm::ServerError) => ("500 Internal Server Error", "serverInternal"),
                Some(Storm::BadNonce) if req.method == "POST" => ("400 Bad Request", "badNonce"),
                _ => ("", ""),
            };
            if !kind.is_empty() {
                let nonce = format!("storm{}", nonces.fetch_add(1, Ordering::SeqCst));
                let problem = serde_json::json!({
                    "type": format!("urn:ietf:params:acme:error:{kind}"),
                    "detail": "the fault front's storm",
                });
                return respond(
                    out,
                    status,
                    &[
                        ("content-type", "application/problem+json".into()),
                        ("replay-nonce", nonce),
                    ],
                    problem.to_string().as_bytes(),
                );
            }
            if let Some(id) = req.path.strip_prefix("/renewal-info/") {
                let s = ours.lock().unwrap().clone();
                let at = |t: i64| {
                    time::OffsetDateTime::from_unix_timestamp(t)
                        .unwrap()
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap()
                };
                let body = serde_json::json!({
                    "suggestedWindow": {"start": at(s.window.0), "end": at(s.window.1)},
                    "explanationURL": format!("https://{host}/why/{id}"),
                });
                return respond(
                    out,
                    "200 OK",
                    &[
                        ("content-type", "application/json".into()),
                        ("retry-after", s.retry_after.to_string()),
                    ],
                    body.to_string().as_bytes(),
                );
            }
            // pebble 2.4 ignores `replaces`; an ARI CA echoes it in the order (RFC 9773).
            let mut echo = None;
            if req.method == "POST" && req.path == "/order-plz" {
                let payload = req.jws_payload();
                let mut s = ours.lock().unwrap();
                echo = payload.get("replaces").cloned();
                if echo.is_some() && s.refuse_replaces == Some("ignore") {
                    s.refuse_replaces = None;
                    echo = None;
                } else if echo.is_some()
                    && let Some(kind) = s.refuse_replaces.take()
                {
                    let status = match kind {
                        "alreadyReplaced" => "409 Conflict",
                        _ => "400 Bad Request",
                    };
                    let problem = serde_json::json!({
                        "type": format!("urn:ietf:params:acme:error:{kind}"),
                        "detail": "the ARI front refuses this replaces field",
                    });
                    return respond(
                        out,
                        status,
                        &[("content-type", "application/problem+json".into())],
                        problem.to_string().as_bytes(),
                    );
                }
            }
            let mut up = forward(req, pebble_port, &roots);
            if let Some(replaces) = echo
                && up.status.starts_with('2')
            {
                let mut order: serde_json::Value = serde_json::from_slice(&up.body).unwrap();
                order["replaces"] = replaces;
                up.body = order.to_string().into_bytes();
            }
            if req.path == "/dir" {
                let mut dir: serde_json::Value = serde_json::from_slice(&up.body).unwrap();
                dir["renewalInfo"] = format!("https://{host}/renewal-info").into();
                up.body = dir.to_string().into_bytes();
            }
            let headers: Vec<(&str, String)> = up
                .headers
                .iter()
                .filter(|(n, _)| {
                    !["connection", "content-length", "transfer-encoding"]
                        .iter()
                        .any(|h| n.eq_ignore_ascii_case(h))
                })
                .map(|(n, v)| (n.as_str(), v.clone()))
                .collect();
            respond(out, &up.status, &headers, &up.body);
        };
        let cert = std::fs::read_to_string(lab_dir.join("pebble-cert.pem")).unwrap();
        let key = std::fs::read_to_string(lab_dir.join("pebble-key.pem")).unwrap();
        Self {
            front: TlsFront::start(&cert, &key, Arc::new(handler)),
            settings,
        }
    }

    /// Sets the window, Retry-After and refusal for the next answers.
    pub fn set(&self, f: impl FnOnce(&mut AriSettings)) {
        f(&mut self.settings.lock().unwrap());
    }

    /// The front's directory URL (what certctl gets as --server).
    pub fn directory_url(&self) -> String {
        self.front.directory_url()
    }

    /// The payloads of every new order certctl sent.
    pub fn new_orders(&self) -> Vec<serde_json::Value> {
        self.front
            .seen()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/order-plz")
            .map(Request::jws_payload)
            .collect()
    }

    /// How many renewalInfo requests certctl made.
    pub fn renewal_info_requests(&self) -> usize {
        self.front
            .seen()
            .iter()
            .filter(|r| r.path.starts_with("/renewal-info/"))
            .count()
    }
}
