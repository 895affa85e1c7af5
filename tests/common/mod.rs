//! The lab: real pebble + pebble-challtestsrv (and, when asked, a private nginx) on free loopback
//! ports, in a temporary directory. Every process is killed and waited for when the `Lab` drops.
//!
//! Missing binaries fail loudly with the apt-get line to run; tests are never skipped.

#![allow(dead_code)]

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};

/// A child process that is killed and reaped on drop.
pub struct Subprocess {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Subprocess {
    fn spawn(name: &'static str, mut cmd: Command, log: PathBuf) -> Self {
        let out = fs::File::create(&log).expect("create log file");
        let err = out.try_clone().expect("clone log handle");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {name}: {e}. Install the lab with: apt-get install -y pebble nginx openssl curl"
            )
        });
        Self { name, child, log }
    }

    /// Polls `addr` with growing sleeps until it accepts, or panics with the process log.
    fn wait_for_port(&mut self, addr: SocketAddr) {
        if let Err(e) = self.try_wait_for_port(addr) {
            panic!("{e}");
        }
    }

    /// Like [`Subprocess::wait_for_port`], with the failure as a message.
    fn try_wait_for_port(&mut self, addr: SocketAddr) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut pause = Duration::from_millis(5);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}) before listening on {addr}; log {}:\n{}",
                    self.name,
                    self.log.display(),
                    fs::read_to_string(&self.log).unwrap_or_default()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not listen on {addr} within 20 s; log {}:\n{}",
                    self.name,
                    self.log.display(),
                    fs::read_to_string(&self.log).unwrap_or_default()
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }
}

impl Drop for Subprocess {
    /// SIGTERM first, so nginx's master stops its workers (SIGKILL would orphan them, still
    /// listening); SIGKILL after two seconds.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(2);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1, from the kernel, and never one this test process handed out
/// before: the port is released before pebble or nginx binds it, and the kernel may offer it
/// again to a parallel test in between.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind 127.0.0.1:0");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Lab options.
#[derive(Clone, Debug, Default)]
pub struct LabOptions {
    /// PEBBLE_WFE_NONCEREJECT (percent); None keeps pebble's default (5%).
    pub nonce_reject: Option<u8>,
    /// PEBBLE_AUTHZREUSE (percent); None keeps pebble's default (50%).
    pub authz_reuse: Option<u8>,
    /// Serve HTTP-01 through a real nginx with a webroot.
    pub nginx: bool,
    /// A private nginx laid out like Debian's (sites-available, sites-enabled, snippets), empty
    /// but for a default server, for certctl to manage.
    pub managed_nginx: bool,
    /// PEBBLE_ALTERNATE_ROOTS: extra roots, each with its own chain offered as an alternate.
    pub alternate_roots: Option<u8>,
    /// pebble's certificateValidityPeriod in seconds (None: pebble's default, years). Anything
    /// under a day is due for renewal at once.
    pub validity_secs: Option<u64>,
}

/// See the module docs.
pub struct Lab {
    pub dir: tempfile::TempDir,
    /// The port pebble validates HTTP-01 on (standalone responder or nginx listen here).
    pub http_port: u16,
    pub acme_port: u16,
    pub mgmt_port: u16,
    /// The lab CA that signed pebble's HTTPS certificate, followed by pebble's issuing root
    /// (for --ca-bundle: the CA's API and the trust check of renewed chains).
    pub ca_bundle: PathBuf,
    pub state_dir: PathBuf,
    /// nginx's document root for the challenge location, when the lab has nginx.
    pub webroot: PathBuf,
    /// The HTTPS port certctl's nginx sites listen on.
    pub https_port: u16,
    /// The private nginx's prefix directory.
    pub nginx_prefix: PathBuf,
    processes: Vec<Subprocess>,
}

impl Lab {
    /// pebble with its default nonce rejection and authorization reuse.
    pub fn start() -> Self {
        Self::with(LabOptions::default())
    }

    /// A lab with options.
    pub fn with(options: LabOptions) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // nginx workers run as nobody and must reach the webroot.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path().to_path_buf();
        let ca_bundle = root.join("lab-ca.pem");
        write_pebble_tls(&root, &ca_bundle);

        // Ports come from the kernel and are released before pebble binds them, so a parallel
        // test can take one in between: start again on other ports when that happens.
        let mut attempt = 0;
        let (http_port, acme_port, mgmt_port, processes) = loop {
            attempt += 1;
            match start_ca(&root, &options) {
                Ok(started) => break started,
                Err(e) if attempt < 4 => eprintln!("lab: {e}\nlab: retrying on other ports"),
                Err(e) => panic!("{e}"),
            }
        };

