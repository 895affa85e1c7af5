//! Client simulation: which protocol and suite each reference client would end up with, given
//! what the server accepts and whose order decides. SSL Labs judges forward secrecy and RC4 by
//! what browsers negotiate, not by what a server merely accepts: a server that prefers ECDHE-GCM
//! but still takes AES128-SHA for old clients is not capped. Pure.
//!
//! The suite, group and signature-scheme lists are the clients' ClientHello offers (IANA values,
//! in the client's order), from their published handshakes. A client also fails when it shares no
//! key exchange group with the server, or cannot verify the server's key: an ECDSA key on a curve
//! it lacks (in TLS 1.2 the curve must be in its supported groups, in TLS 1.3 the curve's own
//! signature scheme must be offered), an RSA-PSS or Ed25519 key without their schemes. As with a
//! real server, a TLS 1.2 suite the client cannot use is skipped for the next; TLS 1.3 has no next.

use serde::Serialize;

use super::suites;
use super::wire::enums::cipher_suites;
use super::wire::{self, CipherSuite, Version};

/// A reference client.
#[derive(Debug)]
pub struct Client {
    /// "Chrome 120 / Windows 10".
    pub name: &'static str,
    /// A current client: forward secrecy is judged on these.
    pub modern: bool,
    /// Oldest and newest protocol it speaks.
    pub versions: (Version, Version),
    /// TLS 1.3 suites, in its order.
    pub tls13: &'static [CipherSuite],
    /// SSL 3.0 to TLS 1.2 suites, in its order.
    pub legacy: &'static [CipherSuite],
    /// supported_groups (named groups, RFC 8446 / RFC 8422), in its order; empty: no EC at all.
    pub groups: &'static [u16],
    /// signature_algorithms (SignatureScheme values); empty: none sent (TLS 1.1 and older).
    pub sigalgs: &'static [u16],
}

/// The server's certificate key, as far as a client must be able to verify it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKey {
    /// rsaEncryption.
    Rsa,
    /// id-RSASSA-PSS: only the rsa_pss_pss_* schemes can sign with it.
    RsaPss,
    /// ECDSA on this curve (its named group: 0x0017 P-256, 0x0018 P-384, 0x0019 P-521).
    Ecdsa(u16),
    /// Ed25519.
    Ed25519,
}

impl ServerKey {
    fn name(self) -> String {
        match self {
            Self::Rsa => "RSA".into(),
            Self::RsaPss => "RSA-PSS".into(),
            Self::Ecdsa(curve) => format!("ECDSA {}", wire::group_name(curve)),
            Self::Ed25519 => "Ed25519".into(),
        }
    }

    /// The TLS 1.3 schemes that sign with this key (RFC 8446 4.2.3).
    fn tls13_schemes(self) -> &'static [u16] {
        match self {
            Self::Rsa => &[0x0804, 0x0805, 0x0806],
            Self::RsaPss => &[0x0809, 0x080A, 0x080B],
            Self::Ecdsa(0x0017) => &[0x0403],
            Self::Ecdsa(0x0018) => &[0x0503],
            Self::Ecdsa(0x0019) => &[0x0603],
            Self::Ecdsa(_) => &[],
            Self::Ed25519 => &[0x0807],
        }
    }
}

/// What the server offers besides its suites: the key its certificate holds and the named
/// groups it accepts. None: not known, so no client fails for it.
#[derive(Clone, Debug, Default)]
pub struct ServerOffer {
    /// The leaf's key.
    pub key: Option<ServerKey>,
    /// The groups accepted, of those probed ([`wire::GROUPS`]).
    pub groups: Option<Vec<u16>>,
}

