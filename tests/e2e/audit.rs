//! The audit's hand-built handshakes against a real nginx (library level until `certctl audit`
//! lands).

use std::fs;
use std::net::SocketAddr;
use std::time::Duration;

use certctl::audit::probe::{self, ProbeError};
use certctl::audit::wire::{self, Answer, CipherSuite, HelloSpec, Version, WireError};

use crate::common::{Lab, assert_ok};

fn run<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(fut)
}

#[test]
fn probes_find_the_protocols_nginx_speaks_and_its_chain() {
    let lab = Lab::managed_nginx();
    assert_ok(&lab.issue_site("site.test", &[]));

    let addr = SocketAddr::from(([127, 0, 0, 1], lab.https_port));
    let deadline = Duration::from_secs(5);
    // Mozilla intermediate: TLS 1.2 and 1.3 only, although Debian's http-level line in the lab's
    // nginx.conf enables TLS 1.0 and 1.1 (certctl's server-level snippet overrides it).
    let found = crate::common::eventually(|| {
        let found = run(probe::protocols(addr, Some("site.test"), deadline));
        let spoken: Vec<Version> = found
            .iter()
            .filter(|(_, r)| matches!(r, Ok(true)))
            .map(|(v, _)| *v)
            .collect();
        (spoken == [Version::Tls12, Version::Tls13]).then_some(found)
    });
    assert!(found.iter().all(|(_, r)| r.is_ok()), "{found:?}");

    // TLS 1.2 sends the chain in the clear: the leaf is the live certificate.
    let suites = probe::BROAD_SUITES;
    let spec = HelloSpec {
        version: Version::Tls12,
        suites: &suites,
        sni: Some("site.test"),
        groups: &wire::GROUPS,
        random: [9; 32],
        alpn: &["h2", "http/1.1"],
        compression: false,
    };
    let answer = run(probe::ask(addr, &wire::client_hello(&spec), true, deadline)).unwrap();
    let Answer::Hello(hello) = answer else {
        panic!("{answer:?}")
    };
    assert!(hello.secure_renegotiation, "RFC 5746 renegotiation_info");
    assert_eq!(hello.alpn.as_deref(), Some("h2"));
    assert_eq!(hello.compression, 0);
    let live = fs::read(lab.live("site.test").join("cert.pem")).unwrap();
    let live = certctl::verify::parse_pem_chain(&live).unwrap();
    assert_eq!(
        hello.certificates.first().map(Vec::as_slice),
        Some(live[0].as_ref())
    );

    // Cipher suites, found by remove-and-repeat: with an ECDSA certificate, the ECDSA half of
    // Mozilla's intermediate list; the client's order decides (ssl_prefer_server_ciphers off).
    let tls12 = run(probe::accepted_suites(
        addr,
        Some("site.test"),
        Version::Tls12,
        deadline,
    ))
    .unwrap();
    let mut got = tls12.suites.clone();
    got.sort_unstable();
    assert_eq!(got, [0xC02B, 0xC02C, 0xCCA9].map(CipherSuite), "{tls12:?}");
    assert_eq!(tls12.server_order, Some(false));
    assert_eq!(
        tls12.connections, 5,
        "one per suite, one refusal, one order check"
    );
    let tls13 = run(probe::accepted_suites(
        addr,
        Some("site.test"),
        Version::Tls13,
        deadline,
    ))
    .unwrap();
    let mut got = tls13.suites.clone();
    got.sort_unstable();
    assert_eq!(got, [0x1301, 0x1302, 0x1303].map(CipherSuite), "{tls13:?}");
    let tls10 = run(probe::accepted_suites(
        addr,
        Some("site.test"),
        Version::Tls10,
        deadline,
    ))
    .unwrap();
    assert!(tls10.suites.is_empty());

    // A plain-HTTP port is a clear finding, not a hang.
    let http = SocketAddr::from(([127, 0, 0, 1], lab.http_port));
    let err = run(probe::ask(http, &wire::client_hello(&spec), true, deadline)).unwrap_err();
    assert!(
        matches!(err, ProbeError::Wire(WireError::NotTls(ref m)) if m.contains("plain-HTTP")),
        "{err}"
    );
    // Nothing listening: a connect error.
    let closed = SocketAddr::from(([127, 0, 0, 1], crate::common::free_port()));
    assert!(matches!(
        run(probe::ask(
            closed,
            &wire::client_hello(&spec),
            true,
            deadline
        )),
        Err(ProbeError::Connect(..))
    ));
}