        let webroot = root.join("www");
        fs::create_dir(&webroot).unwrap();
        let mut lab = Self {
            https_port: free_port(),
            nginx_prefix: root.join("nginx"),
            state_dir: root.join("state"),
            dir,
            http_port,
            acme_port,
            mgmt_port,
            ca_bundle,
            webroot,
            processes,
        };
        let mut bundle = fs::read_to_string(&lab.ca_bundle).unwrap();
        for i in 0..=options.alternate_roots.unwrap_or(0) {
            bundle.push_str(&lab.pebble_root(i));
        }
        fs::write(&lab.ca_bundle, bundle).unwrap();
        if options.nginx {
            lab.start_nginx();
        }
        if options.managed_nginx {
            lab.start_managed_nginx();
        }
        lab
    }

    fn start_managed_nginx(&mut self) {
        let p = self.nginx_prefix.clone();
        for sub in [
            "tmp",
            "logs",
            "sites-available",
            "sites-enabled",
            "snippets",
            "acme",
        ] {
            fs::create_dir_all(p.join(sub)).unwrap();
        }
        let conf = format!(
            r#"{preamble}    # Debian's stock http-level line: certctl's server-level snippet must override it.
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    server {{
        listen 127.0.0.1:{port} default_server;
        return 404;
    }}
    include {p}/sites-enabled/*;
}}
"#,
            preamble = nginx_preamble(&p),
            p = p.display(),
            port = self.http_port,
        );
        fs::write(p.join("nginx.conf"), conf).unwrap();
        let mut cmd = Command::new("nginx");
        cmd.arg("-p")
            .arg(&p)
            .arg("-c")
            .arg(p.join("nginx.conf"))
            .arg("-e")
            .arg(p.join("logs/error.log"));
        let mut nginx = Subprocess::spawn("nginx", cmd, p.join("logs/stderr.log"));
        nginx.wait_for_port(loopback(self.http_port));
        self.processes.push(nginx);
    }

    /// Stops pebble (and so the CA): a later run that contacts it fails.
    pub fn stop_pebble(&mut self) {
        self.processes.retain(|p| p.name != "pebble");
    }

    /// `nginx -s SIGNAL` for the lab's nginx.
    pub fn nginx_signal(&self, signal: &str) -> Output {
        let p = self.nginx_prefix.display().to_string();
        Command::new("nginx")
            .args(["-p", &p, "-c", &format!("{p}/nginx.conf"), "-s", signal])
            .output()
            .expect("run nginx")
    }

    /// Reloads the lab's nginx after a test wrote a server of its own.
    pub fn reload_nginx(&self) {
        let reload = self.nginx_signal("reload");
        assert!(
            reload.status.success(),
            "nginx -s reload: {}",
            stderr(&reload)
        );
    }

    /// Stops the lab's nginx (`nginx -s stop`), so HTTP-01 validation through it fails.
    pub fn stop_nginx(&mut self) {
        let _ = self.nginx_signal("stop");
        // Wait for the master to stop its workers: killing it first would orphan them, still
        // serving.
        for process in self.processes.iter_mut().filter(|p| p.name == "nginx") {
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(process.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.processes.retain(|p| p.name != "nginx");
    }

    /// The leaf certificate (PEM) that the lab's nginx presents for `host` on the HTTPS port,
    /// verified against pebble's root; `sigalgs` limits what the client offers (TLS 1.2).
    pub fn served_leaf(&self, host: &str, sigalgs: Option<&str>) -> String {
        let (root, _) = self.pebble_roots();
        let root_path = self.dir.path().join("pebble-root.pem");
        fs::write(&root_path, root).unwrap();
        let mut cmd = Command::new("openssl");
        cmd.args(["s_client", "-connect"])
            .arg(format!("127.0.0.1:{}", self.https_port))
            .args(["-servername", host, "-verify_return_error", "-CAfile"])
            .arg(&root_path)
            .stdin(Stdio::null());
        if let Some(sigalgs) = sigalgs {
            cmd.args(["-tls1_2", "-sigalgs", sigalgs]);
        }
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success() && text.contains("Verify return code: 0 (ok)"),
            "{text}{}",
            stderr(&out)
        );
        const END: &str = "-----END CERTIFICATE-----";
        let begin = text
            .find("-----BEGIN CERTIFICATE-----")
            .expect("a certificate");
        let end = text.find(END).expect("a certificate");
        text[begin..end + END.len()].to_owned()
    }

    /// The flags that point certctl at the lab's private nginx.
    pub fn nginx_flags(&self) -> Vec<String> {
        let p = &self.nginx_prefix;
        let path = |sub: &str| p.join(sub).display().to_string();
        vec![
            "--nginx-prefix".into(),
            p.display().to_string(),
            "--nginx-conf".into(),
            path("nginx.conf"),
            "--nginx-sites".into(),
            path("sites-available"),
            "--nginx-enabled".into(),
            path("sites-enabled"),
            "--nginx-snippets".into(),
            path("snippets/certctl"),
            "--acme-webroot".into(),
            path("acme"),
            "--https-port".into(),
            self.https_port.to_string(),
            "--http-port".into(),
            self.http_port.to_string(),
            "--listen".into(),
            "127.0.0.1".into(),
        ]
    }

    fn start_nginx(&mut self) {
        let root = self.dir.path().to_path_buf();
        let prefix = root.join("nginx");
        for sub in ["", "tmp", "logs"] {
            fs::create_dir_all(prefix.join(sub)).unwrap();
        }
        let conf = format!(
            r#"{preamble}    # Requests without a *.test Host get 404, so tests prove the Host header is right.
    server {{
        listen 127.0.0.1:{port} default_server;
        return 404;
    }}
    server {{
        listen 127.0.0.1:{port};
        server_name ~^[a-z0-9.-]+\.test$;
        location /.well-known/acme-challenge/ {{
            root {www};
            default_type text/plain;
            try_files $uri =404;
        }}
        location / {{ return 301 https://$host$request_uri; }}
    }}
}}
"#,
            preamble = nginx_preamble(&prefix),
            port = self.http_port,
            www = self.webroot.display()
        );
        fs::write(prefix.join("nginx.conf"), conf).unwrap();
        let mut cmd = Command::new("nginx");
        cmd.arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .arg("-e")
            .arg(prefix.join("logs/error.log"));
        let mut nginx = Subprocess::spawn("nginx", cmd, prefix.join("logs/stderr.log"));
        nginx.wait_for_port(loopback(self.http_port));
        self.processes.push(nginx);
    }

    /// pebble's ACME directory URL.
    pub fn directory_url(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.acme_port)
    }

    /// The real certctl binary with `--state-dir` set and CERTCTL_* scrubbed from the env.
    pub fn certctl<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_certctl"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CERTCTL_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(args);
        cmd
    }

    /// `certctl issue NAME... --server <pebble> --ca-bundle <lab CA> --agree-tos` plus `extra`.
    pub fn issue(&self, names: &[&str], extra: &[&str]) -> Output {
        let (first, rest) = names.split_first().expect("at least one name");
        let mut args = vec!["issue".to_owned(), first.to_string()];
        for n in rest {
            args.extend(["-d".to_owned(), n.to_string()]);
        }
        args.extend(
            [
                "--server",
                &self.directory_url(),
                "--ca-bundle",
                self.ca_bundle.to_str().unwrap(),
                "--agree-tos",
            ]
            .map(str::to_owned),
        );
        args.extend(extra.iter().map(|s| s.to_string()));
        self.certctl(args).output().expect("run certctl")
    }

    /// `issue NAME --nginx --root <lab site dir>` on the lab's managed nginx, plus `extra`.
    pub fn issue_site(&self, name: &str, extra: &[&str]) -> Output {
        let site = self.dir.path().join("site");
        fs::create_dir_all(&site).unwrap();
        let flags = self.nginx_flags();
        let mut args: Vec<&str> = vec!["--nginx", "--root", site.to_str().unwrap()];
        args.extend(flags.iter().map(String::as_str));
        args.extend_from_slice(extra);
        self.issue(&[name], &args)
    }

    /// Like [`Lab::issue`] with the standalone responder on the lab's HTTP port.
    pub fn issue_standalone(&self, names: &[&str], extra: &[&str]) -> Output {
        let port = self.http_port.to_string();
        let mut all = vec!["--standalone", "--http-port", &port];
        all.extend_from_slice(extra);
        self.issue(names, &all)
    }

    /// pebble's root number `i` (PEM; 0 is the default chain's, 1… the alternates').
    pub fn pebble_root(&self, i: u8) -> String {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--noproxy", "*", "--cacert"])
            .arg(&self.ca_bundle)
            .arg(format!("https://127.0.0.1:{}/roots/{i}", self.mgmt_port))
            .output()
            .expect("run curl (apt-get install -y curl)");
        assert!(out.status.success(), "curl /roots/{i}: {}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// pebble's current root and intermediates (PEM), from the management interface.
    pub fn pebble_roots(&self) -> (String, String) {
        let fetch = |path: &str| {
            let out = Command::new("curl")
                .args(["-sS", "--fail", "--noproxy", "*", "--cacert"])
                .arg(&self.ca_bundle)
                .arg(format!("https://127.0.0.1:{}{path}", self.mgmt_port))
                .output()
                .expect("run curl (apt-get install -y curl)");
            assert!(
                out.status.success(),
                "curl {path}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        (fetch("/roots/0"), fetch("/intermediates/0"))
    }

    /// Verifies a live certificate with the real `openssl verify` against pebble's root.
    pub fn assert_chain_verifies(&self, name: &str) {
        let (root, _) = self.pebble_roots();
        let root_path = self.dir.path().join("pebble-root.pem");
        fs::write(&root_path, root).unwrap();
        let live = self.live(name);
        let out = Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(&root_path)
            .arg("-untrusted")
            .arg(live.join("chain.pem"))
            .arg(live.join("cert.pem"))
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl verify failed for {name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// live/NAME
    pub fn live(&self, name: &str) -> PathBuf {
        self.state_dir.join("live").join(name)
    }
}

/// challtestsrv and pebble on fresh ports: (http, acme, management ports, the processes).
fn start_ca(root: &Path, options: &LabOptions) -> Result<(u16, u16, u16, Vec<Subprocess>), String> {
    let (http_port, acme_port, mgmt_port, dns_port, cts_port) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let mut config = serde_json::json!({"pebble": {
        "listenAddress": format!("127.0.0.1:{acme_port}"),
        "managementListenAddress": format!("127.0.0.1:{mgmt_port}"),
        "certificate": root.join("pebble-cert.pem"),
        "privateKey": root.join("pebble-key.pem"),
        "httpPort": http_port,
        "tlsPort": free_port(),
        "ocspResponderURL": "",
        "externalAccountBindingRequired": false,
    }});
    if let Some(secs) = options.validity_secs {
        config["pebble"]["certificateValidityPeriod"] = secs.into();
    }
    fs::write(root.join("pebble.json"), config.to_string()).unwrap();

    let mut cts = Command::new("pebble-challtestsrv");
    cts.args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
        .args(["-dns01", &format!("127.0.0.1:{dns_port}")])
        .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
        .args(["-management", &format!("127.0.0.1:{cts_port}")]);
    let mut cts = Subprocess::spawn("pebble-challtestsrv", cts, root.join("challtestsrv.log"));
    cts.try_wait_for_port(loopback(cts_port))?;

    let mut pebble = Command::new("pebble");
    pebble
        .arg("-config")
        .arg(root.join("pebble.json"))
        .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
        .env("PEBBLE_VA_NOSLEEP", "1");
    if let Some(p) = options.nonce_reject {
        pebble.env("PEBBLE_WFE_NONCEREJECT", p.to_string());
    }
    if let Some(p) = options.authz_reuse {
        pebble.env("PEBBLE_AUTHZREUSE", p.to_string());
    }
    if let Some(n) = options.alternate_roots {
        pebble.env("PEBBLE_ALTERNATE_ROOTS", n.to_string());
    }
    let mut pebble = Subprocess::spawn("pebble", pebble, root.join("pebble.log"));
    pebble.try_wait_for_port(loopback(acme_port))?;
    pebble.try_wait_for_port(loopback(mgmt_port))?;
    Ok((http_port, acme_port, mgmt_port, vec![cts, pebble]))
}

/// The top of every lab nginx.conf: everything nginx writes stays inside the prefix.
fn nginx_preamble(prefix: &Path) -> String {
    format!(
        r#"daemon off;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/logs/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {p}/logs/access.log;
    client_body_temp_path {p}/tmp/body;
    proxy_temp_path {p}/tmp/proxy;
    fastcgi_temp_path {p}/tmp/fastcgi;
    uwsgi_temp_path {p}/tmp/uwsgi;
    scgi_temp_path {p}/tmp/scgi;
"#,
        p = prefix.display()
    )
}

/// A lab CA and a certificate for pebble's HTTPS API (127.0.0.1, localhost) signed by it: webpki
/// refuses a self-signed CA certificate used as a server certificate.
fn write_pebble_tls(root: &Path, ca_path: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "certctl lab CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, &ca_key);

    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let cert = params.signed_by(&key, &issuer).unwrap();
    fs::write(ca_path, ca_cert.pem()).unwrap();
    fs::write(root.join("pebble-cert.pem"), cert.pem()).unwrap();
    fs::write(root.join("pebble-key.pem"), key.serialize_pem()).unwrap();
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success, showing stderr otherwise.
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "certctl failed ({}):\n{}",
        out.status,
        stderr(out)
    );
}

/// File mode bits.
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// An HTTP response, as much as the tests look at.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }
}

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
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(loopback(port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    Ok(parse_response(&raw))
}

/// An HTTPS GET with rustls: SNI `host`, the chain verified against `root_pem`.
pub fn https_get(
    port: u16,
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
    let sock = TcpStream::connect(loopback(port)).map_err(|e| e.to_string())?;
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

/// Retries `f` for up to 15 s until it returns Some: nginx reloads asynchronously, and a loaded
/// CI machine can be slow about it.
pub fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "condition not met within 15 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}
