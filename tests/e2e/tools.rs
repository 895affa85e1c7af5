//! `certctl dhparam` and `certctl csr`, checked with the real openssl.

use std::process::Command;

use crate::common::{assert_ok, mode, stderr};

fn certctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_certctl"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs openssl; returns whether it succeeded and everything it printed.
fn openssl(args: &[&str], file: &std::path::Path) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn dhparam_writes_the_rfc7919_group_that_openssl_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("dhparam.pem");
    let out = certctl(&["dhparam", "--out", out_file.to_str().unwrap()]);
    assert_ok(&out);
    let (ok, text) = openssl(&["dhparam", "-check", "-noout", "-text", "-in"], &out_file);
    assert!(ok, "{text}");
    assert!(
        text.contains("(2048 bit)") && text.contains("ffdhe2048"),
        "{text}"
    );

    let out = certctl(&[
        "dhparam",
        "--out",
        out_file.to_str().unwrap(),
        "--bits",
        "1024",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = certctl(&[
        "dhparam",
        "--generate",
        "--bits",
        "1024",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn csr_has_the_names_as_sans_only_and_a_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    assert_ok(&certctl(&[
        "csr",
        "shop.test",
        "-d",
        "www.shop.test",
        "--key-type",
        "rsa-2048",
        "--out-dir",
        d,
    ]));
    let csr = dir.path().join("shop.test.csr");
    let (ok, shown) = openssl(&["req", "-noout", "-text", "-verify", "-in"], &csr);
    assert!(ok, "{shown}");
    assert!(
        shown.contains("DNS:shop.test, DNS:www.shop.test"),
        "{shown}"
    );
    assert!(!shown.contains("CN"), "no Common Name: {shown}");
    assert!(shown.contains("2048 bit"), "{shown}");
    assert_eq!(mode(&dir.path().join("shop.test.key")), 0o600);

    let again = certctl(&["csr", "shop.test", "--out-dir", d]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("does not overwrite"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn install_cert_brings_a_checked_certificate_into_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let s = state.to_str().unwrap();
    crate::common::pki::byo_pki(dir.path(), &["byo.test", "www.byo.test"], 2, 90);
    // A SEC1 ("EC PRIVATE KEY") key, as many CAs' tools write it.
    let sec1 = dir.path().join("sec1.pem");
    let conv = Command::new("openssl")
        .args(["ec", "-in"])
        .arg(dir.path().join("key.pem"))
        .arg("-out")
        .arg(&sec1)
        .output()
        .unwrap();
    assert!(conv.status.success());
    let p = |f: &str| dir.path().join(f).display().to_string();

    let out = certctl(&[
        "--state-dir",
        s,
        "install-cert",
        "byo.test",
        "--cert",
        &p("cert.pem"),
        "--chain",
        &p("ca.pem"),
        "--key",
        &p("sec1.pem"),
    ]);
    assert_ok(&out);
    assert_eq!(mode(&state.join("live/byo.test/privkey.pem")), 0o600);
    let list = certctl(&["--state-dir", s, "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v[0]["issuer"], "BYO CA");
    assert_eq!(
        v[0]["names"],
        serde_json::json!(["byo.test", "www.byo.test"])
    );
    let record = std::fs::read_to_string(state.join("certs/byo.test/renewal.toml")).unwrap();
    assert!(record.contains("kind = \"manual\""), "{record}");

    // A key that does not belong to the certificate, or an expired certificate: exit 2, nothing changes.
    let before = std::fs::read(state.join("live/byo.test/fullchain.pem")).unwrap();
    let other = tempfile::tempdir().unwrap();
    crate::common::pki::byo_pki(other.path(), &["byo.test"], 2, 90);
    let out = certctl(&[
        "--state-dir",
        s,
        "install-cert",
        "byo.test",
        "--cert",
        &p("cert.pem"),
        "--key",
        other.path().join("key.pem").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not match the private key"),
        "{}",
        stderr(&out)
    );
    let expired = tempfile::tempdir().unwrap();
    crate::common::pki::byo_pki(expired.path(), &["byo.test"], 2, -1);
    let e = |f: &str| expired.path().join(f).display().to_string();
    let out = certctl(&[
        "--state-dir",
        s,
        "install-cert",
        "byo.test",
        "--cert",
        &e("cert.pem"),
        "--key",
        &e("key.pem"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not valid now"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(state.join("live/byo.test/fullchain.pem")).unwrap(),
        before
    );
}

/// `certctl … | head -1`: a reader that went away ends every command quietly, with the code a
/// shell shows for a program SIGPIPE stopped (141), and no panic message.
#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let state = tempfile::tempdir().unwrap();
    // One certificate, so `list` has a table to print.
    let install =
        crate::common::pki::byo_install_args(&state.path().join("byo"), "pipe.test", 90, 60);
    let installed = Command::new(env!("CARGO_BIN_EXE_certctl"))
        .env("CERTCTL_CONFIG", "/dev/null")
        .arg("--state-dir")
        .arg(state.path().join("state"))
        .args(&install)
        .output()
        .unwrap();
    assert_ok(&installed);
    let commands: [&[&str]; 6] = [
        &["list", "--json"],
        &["config", "show", "--json"],
        &["list"],
        &["status", "--json"],
        &["completions", "bash"],
        &["list"],
    ];
    for args in commands {
        // The reading end is closed before certctl writes anything.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_certctl"))
            .env("CERTCTL_CONFIG", "/dev/null")
            .arg("--state-dir")
            .arg(state.path().join("state"))
            .args(args)
            .stdout(writer)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(141), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}
