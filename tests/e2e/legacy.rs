//! What a real nginx here cannot show: Debian's OpenSSL 3 serves no SSL 3.0, RC4 or 3DES at all.
//! A hand-built legacy server (a mock, on purpose) answers ClientHellos the way an old OpenSSL did,
//! from a list of protocols and suites, and the whole `audit` runs against it: the findings and
//! the caps must come out of the wire exchange, as they would against a real old server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use certctl::audit::wire::codec;
use certctl::audit::wire::{
    AlertDescription, CipherSuite, ContentType, ExtensionType, HandshakeType,
};
use certctl::audit::{AuditReport, AuditRequest, audit};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

const RC4_128_SHA: CipherSuite = CipherSuite(0x0005);
const DES_CBC3_SHA: CipherSuite = CipherSuite(0x000A);
const AES128_SHA: CipherSuite = CipherSuite(0x002F);
const ECDHE_RSA_AES128_GCM_SHA256: CipherSuite = CipherSuite(0xC02F);
const ECDHE_RSA_DES_CBC3_SHA: CipherSuite = CipherSuite(0xC012);

/// What the fake server speaks.
#[derive(Clone)]
struct Legacy {
    versions: Vec<u16>,
    /// In the server's preference order.
    suites: Vec<CipherSuite>,
    server_order: bool,
    /// DER, leaf first.
    chain: Vec<Vec<u8>>,
    /// Staple an (opaque, fake) OCSP response when asked.
    staple: bool,
}

/// The parts of a ClientHello the fake server looks at.
struct Hello {
    version: u16,
    suites: Vec<CipherSuite>,
    renegotiation_info: bool,
    status_request: bool,
}

fn read_hello(sock: &mut TcpStream) -> Option<Hello> {
    let mut header = [0u8; codec::RECORD_HEADER_LEN];
    sock.read_exact(&mut header).ok()?;
    if ContentType(header[0]) != ContentType::HANDSHAKE {
        return None; // SSL 2.0 or not TLS: an old server without SSL 2.0 hangs up.
    }
    let mut body = vec![0u8; u16::from_be_bytes([header[3], header[4]]) as usize];
    sock.read_exact(&mut body).ok()?;
    let hello = codec::parse_client_hello(&body).ok()?;
    Some(Hello {
        version: hello.version,
        renegotiation_info: hello
            .suites
            .contains(&CipherSuite::TLS_EMPTY_RENEGOTIATION_INFO_SCSV)
            || hello.has_extension(ExtensionType::RENEGOTIATION_INFO),
        status_request: hello.has_extension(ExtensionType::STATUS_REQUEST),
        suites: hello.suites,
    })
}

fn answer(server: &Legacy, hello: &Hello) -> Vec<u8> {
    let alert = |version: u16, why: AlertDescription| {
        codec::record(ContentType::ALERT, version, &[2, why.0])
    };
    let Some(&version) = server
        .versions
        .iter()
        .filter(|&&v| v <= hello.version)
        .max()
    else {
        return alert(0x0301, AlertDescription::PROTOCOL_VERSION);
    };
    let chosen = match server.server_order {
        true => server.suites.iter().find(|s| hello.suites.contains(s)),
        false => hello.suites.iter().find(|s| server.suites.contains(s)),
    };
    let Some(&suite) = chosen else {
        return alert(version, AlertDescription::HANDSHAKE_FAILURE);
    };
    let staple = server.staple && hello.status_request && version > 0x0300;
    let mut extensions = Vec::new();
    if hello.renegotiation_info && version > 0x0300 {
        codec::put_extension(&mut extensions, ExtensionType::RENEGOTIATION_INFO, &[0]);
    }
    if staple {
        codec::put_extension(&mut extensions, ExtensionType::STATUS_REQUEST, &[]);
    }
    let mut flight = codec::server_hello(version, [7; 32], suite, &extensions);
    flight.extend(codec::handshake(
        HandshakeType::CERTIFICATE,
        &codec::certificate_list(&server.chain),
    ));
    if staple {
        // CertificateStatus: ocsp(1) and a response (its content is not checked).
        let response = [0x30, 0x03, 0x0A, 0x01, 0x00];
        let mut status = vec![1];
        codec::put_u24_prefixed(&mut status, &response);
        flight.extend(codec::handshake(HandshakeType::CERTIFICATE_STATUS, &status));
    }
    flight.extend(codec::handshake(HandshakeType::SERVER_HELLO_DONE, &[]));
    codec::record(ContentType::HANDSHAKE, version, &flight)
}

