//! Client simulation: which protocol and suite each reference client would end up with, given
//! what the server accepts and whose order decides. SSL Labs judges forward secrecy and RC4 by
//! what browsers negotiate, not by what a server merely accepts: a server that prefers ECDHE-GCM
//! but still takes AES128-SHA for old clients is not capped. Pure.
//!
//! The clients are SSL Labs' handshake simulation list (its names; `modern` marks its reference
//! clients, "R"), the nearest captured release where its own ClientHello is not at hand, and
//! today's browsers and platforms ([`clients`], read from clients.txt). The suite, group and
//! signature-scheme lists are the clients' ClientHello offers (IANA values, in the client's
//! order, GREASE and signalling values left out), read from the ClientHellos SSL Labs publishes
//! (the testssl.sh project keeps them with ones captured since). A client also fails when it shares no
//! key exchange group with the server, or cannot verify the server's key: an ECDSA key on a curve
//! it lacks (in TLS 1.2 the curve must be in its supported groups, in TLS 1.3 the curve's own
//! signature scheme must be offered), an RSA-PSS or Ed25519 key without their schemes. As with a
//! real server, a TLS 1.2 suite the client cannot use is skipped for the next; TLS 1.3 has no next.

use std::sync::OnceLock;

use serde::Serialize;

use super::suites;
use super::wire::{self, CipherSuite, Version};

/// A reference client (a line of clients.txt).
#[derive(Debug)]
pub struct Client {
    /// "Chrome 70 / Win 10".
    pub name: &'static str,
    /// A reference client (SSL Labs' "R") or a current release: forward secrecy is judged on
    /// these.
    pub modern: bool,
    /// Oldest and newest protocol it speaks.
    pub versions: (Version, Version),
    /// TLS 1.3 suites, in its order.
    pub tls13: Vec<CipherSuite>,
    /// SSL 3.0 to TLS 1.2 suites, in its order.
    pub legacy: Vec<CipherSuite>,
    /// supported_groups (named groups, RFC 8446 / RFC 8422), in its order; empty: no EC at all.
    pub groups: Vec<u16>,
    /// signature_algorithms (SignatureScheme values); empty: none sent (TLS 1.1 and older).
    pub sigalgs: Vec<u16>,
}

static CLIENTS: OnceLock<Vec<Client>> = OnceLock::new();

/// The reference clients, in clients.txt's order: SSL Labs' handshake simulation list, the
/// nearest captured release for those of its clients whose ClientHello is not at hand, then
/// today's browsers and platforms.
pub fn clients() -> &'static [Client] {
    CLIENTS.get_or_init(|| {
        include_str!("clients.txt")
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| client(l).unwrap_or_else(|| panic!("clients.txt: cannot read {l:?}")))
            .collect()
    })
}