#[test]
fn certctl_audit_grades_the_site_issue_nginx_made_a_plus() {
    let lab = Lab::managed_nginx();
    assert_ok(&lab.issue_site("site.test", &[]));

    let target = format!("127.0.0.1:{}", lab.https_port);
    let http_port = lab.http_port.to_string();
    let audit = |extra: &[&str]| {
        let mut all = vec![
            "audit",
            &target,
            "--sni",
            "site.test",
            "--ca-bundle",
            lab.ca_bundle.to_str().unwrap(),
            "--http-port",
            &http_port,
        ];
        all.extend_from_slice(extra);
        lab.certctl(&all).output().unwrap()
    };
    let out = crate::common::eventually(|| {
        let out = audit(&["--json"]);
        out.status.success().then_some(out)
    });
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    crate::common::assert_schema("audit", &report);
    assert_eq!(report["grade"], "A+", "{report:#}");
    assert_eq!(report["rating"]["caps"].as_array().unwrap().len(), 0);
    assert_eq!(report["certificate"]["trusted"], true);
    assert_eq!(report["hsts_max_age"], 63_072_000);
    assert!(
        report["http_redirect"]["Ok"]
            .as_str()
            .unwrap()
            .starts_with("301"),
        "{report:#}"
    );
    assert!(report["connections"].as_u64().unwrap() < 40);
    assert_eq!(report["sslv2"], false);
    assert_eq!(report["compression"], false);
    assert_eq!(
        report["fallback_scsv"], true,
        "a TLS 1.2 hello with the SCSV is refused"
    );
    assert_eq!(report["resumption"], true, "nginx's shared session cache");
    // ssl_ecdh_curve X25519:prime256v1:secp384r1, asked one group at a time.
    assert_eq!(
        report["groups"],
        serde_json::json!(["x25519", "secp256r1", "secp384r1"])
    );
    assert_ok(&audit(&["--min-grade", "A+"]));
    // One connection at a time gives the same answer.
    assert_ok(&audit(&["--min-grade", "A+", "--concurrency", "1"]));

    // Without HSTS the best is A, and --min-grade says so with exit 1.
    assert_ok(&lab.nginx_command("site.test", &["--no-hsts"]));
    let out = crate::common::eventually(|| {
        let out = audit(&["--min-grade", "A+"]);
        (out.status.code() == Some(1)).then_some(out)
    });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("A  "), "{text}");
    assert!(crate::common::stderr(&out).contains("worse than --min-grade A+"));

    // Without the CA bundle pebble's root is unknown: T, and the grade with trust ignored stays A.
    let out = lab
        .certctl([
            "audit",
            &target,
            "--sni",
            "site.test",
            "--json",
            "--http-port",
            "0",
        ])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    crate::common::assert_schema("audit", &report);
    assert_eq!(
        (
            report["grade"].as_str(),
            report["rating"]["grade_trust_ignored"].as_str()
        ),
        (Some("T"), Some("A"))
    );

    // A plain-HTTP port is not a TLS server: a clear error, exit 1, no hang.
    let out = lab
        .certctl([
            "audit",
            &format!("127.0.0.1:{}", lab.http_port),
            "--http-port",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        crate::common::stderr(&out)
    );
    assert!(
        crate::common::stderr(&out).contains("plain-HTTP"),
        "{}",
        crate::common::stderr(&out)
    );
}

#[test]
fn a_1024_bit_dh_group_caps_the_grade_at_b() {
    let lab = Lab::managed_nginx();
    assert_ok(&lab.issue_site("site.test", &["--key-type", "rsa-2048"]));
    let dh = lab.dir.path().join("dh1024.pem");
    let made = std::process::Command::new("openssl")
        .args(["dhparam", "-out"])
        .arg(&dh)
        .arg("1024")
        .output()
        .unwrap();
    assert!(made.status.success());
    // A server of the user's own, TLS 1.2 with DHE only, on another port.
    let port = crate::common::free_port();
    let live = lab.live("site.test");
    fs::write(
        lab.nginx_prefix.join("sites-enabled/weak-dh.conf"),
        format!(
            "server {{\n    listen 127.0.0.1:{port} ssl;\n    server_name site.test;\n    ssl_certificate {live}/fullchain.pem;\n    ssl_certificate_key {live}/privkey.pem;\n    ssl_protocols TLSv1.2;\n    ssl_ciphers DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=1;\n    ssl_dhparam {dh};\n    return 200 \"weak\";\n}}\n",
            live = live.display(),
            dh = dh.display()
        ),
    )
    .unwrap();
    lab.reload_nginx();

    let target = format!("127.0.0.1:{port}");
    let bundle = lab.ca_bundle.to_str().unwrap();
    let report: serde_json::Value = crate::common::eventually(|| {
        let out = lab
            .certctl([
                "audit",
                &target,
                "--sni",
                "site.test",
                "--ca-bundle",
                bundle,
                "--http-port",
                "0",
                "--json",
            ])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    });
    assert_eq!(report["dh_bits"], 1024, "{report:#}");
    assert_eq!(report["grade"], "B", "{report:#}");
    let caps = report["rating"]["caps"].to_string();
    assert!(caps.contains("LOGJAM"), "{caps}");
    let tls12 = &report["protocols"][3];
    assert_eq!(tls12["protocol"], "TLS 1.2");
    assert_eq!(
        tls12["suites"][0]["name"],
        "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"
    );
    assert_eq!(
        report["protocols"][4]["supported"], false,
        "no TLS 1.3 here"
    );
    assert_eq!(report["compression"], false);
}

/// One nginx server of the battery and the grade it must get.
struct Case<'a> {
    name: &'a str,
    /// Certificate file stem (with chain, or `-leaf-only`).
    cert: &'a str,
    /// Key file stem.
    key: &'a str,
    /// ssl_protocols / ssl_ciphers lines.
    tls: String,
    hsts: bool,
    /// The --ca-bundle for the audit.
    bundle: &'a std::path::Path,
    grade: &'a str,
    /// A cap that must be named ("" for none).
    reason: &'a str,
}

