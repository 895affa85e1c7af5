//! Rendering nginx files: the shipped snippets and a site per certificate. Pure: text in, text out.
//!
//! Every file certctl writes starts with an ownership line carrying the SHA-256 of the rest, so
//! certctl can tell its own untouched files from files a user wrote or edited, and never
//! overwrites the latter.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::NginxError;
use crate::tls_policy::Profile;

const TLS_INTERMEDIATE: &str = include_str!("../../nginx-snippets/tls-intermediate.conf");
const TLS_MODERN: &str = include_str!("../../nginx-snippets/tls-modern.conf");
const ACME_CHALLENGE: &str = include_str!("../../nginx-snippets/acme-challenge.conf");
const ACME_STATELESS: &str = include_str!("../../nginx-snippets/acme-challenge-stateless.conf");
const ACME_FLEET: &str = include_str!("../../nginx-snippets/acme-challenge-fleet.conf");
const HSTS: &str = include_str!("../../nginx-snippets/hsts.conf");
const HTTP_REDIRECT: &str = include_str!("../../nginx-snippets/http-redirect.conf");

/// The first line of every file certctl writes.
pub const OWNER_MARK: &str = "# certctl-managed sha256=";

/// Where certctl's nginx files live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NginxLayout {
    /// Directory of the shared snippets (`/etc/nginx/snippets/certctl`).
    pub snippets_dir: PathBuf,
    /// Directory of the site files (`/etc/nginx/sites-available`).
    pub sites_dir: PathBuf,
    /// Directory of the enabling symlinks (`/etc/nginx/sites-enabled`), if sites are enabled that way.
    pub enabled_dir: Option<PathBuf>,
    /// Web root for ACME challenge tokens (`/var/www/certctl-acme`).
    pub acme_webroot: PathBuf,
}

impl NginxLayout {
    /// The TLS snippet of a profile.
    pub fn tls_snippet(&self, profile: Profile) -> PathBuf {
        self.snippets_dir.join(format!("tls-{profile}.conf"))
    }

    /// The ACME challenge location snippet.
    pub fn acme_snippet(&self) -> PathBuf {
        self.snippets_dir.join("acme-challenge.conf")
    }

    /// The site file of a certificate.
    pub fn site_file(&self, name: &str) -> PathBuf {
        self.sites_dir.join(format!("certctl-{name}.conf"))
    }

    /// The symlink that enables the site, if any.
    pub fn enabled_link(&self, name: &str) -> Option<PathBuf> {
        self.enabled_dir
            .as_ref()
            .filter(|dir| **dir != self.sites_dir)
            .map(|dir| dir.join(format!("certctl-{name}.conf")))
    }
}

/// Strict-Transport-Security settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hsts {
    /// max-age in seconds (0 turns HSTS off in browsers that saw it).
    pub max_age: u64,
    /// includeSubDomains.
    pub include_subdomains: bool,
    /// preload (only with includeSubDomains and max-age of a year or more, as the list requires).
    pub preload: bool,
}

impl Hsts {
    /// certctl's default header when none is asked for: two years, the name alone.
    pub const TWO_YEARS: Self = Self {
        max_age: 63_072_000,
        include_subdomains: false,
        preload: false,
    };

    /// Checks the preload list's requirements.
    pub fn validate(&self) -> Result<(), NginxError> {
        if self.preload && !(self.include_subdomains && self.max_age >= 31_536_000) {
            return Err(NginxError::Invalid(
                "--hsts-preload needs --hsts-subdomains and --hsts of at least 31536000 (one year), as the preload list requires".into(),
            ));
        }
        Ok(())
    }

    /// The header value.
    pub fn value(&self) -> String {
        let mut v = format!("max-age={}", self.max_age);
        if self.include_subdomains {
            v.push_str("; includeSubDomains");
        }
        if self.preload {
            v.push_str("; preload");
        }
        v
    }
}

/// What the HTTPS server serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Content {
    /// Static files from a directory.
    Root(PathBuf),
    /// Everything proxied to an upstream (a Django app under gunicorn, say).
    ProxyPass(String),
    /// What nginx already serves for each name over plain HTTP, read from the server that
    /// answers it (the default when no flag says otherwise).
    Site,
}

/// A certificate and key pair nginx serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertPaths {
    /// live/NAME/fullchain.pem
    pub fullchain: PathBuf,
    /// live/NAME/privkey.pem
    pub privkey: PathBuf,
    /// live/NAME/chain.pem (for stapling)
    pub chain: PathBuf,
}

