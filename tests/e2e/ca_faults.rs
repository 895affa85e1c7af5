//! A CA that misbehaves on the wire: certctl gives up within its deadline, or at its body cap,
//! with a one-line error. These CAs are deliberate fakes ([`TlsFront`]): pebble cannot be made
//! to stall mid-body or to send a body that never ends.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::KeyPair;

use crate::common::front::{AriFront, Control, Storm, TlsFront};
use crate::common::{Lab, LabOptions, TestCa, free_port, stderr};

/// A fake CA whose every answer is `head` and then, when `endless`, body bytes forever, or else
/// nothing more until the test ends. Returns the front and the CA bundle trusting it.
fn broken_ca(dir: &std::path::Path, head: &'static str, endless: bool) -> (TlsFront, String) {
    let ca = TestCa::root("broken CA");
    let key = KeyPair::generate().unwrap();
    let cert = ca.leaf(&["127.0.0.1"], &key);
    let bundle = dir.join("broken-ca.pem");
    std::fs::write(&bundle, ca.pem()).unwrap();
    let handler =
        move |_: &crate::common::front::Request, out: &mut dyn Write, control: &Control| {
            if out.write_all(head.as_bytes()).is_err() || out.flush().is_err() {
                return;
            }
            let chunk = format!("4000\r\n{}\r\n", "{".repeat(0x4000));
            while !control.stopping() {
                if endless {
                    if out.write_all(chunk.as_bytes()).is_err() {
                        return;
                    }
                } else {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        };
    let front = TlsFront::start(&cert.pem(), &key.serialize_pem(), Arc::new(handler));
    (front, bundle.display().to_string())
}

fn issue_against(
    front: &TlsFront,
    bundle: &str,
    state: &std::path::Path,
) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_certctl"))
        .env("NO_COLOR", "1")
        .arg("--state-dir")
        .arg(state)
        .args(["issue", "a.test", "--standalone", "--http-port"])
        .arg(free_port().to_string())
        .args([
            "--server",
            &front.directory_url(),
            "--ca-bundle",
            bundle,
            "--agree-tos",
        ])
        .output()
        .unwrap();
    (out, started.elapsed())
}

#[test]
fn a_ca_that_stalls_mid_body_fails_within_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (front, bundle) = broken_ca(
        dir.path(),
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n{\"newNonce\":",
        false,
    );
    let (out, took) = issue_against(&front, &bundle, &dir.path().join("state"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!(
            "GET {}: no complete answer within 15 s",
            front.directory_url()
        )),
        "{err}"
    );
    // A hang guard, not a timing: the deadline is 15 s, the test would otherwise wait forever.
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

#[test]
fn a_ca_whose_body_never_ends_is_cut_off_at_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let (front, bundle) = broken_ca(
        dir.path(),
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
        true,
    );
    let (out, took) = issue_against(&front, &bundle, &dir.path().join("state"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains("larger than 1 MiB"), "{err}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

#[test]
fn storms_and_broken_bodies_fail_cleanly_and_leave_the_live_set() {
    for storm in [
        Storm::ServerError,
        Storm::BadNonce,
        Storm::ResetMidBody,
        Storm::EndlessBody,
    ] {
        let lab = Lab::with(LabOptions {
            nonce_reject: Some(0),
            ..LabOptions::default()
        });
        let front = AriFront::start(lab.dir.path(), lab.acme_port, &lab.ca_bundle);
        let port = lab.http_port.to_string();
        let url = front.directory_url();
        let bundle = lab.ca_bundle.display().to_string();
        let issue = || {
            lab.certctl([
                "issue",
                "storm.test",
                "--standalone",
                "--http-port",
                &port,
                "--server",
                &url,
                "--ca-bundle",
                &bundle,
                "--agree-tos",
            ])
            .output()
            .unwrap()
        };
        crate::common::assert_ok(&issue());
        let live = lab.live("storm.test");
        let before = std::fs::read_link(&live).unwrap();
        front.set(|s| s.storm = Some(storm));
        let started = Instant::now();
        let out = issue();
        let took = started.elapsed();
        assert_eq!(out.status.code(), Some(1), "{storm:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{storm:?}, one line: {err}"
        );
        // A 500 on the directory GET says so, with the URL (not "not ACME JSON"); a broken
        // body names the request it broke off (the new order, a POST).
        let kinds = match storm {
            Storm::ServerError => vec![format!(
                "answered HTTP 500 Internal Server Error to GET {url}"
            )],
            Storm::BadNonce => vec!["badNonce".to_owned()],
            // Reset while hyper still sends, or once it reads the body: either way, said.
            Storm::ResetMidBody => vec!["POST https://".into(), "Connection reset by peer".into()],
            Storm::EndlessBody => {
                vec![
                    "POST https://".into(),
                    ": no complete answer within 15 s".into(),
                ]
            }
        };
        for kind in kinds {
            assert!(err.contains(&kind), "{storm:?}: {err}");
        }
        eprintln!("{storm:?}: {}", err.trim_end());
        assert_eq!(std::fs::read_link(&live).unwrap(), before, "{storm:?}");
        lab.assert_chain_verifies("storm.test");
        // A hang guard, not a timing.
        assert!(took < Duration::from_secs(120), "{storm:?} took {took:?}");
        eprintln!(
            "| a CA storm: {} | 1 | 0 | 0 | 0 | 0 | {:.1} s |",
            match storm {
                Storm::ServerError => "500 to every request",
                Storm::BadNonce => "badNonce to every POST",
                Storm::ResetMidBody => "a reset mid-body to every POST",
                Storm::EndlessBody => "a body that never ends to every POST",
            },
            took.as_secs_f64()
        );
    }
}
