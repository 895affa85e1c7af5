//! `certctl audit` against servers that misbehave on purpose: silent, trickling, garbage,
//! resets, endless records, plain HTTP on the TLS port, an oversized record, and a TLS server
//! that stalls on old protocol versions. Each is a deliberate fake (std listeners on threads on
//! 127.0.0.1): no real server behaves this way on purpose, but a broken, overloaded or hostile
//! peer can, and the audit must end by its deadline and say what it could not test instead of
//! handing out a good grade.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use certctl::audit::wire::codec;
use certctl::audit::wire::{
    AlertDescription, CipherSuite, ContentType, ExtensionType, HandshakeType,
};

/// The `--deadline` the tests give; every audit must end within it plus [`MARGIN`].
const DEADLINE: u64 = 5;
/// Process start-up and a loaded CI machine; never a tighter bound than this.
const MARGIN: Duration = Duration::from_secs(5);
/// No fake keeps a connection longer than this, so no thread outlives the tests by much.
const GIVE_UP: Duration = Duration::from_secs(30);

/// How a fake server misbehaves after accepting a connection.
#[derive(Clone, Copy, Debug)]
enum Hostile {
    /// Reads the ClientHello and never answers.
    Silent,
    /// Answers with a valid ServerHello record, one byte every 3 s.
    Trickle,
    /// Answers with bytes that are not TLS, then waits.
    Garbage,
    /// Closes with the hello unread: the kernel answers with a reset.
    Reset,
    /// Sends application-data records without end.
    Endless,
    /// A plain-HTTP server on the TLS port.
    PlainHttp,
    /// One handshake record claiming 65535 bytes (TLS allows 2^14 plus expansion), then them.
    Oversized,
}

fn hostile_server(kind: Hostile) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { return };
            std::thread::spawn(move || misbehave(kind, sock));
        }
    });
    addr
}

fn misbehave(kind: Hostile, mut sock: TcpStream) {
    let give_up = Instant::now() + GIVE_UP;
    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
    if let Hostile::Reset = kind {
        // Let the hello arrive, leave it unread and close: Linux sends RST.
        std::thread::sleep(Duration::from_millis(50));
        return;
    }
    let _ = sock.read(&mut [0u8; 4096]);
    match kind {
        Hostile::Silent | Hostile::Reset => {}
        Hostile::Trickle => {
            let hello = codec::server_hello(0x0303, [1; 32], CipherSuite(0xC02B), &[]);
            for byte in codec::record(ContentType::HANDSHAKE, 0x0303, &hello) {
                if Instant::now() > give_up || sock.write_all(&[byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(3));
            }
        }
        Hostile::Garbage => {
            let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 128) as u8).collect();
            let _ = sock.write_all(&garbage);
        }
        Hostile::Endless => {
            let record = codec::record(ContentType::APPLICATION_DATA, 0x0303, &[0xAB; 16_384]);
            while Instant::now() < give_up && sock.write_all(&record).is_ok() {}
            return;
        }
        Hostile::PlainHttp => {
            let _ = sock.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            return;
        }
        Hostile::Oversized => {
            let mut record = vec![ContentType::HANDSHAKE.0, 3, 3, 0xFF, 0xFF];
            record.extend_from_slice(&[0x0B; 0xFFFF]);
            let _ = sock.write_all(&record);
        }
    }
    hold(sock, give_up);
}

/// Keeps the connection open, reading and dropping whatever comes, until the peer leaves.
fn hold(mut sock: TcpStream, give_up: Instant) {
    let mut sink = [0u8; 4096];
    while Instant::now() < give_up {
        match sock.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
}

/// The real certctl binary, CERTCTL_* scrubbed from its environment.
fn certctl(args: &[&str]) -> (Output, Duration) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certctl"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CERTCTL_") {
            cmd.env_remove(&key);
        }
    }
    let started = Instant::now();
    let out = cmd.args(args).output().unwrap();
    (out, started.elapsed())
}

