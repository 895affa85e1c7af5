//! The cipher suite table (cipher-suites.txt: IANA values and names) and what each name says:
//! key exchange, forward secrecy, cipher, strength, AEAD. Pure.

use std::sync::OnceLock;

use serde::Serialize;

use super::wire::enums::CipherSuite;

/// One cipher suite and its properties, read from its IANA name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Suite {
    /// The wire value.
    pub id: CipherSuite,
    /// The IANA name (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256).
    pub name: &'static str,
    /// A TLS 1.3 suite (negotiated only in TLS 1.3).
    pub tls13: bool,
    /// Ephemeral key exchange (DHE, ECDHE, or TLS 1.3): forward secrecy.
    pub forward_secrecy: bool,
    /// Finite-field Diffie-Hellman key exchange (the DH group size matters: LOGJAM).
    pub dhe: bool,
    /// No authentication at all (anon).
    pub anonymous: bool,
    /// An export suite (FREAK, LOGJAM).
    pub export: bool,
    /// Pre-shared key or SRP or Kerberos: not for a public web server.
    pub special: bool,
    /// Effective cipher strength in bits (3DES counts 112, as SSL Labs does; NULL is 0).
    pub bits: u16,
    /// Authenticated encryption (GCM, CCM, ChaCha20-Poly1305).
    pub aead: bool,
    /// CBC mode (BEAST with TLS 1.0, Lucky13).
    pub cbc: bool,
    /// RC4.
    pub rc4: bool,
    /// A 64-bit block cipher (3DES, IDEA, DES, RC2: SWEET32).
    pub block64: bool,
}

static TABLE: OnceLock<Vec<Suite>> = OnceLock::new();

/// Every suite certctl knows, in table order.
pub fn all() -> &'static [Suite] {
    TABLE.get_or_init(|| {
        include_str!("cipher-suites.txt")
            .lines()
            .filter(|l| l.starts_with("0x"))
            .filter_map(|l| {
                let (hex, name) = l.split_once(' ')?;
                let id = u16::from_str_radix(hex.trim_start_matches("0x"), 16).ok()?;
                Some(describe(CipherSuite(id), name.trim()))
            })
            .collect()
    })
}

/// The suite with this value, if known.
pub fn by_id(id: CipherSuite) -> Option<&'static Suite> {
    all().iter().find(|s| s.id == id)
}

/// What an IANA name says about a suite.
fn describe(id: CipherSuite, name: &'static str) -> Suite {
    let bare = name.trim_start_matches("OLD_").trim_start_matches("TLS_");
    let (kex, cipher) = match bare.split_once("_WITH_") {
        Some((kex, cipher)) => (kex, cipher),
        None => ("", bare), // TLS 1.3 and SM4 names carry no key exchange
    };
    let tls13 = kex.is_empty();
    let has = |s: &str| cipher.contains(s);
    let bits = if cipher.starts_with("NULL") {
        0
    } else if has("_40") || has("DES40") {
        40
    } else if has("RC4_56") || (has("DES_CBC") && !has("3DES")) {
        56
    } else if has("3DES") {
        112
    } else if has("_256") || has("CHACHA20") {
        256
    } else {
        128
    };
    Suite {
        id,
        name,
        tls13,
        forward_secrecy: tls13
            || kex.starts_with("DHE")
            || kex.starts_with("ECDHE")
            || kex == "PSK_DHE",
        dhe: kex.starts_with("DHE") && !kex.contains("PSK"),
        anonymous: kex.contains("anon") || kex == "NULL",
        export: kex.contains("EXPORT") || cipher.contains("EXPORT"),
        special: ["PSK", "SRP", "KRB5"].iter().any(|k| kex.contains(k)),
        bits,
        aead: has("GCM") || has("CCM") || has("POLY1305"),
        cbc: has("_CBC"),
        rc4: has("RC4"),
        block64: has("3DES") || has("IDEA") || has("DES") || has("RC2"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_complete_and_unique() {
        let all = all();
        assert!(all.len() > 330, "{}", all.len());
        let mut ids: Vec<CipherSuite> = all.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "no value twice");
    }

    #[test]
    fn names_say_what_a_suite_is() {
        let s = by_id(CipherSuite(0xC02F)).unwrap();
        assert_eq!(s.name, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert!(s.forward_secrecy && s.aead && !s.cbc && !s.dhe);
        assert_eq!(s.bits, 128);
        let s = by_id(CipherSuite(0x1302)).unwrap();
        assert!(s.tls13 && s.forward_secrecy && s.aead);
        assert_eq!(s.bits, 256);
        let s = by_id(CipherSuite(0x000A)).unwrap();
        assert!(s.block64 && s.cbc && !s.forward_secrecy);
        assert_eq!(s.bits, 112);
        let s = by_id(CipherSuite(0x0003)).unwrap();
        assert!(s.export && s.rc4);
        assert_eq!(s.bits, 40);
        let s = by_id(CipherSuite(0x0018)).unwrap();
        assert!(s.anonymous && s.rc4);
        assert_eq!(by_id(CipherSuite(0x0002)).unwrap().bits, 0);
        assert_eq!(by_id(CipherSuite(0x0009)).unwrap().bits, 56);
        let s = by_id(CipherSuite(0x009E)).unwrap();
        assert!(s.dhe && s.forward_secrecy && s.aead);
        let s = by_id(CipherSuite(0xCCA9)).unwrap();
        assert!(s.aead && s.forward_secrecy);
        assert_eq!(s.bits, 256);
        assert!(by_id(CipherSuite(0x008C)).unwrap().special);
        assert!(by_id(CipherSuite(0xFFFF)).is_none());
    }
}