/// A test CA (root → intermediate) and the leaves the battery serves.
struct Pki {
    root: String,
    intermediate: String,
    /// (name, cert PEM, key PEM)
    leaves: Vec<(&'static str, String, String)>,
}

fn battery_pki() -> Pki {
    use certctl::keys::{KeyType, PrivateKey};
    use rcgen::{CertificateParams, KeyPair};
    let root = crate::common::TestCa::root("Battery Root");
    let intermediate = root.intermediate("Battery Intermediate");

    let leaf = |name: &str, key_type: KeyType, expired: bool, self_signed: bool| {
        let key = PrivateKey::generate(key_type).unwrap();
        let pair = KeyPair::from_pem(&key.to_pem()).unwrap();
        let mut p = CertificateParams::new(vec![name.to_owned()]).unwrap();
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = match self_signed {
            true => p.self_signed(&pair).unwrap(),
            false => intermediate.sign(p, &pair),
        };
        (cert.pem(), key.to_pem())
    };
    let mut leaves = Vec::new();
    for (label, name, kt, expired, selfs) in [
        ("ecdsa", "bat.test", KeyType::EcdsaP256, false, false),
        ("rsa", "bat.test", KeyType::Rsa2048, false, false),
        ("expired", "bat.test", KeyType::EcdsaP256, true, false),
        ("self-signed", "bat.test", KeyType::EcdsaP256, false, true),
        ("other-name", "other.test", KeyType::EcdsaP256, false, false),
    ] {
        let (cert, key) = leaf(name, kt, expired, selfs);
        leaves.push((label, cert, key));
    }
    Pki {
        root: root.pem(),
        intermediate: intermediate.pem(),
        leaves,
    }
}

#[test]
fn the_battery_grades_each_configuration_as_the_rating_guide_says() {
    let lab = Lab::managed_nginx();
    let pki = battery_pki();
    let dir = lab.dir.path().join("battery");
    fs::create_dir_all(&dir).unwrap();
    for (label, cert, key) in &pki.leaves {
        let chain = match *label {
            "self-signed" => cert.clone(),
            _ => format!("{cert}{}", pki.intermediate),
        };
        fs::write(dir.join(format!("{label}.pem")), chain).unwrap();
        fs::write(dir.join(format!("{label}-leaf-only.pem")), cert).unwrap();
        fs::write(dir.join(format!("{label}.key")), key).unwrap();
    }
    let root_only = dir.join("root.pem");
    fs::write(&root_only, &pki.root).unwrap();
    let root_and_intermediate = dir.join("root-and-intermediate.pem");
    fs::write(
        &root_and_intermediate,
        format!("{}{}", pki.root, pki.intermediate),
    )
    .unwrap();

    let modern = "ssl_protocols TLSv1.3;";
    let intermediate = "ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;";
    let hsts = r#"add_header Strict-Transport-Security "max-age=63072000" always;"#;
    let case = |name, cert, key, tls: &str, hsts, bundle, grade, reason| Case {
        name,
        cert,
        key,
        tls: tls.to_owned(),
        hsts,
        bundle,
        grade,
        reason,
    };
    let cases: Vec<Case<'_>> = vec![
        case(
            "modern", "ecdsa", "ecdsa", modern, true, &root_only, "A+", "",
        ),
        case(
            "intermediate",
            "ecdsa",
            "ecdsa",
            intermediate,
            true,
            &root_only,
            "A+",
            "",
        ),
        case(
            "no hsts",
            "ecdsa",
            "ecdsa",
            intermediate,
            false,
            &root_only,
            "A",
            "",
        ),
        case(
            "rsa key",
            "rsa",
            "rsa",
            intermediate,
            true,
            &root_only,
            "A+",
            "",
        ),
        case(
            "tls 1.0 on",
            "ecdsa",
            "ecdsa",
            "ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3; ssl_ciphers ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0;",
            true,
            &root_only,
            "B",
            "TLS 1.0 or TLS 1.1",
        ),
        case(
            "rsa kex only",
            "rsa",
            "rsa",
            "ssl_protocols TLSv1.2; ssl_ciphers AES128-GCM-SHA256:AES256-GCM-SHA384;",
            true,
            &root_only,
            "B",
            "no forward secrecy",
        ),
        case(
            "rsa kex cbc",
            "rsa",
            "rsa",
            "ssl_protocols TLSv1.2; ssl_ciphers AES128-SHA256;",
            true,
            &root_only,
            "B",
            "no authenticated encryption",
        ),
        case(
            "ecdhe cbc",
            "rsa",
            "rsa",
            "ssl_protocols TLSv1.2; ssl_ciphers ECDHE-RSA-AES256-SHA384;",
            true,
            &root_only,
            "B",
            "no authenticated encryption",
        ),
        case(
            "expired",
            "expired",
            "expired",
            intermediate,
            true,
            &root_only,
            "T",
            "",
        ),
        case(
            "self-signed",
            "self-signed",
            "self-signed",
            intermediate,
            true,
            &root_only,
            "T",
            "",
        ),
        case(
            "wrong name",
            "other-name",
            "other-name",
            intermediate,
            true,
            &root_only,
            "M",
            "",
        ),
        case(
            "no intermediate, unknown",
            "ecdsa-leaf-only",
            "ecdsa",
            intermediate,
            true,
            &root_only,
            "T",
            "",
        ),
        case(
            "no intermediate, known",
            "ecdsa-leaf-only",
            "ecdsa",
            intermediate,
            true,
            &root_and_intermediate,
            "B",
            "incomplete",
        ),
    ];
    let mut conf = String::new();
    let mut ports = Vec::new();
    for Case {
        name: case,
        cert,
        key,
        tls,
        hsts: with_hsts,
        ..
    } in &cases
    {
        let port = crate::common::free_port();
        ports.push(port);
        conf.push_str(&format!(
            "# {case}\nserver {{\n    listen 127.0.0.1:{port} ssl;\n    server_name bat.test;\n    ssl_certificate {d}/{cert}.pem;\n    ssl_certificate_key {d}/{key}.key;\n    {tls}\n    {h}\n    return 200 \"ok\";\n}}\n",
            d = dir.display(),
            h = if *with_hsts { hsts } else { "" },
        ));
    }
    fs::write(lab.nginx_prefix.join("sites-enabled/battery.conf"), conf).unwrap();
    lab.reload_nginx();

