//! The [`Lab`]: real pebble + pebble-challtestsrv on free loopback ports in a temporary
//! directory (and, when asked, a private nginx: see `nginx.rs`), and the real certctl binary
//! pointed at them. Every process is stopped and reaped when the `Lab` drops.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rcgen::{CertificateParams, KeyPair, SanType};

use super::pki::TestCa;
use super::process::{Subprocess, free_port, loopback};
use super::stderr;

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
    /// A private nginx laid out like a Debian server: nginx.conf as Debian ships it (conf.d,
    /// sites-enabled, the http-level ssl_protocols line) and Debian's default site enabled by a
    /// symlink, `listen PORT default_server; listen [::]:PORT default_server;`.
    pub debian_nginx: bool,
    /// PEBBLE_ALTERNATE_ROOTS: extra roots, each with its own chain offered as an alternate.
    pub alternate_roots: Option<u8>,
    /// pebble's certificateValidityPeriod in seconds (None: pebble's default, years). Anything
    /// under a day is due for renewal at once.
    pub validity_secs: Option<u64>,
    /// HTTP on port 80 and HTTPS on 443, as users have them (pebble validates on 80). Only in a
    /// private network namespace: see [`super::netns`].
    pub real_ports: bool,
}

/// See the module docs.
pub struct Lab {
    /// Everything the lab writes (state, nginx prefix, logs) is under here.
    pub dir: tempfile::TempDir,
    /// The port pebble validates HTTP-01 on (standalone responder or nginx listen here).
    pub http_port: u16,
    /// pebble's ACME API.
    pub acme_port: u16,
    /// pebble's management API (roots, intermediates).
    pub mgmt_port: u16,
    /// The lab CA that signed pebble's HTTPS certificate, followed by pebble's issuing root
    /// (for --ca-bundle: the CA's API and the trust check of renewed chains).
    pub ca_bundle: PathBuf,
    /// certctl's --state-dir.
    pub state_dir: PathBuf,
    /// nginx's document root for the challenge location, when the lab has nginx.
    pub webroot: PathBuf,
    /// The HTTPS port certctl's nginx sites listen on.
    pub https_port: u16,
    /// The private nginx's prefix directory.
    pub nginx_prefix: PathBuf,
    /// pebble-challtestsrv's management API (the names' addresses pebble's DNS answers).
    pub dns_mgmt_port: u16,
    pub(super) processes: Vec<Subprocess>,
}

impl Lab {
    /// pebble with its default nonce rejection and authorization reuse.
    pub fn start() -> Self {
        Self::with(LabOptions::default())
    }

    /// pebble and an empty managed nginx: the setup of every "certctl runs a site" test.
    pub fn managed_nginx() -> Self {
        Self::with(LabOptions {
            managed_nginx: true,
            ..LabOptions::default()
        })
    }

    /// pebble and nginx laid out like a Debian server, with its default site.
    pub fn debian_nginx() -> Self {
        Self::with(LabOptions {
            debian_nginx: true,
            ..LabOptions::default()
        })
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
        let (http_port, acme_port, mgmt_port, dns_mgmt_port, processes) = loop {
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
            https_port: if options.real_ports { 443 } else { free_port() },
            nginx_prefix: root.join("nginx"),
            state_dir: root.join("state"),
            dir,
            http_port,
            acme_port,
            mgmt_port,
            ca_bundle,
            webroot,
            dns_mgmt_port,
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
        if options.debian_nginx {
            lab.start_debian_nginx();
        }
        lab
    }

    /// Stops pebble (and so the CA): a later run that contacts it fails.
    pub fn stop_pebble(&mut self) {
        self.processes.retain(|p| p.name() != "pebble");
    }

    /// pebble's DNS answers `host` with `ipv4` from now on (instead of 127.0.0.1), so its
    /// HTTP-01 validation connects there: in a private network namespace, one node of several.
    pub fn set_address(&self, host: &str, ipv4: &str) {
        // add-a adds to the addresses a name already has: clear them first.
        let requests = [
            ("clear-a", serde_json::json!({"host": host})),
            (
                "add-a",
                serde_json::json!({"host": host, "addresses": [ipv4]}),
            ),
        ];
        for (path, body) in requests {
            let out = Command::new("curl")
                .args(["-sS", "--fail", "--noproxy", "*", "-X", "POST", "-d"])
                .arg(body.to_string())
                .arg(format!("http://127.0.0.1:{}/{path}", self.dns_mgmt_port))
                .output()
                .expect("run curl (apt-get install -y curl)");
            assert!(
                out.status.success(),
                "challtestsrv {path}: {}",
                stderr(&out)
            );
        }
    }

    /// pebble's ACME directory URL.
    pub fn directory_url(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.acme_port)
    }

