//! HTTP-01 responders and the local self-check.
//!
//! A responder makes `http://<name>/.well-known/acme-challenge/<token>` answer with the key
//! authorization: [`Webroot`] writes files for an existing web server, [`Standalone`] runs a small
//! HTTP server for the duration of the order. Both remove what they published when dropped, so
//! tokens are cleaned up on success, failure and interruption alike.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::AcmeError;
use crate::names::Identifier;

/// The path prefix HTTP-01 uses (RFC 8555 section 8.3).
pub const CHALLENGE_PATH: &str = "/.well-known/acme-challenge/";

/// Something that serves HTTP-01 key authorizations. Implementations clean up on drop.
pub trait Http01Responder: Send {
    /// Makes `token` answer with `key_authorization`.
    fn publish(&mut self, token: &str, key_authorization: &str) -> Result<(), AcmeError>;
    /// Removes everything published so far (idempotent).
    fn cleanup(&mut self);
}

/// Tokens come from the CA; they end up in file names, so only base64url characters pass.
fn check_token(token: &str) -> Result<(), AcmeError> {
    let ok = !token.is_empty()
        && token.len() <= 256
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(AcmeError::Protocol(format!(
            "the CA sent a challenge token that is not base64url: {token:?}"
        )))
    }
}

/// Writes token files under `ROOT/.well-known/acme-challenge/`.
///
/// certctl often runs as root while the webroot belongs to the web user, who could plant
/// symlinks there to redirect root's writes and mode changes. So every step goes through an open
/// directory handle, never a path: `.well-known` and `acme-challenge` are opened with
/// `O_NOFOLLOW` (a symlink is refused, nothing is written through it), created with `mkdirat`
/// when missing, the token is created with `O_CREAT | O_EXCL | O_NOFOLLOW` inside the opened
/// directory, and modes are set on the open handles (`fchmod`), whatever the umask: directories
/// 0755 and tokens 0644, because the web server (another user) must read them. A challenge
/// directory certctl made 0700 in the past (under the timer's `UMask=0077`) and still owns is
/// opened up to 0755 again.
#[derive(Debug)]
pub struct Webroot {
    root: PathBuf,
    dir: Option<OwnedFd>,
    written: Vec<String>,
}

impl Webroot {
    /// A responder for the web root `root`, which must exist. A probe file is written and removed
    /// at once, so an unwritable webroot is found before the CA is asked for anything.
    pub fn new(root: &Path) -> Result<Self, AcmeError> {
        if !root.is_dir() {
            return Err(AcmeError::Responder(format!(
                "--webroot {} is not a directory",
                root.display()
            )));
        }
        let mut webroot = Self {
            root: root.to_owned(),
            dir: None,
            written: Vec::new(),
        };
        let probe = format!("certctl-probe-{}", std::process::id());
        webroot.publish(&probe, "probe")?;
        webroot.cleanup();
        Ok(webroot)
    }

    /// The challenge directory's path, for messages.
    fn dir_path(&self) -> PathBuf {
        self.root.join(CHALLENGE_PATH.trim_matches('/'))
    }