    for (
        Case {
            name: case,
            bundle,
            grade: want,
            reason,
            ..
        },
        port,
    ) in cases.iter().zip(&ports)
    {
        let target = format!("127.0.0.1:{port}");
        let report: serde_json::Value = crate::common::eventually(|| {
            let out = lab
                .certctl([
                    "audit",
                    &target,
                    "--sni",
                    "bat.test",
                    "--http-port",
                    "0",
                    "--json",
                    "--ca-bundle",
                ])
                .arg(bundle)
                .output()
                .unwrap();
            out.status
                .success()
                .then(|| serde_json::from_slice(&out.stdout).unwrap())
        });
        assert_eq!(report["grade"], *want, "{case}: {report:#}");
        assert!(
            report["http_redirect"].is_null(),
            "--http-port 0 skips the check"
        );
        if !reason.is_empty() {
            let named = report["rating"]["caps"].to_string();
            assert!(named.contains(reason), "{case}: {reason:?} not in {named}");
        }
        // OpenSSL 3 has neither oracle: with RSA key exchange ROBOT runs and finds nothing, with
        // a TLS 1.2 AES-CBC suite the padding probe completes real handshakes and finds nothing.
        let (robot, cbc) = match *case {
            "rsa kex only" => ("not_vulnerable", "untested"),
            "rsa kex cbc" => ("not_vulnerable", "not_vulnerable"),
            "ecdhe cbc" | "tls 1.0 on" => ("untested", "not_vulnerable"),
            _ => ("untested", "untested"),
        };
        let oracles = (
            report["robot"]["status"].as_str(),
            report["cbc_padding_oracle"]["status"].as_str(),
        );
        assert_eq!(oracles, (Some(robot), Some(cbc)), "{case}: {report:#}");
        // CAA needs DNS: said on every report, never silence.
        let ids = report["rating"]["findings"].to_string();
        assert!(ids.contains("audit.X509_CAA_NOT_CHECKED"), "{case}: {ids}");
        let connections = report["connections"].as_u64().unwrap();
        assert!(connections < 60, "{case}: {connections} connections");
    }

    // Port 80 without a redirect (the lab's default server answers 404): a finding.
    let target = format!("127.0.0.1:{}", ports[0]);
    let http_port = lab.http_port.to_string();
    let out = lab
        .certctl([
            "audit",
            &target,
            "--sni",
            "bat.test",
            "--json",
            "--http-port",
            &http_port,
            "--ca-bundle",
        ])
        .arg(&root_only)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    crate::common::assert_schema("audit", &report);
    let redirect = report["http_redirect"]["Err"].as_str().unwrap_or_default();
    assert!(
        redirect.contains("404") && redirect.contains("without a redirect"),
        "{report:#}"
    );
}

/// The battery's ECDSA leaf for `bat.test` with its intermediate (`DIR/c.pem`, `DIR/c.key`) and
/// the root, written under the lab for hand-written server blocks: (DIR, the root's path).
fn ecdsa_site_files(lab: &Lab, name: &str) -> (std::path::PathBuf, String) {
    let pki = battery_pki();
    let dir = lab.dir.path().join(name);
    fs::create_dir_all(&dir).unwrap();
    let (_, cert, key) = &pki.leaves[0];
    fs::write(dir.join("c.pem"), format!("{cert}{}", pki.intermediate)).unwrap();
    fs::write(dir.join("c.key"), key).unwrap();
    let root = dir.join("root.pem");
    fs::write(&root, &pki.root).unwrap();
    (dir, root.display().to_string())
}

