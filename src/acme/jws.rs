//! JSON Web Signatures (RFC 7515, flattened JSON serialization) as ACME wants them (RFC 8555
//! section 6.2), for what instant-acme cannot sign itself: the alternate chains' POST-as-GET
//! (`acme::chains`), and every request of an account whose key is RSA (what certbot registers;
//! instant-acme signs ES256 only), which `acme::http` signs again with [`resign`]. Pure: keys,
//! bytes and randomness in, JSON out; and the reading of the CA's answer.

use aws_lc_rs::rand::SecureRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::prelude::BASE64_URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// Why a key or a signature could not be made.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwsError {
    /// The key does not load.
    #[error("the {kind} account key does not load: {reason}")]
    BadKey {
        /// "RSA" or "P-256".
        kind: &'static str,
        /// What the crypto library said.
        reason: String,
    },
    /// Signing (or making a key) failed in the crypto library.
    #[error("the crypto library could not {0}")]
    Crypto(&'static str),
    /// A request to sign again is not a JWS that names its key by `kid`.
    #[error("cannot sign the request again: {0}")]
    NotResignable(&'static str),
}

/// An account key that signs ACME requests.
pub trait AccountSigner {
    /// The JWS `alg`.
    fn alg(&self) -> &'static str;
    /// The public key as a JWK (its required members only).
    fn jwk(&self) -> Value;
    /// The JWS signature of `message`.
    fn sign(&self, rng: &dyn SecureRandom, message: &[u8]) -> Result<Vec<u8>, JwsError>;
}

/// An RSA account key, signing RS256 (RSASSA-PKCS1-v1_5 with SHA-256).
pub struct RsaSigner(RsaKeyPair);

impl RsaSigner {
    /// From PKCS#8 DER.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, JwsError> {
        RsaKeyPair::from_pkcs8(der)
            .map(Self)
            .map_err(|e| JwsError::BadKey {
                kind: "RSA",
                reason: e.to_string(),
            })
    }
}

impl AccountSigner for RsaSigner {
    fn alg(&self) -> &'static str {
        "RS256"
    }

    fn jwk(&self) -> Value {
        let public = self.0.public_key();
        json!({
            "e": b64(public.exponent().big_endian_without_leading_zero()),
            "kty": "RSA",
            "n": b64(public.modulus().big_endian_without_leading_zero()),
        })
    }

    fn sign(&self, rng: &dyn SecureRandom, message: &[u8]) -> Result<Vec<u8>, JwsError> {
        let mut sig = vec![0; self.0.public_modulus_len()];
        self.0
            .sign(&signature::RSA_PKCS1_SHA256, rng, message, &mut sig)
            .map_err(|_| JwsError::Crypto("sign with the RSA key"))?;
        Ok(sig)
    }
}

/// A P-256 account key, signing ES256 (the fixed-width r‖s form JWS uses).
pub struct P256Signer {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
}

impl P256Signer {
    /// A new key.
    pub fn generate(rng: &dyn SecureRandom) -> Result<Self, JwsError> {
        let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, rng)
            .map_err(|_| JwsError::Crypto("make a P-256 key"))?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// From PKCS#8 DER.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, JwsError> {
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|e| JwsError::BadKey {
                kind: "P-256",
                reason: e.to_string(),
            })?;
        Ok(Self {
            pair,
            pkcs8: der.to_vec(),
        })
    }

    /// The key as PKCS#8 DER (what certctl stores).
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }
}

impl AccountSigner for P256Signer {
    fn alg(&self) -> &'static str {
        "ES256"
    }

    fn jwk(&self) -> Value {
        // The uncompressed point: 0x04 ‖ x ‖ y.
        let point = self.pair.public_key().as_ref();
        json!({
            "crv": "P-256",
            "kty": "EC",
            "x": b64(&point[1..33]),
            "y": b64(&point[33..65]),
        })
    }

    fn sign(&self, rng: &dyn SecureRandom, message: &[u8]) -> Result<Vec<u8>, JwsError> {
        self.pair
            .sign(rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| JwsError::Crypto("sign with the P-256 key"))
    }
}

/// An account key of a kind ACME accounts are made with: P-256 (what certctl registers) or RSA
/// (what certbot registers).
pub enum AccountKey {
    /// ES256.
    P256(P256Signer),
    /// RS256.
    Rsa(RsaSigner),
}

