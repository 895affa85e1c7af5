//! What a real nginx here cannot show: Debian's OpenSSL 3 serves no SSL 3.0, RC4 or 3DES at all,
//! and has neither a ROBOT nor a CBC padding oracle. A hand-built legacy server (a mock, on
//! purpose) answers ClientHellos the way an old OpenSSL did, from a list of protocols and suites,
//! and completes a real TLS 1.2 handshake with RSA key exchange on an AES-CBC suite (the premaster
//! decrypted with its key, the Finished checked, records opened and sealed), so that it can be
//! taught the oracles: answer bad PKCS#1 padding with another alert than a bad Finished (ROBOT),
//! answer bad CBC padding with another alert than a bad MAC, or accept bad padding bytes (POODLE
//! against TLS). The whole `audit` runs against it: the findings and the caps must come out of the
//! wire exchange, as they would against a real old server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use certctl::audit::oracle::Verdict;
use certctl::audit::wire::codec;
use certctl::audit::wire::tls12::{self, CbcSuite, Flaw, Header, Session};
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

/// Which oracle the fake server has.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Oracle {
    /// None: every bad premaster goes on with a random one (implicit rejection) and every bad
    /// record gets bad_record_mac.
    None,
    /// Bad PKCS#1 padding gets handshake_failure at once; a well-padded premaster goes on (and
    /// the probe's Finished then gets bad_record_mac).
    Robot,
    /// Bad CBC padding gets decryption_failed, a bad MAC bad_record_mac.
    Padding,
    /// Only the padding length byte is checked: bad padding bytes pass (POODLE against TLS).
    PoodleTls,
}

/// What the fake server speaks.
#[derive(Clone)]
struct Legacy {
    versions: Vec<u16>,
    /// In the server's preference order.
    suites: Vec<CipherSuite>,
    server_order: bool,
    /// DER, leaf first.
    chain: Vec<Vec<u8>>,
    /// The leaf's RSA key (PEM).
    key: String,
    /// Staple an (opaque, fake) OCSP response when asked.
    staple: bool,
    oracle: Oracle,
    /// Hang up on a hello that offers DEFLATE compression.
    refuses_deflate: bool,
    /// Answer a hello carrying TLS_FALLBACK_SCSV with handshake_failure (neither the
    /// inappropriate_fallback of RFC 7507 nor a handshake).
    alerts_on_scsv: bool,
}

/// The parts of a ClientHello the fake server looks at.
struct Hello {
    version: u16,
    suites: Vec<CipherSuite>,
    renegotiation_info: bool,
    status_request: bool,
    /// DEFLATE among the compression methods.
    deflate: bool,
    random: [u8; 32],
    /// The message as sent, for the Finished.
    message: Vec<u8>,
}

/// One record: its type and fragment.
fn read_record(sock: &mut TcpStream) -> Option<(ContentType, Vec<u8>)> {
    let mut header = [0u8; codec::RECORD_HEADER_LEN];
    sock.read_exact(&mut header).ok()?;
    let mut body = vec![0u8; u16::from_be_bytes([header[3], header[4]]) as usize];
    sock.read_exact(&mut body).ok()?;
    Some((ContentType(header[0]), body))
}

fn read_hello(sock: &mut TcpStream) -> Option<Hello> {
    // SSL 2.0 or not TLS: an old server without SSL 2.0 hangs up.
    let (ContentType::HANDSHAKE, body) = read_record(sock)? else {
        return None;
    };
    let hello = codec::parse_client_hello(&body).ok()?;
    Some(Hello {
        version: hello.version,
        renegotiation_info: hello
            .suites
            .contains(&CipherSuite::TLS_EMPTY_RENEGOTIATION_INFO_SCSV)
            || hello.has_extension(ExtensionType::RENEGOTIATION_INFO),
        status_request: hello.has_extension(ExtensionType::STATUS_REQUEST),
        deflate: hello.compression.contains(&1),
        suites: hello.suites,
        random: body.get(6..38)?.try_into().ok()?,
        message: body,
    })
}