// Published ClientHellos' supported_groups and signature_algorithms.
const CHROME_GROUPS: &[u16] = &[0x001D, 0x0017, 0x0018];
const CHROME_SIGALGS: &[u16] = &[
    0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
];
const ANDROID7_SIGALGS: &[u16] = &[
    0x0601, 0x0603, 0x0501, 0x0503, 0x0401, 0x0403, 0x0201, 0x0203,
];
const JAVA8_GROUPS: &[u16] = &[
    0x0017, 0x0001, 0x0003, 0x0013, 0x0015, 0x0006, 0x0007, 0x0009, 0x000A, 0x0018, 0x000B, 0x000C,
    0x0019, 0x000D, 0x000E, 0x000F, 0x0010, 0x0011, 0x0002, 0x0012, 0x0004, 0x0005, 0x0014, 0x0008,
    0x0016,
];
const OPENSSL102_GROUPS: &[u16] = &[
    0x000E, 0x000D, 0x0019, 0x001C, 0x000B, 0x000C, 0x001B, 0x0018, 0x0009, 0x000A, 0x001A, 0x0016,
    0x0017, 0x0008, 0x0006, 0x0007, 0x0014, 0x0015, 0x0004, 0x0005, 0x0012, 0x0013, 0x0001, 0x0002,
    0x0003, 0x000F, 0x0010, 0x0011,
];

const TLS13_AES_FIRST: &[CipherSuite] = &cipher_suites![0x1301, 0x1302, 0x1303];

