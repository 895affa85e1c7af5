//! Sans-IO TLS wire format for the audit: build ClientHellos for any protocol version and cipher
//! list, and parse what a server answers (ServerHello, HelloRetryRequest, alerts, the Certificate
//! message of TLS 1.2 and older). No sockets: bytes in, bytes out, so every branch is unit-tested
//! on byte vectors and old protocols are probed even though rustls and Debian's OpenSSL refuse to
//! speak them. Reads are bounded: a server that sends more than [`MAX_FLIGHT`] is an error.

//!
//! [`codec`] frames records and handshake messages (both directions, also for the test servers);
//! [`enums`] names the wire values.

pub mod codec;
pub mod enums;
pub mod robot;
pub mod tls12;

use codec::{Reader, put_extension, put_u16_prefixed};
pub use enums::{AlertDescription, CipherSuite, ContentType, ExtensionType, HandshakeType};

/// The most the parser buffers from one server flight.
pub const MAX_FLIGHT: usize = 256 * 1024;
/// SHA-256("HelloRetryRequest"): a ServerHello with this random is a HelloRetryRequest.
const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// A protocol version, by its wire value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Version {
    /// SSL 3.0 (0x0300).
    Ssl3,
    /// TLS 1.0 (0x0301).
    Tls10,
    /// TLS 1.1 (0x0302).
    Tls11,
    /// TLS 1.2 (0x0303).
    Tls12,
    /// TLS 1.3 (0x0304).
    Tls13,
}

impl Version {
    /// Every version the ClientHello builder speaks, oldest first.
    pub const ALL: [Version; 5] = [
        Version::Ssl3,
        Version::Tls10,
        Version::Tls11,
        Version::Tls12,
        Version::Tls13,
    ];

    /// The wire value.
    pub fn wire(self) -> u16 {
        match self {
            Self::Ssl3 => 0x0300,
            Self::Tls10 => 0x0301,
            Self::Tls11 => 0x0302,
            Self::Tls12 => 0x0303,
            Self::Tls13 => 0x0304,
        }
    }

    /// The version with this wire value.
    pub fn from_wire(value: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.wire() == value)
    }

    /// How reports name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ssl3 => "SSL 3.0",
            Self::Tls10 => "TLS 1.0",
            Self::Tls11 => "TLS 1.1",
            Self::Tls12 => "TLS 1.2",
            Self::Tls13 => "TLS 1.3",
        }
    }
}

/// Named groups offered (RFC 8446 section 4.2.7, RFC 7919): x25519, the NIST curves, ffdhe.
pub const GROUPS: [u16; 9] = [
    0x001D, 0x0017, 0x0018, 0x0019, 0x001E, 0x0100, 0x0101, 0x0102, 0x0103,
];

/// The groups the audit asks a server about one at a time: [`GROUPS`] and the post-quantum
/// hybrid X25519MLKEM768 (TLS 1.3 only; the hellos of the other probes do not offer it, so a
/// server that prefers it never answers them with a HelloRetryRequest).
pub const PROBED_GROUPS: [u16; 10] = [
    0x001D, 0x0017, 0x0018, 0x0019, 0x001E, 0x0100, 0x0101, 0x0102, 0x0103, 0x11EC,
];

/// The name of a named group (RFC 8446, RFC 7919).
pub fn group_name(group: u16) -> String {
    match group {
        0x0017 => "secp256r1".into(),
        0x0018 => "secp384r1".into(),
        0x0019 => "secp521r1".into(),
        0x001D => "x25519".into(),
        0x001E => "x448".into(),
        0x0100 => "ffdhe2048".into(),
        0x0101 => "ffdhe3072".into(),
        0x0102 => "ffdhe4096".into(),
        0x0103 => "ffdhe6144".into(),
        0x11EC => "X25519MLKEM768".into(),
        other => format!("{other:#06x}"),
    }
}

/// Signature schemes offered (RFC 8446 section 4.2.3), old ones included so old servers answer.
const SIGNATURE_SCHEMES: [u16; 17] = [
    0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0807, 0x0808, 0x0809, 0x080A, 0x080B, 0x0401,
    0x0501, 0x0601, 0x0203, 0x0201, 0x0202,
];

