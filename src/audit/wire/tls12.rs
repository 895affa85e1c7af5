//! The TLS 1.2 key schedule and MAC-then-encrypt CBC records (RFC 5246 sections 5, 6.2.3.2,
//! 7.4.9 and 8.1): the PRF, the master secret, the key block, Finished, and records sealed and
//! opened with AES-CBC and HMAC. Sealing can spoil a record on purpose ([`Flaw`]) and opening
//! says which check failed ([`Opened`]), because the padding-oracle probe asks exactly that of a
//! server. Pure (aws-lc-rs computes; the caller passes the IV). The tests' fake servers use the
//! same code from the other side.

use aws_lc_rs::cipher::{
    AES_128, AES_256, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext,
    UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::{digest, hmac};

use super::codec;
use super::enums::{CipherSuite, ContentType, HandshakeType};

/// The AES block (and explicit IV) size.
pub const BLOCK: usize = 16;

/// How the client's key exchange works for a suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kex {
    /// RSA: the client encrypts the premaster secret to the certificate's key.
    Rsa,
    /// ECDHE (RSA or ECDSA signed).
    Ecdhe,
}

/// A TLS 1.2 AES-CBC suite, as the key schedule needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CbcSuite {
    /// The suite.
    pub id: CipherSuite,
    /// Its key exchange.
    pub kex: Kex,
    /// AES key length: 16 or 32.
    pub key_len: usize,
    /// The record MAC: HMAC-SHA1, -SHA256 or -SHA384.
    pub mac: hmac::Algorithm,
    /// The PRF's hash: SHA-384 for the *_SHA384 suites, SHA-256 otherwise.
    pub prf: hmac::Algorithm,
}

impl CbcSuite {
    /// The suite, when it is an AES-CBC suite with RSA or ECDHE key exchange (what the probe
    /// can complete a handshake with).
    pub fn of(id: CipherSuite) -> Option<Self> {
        let name = super::super::suites::by_id(id)?.name;
        let kex = if name.starts_with("TLS_RSA_WITH_") {
            Kex::Rsa
        } else if name.starts_with("TLS_ECDHE_RSA_WITH_")
            || name.starts_with("TLS_ECDHE_ECDSA_WITH_")
        {
            Kex::Ecdhe
        } else {
            return None;
        };
        let key_len = if name.contains("_AES_128_CBC_") {
            16
        } else if name.contains("_AES_256_CBC_") {
            32
        } else {
            return None;
        };
        let (mac, prf) = if name.ends_with("_CBC_SHA") {
            (hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, hmac::HMAC_SHA256)
        } else if name.ends_with("_CBC_SHA256") {
            (hmac::HMAC_SHA256, hmac::HMAC_SHA256)
        } else if name.ends_with("_CBC_SHA384") {
            (hmac::HMAC_SHA384, hmac::HMAC_SHA384)
        } else {
            return None;
        };
        Some(Self {
            id,
            kex,
            key_len,
            mac,
            prf,
        })
    }

    fn mac_len(&self) -> usize {
        self.mac.digest_algorithm().output_len()
    }

    fn transcript_hash(&self) -> &'static digest::Algorithm {
        self.prf.digest_algorithm()
    }
}

/// P_hash (RFC 5246 section 5): `len` bytes of PRF(secret, label, seed).
pub fn prf(hash: hmac::Algorithm, secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let key = hmac::Key::new(hash, secret);
    let mut label_seed = label.to_vec();
    label_seed.extend_from_slice(seed);
    let mut out = Vec::with_capacity(len + 64);
    let mut a = hmac::sign(&key, &label_seed).as_ref().to_vec(); // A(1)
    while out.len() < len {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(&a);
        ctx.update(&label_seed);
        out.extend_from_slice(ctx.sign().as_ref());
        a = hmac::sign(&key, &a).as_ref().to_vec();
    }
    out.truncate(len);
    out
}

/// One direction's keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectionKeys {
    /// The HMAC key.
    pub mac: Vec<u8>,
    /// The AES key.
    pub key: Vec<u8>,
}

/// What both sides derive from the premaster secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The suite.
    pub suite: CbcSuite,
    /// The master secret.
    pub master: Vec<u8>,
    /// The client's write keys.
    pub client: DirectionKeys,
    /// The server's write keys.
    pub server: DirectionKeys,
}

