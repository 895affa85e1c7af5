//! RSA key exchange, correct and on purpose wrong: the PKCS#1 v1.5 encoded premaster secrets of
//! the ROBOT test (Böck, Somorovsky, Young 2017, after Bleichenbacher 1998: one correct encoding
//! and four malformed ones), textbook RSA to encrypt them to the certificate's key, and the
//! ClientKeyExchange messages (RSA and ECDHE). Pure: the random bytes come from the caller.

use openssl::bn::{BigNum, BigNumContext};

use super::codec;
use super::enums::HandshakeType;

/// The five premaster encodings the ROBOT test sends, one connection each. A server without an
/// oracle treats them all alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Variant {
    /// `00 02 | padding | 00 | version | 46 bytes`: correct.
    Correct,
    /// `41 17` instead of `00 02` at the start.
    WrongStart,
    /// The `00` separator near the end, so the "premaster" is one byte long (also an old JSSE
    /// bug).
    MisplacedZero,
    /// No `00` separator at all.
    NoZero,
    /// A correct encoding whose premaster names the wrong version (`02 02`).
    WrongVersion,
}

impl Variant {
    /// All five, in the paper's order.
    pub const ALL: [Variant; 5] = [
        Self::Correct,
        Self::WrongStart,
        Self::MisplacedZero,
        Self::NoZero,
        Self::WrongVersion,
    ];

    /// How the report names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Correct => "correct padding",
            Self::WrongStart => "wrong first bytes",
            Self::MisplacedZero => "0x00 in the wrong place",
            Self::NoZero => "no 0x00 separator",
            Self::WrongVersion => "wrong version in the premaster",
        }
    }
}

/// The `k`-byte encoded message for `variant` (`k` the modulus length): `version` is the
/// ClientHello's, `secret` the 46 premaster bytes after it, `padding` supplies the non-zero
/// padding bytes (zeros in it are replaced). None when the modulus is too short for a premaster.
pub fn encoded_premaster(
    variant: Variant,
    k: usize,
    version: u16,
    secret: &[u8; 46],
    padding: &[u8],
) -> Option<Vec<u8>> {
    let pad_len = k.checked_sub(3 + 48).filter(|n| *n >= 8)?;
    let pad: Vec<u8> = (0..pad_len)
        .map(|i| {
            padding
                .get(i % padding.len().max(1))
                .copied()
                .unwrap_or(0x5A)
        })
        .map(|b| b.max(1))
        .collect();
    let v = version.to_be_bytes();
    let nonzero: Vec<u8> = secret.iter().map(|b| (*b).max(1)).collect();
    let mut out = Vec::with_capacity(k);
    match variant {
        Variant::Correct | Variant::WrongVersion | Variant::WrongStart => {
            out.extend_from_slice(match variant {
                Variant::WrongStart => &[0x41, 0x17],
                _ => &[0x00, 0x02],
            });
            out.extend_from_slice(&pad);
            out.push(0);
            out.extend_from_slice(match variant {
                Variant::WrongVersion => &[0x02, 0x02],
                _ => &v,
            });
            out.extend_from_slice(secret);
        }
        Variant::MisplacedZero => {
            out.extend_from_slice(&[0x00, 0x02]);
            out.extend_from_slice(&pad);
            out.push(0x11);
            out.extend_from_slice(&nonzero);
            out.extend_from_slice(&[0x00, 0x11]);
        }
        Variant::NoZero => {
            out.extend_from_slice(&[0x00, 0x02]);
            out.extend_from_slice(&pad);
            out.extend_from_slice(&[0x11, 0x11, 0x11]);
            out.extend_from_slice(&nonzero);
        }
    }
    debug_assert_eq!(out.len(), k);
    Some(out)
}

/// Textbook RSA: `message^e mod n`, as `n`'s length in big-endian bytes. None for a key that is
/// not a key or a message not below the modulus.
pub fn rsa_encrypt(modulus: &[u8], exponent: &[u8], message: &[u8]) -> Option<Vec<u8>> {
    let n = BigNum::from_slice(modulus).ok()?;
    let e = BigNum::from_slice(exponent).ok()?;
    let m = BigNum::from_slice(message).ok()?;
    if n.num_bits() < 512 || m >= n {
        return None;
    }
    let mut c = BigNum::new().ok()?;
    let mut ctx = BigNumContext::new().ok()?;
    c.mod_exp(&m, &e, &n, &mut ctx).ok()?;
    let k = usize::try_from(n.num_bytes()).ok()?;
    c.to_vec_padded(i32::try_from(k).ok()?).ok()
}