impl AccountKey {
    /// From PKCS#8 DER, whichever of the two kinds it is.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, JwsError> {
        P256Signer::from_pkcs8(der)
            .map(Self::P256)
            .or_else(|_| RsaSigner::from_pkcs8(der).map(Self::Rsa))
            .map_err(|_| JwsError::BadKey {
                kind: "P-256 or RSA",
                reason: "the PKCS#8 key is neither".into(),
            })
    }

    fn signer(&self) -> &dyn AccountSigner {
        match self {
            Self::P256(key) => key,
            Self::Rsa(key) => key,
        }
    }
}

impl AccountSigner for AccountKey {
    fn alg(&self) -> &'static str {
        self.signer().alg()
    }

    fn jwk(&self) -> Value {
        self.signer().jwk()
    }

    fn sign(&self, rng: &dyn SecureRandom, message: &[u8]) -> Result<Vec<u8>, JwsError> {
        self.signer().sign(rng, message)
    }
}

/// How the protected header names the key.
#[derive(Clone, Copy, Debug)]
pub enum KeyRef<'a> {
    /// The public key itself (`jwk`): new accounts, and the inner JWS of a key change.
    Jwk,
    /// The account URL (`kid`): every other request.
    Kid(&'a str),
}

/// One JWS in flattened JSON: protected {alg, jwk | kid, nonce (when given), url}, the payload
/// (empty for POST-as-GET), signed over `protected.payload`.
pub fn sign(
    key: &dyn AccountSigner,
    rng: &dyn SecureRandom,
    key_ref: KeyRef<'_>,
    nonce: Option<&str>,
    url: &str,
    payload: &[u8],
) -> Result<Value, JwsError> {
    let mut protected = json!({ "alg": key.alg(), "url": url });
    match key_ref {
        KeyRef::Jwk => protected["jwk"] = key.jwk(),
        KeyRef::Kid(kid) => protected["kid"] = kid.into(),
    }
    if let Some(nonce) = nonce {
        protected["nonce"] = nonce.into();
    }
    let protected = b64(protected.to_string().as_bytes());
    let payload = b64(payload);
    let signature = key.sign(rng, format!("{protected}.{payload}").as_bytes())?;
    Ok(json!({
        "protected": protected,
        "payload": payload,
        "signature": b64(&signature),
    }))
}

/// The flattened JWS `jws`, which names its key by `kid`, signed again by `key`: the same kid,
/// nonce, url and payload under `key`'s alg and signature. A request that names its key by
/// `jwk` (a new account, a key change) carries the key it was signed with and is refused.
pub fn resign(
    key: &dyn AccountSigner,
    rng: &dyn SecureRandom,
    jws: &[u8],
) -> Result<Vec<u8>, JwsError> {
    let not_a_jws = JwsError::NotResignable("not a flattened JWS");
    let jws: Value = serde_json::from_slice(jws).map_err(|_| not_a_jws.clone())?;
    let (Some(protected), Some(payload)) = (jws["protected"].as_str(), jws["payload"].as_str())
    else {
        return Err(not_a_jws);
    };
    let mut header: Value = BASE64_URL_SAFE_NO_PAD
        .decode(protected)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(not_a_jws)?;
    if header.get("kid").and_then(Value::as_str).is_none() || header.get("jwk").is_some() {
        return Err(JwsError::NotResignable(
            "the request names its key by jwk, not by the account's kid",
        ));
    }
    header["alg"] = key.alg().into();
    let protected = b64(header.to_string().as_bytes());
    let signature = key.sign(rng, format!("{protected}.{payload}").as_bytes())?;
    let signed = json!({
        "protected": protected,
        "payload": payload,
        "signature": b64(&signature),
    });
    Ok(signed.to_string().into_bytes())
}

/// The RFC 7638 thumbprint of a public JWK (base64url SHA-256 of its required members in
/// lexicographic order), or None for a key type ACME accounts do not use.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let member = |name: &str| jwk.get(name)?.as_str().map(|s| Value::from(s).to_string());
    let canonical = match jwk.get("kty")?.as_str()? {
        "RSA" => format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            member("e")?,
            member("n")?
        ),
        "EC" => format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            member("crv")?,
            member("x")?,
            member("y")?
        ),
        _ => return None,
    };
    Some(b64(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        canonical.as_bytes(),
    )
    .as_ref()))
}

/// What the CA's answer to a signed request means.
#[derive(Debug)]
pub enum Answer {
    /// Done (2xx).
    Accepted,
    /// The nonce was refused (`badNonce`): send again with the nonce the answer carries, or
    /// with a fresh one when it carries none.
    BadNonce {
        /// The answer's Replay-Nonce.
        nonce: Option<String>,
        /// The problem document (what to report when the retries run out).
        problem: crate::acme::Problem,
    },
    /// A problem document.
    Refused(crate::acme::Problem),
    /// Neither success nor a problem document: the HTTP status.
    Garbage(u16),
}