fn legacy_server(server: Legacy) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            let server = server.clone();
            std::thread::spawn(move || {
                let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
                if let Some(hello) = read_hello(&mut sock) {
                    let _ = sock.write_all(&answer(&server, &hello));
                    // Wait for the client to give up (it sends no key exchange).
                    let _ = sock.read(&mut [0u8; 512]);
                }
            });
        }
    });
    addr
}

/// A leaf for `legacy.test` under a root the audit is told to trust, so only protocols and
/// suites decide the grade.
fn pki() -> (Vec<Vec<u8>>, Vec<CertificateDer<'static>>) {
    let root = crate::common::TestCa::root("Legacy Root");
    let leaf_key = certctl::keys::PrivateKey::generate(certctl::keys::KeyType::Rsa2048).unwrap();
    let leaf_pair = rcgen::KeyPair::from_pem(&leaf_key.to_pem()).unwrap();
    let leaf = root.leaf(&["legacy.test"], &leaf_pair);
    let roots = CertificateDer::pem_slice_iter(root.pem().as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (vec![leaf.der().to_vec()], roots)
}

fn audit_legacy(versions: &[u16], suites: &[CipherSuite], server_order: bool) -> AuditReport {
    audit_legacy_with(versions, suites, server_order, false)
}

fn audit_legacy_with(
    versions: &[u16],
    suites: &[CipherSuite],
    server_order: bool,
    staple: bool,
) -> AuditReport {
    let (chain, roots) = pki();
    let addr = legacy_server(Legacy {
        versions: versions.to_vec(),
        suites: suites.to_vec(),
        server_order,
        chain,
        staple,
    });
    let req = AuditRequest {
        addr,
        host: Some("legacy.test".into()),
        extra_roots: roots,
        http_port: None,
        timeout: Duration::from_secs(3),
        concurrency: 8,
        deadline: Duration::from_secs(30),
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(audit(&req))
        .unwrap()
}

fn spoken(report: &AuditReport) -> Vec<&str> {
    report
        .protocols
        .iter()
        .filter(|p| p.supported)
        .map(|p| p.protocol)
        .collect()
}

fn suites_of<'r>(report: &'r AuditReport, protocol: &str) -> Vec<&'r str> {
    let p = report.protocols.iter().find(|p| p.protocol == protocol);
    p.map(|p| p.suites.iter().map(|s| s.name.as_str()).collect())
        .unwrap_or_default()
}

fn caps(report: &AuditReport) -> Vec<String> {
    report
        .rating
        .caps
        .iter()
        .map(|c| format!("{:?}: {}", c.cap, c.why))
        .collect()
}

#[test]
fn an_ssl3_and_rc4_server_is_found_on_the_wire_and_capped() {
    let report = audit_legacy_with(
        &[0x0300, 0x0301],
        &[RC4_128_SHA, DES_CBC3_SHA, AES128_SHA],
        true,
        true,
    );
    assert_eq!(spoken(&report), ["SSL 3.0", "TLS 1.0"], "{report:#?}");
    assert_eq!(
        suites_of(&report, "SSL 3.0"),
        [
            "TLS_RSA_WITH_RC4_128_SHA",
            "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
            "TLS_RSA_WITH_AES_128_CBC_SHA"
        ]
    );
    assert_eq!(report.protocols[1].server_order, Some(true));
    let certificate = report
        .certificate
        .as_ref()
        .expect("chain read off the wire");
    assert_eq!(certificate.names, ["legacy.test"]);
    assert!(
        !certificate.incomplete && certificate.name_matches,
        "{certificate:?}"
    );
    let caps = caps(&report);
    for why in [
        "SSL 3.0 with CBC suites (POODLE)",
        "neither TLS 1.2 nor TLS 1.3",
        "RC4 is accepted",
        "no forward secrecy",
        "no authenticated encryption",
    ] {
        assert!(caps.iter().any(|c| c.contains(why)), "{why}: {caps:#?}");
    }
    assert_eq!(report.grade, "C", "{caps:#?}");
    let ie8 = report.clients.iter().find(|h| h.client.starts_with("IE 8"));
    let ie8 = ie8
        .and_then(|h| h.suite())
        .map(|(v, s)| (Some(v.name()), Some(s.name)));
    assert_eq!(
        ie8,
        Some((Some("TLS 1.0"), Some("TLS_RSA_WITH_RC4_128_SHA"))),
        "the server's order hands IE 8 its RC4"
    );
    assert!(!report.sslv2 && report.heartbleed.is_none());
    assert_eq!(
        report.fallback_scsv,
        Some(false),
        "the fake ignores the SCSV"
    );
}