const SERVER_RANDOM: [u8; 32] = [7; 32];

fn alert(version: u16, why: AlertDescription) -> Vec<u8> {
    codec::record(ContentType::ALERT, version, &[2, why.0])
}

/// The server's flight, and the version and suite it chose (None: it refused).
fn answer(server: &Legacy, hello: &Hello) -> (Vec<u8>, Option<(u16, CipherSuite)>) {
    if server.alerts_on_scsv && hello.suites.contains(&CipherSuite::TLS_FALLBACK_SCSV) {
        return (alert(0x0301, AlertDescription::HANDSHAKE_FAILURE), None);
    }
    let Some(&version) = server
        .versions
        .iter()
        .filter(|&&v| v <= hello.version)
        .max()
    else {
        return (alert(0x0301, AlertDescription::PROTOCOL_VERSION), None);
    };
    let chosen = match server.server_order {
        true => server.suites.iter().find(|s| hello.suites.contains(s)),
        false => hello.suites.iter().find(|s| server.suites.contains(s)),
    };
    let Some(&suite) = chosen else {
        return (alert(version, AlertDescription::HANDSHAKE_FAILURE), None);
    };
    let staple = server.staple && hello.status_request && version > 0x0300;
    let mut extensions = Vec::new();
    if hello.renegotiation_info && version > 0x0300 {
        codec::put_extension(&mut extensions, ExtensionType::RENEGOTIATION_INFO, &[0]);
    }
    if staple {
        codec::put_extension(&mut extensions, ExtensionType::STATUS_REQUEST, &[]);
    }
    let mut flight = codec::server_hello(version, SERVER_RANDOM, suite, &extensions);
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
    (
        codec::record(ContentType::HANDSHAKE, version, &flight),
        Some((version, suite)),
    )
}

/// The premaster from an RSA ClientKeyExchange, as the server's oracle decides: `Err` carries the
/// alert a ROBOT-vulnerable server sends at once.
fn premaster(server: &Legacy, hello: &Hello, key_exchange: &[u8]) -> Result<Vec<u8>, Vec<u8>> {
    let key = openssl::pkey::PKey::private_key_from_pem(server.key.as_bytes())
        .unwrap()
        .rsa()
        .unwrap();
    let k = key.size() as usize;
    let mut em = vec![0u8; k];
    let decrypted = key_exchange.get(6..).and_then(|c| {
        key.private_decrypt(c, &mut em, openssl::rsa::Padding::NONE)
            .ok()
    });
    // 00 02, at least 8 non-zero bytes, 00, then 48 bytes starting with the hello's version.
    let zero = em.iter().skip(2).position(|b| *b == 0).map(|i| i + 2);
    let well_padded = decrypted == Some(k) && em[..2] == [0, 2] && zero.is_some_and(|z| z >= 10);
    let premaster = zero.map(|z| em[z + 1..].to_vec()).unwrap_or_default();
    let valid =
        well_padded && premaster.len() == 48 && premaster[..2] == hello.version.to_be_bytes();
    match (valid, server.oracle) {
        (true, _) => Ok(premaster),
        (false, Oracle::Robot) if !well_padded => {
            Err(alert(0x0303, AlertDescription::HANDSHAKE_FAILURE))
        }
        // Implicit rejection: go on with a premaster the client cannot know.
        (false, _) => Ok(vec![0x99; 48]),
    }
}

