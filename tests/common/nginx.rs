//! The lab's private nginx (`-p PREFIX -c PREFIX/nginx.conf`, everything it writes inside the
//! prefix): either a fixed HTTP-01 webroot server, or an empty Debian-like layout for certctl to
//! manage; signals, the flags that point certctl at it, and what it serves.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::lab::Lab;
use super::process::{Subprocess, loopback};
use super::stderr;

impl Lab {
    /// nginx with a webroot for HTTP-01 on the lab's HTTP port: `*.test` hosts get the
    /// challenge location (and a redirect to https), any other Host a 404.
    pub fn start_nginx(&mut self) {
        let prefix = self.nginx_prefix.clone();
        for sub in ["", "tmp", "logs"] {
            fs::create_dir_all(prefix.join(sub)).unwrap();
        }
        let location = format!(
            "location /.well-known/acme-challenge/ {{ root {}; default_type text/plain; try_files $uri =404; }}",
            self.webroot.display()
        );
        fs::write(prefix.join("challenge.conf"), location).unwrap();
        let conf = format!(
            r#"{preamble}    # Requests without a *.test Host get 404, so tests prove the Host header is right.
    server {{
        listen 127.0.0.1:{port} default_server;
        return 404;
    }}
    server {{
        listen 127.0.0.1:{port};
        server_name ~^[a-z0-9.-]+\.test$;
        include {challenge};
        location / {{ return 301 https://$host$request_uri; }}
    }}
}}
"#,
            preamble = nginx_preamble(&prefix),
            port = self.http_port,
            challenge = prefix.join("challenge.conf").display()
        );
        fs::write(prefix.join("nginx.conf"), conf).unwrap();
        self.spawn_nginx(&prefix);
    }