    /// The open challenge directory, opened (and made) component by component without
    /// following symlinks.
    fn challenge_dir(&mut self) -> Result<&OwnedFd, AcmeError> {
        use rustix::fs::{Mode, OFlags};
        if self.dir.is_none() {
            let io = |what: &str, path: &Path, e: rustix::io::Errno| {
                AcmeError::Responder(format!(
                    "cannot {what} {}: {}",
                    path.display(),
                    std::io::Error::from(e)
                ))
            };
            let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            // The root itself is the user's choice and may be a symlink.
            let mut parent = rustix::fs::open(&self.root, dir_flags, Mode::empty())
                .map_err(|e| io("open", &self.root, e))?;
            let mut path = self.root.clone();
            for name in [".well-known", "acme-challenge"] {
                path.push(name);
                let created = match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755)) {
                    Ok(()) => true,
                    Err(rustix::io::Errno::EXIST) => false,
                    Err(e) => return Err(io("create", &path, e)),
                };
                let dir =
                    rustix::fs::openat(&parent, name, dir_flags | OFlags::NOFOLLOW, Mode::empty())
                        .map_err(|e| match e {
                            rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => {
                                AcmeError::UnsafeWebroot {
                                    path: path.clone(),
                                    reason: "it is a symlink or not a directory",
                                }
                            }
                            e => io("open", &path, e),
                        })?;
                let stat = rustix::fs::fstat(&dir).map_err(|e| io("inspect", &path, e))?;
                let mode = stat.st_mode & 0o7777;
                let ours = stat.st_uid == rustix::process::geteuid().as_raw();
                if created || (ours && mode & 0o055 != 0o055) {
                    rustix::fs::fchmod(&dir, Mode::from_raw_mode(mode | 0o755))
                        .map_err(|e| io("set permissions on", &path, e))?;
                }
                parent = dir;
            }
            self.dir = Some(parent);
        }
        Ok(self.dir.as_ref().expect("opened above"))
    }
}

impl Http01Responder for Webroot {
    fn publish(&mut self, token: &str, key_authorization: &str) -> Result<(), AcmeError> {
        use rustix::fs::{AtFlags, Mode, OFlags};
        check_token(token)?;
        let path = self.dir_path().join(token);
        let fail = |what: &str, e: std::io::Error| {
            AcmeError::Responder(format!("cannot {what} {}: {e}", path.display()))
        };
        let dir = self.challenge_dir()?;
        // A leftover (or a planted symlink) is removed, never followed: unlinkat removes the
        // link itself, and O_EXCL | O_NOFOLLOW refuses anything that appears in between.
        match rustix::fs::unlinkat(dir, token, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(fail("remove the old", e.into())),
        }
        let fd = rustix::fs::openat(
            dir,
            token,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map_err(|e| fail("create", e.into()))?;
        // The web server (often another user) must read it, whatever the umask says.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o644))
            .map_err(|e| fail("set permissions on", e.into()))?;
        let mut file = fs::File::from(fd);
        std::io::Write::write_all(&mut file, key_authorization.as_bytes())
            .map_err(|e| fail("write", e))?;
        self.written.push(token.to_owned());
        Ok(())
    }

    fn cleanup(&mut self) {
        let Some(dir) = &self.dir else {
            return;
        };
        for token in self.written.drain(..) {
            match rustix::fs::unlinkat(dir, token.as_str(), rustix::fs::AtFlags::empty()) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => {}
                Err(e) => tracing::warn!(
                    "cannot remove challenge file {}: {}",
                    self.root
                        .join(CHALLENGE_PATH.trim_matches('/'))
                        .join(&token)
                        .display(),
                    std::io::Error::from(e)
                ),
            }
        }
    }
}

impl Drop for Webroot {
    fn drop(&mut self) {
        self.cleanup();
    }
}

type Tokens = Arc<Mutex<HashMap<String, String>>>;

/// A built-in HTTP server answering challenges on a port, all addresses, until dropped.
pub struct Standalone {
    tokens: Tokens,
    port: u16,
    server: tokio::task::JoinHandle<()>,
}