/// Reads the answer to a signed request: its status, body and Replay-Nonce header.
pub fn answer(status: u16, body: &[u8], replay_nonce: Option<&str>) -> Answer {
    if (200..300).contains(&status) {
        return Answer::Accepted;
    }
    match serde_json::from_slice::<crate::acme::Problem>(body) {
        Ok(problem)
            if problem
                .r#type
                .as_deref()
                .is_some_and(|t| t == "urn:ietf:params:acme:error:badNonce") =>
        {
            Answer::BadNonce {
                nonce: replay_nonce.map(str::to_owned),
                problem,
            }
        }
        Ok(problem) if problem.r#type.is_some() || problem.detail.is_some() => {
            Answer::Refused(problem)
        }
        _ => Answer::Garbage(status),
    }
}

fn b64(bytes: &[u8]) -> String {
    BASE64_URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256};

    fn rsa() -> (RsaSigner, openssl::rsa::Rsa<openssl::pkey::Private>) {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let der = openssl::pkey::PKey::from_rsa(rsa.clone())
            .unwrap()
            .private_key_to_pkcs8()
            .unwrap();
        (RsaSigner::from_pkcs8(&der).unwrap(), rsa)
    }

    fn decode(v: &Value) -> Vec<u8> {
        BASE64_URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap()
    }

    fn json_of(v: &Value) -> Value {
        serde_json::from_slice(&decode(v)).unwrap()
    }

    /// Verifies a flattened JWS with the public key in `jwk` and returns (header, payload).
    fn verify(jws: &Value, jwk: &Value) -> (Value, Vec<u8>) {
        let header = json_of(&jws["protected"]);
        let input = format!(
            "{}.{}",
            jws["protected"].as_str().unwrap(),
            jws["payload"].as_str().unwrap()
        );
        let sig = decode(&jws["signature"]);
        match header["alg"].as_str().unwrap() {
            "RS256" => {
                let key = signature::RsaPublicKeyComponents {
                    n: decode(&jwk["n"]),
                    e: decode(&jwk["e"]),
                };
                key.verify(&RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &sig)
                    .expect("RS256 signature verifies");
            }
            "ES256" => {
                let mut point = vec![4];
                point.extend(decode(&jwk["x"]));
                point.extend(decode(&jwk["y"]));
                signature::UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .verify(input.as_bytes(), &sig)
                    .expect("ES256 signature verifies");
            }
            other => panic!("alg {other}"),
        }
        (header, decode(&jws["payload"]))
    }

    #[test]
    fn a_request_signed_again_keeps_kid_nonce_url_and_payload_under_the_rsa_key() {
        let rng = SystemRandom::new();
        let (account, rsa) = rsa();
        // What instant-acme sends: its stand-in P-256 key's ES256 signature, the account's kid.
        let stand_in = P256Signer::generate(&rng).unwrap();
        let (acct, url) = ("https://ca.test/acct/7", "https://ca.test/new-order");
        let payload = br#"{"identifiers":[{"type":"dns","value":"a.test"}]}"#;
        let sent = sign(
            &stand_in,
            &rng,
            KeyRef::Kid(acct),
            Some("n0nce"),
            url,
            payload,
        )
        .unwrap();
        let again = resign(&account, &rng, sent.to_string().as_bytes()).unwrap();
        let again: Value = serde_json::from_slice(&again).unwrap();
        assert_eq!(again.as_object().unwrap().len(), 3);
        // It verifies with the RSA key certbot's file holds, and says what was sent.
        let rsa_jwk = json!({
            "e": b64(&rsa.e().to_vec()), "kty": "RSA", "n": b64(&rsa.n().to_vec()),
        });
        assert_eq!(account.jwk(), rsa_jwk);
        let (header, body) = verify(&again, &rsa_jwk);
        assert_eq!(
            header,
            json!({"alg": "RS256", "kid": acct, "nonce": "n0nce", "url": url})
        );
        assert_eq!(body, payload);
        assert_eq!(again["payload"], sent["payload"]);

        // A POST-as-GET keeps its empty payload.
        let get = sign(&stand_in, &rng, KeyRef::Kid(acct), Some("n"), acct, b"").unwrap();
        let get: Value =
            serde_json::from_slice(&resign(&account, &rng, get.to_string().as_bytes()).unwrap())
                .unwrap();
        assert_eq!(verify(&get, &rsa_jwk).1, b"");

        // A request naming its key by jwk carries the stand-in key: it is not signed again.
        let by_jwk = sign(&stand_in, &rng, KeyRef::Jwk, Some("n"), url, b"{}").unwrap();
        assert!(matches!(
            resign(&account, &rng, by_jwk.to_string().as_bytes()),
            Err(JwsError::NotResignable(_))
        ));
        for junk in [&b"{"[..], b"{}", br#"{"protected":"!!","payload":""}"#] {
            assert!(resign(&account, &rng, junk).is_err());
        }
    }

    #[test]
    fn account_keys_of_either_kind_load_and_store_in_instant_acmes_credentials() {
        let rng = SystemRandom::new();
        let (_, rsa) = rsa();
        let rsa_der = openssl::pkey::PKey::from_rsa(rsa)
            .unwrap()
            .private_key_to_pkcs8()
            .unwrap();
        let ec = P256Signer::generate(&rng).unwrap();
        for (der, alg) in [(rsa_der.as_slice(), "RS256"), (ec.pkcs8(), "ES256")] {
            let key = AccountKey::from_pkcs8(der).unwrap();
            assert_eq!(key.alg(), alg);
            let creds = crate::certbot::account::credentials_json(
                "https://ca.test/dir",
                "https://ca.test/acct/7",
                der,
            );
            let creds: instant_acme::AccountCredentials = serde_json::from_slice(&creds).unwrap();
            assert_eq!(creds.private_key().secret_pkcs8_der(), der);
        }
        assert!(AccountKey::from_pkcs8(b"junk").is_err());
    }

    #[test]
    fn post_as_get_has_an_empty_payload() {
        let rng = SystemRandom::new();
        let (old, _) = rsa();
        let jws = sign(
            &old,
            &rng,
            KeyRef::Kid("https://ca.test/acct/7"),
            Some("n"),
            "https://ca.test/acct/7",
            b"",
        )
        .unwrap();
        assert_eq!(jws["payload"], "");
        let (header, payload) = verify(&jws, &old.jwk());
        assert_eq!(header["kid"], "https://ca.test/acct/7");
        assert!(payload.is_empty());
    }

    #[test]
    fn keys_that_do_not_load_say_so() {
        let err = RsaSigner::from_pkcs8(b"junk").err().unwrap();
        assert!(matches!(err, JwsError::BadKey { kind: "RSA", .. }), "{err}");
        let rng = SystemRandom::new();
        let ec = P256Signer::generate(&rng).unwrap();
        assert!(RsaSigner::from_pkcs8(ec.pkcs8()).is_err());
        assert!(P256Signer::from_pkcs8(b"junk").is_err());
    }

    #[test]
    fn thumbprints_follow_rfc_7638() {
        // RFC 7638 section 3.1's example key and thumbprint.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(&jwk).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
        let rng = SystemRandom::new();
        let a = P256Signer::generate(&rng).unwrap();
        let b = P256Signer::generate(&rng).unwrap();
        assert_ne!(thumbprint(&a.jwk()), thumbprint(&b.jwk()));
        assert_eq!(thumbprint(&json!({"kty": "oct", "k": "AA"})), None);
        assert_eq!(thumbprint(&json!({"kty": "EC", "crv": "P-256"})), None);
    }

    #[test]
    fn reads_the_cas_answer() {
        let ok = answer(200, br#"{"status":"valid"}"#, Some("x"));
        assert!(matches!(ok, Answer::Accepted), "{ok:?}");
        assert!(matches!(answer(204, b"", None), Answer::Accepted));
        let bad_nonce = br#"{"type":"urn:ietf:params:acme:error:badNonce","detail":"JWS has an invalid anti-replay nonce"}"#;
        assert!(matches!(
            answer(400, bad_nonce, Some("fresh")),
            Answer::BadNonce { nonce: Some(n), .. } if n == "fresh"
        ));
        assert!(matches!(
            answer(400, bad_nonce, None),
            Answer::BadNonce { nonce: None, .. }
        ));
        let Answer::Refused(p) = answer(
            401,
            br#"{"type":"urn:ietf:params:acme:error:unauthorized","detail":"no such account"}"#,
            Some("n"),
        ) else {
            panic!("not refused")
        };
        assert_eq!(p.detail.as_deref(), Some("no such account"));
        assert!(matches!(
            answer(502, b"<html>Bad Gateway</html>", None),
            Answer::Garbage(502)
        ));
        assert!(matches!(answer(500, b"{}", None), Answer::Garbage(500)));
    }
}
