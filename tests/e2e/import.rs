//! `certctl import certbot`, against lineages the real certbot (Debian's 2.x) made with the lab's
//! pebble: what it takes, what it leaves, that certbot's directory is untouched, and that the
//! first renewal goes through the same responder certbot used.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use x509_parser::prelude::*;

use crate::common::{Lab, LabOptions, assert_ok, eventually, https_get, stderr};

/// A lab for certbot: pebble without its random nonce rejection, which certctl's own tests
/// exercise and which certbot 2.1 does not always retry.
fn certbot_lab(nginx: bool) -> Lab {
    Lab::with(LabOptions {
        nginx,
        nonce_reject: Some(0),
        ..LabOptions::default()
    })
}

/// A certbot with its config, work and logs directories under `root`.
struct Certbot {
    root: PathBuf,
}

impl Certbot {
    fn new(lab: &Lab) -> Self {
        let root = lab.dir.path().join("letsencrypt");
        fs::create_dir_all(&root).unwrap();
        Self { root }
    }

    fn config_dir(&self) -> PathBuf {
        self.root.join("config")
    }

    /// `certbot SUBCOMMAND` against the lab's pebble, trusting its HTTPS through
    /// REQUESTS_CA_BUNDLE.
    fn run(&self, lab: &Lab, subcommand: &str, args: &[&str]) -> Output {
        Command::new("certbot")
            .arg(subcommand)
            .args(["--server", &lab.directory_url()])
            .arg("--config-dir")
            .arg(self.config_dir())
            .arg("--work-dir")
            .arg(self.root.join("work"))
            .arg("--logs-dir")
            .arg(self.root.join("logs"))
            .args([
                "--agree-tos",
                "--register-unsafely-without-email",
                "--non-interactive",
            ])
            .args(args)
            .env("REQUESTS_CA_BUNDLE", &lab.ca_bundle)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run certbot: {e}. Install it with: apt-get install -y certbot")
            })
    }

    /// certbot's own query of its account at the CA (a POST-as-GET signed with its key).
    fn show_account(&self, lab: &Lab) -> Output {
        self.run(lab, "show_account", &[])
    }

    /// `certbot certonly`, which must succeed.
    fn certonly(&self, lab: &Lab, args: &[&str]) {
        self.run_ok(lab, "certonly", args);
    }

    /// `certbot certonly --webroot` into the lab's webroot for `name`, which must succeed.
    fn certonly_webroot(&self, lab: &Lab, name: &str, extra: &[&str]) {
        let webroot = lab.webroot.to_str().unwrap();
        let mut args = vec!["--webroot", "-w", webroot, "-d", name];
        args.extend_from_slice(extra);
        self.certonly(lab, &args);
    }

    /// `certbot SUBCOMMAND`, which must succeed.
    fn run_ok(&self, lab: &Lab, subcommand: &str, args: &[&str]) {
        let out = self.run(lab, subcommand, args);
        if !out.status.success() {
            // certbot 2.1 on Python 3.11 shows every ACME error as "AttributeError: can't set
            // attribute" (certbot#9539); the real one is in its log.
            let log =
                fs::read_to_string(self.root.join("logs/letsencrypt.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "certbot {args:?}: {}{}\n--- end of certbot's log ---\n{}",
                String::from_utf8_lossy(&out.stdout),
                stderr(&out),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }

    fn live(&self, name: &str) -> PathBuf {
        self.config_dir().join("live").join(name)
    }

    /// The one account certbot registered: (its directory, regr.json's account URL).
    fn account(&self, lab: &Lab) -> (PathBuf, String) {
        let server_dir = self
            .config_dir()
            .join("accounts")
            .join(format!("127.0.0.1:{}", lab.acme_port))
            .join("dir");
        let dir = fs::read_dir(&server_dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let regr: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("regr.json")).unwrap()).unwrap();
        (dir, regr["uri"].as_str().unwrap().to_owned())
    }
}

/// Every path under `root` with its type, mode, mtime and content (symlinks: their target).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_owned();
            let stamp = format!(
                "mode {:o} mtime {}.{}",
                meta.permissions().mode(),
                meta.mtime(),
                meta.mtime_nsec()
            );
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).unwrap();
                out.insert(rel, format!("link -> {}", target.display()));
            } else if meta.is_dir() {
                out.insert(rel, format!("dir {stamp}"));
                walk(&path, root, out);
            } else {
                let bytes = fs::read(&path).unwrap();
                out.insert(
                    rel,
                    format!("file {stamp} {}", String::from_utf8_lossy(&bytes)),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn serial_of(pem_path: &Path) -> String {
    let pem = fs::read(pem_path).unwrap();
    let (_, pem) = parse_x509_pem(&pem).unwrap();
    let (_, cert) = X509Certificate::from_der(&pem.contents).unwrap();
    cert.raw_serial_as_string().replace(':', "")
}

fn json(out: &Output) -> serde_json::Value {
    assert_ok(out);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// `import certbot --json`'s report, valid against its schema.
fn import_report(out: &Output) -> serde_json::Value {
    let report = json(out);
    crate::common::assert_schema("import-certbot", &report);
    report
}

/// The report entry of lineage `name`.
fn lineage<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    crate::common::entry(&report["lineages"], "name", name)
}

/// `certctl import certbot --config-dir CONFIG --ca-bundle <lab CA>` plus `extra`, pointed at
/// the lab's nginx (never the system's); `--no-nginx` when the lab has none.
fn import_certbot(lab: &Lab, config: &Path, extra: &[&str]) -> Output {
    let conf = lab.nginx_prefix.join("nginx.conf");
    let mut args = vec![
        "import".to_owned(),
        "certbot".into(),
        "--config-dir".into(),
        config.display().to_string(),
        "--ca-bundle".into(),
        lab.ca_bundle.display().to_string(),
    ];
    if conf.exists() {
        args.extend([
            "--nginx-prefix".into(),
            lab.nginx_prefix.display().to_string(),
            "--nginx-conf".into(),
            conf.display().to_string(),
        ]);
    } else {
        args.push("--no-nginx".into());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    lab.certctl(&args).output().unwrap()
}

/// A renewal file for a DNS-01 lineage, as certbot's Cloudflare plugin writes it.
fn write_dns_lineage(certbot: &Certbot, lab: &Lab, account_id: &str) {
    let config = certbot.config_dir();
    let c = config.display();
    fs::write(
        config.join("renewal/dns.test.conf"),
        format!(
            "# renew_before_expiry = 30 days
version = 2.1.0
archive_dir = {c}/archive/dns.test
cert = {c}/live/dns.test/cert.pem
privkey = {c}/live/dns.test/privkey.pem
chain = {c}/live/dns.test/chain.pem
fullchain = {c}/live/dns.test/fullchain.pem

# Options used in the renewal process
[renewalparams]
account = {account_id}
server = {}
authenticator = dns-cloudflare
dns_cloudflare_credentials = /root/.secrets/cloudflare.ini
key_type = ecdsa
",
            lab.directory_url()
        ),
    )
    .unwrap();
}

#[test]
fn takes_standalone_and_webroot_lineages_and_renews_them_the_same_way() {
    let mut lab = certbot_lab(true);
    let certbot = Certbot::new(&lab);
    let marker = lab.dir.path().join("deployed");
    // A webroot lineage served by the lab's nginx, with a deploy hook that reads certbot's
    // RENEWED_LINEAGE.
    certbot.certonly_webroot(
        &lab,
        "web.test",
        &[
            "--deploy-hook",
            &format!("echo \"$RENEWED_LINEAGE\" > {}", marker.display()),
        ],
    );
    // A standalone RSA lineage on the port pebble validates, with nginx out of the way.
    lab.stop_nginx();
    let port = lab.http_port.to_string();
    certbot.certonly(
        &lab,
        &[
            "--standalone",
            "--http-01-port",
            &port,
            "--key-type",
            "rsa",
            "-d",
            "solo.test",
            "-d",
            "www.solo.test",
        ],
    );
    let (account_dir, account_url) = certbot.account(&lab);
    write_dns_lineage(
        &certbot,
        &lab,
        account_dir.file_name().unwrap().to_str().unwrap(),
    );
    let config = certbot.config_dir();
    // The user asked certbot to renew web.test 45 days before it expires.
    let web_conf = config.join("renewal/web.test.conf");
    let text = fs::read_to_string(&web_conf).unwrap();
    fs::write(&web_conf, format!("renew_before_expiry = 45 days\n{text}")).unwrap();
    let before = snapshot(&config);
    let import = |lab: &Lab, extra: &[&str]| import_certbot(lab, &config, extra);

    // --dry-run says what it would take and leave, and writes nothing.
    let planned = import_report(&import(&lab, &["--dry-run", "--json"]));
    assert_eq!(lineage(&planned, "web.test")["outcome"], "would_import");
    assert_eq!(lineage(&planned, "solo.test")["outcome"], "would_import");
    let dns = lineage(&planned, "dns.test");
    assert_eq!(dns["outcome"], "left");
    assert!(
        dns["reason"].as_str().unwrap().contains("DNS-01"),
        "{dns:#}"
    );
    assert!(
        !lab.state_dir.exists(),
        "a dry run wrote the state directory"
    );
    // certbot's account (RSA, as certbot registers them) is certctl's too, though certbot
    // still renews dns.test with it.
    let web = lineage(&planned, "web.test");
    assert_eq!(web["account"]["status"], "reused", "{web:#}");
    assert_eq!(web["account"]["url"], account_url.as_str());

    // The import itself, in words.
    let out = import(&lab, &[]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("solo.test: imported"), "{text}");
    assert!(
        text.contains("dns.test: left to certbot: authenticator dns-cloudflare"),
        "{text}"
    );
    assert!(
        text.contains("imported 2, 0 already imported, 1 left to certbot"),
        "{text}"
    );

    // The same serials, byte-identical live files, the responder certbot used.
    let list = json(&lab.certctl(["list", "--json"]).output().unwrap());
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["solo.test", "web.test"]);
    for (entry, name) in list.as_array().unwrap().iter().zip(names) {
        assert_eq!(
            entry["serial"].as_str().unwrap(),
            serial_of(&certbot.live(name).join("cert.pem")),
            "{name}"
        );
        for file in ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"] {
            assert_eq!(
                fs::read(lab.live(name).join(file)).unwrap(),
                fs::read(certbot.live(name).join(file)).unwrap(),
                "{name}/{file}"
            );
        }
        assert_eq!(
            crate::common::mode(&lab.live(name).join("privkey.pem")),
            0o600
        );
    }
    assert_eq!(
        list[0]["names"],
        serde_json::json!(["solo.test", "www.solo.test"])
    );
    assert_eq!(list[0]["key_type"], "rsa-2048");
    let record = |name: &str| {
        fs::read_to_string(lab.state_dir.join("certs").join(name).join("renewal.toml")).unwrap()
    };
    let solo = record("solo.test");
    assert!(solo.contains("kind = \"standalone\""), "{solo}");
    assert!(
        solo.contains(&format!("http_port = {}", lab.http_port)),
        "{solo}"
    );
    let web = record("web.test");
    assert!(web.contains("kind = \"webroot\""), "{web}");
    // …and certctl renews it then, as it says in `list`.
    assert!(web.contains("renew_before_days = 45"), "{web}");
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "web.test")
        .unwrap();
    assert_eq!(entry["renewal"]["reason"], "days", "{entry:#}");
    assert_eq!(
        entry["renewal"]["next_renewal"].as_i64().unwrap(),
        entry["not_after"].as_i64().unwrap() - 45 * 86_400
    );
    assert!(!record("solo.test").contains("renew_before_days"));
    assert!(
        web.contains(&format!("path = \"{}\"", lab.webroot.display())),
        "{web}"
    );
    assert!(web.contains("RENEWED_LINEAGE"), "{web}");

    // certctl stores certbot's account as it is, its URL and its RSA key, and certbot's
    // account still works at the CA.
    let again = import_report(&import(&lab, &["--json"]));
    for name in ["solo.test", "web.test"] {
        assert_eq!(lineage(&again, name)["outcome"], "already_imported");
    }
    let account = fs::read(
        lab.state_dir
            .join("accounts")
            .join(format!("127.0.0.1_{}_dir", lab.acme_port))
            .join("account.json"),
    )
    .unwrap();
    let stored: serde_json::Value = serde_json::from_slice(&account).unwrap();
    assert_eq!(stored["id"], account_url.as_str());
    assert_same_rsa_key(&stored, &account_dir);
    assert!(
        text.contains(&format!("account: certbot's, {account_url}")),
        "{text}"
    );
    assert_ok(&certbot.show_account(&lab));

    // The first renewal of each goes through certbot's responder: standalone while nginx is
    // down (a webroot would not be served), then webroot with nginx on the port (standalone
    // could not bind it).
    let renewed = lab
        .certctl(["renew", "solo.test", "--force"])
        .output()
        .unwrap();
    assert_ok(&renewed);
    lab.start_nginx();
    fs::remove_file(&marker).unwrap();
    let renewed = lab
        .certctl(["renew", "web.test", "--force"])
        .output()
        .unwrap();
    assert_ok(&renewed);
    for name in ["solo.test", "web.test"] {
        assert_ne!(
            serial_of(&lab.live(name).join("cert.pem")),
            serial_of(&certbot.live(name).join("cert.pem")),
            "{name} was not renewed"
        );
    }
    // certbot's deploy hook ran, and saw certctl's lineage in RENEWED_LINEAGE.
    assert_eq!(
        fs::read_to_string(&marker).unwrap().trim(),
        lab.live("web.test").display().to_string()
    );
    // The account did not change on renewal.
    assert_eq!(
        fs::read(
            lab.state_dir
                .join("accounts")
                .join(format!("127.0.0.1_{}_dir", lab.acme_port))
                .join("account.json")
        )
        .unwrap(),
        account
    );

    // --disable-certbot leaves certbot's schedule alone while it still renews dns.test.
    let fake_root = lab.dir.path().join("root");
    let wants = enable_certbot_timer(&fake_root);
    let kept = import_report(&import(
        &lab,
        &[
            "--json",
            "--disable-certbot",
            "--root",
            fake_root.to_str().unwrap(),
        ],
    ));
    assert_eq!(kept["certbot_schedule"]["disabled"], false);
    assert!(
        kept["certbot_schedule"]["reason"]
            .as_str()
            .unwrap()
            .contains("dns.test"),
        "{kept:#}"
    );
    assert!(wants.join("certbot.timer").is_symlink());

    // Nothing of certbot's changed.
    assert_eq!(snapshot(&config), before);

    // certbot goes on with the account certctl renewed with: a new certificate, same account.
    certbot.certonly_webroot(&lab, "later.test", &[]);
    assert_eq!(certbot.account(&lab).1, account_url);
}

