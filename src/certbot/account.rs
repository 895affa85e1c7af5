//! certbot's ACME account (`accounts/SERVER/ID/{private_key.json,regr.json,meta.json}`) turned
//! into the credentials certctl stores. Pure: JSON in, bytes out.
//!
//! certctl's ACME library (instant-acme 0.8) signs only with ECDSA P-256 account keys
//! (`Key::from_pkcs8_der` accepts nothing else, and its signer is not pluggable). certbot, from
//! 2.x to 5.x, registers every account with an RSA key, so a certbot account can be reused only
//! when its key is P-256 (made by another tool, or by hand). Otherwise the import registers a
//! new account with the same CA, and this module says why.

use base64::Engine;
use base64::prelude::BASE64_URL_SAFE_NO_PAD;
use serde::Deserialize;

/// The account as certbot registered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The account URL (`regr.json`'s `uri`): the `kid` of every request, and what CAA's
    /// `accounturi` names.
    pub url: String,
    /// The first `mailto:` contact, if any.
    pub email: Option<String>,
}

/// Reads `regr.json`.
pub fn registration(regr_json: &[u8]) -> Result<Registration, String> {
    #[derive(Deserialize)]
    struct Regr {
        uri: Option<String>,
        #[serde(default)]
        body: Body,
    }
    #[derive(Default, Deserialize)]
    struct Body {
        #[serde(default)]
        contact: Vec<String>,
    }
    let regr: Regr =
        serde_json::from_slice(regr_json).map_err(|e| format!("regr.json does not parse: {e}"))?;
    let url = regr
        .uri
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .ok_or("regr.json has no account URL (uri)")?;
    let email = regr
        .body
        .contact
        .iter()
        .find_map(|c| c.strip_prefix("mailto:"))
        .map(str::to_owned);
    Ok(Registration { url, email })
}

/// The account key (`private_key.json`, a JWK) as PKCS#8 DER that instant-acme accepts, or the
/// sentence saying why it cannot be used.
pub fn account_key_pkcs8(jwk_json: &[u8]) -> Result<Vec<u8>, String> {
    #[derive(Deserialize)]
    struct Jwk {
        kty: String,
        crv: Option<String>,
        n: Option<String>,
        x: Option<String>,
        y: Option<String>,
        d: Option<String>,
    }
    let jwk: Jwk = serde_json::from_slice(jwk_json)
        .map_err(|e| format!("private_key.json does not parse: {e}"))?;
    let lib = "instant-acme 0.8, certctl's ACME library, signs only with ECDSA P-256 account keys";
    match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("EC", Some("P-256")) => {}
        ("RSA", _) => {
            let bits = jwk
                .n
                .as_deref()
                .and_then(|n| BASE64_URL_SAFE_NO_PAD.decode(n).ok())
                .map(|n| {
                    let n = n.iter().skip_while(|b| **b == 0).count();
                    format!(" {}-bit", n * 8)
                })
                .unwrap_or_default();
            return Err(format!("certbot's account key is{bits} RSA and {lib}"));
        }
        (kty, crv) => {
            return Err(format!(
                "certbot's account key is {kty}{} and {lib}",
                crv.map(|c| format!(" {c}")).unwrap_or_default()
            ));
        }
    }
    let field = |name: &str, v: Option<String>| -> Result<Vec<u8>, String> {
        v.and_then(|v| BASE64_URL_SAFE_NO_PAD.decode(v.trim_end_matches('=')).ok())
            .ok_or_else(|| format!("private_key.json: the EC key's {name} is missing or bad"))
    };
    let (x, y, d) = (field("x", jwk.x)?, field("y", jwk.y)?, field("d", jwk.d)?);
    ec_p256_pkcs8(&x, &y, &d).ok_or_else(|| "private_key.json: not a valid P-256 key".to_owned())
}

fn ec_p256_pkcs8(x: &[u8], y: &[u8], d: &[u8]) -> Option<Vec<u8>> {
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).ok()?;
    let (x, y, d) = (
        BigNum::from_slice(x).ok()?,
        BigNum::from_slice(y).ok()?,
        BigNum::from_slice(d).ok()?,
    );
    let public = EcKey::from_public_key_affine_coordinates(&group, &x, &y).ok()?;
    let key = EcKey::from_private_components(&group, &d, public.public_key()).ok()?;
    key.check_key().ok()?;
    let der = PKey::from_ec_key(key).ok()?.private_key_to_pkcs8().ok()?;
    // The final word is instant-acme's: the key must load there.
    instant_acme::Key::from_pkcs8_der(rustls_pki_types::PrivatePkcs8KeyDer::from(der.clone()))
        .ok()?;
    Some(der)
}