/// After its flight: the client's key exchange, ChangeCipherSpec and Finished, the server's
/// ChangeCipherSpec and Finished, then one application-data record answered with a response or
/// an alert, as the oracle says. TLS 1.2 with an AES-CBC suite only; anything else ends the
/// connection (older servers were never asked more than their flight).
fn finish_handshake(
    server: &Legacy,
    hello: &Hello,
    (version, suite): (u16, CipherSuite),
    flight: &[u8],
    sock: &mut TcpStream,
) {
    let Some((ContentType::HANDSHAKE, key_exchange)) = read_record(sock) else {
        return;
    };
    if key_exchange.first() != Some(&HandshakeType::CLIENT_KEY_EXCHANGE.0) {
        return;
    }
    let premaster = match premaster(server, hello, &key_exchange) {
        Ok(premaster) => premaster,
        Err(alert) => {
            let _ = sock.write_all(&alert);
            return;
        }
    };
    let Some((ContentType::CHANGE_CIPHER_SPEC, _)) = read_record(sock) else {
        return;
    };
    let Some((ContentType::HANDSHAKE, finished)) = read_record(sock) else {
        return;
    };
    let bad_mac = alert(0x0303, AlertDescription::BAD_RECORD_MAC);
    let (Some(suite), 0x0303) = (CbcSuite::of(suite), version) else {
        let _ = sock.write_all(&bad_mac);
        return;
    };
    let session = Session::derive(suite, &premaster, &hello.random, &SERVER_RANDOM);
    let at = |seq, kind| Header {
        seq,
        kind,
        version: 0x0303,
    };
    let mut transcript = [&hello.message[..], &flight[5..], &key_exchange].concat();
    let opened = tls12::open(
        &suite,
        &session.client,
        at(0, ContentType::HANDSHAKE),
        &finished,
    );
    let expected = session.finished(true, &transcript);
    if !(opened.mac_ok && opened.padding_ok) || opened.content.as_deref() != Some(&expected) {
        let _ = sock.write_all(&bad_mac);
        return;
    }
    transcript.extend_from_slice(&expected);
    let seal = |seq, kind, content: &[u8]| {
        tls12::seal(
            &suite,
            &session.server,
            at(seq, kind),
            content,
            [3; 16],
            Flaw::None,
        )
    };
    let mut out = codec::record(ContentType::CHANGE_CIPHER_SPEC, 0x0303, &[1]);
    out.extend(seal(
        0,
        ContentType::HANDSHAKE,
        &session.finished(false, &transcript),
    ));
    let _ = sock.write_all(&out);

    let Some((ContentType::APPLICATION_DATA, record)) = read_record(sock) else {
        return;
    };
    let opened = tls12::open(
        &suite,
        &session.client,
        at(1, ContentType::APPLICATION_DATA),
        &record,
    );
    let accepted = match server.oracle {
        Oracle::PoodleTls => opened.mac_ok,
        _ => opened.mac_ok && opened.padding_ok,
    };
    let reply = match (accepted, server.oracle) {
        (true, _) => seal(
            1,
            ContentType::APPLICATION_DATA,
            b"HTTP/1.1 200 OK\r\n\r\nlegacy",
        ),
        (false, Oracle::Padding) if !opened.padding_ok => seal(1, ContentType::ALERT, &[2, 21]),
        (false, _) => seal(1, ContentType::ALERT, &[2, 20]),
    };
    let _ = sock.write_all(&reply);
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
                if let Some(hello) = read_hello(&mut sock)
                    && !(server.refuses_deflate && hello.deflate)
                {
                    let (flight, chosen) = answer(&server, &hello);
                    let _ = sock.write_all(&flight);
                    if let Some(chosen) = chosen {
                        finish_handshake(&server, &hello, chosen, &flight, &mut sock);
                    }
                    // Wait for the client to give up.
                    let _ = sock.read(&mut [0u8; 512]);
                }
            });
        }
    });
    addr
}