/// What goes into one ClientHello.
#[derive(Clone, Debug)]
pub struct HelloSpec<'a> {
    /// The highest version offered (TLS 1.3 is offered through supported_versions).
    pub version: Version,
    /// Cipher suites, in preference order.
    pub suites: &'a [CipherSuite],
    /// Server Name Indication (omitted for IP addresses, as RFC 6066 requires).
    pub sni: Option<&'a str>,
    /// Named groups for supported_groups (and the TLS 1.3 key share, x25519 or the first).
    pub groups: &'a [u16],
    /// The client random (and TLS 1.3 key share): callers pass fresh random bytes.
    pub random: [u8; 32],
    /// ALPN protocols to offer ("h2", "http/1.1"), none when empty.
    pub alpn: &'a [&'a str],
    /// Offer DEFLATE compression too (a server that picks it is open to CRIME).
    pub compression: bool,
}

/// The ClientHello record for `spec`.
pub fn client_hello(spec: &HelloSpec<'_>) -> Vec<u8> {
    let tls13 = spec.version == Version::Tls13;
    let mut body = Vec::new();
    // legacy_version: TLS 1.3 hellos say TLS 1.2 and list 1.3 in supported_versions.
    let legacy = if tls13 { Version::Tls12 } else { spec.version };
    body.extend_from_slice(&legacy.wire().to_be_bytes());
    body.extend_from_slice(&spec.random);
    // A session id makes TLS 1.3 middlebox-compatibility mode; older versions send none.
    if tls13 {
        body.push(32);
        body.extend_from_slice(&spec.random);
    } else {
        body.push(0);
    }
    let mut suites = Vec::new();
    for s in spec.suites {
        suites.extend_from_slice(&s.0.to_be_bytes());
    }
    put_u16_prefixed(&mut body, &suites);
    match spec.compression {
        true => body.extend_from_slice(&[2, 1, 0]), // DEFLATE, null
        false => body.extend_from_slice(&[1, 0]),   // null only
    }

    if spec.version != Version::Ssl3 {
        let mut ext = Vec::new();
        if let Some(name) = spec.sni.filter(|n| n.parse::<std::net::IpAddr>().is_err()) {
            let mut list = vec![0u8]; // host_name
            put_u16_prefixed(&mut list, name.as_bytes());
            let mut data = Vec::new();
            put_u16_prefixed(&mut data, &list);
            put_extension(&mut ext, ExtensionType::SERVER_NAME, &data);
        }
        let mut groups = Vec::new();
        for g in spec.groups {
            groups.extend_from_slice(&g.to_be_bytes());
        }
        let mut data = Vec::new();
        put_u16_prefixed(&mut data, &groups);
        put_extension(&mut ext, ExtensionType::SUPPORTED_GROUPS, &data);
        put_extension(&mut ext, ExtensionType::EC_POINT_FORMATS, &[1, 0]); // uncompressed
        if spec.version >= Version::Tls12 {
            let mut schemes = Vec::new();
            for s in SIGNATURE_SCHEMES {
                schemes.extend_from_slice(&s.to_be_bytes());
            }
            let mut data = Vec::new();
            put_u16_prefixed(&mut data, &schemes);
            put_extension(&mut ext, ExtensionType::SIGNATURE_ALGORITHMS, &data);
        }
        if !spec.alpn.is_empty() {
            let mut list = Vec::new();
            for p in spec.alpn {
                codec::put_u8_prefixed(&mut list, p.as_bytes());
            }
            let mut data = Vec::new();
            put_u16_prefixed(&mut data, &list);
            put_extension(&mut ext, ExtensionType::ALPN, &data);
        }
        put_extension(&mut ext, ExtensionType::RENEGOTIATION_INFO, &[0]); // empty
        put_extension(&mut ext, ExtensionType::STATUS_REQUEST, &[1, 0, 0, 0, 0]); // OCSP, no ids
        if spec.version != Version::Tls13 {
            put_extension(&mut ext, ExtensionType::HEARTBEAT, &[1]); // peer_allowed_to_send
        }
        if tls13 {
            put_extension(
                &mut ext,
                ExtensionType::SUPPORTED_VERSIONS,
                &[2, 0x03, 0x04],
            ); // 1.3
            put_extension(&mut ext, ExtensionType::PSK_KEY_EXCHANGE_MODES, &[1, 1]); // psk_dhe_ke
            // One key share; any 32 bytes are an X25519 public key. Other groups get a
            // HelloRetryRequest, which is an answer too.
            let group = if spec.groups.contains(&0x001D) {
                Some(0x001Du16)
            } else {
                None
            };
            let mut shares = Vec::new();
            if let Some(group) = group {
                shares.extend_from_slice(&group.to_be_bytes());
                put_u16_prefixed(&mut shares, &spec.random);
            }
            let mut data = Vec::new();
            put_u16_prefixed(&mut data, &shares);
            put_extension(&mut ext, ExtensionType::KEY_SHARE, &data);
        }
        put_u16_prefixed(&mut body, &ext);
    }

    let handshake = codec::handshake(HandshakeType::CLIENT_HELLO, &body);
    // The record version: TLS 1.0 for everything but SSL 3.0, as clients do for compatibility.
    let record_version = if spec.version == Version::Ssl3 {
        0x0300u16
    } else {
        0x0301
    };
    codec::record(ContentType::HANDSHAKE, record_version, &handshake)
}