impl Standalone {
    /// Binds `port` on all addresses (IPv6 and IPv4) and starts serving.
    pub async fn start(port: u16) -> Result<Self, AcmeError> {
        // The previous certificate's responder (renew runs them in turn) may still be letting go
        // of the port: its aborted task drops the listener the next time the runtime runs it.
        let mut waited = 0;
        let listener = loop {
            match bind_any(port).await {
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && waited < 50 => {
                    waited += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => break other,
            }
        }
        .map_err(|e| {
            AcmeError::Responder(format!(
                "cannot listen on port {port} for the standalone responder: {e} (is a web server using it? then use --webroot)"
            ))
        })?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        let tokens: Tokens = Arc::default();
        let server = tokio::spawn(serve(listener, tokens.clone()));
        Ok(Self {
            tokens,
            port,
            server,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Http01Responder for Standalone {
    fn publish(&mut self, token: &str, key_authorization: &str) -> Result<(), AcmeError> {
        check_token(token)?;
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.to_owned(), key_authorization.to_owned());
        Ok(())
    }

    fn cleanup(&mut self) {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

/// Binds `port` on IPv6 and IPv4 (dual stack), or IPv4 only where IPv6 is off.
async fn bind_any(port: u16) -> std::io::Result<TcpListener> {
    match TcpListener::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(e),
        Err(_) => TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))).await,
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, tokens: Tokens) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let tokens = tokens.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let tokens = tokens.clone();
                async move { Ok::<_, Infallible>(answer(&req, &tokens)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(Duration::from_secs(30), conn).await;
        });
    }
}

fn answer<B>(req: &Request<B>, tokens: &Tokens) -> Response<Full<Bytes>> {
    let found = req
        .uri()
        .path()
        .strip_prefix(CHALLENGE_PATH)
        .and_then(|token| {
            tokens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(token)
                .cloned()
        });
    let (status, body) = match found {
        Some(key_authorization) => (StatusCode::OK, key_authorization),
        None => (StatusCode::NOT_FOUND, String::from("not found\n")),
    };
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

/// One token to check: the identifier, the token and the expected key authorization.
#[derive(Clone, Debug)]
pub struct PublishedToken {
    /// The identifier being validated.
    pub identifier: Identifier,
    /// The challenge token.
    pub token: String,
    /// The body the CA expects.
    pub key_authorization: String,
}

/// How long one self-check fetch may take, redirects, head and body together.
pub const SELF_CHECK_DEADLINE: Duration = Duration::from_secs(5);
/// The largest body the self-check reads: a key authorization is under 200 bytes, and an error
/// page worth quoting is a few kilobytes.
pub const SELF_CHECK_MAX_BODY: usize = 64 * 1024;

/// Fetches every token from the local web server on `port`, as the CA would: the name resolves
/// to 127.0.0.1 (so the Host header is the name), redirects are followed, to HTTPS too, without
/// checking the certificate (the CA does not either). A redirect to another host cannot be
/// followed locally; it is accepted with a warning. Stops at the first failure. Each fetch ends
/// within [`SELF_CHECK_DEADLINE`] and reads at most [`SELF_CHECK_MAX_BODY`].
pub async fn self_check(port: u16, tokens: &[PublishedToken]) -> Result<(), AcmeError> {
    self_check_via(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), tokens).await
}

/// [`self_check`] through another address: each name resolves to `target` (`certctl doctor`
/// fetches a probe token through the address DNS gives for the name, as the CA would).
pub async fn self_check_via(
    target: SocketAddr,
    tokens: &[PublishedToken],
) -> Result<(), AcmeError> {
    self_check_within(target, tokens, SELF_CHECK_DEADLINE, SELF_CHECK_MAX_BODY).await
}

async fn self_check_within(
    target: SocketAddr,
    tokens: &[PublishedToken],
    deadline: Duration,
    max_body: usize,
) -> Result<(), AcmeError> {
    // One client for every token: each name resolves to `target`, and a redirect is followed
    // only while it stays on the host the request started with.
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(deadline)
        .timeout(deadline)
        .tcp_keepalive(Duration::from_secs(30))
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let first_host = attempt.previous().first().and_then(|u| u.host_str());
            if attempt.previous().len() >= 10 {
                attempt.error("more than 10 redirects")
            } else if attempt.url().host_str() == first_host {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }));
    for t in tokens {
        if let Identifier::Dns(name) = &t.identifier {
            builder = builder.resolve(name, target);
        }
    }
    let client = builder
        .build()
        .map_err(|e| AcmeError::Responder(format!("cannot start the self-check: {e}")))?;
    for t in tokens {
        let host = t.identifier.host_header();
        let url = format!("http://{host}:{}{CHALLENGE_PATH}{}", target.port(), t.token);
        let fail = |reason: String| AcmeError::SelfCheck {
            identifier: t.identifier.clone(),
            url: url.clone(),
            host: host.clone(),
            reason,
        };
        let fetched =
            tokio::time::timeout(deadline, fetch(&client, &url, deadline, max_body)).await;
        let (status, body) = match fetched {
            Err(_) => {
                return Err(fail(timed_out(deadline)));
            }
            Ok(Err(reason)) => return Err(fail(reason)),
            Ok(Ok(Fetched::Redirect(to))) => {
                tracing::warn!(
                    "self-check for {host}: redirected to {to}, which cannot be checked locally"
                );
                continue;
            }
            Ok(Ok(Fetched::Answer(status, body))) => (status, body),
        };
        if !status.is_success() {
            return Err(fail(format!("answered {status} instead of the token")));
        }
        if body.trim_end() != t.key_authorization {
            return Err(fail(format!(
                "answered {status} with {} bytes that are not this token's key authorization",
                body.len()
            )));
        }
    }
    Ok(())
}