/// The clients, newest first.
pub const CLIENTS: &[Client] = &[
    Client {
        name: "Chrome 120 / Windows 10",
        modern: true,
        versions: (Version::Tls12, Version::Tls13),
        tls13: TLS13_AES_FIRST,
        legacy: &cipher_suites![
            0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014, 0x009C, 0x009D, 0x002F,
            0x0035,
        ],
        groups: CHROME_GROUPS,
        sigalgs: CHROME_SIGALGS,
    },
    Client {
        name: "Firefox 120 / Linux",
        modern: true,
        versions: (Version::Tls12, Version::Tls13),
        tls13: &cipher_suites![0x1301, 0x1303, 0x1302],
        legacy: &cipher_suites![
            0xC02B, 0xC02F, 0xCCA9, 0xCCA8, 0xC02C, 0xC030, 0xC00A, 0xC009, 0xC013, 0xC014, 0x009C,
            0x009D, 0x002F, 0x0035,
        ],
        groups: &[0x001D, 0x0017, 0x0018, 0x0019, 0x0100, 0x0101],
        sigalgs: &[
            0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203, 0x0201,
        ],
    },
    Client {
        name: "Safari 17 / macOS 14",
        modern: true,
        versions: (Version::Tls12, Version::Tls13),
        tls13: TLS13_AES_FIRST,
        legacy: &cipher_suites![
            0xC02C, 0xC02B, 0xCCA9, 0xC030, 0xC02F, 0xCCA8, 0xC00A, 0xC009, 0xC014, 0xC013, 0x009D,
            0x009C, 0x0035, 0x002F, 0xC008, 0xC012, 0x000A,
        ],
        groups: &[0x001D, 0x0017, 0x0018, 0x0019],
        sigalgs: &[
            0x0403, 0x0804, 0x0401, 0x0503, 0x0203, 0x0805, 0x0501, 0x0806, 0x0601, 0x0201,
        ],
    },
    Client {
        name: "Java 11",
        modern: true,
        versions: (Version::Tls10, Version::Tls13),
        tls13: &cipher_suites![0x1301, 0x1302],
        legacy: &cipher_suites![
            0xC02C, 0xC02B, 0xCCA9, 0xC030, 0xCCA8, 0xC02F, 0x009F, 0xCCAA, 0x009E, 0xC024, 0xC028,
            0xC023, 0xC027, 0x006B, 0x0067, 0xC00A, 0xC014, 0xC009, 0xC013, 0x0039, 0x0033, 0x009D,
            0x009C, 0x003D, 0x003C, 0x0035, 0x002F,
        ],
        groups: &[
            0x001D, 0x0017, 0x0018, 0x0019, 0x001E, 0x0100, 0x0101, 0x0102, 0x0103, 0x0104,
        ],
        sigalgs: &[
            0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0809, 0x080A, 0x080B, 0x0401, 0x0501,
            0x0601, 0x0303, 0x0301, 0x0203, 0x0201,
        ],
    },
    Client {
        name: "Android 7.0",
        modern: true,
        versions: (Version::Tls10, Version::Tls12),
        tls13: &[],
        legacy: &cipher_suites![
            0xC02B, 0xC02C, 0xCCA9, 0xC02F, 0xC030, 0xCCA8, 0xC009, 0xC00A, 0xC013, 0xC014, 0x009C,
            0x009D, 0x002F, 0x0035,
        ],
        groups: CHROME_GROUPS,
        sigalgs: ANDROID7_SIGALGS,
    },
    Client {
        name: "IE 11 / Windows 7",
        modern: false,
        versions: (Version::Tls10, Version::Tls12),
        tls13: &[],
        legacy: &cipher_suites![
            0xC028, 0xC027, 0xC014, 0xC013, 0x009F, 0x009E, 0x0039, 0x0033, 0x009D, 0x009C, 0x003D,
            0x003C, 0x0035, 0x002F, 0xC02C, 0xC02B, 0xC024, 0xC023, 0xC00A, 0xC009, 0x006A, 0x0040,
            0x0038, 0x0032, 0x000A, 0x0013,
        ],
        groups: &[0x0017, 0x0018],
        sigalgs: &[
            0x0401, 0x0501, 0x0201, 0x0403, 0x0503, 0x0203, 0x0402, 0x0202,
        ],
    },
    Client {
        // Still offered RC4, last, with TLS 1.2 (removed in 8u51).
        name: "Java 8u31",
        modern: false,
        versions: (Version::Tls10, Version::Tls12),
        tls13: &[],
        legacy: &cipher_suites![
            0xC02C, 0xC02B, 0xC030, 0x009D, 0xC02E, 0xC032, 0x009F, 0x00A3, 0xC02F, 0x009C, 0xC02D,
            0xC031, 0x009E, 0x00A2, 0xC024, 0xC028, 0x003D, 0xC026, 0xC02A, 0x006B, 0x006A, 0xC00A,
            0xC014, 0x0035, 0xC005, 0xC00F, 0x0039, 0x0038, 0xC023, 0xC027, 0x003C, 0xC025, 0xC029,
            0x0067, 0x0040, 0xC009, 0xC013, 0x002F, 0xC004, 0xC00E, 0x0033, 0x0032, 0xC007, 0xC011,
            0x0005, 0xC002, 0xC00C, 0xC008, 0xC012, 0x000A, 0xC003, 0xC00D, 0x0016, 0x0013, 0x0004,
        ],
        groups: JAVA8_GROUPS,
        sigalgs: &[
            0x0603, 0x0601, 0x0503, 0x0501, 0x0403, 0x0401, 0x0303, 0x0301, 0x0203, 0x0201, 0x0402,
            0x0202, 0x0101,
        ],
    },
    Client {
        name: "OpenSSL 1.0.2",
        modern: false,
        versions: (Version::Tls10, Version::Tls12),
        tls13: &[],
        legacy: &cipher_suites![
            0xC030, 0xC02C, 0xC028, 0xC024, 0xC014, 0xC00A, 0x009F, 0x006B, 0x0039, 0x009D, 0x003D,
            0x0035, 0xC02F, 0xC02B, 0xC027, 0xC023, 0xC013, 0xC009, 0x009E, 0x0067, 0x0033, 0x009C,
            0x003C, 0x002F, 0xC012, 0xC008, 0x0016, 0x000A,
        ],
        groups: OPENSSL102_GROUPS,
        sigalgs: &[
            0x0601, 0x0602, 0x0603, 0x0501, 0x0502, 0x0503, 0x0401, 0x0402, 0x0403, 0x0301, 0x0302,
            0x0303, 0x0201, 0x0202, 0x0203,
        ],
    },
    Client {
        name: "IE 8 / Windows XP",
        modern: false,
        versions: (Version::Ssl3, Version::Tls10),
        tls13: &[],
        legacy: &cipher_suites![
            0x0004, 0x0005, 0x000A, 0x0009, 0x0064, 0x0062, 0x0003, 0x0006, 0x0013, 0x0012, 0x0063,
        ],
        groups: &[],
        sigalgs: &[],
    },
];