/// What the server said to one ClientHello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A ServerHello (or a HelloRetryRequest, which names a suite just the same).
    Hello(ServerHello),
    /// A fatal or warning alert instead of a ServerHello.
    Alert {
        /// 1 warning, 2 fatal.
        level: u8,
        /// Why (handshake_failure, protocol_version, …).
        description: AlertDescription,
    },
}

/// The parts of a ServerHello the audit uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerHello {
    /// The negotiated version (supported_versions for TLS 1.3).
    pub version: Version,
    /// The chosen cipher suite.
    pub suite: CipherSuite,
    /// The chosen compression method (non-zero: CRIME).
    pub compression: u8,
    /// A HelloRetryRequest (TLS 1.3, the key share did not suit the server).
    pub retry_request: bool,
    /// The server sent renegotiation_info (RFC 5746 secure renegotiation).
    pub secure_renegotiation: bool,
    /// The server accepts heartbeats (RFC 6520): where Heartbleed lived.
    pub heartbeat: bool,
    /// The ALPN protocol chosen.
    pub alpn: Option<String>,
    /// The key share group (TLS 1.3) chosen.
    pub group: Option<u16>,
    /// The certificate chain, DER, when the server sent it in the clear (TLS 1.2 and older).
    pub certificates: Vec<Vec<u8>>,
    /// ServerHelloDone seen (the whole TLS 1.2 flight is in).
    pub flight_done: bool,
    /// The server will staple an OCSP response (status_request echoed, TLS 1.2 and older).
    pub status_request: bool,
    /// A CertificateStatus message with an OCSP response came in the flight.
    pub ocsp_stapled: bool,
    /// From the ServerKeyExchange of a DHE suite: the size of the prime, in bits.
    pub dh_bits: Option<u32>,
    /// From the ServerKeyExchange of an ECDHE suite: the named group.
    pub ecdhe_group: Option<u16>,
    /// From the ServerKeyExchange of an ECDHE suite: the server's public point.
    pub ecdhe_public: Option<Vec<u8>>,
    /// The server random.
    pub random: [u8; 32],
    /// Every handshake message of the flight as sent (type and length included), for the
    /// Finished a completed handshake needs.
    pub transcript: Vec<u8>,
}

/// Why a server's bytes could not be read as TLS.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// More bytes are needed to finish the message.
    #[error("incomplete")]
    Incomplete,
    /// Not a TLS record at all (`looks_like` says what it resembles).
    #[error("the server did not answer in TLS ({0})")]
    NotTls(String),
    /// A TLS record or message that breaks the format.
    #[error("malformed TLS from the server: {0}")]
    Malformed(String),
    /// The server sent more than the audit buffers.
    #[error("the server sent more than {MAX_FLIGHT} bytes in one flight")]
    TooLarge,
}

/// An SSL 2.0 CLIENT-HELLO offering every SSL 2.0 cipher kind (the format predates TLS records:
/// a two-byte length with the top bit set, then the message).
pub fn sslv2_client_hello(challenge: [u8; 16]) -> Vec<u8> {
    const KINDS: [[u8; 3]; 7] = [
        [0x01, 0x00, 0x80],
        [0x02, 0x00, 0x80],
        [0x03, 0x00, 0x80],
        [0x04, 0x00, 0x80],
        [0x05, 0x00, 0x80],
        [0x06, 0x00, 0x40],
        [0x07, 0x00, 0xC0],
    ];
    let mut msg = vec![1, 0x00, 0x02]; // CLIENT-HELLO, version 2
    msg.extend_from_slice(&((KINDS.len() * 3) as u16).to_be_bytes());
    msg.extend_from_slice(&0u16.to_be_bytes()); // no session id
    msg.extend_from_slice(&(challenge.len() as u16).to_be_bytes());
    for kind in KINDS {
        msg.extend_from_slice(&kind);
    }
    msg.extend_from_slice(&challenge);
    let mut record = (0x8000u16 | msg.len() as u16).to_be_bytes().to_vec();
    record.extend_from_slice(&msg);
    record
}