/// What one of certctl's HTTPS servers serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Serve {
    /// Static files from a directory (`--root`).
    Root(PathBuf),
    /// Everything proxied to an upstream (`--proxy-pass`).
    ProxyPass(String),
    /// What a port-80 server already served: its directives, copied as they are written.
    Mirror {
        /// `file:line` of the server block they come from.
        origin: String,
        /// The text of each directive (blocks whole), in order.
        directives: Vec<String>,
    },
}

/// One HTTPS server of a site: the names it answers and what it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsServer {
    /// server_name values.
    pub names: Vec<String>,
    /// What it serves.
    pub serve: Serve,
}

/// Everything that decides a site file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteSpec {
    /// Certificate name.
    pub name: String,
    /// The HTTPS servers (one per origin of content), every name of the certificate in one.
    pub tls_servers: Vec<TlsServer>,
    /// The names certctl's own port-80 server answers (challenges, then the redirect): those no
    /// port-80 server of the user's answers by name.
    pub redirect_names: Vec<String>,
    /// One pair, or two for dual ECDSA + RSA.
    pub certs: Vec<CertPaths>,
    /// TLS profile.
    pub profile: Profile,
    /// HSTS, or None for no header.
    pub hsts: Option<Hsts>,
    /// HTTPS port (443).
    pub https_port: u16,
    /// HTTP port for the redirect server (80).
    pub http_port: u16,
    /// Addresses the HTTPS servers listen on (`""` all IPv4, `[::]` all IPv6, or one address);
    /// empty means all IPv4 and all IPv6 addresses.
    pub https_listen: Vec<String>,
    /// Addresses the port-80 server listens on, the same way.
    pub http_listen: Vec<String>,
    /// The certificate names an OCSP responder.
    pub stapling: bool,
    /// nginx >= 1.25.1 wants `http2 on;` instead of `listen … http2`.
    pub http2_directive: bool,
}

/// The TLS snippet for a profile (shipped as is).
pub fn tls_snippet(profile: Profile) -> String {
    managed(match profile {
        Profile::Intermediate => TLS_INTERMEDIATE,
        Profile::Modern => TLS_MODERN,
    })
}

/// The ACME challenge location snippet for a web root. On a fleet node (`fleet_thumbprint`, the
/// fleet account's), a token without a file there is answered `TOKEN.THUMBPRINT`, so the CA
/// may reach any node.
pub fn acme_snippet(webroot: &Path, fleet_thumbprint: Option<&str>) -> String {
    let text = match fleet_thumbprint {
        Some(thumbprint) => ACME_FLEET.replace("{{THUMBPRINT}}", checked_thumbprint(thumbprint)),
        None => ACME_CHALLENGE.to_owned(),
    };
    managed(&text.replace("{{ACME_WEBROOT}}", &webroot.display().to_string()))
}

/// The stateless ACME challenge location of a fleet: `TOKEN.THUMBPRINT` for any token, with the
/// account's JWK thumbprint.
pub fn acme_stateless_snippet(thumbprint: &str) -> String {
    managed(&ACME_STATELESS.replace("{{THUMBPRINT}}", checked_thumbprint(thumbprint)))
}