fn timed_out(deadline: Duration) -> String {
    format!(
        "gave no complete answer within {} s",
        deadline.as_secs_f32()
    )
}

enum Fetched {
    Redirect(String),
    Answer(reqwest::StatusCode, String),
}

/// One GET, its body read chunk by chunk up to `max_body` bytes.
async fn fetch(
    client: &reqwest::Client,
    url: &str,
    deadline: Duration,
    max_body: usize,
) -> Result<Fetched, String> {
    let timed_out = || timed_out(deadline);
    let mut rsp = client
        .get(url)
        .send()
        .await
        .map_err(|e| match e.is_timeout() {
            true => timed_out(),
            false => format!("could not be fetched: {}", super::error_chain(&e)),
        })?;
    let status = rsp.status();
    if status.is_redirection() {
        let to = rsp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("?");
        return Ok(Fetched::Redirect(to.to_owned()));
    }
    let too_large = || format!("answered {status} with a body larger than {max_body} bytes");
    if rsp.content_length().is_some_and(|n| n > max_body as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = rsp.chunk().await.map_err(|e| match e.is_timeout() {
        true => timed_out(),
        false => format!("sent an unreadable body: {}", super::error_chain(&e)),
    })? {
        if body.len() + chunk.len() > max_body {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched::Answer(
        status,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(port_id: &str) -> PublishedToken {
        PublishedToken {
            identifier: Identifier::Dns("a.test".into()),
            token: port_id.into(),
            key_authorization: format!("{port_id}.thumb"),
        }
    }

    #[test]
    fn webroot_writes_and_removes_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".well-known/acme-challenge/tok_1");
        {
            let mut w = Webroot::new(dir.path()).unwrap();
            w.publish("tok_1", "tok_1.thumb").unwrap();
            assert_eq!(fs::read_to_string(&file).unwrap(), "tok_1.thumb");
        }
        assert!(!file.exists(), "dropping the responder removes the token");
    }

    #[test]
    fn webroot_refuses_symlinked_challenge_directories_and_writes_nothing_through_them() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let elsewhere = tempfile::tempdir().unwrap();
        // acme-challenge is a link to a directory root should never write into.
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(".well-known")).unwrap();
        symlink(
            elsewhere.path(),
            dir.path().join(".well-known/acme-challenge"),
        )
        .unwrap();
        fs::set_permissions(elsewhere.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let err = Webroot::new(dir.path()).unwrap_err();
        assert!(matches!(err, AcmeError::UnsafeWebroot { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("acme-challenge") && text.contains("symlink") && !text.contains('\n'),
            "{text}"
        );
        assert_eq!(
            fs::read_dir(elsewhere.path()).unwrap().count(),
            0,
            "nothing written"
        );
        assert_eq!(
            fs::metadata(elsewhere.path()).unwrap().permissions().mode() & 0o777,
            0o700,
            "no mode changed through the link"
        );
        // .well-known itself a link: refused the same way.
        let dir = tempfile::tempdir().unwrap();
        symlink(elsewhere.path(), dir.path().join(".well-known")).unwrap();
        let err = Webroot::new(dir.path()).unwrap_err();
        assert!(err.to_string().contains(".well-known"), "{err}");
        assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }

    #[test]
    fn webroot_never_follows_a_planted_token_symlink_and_sets_modes_itself() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let dir = tempfile::tempdir().unwrap();
        let mut w = Webroot::new(dir.path()).unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep").unwrap();
        let token = dir.path().join(".well-known/acme-challenge/tok_6");
        symlink(&victim, &token).unwrap();
        w.publish("tok_6", "tok_6.thumb").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
        let meta = fs::symlink_metadata(&token).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);
        for d in [".well-known", ".well-known/acme-challenge"] {
            let mode = fs::metadata(dir.path().join(d))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o755, "{d}");
        }
        // A challenge directory certctl once made 0700 is opened up again.
        drop(w);
        let challenge = dir.path().join(".well-known/acme-challenge");
        fs::set_permissions(&challenge, fs::Permissions::from_mode(0o700)).unwrap();
        Webroot::new(dir.path()).unwrap();
        assert_eq!(
            fs::metadata(&challenge).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }

    #[test]
    fn refuses_tokens_that_could_escape_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Webroot::new(dir.path()).unwrap();
        assert!(w.publish("../../etc/passwd", "x").is_err());
        assert!(w.publish("", "x").is_err());
        assert!(Webroot::new(&dir.path().join("missing")).is_err());
    }

    #[tokio::test]
    async fn standalone_serves_tokens_and_self_check_sees_them() {
        let mut s = Standalone::start(0).await.unwrap();
        let t = token("tok-2");
        s.publish(&t.token, &t.key_authorization).unwrap();
        self_check(s.port(), std::slice::from_ref(&t))
            .await
            .unwrap();
        s.cleanup();
        let err = self_check(s.port(), &[t]).await.unwrap_err();
        assert!(err.to_string().contains("404"), "{err}");
    }

    /// A deliberately broken web server (nginx and the standalone responder never misbehave
    /// this way): it sends a response head, then `body` forever or nothing more.
    async fn misbehaving_server(endless: bool) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let head = match endless {
                        true => "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                        false => "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\ntok",
                    };
                    let _ = s.write_all(head.as_bytes()).await;
                    let chunk = format!("1000\r\n{}\r\n", "x".repeat(0x1000));
                    loop {
                        if endless && s.write_all(chunk.as_bytes()).await.is_err() {
                            return;
                        }
                        if !endless {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                        }
                    }
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn self_check_gives_up_on_a_body_that_never_ends_or_never_finishes() {
        let endless = misbehaving_server(true).await;
        let err = self_check_within(
            SocketAddr::from((Ipv4Addr::LOCALHOST, endless)),
            &[token("tok-4")],
            Duration::from_secs(5),
            1024,
        )
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("body larger than 1024 bytes"), "{text}");
        assert!(!text.contains('\n'));

        let stalled = misbehaving_server(false).await;
        let started = std::time::Instant::now();
        let err = self_check_within(
            SocketAddr::from((Ipv4Addr::LOCALHOST, stalled)),
            &[token("tok-5")],
            Duration::from_millis(300),
            1024,
        )
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("no complete answer"), "{text}");
        assert!(!text.contains('\n'));
        // A hang guard, not a timing: the deadline is 0.3 s.
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn self_check_reports_wrong_content() {
        let mut s = Standalone::start(0).await.unwrap();
        s.publish("tok-3", "something else").unwrap();
        let err = self_check(s.port(), &[token("tok-3")]).await.unwrap_err();
        assert!(matches!(err, AcmeError::SelfCheck { .. }));
        assert!(
            err.to_string()
                .contains("not this token's key authorization")
        );
    }
}