/// Reads an answer to [`sslv2_client_hello`]: `Some(n)` for an SSL 2.0 SERVER-HELLO offering
/// `n` cipher kinds (0 still means SSL 2.0 is on), `None` for anything else (a TLS alert, a
/// close). [`WireError::Incomplete`] means read more.
pub fn parse_sslv2_answer(bytes: &[u8]) -> Result<Option<usize>, WireError> {
    let Some(&first) = bytes.first() else {
        return Err(WireError::Incomplete);
    };
    if first & 0x80 == 0 {
        return Ok(None); // a TLS record (an alert, usually): not SSL 2.0
    }
    if bytes.len() < 2 {
        return Err(WireError::Incomplete);
    }
    let len = (u16::from_be_bytes([first & 0x7F, bytes[1]])) as usize;
    if bytes.len() < 2 + len {
        return Err(WireError::Incomplete);
    }
    let mut r = Reader::new(&bytes[2..2 + len]);
    if r.u8()? != 4 {
        return Ok(None); // not SERVER-HELLO
    }
    let _session_id_hit = r.u8()?;
    let _certificate_type = r.u8()?;
    if r.u16()? != 0x0002 {
        return Ok(None);
    }
    let _certificate_len = r.u16()?;
    let cipher_specs_len = r.u16()? as usize;
    Ok(Some(cipher_specs_len / 3))
}

/// A HeartbeatRequest record that claims a 16 KiB payload and carries none (CVE-2014-0160): a
/// patched server drops it or alerts; a vulnerable one answers with a heartbeat response, that is
/// leaked memory. Sent in the clear after the server's first flight, as the original probes did.
pub fn heartbleed_request(version: Version) -> Vec<u8> {
    // request, payload_length 16384, no payload
    codec::record(ContentType::HEARTBEAT, version.wire(), &[1, 0x40, 0x00])
}

/// Reads the first record after a heartbeat probe: `Some(true)` when it is a heartbeat
/// response (vulnerable), `Some(false)` for an alert or anything else, `None` for more bytes.
/// Only the 5-byte record header is needed: the leaked bytes themselves are never read.
pub fn heartbleed_answer(bytes: &[u8]) -> Option<bool> {
    if bytes.len() < codec::RECORD_HEADER_LEN {
        return None;
    }
    Some(ContentType(bytes[0]) == ContentType::HEARTBEAT)
}

/// Reads the server's answer from the bytes received so far. [`WireError::Incomplete`] means
/// read more; everything else is final. For TLS 1.2 and older, the answer is complete once
/// ServerHelloDone arrives or `need_certificates` is false (then the ServerHello is enough).
pub fn parse_answer(bytes: &[u8], need_certificates: bool) -> Result<Answer, WireError> {
    if bytes.len() > MAX_FLIGHT {
        return Err(WireError::TooLarge);
    }
    let mut handshake = Vec::new();
    let mut pos = 0;
    let mut hello: Option<ServerHello> = None;
    loop {
        if bytes.len() < pos + 5 {
            return finish(hello, need_certificates);
        }
        let (kind, major, len) = (
            ContentType(bytes[pos]),
            bytes[pos + 1],
            u16::from_be_bytes([bytes[pos + 3], bytes[pos + 4]]) as usize,
        );
        if pos == 0
            && !matches!(
                kind,
                ContentType::HANDSHAKE
                    | ContentType::ALERT
                    | ContentType::CHANGE_CIPHER_SPEC
                    | ContentType::APPLICATION_DATA
            )
        {
            return Err(WireError::NotTls(describe(bytes)));
        }
        if major != 3 {
            return Err(WireError::NotTls(describe(bytes)));
        }
        if len > 16_384 + 2048 {
            return Err(WireError::Malformed(format!("a record of {len} bytes")));
        }
        if bytes.len() < pos + 5 + len {
            return finish(hello, need_certificates);
        }
        let fragment = &bytes[pos + 5..pos + 5 + len];
        pos += 5 + len;
        match kind {
            ContentType::ALERT if hello.is_none() => {
                if fragment.len() < 2 {
                    return Err(WireError::Malformed("a short alert".into()));
                }
                return Ok(Answer::Alert {
                    level: fragment[0],
                    description: AlertDescription(fragment[1]),
                });
            }
            ContentType::ALERT => return finish(hello, false),
            ContentType::HANDSHAKE => {
                handshake.extend_from_slice(fragment);
                read_messages(&mut handshake, &mut hello)?;
                if let Some(h) = &hello
                    && (h.flight_done
                        || !need_certificates
                        || h.version == Version::Tls13
                        || h.retry_request)
                {
                    return Ok(Answer::Hello(h.clone()));
                }
            }
            // ChangeCipherSpec or encrypted data: the plaintext part of the flight is over.
            _ => return finish(hello, false),
        }
    }
}

