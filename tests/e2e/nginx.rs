//! `issue --nginx` and `certctl nginx` against a private nginx and pebble.

use std::fs;

use crate::common::{Lab, assert_ok, eventually, http_get, https_get, stderr};

/// The lab's site directory with an index page.
fn site_root(lab: &Lab) -> String {
    let dir = lab.site_dir();
    fs::write(dir.join("index.html"), "hello from site.test\n").unwrap();
    dir.display().to_string()
}

/// `issue site.test www.site.test --nginx …` on the lab's nginx, plus `extra`.
fn issue_nginx(lab: &Lab, extra: &[&str]) -> std::process::Output {
    lab.issue_nginx(&["site.test", "www.site.test"], extra)
}

/// Reloads the lab's nginx after a test wrote a user file, and waits until `host` answers 200.
fn reload_until_served(lab: &Lab, host: &str) {
    lab.reload_nginx();
    eventually(|| {
        http_get(lab.http_port, host, "/")
            .ok()
            .filter(|r| r.status == 200)
    });
}

#[test]
fn issue_nginx_takes_a_name_to_https_with_hsts_and_redirect() {
    let lab = Lab::managed_nginx();
    let root = site_root(&lab);
    let out = issue_nginx(&lab, &["--root", &root]);
    assert_ok(&out);
    let (pebble_root, _) = lab.pebble_roots();

    // HTTPS: the chain verifies to pebble's root, the page is served, HSTS is on every response.
    let page = eventually(|| https_get(lab.https_port, "www.site.test", "/", &pebble_root).ok());
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(page.body, "hello from site.test\n");
    assert_eq!(
        page.header("strict-transport-security"),
        Some("max-age=63072000")
    );
    assert_eq!(page.header_count("strict-transport-security"), 1);
    let missing = https_get(lab.https_port, "site.test", "/nope", &pebble_root).unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.header("strict-transport-security"),
        Some("max-age=63072000"),
        "HSTS on errors too"
    );

    // Port 80: 301 to the same host and path over https, no HSTS; challenges still served.
    let redirect = http_get(lab.http_port, "site.test", "/some/path?q=1").unwrap();
    assert_eq!(redirect.status, 301);
    assert_eq!(
        redirect.header("location"),
        Some(format!("https://site.test:{}/some/path?q=1", lab.https_port).as_str())
    );
    assert_eq!(redirect.header("strict-transport-security"), None);
    let acme = lab.nginx_prefix.join("acme/.well-known/acme-challenge");
    fs::create_dir_all(&acme).unwrap();
    fs::write(acme.join("tok"), "tok.thumb").unwrap();
    let challenge = http_get(
        lab.http_port,
        "www.site.test",
        "/.well-known/acme-challenge/tok",
    )
    .unwrap();
    assert_eq!(
        (challenge.status, challenge.body.as_str()),
        (200, "tok.thumb")
    );

    // Every file certctl wrote says so; the site file passed the real nginx -t.
    let site_file = lab
        .nginx_prefix
        .join("sites-available/certctl-site.test.conf");
    let text = fs::read_to_string(&site_file).unwrap();
    assert!(text.starts_with("# certctl-managed sha256="), "{text}");
    assert!(text.contains("# Managed by certctl"));
    assert!(
        !text.contains("ssl_stapling"),
        "pebble certificates name no OCSP responder"
    );

    // Re-running is idempotent: everything is remembered and nothing changes.
    let again = lab.nginx_command("site.test", &[]);
    assert_ok(&again);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing to change"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert_ok(&issue_nginx(&lab, &[]));
    assert_eq!(
        eventually(|| https_get(lab.https_port, "site.test", "/", &pebble_root).ok()).status,
        200
    );
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing_then_modern_profile_serves_tls13_only() {
    let lab = Lab::managed_nginx();
    let root = site_root(&lab);
    assert_ok(&issue_nginx(&lab, &["--root", &root]));
    let site_file = lab
        .nginx_prefix
        .join("sites-available/certctl-site.test.conf");
    let before = fs::read_to_string(&site_file).unwrap();

    let out = lab.nginx_command(
        "site.test",
        &[
            "--profile",
            "modern",
            "--hsts",
            "31536000",
            "--hsts-subdomains",
            "--dry-run",
        ],
    );
    assert_ok(&out);
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(
        diff.contains("-    include") && diff.contains("tls-modern.conf"),
        "{diff}"
    );
    assert!(diff.contains("+    add_header Strict-Transport-Security \"max-age=31536000; includeSubDomains\" always;"), "{diff}");
    assert_eq!(
        fs::read_to_string(&site_file).unwrap(),
        before,
        "--dry-run writes nothing"
    );
    assert!(
        !lab.nginx_prefix
            .join("snippets/certctl/tls-modern.conf")
            .exists()
    );

    assert_ok(&lab.nginx_command(
        "site.test",
        &[
            "--profile",
            "modern",
            "--hsts",
            "31536000",
            "--hsts-subdomains",
        ],
    ));
    let (pebble_root, _) = lab.pebble_roots();
    let page = eventually(|| {
        https_get(lab.https_port, "site.test", "/", &pebble_root)
            .ok()
            .filter(|p| {
                p.header("strict-transport-security") == Some("max-age=31536000; includeSubDomains")
            })
    });
    assert_eq!(page.header("x-test-tls-version"), Some("Some(TLSv1_3)"));
}