impl Session {
    /// The master secret and the key block (no extended master secret: the probe never offers
    /// it).
    pub fn derive(
        suite: CbcSuite,
        premaster: &[u8],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
    ) -> Self {
        let randoms = [client_random.as_slice(), server_random].concat();
        let master = prf(suite.prf, premaster, b"master secret", &randoms, 48);
        let reversed = [server_random.as_slice(), client_random].concat();
        let mac_len = suite.mac_len();
        let block = prf(
            suite.prf,
            &master,
            b"key expansion",
            &reversed,
            2 * (mac_len + suite.key_len),
        );
        let (client_mac, rest) = block.split_at(mac_len);
        let (server_mac, rest) = rest.split_at(mac_len);
        let (client_key, server_key) = rest.split_at(suite.key_len);
        Self {
            suite,
            master,
            client: DirectionKeys {
                mac: client_mac.to_vec(),
                key: client_key.to_vec(),
            },
            server: DirectionKeys {
                mac: server_mac.to_vec(),
                key: server_key.to_vec(),
            },
        }
    }

    /// The Finished handshake message (type and length included) over the handshake messages
    /// so far; `client` picks the label.
    pub fn finished(&self, client: bool, transcript: &[u8]) -> Vec<u8> {
        let hash = digest::digest(self.suite.transcript_hash(), transcript);
        let label: &[u8] = match client {
            true => b"client finished",
            false => b"server finished",
        };
        let verify = prf(self.suite.prf, &self.master, label, hash.as_ref(), 12);
        codec::handshake(HandshakeType::FINISHED, &verify)
    }
}

/// What a record's MAC covers besides its content: the sequence number, the type and the version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The sequence number (0 for the Finished, counting up per direction).
    pub seq: u64,
    /// The record's content type.
    pub kind: ContentType,
    /// The record's version.
    pub version: u16,
}

/// How [`seal`] spoils a record, for the padding-oracle probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flaw {
    /// A correct record.
    None,
    /// The MAC is wrong; the padding is right.
    BadMac,
    /// The MAC is right; the padding length byte is right, but a padding byte before it is not
    /// (a server that checks only the length byte accepts it: POODLE against TLS).
    BadPaddingBytes,
    /// The MAC is right; the padding length byte claims more than the record holds.
    BadPaddingLength,
}

fn mac(suite: &CbcSuite, key: &[u8], header: Header, content: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(suite.mac, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(&header.seq.to_be_bytes());
    ctx.update(&[header.kind.0]);
    ctx.update(&header.version.to_be_bytes());
    ctx.update(&(content.len() as u16).to_be_bytes());
    ctx.update(content);
    ctx.sign().as_ref().to_vec()
}

fn cipher_key(suite: &CbcSuite, key: &[u8]) -> Option<UnboundCipherKey> {
    let algorithm = match suite.key_len {
        16 => &AES_128,
        _ => &AES_256,
    };
    UnboundCipherKey::new(algorithm, key).ok()
}

/// A CBC record carrying `content`, sealed with `keys` under `header`, with the explicit `iv`,
/// spoiled as `flaw` says.
pub fn seal(
    suite: &CbcSuite,
    keys: &DirectionKeys,
    header: Header,
    content: &[u8],
    iv: [u8; BLOCK],
    flaw: Flaw,
) -> Vec<u8> {
    let mut plain = content.to_vec();
    let mut tag = mac(suite, &keys.mac, header, content);
    if flaw == Flaw::BadMac {
        tag[0] ^= 0x01;
    }
    plain.extend_from_slice(&tag);
    // At least one padding byte besides the length byte, so a padding byte can be wrong.
    let mut pad = BLOCK - 1 - plain.len() % BLOCK;
    if pad == 0 {
        pad = BLOCK;
    }
    plain.extend(std::iter::repeat_n(pad as u8, pad + 1));
    let last = plain.len() - 1;
    match flaw {
        Flaw::BadPaddingBytes => plain[last - pad] ^= 0x5A,
        Flaw::BadPaddingLength => plain[last] = 0xFF,
        Flaw::None | Flaw::BadMac => {}
    }
    let mut fragment = iv.to_vec();
    if let Some(key) = cipher_key(suite, &keys.key).and_then(|k| EncryptingKey::cbc(k).ok()) {
        let context = EncryptionContext::Iv128(FixedLength::from(iv));
        // The length is a multiple of the block: CBC without padding of its own cannot fail.
        let _ = key.less_safe_encrypt(&mut plain, context);
    }
    fragment.extend_from_slice(&plain);
    codec::record(header.kind, header.version, &fragment)
}

/// What opening a CBC record found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The content, when the padding length fits the record (whatever the MAC says).
    pub content: Option<Vec<u8>>,
    /// Every padding byte equals the padding length.
    pub padding_ok: bool,
    /// The MAC over the content is right (false when the padding length does not fit).
    pub mac_ok: bool,
}

