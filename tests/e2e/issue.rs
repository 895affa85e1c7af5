//! `certctl issue` and `certctl list` against pebble.

use std::fs;
use std::io::ErrorKind;
use std::net::TcpListener;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::prelude::*;

use crate::common::{Lab, LabOptions, assert_ok, free_port, mode, stderr};

fn leaf(lab: &Lab, name: &str) -> Vec<u8> {
    let pem = fs::read(lab.live(name).join("cert.pem")).unwrap();
    let (_, parsed) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    parsed.contents
}

fn serial(lab: &Lab, name: &str) -> String {
    let der = leaf(lab, name);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    cert.raw_serial_as_string()
}

/// The one stored account's credentials.
fn the_account(lab: &Lab) -> Vec<u8> {
    let mut dirs = fs::read_dir(lab.state_dir.join("accounts")).unwrap();
    let dir = dirs.next().unwrap().unwrap().path();
    assert!(dirs.next().is_none(), "exactly one account directory");
    fs::read(dir.join("account.json")).unwrap()
}

fn list_json(lab: &Lab) -> serde_json::Value {
    let out = lab.certctl(["list", "--json"]).output().unwrap();
    assert_ok(&out);
    let list = serde_json::from_slice(&out.stdout).unwrap();
    crate::common::assert_schema("list", &list);
    list
}

#[test]
fn standalone_issues_several_names_despite_nonce_rejection_and_authz_reuse() {
    // pebble's defaults: 5% of nonces rejected, 50% of authorizations reused.
    let lab = Lab::start();
    let out = lab.issue_standalone(&["a.test", "www.a.test"], &["--email", "ops@a.test"]);
    assert_ok(&out);
    lab.assert_chain_verifies("a.test");

    let der = leaf(&lab, "a.test");
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let mut sans: Vec<String> = cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| n.to_string())
        .collect();
    sans.sort();
    assert_eq!(sans, ["DNSName(a.test)", "DNSName(www.a.test)"]);
    assert!(matches!(
        cert.public_key().parsed(),
        Ok(x509_parser::public_key::PublicKey::EC(_))
    ));

    // Keys are private; the account key too.
    let live = lab.live("a.test");
    assert_eq!(mode(&live.join("privkey.pem")), 0o600);
    let accounts: Vec<_> = fs::read_dir(lab.state_dir.join("accounts"))
        .unwrap()
        .collect();
    assert_eq!(accounts.len(), 1);
    let account_dir = accounts[0].as_ref().unwrap().path();
    assert_eq!(mode(&account_dir.join("account.json")), 0o600);
    assert_eq!(mode(&account_dir), 0o700);

    let list = list_json(&lab);
    assert_eq!(list[0]["name"], "a.test");
    assert_eq!(
        list[0]["names"],
        serde_json::json!(["a.test", "www.a.test"])
    );
    assert_eq!(list[0]["key_type"], "ecdsa-p256");
    assert!(list[0]["days_left"].as_i64().unwrap() > 1);
    assert!(
        list[0]["issuer"]
            .as_str()
            .unwrap()
            .starts_with("Pebble Intermediate")
    );

    let table = lab.certctl(["list"]).output().unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.starts_with("NAME"), "{table}");
    assert!(table.contains("a.test,www.a.test"), "{table}");
}

#[test]
fn webroot_through_real_nginx_issues_rsa_and_removes_tokens() {
    let lab = Lab::with(LabOptions {
        nginx: true,
        ..LabOptions::default()
    });
    let port = lab.http_port.to_string();
    let out = lab.issue(
        &["b.test"],
        &[
            "--webroot",
            lab.webroot.to_str().unwrap(),
            "--http-port",
            &port,
            "--key-type",
            "rsa-2048",
        ],
    );
    assert_ok(&out);
    lab.assert_chain_verifies("b.test");
    let der = leaf(&lab, "b.test");
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    match cert.public_key().parsed().unwrap() {
        x509_parser::public_key::PublicKey::RSA(rsa) => assert_eq!(rsa.key_size(), 2048),
        other => panic!("expected an RSA key, got {other:?}"),
    }
    let challenge_dir = lab.webroot.join(".well-known/acme-challenge");
    let left: Vec<_> = fs::read_dir(&challenge_dir).unwrap().collect();
    assert!(left.is_empty(), "tokens left behind: {left:?}");
    assert_eq!(list_json(&lab)[0]["key_type"], "rsa-2048");
}