fn finish(hello: Option<ServerHello>, need_more: bool) -> Result<Answer, WireError> {
    match hello {
        Some(h) if !need_more => Ok(Answer::Hello(h)),
        _ => Err(WireError::Incomplete),
    }
}

/// Consumes complete handshake messages from the front of `buf`.
fn read_messages(buf: &mut Vec<u8>, hello: &mut Option<ServerHello>) -> Result<(), WireError> {
    loop {
        if buf.len() < 4 {
            return Ok(());
        }
        let len = u32::from_be_bytes([0, buf[1], buf[2], buf[3]]) as usize;
        if len > MAX_FLIGHT {
            return Err(WireError::TooLarge);
        }
        if buf.len() < 4 + len {
            return Ok(());
        }
        let message: Vec<u8> = buf.drain(..4 + len).collect();
        let body = &message[4..];
        let kind = HandshakeType(message[0]);
        match (kind, hello.as_mut()) {
            (HandshakeType::SERVER_HELLO, None) => *hello = Some(parse_server_hello(body)?),
            (HandshakeType::CERTIFICATE, Some(h)) if h.version != Version::Tls13 => {
                h.certificates = parse_certificate_list(body)?;
            }
            (HandshakeType::SERVER_KEY_EXCHANGE, Some(h)) if h.version != Version::Tls13 => {
                read_key_exchange(body, h)?;
            }
            (HandshakeType::SERVER_HELLO_DONE, Some(h)) => h.flight_done = true,
            // status_type ocsp(1), then a non-empty OCSPResponse (RFC 6066 section 8).
            (HandshakeType::CERTIFICATE_STATUS, Some(h)) => {
                h.ocsp_stapled = body.len() > 4 && body[0] == 1
            }
            (_, None) => {
                return Err(WireError::Malformed(format!(
                    "handshake message {} before the ServerHello",
                    kind.0
                )));
            }
            _ => {}
        }
        if let Some(h) = hello.as_mut() {
            h.transcript.extend_from_slice(&message);
        }
    }
}

fn parse_server_hello(body: &[u8]) -> Result<ServerHello, WireError> {
    let mut r = Reader::new(body);
    let legacy = r.u16()?;
    let random = r.take(32)?;
    r.u8_prefixed()?; // session id
    let suite = CipherSuite(r.u16()?);
    let compression = r.u8()?;
    let mut hello = ServerHello {
        version: Version::from_wire(legacy)
            .ok_or_else(|| WireError::Malformed(format!("ServerHello version {legacy:#06x}")))?,
        suite,
        compression,
        retry_request: random == HRR_RANDOM,
        secure_renegotiation: false,
        heartbeat: false,
        alpn: None,
        group: None,
        certificates: Vec::new(),
        flight_done: false,
        status_request: false,
        ocsp_stapled: false,
        dh_bits: None,
        ecdhe_group: None,
        ecdhe_public: None,
        random: random.try_into().unwrap_or([0; 32]),
        transcript: Vec::new(),
    };
    if r.is_empty() {
        return Ok(hello);
    }
    let mut ext = Reader::new(r.u16_prefixed()?);
    while !ext.is_empty() {
        let kind = ExtensionType(ext.u16()?);
        let mut d = Reader::new(ext.u16_prefixed()?);
        match kind {
            ExtensionType::RENEGOTIATION_INFO => hello.secure_renegotiation = true,
            ExtensionType::HEARTBEAT => hello.heartbeat = true,
            ExtensionType::STATUS_REQUEST => hello.status_request = true,
            ExtensionType::SUPPORTED_VERSIONS => {
                let v = d.u16()?;
                hello.version = Version::from_wire(v)
                    .ok_or_else(|| WireError::Malformed(format!("supported_versions {v:#06x}")))?;
            }
            ExtensionType::ALPN => {
                let mut list = Reader::new(d.u16_prefixed()?);
                hello.alpn = Some(String::from_utf8_lossy(list.u8_prefixed()?).into_owned());
            }
            ExtensionType::KEY_SHARE => hello.group = Some(d.u16()?),
            _ => {}
        }
    }
    Ok(hello)
}