/// A JWK thumbprint is base64url, so nothing in it needs quoting in nginx.
fn checked_thumbprint(thumbprint: &str) -> &str {
    debug_assert!(
        thumbprint
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    thumbprint
}

/// A site that only answers on port 80: the challenge location plus the redirect. Written before
/// the first certificate exists, so the CA can validate through nginx.
pub fn http_only_site(spec: &SiteSpec, layout: &NginxLayout) -> String {
    let body = format!(
        "# Managed by certctl for the certificate {name:?}: port 80 only until the certificate exists.\n\n{redirect}",
        name = spec.name,
        redirect = redirect_server(spec, layout)
    );
    managed(&body)
}

/// The full site: the HTTPS servers and (for names no user server answers on port 80) the
/// port-80 redirect server.
pub fn site(spec: &SiteSpec, layout: &NginxLayout) -> String {
    let mut out = format!(
        "# Managed by certctl for the certificate {name:?}. `certctl nginx {name}` rewrites this file;\n\
         # if you edit it, certctl will leave it alone and say so.\n",
        name = spec.name
    );
    for server in &spec.tls_servers {
        out.push('\n');
        tls_server(&mut out, spec, server, layout);
    }
    if !spec.redirect_names.is_empty() {
        out.push('\n');
        out.push_str(&redirect_server(spec, layout));
    }
    managed(&out)
}

fn tls_server(out: &mut String, spec: &SiteSpec, server: &TlsServer, layout: &NginxLayout) {
    out.push_str("server {\n");
    let http2 = if spec.http2_directive { "" } else { " http2" };
    for addr in listen_addresses(&spec.https_listen) {
        out.push_str(&format!(
            "    listen {} ssl{http2};\n",
            listen_target(addr, spec.https_port)
        ));
    }
    if spec.http2_directive {
        out.push_str("    http2 on;\n");
    }
    out.push_str(&format!("    server_name {};\n\n", server.names.join(" ")));
    for cert in &spec.certs {
        out.push_str(&format!(
            "    ssl_certificate {};\n    ssl_certificate_key {};\n",
            cert.fullchain.display(),
            cert.privkey.display()
        ));
    }
    out.push_str(&format!(
        "    include {};\n",
        layout.tls_snippet(spec.profile).display()
    ));
    if spec.stapling
        && let Some(cert) = spec.certs.first()
    {
        out.push_str(&format!(
            "    # The certificate names an OCSP responder, so nginx staples its answers.\n    ssl_stapling on;\n    ssl_stapling_verify on;\n    ssl_trusted_certificate {};\n",
            cert.chain.display()
        ));
    }
    if let Some(hsts) = &spec.hsts {
        out.push('\n');
        out.push_str(&HSTS.replace("{{HSTS_VALUE}}", &hsts.value()));
    }
    out.push('\n');
    match &server.serve {
        Serve::Root(dir) => out.push_str(&format!(
            "    root {};\n    location / {{\n        try_files $uri $uri/ =404;\n    }}\n",
            dir.display()
        )),
        Serve::ProxyPass(url) => {
            out.push_str("    location / {\n");
            out.push_str(&format!("        proxy_pass {url};\n"));
            // The Host as the browser sent it, port included: Django's CSRF check compares the
            // Origin header with it, and $host drops a non-default port.
            out.push_str("        proxy_set_header Host $http_host;\n");
            out.push_str("        proxy_set_header X-Forwarded-Proto $scheme;\n");
            out.push_str("        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n");
            out.push_str("        proxy_set_header X-Real-IP $remote_addr;\n");
            if spec.hsts.is_some() {
                out.push_str(
                    "        # nginx owns HSTS: drop the app's copy so clients see one header.\n        proxy_hide_header Strict-Transport-Security;\n",
                );
            }
            out.push_str("    }\n");
        }
        Serve::Mirror { origin, directives } => {
            out.push_str(&format!(
                "    # What the port-80 server at {origin} served for these names, copied as written.\n    # Edit it there and run `certctl nginx {name}` again to copy the change here.\n",
                name = spec.name
            ));
            for d in directives {
                out.push_str("    ");
                out.push_str(d);
                out.push('\n');
            }
        }
    }
    out.push_str("}\n");
}

/// Where port 80 sends a request: the same host and path over HTTPS.
pub fn redirect_target(https_port: u16) -> String {
    if https_port == 443 {
        "https://$host$request_uri".to_owned()
    } else {
        format!("https://$host:{https_port}$request_uri")
    }
}

/// The HSTS header line for the HTTPS side.
pub fn hsts_line(hsts: &Hsts) -> String {
    format!(
        "add_header Strict-Transport-Security \"{}\" always;",
        hsts.value()
    )
}

fn redirect_server(spec: &SiteSpec, layout: &NginxLayout) -> String {
    let listen: Vec<String> = listen_addresses(&spec.http_listen)
        .map(|addr| format!("    listen {};", listen_target(addr, spec.http_port)))
        .collect();
    let target = redirect_target(spec.https_port);
    HTTP_REDIRECT
        .replace("{{LISTEN}}", &listen.join("\n"))
        .replace("{{SERVER_NAMES}}", &spec.redirect_names.join(" "))
        .replace(
            "{{ACME_SNIPPET}}",
            &layout.acme_snippet().display().to_string(),
        )
        .replace("{{REDIRECT_TARGET}}", &target)
}

fn listen_addresses(listen: &[String]) -> impl Iterator<Item = &str> {
    let defaults: &[&str] = &["", "[::]"];
    let given = listen.iter().map(String::as_str);
    let use_defaults = listen.is_empty();
    defaults
        .iter()
        .copied()
        .filter(move |_| use_defaults)
        .chain(given)
}

fn listen_target(addr: &str, port: u16) -> String {
    if addr.is_empty() {
        port.to_string()
    } else {
        format!("{addr}:{port}")
    }
}

/// Prefixes the ownership line (with the hash of `body`).
pub fn managed(body: &str) -> String {
    format!("{OWNER_MARK}{}\n{body}", sha256_hex(body.as_bytes()))
}

/// Who wrote an existing file.
#[derive(Debug, PartialEq, Eq)]
pub enum Ownership {
    /// certctl wrote it and nobody changed it since.
    Ours,
    /// certctl wrote it, then someone edited it.
    OursEdited,
    /// Someone else wrote it.
    NotOurs,
}

/// Tells who wrote `content`.
pub fn ownership(content: &str) -> Ownership {
    let Some(rest) = content.strip_prefix(OWNER_MARK) else {
        return Ownership::NotOurs;
    };
    let Some((hash, body)) = rest.split_once('\n') else {
        return Ownership::OursEdited;
    };
    if hash == sha256_hex(body.as_bytes()) {
        Ownership::Ours
    } else {
        Ownership::OursEdited
    }
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks the options of a site before anything is written.
pub fn check_site(site: &crate::nginx::NginxSite) -> Result<(), NginxError> {
    if let Some(hsts) = &site.hsts {
        hsts.validate()?;
    }
    match &site.content {
        Content::Root(dir) => {
            if !dir.is_absolute() {
                return Err(NginxError::Invalid(format!(
                    "--root {} must be an absolute path",
                    dir.display()
                )));
            }
            check_value("--root", &dir.display().to_string())?;
        }
        Content::Site => {}
        Content::ProxyPass(url) => {
            check_value("--proxy-pass", url)?;
            if !(url.starts_with("http://")
                || url.starts_with("https://")
                || url.starts_with("unix:"))
            {
                return Err(NginxError::Invalid(format!(
                    "--proxy-pass {url:?} must start with http://, https:// or unix:"
                )));
            }
        }
    }
    for addr in &site.listen {
        check_value("--listen", addr)?;
    }
    for (what, path) in [
        ("--nginx-snippets", &site.layout.snippets_dir),
        ("--nginx-sites", &site.layout.sites_dir),
        ("--acme-webroot", &site.layout.acme_webroot),
    ] {
        check_value(what, &path.display().to_string())?;
    }
    if site.https_port == 0 {
        return Err(NginxError::Invalid(
            "--https-port must be between 1 and 65535".into(),
        ));
    }
    Ok(())
}

/// Refuses values that would break out of an nginx directive (they are written unquoted).
pub fn check_value(what: &str, value: &str) -> Result<(), NginxError> {
    if value.is_empty()
        || value.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, ';' | '{' | '}' | '"' | '\'' | '#' | '$' | '\\')
        })
    {
        return Err(NginxError::Invalid(format!(
            "{what} {value:?} cannot be written into nginx config (no whitespace, quotes, ;, {{, }}, #, $ or backslashes)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls_policy;

    fn layout() -> NginxLayout {
        NginxLayout {
            snippets_dir: "/etc/nginx/snippets/certctl".into(),
            sites_dir: "/etc/nginx/sites-available".into(),
            enabled_dir: Some("/etc/nginx/sites-enabled".into()),
            acme_webroot: "/var/www/certctl-acme".into(),
        }
    }

    fn spec() -> SiteSpec {
        let names: Vec<String> = vec!["example.com".into(), "www.example.com".into()];
        SiteSpec {
            name: "example.com".into(),
            tls_servers: vec![TlsServer {
                names: names.clone(),
                serve: Serve::ProxyPass("http://127.0.0.1:8000".into()),
            }],
            redirect_names: names,
            certs: vec![CertPaths {
                fullchain: "/var/lib/certctl/live/example.com/fullchain.pem".into(),
                privkey: "/var/lib/certctl/live/example.com/privkey.pem".into(),
                chain: "/var/lib/certctl/live/example.com/chain.pem".into(),
            }],
            profile: Profile::Intermediate,
            hsts: Some(Hsts {
                max_age: 63_072_000,
                include_subdomains: false,
                preload: false,
            }),
            https_port: 443,
            http_port: 80,
            https_listen: vec![],
            http_listen: vec![],
            stapling: false,
            http2_directive: false,
        }
    }

    /// Compares with tests/data/nginx/FILE; CERTCTL_UPDATE_SNAPSHOTS=1 rewrites it (review the diff).
    fn assert_snapshot(file: &str, actual: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/nginx")
            .join(file);
        if std::env::var_os("CERTCTL_UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, actual).unwrap();
        }
        let expected =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            actual,
            expected,
            "rendering differs from {}",
            path.display()
        );
    }

    fn body(rendered: &str) -> &str {
        rendered.split_once('\n').unwrap().1
    }

    #[test]
    fn renders_the_default_site_as_expected() {
        assert_snapshot(
            "site-proxy-intermediate.conf",
            body(&site(&spec(), &layout())),
        );
    }

    #[test]
    fn renders_a_static_modern_site_on_custom_ports() {
        let mut s = spec();
        s.profile = Profile::Modern;
        s.tls_servers[0].serve = Serve::Root("/srv/www".into());
        s.hsts = Some(Hsts {
            max_age: 31_536_000,
            include_subdomains: true,
            preload: true,
        });
        s.https_port = 8443;
        s.http_port = 8080;
        s.https_listen = vec!["127.0.0.1".into()];
        s.http_listen = vec!["127.0.0.1".into()];
        s.http2_directive = true;
        assert_snapshot("site-root-modern.conf", body(&site(&s, &layout())));
    }

    #[test]
    fn hsts_is_only_on_the_tls_server_and_uses_always() {
        let text = site(&spec(), &layout());
        let (tls, port80) = text.split_once("# Port 80").unwrap();
        assert!(tls.contains("add_header Strict-Transport-Security \"max-age=63072000\" always;"));
        assert!(!port80.contains("Strict-Transport-Security"));
        assert!(port80.contains("return 301 https://$host$request_uri;"));
        assert!(tls.contains("proxy_hide_header Strict-Transport-Security;"));
        let mut no_hsts = spec();
        no_hsts.hsts = None;
        assert!(!site(&no_hsts, &layout()).contains("Strict-Transport-Security"));
    }

    #[test]
    fn dual_certificates_give_two_certificate_lines_and_stapling_only_when_asked() {
        let mut s = spec();
        let mut rsa = s.certs[0].clone();
        rsa.fullchain = "/var/lib/certctl/live/example.com-rsa/fullchain.pem".into();
        rsa.privkey = "/var/lib/certctl/live/example.com-rsa/privkey.pem".into();
        s.certs.push(rsa);
        let text = site(&s, &layout());
        assert_eq!(text.matches("ssl_certificate ").count(), 2);
        assert_eq!(text.matches("ssl_certificate_key ").count(), 2);
        assert!(!text.contains("ssl_stapling"));
        s.stapling = true;
        assert!(site(&s, &layout()).contains("ssl_stapling on;"));
    }

    #[test]
    fn tls_snippets_match_the_policy_table() {
        for profile in [Profile::Intermediate, Profile::Modern] {
            let text = tls_snippet(profile);
            let policy = profile.policy();
            assert!(text.contains(&format!("ssl_protocols {};", policy.protocols.join(" "))));
            assert!(text.contains(&format!("ssl_ecdh_curve {};", policy.curves.join(":"))));
            if policy.tls12_ciphers.is_empty() {
                assert!(!text.contains("ssl_ciphers"));
            } else {
                assert!(text.contains(&format!("ssl_ciphers {};", policy.tls12_ciphers.join(":"))));
            }
        }
        assert_eq!(tls_policy::INTERMEDIATE.hsts_min_age, 63_072_000);
    }

    #[test]
    fn every_placeholder_is_filled() {
        for text in [
            site(&spec(), &layout()),
            http_only_site(&spec(), &layout()),
            acme_snippet(Path::new("/w"), None),
            acme_snippet(Path::new("/w"), Some("abc_-1")),
        ] {
            assert!(!text.contains("{{"), "{text}");
        }
    }

    #[test]
    fn tells_its_own_files_from_others_and_from_edits() {
        let text = site(&spec(), &layout());
        assert_eq!(ownership(&text), Ownership::Ours);
        assert_eq!(
            ownership(&text.replace("8000", "9000")),
            Ownership::OursEdited
        );
        assert_eq!(ownership("server { listen 80; }\n"), Ownership::NotOurs);
    }

    #[test]
    fn preload_needs_subdomains_and_a_year() {
        let ok = Hsts {
            max_age: 31_536_000,
            include_subdomains: true,
            preload: true,
        };
        assert!(ok.validate().is_ok());
        assert!(
            Hsts {
                include_subdomains: false,
                ..ok
            }
            .validate()
            .is_err()
        );
        assert!(
            Hsts {
                max_age: 86_400,
                ..ok
            }
            .validate()
            .is_err()
        );
        assert_eq!(ok.value(), "max-age=31536000; includeSubDomains; preload");
    }

    #[test]
    fn refuses_values_that_break_out_of_a_directive() {
        assert!(check_value("--proxy-pass", "http://127.0.0.1:8000").is_ok());
        for bad in ["http://a; evil", "x{", "a b", "\"q\"", "http://$host", ""] {
            assert!(check_value("--proxy-pass", bad).is_err(), "{bad}");
        }
    }
}