#[test]
fn reissue_reuses_the_account_and_swaps_live_atomically() {
    let lab = Lab::with(LabOptions {
        nonce_reject: Some(0),
        ..LabOptions::default()
    });
    assert_ok(&lab.issue_standalone(&["c.test"], &["--json"]));
    let account_before = the_account(&lab);
    let key_before = fs::read(lab.live("c.test").join("privkey.pem")).unwrap();
    let serial_before = serial(&lab, "c.test");

    // Second run, new key: the stored account is used (no --agree-tos needed any more).
    let port = lab.http_port.to_string();
    let out = lab
        .certctl([
            "issue",
            "c.test",
            "--standalone",
            "--http-port",
            &port,
            "--server",
            &lab.directory_url(),
            "--ca-bundle",
            lab.ca_bundle.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert_ok(&out);
    let outcome: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    crate::common::assert_schema("issue", &outcome);
    assert_eq!(outcome["account_created"], false);
    assert_ne!(serial(&lab, "c.test"), serial_before);
    assert_ne!(
        fs::read(lab.live("c.test").join("privkey.pem")).unwrap(),
        key_before
    );
    let account_after = the_account(&lab);
    assert_eq!(account_before, account_after);

    // --reuse-key keeps the key, and live/ is a symlink to the newest archive version.
    let key_now = fs::read(lab.live("c.test").join("privkey.pem")).unwrap();
    assert_ok(&lab.issue_standalone(&["c.test"], &["--reuse-key"]));
    assert_eq!(
        fs::read(lab.live("c.test").join("privkey.pem")).unwrap(),
        key_now
    );
    assert_eq!(list_json(&lab)[0]["key_type"], "ecdsa-p256");
    // The reused key decides the type; asking for another one is an error before any traffic.
    let out = lab.issue_standalone(&["c.test"], &["--reuse-key", "--key-type", "rsa-2048"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--reuse-key keeps the current ecdsa-p256 key"),
        "{}",
        stderr(&out)
    );
    let target = fs::read_link(lab.live("c.test")).unwrap();
    assert_eq!(target, std::path::Path::new("../certs/c.test/archive/3"));
    lab.assert_chain_verifies("c.test");
}

#[test]
fn refused_validation_names_the_domain_and_leaves_live_untouched() {
    let lab = Lab::with(LabOptions {
        authz_reuse: Some(0),
        ..LabOptions::default()
    });
    assert_ok(&lab.issue_standalone(&["d.test"], &[]));
    let snapshot = || {
        (
            fs::read(lab.live("d.test").join("fullchain.pem")).unwrap(),
            fs::read(lab.live("d.test").join("privkey.pem")).unwrap(),
            fs::read_link(lab.live("d.test")).unwrap(),
            fs::read_dir(lab.state_dir.join("certs/d.test/archive"))
                .unwrap()
                .count(),
        )
    };
    let live_before = snapshot();

    // Nothing serves the webroot: with the self-check skipped, the CA itself refuses. The order
    // adds a name this account never validated: pebble reuses a valid authorization about 1% of
    // the time even with PEBBLE_AUTHZREUSE=0 (`rand.Intn(100) > 0`), which let a d.test-only
    // order succeed now and then.
    let empty = lab.dir.path().join("unserved");
    fs::create_dir(&empty).unwrap();
    let port = lab.http_port.to_string();
    let order_e = |extra: &[&str]| {
        let mut args = vec!["--name", "d.test", "--webroot", empty.to_str().unwrap()];
        args.extend(["--http-port", &port]);
        args.extend_from_slice(extra);
        lab.issue(&["e.test"], &args)
    };
    let out = order_e(&["--no-self-check"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(err.contains("validation failed: e.test:"), "{err}");
    assert!(err.contains("urn:ietf:params:acme:error:"), "{err}");
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("certctl: error:"))
            .count(),
        1,
        "{err}"
    );
    assert_eq!(snapshot(), live_before);

    // With the self-check, certctl stops before the CA and says what it fetched.
    let out = order_e(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("self-check failed for e.test"), "{err}");
    assert!(err.contains("Host: e.test"), "{err}");
    assert_eq!(snapshot(), live_before);
    assert!(
        fs::read_dir(empty.join(".well-known/acme-challenge"))
            .unwrap()
            .next()
            .is_none(),
        "tokens removed after failure"
    );
}

#[test]
fn unreachable_ca_is_a_clear_error() {
    let lab = Lab::start();
    let dead = format!("https://127.0.0.1:{}/dir", free_port());
    let out = lab
        .certctl([
            "issue",
            "e.test",
            "--standalone",
            "--http-port",
            &lab.http_port.to_string(),
            "--server",
            &dead,
            "--agree-tos",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!(
            "certctl: error: cannot talk to the ACME server at {dead}"
        )),
        "{err}"
    );
    assert!(err.contains("onnection refused"), "{err}");
    assert!(!lab.live("e.test").exists());
}

#[test]
fn ip_address_identifiers_validate_over_http01() {
    let lab = Lab::start();
    assert_ok(&lab.issue_standalone(&["127.0.0.1"], &[]));
    lab.assert_chain_verifies("127.0.0.1");
    assert_eq!(
        list_json(&lab)[0]["names"],
        serde_json::json!(["127.0.0.1"])
    );
}

#[test]
fn bad_input_exits_2_before_any_traffic_and_writes_nothing() {
    let lab = Lab::start();
    // A CA stand-in that records whether anything connected.
    let canary = TcpListener::bind("127.0.0.1:0").unwrap();
    canary.set_nonblocking(true).unwrap();
    let server = format!(
        "https://127.0.0.1:{}/dir",
        canary.local_addr().unwrap().port()
    );
    let webroot = lab.webroot.to_str().unwrap().to_owned();
    let long_label = format!("{}.test", "a".repeat(64));
    let long_name = vec!["a".repeat(60); 5].join(".");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![""], "empty domain name"),
        (vec!["a b.test"], "whitespace"),
        (vec!["*.f.test"], "DNS-01"),
        (vec!["f.test;"], "semicolon"),
        (vec!["f{.test"], "brace"),
        (vec!["f\".test"], "quote"),
        (vec!["f\n.test"], "line break"),
        (vec![&long_label], "label of 64"),
        (vec![&long_name], "DNS limit is 253"),
        (vec!["f..test"], "empty label"),
        (vec!["f'.test"], "quote"),
        (vec!["f}.test"], "brace"),
        (vec!["f-.test"], "invalid label"),
        (vec!["f_g.test"], "invalid label"),
        (vec!["f.test", "--key-type", "rsa-1024"], "unknown key type"),
        (
            vec!["f.test", "--email", "not-an-address"],
            "not a valid email",
        ),
        (
            vec!["f.test", "--name", "../escape"],
            "invalid certificate name",
        ),
    ];
    for (args, expect) in &cases {
        let mut all = vec!["issue"];
        all.extend(args);
        all.extend(["--webroot", &webroot, "--server", &server, "--agree-tos"]);
        let out = lab.certctl(&all).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(expect),
            "{args:?}: expected {expect:?} in {err}"
        );
        assert!(
            err.lines().next().unwrap().contains("error:"),
            "{args:?}: {err}"
        );
    }
    // Our own checks print exactly one line.
    let out = lab
        .certctl([
            "issue",
            "*.f.test",
            "--webroot",
            &webroot,
            "--server",
            &server,
        ])
        .output()
        .unwrap();
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));

    let others: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["issue", "f.test", "--server", &server, "--agree-tos"],
            "--webroot",
        ),
        (
            vec![
                "issue",
                "f.test",
                "--webroot",
                "/nonexistent/dir",
                "--server",
                &server,
                "--agree-tos",
            ],
            "not a directory",
        ),
        (
            vec![
                "issue",
                "f.test",
                "--webroot",
                &webroot,
                "--server",
                &server,
            ],
            "--agree-tos",
        ),
        (
            vec![
                "issue",
                "f.test",
                "--webroot",
                &webroot,
                "--server",
                "http://127.0.0.1:1/dir",
                "--agree-tos",
            ],
            "https://",
        ),
        (
            vec![
                "issue",
                "f.test",
                "--webroot",
                &webroot,
                "--server",
                &server,
                "--ca-bundle",
                "/nonexistent.pem",
                "--agree-tos",
            ],
            "CA bundle",
        ),
    ];
    for (args, expect) in &others {
        let out = lab.certctl(args).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(expect),
            "{args:?}: expected {expect:?} in {err}"
        );
    }
    assert_eq!(
        canary.accept().map(|_| ()).unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "certctl connected to the CA"
    );
    assert!(
        !lab.state_dir.exists(),
        "bad input must not create the state directory"
    );
}