/// One line of clients.txt: `NAME | R or - | LOW-HIGH | TLS 1.3 suites | older suites | groups
/// | signature schemes`, values in hex.
fn client(line: &'static str) -> Option<Client> {
    let fields: Vec<&'static str> = line.split('|').map(str::trim).collect();
    let [name, modern, versions, tls13, legacy, groups, sigalgs] = fields.as_slice() else {
        return None;
    };
    let hex = |field: &str| -> Option<Vec<u16>> {
        field
            .split_whitespace()
            .map(|h| u16::from_str_radix(h, 16).ok())
            .collect()
    };
    let suites = |field: &str| Some(hex(field)?.into_iter().map(CipherSuite).collect());
    let (low, high) = versions.split_once('-')?;
    let version = |v: &str| Version::from_wire(u16::from_str_radix(v, 16).ok()?);
    Some(Client {
        name,
        modern: match *modern {
            "R" => true,
            "-" => false,
            _ => return None,
        },
        versions: (version(low)?, version(high)?),
        tls13: suites(tls13)?,
        legacy: suites(legacy)?,
        groups: hex(groups)?,
        sigalgs: hex(sigalgs)?,
    })
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
    /// The groups accepted, of those probed ([`wire::PROBED_GROUPS`]).
    pub groups: Option<Vec<u16>>,
}

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
    /// The suite negotiated has no forward secrecy although the client shares a usable
    /// forward-secret one with the server (the server's order passed it over): SSL Labs' "clients
    /// that can do better".
    pub forward_secrecy_passed_over: bool,
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
    clients()
        .iter()
        .map(|client| {
            let result = negotiate(client, accepted, server_ordered, offer);
            let passed_over = result
                .as_ref()
                .is_ok_and(|(v, id)| passes_over_fs(client, accepted, *v, *id, offer));
            Handshake {
                client: client.name,
                modern: client.modern,
                negotiated: result.as_ref().ok().copied(),
                failure: result.err(),
                forward_secrecy_passed_over: passed_over,
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
        Version::Tls13 => &client.tls13,
        _ => &client.legacy,
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

/// Whether `client`, given `id` at `version`, a suite without forward secrecy, could have
/// completed a forward-secret suite the server accepts at that version.
fn passes_over_fs(
    client: &Client,
    accepted: &[(Version, CipherSuite)],
    version: Version,
    id: CipherSuite,
    offer: &ServerOffer,
) -> bool {
    let fs = |id: CipherSuite| suites::by_id(id).is_some_and(|s| s.forward_secrecy);
    !fs(id)
        && accepted.iter().any(|&(v, other)| {
            v == version
                && fs(other)
                && client.legacy.contains(&other)
                && unusable(client, version, other, offer).is_none()
        })
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
        .any(|g| server.contains(g) || !wire::PROBED_GROUPS.contains(g));
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
        handshakes.iter().find(|h| h.client == client).unwrap()
    }

    fn negotiated(h: &Handshake) -> Option<(&'static str, &'static str)> {
        h.suite().map(|(v, s)| (v.name(), s.name))
    }

    /// SSL Labs' published handshake simulation of a real server (TLS 1.3 in the order 1301,
    /// 1303, 1302; TLS 1.2 ECDHE-RSA in the order AES-256-GCM, ChaCha20, AES-128-GCM; RSA 2048),
    /// client by client, for every client whose ClientHello is SSL Labs' own.
    #[test]
    fn agrees_with_ssl_labs_published_simulation() {
        let mut accepted = at(Version::Tls12, &[0xC030, 0xCCA8, 0xC02F]);
        accepted.extend(at(Version::Tls13, &[0x1301, 0x1303, 0x1302]));
        let offer = ServerOffer {
            key: Some(ServerKey::Rsa),
            groups: None,
        };
        let h = simulate_with(&accepted, &[Version::Tls12, Version::Tls13], &offer);
        let tls12 = |suite| Some(("TLS 1.2", suite));
        let gcm256 = tls12("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
        let gcm128 = tls12("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        let chacha = tls12("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");
        let tls13 = Some(("TLS 1.3", "TLS_AES_128_GCM_SHA256"));
        for (client, expected) in [
            ("Android 4.4.2", gcm256),
            ("Android 5.0.0", gcm128),
            ("Android 6.0", gcm128),
            ("BingPreview Jan 2015", gcm256),
            ("Chrome 49 / XP SP3", chacha),
            ("Chrome 70 / Win 10", tls13),
            ("Firefox 31.3.0 ESR / Win 7", gcm128),
            ("Firefox 47 / Win 7", chacha),
            ("Firefox 49 / XP SP3", gcm256),
            ("Firefox 62 / Win 7", gcm256),
            ("Googlebot Feb 2018", gcm256),
            ("IE 11 / Win 10", gcm256),
            ("Edge 15 / Win 10", gcm256),
            ("Edge 13 / Win Phone 10", gcm256),
            ("Java 8u161", gcm256),
            ("OpenSSL 1.0.1l", gcm256),
            ("Safari 9 / iOS 9", gcm256),
            ("Safari 9 / OS X 10.11", gcm256),
            ("Safari 10 / iOS 10", gcm256),
            ("Safari 10 / OS X 10.12", gcm256),
            ("Apple ATS 9 / iOS 9", gcm256),
            ("Yahoo Slurp Jan 2015", gcm256),
            ("YandexBot Jan 2015", gcm256),
        ] {
            assert_eq!(negotiated(of(&h, client)), expected, "{client}");
        }
        // Its failures: IE 11 before Windows 10 and Safari before 9 have no ECDHE-RSA with GCM.
        for client in [
            "IE 11 / Win 7",
            "IE 11 / Win 8.1",
            "IE 11 / Win Phone 8.1",
            "IE 11 / Win Phone 8.1 Update",
            "Safari 6 / iOS 6.0.1",
            "Safari 7 / iOS 7.1",
            "Safari 7 / OS X 10.9",
            "Safari 8 / iOS 8.4",
            "Safari 8 / OS X 10.10",
        ] {
            assert_eq!(
                of(&h, client).failure.as_deref(),
                Some("no cipher suite in common"),
                "{client}"
            );
        }
        // And the clients it lists as not simulated (protocol mismatch).
        for client in [
            "Android 2.3.7",
            "Android 4.0.4",
            "Android 4.1.1",
            "Android 4.2.2",
            "Android 4.3",
            "Baidu Jan 2015",
            "IE 6 / XP",
            "IE 7 / Vista",
            "IE 8 / XP",
            "IE 8-10 / Win 7",
            "IE 10 / Win Phone 8.0",
            "Java 6u45",
            "Java 7u25",
            "OpenSSL 0.9.8y",
            "Safari 5.1.9 / OS X 10.6.8",
            "Safari 6.0.4 / OS X 10.8.4",
        ] {
            assert_eq!(
                of(&h, client).failure.as_deref(),
                Some("no protocol version in common"),
                "{client}"
            );
        }
    }

    #[test]
    fn a_suite_without_forward_secrecy_counts_when_the_client_could_do_better() {
        let offer = ServerOffer {
            key: Some(ServerKey::Rsa),
            groups: None,
        };
        let passed_over = |h: &[Handshake]| -> Vec<&'static str> {
            h.iter()
                .filter(|h| h.forward_secrecy_passed_over)
                .map(|h| h.client)
                .collect()
        };
        // ECDHE-RSA-GCM first, AES128-SHA last: IE 11 on Windows 7 has no ECDHE-RSA-GCM and
        // gets AES128-SHA, but it could do no better with this server.
        let kept_last = at(Version::Tls12, &[0xC02F, 0x002F]);
        let h = simulate_with(&kept_last, &[Version::Tls12], &offer);
        assert_eq!(
            negotiated(of(&h, "IE 11 / Win 7")),
            Some(("TLS 1.2", "TLS_RSA_WITH_AES_128_CBC_SHA"))
        );
        assert!(passed_over(&h).is_empty(), "{:?}", passed_over(&h));
        // AES128-SHA first: every client that has ECDHE-RSA-GCM is passed over.
        let preferred = at(Version::Tls12, &[0x002F, 0xC02F]);
        let h = simulate_with(&preferred, &[Version::Tls12], &offer);
        let over = passed_over(&h);
        assert!(over.contains(&"Chromium 137 / Win 11"), "{over:?}");
        assert!(!over.contains(&"IE 11 / Win 7"), "{over:?}");
        // In the clients' own order only Java 8, which lists its CBC suites before GCM, takes
        // AES128-SHA (no reference client, so no cap: see grade.rs).
        let h = simulate_with(&preferred, &[], &offer);
        assert_eq!(passed_over(&h), ["Java 8u161", "Java 8u31"]);
        assert!(
            h.iter()
                .all(|h| !(h.modern && h.forward_secrecy_passed_over))
        );
    }

    #[test]
    fn the_list_is_ssl_labs_then_the_nearest_releases_then_todays_clients() {
        let names: Vec<&str> = clients().iter().map(|c| c.name).collect();
        assert_eq!(names.first(), Some(&"Android 2.3.7"));
        assert!(
            names.contains(&"Chromium 137 / Win 11") && names.contains(&"Safari 26.4 / macOS 26.4")
        );
        // Every line of clients.txt reads (clients() would panic); a bad one does not.
        assert_eq!(names.len(), 71);
        assert!(client("Nobody | maybe | 0303-0303 |  |  |  | ").is_none());
        assert!(client("Nobody | - | 0303-0305 |  |  |  | ").is_none());
        assert!(client("Nobody | - | 0303-0303 |  | C02F |").is_none());
        assert!(client("Nobody | - | 0303-0303 |  | C0ZZ |  | ").is_none());
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "one entry per client");
        for c in clients() {
            let (low, high) = c.versions;
            assert!(low <= high, "{}", c.name);
            // TLS 1.3 suites exactly when TLS 1.3 is spoken; no signalling values as suites.
            assert_eq!(c.tls13.is_empty(), high < Version::Tls13, "{}", c.name);
            assert!(
                !c.legacy.contains(&CipherSuite::TLS_FALLBACK_SCSV),
                "{}",
                c.name
            );
            assert!(!c.legacy.iter().any(|s| s.0 == 0x00FF), "{}", c.name);
        }
    }

    #[test]
    fn the_highest_common_version_wins_then_the_deciding_order() {
        // TLS 1.2 with ECDHE-GCM preferred and AES128-SHA (no FS) kept for old clients.
        let mut accepted = at(Version::Tls12, &[0xC02F, 0x002F]);
        accepted.extend(at(Version::Tls13, &[0x1302, 0x1301]));
        let server = simulate(&accepted, &[Version::Tls12, Version::Tls13]);
        assert_eq!(
            of(&server, "Chromium 137 / Win 11").negotiated,
            Some((Version::Tls13, CipherSuite(0x1302)))
        );
        assert_eq!(
            of(&server, "Android 7.0").negotiated,
            Some((Version::Tls12, CipherSuite(0xC02F)))
        );
        // IE 8 speaks TLS 1.0 at most: no common version.
        assert_eq!(of(&server, "IE 8 / XP").negotiated, None);

        let client = simulate(&accepted, &[]);
        assert_eq!(
            of(&client, "Chromium 137 / Win 11").negotiated,
            Some((Version::Tls13, CipherSuite(0x1301)))
        );
    }

    #[test]
    fn reports_name_the_protocol_and_suite() {
        let h = simulate(&at(Version::Tls13, &[0x1301]), &[]);
        let json = serde_json::to_value(of(&h, "Chromium 137 / Win 11")).unwrap();
        assert_eq!(json["protocol"], "TLS 1.3");
        assert_eq!(json["suite"], "TLS_AES_128_GCM_SHA256");
        assert!(json["failure"].is_null());
        let failed = serde_json::to_value(of(&h, "IE 8 / XP")).unwrap();
        assert!(failed["protocol"].is_null() && failed["suite"].is_null());
        assert_eq!(failed["failure"], "no protocol version in common");
    }

    #[test]
    fn a_suite_the_client_lacks_fails_the_handshake() {
        // An ECDSA-only TLS 1.0 server: IE 8 on XP has no ECDHE-ECDSA suites, nor has Chrome 49
        // on XP (XP has no ECDSA).
        let accepted = at(Version::Tls10, &[0xC009]);
        let h = simulate(&accepted, &[Version::Tls10]);
        assert_eq!(of(&h, "IE 8 / XP").negotiated, None);
        assert_eq!(
            of(&h, "Chrome 49 / XP SP3").failure.as_deref(),
            Some("no cipher suite in common")
        );
        assert_eq!(
            of(&h, "Android 4.4.2").negotiated,
            Some((Version::Tls10, CipherSuite(0xC009)))
        );
        let (v, s) = of(&h, "Android 4.4.2").suite().unwrap();
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

    /// `client` fails, and its reason says `why`.
    fn fails_for(h: &[Handshake], client: &str, why: &str) {
        let failure = of(h, client).failure.clone().unwrap_or_default();
        assert!(failure.contains(why), "{client}: {failure:?}, not {why:?}");
    }

    #[test]
    fn a_p521_key_fails_the_clients_without_its_curve_or_scheme() {
        let offer = ServerOffer {
            key: Some(ServerKey::Ecdsa(0x0019)),
            groups: Some(vec![0x001D, 0x0017, 0x0018, 0x0019]),
        };
        let h = simulate_with(&ecdsa_server(), &[], &offer);
        // TLS 1.3: no ecdsa_secp521r1_sha512 among their signature schemes.
        for client in [
            "Chrome 70 / Win 10",
            "Chrome 79 / Win 10",
            "Chromium 137 / Win 11",
            "Edge 133 / Win 11",
            "Safari 13.0 / macOS 10.14.6",
            "Safari 26.4 / macOS 26.4",
            "Android 9.0",
            "Android 15",
        ] {
            fails_for(
                &h,
                client,
                "cannot verify the server's ECDSA secp521r1 key in TLS 1.3 (no signature scheme for it)",
            );
        }
        // TLS 1.2: secp521r1 not among their supported groups.
        for client in [
            "IE 11 / Win 7",
            "IE 11 / Win 10",
            "Edge 15 / Win 10",
            "Edge 17 / Win 10",
            "Android 6.0",
            "Android 7.0",
            "Android 8.1",
            "Googlebot Feb 2018",
        ] {
            fails_for(&h, client, "secp521r1 not among its groups");
        }
        for (client, version) in [
            ("Firefox 137 / Win 11", Version::Tls13),
            ("Java 21.0.6", Version::Tls13),
            ("OpenSSL 3.0.15", Version::Tls13),
            ("Safari 10 / OS X 10.12", Version::Tls12),
            ("Java 8u161", Version::Tls12),
            ("Android 4.4.2", Version::Tls12),
        ] {
            let got = of(&h, client).negotiated.map(|(v, _)| v);
            assert_eq!(got, Some(version), "{client}");
        }
        // P-256: every client with ECDSA and TLS 1.0 or newer.
        let p256 = ServerOffer {
            key: Some(ServerKey::Ecdsa(0x0017)),
            ..offer
        };
        let h = simulate_with(&ecdsa_server(), &[], &p256);
        for failed in h.iter().filter(|h| h.negotiated.is_none()) {
            let why = failed.failure.as_deref().unwrap();
            assert!(
                ["no protocol version in common", "no cipher suite in common"].contains(&why),
                "{}: {why}",
                failed.client
            );
        }
        assert!(of(&h, "Chromium 137 / Win 11").negotiated.is_some());
    }

    #[test]
    fn a_p521_only_server_fails_first_on_the_group() {
        // nginx with a P-521 key and `ssl_ecdh_curve secp521r1`.
        let offer = ServerOffer {
            key: Some(ServerKey::Ecdsa(0x0019)),
            groups: Some(vec![0x0019]),
        };
        let h = simulate_with(&ecdsa_server(), &[], &offer);
        let no_group = "no key exchange group in common (the server accepts secp521r1)";
        for client in [
            "Chromium 137 / Win 11",
            "Chrome 79 / Win 10",
            "Android 15",
            "IE 11 / Win 10",
            "Edge 17 / Win 10",
        ] {
            fails_for(&h, client, no_group);
        }
        // Safari offers secp521r1 but cannot verify a P-521 signature in TLS 1.3.
        fails_for(&h, "Safari 26.4 / macOS 26.4", "no signature scheme for it");
        for client in ["Firefox 137 / Win 11", "Java 21.0.6", "OpenSSL 3.5.0"] {
            let got = of(&h, client).negotiated.map(|(v, _)| v);
            assert_eq!(got, Some(Version::Tls13), "{client}");
        }
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
        // Only the clients offering rsa_pss_pss_* (Java 11 and later, OpenSSL 1.1.1 and later).
        assert_eq!(
            working,
            [
                "Java 11.0.2",
                "Java 12.0.1",
                "OpenSSL 1.1.1d",
                "Java 21.0.6",
                "OpenSSL 3.0.15",
                "OpenSSL 3.5.0"
            ]
        );
        fails_for(
            &h,
            "IE 11 / Win 7",
            "cannot verify the server's RSA-PSS key (no rsa_pss_pss signature scheme)",
        );
        fails_for(
            &h,
            "Chromium 137 / Win 11",
            "cannot verify the server's RSA-PSS key in TLS 1.3 (no signature scheme for it)",
        );
        // The same suites with an ordinary RSA key: everyone with TLS 1.2 and the suites.
        let rsa = ServerOffer {
            key: Some(ServerKey::Rsa),
            groups: None,
        };
        let h = simulate_with(&accepted, &[Version::Tls12, Version::Tls13], &rsa);
        assert!(of(&h, "IE 11 / Win 10").negotiated.is_some());
        assert!(h.iter().all(|h| {
            h.failure
                .as_deref()
                .is_none_or(|f| !f.contains("cannot verify"))
        }),);
    }

    #[test]
    fn no_shared_group_fails_and_tls12_falls_back_to_a_suite_without_ecdhe() {
        // TLS 1.3 with ffdhe2048 only: the browsers without ffdhe fail.
        let offer = ServerOffer {
            key: Some(ServerKey::Rsa),
            groups: Some(vec![0x0100]),
        };
        let h = simulate_with(&at(Version::Tls13, &[0x1301]), &[], &offer);
        fails_for(
            &h,
            "Chromium 137 / Win 11",
            "no key exchange group in common (the server accepts ffdhe2048)",
        );
        assert!(of(&h, "Firefox 137 / Win 11").negotiated.is_some());
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
            of(&h, "IE 11 / Win 7").negotiated,
            Some((Version::Tls12, CipherSuite(0x009E)))
        );
        fails_for(&h, "Chromium 137 / Win 11", "x448");
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