/// The modulus length in bytes, without leading zeros.
pub fn modulus_len(modulus: &[u8]) -> usize {
    modulus.iter().skip_while(|b| **b == 0).count()
}

/// A ClientKeyExchange for RSA key exchange (TLS 1.0 and later: the ciphertext with a two-byte
/// length).
pub fn client_key_exchange_rsa(encrypted: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    codec::put_u16_prefixed(&mut body, encrypted);
    codec::handshake(HandshakeType::CLIENT_KEY_EXCHANGE, &body)
}

/// A ClientKeyExchange for ECDHE: the client's public point with a one-byte length.
pub fn client_key_exchange_ecdhe(point: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    codec::put_u8_prefixed(&mut body, point);
    codec::handshake(HandshakeType::CLIENT_KEY_EXCHANGE, &body)
}

/// A "Finished" that no server can accept (the probe does not know the premaster it made the
/// server compute): 64 bytes, the size of an AES-CBC-SHA Finished record.
pub fn garbage_finished(version: u16) -> Vec<u8> {
    codec::record(super::ContentType::HANDSHAKE, version, &[0x42; 64])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_five_encodings_differ_where_the_paper_says() {
        // A secret with zeros in it: they must not make a separator where a variant has none.
        let secret: [u8; 46] = std::array::from_fn(|i| if i % 5 == 0 { 0 } else { 0xAA });
        let all: Vec<Vec<u8>> = Variant::ALL
            .iter()
            .map(|v| encoded_premaster(*v, 256, 0x0303, &secret, &[0, 7]).unwrap())
            .collect();
        for e in &all {
            assert_eq!(e.len(), 256);
        }
        let correct = &all[0];
        assert_eq!(&correct[..2], [0, 2]);
        assert!(
            correct[2..256 - 49].iter().all(|b| *b != 0),
            "non-zero padding"
        );
        assert_eq!(&correct[256 - 49..256 - 46], [0, 3, 3]);
        assert_eq!(&all[1][..2], [0x41, 0x17]);
        assert_eq!(&all[1][2..], &correct[2..]);
        assert_eq!(
            &correct[256 - 46..],
            &secret,
            "the correct one keeps the secret as it is"
        );
        // Misplaced zero: the only 0x00 after the start is second to last.
        assert_eq!(all[2][2..].iter().position(|b| *b == 0), Some(256 - 4));
        assert!(all[3][2..].iter().all(|b| *b != 0), "no separator");
        assert_eq!(&all[4][256 - 48..256 - 46], [2, 2]);
        assert!(encoded_premaster(Variant::Correct, 50, 0x0303, &secret, &[1]).is_none());
    }

    #[test]
    fn textbook_rsa_inverts_with_the_private_key() {
        let key = openssl::rsa::Rsa::generate(1024).unwrap();
        let (n, e) = (key.n().to_vec(), key.e().to_vec());
        let k = modulus_len(&n);
        let m = encoded_premaster(Variant::Correct, k, 0x0303, &[1; 46], &[9]).unwrap();
        let c = rsa_encrypt(&n, &e, &m).unwrap();
        assert_eq!(c.len(), k);
        let mut out = vec![0; k];
        let len = key
            .private_decrypt(&c, &mut out, openssl::rsa::Padding::PKCS1)
            .unwrap();
        assert_eq!(&out[..len], [&[3u8, 3][..], &[1; 46]].concat());
        assert!(rsa_encrypt(&n, &e, &vec![0xFF; k]).is_none(), "above n");
        assert!(rsa_encrypt(&[1, 2], &e, &[1]).is_none(), "not a key");
    }

    #[test]
    fn key_exchange_messages() {
        assert_eq!(client_key_exchange_rsa(&[1, 2]), [16, 0, 0, 4, 0, 2, 1, 2]);
        assert_eq!(client_key_exchange_ecdhe(&[4, 5]), [16, 0, 0, 3, 2, 4, 5]);
        assert_eq!(garbage_finished(0x0303).len(), 5 + 64);
    }
}