    /// The real certctl binary with `--state-dir` set, CERTCTL_* scrubbed from the env and no
    /// config file (CERTCTL_CONFIG=/dev/null; a test's own `--config` or CERTCTL_CONFIG wins).
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
        // The machine's /etc/certctl/certctl.toml, if it has one, is not the lab's.
        cmd.env("NO_COLOR", "1")
            .env("CERTCTL_CONFIG", "/dev/null")
            .stdin(Stdio::null())
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(args);
        cmd
    }

    /// `certctl issue NAME... --server <pebble> --ca-bundle <lab CA> --agree-tos` plus `extra`,
    /// ready to run (with more environment, or in the background).
    pub fn issue_command(&self, names: &[&str], extra: &[&str]) -> Command {
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
        self.certctl(args)
    }

    /// [`Lab::issue_command`], run to completion.
    pub fn issue(&self, names: &[&str], extra: &[&str]) -> Output {
        self.issue_command(names, extra)
            .output()
            .expect("run certctl")
    }

    /// Like [`Lab::issue`] with the standalone responder on the lab's HTTP port.
    pub fn issue_standalone(&self, names: &[&str], extra: &[&str]) -> Output {
        let port = self.http_port.to_string();
        let mut all = vec!["--standalone", "--http-port", &port];
        all.extend_from_slice(extra);
        self.issue(names, &all)
    }

    /// GET `path` on pebble's management API (PEM).
    fn pebble_get(&self, path: &str) -> String {
        let out = Command::new("curl")
            .args(["-sS", "--fail", "--noproxy", "*", "--cacert"])
            .arg(&self.ca_bundle)
            .arg(format!("https://127.0.0.1:{}{path}", self.mgmt_port))
            .output()
            .expect("run curl (apt-get install -y curl)");
        assert!(out.status.success(), "curl {path}: {}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// pebble's root number `i` (PEM; 0 is the default chain's, 1… the alternates').
    pub fn pebble_root(&self, i: u8) -> String {
        self.pebble_get(&format!("/roots/{i}"))
    }

    /// pebble's current root and intermediates (PEM), from the management interface.
    pub fn pebble_roots(&self) -> (String, String) {
        (
            self.pebble_get("/roots/0"),
            self.pebble_get("/intermediates/0"),
        )
    }

    /// pebble's root written to `pebble-root.pem` in the lab dir, for openssl's -CAfile.
    pub fn write_pebble_root(&self) -> PathBuf {
        let root_path = self.dir.path().join("pebble-root.pem");
        fs::write(&root_path, self.pebble_get("/roots/0")).unwrap();
        root_path
    }

    /// Verifies a live certificate with the real `openssl verify` against pebble's root.
    pub fn assert_chain_verifies(&self, name: &str) {
        let root_path = self.write_pebble_root();
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

/// challtestsrv and pebble on fresh ports: (http, acme, management, DNS management ports, the
/// processes).
fn start_ca(
    root: &Path,
    options: &LabOptions,
) -> Result<(u16, u16, u16, u16, Vec<Subprocess>), String> {
    assert!(
        !options.real_ports || super::netns::inside(),
        "real ports only in a private network namespace (common::netns)"
    );
    let (http_port, acme_port, mgmt_port, dns_port, cts_port) = (
        if options.real_ports { 80 } else { free_port() },
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
    Ok((http_port, acme_port, mgmt_port, cts_port, vec![cts, pebble]))
}

/// A lab CA and a certificate for pebble's HTTPS API (127.0.0.1, localhost) signed by it: webpki
/// refuses a self-signed CA certificate used as a server certificate.
fn write_pebble_tls(root: &Path, ca_path: &Path) {
    let ca = TestCa::root("certctl lab CA");
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let cert = ca.sign(params, &key);
    fs::write(ca_path, ca.pem()).unwrap();
    fs::write(root.join("pebble-cert.pem"), cert.pem()).unwrap();
    fs::write(root.join("pebble-key.pem"), key.serialize_pem()).unwrap();
}