#[test]
fn concurrent_issues_share_one_account_and_all_succeed() {
    let lab = Lab::with(LabOptions {
        nonce_reject: Some(0),
        nginx: true,
        ..LabOptions::default()
    });
    let port = lab.http_port.to_string();
    let webroot = lab.webroot.to_str().unwrap().to_owned();
    let names: Vec<String> = (0..20).map(|i| format!("n{i}.test")).collect();
    let children: Vec<_> = names
        .iter()
        .map(|name| {
            lab.certctl([
                "issue",
                name,
                "--webroot",
                &webroot,
                "--http-port",
                &port,
                "--server",
                &lab.directory_url(),
                "--ca-bundle",
                lab.ca_bundle.to_str().unwrap(),
                "--agree-tos",
                "--json",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut created = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_ok(&out);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        crate::common::assert_schema("issue", &v);
        if v["account_created"] == true {
            created += 1;
        }
    }
    assert_eq!(created, 1, "exactly one process registers the account");
    assert_eq!(
        fs::read_dir(lab.state_dir.join("accounts"))
            .unwrap()
            .count(),
        1
    );
    let list = list_json(&lab);
    assert_eq!(list.as_array().unwrap().len(), 20);
    for name in &names {
        lab.assert_chain_verifies(name);
    }
}

#[test]
fn a_profile_the_ca_does_not_offer_is_refused_before_any_order() {
    let lab = Lab::start();
    let out = lab.issue_standalone(&["prof.test"], &["--profile", "shortlived"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--profile shortlived") && err.contains("offers no profiles"),
        "{err}"
    );
    assert!(!lab.live("prof.test").exists());
}

/// The Common Name of the first certificate in a PEM text.
fn subject_cn(pem: &str) -> String {
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    cert.subject()
        .iter_common_name()
        .next()
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn preferred_chain_picks_the_alternate_that_leads_to_the_named_root() {
    let lab = Lab::with(LabOptions {
        alternate_roots: Some(1),
        ..LabOptions::default()
    });
    let (default_root, alternate_root) = (
        subject_cn(&lab.pebble_root(0)),
        subject_cn(&lab.pebble_root(1)),
    );
    assert_ne!(default_root, alternate_root);
    let leads_to = |name: &str, root: &str| {
        let chain = fs::read_to_string(lab.live(name).join("chain.pem")).unwrap();
        let last = chain
            .split_inclusive("-----END CERTIFICATE-----")
            .filter(|b| b.contains("BEGIN"))
            .last()
            .unwrap()
            .to_owned();
        let der = CertificateDer::from_pem_slice(last.trim().as_bytes()).unwrap();
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        cert.issuer()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            == root
    };
    assert_ok(&lab.issue_standalone(&["plain.test"], &[]));
    assert!(leads_to("plain.test", &default_root));
    assert_ok(&lab.issue_standalone(&["alt.test"], &["--preferred-chain", &alternate_root]));
    assert!(
        leads_to("alt.test", &alternate_root),
        "the alternate chain was installed"
    );
    // Remembered: a renewal keeps asking for it.
    let record = fs::read_to_string(lab.state_dir.join("certs/alt.test/renewal.toml")).unwrap();
    assert!(
        record.contains(&format!("preferred_chain = \"{alternate_root}\"")),
        "{record}"
    );
    // An issuer no chain leads to: the default chain, with a warning.
    let out = lab.issue_standalone(&["nope.test"], &["--preferred-chain", "No Such Root"]);
    assert_ok(&out);
    assert!(
        stderr(&out).contains("keeping its default chain"),
        "{}",
        stderr(&out)
    );
    assert!(leads_to("nope.test", &default_root));
}

#[test]
fn a_reissue_nginx_does_not_serve_is_reported_and_the_previous_set_restored() {
    let lab = Lab::managed_nginx();
    assert_ok(&lab.issue_site("site.test", &[]));
    let live = lab.live("site.test");
    let target = fs::read_link(&live).unwrap();
    // nginx's master stopped: `nginx -t` and `nginx -s reload` succeed, the signal waits, and
    // the running workers go on serving the first certificate (a master that never takes the
    // reload). Continued when the test ends, so the lab can stop it.
    let pid = fs::read_to_string(lab.nginx_prefix.join("nginx.pid")).unwrap();
    let _stopped = Signalled::stop(pid.trim());

    let out = lab.issue_site("site.test", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("does not serve the new certificate")
            && err.contains("not the new")
            && err.contains("previous certificate is live again"),
        "{err}"
    );
    assert_eq!(
        fs::read_link(&live).unwrap(),
        target,
        "previous live set restored"
    );
    let listed = lab.certctl(["list", "--json"]).output().unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["renewal"]["last_result"], "failed");
}

/// A process stopped with SIGSTOP until this is dropped.
struct Signalled(String);

impl Signalled {
    fn stop(pid: &str) -> Self {
        let status = std::process::Command::new("kill")
            .args(["-STOP", pid])
            .status()
            .unwrap();
        assert!(status.success());
        Self(pid.to_owned())
    }
}

impl Drop for Signalled {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.0])
            .status();
    }
}

#[test]
fn a_chain_to_a_root_outside_the_bundle_is_refused_before_anything_goes_live() {
    let mut lab = Lab::start();
    // The bundle trusts the CA's API (the lab CA) but not the root pebble issues under.
    const END: &str = "-----END CERTIFICATE-----";
    let both = fs::read_to_string(&lab.ca_bundle).unwrap();
    let first = &both[..both.find(END).unwrap() + END.len()];
    let bundle = lab.dir.path().join("api-only.pem");
    fs::write(&bundle, format!("{first}\n")).unwrap();
    lab.ca_bundle = bundle;
    let out = lab.issue_standalone(&["t.test"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    // Which root is missing, and what to do about it.
    assert!(
        err.contains("issuer unknown")
            && err.contains("Pebble Root CA")
            && err.contains("--ca-bundle"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!lab.live("t.test").exists(), "nothing went live");
    let archive = lab.state_dir.join("certs/t.test/archive");
    assert_eq!(
        fs::read_dir(&archive).map(|d| d.count()).unwrap_or(0),
        0,
        "nothing was installed"
    );
}

/// A CA that rejects nonces far more often than pebble's default: every signed request (the
/// account, the order, each authorization fetched, each challenge, the polls, the CSR, the
/// download) is asked again until the CA takes it. With a third of nonces rejected, instant-acme's
/// own two retries leave about one request in 37 failing; five issuances of three names make
/// dozens of signed requests.
#[test]
fn issues_while_the_ca_rejects_a_third_of_nonces() {
    let lab = Lab::with(LabOptions {
        nonce_reject: Some(33),
        authz_reuse: Some(0),
        ..LabOptions::default()
    });
    for i in 0..5 {
        let (a, b, c) = (
            format!("n{i}.test"),
            format!("www.n{i}.test"),
            format!("m.n{i}.test"),
        );
        let out = lab.issue_standalone(&[&a, &b, &c], &[]);
        assert_ok(&out);
        lab.assert_chain_verifies(&a);
    }
}