/// A leaf for `legacy.test` under a root the audit is told to trust, so only protocols and
/// suites decide the grade.
fn pki() -> (Vec<Vec<u8>>, String, Vec<CertificateDer<'static>>) {
    let root = crate::common::TestCa::root("Legacy Root");
    let leaf_key = certctl::keys::PrivateKey::generate(certctl::keys::KeyType::Rsa2048).unwrap();
    let leaf_pair = rcgen::KeyPair::from_pem(&leaf_key.to_pem()).unwrap();
    let leaf = root.leaf(&["legacy.test"], &leaf_pair);
    let roots = CertificateDer::pem_slice_iter(root.pem().as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (vec![leaf.der().to_vec()], leaf_key.to_pem(), roots)
}

fn audit_legacy(versions: &[u16], suites: &[CipherSuite], server_order: bool) -> AuditReport {
    audit_legacy_with(versions, suites, server_order, false, Oracle::None)
}

fn audit_legacy_with(
    versions: &[u16],
    suites: &[CipherSuite],
    server_order: bool,
    staple: bool,
    oracle: Oracle,
) -> AuditReport {
    audit_server(|chain, key| Legacy {
        versions: versions.to_vec(),
        suites: suites.to_vec(),
        server_order,
        chain,
        key,
        staple,
        oracle,
        refuses_deflate: false,
        alerts_on_scsv: false,
    })
}

/// The audit of the fake server `server` makes from the test PKI's chain and key.
fn audit_server(server: impl FnOnce(Vec<Vec<u8>>, String) -> Legacy) -> AuditReport {
    let (chain, key, roots) = pki();
    let addr = legacy_server(server(chain, key));
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
        Oracle::None,
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

/// TLS 1.2 with one AEAD and one CBC suite, in the server's order, nothing odd.
fn plain_tls12(chain: Vec<Vec<u8>>, key: String) -> Legacy {
    Legacy {
        versions: vec![0x0303],
        suites: vec![ECDHE_RSA_AES128_GCM_SHA256, AES128_SHA],
        server_order: true,
        chain,
        key,
        staple: false,
        oracle: Oracle::None,
        refuses_deflate: false,
        alerts_on_scsv: false,
    }
}

#[test]
fn a_hang_up_on_the_compression_hello_is_unknown_never_a_no() {
    // A TLS 1.2 server that closes on the hello offering DEFLATE: compression and secure
    // renegotiation could not be tested, and the report says so instead of "no".
    let report = audit_server(|chain, key| Legacy {
        refuses_deflate: true,
        ..plain_tls12(chain, key)
    });
    let unknown = report
        .rating
        .findings
        .iter()
        .find(|f| f.id == "audit.UNKNOWN_HANDSHAKE")
        .unwrap_or_else(|| panic!("no unknown for the handshake: {report:#?}"));
    assert!(unknown.message.contains("closed"), "{unknown:?}");
    assert!(!report.complete);
    // Its worst answer (compression on) caps the grade at C. (The grade itself is T: the only
    // hello that reads the chain is the one refused, and rustls cannot finish with this fake.)
    assert!(
        report
            .rating
            .caps
            .iter()
            .any(|c| c.id == "audit.UNKNOWN_HANDSHAKE" && c.cap.as_str() == "C"),
        "{report:#?}"
    );
    assert_eq!(spoken(&report), ["TLS 1.2"]);
}

#[test]
fn an_odd_alert_to_the_fallback_hello_is_unknown_never_a_no() {
    // TLS 1.2 and 1.1: the TLS 1.1 hello with the SCSV gets handshake_failure, which is neither
    // "refused as a fallback" nor "accepted"; the report says the SCSV could not be tested.
    let report = audit_server(|chain, key| Legacy {
        versions: vec![0x0302, 0x0303],
        alerts_on_scsv: true,
        ..plain_tls12(chain, key)
    });
    assert_eq!(spoken(&report), ["TLS 1.1", "TLS 1.2"]);
    assert_eq!(report.fallback_scsv, None);
    let unknown = report
        .rating
        .findings
        .iter()
        .find(|f| f.id == "audit.UNKNOWN_DETAIL" && f.message.contains("TLS_FALLBACK_SCSV"))
        .unwrap_or_else(|| panic!("no unknown for the SCSV: {:#?}", report.rating.findings));
    assert!(unknown.message.contains("HANDSHAKE_FAILURE"), "{unknown:?}");
    assert!(!report.complete);
}

fn status(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Vulnerable(_) => "vulnerable",
        Verdict::NotVulnerable(_) => "not vulnerable",
        Verdict::Untested(_) => "untested",
        Verdict::Unknown(_) => "unknown",
    }
}

/// The audit of a TLS 1.2 AES128-SHA server with `oracle`: the verdict `of` picks must say
/// vulnerable, naming each of `shows`; the grade is F with the finding's cap and weakness.
fn found(
    oracle: Oracle,
    of: fn(&AuditReport) -> &Verdict,
    finding: &str,
    shows: &[&str],
) -> AuditReport {
    let report = audit_legacy_with(&[0x0303], &[AES128_SHA], true, false, oracle);
    let Verdict::Vulnerable(how) = of(&report) else {
        panic!("not vulnerable: {:?}", of(&report))
    };
    for what in shows {
        assert!(how.contains(what), "{what:?} not in {how:?}");
    }
    assert_eq!(report.grade, "F");
    assert_eq!(report.rating.caps[0].id, format!("audit.CAP_{finding}"));
    assert!(ids(&report).contains(&format!("audit.WEAK_{finding}").as_str()));
    report
}

fn ids(report: &AuditReport) -> Vec<&'static str> {
    report.rating.findings.iter().map(|f| f.id).collect()
}

