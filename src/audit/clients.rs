//! Client simulation: which protocol and suite each reference client would end up with, given
//! what the server accepts and whose order decides. SSL Labs judges forward secrecy and RC4 by
//! what browsers negotiate, not by what a server merely accepts: a server that prefers ECDHE-GCM
//! but still takes AES128-SHA for old clients is not capped. Pure.
//!
//! The suite lists are the clients' ClientHello offers (IANA values, in the client's order), from
//! their published handshakes; groups and signature algorithms are not modelled.

use serde::Serialize;

use super::suites;
use super::wire::enums::cipher_suites;
use super::wire::{CipherSuite, Version};

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
}

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
    },
    Client {
        name: "IE 8 / Windows XP",
        modern: false,
        versions: (Version::Ssl3, Version::Tls10),
        tls13: &[],
        legacy: &cipher_suites![
            0x0004, 0x0005, 0x000A, 0x0009, 0x0064, 0x0062, 0x0003, 0x0006, 0x0013, 0x0012, 0x0063,
        ],
    },
];

/// What one client would negotiate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// The client.
    pub client: &'static str,
    /// A current client.
    pub modern: bool,
    /// None: no protocol or suite in common, the handshake fails.
    pub negotiated: Option<(Version, CipherSuite)>,
}

/// Reports show names: `{"client", "modern", "protocol": "TLS 1.3", "suite": "TLS_AES_…"}`,
/// both null when the handshake fails.
impl Serialize for Handshake {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let suite = self.suite();
        let mut out = serializer.serialize_struct("Handshake", 4)?;
        out.serialize_field("client", self.client)?;
        out.serialize_field("modern", &self.modern)?;
        out.serialize_field("protocol", &suite.map(|(v, _)| v.name()))?;
        out.serialize_field("suite", &suite.map(|(_, s)| s.name))?;
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
/// the order the server picked them) and decides the order itself for `server_ordered`.
pub fn simulate(accepted: &[(Version, CipherSuite)], server_ordered: &[Version]) -> Vec<Handshake> {
    CLIENTS
        .iter()
        .map(|client| {
            let negotiated = negotiate(client, accepted, server_ordered);
            Handshake {
                client: client.name,
                modern: client.modern,
                negotiated,
            }
        })
        .collect()
}

fn negotiate(
    client: &Client,
    accepted: &[(Version, CipherSuite)],
    server_ordered: &[Version],
) -> Option<(Version, CipherSuite)> {
    // The server answers with the highest version both speak, then picks a suite or fails.
    let (low, high) = client.versions;
    let version = accepted
        .iter()
        .map(|(v, _)| *v)
        .filter(|v| (low..=high).contains(v))
        .max()?;
    let server: Vec<CipherSuite> = accepted
        .iter()
        .filter(|(v, _)| *v == version)
        .map(|(_, id)| *id)
        .collect();
    let offer = match version {
        Version::Tls13 => client.tls13,
        _ => client.legacy,
    };
    let suite = match server_ordered.contains(&version) {
        true => server.iter().find(|id| offer.contains(id)),
        false => offer.iter().find(|id| server.contains(id)),
    };
    suite.map(|id| (version, *id))
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
        let failed = serde_json::to_value(of(&h, "IE 8")).unwrap();
        assert!(failed["protocol"].is_null() && failed["suite"].is_null());
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
}