/// The key exchange parameters of a ServerKeyExchange: the DH prime's size, or the ECDHE group.
/// Which one is told by the suite (RFC 5246 section 7.4.3, RFC 8422 section 5.4).
fn read_key_exchange(body: &[u8], hello: &mut ServerHello) -> Result<(), WireError> {
    let Some(suite) = super::suites::by_id(hello.suite) else {
        return Ok(());
    };
    let mut r = Reader::new(body);
    if suite.name.contains("_ECDHE_") {
        if r.u8()? == 3 {
            hello.ecdhe_group = Some(r.u16()?); // named_curve
            hello.ecdhe_public = Some(r.u8_prefixed()?.to_vec());
        }
    } else if suite.name.contains("_DHE_") || suite.name.contains("_DH_anon_") {
        let len = r.u16()? as usize;
        let p = r.take(len)?;
        let leading = p.iter().take_while(|b| **b == 0).count();
        let significant = &p[leading..];
        hello.dh_bits = significant
            .first()
            .map(|first| (significant.len() as u32) * 8 - first.leading_zeros());
    }
    Ok(())
}

fn parse_certificate_list(body: &[u8]) -> Result<Vec<Vec<u8>>, WireError> {
    let mut list = Reader::new(Reader::new(body).u24_prefixed()?);
    let mut certs = Vec::new();
    while !list.is_empty() {
        certs.push(list.u24_prefixed()?.to_vec());
    }
    Ok(certs)
}