/// What one client would negotiate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The client.
    pub client: &'static str,
    /// A current client.
    pub modern: bool,
    /// None: the handshake fails ([`Handshake::failure`] says why).
    pub negotiated: Option<(Version, CipherSuite)>,
    /// Why the handshake fails ("no cipher suite in common").
    pub failure: Option<String>,
}

/// Reports show names: `{"client", "modern", "protocol": "TLS 1.3", "suite": "TLS_AES_…",
/// "failure"}`, protocol and suite null when the handshake fails, failure null when it works.
impl Serialize for Handshake {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let suite = self.suite();
        let mut out = serializer.serialize_struct("Handshake", 5)?;
        out.serialize_field("client", self.client)?;
        out.serialize_field("modern", &self.modern)?;
        out.serialize_field("protocol", &suite.map(|(v, _)| v.name()))?;
        out.serialize_field("suite", &suite.map(|(_, s)| s.name))?;
        out.serialize_field("failure", &self.failure)?;
        out.end()
    }
}

impl Handshake {
    /// The negotiated suite's properties.
    pub fn suite(&self) -> Option<(Version, &'static suites::Suite)> {
        let (version, id) = self.negotiated?;
        suites::by_id(id).map(|s| (version, s))
    }
}

/// Simulates every reference client against a server that accepts `accepted` (per version, in
/// the order the server picked them) and decides the order itself for `server_ordered`; its key
/// and groups unknown.
pub fn simulate(accepted: &[(Version, CipherSuite)], server_ordered: &[Version]) -> Vec<Handshake> {
    simulate_with(accepted, server_ordered, &ServerOffer::default())
}

/// [`simulate`], knowing the server's key and groups.
pub fn simulate_with(
    accepted: &[(Version, CipherSuite)],
    server_ordered: &[Version],
    offer: &ServerOffer,
) -> Vec<Handshake> {
    CLIENTS
        .iter()
        .map(|client| {
            let result = negotiate(client, accepted, server_ordered, offer);
            Handshake {
                client: client.name,
                modern: client.modern,
                negotiated: result.as_ref().ok().copied(),
                failure: result.err(),
            }
        })
        .collect()
}

fn negotiate(
    client: &Client,
    accepted: &[(Version, CipherSuite)],
    server_ordered: &[Version],
    offer: &ServerOffer,
) -> Result<(Version, CipherSuite), String> {
    // The server answers with the highest version both speak, then picks a suite or fails.
    let (low, high) = client.versions;
    let version = accepted
        .iter()
        .map(|(v, _)| *v)
        .filter(|v| (low..=high).contains(v))
        .max()
        .ok_or("no protocol version in common")?;
    let server: Vec<CipherSuite> = accepted
        .iter()
        .filter(|(v, _)| *v == version)
        .map(|(_, id)| *id)
        .collect();
    let offered = match version {
        Version::Tls13 => client.tls13,
        _ => client.legacy,
    };
    let common: Vec<CipherSuite> = match server_ordered.contains(&version) {
        true => server
            .iter()
            .filter(|id| offered.contains(id))
            .copied()
            .collect(),
        false => offered
            .iter()
            .filter(|id| server.contains(id))
            .copied()
            .collect(),
    };
    let first = *common.first().ok_or("no cipher suite in common")?;
    if version == Version::Tls13 {
        // Group, suite and signature are independent in TLS 1.3: any miss fails.
        no_common_group(client, offer, false).map_or(Ok(()), Err)?;
        return match offer.key {
            Some(key)
                if !key
                    .tls13_schemes()
                    .iter()
                    .any(|s| client.sigalgs.contains(s)) =>
            {
                Err(format!(
                    "cannot verify the server's {} key in TLS 1.3 (no signature scheme for it)",
                    key.name()
                ))
            }
            _ => Ok((version, first)),
        };
    }
    // TLS 1.2 and older: the server skips the suites this client cannot complete.
    let mut first_failure = None;
    for id in common {
        match unusable(client, version, id, offer) {
            None => return Ok((version, id)),
            Some(why) => {
                first_failure.get_or_insert(why);
            }
        }
    }
    Err(first_failure.unwrap_or_else(|| "no cipher suite in common".into()))
}