#[test]
fn a_configuration_broken_by_another_file_is_named_as_such_and_nothing_changes() {
    let lab = Lab::managed_nginx();
    let root = site_root(&lab);
    assert_ok(&issue_nginx(&lab, &["--root", &root]));
    let site_file = lab
        .nginx_prefix
        .join("sites-available/certctl-site.test.conf");
    let before = fs::read_to_string(&site_file).unwrap();

    // Someone else's broken file makes nginx -t fail before certctl changes anything.
    fs::write(
        lab.nginx_prefix.join("sites-enabled/broken.conf"),
        "server { bogus_directive on; }\n",
    )
    .unwrap();
    let out = lab.nginx_command("site.test", &["--hsts", "600"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("does not load as it is") && err.contains("bogus_directive"),
        "{err}"
    );
    assert!(
        !err.contains("restored"),
        "nothing was changed to restore: {err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        fs::read_to_string(&site_file).unwrap(),
        before,
        "site file restored"
    );
    let (pebble_root, _) = lab.pebble_roots();
    let page = eventually(|| https_get(lab.https_port, "site.test", "/", &pebble_root).ok());
    assert_eq!(
        page.header("strict-transport-security"),
        Some("max-age=63072000"),
        "old config still served"
    );
    fs::remove_file(lab.nginx_prefix.join("sites-enabled/broken.conf")).unwrap();
}

#[test]
fn never_overwrites_a_file_it_did_not_write_and_refuses_metacharacters() {
    let lab = Lab::managed_nginx();
    let root = site_root(&lab);
    let site_file = lab
        .nginx_prefix
        .join("sites-available/certctl-site.test.conf");
    fs::write(&site_file, "# my own file\n").unwrap();
    let out = issue_nginx(&lab, &["--root", &root]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("was not written by certctl"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read_to_string(&site_file).unwrap(), "# my own file\n");
    assert!(!lab.live("site.test").exists(), "nothing issued");

    for bad in [
        vec!["--proxy-pass", "http://127.0.0.1:8000; return 200"],
        vec!["--root", &root, "--listen", "127.0.0.1;"],
        vec!["--root", &root, "--hsts-preload"],
    ] {
        let out = issue_nginx(&lab, &bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
    assert_eq!(
        fs::read_dir(lab.nginx_prefix.join("sites-enabled"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn root_overrides_what_a_users_server_serves_and_its_port_80_redirects() {
    let lab = Lab::managed_nginx();
    let root = site_root(&lab);
    let user_file = lab.nginx_prefix.join("sites-enabled/legacy");
    let original = format!(
        "server {{\n    listen 127.0.0.1:{};\n    server_name legacy.test;\n    location / {{ return 200 \"plain http app\\n\"; }}\n}}\n",
        lab.http_port
    );
    fs::write(&user_file, &original).unwrap();
    reload_until_served(&lab, "legacy.test");
    let out = lab.issue_nginx(&["legacy.test"], &["--root", &root]);
    assert_ok(&out);

    // Only certctl's marked region was added to the user's file, just inside its server block.
    let now = fs::read_to_string(&user_file).unwrap();
    let (head, rest) = now.split_once("    # >>> added by certctl").unwrap();
    let (region, tail) = rest.split_once("    # <<< certctl\n").unwrap();
    assert_eq!(format!("{head}{tail}"), original, "{now}");
    assert!(region.contains("acme-challenge.conf;"), "{region}");
    assert!(region.contains("return 301"), "{region}");

    // Port 80 redirects; HTTPS serves what --root says.
    eventually(|| {
        http_get(lab.http_port, "legacy.test", "/")
            .ok()
            .filter(|r| r.status == 301)
    });
    let (pebble_root, _) = lab.pebble_roots();
    let page = eventually(|| https_get(lab.https_port, "legacy.test", "/", &pebble_root).ok());
    assert_eq!(
        (page.status, page.body.as_str()),
        (200, "hello from site.test\n")
    );
}

#[test]
fn dual_serves_ecdsa_and_rsa_and_reissues_them_as_a_pair() {
    let lab = Lab::managed_nginx();
    let root = site_root(&lab);
    assert_ok(&issue_nginx(&lab, &["--root", &root, "--dual"]));
    let live = lab.live("site.test");
    let pem = |file: &str| {
        fs::read_to_string(live.join(file))
            .unwrap()
            .trim()
            .to_owned()
    };
    let text = fs::read_to_string(
        lab.nginx_prefix
            .join("sites-available/certctl-site.test.conf"),
    )
    .unwrap();
    assert_eq!(text.matches("ssl_certificate ").count(), 2, "{text}");
    assert_eq!(crate::common::mode(&live.join("privkey-rsa.pem")), 0o600);

    // A client that only speaks ECDSA gets the ECDSA leaf, an RSA-only client the RSA leaf.
    let (ecdsa, rsa) = (pem("cert.pem"), pem("cert-rsa.pem"));
    assert_ne!(ecdsa, rsa);
    assert_eq!(lab.served_leaf("site.test", Some("ECDSA+SHA256")), ecdsa);
    assert_eq!(
        lab.served_leaf("site.test", Some("RSA-PSS+SHA256:RSA+SHA256")),
        rsa
    );

    // A re-issue without --dual keeps the pair, replaces both in one swap and reloads nginx.
    assert_ok(&issue_nginx(&lab, &[]));
    let (ecdsa2, rsa2) = (pem("cert.pem"), pem("cert-rsa.pem"));
    assert!(ecdsa2 != ecdsa && rsa2 != rsa, "both halves renewed");
    let target = fs::read_link(&live).unwrap();
    assert!(target.ends_with("archive/2"), "{}", target.display());
    eventually(|| {
        (lab.served_leaf("site.test", Some("RSA-PSS+SHA256:RSA+SHA256")) == rsa2).then_some(())
    });

    // --dual needs an ECDSA primary.
    let out = lab.issue(&["site.test"], &["--dual", "--key-type", "rsa-3072"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--dual"), "{}", stderr(&out));
}