/// Fifty TLS listens of one real nginx server: `certctl audit T1 … T50` audits them at once
/// within one connection budget, one line each and a summary with the worst grade, which
/// `--min-grade` turns into the exit code; `--nginx` finds the same fifty in `nginx -T`.
#[test]
fn fifty_targets_at_once_and_the_sites_nginx_serves() {
    let lab = Lab::managed_nginx();
    let (dir, root) = ecdsa_site_files(&lab, "fifty");
    let ports: Vec<u16> = (0..50).map(|_| crate::common::free_port()).collect();
    let listens: String = ports
        .iter()
        .map(|p| format!("    listen 127.0.0.1:{p} ssl;\n"))
        .collect();
    let conf = format!(
        "server {{\n{listens}    server_name bat.test;\n    ssl_certificate {d}/c.pem;\n    ssl_certificate_key {d}/c.key;\n    ssl_protocols TLSv1.2 TLSv1.3;\n    return 200 \"ok\";\n}}\n",
        d = dir.display()
    );
    fs::write(lab.nginx_prefix.join("sites-enabled/fifty.conf"), conf).unwrap();
    lab.reload_nginx();
    let targets: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let audit = |extra: &[&str]| {
        let mut cmd = lab.certctl(["audit", "--sni", "bat.test", "--http-port", "0"]);
        cmd.args(&targets).args(["--ca-bundle", &root]).args(extra);
        cmd.output().unwrap()
    };
    let out = crate::common::eventually(|| {
        let out = audit(&[]);
        out.status.success().then_some(out)
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 51, "{stdout}");
    for (line, port) in lines.iter().zip(&ports) {
        assert!(
            line.starts_with(&format!("A   bat.test (127.0.0.1:{port})")),
            "{line}"
        );
    }
    assert_eq!(lines[50], "50 targets, worst grade A");
    let strict = audit(&["--min-grade", "A+"]);
    assert_eq!(strict.status.code(), Some(1), "no HSTS: A is worse than A+");
    assert!(
        String::from_utf8_lossy(&strict.stderr).contains("grade A is worse than --min-grade A+")
    );

    // --nginx: the same fifty from nginx -T (and whatever else the lab's nginx serves).
    let prefix = lab.nginx_prefix.display().to_string();
    let conf = lab.nginx_prefix.join("nginx.conf").display().to_string();
    let out = lab
        .certctl([
            "audit",
            "--nginx",
            "--nginx-prefix",
            &prefix,
            "--nginx-conf",
            &conf,
        ])
        .args(["--http-port", "0", "--json", "--ca-bundle", &root])
        .output()
        .unwrap();
    let all: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    crate::common::assert_schema("audit", &serde_json::Value::from(all.clone()));
    let ours: Vec<&serde_json::Value> = all
        .iter()
        .filter(|r| {
            r["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("bat.test (127.0.0.1:"))
        })
        .collect();
    assert_eq!(ours.len(), 50, "{all:#?}");
    assert!(ours.iter().all(|r| r["grade"] == "A"), "{ours:#?}");
}

/// `--html FILE` on a real nginx site, opened in Debian's headless chromium: the page loads with
/// no console error, asks for nothing outside itself, and shows the grade.
#[test]
fn the_html_report_loads_in_chromium_and_shows_the_grade() {
    let lab = Lab::managed_nginx();
    assert_ok(&lab.issue_site("site.test", &[]));
    let target = format!("127.0.0.1:{}", lab.https_port);
    let page = lab.dir.path().join("report.html");
    let page_arg = page.display().to_string();
    let bundle = lab.ca_bundle.display().to_string();
    let args = [
        "--sni",
        "site.test",
        "--html",
        &page_arg,
        "--ca-bundle",
        &bundle,
    ];
    let report = audit_json(&lab, &target, &args);
    let grade = report["grade"].as_str().unwrap().to_owned();
    let html = fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("src=") && !html.contains("href=") && !html.contains("@import"),
        "self-contained"
    );
    let profile = lab.dir.path().join("chromium-profile");
    let chromium = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium (scripts/lab-deps.sh installs it)");
    assert!(
        chromium.status.success(),
        "{}",
        String::from_utf8_lossy(&chromium.stderr)
    );
    let dom = String::from_utf8_lossy(&chromium.stdout);
    assert!(
        dom.contains(&format!("<div id=\"grade\">{grade}</div>")),
        "{dom}"
    );
    assert!(dom.contains("site.test"), "{dom}");
    // Everything the page is for: findings (caps and warnings with their IDs), protocols and
    // suites, the chain as sent, the weaknesses probed, the simulated clients.
    for part in [
        "<h2>Findings</h2>",
        "audit.X509_CAA_NOT_CHECKED",
        "<h2>Protocols and cipher suites</h2>",
        "TLS_AES_128_GCM_SHA256",
        "<h2>Certificate</h2>",
        "Pebble Intermediate",
        "<h2>Weaknesses</h2>",
        "ROBOT: ",
        "CBC padding oracle: ",
        "<h2>Simulated clients</h2>",
        "Chromium 137 / Win 11",
    ] {
        assert!(dom.contains(part), "{part} missing: {dom}");
    }
    assert_eq!(
        dom.matches("<td>sent</td>").count(),
        2,
        "leaf and intermediate: {dom}"
    );
    let stderr = String::from_utf8_lossy(&chromium.stderr);
    assert!(!stderr.contains("CONSOLE"), "console messages: {stderr}");
}

/// Real nginx on `[::1]` and a plain-HTTP port whose redirect goes to a look-alike host: the
/// IPv6 literal target is audited like any other, and `https://bat.test.evil.net/` is not a
/// redirect to `bat.test` (a prefix match took it for one).
#[test]
fn an_ipv6_target_is_audited_and_a_look_alike_redirect_is_refused() {
    let lab = Lab::managed_nginx();
    let (dir, root) = ecdsa_site_files(&lab, "v6");
    let (tls, plain) = (crate::common::free_port(), crate::common::free_port());
    let conf = format!(
        "server {{\n    listen [::1]:{tls} ssl;\n    server_name bat.test;\n    ssl_certificate {d}/c.pem;\n    ssl_certificate_key {d}/c.key;\n    ssl_protocols TLSv1.2 TLSv1.3;\n    return 200 \"ok\";\n}}\nserver {{\n    listen [::1]:{plain};\n    return 301 https://bat.test.evil.net/;\n}}\n",
        d = dir.display()
    );
    fs::write(lab.nginx_prefix.join("sites-enabled/v6.conf"), conf).unwrap();
    lab.reload_nginx();
    let target = format!("[::1]:{tls}");
    let plain = plain.to_string();
    let args = [
        "--sni",
        "bat.test",
        "--http-port",
        &plain,
        "--ca-bundle",
        &root,
    ];
    let report = audit_json(&lab, &target, &args);
    assert_eq!(
        report["target"],
        format!("bat.test ([::1]:{tls})"),
        "{report:#}"
    );
    assert_eq!(report["certificate"]["name_matches"], true);
    let spoken: Vec<&str> = report["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["supported"] == true)
        .map(|p| p["protocol"].as_str().unwrap())
        .collect();
    assert_eq!(spoken, ["TLS 1.2", "TLS 1.3"]);
    let redirect = report["http_redirect"]["Err"].as_str().unwrap_or_default();
    assert!(
        redirect.contains("https://bat.test.evil.net/")
            && redirect.contains("not https on the same host"),
        "{report:#}"
    );
}

/// A fake TLS server for the one failure a real nginx here cannot show: Debian's OpenSSL 3 has no
/// heartbeat support, let alone Heartbleed. It answers any ClientHello with a ServerHello (echoing
/// the heartbeat extension when `heartbeat`) and ServerHelloDone, then, when `leaks`, answers the
/// heartbeat request with a heartbeat response. A mock, on purpose.
fn fake_heartbeat_server(heartbeat: bool, leaks: bool) -> SocketAddr {
    use certctl::audit::wire::codec;
    use certctl::audit::wire::{ContentType, ExtensionType, HandshakeType};
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((mut sock, _)) = listener.accept() else {
            return;
        };
        let mut buf = [0u8; 4096];
        let _ = sock.read(&mut buf);
        let mut ext = Vec::new();
        if heartbeat {
            codec::put_extension(&mut ext, ExtensionType::HEARTBEAT, &[1]);
        }
        let mut flight = codec::server_hello(0x0303, [1; 32], CipherSuite(0xC02F), &ext);
        flight.extend(codec::handshake(HandshakeType::SERVER_HELLO_DONE, &[]));
        let record = codec::record(ContentType::HANDSHAKE, 0x0303, &flight);
        let _ = sock.write_all(&record);
        let _ = sock.read(&mut buf);
        if leaks {
            // A heartbeat response claiming 16 KiB, with 64 bytes of "memory".
            let mut leak = codec::record(ContentType::HEARTBEAT, 0x0303, &[2, 0x40, 0x00]);
            leak[3..5].copy_from_slice(&0x4003u16.to_be_bytes());
            leak.extend_from_slice(&[0xAB; 64]);
            let _ = sock.write_all(&leak);
        }
        std::thread::sleep(Duration::from_secs(2));
    });
    addr
}

#[test]
fn heartbleed_is_found_by_reading_one_record_header() {
    let deadline = Duration::from_millis(800);
    let probe_at = |addr| {
        run(probe::heartbleed(
            addr,
            Some("hb.test"),
            Version::Tls12,
            deadline,
        ))
        .unwrap()
    };
    assert_eq!(
        probe_at(fake_heartbeat_server(true, true)),
        Some(true),
        "vulnerable"
    );
    assert_eq!(
        probe_at(fake_heartbeat_server(true, false)),
        Some(false),
        "heartbeats, patched"
    );
    assert_eq!(
        probe_at(fake_heartbeat_server(false, false)),
        None,
        "no heartbeats at all"
    );
}

/// Serves each (chain PEM, key PEM) from its own nginx server on a free port, with HSTS and
/// Mozilla's intermediate TLS settings; returns the ports in order.
fn serve_certificates(lab: &Lab, file: &str, sites: &[(String, String)]) -> Vec<u16> {
    serve_certificates_with(lab, file, sites, "")
}

/// [`serve_certificates`], each server also given the nginx directives `extra`.
fn serve_certificates_with(
    lab: &Lab,
    file: &str,
    sites: &[(String, String)],
    extra: &str,
) -> Vec<u16> {
    let dir = lab.dir.path().join(file);
    fs::create_dir_all(&dir).unwrap();
    let mut conf = String::new();
    let mut ports = Vec::new();
    for (i, (chain, key)) in sites.iter().enumerate() {
        fs::write(dir.join(format!("{i}.pem")), chain).unwrap();
        fs::write(dir.join(format!("{i}.key")), key).unwrap();
        let port = crate::common::free_port();
        ports.push(port);
        conf.push_str(&format!(
            "server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_certificate {d}/{i}.pem;\n    ssl_certificate_key {d}/{i}.key;\n    ssl_protocols TLSv1.2 TLSv1.3;\n    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;\n    add_header Strict-Transport-Security \"max-age=63072000\" always;\n    return 200 \"ok\";\n    {extra}\n}}\n",
            d = dir.display(),
        ));
    }
    fs::write(
        lab.nginx_prefix.join(format!("sites-enabled/{file}.conf")),
        conf,
    )
    .unwrap();
    lab.reload_nginx();
    ports
}

/// `certctl audit TARGET --json ARGS…`, once nginx answers; the report.
/// `certctl audit TARGET --json ARGS…` once it succeeds (`--http-port 0` unless ARGS name one).
fn audit_json(lab: &Lab, target: &str, args: &[&str]) -> serde_json::Value {
    let no_redirect: &[&str] = match args.contains(&"--http-port") {
        true => &[],
        false => &["--http-port", "0"],
    };
    crate::common::eventually(|| {
        let out = lab
            .certctl(["audit", target, "--json"])
            .args(no_redirect)
            .args(args)
            .output()
            .unwrap();
        out.status.success().then(|| {
            let report = serde_json::from_slice(&out.stdout).unwrap();
            crate::common::assert_schema("audit", &report);
            report
        })
    })
}

#[test]
fn an_address_audited_without_a_name_is_checked_against_the_ip() {
    let lab = Lab::managed_nginx();
    let root = crate::common::TestCa::root("Names Root");
    let int = root.intermediate("Names Intermediate");
    let site = |names: &[&str]| {
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = int.leaf(names, &key);
        (format!("{}{}", leaf.pem(), int.pem()), key.serialize_pem())
    };
    let ports = serve_certificates(
        &lab,
        "names",
        &[site(&["wrong.example.org"]), site(&["127.0.0.1"])],
    );
    let bundle = lab.dir.path().join("names-root.pem");
    fs::write(&bundle, root.pem()).unwrap();
    let bundle = bundle.to_str().unwrap();

    // A certificate for another name, audited by address: M, naming what it does cover.
    let target = format!("127.0.0.1:{}", ports[0]);
    let report = audit_json(&lab, &target, &["--ca-bundle", bundle]);
    assert_eq!(report["grade"], "M", "{report:#}");
    assert_eq!(report["certificate"]["trusted"], true);
    assert_eq!(report["certificate"]["name_matches"], false);
    assert_eq!(report["certificate"]["checked_name"], "127.0.0.1");
    let mismatch = report["rating"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "audit.CERT_NAME_MISMATCH")
        .expect("a name mismatch finding");
    let message = mismatch["message"].as_str().unwrap();
    assert!(
        message.contains("wrong.example.org") && message.contains("127.0.0.1"),
        "{message}"
    );
    assert_eq!(report["rating"]["grade_trust_ignored"], "A+");
    // The human report says the same.
    let out = lab
        .certctl(["audit", &target, "--http-port", "0", "--ca-bundle", bundle])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("M  ") && text.contains("wrong.example.org do not cover 127.0.0.1"),
        "{text}"
    );
    // The same server audited by the name it has: A+.
    let report = audit_json(
        &lab,
        &target,
        &["--ca-bundle", bundle, "--sni", "wrong.example.org"],
    );
    assert_eq!(report["grade"], "A+", "{report:#}");
    // Untrusted as well as mismatched: T wins.
    let report = audit_json(&lab, &target, &[]);
    assert_eq!(report["grade"], "T", "{report:#}");

    // A certificate with the IP address in its SANs: the address is its name.
    let report = audit_json(
        &lab,
        &format!("127.0.0.1:{}", ports[1]),
        &["--ca-bundle", bundle],
    );
    assert_eq!(report["grade"], "A+", "{report:#}");
    assert_eq!(report["certificate"]["name_matches"], true);
}