/// Why `client` cannot complete suite `id` at `version` (≤ TLS 1.2) with this server, if it
/// cannot.
fn unusable(
    client: &Client,
    version: Version,
    id: CipherSuite,
    offer: &ServerOffer,
) -> Option<String> {
    let name = suites::by_id(id).map_or("", |s| s.name);
    if name.contains("_ECDHE_")
        && let Some(why) = no_common_group(client, offer, true)
    {
        return Some(why);
    }
    let tls12 = version == Version::Tls12;
    let scheme = |f: &dyn Fn(u16) -> bool| client.sigalgs.iter().any(|s| f(*s));
    let key = offer.key?;
    let cannot = |why: &str| {
        Some(format!(
            "cannot verify the server's {} key ({why})",
            key.name()
        ))
    };
    // Only the suites this certificate serves are judged by its key.
    if name.contains("_ECDSA_") {
        return match key {
            ServerKey::Ecdsa(curve) if !client.groups.contains(&curve) => {
                cannot(&format!("{} not among its groups", wire::group_name(curve)))
            }
            // Without signature_algorithms, ECDSA with SHA-1 is assumed (RFC 5246 7.4.1.4.1).
            ServerKey::Ecdsa(_)
                if tls12 && !client.sigalgs.is_empty() && !scheme(&|s| s & 0xFF == 0x03) =>
            {
                cannot("no ECDSA signature scheme")
            }
            ServerKey::Ed25519 if !(tls12 && scheme(&|s| s == 0x0807)) => {
                cannot("no ed25519 signature scheme")
            }
            _ => None,
        };
    }
    match key {
        // An RSA-PSS key signs only with rsa_pss_pss_*, and cannot decrypt RSA key exchange.
        ServerKey::RsaPss
            if name.contains("_RSA_")
                && !(tls12
                    && scheme(&|s| (0x0809..=0x080B).contains(&s))
                    && !name.starts_with("TLS_RSA_")) =>
        {
            cannot("no rsa_pss_pss signature scheme")
        }
        _ => None,
    }
}

