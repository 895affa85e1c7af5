//! `certctl dhparam` and `certctl csr`, checked with the real openssl.

use std::process::Command;

use crate::common::{assert_ok, mode, stderr};

fn certctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_certctl"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn dhparam_writes_the_rfc7919_group_that_openssl_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("dhparam.pem");
    let out = certctl(&["dhparam", "--out", out_file.to_str().unwrap()]);
    assert_ok(&out);
    let check = Command::new("openssl")
        .args(["dhparam", "-check", "-noout", "-text", "-in"])
        .arg(&out_file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(check.status.success(), "{text}");
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
    let text = Command::new("openssl")
        .args(["req", "-noout", "-text", "-verify", "-in"])
        .arg(&csr)
        .output()
        .unwrap();
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&text.stdout),
        String::from_utf8_lossy(&text.stderr)
    );
    assert!(text.status.success(), "{shown}");
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