/// The account certctl stored (`stored`, its account.json) has certbot's RSA key (in
/// `account_dir`), not a new one.
fn assert_same_rsa_key(stored: &serde_json::Value, account_dir: &Path) {
    use base64::Engine;
    use base64::prelude::BASE64_URL_SAFE_NO_PAD as B64;
    let certbots: serde_json::Value =
        serde_json::from_slice(&fs::read(account_dir.join("private_key.json")).unwrap()).unwrap();
    assert_eq!(certbots["kty"], "RSA", "certbot registers RSA accounts");
    let key = openssl::pkey::PKey::private_key_from_pkcs8(
        &B64.decode(stored["key_pkcs8"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let rsa = key.rsa().expect("the stored account key is RSA");
    assert_eq!(
        B64.encode(rsa.n().to_vec()),
        certbots["n"].as_str().unwrap().trim_end_matches('=')
    );
}

#[test]
fn disables_certbots_schedule_only_on_request_under_a_root() {
    let lab = certbot_lab(false);
    let certbot = Certbot::new(&lab);
    let port = lab.http_port.to_string();
    certbot.certonly(
        &lab,
        &["--standalone", "--http-01-port", &port, "-d", "a.test"],
    );
    let fake_root = lab.dir.path().join("root");
    let wants = enable_certbot_timer(&fake_root);
    fs::create_dir_all(fake_root.join("etc/cron.d")).unwrap();
    let cron = fake_root.join("etc/cron.d/certbot");
    let debian_cron = "SHELL=/bin/sh\n0 */12 * * * root test -x /usr/bin/certbot -a \\! -d /run/systemd/system && perl -e 'sleep int(rand(43200))' && certbot -q renew\n";
    fs::write(&cron, debian_cron).unwrap();
    let config = certbot.config_dir();
    let import = |extra: &[&str]| import_certbot(&lab, &config, extra);
    // Without the flag, nothing outside the state directory changes.
    assert_ok(&import(&["--dry-run"]));
    let root = fake_root.to_str().unwrap();
    let planned = import_report(&import(&[
        "--dry-run",
        "--json",
        "--disable-certbot",
        "--root",
        root,
    ]));
    assert!(
        planned["certbot_schedule"]["actions"][0]
            .as_str()
            .unwrap()
            .starts_with("would disable certbot.timer")
    );
    assert!(wants.join("certbot.timer").is_symlink());
    let done = import_report(&import(&["--json", "--disable-certbot", "--root", root]));
    assert_eq!(lineage(&done, "a.test")["outcome"], "imported");
    assert_eq!(done["certbot_schedule"]["disabled"], true, "{done:#}");
    assert!(!wants.join("certbot.timer").exists());
    let disabled = fs::read_to_string(&cron).unwrap();
    assert!(
        disabled.contains("#disabled by certctl import: 0 */12"),
        "{disabled}"
    );
    assert!(disabled.starts_with("SHELL=/bin/sh\n"));
}

#[test]
fn bad_config_dirs_are_one_line_errors_and_write_nothing() {
    let lab = certbot_lab(false);
    let missing = lab.dir.path().join("no-such-dir");
    let not_certbot = lab.dir.path().join("www");
    for (dir, want) in [
        (&missing, "no certbot configuration directory"),
        (&not_certbot, "is not a certbot configuration directory"),
    ] {
        let out = lab
            .certctl(["import", "certbot", "--config-dir", dir.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(want), "{err}");
        assert!(!lab.state_dir.exists());
    }
}

/// certbot's account files for a P-256 key (what another tool, or a newer certbot, may have):
/// the key as a JWK, the registration with its URL, certbot's metadata. Returns certbot's id.
fn write_certbot_ec_account(
    certbot: &Certbot,
    lab: &Lab,
    pkcs8: &[u8],
    account_url: &str,
) -> String {
    use base64::Engine;
    use base64::prelude::BASE64_URL_SAFE_NO_PAD as B64;
    let key = openssl::pkey::PKey::private_key_from_pkcs8(pkcs8).unwrap();
    let ec = key.ec_key().unwrap();
    let (mut x, mut y) = (
        openssl::bn::BigNum::new().unwrap(),
        openssl::bn::BigNum::new().unwrap(),
    );
    let mut ctx = openssl::bn::BigNumContext::new().unwrap();
    ec.public_key()
        .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
        .unwrap();
    let jwk = serde_json::json!({
        "kty": "EC", "crv": "P-256",
        "x": B64.encode(x.to_vec_padded(32).unwrap()),
        "y": B64.encode(y.to_vec_padded(32).unwrap()),
        "d": B64.encode(ec.private_key().to_vec_padded(32).unwrap()),
    });
    // certbot names an account by the MD5 of its public key in PEM.
    let pem = key.public_key_to_pem().unwrap();
    let id: String = openssl::hash::hash(openssl::hash::MessageDigest::md5(), &pem)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let dir = certbot
        .config_dir()
        .join("accounts")
        .join(format!("127.0.0.1:{}", lab.acme_port))
        .join("dir")
        .join(&id);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("private_key.json"), jwk.to_string()).unwrap();
    fs::set_permissions(
        dir.join("private_key.json"),
        fs::Permissions::from_mode(0o400),
    )
    .unwrap();
    fs::write(
        dir.join("regr.json"),
        serde_json::json!({"body": {}, "uri": account_url}).to_string(),
    )
    .unwrap();
    fs::write(
        dir.join("meta.json"),
        r#"{"creation_dt": "2026-01-01T00:00:00Z", "creation_host": "localhost"}"#,
    )
    .unwrap();
    id
}

#[test]
fn reuses_a_p256_certbot_account_with_its_url() {
    use base64::Engine;
    use base64::prelude::BASE64_URL_SAFE_NO_PAD as B64;
    let lab = certbot_lab(false);
    // An account with a P-256 key, registered at pebble (by certctl, in another state dir).
    let scratch = lab.dir.path().join("scratch");
    let port = lab.http_port.to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_certctl"))
        .arg("--state-dir")
        .arg(&scratch)
        .args(["issue", "seed.test", "--standalone", "--http-port", &port])
        .args([
            "--server",
            &lab.directory_url(),
            "--agree-tos",
            "--ca-bundle",
        ])
        .arg(&lab.ca_bundle)
        .output()
        .unwrap();
    assert_ok(&out);
    let slug = format!("127.0.0.1_{}_dir", lab.acme_port);
    let scratch_account: serde_json::Value = serde_json::from_slice(
        &fs::read(scratch.join("accounts").join(&slug).join("account.json")).unwrap(),
    )
    .unwrap();
    let url = scratch_account["id"].as_str().unwrap().to_owned();
    let pkcs8 = B64
        .decode(scratch_account["key_pkcs8"].as_str().unwrap())
        .unwrap();

    // certbot issues with that account.
    let certbot = Certbot::new(&lab);
    let id = write_certbot_ec_account(&certbot, &lab, &pkcs8, &url);
    certbot.certonly(
        &lab,
        &[
            "--standalone",
            "--http-01-port",
            &port,
            "--account",
            &id,
            "-d",
            "ec.test",
        ],
    );
    let conf = fs::read_to_string(certbot.config_dir().join("renewal/ec.test.conf")).unwrap();
    assert!(conf.contains(&format!("account = {id}")), "{conf}");

    let report = import_report(&import_certbot(&lab, &certbot.config_dir(), &["--json"]));
    let ec = lineage(&report, "ec.test");
    assert_eq!(ec["outcome"], "imported");
    assert_eq!(ec["account"]["status"], "reused", "{ec:#}");
    assert_eq!(ec["account"]["url"], url.as_str());
    // certctl's account is certbot's: its URL, and the same private key.
    let stored_path = lab
        .state_dir
        .join("accounts")
        .join(&slug)
        .join("account.json");
    let stored_bytes = fs::read(&stored_path).unwrap();
    let stored: serde_json::Value = serde_json::from_slice(&stored_bytes).unwrap();
    assert_eq!(stored["id"], url.as_str());
    let scalar = |der: &[u8]| {
        openssl::pkey::PKey::private_key_from_pkcs8(der)
            .unwrap()
            .ec_key()
            .unwrap()
            .private_key()
            .to_vec()
    };
    assert_eq!(
        scalar(&B64.decode(stored["key_pkcs8"].as_str().unwrap()).unwrap()),
        scalar(&pkcs8)
    );
    // Renewal signs with it (pebble knows the URL and checks the key), and registers nothing.
    renews_with_the_stored_account(&lab, &certbot, "ec.test", &stored_path);
}

/// `certctl renew NAME --force` makes a new certificate with certctl's stored account, which
/// stays as it was (nothing registered).
fn renews_with_the_stored_account(lab: &Lab, certbot: &Certbot, name: &str, account: &Path) {
    let before = fs::read(account).unwrap();
    let renewed = lab.certctl(["renew", name, "--force"]).output().unwrap();
    assert_ok(&renewed);
    assert_ne!(
        serial_of(&lab.live(name).join("cert.pem")),
        serial_of(&certbot.live(name).join("cert.pem"))
    );
    assert_eq!(fs::read(account).unwrap(), before);
}

#[test]
fn reuses_certbots_rsa_account_its_key_and_url_beside_certbot() {
    let lab = certbot_lab(false);
    let certbot = Certbot::new(&lab);
    let port = lab.http_port.to_string();
    for name in ["rsa.test", "rsa2.test"] {
        certbot.certonly(&lab, &["--standalone", "--http-01-port", &port, "-d", name]);
    }
    let (account_dir, account_url) = certbot.account(&lab);
    let config = certbot.config_dir();
    let before = snapshot(&config);

    // --dry-run says it would use certbot's account, and sends nothing.
    let planned = import_report(&import_certbot(&lab, &config, &["--dry-run", "--json"]));
    for name in ["rsa.test", "rsa2.test"] {
        let l = lineage(&planned, name);
        assert_eq!(l["account"]["status"], "reused", "{l:#}");
        assert_eq!(l["account"]["url"], account_url.as_str());
    }

    let out = import_certbot(&lab, &config, &[]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("account: certbot's, {account_url}")),
        "{text}"
    );
    let stored_path = lab
        .state_dir
        .join("accounts")
        .join(format!("127.0.0.1_{}_dir", lab.acme_port))
        .join("account.json");
    let stored_bytes = fs::read(&stored_path).unwrap();
    assert_eq!(crate::common::mode(&stored_path) & 0o077, 0);
    let stored: serde_json::Value = serde_json::from_slice(&stored_bytes).unwrap();
    assert_eq!(stored["id"], account_url.as_str());
    assert_same_rsa_key(&stored, &account_dir);

    // certctl renews with it: pebble finds the account by certbot's URL (the kid of every
    // request), checks each RS256 signature against certbot's key, and validates the token
    // against the key authorization of certbot's key.
    renews_with_the_stored_account(&lab, &certbot, "rsa.test", &stored_path);

    assert_eq!(
        snapshot(&config),
        before,
        "the import changed certbot's directory"
    );

    // certbot's copy works as before: certbot renews the lineage certctl did not take over in
    // this directory, with the same account, after certctl's renewal.
    certbot.run_ok(
        &lab,
        "renew",
        &[
            "--cert-name",
            "rsa2.test",
            "--force-renewal",
            "--no-random-sleep-on-renew",
            "--http-01-port",
            &port,
        ],
    );
    assert_ok(&certbot.show_account(&lab));
    // …and certctl's again after certbot's.
    renews_with_the_stored_account(&lab, &certbot, "rsa.test", &stored_path);

    // An import into another state directory takes the same account.
    let out = Command::new(env!("CARGO_BIN_EXE_certctl"))
        .arg("--state-dir")
        .arg(lab.dir.path().join("other-state"))
        .args(["import", "certbot", "--no-nginx", "--json", "--config-dir"])
        .arg(&config)
        .arg("--ca-bundle")
        .arg(&lab.ca_bundle)
        .output()
        .unwrap();
    let other = import_report(&out);
    let account = &lineage(&other, "rsa.test")["account"];
    assert_eq!(account["status"], "reused", "{account:#}");
    assert_eq!(account["url"], account_url.as_str());

    // A second import changes nothing.
    let again = import_report(&import_certbot(&lab, &config, &["--json"]));
    assert_eq!(lineage(&again, "rsa.test")["outcome"], "already_imported");
    assert_eq!(fs::read(&stored_path).unwrap(), stored_bytes);
}

/// certbot's timer enabled under a fake root, as Debian's package enables it; the wants/ dir.
fn enable_certbot_timer(root: &Path) -> PathBuf {
    let wants = root.join("etc/systemd/system/timers.target.wants");
    fs::create_dir_all(&wants).unwrap();
    std::os::unix::fs::symlink(
        "/lib/systemd/system/certbot.timer",
        wants.join("certbot.timer"),
    )
    .unwrap();
    wants
}

fn serial_of_pem(pem: &str) -> String {
    let (_, pem) = parse_x509_pem(pem.as_bytes()).unwrap();
    let (_, cert) = X509Certificate::from_der(&pem.contents).unwrap();
    cert.raw_serial_as_string().replace(':', "")
}

/// The lines of an nginx file that are not comments.
fn directives(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn points_nginx_at_certctls_files_and_renews_through_it() {
    let lab = Lab::with(LabOptions {
        managed_nginx: true,
        nonce_reject: Some(0),
        ..LabOptions::default()
    });
    let certbot = Certbot::new(&lab);
    let config = certbot.config_dir();
    let prefix = &lab.nginx_prefix;
    let www = lab.dir.path().join("shop-www");
    fs::create_dir_all(&www).unwrap();
    fs::write(www.join("index.html"), "the shop\n").unwrap();
    // A Debian-style site (sites-available, enabled by a symlink) that nginx serves over
    // plain HTTP; certbot's webroot lineage is validated through it.
    let site = prefix.join("sites-available/shop.test");
    let http = format!(
        "server {{\n    listen 127.0.0.1:{};\n    server_name shop.test;\n    root {};\n}}\n",
        lab.http_port,
        www.display()
    );
    fs::write(&site, &http).unwrap();
    std::os::unix::fs::symlink(&site, prefix.join("sites-enabled/shop.test")).unwrap();
    lab.reload_nginx();
    certbot.certonly(
        &lab,
        &["--webroot", "-w", www.to_str().unwrap(), "-d", "shop.test"],
    );
    // The TLS server as certbot's nginx installer writes it, reading certbot's live/.
    let live = certbot.live("shop.test");
    let tls = format!(
        "server {{\n    listen 127.0.0.1:{} ssl;\n    server_name shop.test;\n    root {};\n    ssl_certificate {}/fullchain.pem; # managed by Certbot\n    ssl_certificate_key {}/privkey.pem; # managed by Certbot\n}}\n",
        lab.https_port,
        www.display(),
        live.display(),
        live.display()
    );
    let original = format!("{http}{tls}");
    fs::write(&site, &original).unwrap();
    // What certbot's nginx installer records in the renewal file.
    let renewal = config.join("renewal/shop.test.conf");
    let conf = fs::read_to_string(&renewal).unwrap();
    fs::write(
        &renewal,
        conf.replace("[renewalparams]\n", "[renewalparams]\ninstaller = nginx\n"),
    )
    .unwrap();
    lab.reload_nginx();
    let certbot_serial = serial_of(&live.join("cert.pem"));
    assert_eq!(
        serial_of_pem(&lab.served_leaf("shop.test", None)),
        certbot_serial
    );
    let before = snapshot(&config);
    let import = |extra: &[&str]| import_certbot(&lab, &config, extra);

    // --dry-run shows the diff and writes nothing.
    let dry = import(&["--dry-run"]);
    assert_ok(&dry);
    let text = String::from_utf8_lossy(&dry.stdout);
    let ours = lab.live("shop.test");
    assert!(
        text.contains(&format!(
            "+    ssl_certificate {}/fullchain.pem;",
            ours.display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "-    ssl_certificate_key {}/privkey.pem;",
            live.display()
        )),
        "{text}"
    );
    assert_eq!(fs::read_to_string(&site).unwrap(), original);
    assert!(
        !lab.state_dir.exists(),
        "a dry run wrote the state directory"
    );

    // The import points both lines at certctl's files, in the real file behind the symlink,
    // and says where (file:line).
    let report = import_report(&import(&["--json"]));
    let shop = lineage(&report, "shop.test");
    assert_eq!(shop["outcome"], "imported");
    assert_eq!(shop["installer"], "nginx");
    let real = fs::canonicalize(&site).unwrap();
    let at: Vec<&str> = shop["repointed"]
        .as_array()
        .unwrap_or_else(|| panic!("{shop:#}"))
        .iter()
        .map(|m| m["at"].as_str().unwrap())
        .collect();
    assert_eq!(
        at,
        [
            format!("{}:10", real.display()),
            format!("{}:11", real.display())
        ]
    );
    assert_eq!(report["nginx"]["reloaded"], true);
    assert!(prefix.join("sites-enabled/shop.test").is_symlink());
    let edited = fs::read_to_string(&site).unwrap();
    let lines = directives(&edited);
    assert!(!lines.contains(&config.display().to_string()), "{edited}");
    assert!(
        lines.contains(&format!(
            "ssl_certificate {}/fullchain.pem;",
            ours.display()
        )) && lines.contains(&format!(
            "ssl_certificate_key {}/privkey.pem;",
            ours.display()
        )),
        "{edited}"
    );
    let test = Command::new("nginx")
        .arg("-t")
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(prefix.join("nginx.conf"))
        .output()
        .unwrap();
    assert_ok(&test);
    // The same certificate, now served from certctl's files.
    assert_eq!(
        serial_of_pem(&lab.served_leaf("shop.test", None)),
        certbot_serial
    );
    // A second import has nothing left to repoint.
    let again = import_report(&import(&["--json"]));
    assert_eq!(lineage(&again, "shop.test")["outcome"], "already_imported");
    assert_eq!(again["nginx"]["changed"], serde_json::json!([]));
    assert_eq!(fs::read_to_string(&site).unwrap(), edited);

    // A renewal goes through certbot's webroot, and nginx serves the new certificate.
    let renewed = lab
        .certctl(["renew", "shop.test", "--force"])
        .output()
        .unwrap();
    assert_ok(&renewed);
    let new_serial = serial_of(&ours.join("cert.pem"));
    assert_ne!(new_serial, certbot_serial);
    assert_eq!(
        serial_of_pem(&lab.served_leaf("shop.test", None)),
        new_serial
    );

    // --revert puts certbot's lines back byte for byte; nginx serves certbot's certificate.
    let reverted = lab
        .certctl(["nginx", "shop.test", "--revert"])
        .output()
        .unwrap();
    assert_ok(&reverted);
    assert_eq!(fs::read_to_string(&site).unwrap(), original);
    // (nginx's old workers answer for a moment after the reload.)
    crate::common::eventually(|| {
        (serial_of_pem(&lab.served_leaf("shop.test", None)) == certbot_serial).then_some(())
    });

    // Nothing of certbot's changed.
    assert_eq!(snapshot(&config), before);
}

/// The layout `certbot --nginx --redirect --hsts` leaves on a Debian site, made by the real
/// certbot nginx plugin: its nginx authenticator answered the challenges, so certctl takes the
/// site over (its ACME include and redirect on port 80, its certificate on 443) and its renewals
/// are answered there.
#[test]
fn takes_over_a_site_certbots_nginx_plugin_set_up_and_renews_through_it() {
    let lab = Lab::with(LabOptions {
        debian_nginx: true,
        nonce_reject: Some(0),
        ..LabOptions::default()
    });
    let certbot = Certbot::new(&lab);
    let config = certbot.config_dir();
    let prefix = &lab.nginx_prefix;
    let site = prefix.join("sites-available/nx");
    fs::write(
        &site,
        format!(
            "server {{\n    listen {};\n    server_name nx.test;\n    location / {{ return 200 \"nx site\\n\"; }}\n}}\n",
            lab.http_port
        ),
    )
    .unwrap();
    std::os::unix::fs::symlink("../sites-available/nx", prefix.join("sites-enabled/nx")).unwrap();
    lab.reload_nginx();
    let (http, https) = (lab.http_port.to_string(), lab.https_port.to_string());
    certbot.run_ok(
        &lab,
        "run",
        &[
            "--nginx",
            "--nginx-server-root",
            prefix.to_str().unwrap(),
            "--redirect",
            "--hsts",
            "-d",
            "nx.test",
            "--http-01-port",
            &http,
            "--https-port",
            &https,
        ],
    );
    let renewal = fs::read_to_string(config.join("renewal/nx.test.conf")).unwrap();
    assert!(renewal.contains("authenticator = nginx"), "{renewal}");
    let certbot_serial = serial_of(&certbot.live("nx.test").join("cert.pem"));
    let before = snapshot(&config);
    let certbots_site = fs::read_to_string(&site).unwrap();

    // Where certctl's files go in the lab's Debian layout (import_certbot adds -p and -c).
    let dir = |sub: &str| prefix.join(sub).display().to_string();
    let (sites, enabled) = (dir("sites-available"), dir("sites-enabled"));
    let (snippets, acme) = (dir("snippets/certctl"), dir("acme"));
    let out = import_certbot(
        &lab,
        &config,
        &[
            "--json",
            "--nginx-sites",
            &sites,
            "--nginx-enabled",
            &enabled,
            "--nginx-snippets",
            &snippets,
            "--acme-webroot",
            &acme,
        ],
    );
    assert_ok(&out);
    let report = import_report(&out);
    let nx = lineage(&report, "nx.test");
    assert_eq!(nx["outcome"], "imported", "{nx:#}");
    assert!(
        nx["responder"]
            .as_str()
            .unwrap()
            .starts_with("nginx on port"),
        "{nx:#}"
    );
    let changed = nx["site"]["changed"].as_array().unwrap();
    assert!(!changed.is_empty(), "{nx:#}");
    // The same certificate, now read from certctl's files, with HSTS; port 80 redirects.
    let (root, _) = lab.pebble_roots();
    let served = eventually(|| {
        let leaf = serial_of_pem(&lab.served_leaf("nx.test", None));
        (leaf == certbot_serial).then_some(leaf)
    });
    assert_eq!(served, certbot_serial);
    let text = fs::read_to_string(&site).unwrap();
    assert!(
        text.contains(&format!("{}/fullchain.pem", lab.live("nx.test").display())),
        "{text}"
    );

    // The first renewal is answered by certctl's ACME include in the port-80 server.
    let out = lab.certctl(["renew", "--force"]).output().unwrap();
    assert_ok(&out);
    let renewed = serial_of(&lab.live("nx.test").join("cert.pem"));
    assert_ne!(renewed, certbot_serial);
    let page = eventually(|| {
        https_get(lab.https_port, "nx.test", "/", &root)
            .ok()
            .filter(|p| p.status == 200)
    });
    assert_eq!(page.body, "nx site\n");
    assert!(page.header("strict-transport-security").is_some());
    assert_eq!(serial_of_pem(&lab.served_leaf("nx.test", None)), renewed);
    assert_eq!(
        snapshot(&config),
        before,
        "certbot's directory is untouched"
    );

    // --revert puts certbot's site back as certbot left it, repointed lines included.
    let mut revert = vec!["nginx", "nx.test", "--revert"];
    let flags = lab.debian_nginx_flags();
    revert.extend(flags.iter().map(String::as_str));
    assert_ok(&lab.certctl(&revert).output().unwrap());
    assert_eq!(fs::read_to_string(&site).unwrap(), certbots_site);
}