/// Why `client` shares no key exchange group with the server, if it shares none; only EC
/// groups for TLS 1.2's ECDHE (`ec_only`). A group the audit did not probe might be accepted:
/// a client offering one is not failed.
fn no_common_group(client: &Client, offer: &ServerOffer, ec_only: bool) -> Option<String> {
    let server = offer.groups.as_deref()?;
    let ec = |g: &u16| !ec_only || *g < 0x0100;
    let shared = client
        .groups
        .iter()
        .filter(|g| ec(g))
        .any(|g| server.contains(g) || !wire::GROUPS.contains(g));
    if shared {
        return None;
    }
    let accepted: Vec<String> = server
        .iter()
        .filter(|g| ec(g))
        .map(|g| wire::group_name(*g))
        .collect();
    Some(format!(
        "no key exchange group in common (the server accepts {})",
        match accepted.is_empty() {
            true => "none of its groups".to_owned(),
            false => accepted.join(", "),
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(version: Version, ids: &[u16]) -> Vec<(Version, CipherSuite)> {
        ids.iter().map(|id| (version, CipherSuite(*id))).collect()
    }

    fn of<'h>(handshakes: &'h [Handshake], client: &str) -> &'h Handshake {
        handshakes
            .iter()
            .find(|h| h.client.starts_with(client))
            .unwrap()
    }

    #[test]
    fn the_highest_common_version_wins_then_the_deciding_order() {
        // TLS 1.2 with ECDHE-GCM preferred and AES128-SHA (no FS) kept for old clients.
        let mut accepted = at(Version::Tls12, &[0xC02F, 0x002F]);
        accepted.extend(at(Version::Tls13, &[0x1302, 0x1301]));
        let server = simulate(&accepted, &[Version::Tls12, Version::Tls13]);
        assert_eq!(
            of(&server, "Chrome").negotiated,
            Some((Version::Tls13, CipherSuite(0x1302)))
        );
        assert_eq!(
            of(&server, "Android").negotiated,
            Some((Version::Tls12, CipherSuite(0xC02F)))
        );
        // IE 8 speaks TLS 1.0 at most: no common version.
        assert_eq!(of(&server, "IE 8").negotiated, None);

        let client = simulate(&accepted, &[]);
        assert_eq!(
            of(&client, "Chrome").negotiated,
            Some((Version::Tls13, CipherSuite(0x1301)))
        );
    }

    #[test]
    fn reports_name_the_protocol_and_suite() {
        let h = simulate(&at(Version::Tls13, &[0x1301]), &[]);
        let json = serde_json::to_value(of(&h, "Chrome")).unwrap();
        assert_eq!(json["protocol"], "TLS 1.3");
        assert_eq!(json["suite"], "TLS_AES_128_GCM_SHA256");
        assert!(json["failure"].is_null());
        let failed = serde_json::to_value(of(&h, "IE 8")).unwrap();
        assert!(failed["protocol"].is_null() && failed["suite"].is_null());
        assert_eq!(failed["failure"], "no protocol version in common");
    }

    #[test]
    fn a_suite_the_client_lacks_fails_the_handshake() {
        // An ECDSA-only TLS 1.2 server: IE 8 on XP has no ECDHE-ECDSA suites.
        let accepted = at(Version::Tls10, &[0xC009]);
        let h = simulate(&accepted, &[Version::Tls10]);
        assert_eq!(of(&h, "IE 8").negotiated, None);
        assert_eq!(
            of(&h, "Android").negotiated,
            Some((Version::Tls10, CipherSuite(0xC009)))
        );
        let (v, s) = of(&h, "Android").suite().unwrap();
        assert!(v == Version::Tls10 && s.forward_secrecy && !s.aead);
    }

    /// Mozilla intermediate (TLS 1.2 ECDHE-ECDSA and TLS 1.3), client order.
    fn ecdsa_server() -> Vec<(Version, CipherSuite)> {
        let mut accepted = at(Version::Tls12, &[0xC02B, 0xC02C, 0xCCA9]);
        accepted.extend(at(Version::Tls13, &[0x1301, 0x1302, 0x1303]));
        accepted
    }

    fn failing(h: &[Handshake]) -> Vec<&'static str> {
        h.iter()
            .filter(|h| h.negotiated.is_none())
            .map(|h| h.client)
            .collect()
    }

    #[test]
    fn a_p521_key_fails_the_clients_without_its_curve_or_scheme() {
        let offer = ServerOffer {
            key: Some(ServerKey::Ecdsa(0x0019)),
            groups: Some(vec![0x001D, 0x0017, 0x0018, 0x0019]),
        };
        let h = simulate_with(&ecdsa_server(), &[], &offer);
        assert_eq!(
            failing(&h),
            [
                "Chrome 120 / Windows 10",
                "Safari 17 / macOS 14",
                "Android 7.0",
                "IE 11 / Windows 7",
                "IE 8 / Windows XP"
            ]
        );
        let chrome = of(&h, "Chrome").failure.clone().unwrap();
        assert_eq!(
            chrome,
            "cannot verify the server's ECDSA secp521r1 key in TLS 1.3 (no signature scheme for it)"
        );
        let android = of(&h, "Android").failure.clone().unwrap();
        assert!(
            android.contains("secp521r1 not among its groups"),
            "{android}"
        );
        assert_eq!(
            of(&h, "Firefox").negotiated,
            Some((Version::Tls13, CipherSuite(0x1301)))
        );
        assert_eq!(
            of(&h, "Java 8u31").negotiated,
            Some((Version::Tls12, CipherSuite(0xC02C)))
        );
        // P-256: everyone but IE 8 (no ECDSA suites at all).
        let p256 = ServerOffer {
            key: Some(ServerKey::Ecdsa(0x0017)),
            ..offer
        };
        let h = simulate_with(&ecdsa_server(), &[], &p256);
        assert_eq!(failing(&h), ["IE 8 / Windows XP"]);
        assert_eq!(
            of(&h, "IE 8").failure.as_deref(),
            Some("no protocol version in common")
        );
    }

    #[test]
    fn an_rsa_pss_key_needs_the_pss_schemes() {
        let mut accepted = at(Version::Tls12, &[0xC02F, 0xC030, 0x009C]);
        accepted.extend(at(Version::Tls13, &[0x1301, 0x1302]));
        let offer = ServerOffer {
            key: Some(ServerKey::RsaPss),
            groups: None,
        };
        let h = simulate_with(&accepted, &[Version::Tls12, Version::Tls13], &offer);
        let working: Vec<&str> = h
            .iter()
            .filter(|h| h.negotiated.is_some())
            .map(|h| h.client)
            .collect();
        assert_eq!(working, ["Java 11"]);
        let ie = of(&h, "IE 11").failure.clone().unwrap();
        assert_eq!(
            ie,
            "cannot verify the server's RSA-PSS key (no rsa_pss_pss signature scheme)"
        );
        // The same suites with an ordinary RSA key: everyone with TLS 1.2.
        let rsa = ServerOffer {
            key: Some(ServerKey::Rsa),
            groups: None,
        };
        let h = simulate_with(&accepted, &[Version::Tls12, Version::Tls13], &rsa);
        assert_eq!(failing(&h), ["IE 8 / Windows XP"]);
    }

    #[test]
    fn no_shared_group_fails_and_tls12_falls_back_to_a_suite_without_ecdhe() {
        // TLS 1.3 with ffdhe2048 only: the browsers without ffdhe fail.
        let offer = ServerOffer {
            key: Some(ServerKey::Rsa),
            groups: Some(vec![0x0100]),
        };
        let h = simulate_with(&at(Version::Tls13, &[0x1301]), &[], &offer);
        let chrome = of(&h, "Chrome").failure.clone().unwrap();
        assert_eq!(
            chrome,
            "no key exchange group in common (the server accepts ffdhe2048)"
        );
        assert!(of(&h, "Firefox").negotiated.is_some());
        // TLS 1.2 with ECDHE on x448 only, DHE kept as well: IE 11 gets DHE instead, and
        // Chrome, which offers no DHE, fails on the group.
        let offer = ServerOffer {
            key: Some(ServerKey::Rsa),
            groups: Some(vec![0x001E]),
        };
        let h = simulate_with(
            &at(Version::Tls12, &[0xC02F, 0x009E]),
            &[Version::Tls12],
            &offer,
        );
        assert_eq!(
            of(&h, "IE 11").negotiated,
            Some((Version::Tls12, CipherSuite(0x009E)))
        );
        assert!(of(&h, "Chrome").failure.as_ref().unwrap().contains("x448"));
        // Java 8 offers curves the audit does not probe: it is not failed for the group.
        assert_eq!(
            of(&h, "Java 8u31").negotiated,
            Some((Version::Tls12, CipherSuite(0xC02F)))
        );
    }

    #[test]
    fn failing_clients_do_not_change_the_grade() {
        let inputs = super::super::grade::Inputs {
            protocols: vec![Version::Tls12, Version::Tls13],
            suites: ecdsa_server(),
            key: Some((super::super::grade::KeyKind::Ec, 521)),
            trusted: true,
            name_matches: true,
            secure_renegotiation: true,
            hsts_max_age: Some(63_072_000),
            ..Default::default()
        };
        let offer = ServerOffer {
            key: Some(ServerKey::Ecdsa(0x0019)),
            groups: None,
        };
        let h = simulate_with(&inputs.suites, &[], &offer);
        assert!(!failing(&h).is_empty());
        assert_eq!(super::super::grade::grade_with(&inputs, &h).grade, "A+");
    }
}