/// `certctl audit` against a fake that never answers TLS: it ends by the deadline, exits 1 with
/// one line saying why, and prints no grade.
fn audit_fails_in_time(kind: Hostile, why: &str) {
    let target = hostile_server(kind).to_string();
    let deadline = DEADLINE.to_string();
    let args = [
        "audit",
        &target,
        "--http-port",
        "0",
        "--deadline",
        &deadline,
    ];
    let (out, took) = certctl(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A row of bench/faults.sh's matrix: a hang is an audit past its deadline.
    let hang = u32::from(took >= Duration::from_secs(DEADLINE) + MARGIN);
    eprintln!(
        "| an audit of a hostile server: {kind:?} | 1 | 0 | 0 | 0 | {hang} | {:.1} s |",
        took.as_secs_f64()
    );
    assert!(
        took < Duration::from_secs(DEADLINE) + MARGIN,
        "{kind:?} took {took:?}: {stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{kind:?}: {stderr}");
    assert!(
        stderr.contains("cannot audit") && stderr.contains(why),
        "{kind:?}: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "{kind:?}: no grade for a server that was not tested"
    );
}

#[test]
fn a_silent_server_ends_by_the_deadline() {
    audit_fails_in_time(Hostile::Silent, "answer");
}

#[test]
fn a_trickling_server_ends_by_the_deadline() {
    audit_fails_in_time(Hostile::Trickle, "answer");
}

#[test]
fn garbage_is_not_tls() {
    audit_fails_in_time(Hostile::Garbage, "did not answer in TLS");
}

#[test]
fn a_server_that_resets_is_not_graded() {
    audit_fails_in_time(Hostile::Reset, "");
}

#[test]
fn endless_records_stop_at_the_size_cap() {
    audit_fails_in_time(Hostile::Endless, "more than 262144 bytes");
}

#[test]
fn plain_http_on_the_tls_port_is_named() {
    audit_fails_in_time(Hostile::PlainHttp, "plain-HTTP");
}

#[test]
fn an_oversized_record_is_malformed() {
    audit_fails_in_time(Hostile::Oversized, "a record of 65535 bytes");
}

/// A TLS 1.2 server with one ECDHE-ECDSA suite and a certificate the audit trusts. It answers
/// TLS 1.2 (and TLS 1.3 hellos, with TLS 1.2) properly; to TLS 1.0 and 1.1 hellos it either says
/// protocol_version (`stall` false) or stays silent (`stall` true); SSL 3.0 gets an alert and
/// SSL 2.0 a close.
fn tls12_server(chain: Vec<Vec<u8>>, stall: bool) -> SocketAddr {
    const SUITE: CipherSuite = CipherSuite(0xC02B);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            let chain = chain.clone();
            std::thread::spawn(move || {
                let give_up = Instant::now() + GIVE_UP;
                let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
                let mut header = [0u8; codec::RECORD_HEADER_LEN];
                if sock.read_exact(&mut header).is_err()
                    || ContentType(header[0]) != ContentType::HANDSHAKE
                {
                    return;
                }
                let mut body = vec![0u8; u16::from_be_bytes([header[3], header[4]]) as usize];
                if sock.read_exact(&mut body).is_err() {
                    return;
                }
                let Ok(hello) = codec::parse_client_hello(&body) else {
                    return;
                };
                let alert =
                    |why: AlertDescription| codec::record(ContentType::ALERT, 0x0301, &[2, why.0]);
                let answer = match hello.version {
                    0x0303 if hello.suites.contains(&SUITE) => {
                        let mut ext = Vec::new();
                        codec::put_extension(&mut ext, ExtensionType::RENEGOTIATION_INFO, &[0]);
                        let mut flight = codec::server_hello(0x0303, [7; 32], SUITE, &ext);
                        flight.extend(codec::handshake(
                            HandshakeType::CERTIFICATE,
                            &codec::certificate_list(&chain),
                        ));
                        flight.extend(codec::handshake(HandshakeType::SERVER_HELLO_DONE, &[]));
                        codec::record(ContentType::HANDSHAKE, 0x0303, &flight)
                    }
                    0x0303 => alert(AlertDescription::HANDSHAKE_FAILURE),
                    0x0301 | 0x0302 if stall => return hold(sock, give_up),
                    _ => alert(AlertDescription::PROTOCOL_VERSION),
                };
                let _ = sock.write_all(&answer);
                hold(sock, give_up);
            });
        }
    });
    addr
}

#[test]
fn a_server_that_stalls_on_old_versions_gets_no_better_grade() {
    let root = crate::common::TestCa::root("Hostile Root");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let leaf = root.leaf(&["hostile.test"], &key);
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("root.pem");
    std::fs::write(&bundle, root.pem()).unwrap();
    let audit = |stall: bool| {
        let target = tls12_server(vec![leaf.der().to_vec()], stall).to_string();
        let deadline = DEADLINE.to_string();
        let (out, took) = certctl(&[
            "audit",
            &target,
            "--sni",
            "hostile.test",
            "--ca-bundle",
            bundle.to_str().unwrap(),
            "--http-port",
            "0",
            "--timeout",
            "2",
            "--deadline",
            &deadline,
            "--json",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("stall {stall}: {} ms", took.as_millis());
        assert!(
            took < Duration::from_secs(DEADLINE) + MARGIN,
            "took {took:?}"
        );
        assert!(out.status.success(), "{stderr}");
        let report = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
        crate::common::assert_schema("audit", &report);
        report
    };

    // Refusing TLS 1.0 and 1.1 politely: A- (no TLS 1.3; the HSTS fetch fails on this fake).
    let polite = audit(false);
    assert_eq!(polite["grade"], "A-", "{polite:#}");
    let ids = |report: &serde_json::Value| -> Vec<String> {
        report["rating"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(!ids(&polite).contains(&"audit.UNKNOWN_PROTOCOL".to_owned()));

    // Silence instead: TLS 1.0 and 1.1 could not be tested, so they count as spoken (B), and
    // the report says so rather than calling them off.
    let stalled = audit(true);
    assert_eq!(stalled["grade"], "B", "{stalled:#}");
    assert_eq!(stalled["complete"], false);
    let unknown: Vec<&str> = stalled["rating"]["unknowns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    for version in ["TLS 1.0", "TLS 1.1"] {
        assert!(
            unknown
                .iter()
                .any(|u| u.starts_with(&format!("could not test {version}: no answer"))),
            "{unknown:?}"
        );
    }
    let caps = stalled["rating"]["caps"].as_array().unwrap();
    assert!(
        caps.iter()
            .any(|c| c["id"] == "audit.UNKNOWN_PROTOCOL" && c["cap"] == "B"),
        "{caps:?}"
    );
    assert!(ids(&stalled).contains(&"audit.UNKNOWN_PROTOCOL".to_owned()));
}