    /// nginx laid out like Debian's (conf.d, sites-available, sites-enabled, snippets), empty
    /// but for a default server, for certctl to manage.
    pub(super) fn start_managed_nginx(&mut self) {
        let p = self.nginx_prefix.clone();
        for sub in [
            "tmp",
            "logs",
            "sites-available",
            "sites-enabled",
            "conf.d",
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
    include {p}/conf.d/*.conf;
    include {p}/sites-enabled/*;
}}
"#,
            preamble = nginx_preamble(&p),
            p = p.display(),
            port = self.http_port,
        );
        fs::write(p.join("nginx.conf"), conf).unwrap();
        self.spawn_nginx(&p);
    }

    /// nginx as a Debian server has it (see [`super::LabOptions::debian_nginx`]), on the lab's
    /// HTTP port instead of 80.
    pub(super) fn start_debian_nginx(&mut self) {
        let p = self.nginx_prefix.clone();
        for sub in [
            "tmp",
            "logs",
            "conf.d",
            "sites-available",
            "sites-enabled",
            "snippets",
            "acme",
            "html",
        ] {
            fs::create_dir_all(p.join(sub)).unwrap();
        }
        let conf = format!(
            r#"{preamble}    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    default_type application/octet-stream;

    ##
    # SSL Settings
    ##

    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; # Dropping SSLv3, ref: POODLE
    ssl_prefer_server_ciphers on;

    gzip on;

    include {p}/conf.d/*.conf;
    include {p}/sites-enabled/*;
}}
"#,
            preamble = nginx_preamble(&p),
            p = p.display(),
        );
        fs::write(p.join("nginx.conf"), conf).unwrap();
        fs::write(
            p.join("html/index.nginx-debian.html"),
            "Welcome to nginx!\n",
        )
        .unwrap();
        // Debian's parameter files for uwsgi_pass and fastcgi_pass, and its PHP snippet.
        for file in [
            "uwsgi_params",
            "fastcgi_params",
            "fastcgi.conf",
            "snippets/fastcgi-php.conf",
        ] {
            let from = Path::new("/etc/nginx").join(file);
            let text = fs::read(&from)
                .unwrap_or_else(|e| panic!("{}: {e} (apt-get install -y nginx)", from.display()));
            fs::write(p.join(file), text).unwrap();
        }
        fs::write(
            p.join("sites-available/default"),
            format!(
                "##\n# You should look at the following URL's in order to grasp a solid understanding\n# of Nginx configuration files in order to fully unleash the power of Nginx.\n##\n\n# Default server configuration\n#\nserver {{\n\tlisten {port} default_server;\n\tlisten [::]:{port} default_server;\n\n\t# SSL configuration\n\t#\n\t# listen 443 ssl default_server;\n\t# include snippets/snakeoil.conf;\n\n\troot {www};\n\n\t# Add index.php to the list if you are using PHP\n\tindex index.html index.htm index.nginx-debian.html;\n\n\tserver_name _;\n\n\tlocation / {{\n\t\t# First attempt to serve request as file, then\n\t\t# as directory, then fall back to displaying a 404.\n\t\ttry_files $uri $uri/ =404;\n\t}}\n}}\n",
                port = self.http_port,
                www = p.join("html").display()
            ),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            "../sites-available/default",
            p.join("sites-enabled/default"),
        )
        .unwrap();
        self.spawn_nginx(&p);
    }

    /// The flags that point certctl at the lab's Debian nginx: like [`Lab::nginx_flags`] but
    /// listening as Debian's sites do (all IPv4 and IPv6 addresses).
    pub fn debian_nginx_flags(&self) -> Vec<String> {
        let mut flags = self.nginx_flags();
        let at = flags.iter().position(|f| f == "--listen").unwrap();
        flags.drain(at..at + 2);
        flags
    }

    /// Runs nginx on `prefix`'s nginx.conf and waits until it listens on the HTTP port.
    fn spawn_nginx(&mut self, prefix: &Path) {
        let mut cmd = Command::new("nginx");
        cmd.arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(prefix.join("nginx.conf"))
            .arg("-e")
            .arg(prefix.join("logs/error.log"));
        let mut nginx = Subprocess::spawn("nginx", cmd, prefix.join("logs/stderr.log"));
        nginx.wait_for_port(loopback(self.http_port));
        wait_for_pid_file(prefix);
        self.processes.push(nginx);
    }

    /// `nginx -s SIGNAL` for the lab's nginx.
    pub fn nginx_signal(&self, signal: &str) -> Output {
        let p = self.nginx_prefix.display().to_string();
        Command::new("nginx")
            .args(["-p", &p, "-c", &format!("{p}/nginx.conf"), "-s", signal])
            .output()
            .expect("run nginx")
    }

    /// The lab nginx's HTTP-01 location (the webroot's, from [`Lab::start_nginx`]) replaced by
    /// the one in `snippet`, and nginx reloaded.
    pub fn serve_challenges_with(&self, snippet: &Path) {
        fs::copy(snippet, self.nginx_prefix.join("challenge.conf")).unwrap();
        self.reload_nginx();
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
        for process in self.processes.iter_mut().filter(|p| p.name() == "nginx") {
            process.wait_for_exit(Duration::from_secs(10), Duration::from_millis(10));
        }
        self.processes.retain(|p| p.name() != "nginx");
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

    /// The directory `issue_site` serves (`lab dir/site`), created.
    pub fn site_dir(&self) -> std::path::PathBuf {
        let site = self.dir.path().join("site");
        fs::create_dir_all(&site).unwrap();
        site
    }

    /// `issue NAMES --nginx <the lab's nginx flags>` plus `extra`.
    pub fn issue_nginx(&self, names: &[&str], extra: &[&str]) -> Output {
        let flags = self.nginx_flags();
        let mut args: Vec<&str> = vec!["--nginx"];
        args.extend(flags.iter().map(String::as_str));
        args.extend_from_slice(extra);
        self.issue(names, &args)
    }

    /// `issue NAME --nginx --root <lab site dir>` on the lab's managed nginx, plus `extra`.
    pub fn issue_site(&self, name: &str, extra: &[&str]) -> Output {
        let site = self.site_dir();
        let mut args = vec!["--root", site.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.issue_nginx(&[name], &args)
    }

    /// `certctl nginx NAME <the lab's nginx flags>` plus `extra`.
    pub fn nginx_command(&self, name: &str, extra: &[&str]) -> Output {
        let flags = self.nginx_flags();
        let mut args: Vec<&str> = vec!["nginx", name];
        args.extend(flags.iter().map(String::as_str));
        args.extend_from_slice(extra);
        self.certctl(&args).output().unwrap()
    }

    /// The leaf certificate (PEM) that the lab's nginx presents for `host` on the HTTPS port,
    /// verified against pebble's root; `sigalgs` limits what the client offers (TLS 1.2).
    pub fn served_leaf(&self, host: &str, sigalgs: Option<&str>) -> String {
        let root_path = self.write_pebble_root();
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
}

/// The top of every lab nginx.conf: everything nginx writes stays inside the prefix.
/// Waits until the nginx on `prefix` (run with [`nginx_preamble`]) has written its pid: nginx
/// listens before it writes the file, and a reload (`nginx -s reload`, certbot's or certctl's) in
/// that gap fails with "invalid PID number".
pub fn wait_for_pid_file(prefix: &Path) {
    let pid_file = prefix.join("nginx.pid");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !fs::read_to_string(&pid_file).is_ok_and(|pid| pid.trim().parse::<u32>().is_ok()) {
        assert!(
            std::time::Instant::now() < deadline,
            "nginx wrote no pid to {}",
            pid_file.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn nginx_preamble(prefix: &Path) -> String {
    format!(
        r#"daemon off;
worker_processes 1;
pid {p}/nginx.pid;
error_log {p}/logs/error.log;
events {{ worker_connections 1024; }}
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