/// Opens the `fragment` of a CBC record (explicit IV first) with `keys` under `header`.
pub fn open(suite: &CbcSuite, keys: &DirectionKeys, header: Header, fragment: &[u8]) -> Opened {
    let broken = Opened {
        content: None,
        padding_ok: false,
        mac_ok: false,
    };
    let mac_len = suite.mac_len();
    if fragment.len() < 2 * BLOCK || !fragment.len().is_multiple_of(BLOCK) {
        return broken;
    }
    let (iv, sealed) = fragment.split_at(BLOCK);
    let Some(key) = cipher_key(suite, &keys.key).and_then(|k| DecryptingKey::cbc(k).ok()) else {
        return broken;
    };
    let Ok(iv) = <[u8; BLOCK]>::try_from(iv) else {
        return broken;
    };
    let mut plain = sealed.to_vec();
    let context = DecryptionContext::Iv128(FixedLength::from(iv));
    let Ok(plain) = key.decrypt(&mut plain, context) else {
        return broken;
    };
    let pad = usize::from(plain[plain.len() - 1]);
    if pad + 1 + mac_len > plain.len() {
        return broken;
    }
    let body_len = plain.len() - pad - 1;
    let padding_ok = plain[body_len..].iter().all(|b| usize::from(*b) == pad);
    let (content, tag) = plain[..body_len].split_at(body_len - mac_len);
    let mac_ok = mac(suite, &keys.mac, header, content) == tag;
    Opened {
        content: Some(content.to_vec()),
        padding_ok,
        mac_ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let suite = CbcSuite::of(CipherSuite(0x002F)).unwrap();
        Session::derive(suite, &[3; 48], &[1; 32], &[2; 32])
    }

    #[test]
    fn suites_the_probe_can_speak() {
        let s = CbcSuite::of(CipherSuite(0x002F)).unwrap(); // TLS_RSA_WITH_AES_128_CBC_SHA
        assert_eq!((s.kex, s.key_len, s.mac_len()), (Kex::Rsa, 16, 20));
        let s = CbcSuite::of(CipherSuite(0xC028)).unwrap(); // ECDHE_RSA AES_256_CBC_SHA384
        assert_eq!((s.kex, s.key_len, s.mac_len()), (Kex::Ecdhe, 32, 48));
        assert_eq!(s.prf, hmac::HMAC_SHA384);
        assert!(CbcSuite::of(CipherSuite(0xC02F)).is_none(), "GCM");
        assert!(CbcSuite::of(CipherSuite(0x000A)).is_none(), "3DES");
        assert!(CbcSuite::of(CipherSuite(0x0033)).is_none(), "DHE");
    }

    #[test]
    fn the_prf_matches_a_published_vector() {
        // The TLS 1.2 PRF (SHA-256) test vector posted to the IETF TLS list (2009).
        let secret = hex("9bbe436ba940f017b17652849a71db35");
        let seed = hex("a0ba9f936cda311827a6f796ffd5198c");
        let out = prf(hmac::HMAC_SHA256, &secret, b"test label", &seed, 100);
        assert_eq!(
            &out[..16],
            hex("e3f229ba727be17b8d122620557cd453").as_slice()
        );
        assert_eq!(out.len(), 100);
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn both_sides_derive_the_same_keys_and_finished() {
        let a = session();
        let b = session();
        assert_eq!(a, b);
        assert_ne!(a.client, a.server);
        let fin = a.finished(true, b"transcript");
        assert_eq!(fin.len(), 4 + 12);
        assert_ne!(fin, a.finished(false, b"transcript"));
    }

    #[test]
    fn each_flaw_fails_exactly_its_check() {
        let s = session();
        let at = |seq| Header {
            seq,
            kind: ContentType::APPLICATION_DATA,
            version: 0x0303,
        };
        for (flaw, padding_ok, mac_ok) in [
            (Flaw::None, true, true),
            (Flaw::BadMac, true, false),
            (Flaw::BadPaddingBytes, false, true),
            (Flaw::BadPaddingLength, false, false),
        ] {
            for content in [&b""[..], b"GET / HTTP/1.1\r\n\r\n", &[7u8; 11]] {
                let record = seal(&s.suite, &s.client, at(1), content, [9; 16], flaw);
                let opened = open(&s.suite, &s.client, at(1), &record[5..]);
                assert_eq!(
                    (opened.padding_ok, opened.mac_ok),
                    (padding_ok, mac_ok),
                    "{flaw:?} {content:?}"
                );
                if flaw != Flaw::BadPaddingLength {
                    assert_eq!(opened.content.as_deref(), Some(content));
                }
            }
        }
        // The wrong sequence number or keys: the MAC fails.
        let record = seal(&s.suite, &s.client, at(1), b"x", [9; 16], Flaw::None);
        assert!(!open(&s.suite, &s.client, at(2), &record[5..]).mac_ok);
        assert!(!open(&s.suite, &s.server, at(1), &record[5..]).mac_ok);
        assert!(open(&s.suite, &s.client, at(1), &[0; 5]).content.is_none());
    }
}