#[test]
fn a_3des_suite_caps_at_c_unless_the_server_keeps_it_last() {
    let tls12 = [0x0301, 0x0302, 0x0303];
    let suites = |first_3des: bool| match first_3des {
        true => vec![ECDHE_RSA_DES_CBC3_SHA, ECDHE_RSA_AES128_GCM_SHA256],
        false => vec![ECDHE_RSA_AES128_GCM_SHA256, ECDHE_RSA_DES_CBC3_SHA],
    };
    let sweet32 = "64-bit block ciphers (3DES)";

    let first = audit_legacy(&tls12, &suites(true), true);
    assert_eq!(spoken(&first), ["TLS 1.0", "TLS 1.1", "TLS 1.2"]);
    assert_eq!(
        suites_of(&first, "TLS 1.2"),
        [
            "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        ]
    );
    assert!(
        caps(&first).iter().any(|c| c.contains(sweet32)),
        "{first:#?}"
    );
    assert_eq!(first.grade, "C");

    let last = audit_legacy(&tls12, &suites(false), true);
    assert!(
        !caps(&last).iter().any(|c| c.contains(sweet32)),
        "{last:#?}"
    );
    assert_eq!(
        last.grade,
        "B",
        "TLS 1.0/1.1 still cap at B: {:#?}",
        caps(&last)
    );

    // Client order: any client that prefers 3DES gets it, so the exemption does not apply.
    let client = audit_legacy(&tls12, &suites(false), false);
    assert_eq!(client.protocols[3].server_order, Some(false));
    assert!(caps(&client).iter().any(|c| c.contains(sweet32)));
}

#[test]
fn protocol_versions_follow_the_servers_own_range() {
    let report = audit_legacy(&[0x0302], &[AES128_SHA], true);
    assert_eq!(spoken(&report), ["TLS 1.1"]);
    assert!(
        caps(&report)
            .iter()
            .any(|c| c.contains("TLS 1.0 or TLS 1.1"))
    );
}

#[test]
fn rsa_key_exchange_kept_last_for_old_clients_costs_no_grade() {
    let tls12 = [0x0303];
    // ECDHE first in the server's order: every modern client gets forward secrecy.
    let kept_last = audit_legacy(&tls12, &[ECDHE_RSA_AES128_GCM_SHA256, AES128_SHA], true);
    let fs_cap = "no forward secrecy";
    assert!(
        !caps(&kept_last).iter().any(|c| c.contains(fs_cap)),
        "{kept_last:#?}"
    );
    assert_eq!(kept_last.grade, "A-", "TLS 1.3 missing is a warning only");
    assert_eq!(kept_last.ocsp_stapling, Some(false), "no stapling");
    assert!(kept_last.rating.weaknesses.is_empty());
    // The same suites in client order: still fine, browsers prefer ECDHE.
    let client_order = audit_legacy(&tls12, &[ECDHE_RSA_AES128_GCM_SHA256, AES128_SHA], false);
    assert_eq!(client_order.grade, "A-");
    // RSA key exchange first: modern clients lose forward secrecy.
    let preferred = audit_legacy(&tls12, &[AES128_SHA, ECDHE_RSA_AES128_GCM_SHA256], true);
    assert!(
        caps(&preferred).iter().any(|c| c.contains(fs_cap)),
        "{preferred:#?}"
    );
    assert_eq!(preferred.grade, "B");
}