#[test]
fn a_short_chain_is_completed_from_its_aia_url_within_bounds() {
    use crate::common::http::{Served, serve_paths};
    let lab = Lab::managed_nginx();
    let root = crate::common::TestCa::root("AIA Root");
    let int = root.intermediate("AIA Intermediate");
    let int_pem = int.pem();
    let aia = serve_paths(vec![
        ("/int.der", Served::Body(int.der().to_vec())),
        ("/int.pem", Served::Body(int_pem.clone().into_bytes())),
        (
            "/garbage",
            Served::Body(b"<html>not a certificate</html>".to_vec()),
        ),
        ("/slow", Served::Trickle),
        ("/huge", Served::Huge(1 << 20)),
    ]);
    // Leaf-only chains whose AIA URL answers in each way, and one without an AIA URL.
    const NO_AIA: &str = "(no AIA)";
    let leaf_only = |path: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["aia.test".to_owned()]).unwrap();
        let url = format!("http://{aia}{path}");
        if path != NO_AIA {
            params
                .custom_extensions
                .push(crate::common::pki::aia_ca_issuers(&[&url]));
        }
        (int.sign(params, &key).pem(), key.serialize_pem())
    };
    let paths = [
        "/int.der", "/int.pem", "/missing", "/garbage", "/slow", "/huge", NO_AIA,
    ];
    let sites: Vec<(String, String)> = paths.iter().map(|p| leaf_only(p)).collect();
    let ports = serve_certificates(&lab, "aia", &sites);
    let bundle = lab.dir.path().join("aia-root.pem");
    fs::write(&bundle, root.pem()).unwrap();

    let mut connections = Vec::new();
    for ((path, port), (grade, says)) in paths.iter().zip(&ports).zip([
        ("B", "completed from"),
        ("B", "completed from"),
        ("T", "HTTP 404"),
        ("T", "served no certificate that issued it"),
        ("T", "/slow"),
        ("T", "more than 64 KiB"),
        ("T", "names no http(s) caIssuers URL"),
    ]) {
        let target = format!("127.0.0.1:{port}");
        let started = std::time::Instant::now();
        let report = audit_json(
            &lab,
            &target,
            &[
                "--sni",
                "aia.test",
                "--ca-bundle",
                bundle.to_str().unwrap(),
                "--deadline",
                "4",
                "--timeout",
                "2",
            ],
        );
        assert!(
            started.elapsed() < Duration::from_secs(4 + 5),
            "{path}: the audit outlived its deadline"
        );
        assert_eq!(report["grade"], grade, "{path}: {report:#}");
        assert_eq!(report["certificate"]["chain_length"], 1);
        connections.push(report["connections"].as_u64().unwrap());
        let url = format!("http://{aia}{path}");
        match grade {
            "B" => {
                let cap = &report["rating"]["caps"][0];
                assert_eq!(cap["id"], "audit.CAP_CHAIN_INCOMPLETE", "{report:#}");
                assert!(cap["why"].as_str().unwrap().contains(&url), "{cap}");
                assert_eq!(report["certificate"]["completed_from"][0], url.as_str());
                let chain = &report["certificate"]["chain"];
                assert_eq!(chain[0]["from"], "sent");
                assert_eq!(chain[1]["from"], url.as_str(), "{chain:#}");
            }
            _ => {
                let problem = report["certificate"]["problem"].as_str().unwrap();
                assert!(problem.contains(says), "{path}: {problem}");
            }
        }
    }
    // Each AIA request is a connection of the audit, counted like the probes'.
    let without_aia = connections[paths.len() - 1];
    assert_eq!(connections[0], without_aia + 1, "{connections:?}");
}