/// What non-TLS bytes look like, for the finding.
fn describe(bytes: &[u8]) -> String {
    if bytes.starts_with(b"HTTP/") {
        "a plain-HTTP server answered on the TLS port".into()
    } else if bytes.starts_with(b"SSH-") {
        "an SSH server answered".into()
    } else if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        "an SSL 2.0 style record".into()
    } else {
        format!("it starts with {:02x?}", &bytes[..bytes.len().min(8)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(version: Version) -> HelloSpec<'static> {
        HelloSpec {
            version,
            suites: &enums::cipher_suites![0x1301, 0xC02F],
            sni: Some("a.test"),
            groups: &GROUPS,
            random: [7; 32],
            alpn: &["h2"],
            compression: false,
        }
    }

    use codec::handshake;

    const HANDSHAKE: ContentType = ContentType::HANDSHAKE;
    const ALERT: ContentType = ContentType::ALERT;
    const SERVER_HELLO: u8 = HandshakeType::SERVER_HELLO.0;
    const CERTIFICATE: u8 = HandshakeType::CERTIFICATE.0;

    /// A ServerHello handshake message.
    fn server_hello(version: u16, suite: u16, extensions: &[u8], random: [u8; 32]) -> Vec<u8> {
        codec::server_hello(version, random, CipherSuite(suite), extensions)
    }

    /// A TLS 1.2 record.
    fn record(kind: ContentType, payload: &[u8]) -> Vec<u8> {
        codec::record(kind, 0x0303, payload)
    }

    #[test]
    fn client_hellos_have_consistent_lengths_and_the_right_versions() {
        for version in Version::ALL {
            let hello = client_hello(&spec(version));
            assert_eq!(ContentType(hello[0]), HANDSHAKE);
            let record_len = u16::from_be_bytes([hello[3], hello[4]]) as usize;
            assert_eq!(record_len, hello.len() - 5, "{version:?}");
            assert_eq!(HandshakeType(hello[5]), HandshakeType::CLIENT_HELLO);
            let msg_len = u32::from_be_bytes([0, hello[6], hello[7], hello[8]]) as usize;
            assert_eq!(msg_len, hello.len() - 9);
            let legacy = u16::from_be_bytes([hello[9], hello[10]]);
            let expected = if version == Version::Tls13 {
                0x0303
            } else {
                version.wire()
            };
            assert_eq!(legacy, expected);
        }
        let tls13 = client_hello(&spec(Version::Tls13));
        // supported_versions lists exactly 1.3.
        assert!(
            tls13
                .windows(7)
                .any(|w| w == [0x00, 0x2B, 0x00, 0x03, 0x02, 0x03, 0x04])
        );
        // SNI carries the name; an IP address is never sent as SNI.
        assert!(tls13.windows(6).any(|w| w == b"a.test"));
        let ip = HelloSpec {
            sni: Some("127.0.0.1"),
            ..spec(Version::Tls12)
        };
        assert!(!client_hello(&ip).windows(9).any(|w| w == b"127.0.0.1"));
        // SSL 3.0 hellos carry no extensions at all.
        let ssl3 = client_hello(&spec(Version::Ssl3));
        assert_eq!(&ssl3[1..3], &[3, 0]);
        assert!(!ssl3.windows(6).any(|w| w == b"a.test"));
    }

    #[test]
    fn a_client_hello_reads_back_with_the_shared_codec() {
        let record = client_hello(&spec(Version::Tls12));
        let hello = codec::parse_client_hello(&record[codec::RECORD_HEADER_LEN..]).unwrap();
        assert_eq!(hello.version, 0x0303);
        assert_eq!(hello.suites, [CipherSuite(0x1301), CipherSuite(0xC02F)]);
        assert_eq!(hello.compression, [0]);
        for kind in [
            ExtensionType::SERVER_NAME,
            ExtensionType::RENEGOTIATION_INFO,
            ExtensionType::STATUS_REQUEST,
            ExtensionType::HEARTBEAT,
            ExtensionType::ALPN,
        ] {
            assert!(hello.has_extension(kind), "{kind}");
        }
        assert!(!hello.has_extension(ExtensionType::SUPPORTED_VERSIONS));
        let ssl3 = client_hello(&spec(Version::Ssl3));
        let ssl3 = codec::parse_client_hello(&ssl3[codec::RECORD_HEADER_LEN..]).unwrap();
        assert!(ssl3.extensions.is_empty());
    }

    #[test]
    fn parses_a_tls12_flight_split_across_records() {
        let mut hello = server_hello(0x0303, 0xC02F, &[0xFF, 0x01, 0x00, 0x01, 0x00], [1; 32]);
        // Certificate with two certificates, then ServerHelloDone.
        let certs = [vec![0xAA; 5], vec![0xBB; 3]];
        hello.extend(handshake(
            HandshakeType::CERTIFICATE,
            &codec::certificate_list(&certs),
        ));
        hello.extend(handshake(HandshakeType::SERVER_HELLO_DONE, &[]));
        let (a, b) = hello.split_at(20);
        let mut bytes = record(HANDSHAKE, a);
        // Only the first part: more is needed.
        assert_eq!(parse_answer(&bytes, true), Err(WireError::Incomplete));
        bytes.extend_from_slice(&record(HANDSHAKE, b));
        let Answer::Hello(h) = parse_answer(&bytes, true).unwrap() else {
            panic!("a hello")
        };
        assert_eq!(
            (h.version, h.suite, h.compression),
            (Version::Tls12, CipherSuite(0xC02F), 0)
        );
        assert!(h.secure_renegotiation && h.flight_done);
        assert_eq!(h.certificates, certs);
        // Without certificates wanted, the ServerHello alone is the answer.
        let first = record(
            HANDSHAKE,
            &hello[..server_hello(0x0303, 0xC02F, &[0xFF, 0x01, 0x00, 0x01, 0x00], [1; 32]).len()],
        );
        assert!(matches!(parse_answer(&first, false), Ok(Answer::Hello(_))));
    }

    #[test]
    fn reads_the_dh_prime_size_and_the_ecdhe_group() {
        // DHE: a 1024-bit prime (128 bytes, top bit set), then g and Ys (not needed).
        let mut params = vec![0x00, 0x80, 0xFF];
        params.extend_from_slice(&[0x11; 127]);
        params.extend_from_slice(&[0x00, 0x01, 0x02, 0x00, 0x01, 0x05]);
        let mut flight = server_hello(0x0303, 0x009E, &[], [1; 32]);
        flight.extend(handshake(HandshakeType::SERVER_KEY_EXCHANGE, &params));
        flight.extend(handshake(HandshakeType::SERVER_HELLO_DONE, &[]));
        let Answer::Hello(h) = parse_answer(&record(HANDSHAKE, &flight), true).unwrap() else {
            panic!("a hello")
        };
        assert_eq!((h.dh_bits, h.ecdhe_group), (Some(1024), None));
        // ECDHE: named_curve secp384r1.
        let mut flight = server_hello(0x0303, 0xC02F, &[], [1; 32]);
        flight.extend(handshake(
            HandshakeType::SERVER_KEY_EXCHANGE,
            &[3, 0x00, 0x18, 0],
        ));
        flight.extend(handshake(HandshakeType::SERVER_HELLO_DONE, &[]));
        let Answer::Hello(h) = parse_answer(&record(HANDSHAKE, &flight), true).unwrap() else {
            panic!("a hello")
        };
        assert_eq!((h.dh_bits, h.ecdhe_group), (None, Some(0x0018)));
        // Offering DEFLATE puts method 1 before null.
        let hello = client_hello(&HelloSpec {
            compression: true,
            ..spec(Version::Tls12)
        });
        assert!(hello.windows(3).any(|w| w == [2, 1, 0]));
    }

    #[test]
    fn reads_tls13_versions_retry_requests_and_alerts() {
        let ext = [
            0x00, 0x2B, 0x00, 0x02, 0x03, 0x04, 0x00, 0x33, 0x00, 0x02, 0x00, 0x17,
        ];
        let bytes = record(HANDSHAKE, &server_hello(0x0303, 0x1302, &ext, HRR_RANDOM));
        let Answer::Hello(h) = parse_answer(&bytes, true).unwrap() else {
            panic!("a hello")
        };
        assert_eq!(
            (h.version, h.suite, h.group),
            (
                Version::Tls13,
                CipherSuite::TLS_AES_256_GCM_SHA384,
                Some(0x0017)
            )
        );
        assert!(h.retry_request);
        assert_eq!(
            parse_answer(&record(ALERT, &[2, 70]), true),
            Ok(Answer::Alert {
                level: 2,
                description: AlertDescription::PROTOCOL_VERSION
            })
        );
    }

    #[test]
    fn heartbeat_probe_bytes() {
        assert_eq!(
            heartbleed_request(Version::Tls12),
            [24, 3, 3, 0, 3, 1, 0x40, 0]
        );
        assert_eq!(heartbleed_answer(&[24, 3, 3]), None);
        assert_eq!(heartbleed_answer(&[24, 3, 3, 0x40, 0x03]), Some(true));
        assert_eq!(heartbleed_answer(&[21, 3, 3, 0, 2, 2, 10]), Some(false));
        let tls12 = client_hello(&spec(Version::Tls12));
        assert!(
            tls12
                .windows(5)
                .any(|w| w == [0x00, 0x0F, 0x00, 0x01, 0x01])
        );
        let ext = [0x00, 0x0F, 0x00, 0x01, 0x01];
        let bytes = record(HANDSHAKE, &server_hello(0x0303, 0xC02F, &ext, [1; 32]));
        let Answer::Hello(h) = parse_answer(&bytes, false).unwrap() else {
            panic!("a hello")
        };
        assert!(h.heartbeat);
    }

    #[test]
    fn speaks_and_reads_ssl2() {
        let hello = sslv2_client_hello([3; 16]);
        assert_eq!(hello[0] & 0x80, 0x80);
        assert_eq!(
            ((hello[0] & 0x7F) as usize) << 8 | hello[1] as usize,
            hello.len() - 2
        );
        assert_eq!(&hello[2..5], &[1, 0, 2]);
        // SERVER-HELLO: hit 0, cert type 1, version 2, cert len 2, specs len 6, conn id len 16.
        let mut msg = vec![4, 0, 1, 0, 2, 0, 2, 0, 6, 0, 16, 0xAA, 0xBB];
        msg.extend_from_slice(&[0x01, 0x00, 0x80, 0x07, 0x00, 0xC0]);
        msg.extend_from_slice(&[9; 16]);
        let mut answer = (0x8000u16 | msg.len() as u16).to_be_bytes().to_vec();
        answer.extend_from_slice(&msg);
        assert_eq!(parse_sslv2_answer(&answer), Ok(Some(2)));
        assert_eq!(parse_sslv2_answer(&answer[..5]), Err(WireError::Incomplete));
        assert_eq!(parse_sslv2_answer(&[21, 3, 1, 0, 2, 2, 40]), Ok(None));
        assert!(parse_sslv2_answer(&[0x80, 0x02, 4, 0]).is_err());
    }

    #[test]
    fn fuzz_corpus_seeds_parse_without_panic() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse_answer");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            for n in 0..=bytes.len() {
                let _ = parse_answer(&bytes[..n], true);
                let _ = parse_answer(&bytes[..n], false);
                let _ = parse_sslv2_answer(&bytes[..n]);
            }
            seen += 1;
        }
        assert!(seen >= 8, "the corpus is in {}", dir.display());
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        assert!(matches!(
            parse_answer(b"HTTP/1.1 400 Bad Request\r\n\r\n", true),
            Err(WireError::NotTls(m)) if m.contains("plain-HTTP")
        ));
        assert_eq!(parse_answer(b"", true), Err(WireError::Incomplete));
        assert!(parse_answer(&record(HANDSHAKE, &[SERVER_HELLO, 0, 0, 3, 3, 3, 0]), true).is_err());
        assert!(parse_answer(&record(HANDSHAKE, &[CERTIFICATE, 0, 0, 0]), true).is_err());
        assert!(parse_answer(&[22, 3, 3, 0xFF, 0xFF], true).is_err());
        assert_eq!(
            parse_answer(&vec![22; MAX_FLIGHT + 1], true),
            Err(WireError::TooLarge)
        );
        // Every prefix and every single-byte corruption of a valid flight parses or errs.
        let good = record(
            HANDSHAKE,
            &server_hello(0x0303, 0xC02F, &[0xFF, 0x01, 0x00, 0x01, 0x00], [1; 32]),
        );
        for n in 0..good.len() {
            let _ = parse_answer(&good[..n], true);
            let mut bad = good.clone();
            bad[n] ^= 0xFF;
            let _ = parse_answer(&bad, true);
        }
    }
}