#[test]
fn a_server_that_completes_real_handshakes_has_no_oracle() {
    let report = audit_legacy(&[0x0303], &[AES128_SHA], true);
    assert_eq!(
        status(&report.robot),
        "not vulnerable",
        "{:?}",
        report.robot
    );
    assert_eq!(
        status(&report.cbc_padding_oracle),
        "not vulnerable",
        "{:?}",
        report.cbc_padding_oracle
    );
    let Verdict::NotVulnerable(how) = &report.cbc_padding_oracle else {
        unreachable!()
    };
    assert!(how.contains("alert bad_record_mac"), "{how}");
    assert!(
        !report.rating.caps.iter().any(|c| c.cap.as_str() == "F"),
        "{:#?}",
        report.rating.caps
    );
    assert!(
        report.connections < 60,
        "{} connections",
        report.connections
    );
}

#[test]
fn robot_is_found_when_bad_pkcs1_padding_gets_its_own_alert() {
    let report = found(
        Oracle::Robot,
        |r| &r.robot,
        "ROBOT",
        &[
            "correct padding: alert bad_record_mac",
            "wrong first bytes: alert handshake_failure",
        ],
    );
    // The difference was asked twice: 5 more connections, still inside the budget.
    assert!(
        report.connections < 60,
        "{} connections",
        report.connections
    );
    // The CBC records are still judged alike.
    assert_eq!(status(&report.cbc_padding_oracle), "not vulnerable");
}

#[test]
fn cbc_padding_oracles_are_found_on_the_wire() {
    let oracle = found(
        Oracle::Padding,
        |r| &r.cbc_padding_oracle,
        "PADDING_ORACLE",
        &[
            "bad MAC: alert bad_record_mac",
            "bad padding bytes: alert decryption_failed",
        ],
    );
    assert_eq!(status(&oracle.robot), "not vulnerable");
    found(
        Oracle::PoodleTls,
        |r| &r.cbc_padding_oracle,
        "PADDING_ORACLE",
        &["POODLE against TLS"],
    );
}

#[test]
fn oracle_probes_that_do_not_apply_say_so() {
    // No RSA key exchange and no CBC: nothing to test, no grade effect, and no connection spent.
    let report = audit_legacy(&[0x0303], &[ECDHE_RSA_AES128_GCM_SHA256], true);
    assert_eq!(status(&report.robot), "untested");
    assert_eq!(status(&report.cbc_padding_oracle), "untested");
    let found = ids(&report);
    assert!(
        found.contains(&"audit.UNTESTED_ROBOT") && found.contains(&"audit.UNTESTED_PADDING_ORACLE")
    );
    assert_eq!(report.grade, "A-");
    // 3DES over TLS 1.0 only: the CBC probe speaks TLS 1.2 AES-CBC, and says so.
    let old = audit_legacy(&[0x0301], &[DES_CBC3_SHA], true);
    let Verdict::Untested(why) = &old.cbc_padding_oracle else {
        panic!("{:?}", old.cbc_padding_oracle)
    };
    assert!(why.contains("TLS 1.2 with AES-CBC"), "{why}");
}