#[test]
fn a_p521_server_fails_the_clients_that_lack_the_curve() {
    let lab = Lab::managed_nginx();
    let root = crate::common::TestCa::root("P-521 Root");
    let int = root.intermediate("P-521 Intermediate");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
    let leaf = int.leaf(&["p521.test"], &key);
    let ports = serve_certificates(
        &lab,
        "p521",
        &[(format!("{}{}", leaf.pem(), int.pem()), key.serialize_pem())],
    );
    let bundle = lab.dir.path().join("p521-root.pem");
    fs::write(&bundle, root.pem()).unwrap();

    let target = format!("127.0.0.1:{}", ports[0]);
    let report = audit_json(
        &lab,
        &target,
        &[
            "--sni",
            "p521.test",
            "--ca-bundle",
            bundle.to_str().unwrap(),
        ],
    );
    assert_eq!(report["certificate"]["key"], "EC 521", "{report:#}");
    let clients = report["clients"].as_array().unwrap();
    let client = |name: &str| {
        clients
            .iter()
            .find(|c| c["client"].as_str().unwrap().starts_with(name))
            .unwrap()
    };
    // Chrome and Safari offer no ecdsa_secp521r1_sha512 in TLS 1.3; Android 7 has no P-521.
    for failing in ["Chromium 137", "Safari 26.4", "Android 7.0"] {
        let why = client(failing)["failure"].as_str().unwrap_or_default();
        assert!(why.contains("secp521r1"), "{failing}: {report:#}");
        assert!(client(failing)["protocol"].is_null());
    }
    assert_eq!(client("Firefox 137")["protocol"], "TLS 1.3", "{report:#}");
    assert_eq!(client("Java 21")["protocol"], "TLS 1.3");
    // SSL Labs grades the configuration, not the clients' reach: still A+.
    assert_eq!(report["grade"], "A+", "{report:#}");

    // P-521 for the key exchange too (`ssl_ecdh_curve secp521r1`): the clients without the
    // group fail on it first; certctl's own handshakes (chain, resumption, HSTS) still work.
    let only = serve_certificates_with(
        &lab,
        "p521-only",
        &[(format!("{}{}", leaf.pem(), int.pem()), key.serialize_pem())],
        "ssl_ecdh_curve secp521r1;",
    );
    let report = audit_json(
        &lab,
        &format!("127.0.0.1:{}", only[0]),
        &[
            "--sni",
            "p521.test",
            "--ca-bundle",
            bundle.to_str().unwrap(),
        ],
    );
    assert_eq!(
        report["groups"],
        serde_json::json!(["secp521r1"]),
        "{report:#}"
    );
    assert_eq!(report["complete"], true, "{report:#}");
    assert_eq!(report["grade"], "A+", "{report:#}");
    let clients = report["clients"].as_array().unwrap();
    let client = |name: &str| clients.iter().find(|c| c["client"] == name).unwrap();
    for name in ["Chromium 137 / Win 11", "IE 11 / Win 10", "Android 15"] {
        assert_eq!(
            client(name)["failure"],
            "no key exchange group in common (the server accepts secp521r1)",
            "{name}: {report:#}"
        );
    }
    let safari = client("Safari 26.4 / macOS 26.4")["failure"]
        .as_str()
        .unwrap();
    assert!(safari.contains("no signature scheme"), "{safari}");
    for name in ["Firefox 137 / Win 11", "Java 21.0.6", "OpenSSL 3.0.15"] {
        assert_eq!(client(name)["protocol"], "TLS 1.3", "{name}: {report:#}");
    }

    // The human report says why each failing client fails.
    let out = lab
        .certctl([
            "audit",
            &target,
            "--http-port",
            "0",
            "--sni",
            "p521.test",
            "--ca-bundle",
            bundle.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.contains("Chromium 137")
            && l.contains("fails: cannot verify the server's ECDSA secp521r1 key")),
        "{text}"
    );
}
