//! `certctl doctor` against real parts: Knot DNS (authoritative for `test.`, on loopback) with
//! good and bad A, AAAA and CAA records, pebble (the CA's directory and clock, the account), the
//! port-80 probe on the real port 80 of a private network namespace (where the bad records'
//! addresses lead nowhere: only loopback exists), and the lab's nginx for `--nginx`.

use crate::common::dns::Knot;
use crate::common::lab::Lab;
use crate::common::{assert_ok, assert_schema, netns, stderr};

/// `doctor NAMES… --json` against pebble and `knot` plus `extra` → (exit code, report).
fn doctor(lab: &Lab, knot: &Knot, names: &[&str], extra: &[&str]) -> (i32, serde_json::Value) {
    let url = lab.directory_url();
    let bundle = lab.ca_bundle.display().to_string();
    let mut args = vec!["doctor"];
    args.extend_from_slice(names);
    args.extend([
        "--server",
        &url,
        "--ca-bundle",
        &bundle,
        "--dns-server",
        &knot.server,
        "--caa-identity",
        "pebble.test",
        "--timeout-ms",
        "2000",
        "--json",
    ]);
    args.extend_from_slice(extra);
    let out = lab.certctl(&args).output().unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    assert_schema("doctor", &report);
    (out.status.code().unwrap(), report)
}

/// Each name's findings as "severity ID".
fn findings(report: &serde_json::Value, name: &str) -> Vec<String> {
    crate::common::severity_ids(&crate::common::entry(&report["names"], "name", name)["findings"])
}

fn has(report: &serde_json::Value, name: &str, want: &str) {
    let got = findings(report, name);
    assert!(
        got.iter().any(|f| f == want),
        "{name}: want {want}, got {got:?}\n{report:#}"
    );
}