/// The credentials JSON certctl stores for an account (instant-acme's `AccountCredentials`).
pub fn credentials_json(directory_url: &str, account_url: &str, pkcs8_der: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": account_url,
        "key_pkcs8": BASE64_URL_SAFE_NO_PAD.encode(pkcs8_der),
        "directory": directory_url,
    }))
    .expect("JSON of strings serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        BASE64_URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A P-256 key as josepy writes it: kty, crv, x, y, d.
    fn ec_jwk() -> (String, openssl::ec::EcKey<openssl::pkey::Private>) {
        use openssl::bn::BigNumContext;
        let group =
            openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
        let key = openssl::ec::EcKey::generate(&group).unwrap();
        let (mut x, mut y) = (
            openssl::bn::BigNum::new().unwrap(),
            openssl::bn::BigNum::new().unwrap(),
        );
        let mut ctx = BigNumContext::new().unwrap();
        key.public_key()
            .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
            .unwrap();
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256",
            "x": b64(&x.to_vec_padded(32).unwrap()),
            "y": b64(&y.to_vec_padded(32).unwrap()),
            "d": b64(&key.private_key().to_vec_padded(32).unwrap()),
        });
        (jwk.to_string(), key)
    }

    #[test]
    fn a_p256_account_key_becomes_credentials_instant_acme_loads() {
        let (jwk, key) = ec_jwk();
        let der = account_key_pkcs8(jwk.as_bytes()).unwrap();
        let back = openssl::pkey::PKey::private_key_from_pkcs8(&der).unwrap();
        assert_eq!(
            back.ec_key().unwrap().private_key().to_vec(),
            key.private_key().to_vec()
        );
        let json = credentials_json("https://ca.test/dir", "https://ca.test/acct/7", &der);
        let creds: instant_acme::AccountCredentials = serde_json::from_slice(&json).unwrap();
        assert_eq!(creds.private_key().secret_pkcs8_der(), der.as_slice());
    }

    #[test]
    fn rsa_and_other_keys_say_why_not() {
        // What certbot writes: an RSA JWK (n, e, d, p, q, dp, dq, qi).
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let jwk = serde_json::json!({
            "kty": "RSA", "n": b64(&rsa.n().to_vec()), "e": b64(&rsa.e().to_vec()),
            "d": b64(&rsa.d().to_vec()),
        });
        let why = account_key_pkcs8(jwk.to_string().as_bytes()).unwrap_err();
        assert!(why.contains("2048-bit RSA"), "{why}");
        assert!(why.contains("ECDSA P-256"), "{why}");
        let why = account_key_pkcs8(br#"{"kty":"EC","crv":"P-384","x":"AA","y":"AA","d":"AA"}"#)
            .unwrap_err();
        assert!(why.contains("EC P-384"), "{why}");
        let why = account_key_pkcs8(br#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}"#)
            .unwrap_err();
        assert!(why.contains("not a valid P-256 key"), "{why}");
        assert!(account_key_pkcs8(b"{").is_err());
        assert!(account_key_pkcs8(br#"{"kty":"EC","crv":"P-256"}"#).is_err());
    }

    #[test]
    fn reads_the_account_url_and_contact() {
        let regr = br#"{"body": {"contact": ["tel:1", "mailto:ops@example.com"]}, "uri": "https://127.0.0.1:14000/my-account/2c14"}"#;
        assert_eq!(
            registration(regr).unwrap(),
            Registration {
                url: "https://127.0.0.1:14000/my-account/2c14".into(),
                email: Some("ops@example.com".into())
            }
        );
        let regr = br#"{"body": {}, "uri": "https://ca.test/acct/1"}"#;
        assert_eq!(registration(regr).unwrap().email, None);
        assert!(registration(br#"{"body": {}}"#).is_err());
        assert!(registration(br#"{"uri": "file:///etc/passwd"}"#).is_err());
        assert!(registration(b"[]").is_err());
    }
}