#[test]
fn doctor_tells_good_and_bad_dns_caa_and_port_80_apart() {
    if !netns::enter("doctor::doctor_tells_good_and_bad_dns_caa_and_port_80_apart") {
        return;
    }
    let mut lab = Lab::start();
    // The account first: issue once (pebble validates through its own mock DNS).
    assert_ok(&lab.issue_standalone(&["first.test"], &[]));
    let no_caa = Knot::start(lab.dir.path(), "first IN A 127.0.0.1");
    let (code, report) = doctor(&lab, &no_caa, &["first.test"], &[]);
    let account = report["account"]
        .as_str()
        .expect("the stored account")
        .to_owned();
    assert!(
        account.starts_with(&format!("https://127.0.0.1:{}/", lab.acme_port)),
        "{account}"
    );
    // Nothing in the way: addresses here, port 80 answers, no CAA, clock and account fine.
    assert_eq!(code, 0, "{report:#}");
    for want in [
        "ok doctor.DNS_ADDRESSES",
        "ok doctor.HTTP_PROBE_OK",
        "ok doctor.CAA_NONE",
    ] {
        has(&report, "first.test", want);
    }
    let global: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(
        global.contains(&"doctor.CLOCK_OK") && global.contains(&"doctor.ACCOUNT"),
        "{global:?}"
    );
    drop(no_caa);

    let zone = format!(
        r#"good.example IN A 127.0.0.1
good.example IN AAAA ::1
good.example IN CAA 0 issue "pebble.test; accounturi={account}; validationmethods=http-01"
www.good.example IN A 127.0.0.1
otherca.example IN A 127.0.0.1
otherca.example IN CAA 0 issue "other-ca.test"
otheraccount.example IN A 127.0.0.1
otheraccount.example IN CAA 0 issue "pebble.test; accounturi=https://127.0.0.1:{port}/my-account/999"
dnsonly.example IN A 127.0.0.1
dnsonly.example IN CAA 0 issue "pebble.test; validationmethods=dns-01"
critical.example IN A 127.0.0.1
critical.example IN CAA 0 issue "pebble.test"
critical.example IN CAA 128 tbs "unknown"
alias.example IN CNAME otherca.example.test.
elsewhere.example IN A 192.0.2.10
elsewhere.example IN AAAA 2001:db8::10
noaddress.example IN TXT "nothing here"
"#,
        port = lab.acme_port
    );
    let knot = Knot::start(lab.dir.path(), &zone);

    // Good: A and AAAA here, port 80 answers over both, CAA for pebble and this account with
    // http-01; a name below it inherits its parent's CAA (tree climbing).
    let (code, report) = doctor(
        &lab,
        &knot,
        &["good.example.test", "www.good.example.test"],
        &[],
    );
    assert_eq!(code, 0, "{report:#}");
    has(&report, "good.example.test", "ok doctor.CAA_ALLOWS");
    has(&report, "good.example.test", "ok doctor.HTTP_PROBE_OK");
    let good = &report["names"][0];
    assert_eq!(good["addresses"].as_array().unwrap().len(), 2, "{good:#}");
    assert!(
        good["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["local"] == true && a["probe"] == true)
    );
    has(&report, "www.good.example.test", "ok doctor.CAA_ALLOWS");
    assert_eq!(report["names"][1]["caa"]["domain"], "good.example.test");

    // Bad: each one a named error with a fix.
    let bad = [
        ("otherca.example.test", "error doctor.CAA_OTHER_CA"),
        ("otheraccount.example.test", "error doctor.CAA_ACCOUNT"),
        ("dnsonly.example.test", "error doctor.CAA_METHOD"),
        ("critical.example.test", "error doctor.CAA_CRITICAL"),
        ("alias.example.test", "error doctor.CAA_OTHER_CA"),
        ("elsewhere.example.test", "warning doctor.DNS_NOT_HERE"),
        ("elsewhere.example.test", "error doctor.HTTP_PROBE_FAILED"),
        ("noaddress.example.test", "error doctor.DNS_NO_ADDRESS"),
        ("missing.example.test", "error doctor.DNS_NO_ADDRESS"),
    ];
    let names: Vec<&str> = bad.iter().map(|(n, _)| *n).collect();
    let mut names_once = names.clone();
    names_once.dedup();
    let (code, report) = doctor(&lab, &knot, &names_once, &[]);
    assert_eq!(code, 2, "{report:#}");
    for (name, want) in bad {
        has(&report, name, want);
    }
    for name in report["names"].as_array().unwrap() {
        for f in name["findings"].as_array().unwrap() {
            assert!(
                f["severity"] == "ok"
                    || f["severity"] == "info"
                    || !f["fix"].as_str().unwrap().is_empty(),
                "{f}"
            );
        }
    }
    // Nothing to probe without an address.
    assert!(
        !findings(&report, "noaddress.example.test")
            .iter()
            .any(|f| f.contains("HTTP_PROBE"))
    );
    // The alias's addresses come through its CNAME.
    let alias = report["names"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "alias.example.test")
        .unwrap();
    assert_eq!(alias["addresses"][0]["address"], "127.0.0.1");

    // --resolve: split-horizon DNS, the address given wins.
    let (_, report) = doctor(
        &lab,
        &knot,
        &["elsewhere.example.test"],
        &["--resolve", "elsewhere.example.test:127.0.0.1"],
    );
    has(&report, "elsewhere.example.test", "ok doctor.DNS_ADDRESSES");
    has(&report, "elsewhere.example.test", "ok doctor.HTTP_PROBE_OK");
    assert_eq!(report["names"][0]["address_source"], "resolve");

    // The text: one line per finding, its fix under it.
    let out = lab
        .certctl([
            "doctor",
            "otherca.example.test",
            "--server",
            &lab.directory_url(),
            "--ca-bundle",
            lab.ca_bundle.to_str().unwrap(),
            "--dns-server",
            &knot.server,
            "--caa-identity",
            "pebble.test",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("doctor.CAA_OTHER_CA")
            && text.contains("fix: add `otherca.example.test. CAA 0 issue \"pebble.test\"`"),
        "{text}"
    );

    // History: the CA goes away and a renewal of first.test fails; doctor says so, and that
    // the CA cannot be reached.
    lab.stop_pebble();
    let out = lab
        .certctl(["renew", "first.test", "--force"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (code, report) = doctor(
        &lab,
        &knot,
        &["first.test"],
        &["--resolve", "first.test:127.0.0.1"],
    );
    assert_eq!(code, 2, "{report:#}");
    has(&report, "first.test", "warning doctor.RENEWAL_FAILING");
    let global = crate::common::severity_ids(&report["findings"]);
    assert!(
        global.contains(&"error doctor.CA_UNREACHABLE".to_owned()),
        "{global:?}"
    );
}

/// A site of the user's, `sites-available/FILE` enabled by a symlink, nginx reloaded: its path.
fn user_site(lab: &Lab, file: &str, text: &str) -> std::path::PathBuf {
    let site = lab.nginx_prefix.join("sites-available").join(file);
    std::fs::write(&site, text).unwrap();
    std::os::unix::fs::symlink(&site, lab.nginx_prefix.join("sites-enabled").join(file)).unwrap();
    lab.reload_nginx();
    site
}

#[test]
fn doctor_with_nginx_shows_the_server_and_the_plan_then_the_probe_through_nginx() {
    let lab = Lab::debian_nginx();
    let knot = Knot::start(lab.dir.path(), "");
    let flags = lab.debian_nginx_flags();
    let mut extra: Vec<&str> = vec!["--nginx", "--resolve", "shop.example.test:127.0.0.1"];
    extra.extend(flags.iter().map(String::as_str));
    // A site of the user's on port 80 for the name.
    let www = lab.dir.path().join("shop");
    std::fs::create_dir_all(&www).unwrap();
    let site = user_site(
        &lab,
        "shop",
        &format!(
            "server {{\n\tlisten {port};\n\tlisten [::]:{port};\n\tserver_name shop.example.test;\n\troot {www};\n}}\n",
            port = lab.http_port,
            www = www.display()
        ),
    );

    let (code, report) = doctor(&lab, &knot, &["shop.example.test"], &extra);
    // nginx does not serve challenges for it yet: issue --nginx adds that first, so a warning.
    assert_eq!(code, 1, "{report:#}");
    has(
        &report,
        "shop.example.test",
        "warning doctor.HTTP_PROBE_FAILED",
    );
    has(&report, "shop.example.test", "info doctor.NGINX_SERVER");
    let server = &report["nginx"]["servers"][0];
    assert!(
        server["server"]
            .as_str()
            .unwrap()
            .ends_with("sites-available/shop:1"),
        "{server}"
    );
    let files: Vec<&str> = report["nginx"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("sites-available/shop")),
        "{files:?}"
    );
    assert!(
        report["nginx"]["diff"]
            .as_str()
            .unwrap()
            .contains("certctl"),
        "{report:#}"
    );
    // Nothing was written.
    assert!(!std::fs::read_to_string(&site).unwrap().contains("certctl"));

    // A TLS server of the user's already serves another name (a snakeoil certificate):
    // issue --nginx would refuse it, and says so; with --take-over it is named, not refused.
    let byo = lab.dir.path().join("byo");
    std::fs::create_dir_all(&byo).unwrap();
    crate::common::pki::byo_pki(&byo, &["tls.example.test"], 1, 30);
    user_site(
        &lab,
        "tls",
        &format!(
            "server {{\n\tlisten {http};\n\tserver_name tls.example.test;\n\troot {www};\n}}\nserver {{\n\tlisten {https} ssl;\n\tserver_name tls.example.test;\n\tssl_certificate {cert};\n\tssl_certificate_key {key};\n\troot {www};\n}}\n",
            http = lab.http_port,
            https = lab.https_port,
            cert = byo.join("cert.pem").display(),
            key = byo.join("key.pem").display(),
            www = www.display()
        ),
    );
    let mut tls_extra = extra.clone();
    tls_extra.extend(["--resolve", "tls.example.test:127.0.0.1"]);
    let (code, report) = doctor(&lab, &knot, &["tls.example.test"], &tls_extra);
    assert_eq!(code, 2, "{report:#}");
    let global = crate::common::severity_ids(&report["findings"]);
    assert!(
        global.contains(&"error doctor.NGINX_REFUSED".to_owned()),
        "{global:?}"
    );
    tls_extra.push("--take-over");
    let (_, report) = doctor(&lab, &knot, &["tls.example.test"], &tls_extra);
    has(&report, "tls.example.test", "info doctor.NGINX_SERVER");
    assert!(
        report["nginx"]["servers"][0]["tls_server"]
            .as_str()
            .unwrap()
            .ends_with("sites-available/tls:6"),
        "{report:#}"
    );

    // After the issue, nginx serves the token certctl drops in its ACME web root.
    let mut issue: Vec<&str> = vec!["--nginx", "--root", www.to_str().unwrap()];
    issue.extend(flags.iter().map(String::as_str));
    assert_ok(&lab.issue(&["shop.example.test"], &issue));
    let (code, report) = doctor(&lab, &knot, &["shop.example.test"], &extra);
    has(&report, "shop.example.test", "ok doctor.HTTP_PROBE_OK");
    assert_eq!(code, 0, "{report:#}");
}

/// Bad input names itself and exits 2, before anything is asked of DNS or the CA.
#[test]
fn doctor_refuses_bad_input_naming_it() {
    let state = tempfile::tempdir().unwrap();
    for (args, names) in [
        (
            &["doctor", "a.test", "--resolve", "a.test"][..],
            "NAME:ADDR",
        ),
        (
            &["doctor", "a.test", "--dns-server", "ns.example"],
            "--dns-server",
        ),
        (
            &["doctor", "a.test", "--caa-identity", "not a domain"],
            "--caa-identity",
        ),
        (&["doctor", "bad name!"], "bad name!"),
        (
            &["doctor", "a.test", "--webroot", "/nonexistent/w17"],
            "--webroot",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_certctl"))
            .env("CERTCTL_CONFIG", "/dev/null")
            .arg("--state-dir")
            .arg(state.path())
            .args(args)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(names), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
