//! certbot's ACME account (`accounts/SERVER/ID/{private_key.json,regr.json,meta.json}`) turned
//! into the credentials certctl stores. Pure: JSON in, bytes out.
//!
//! certbot, from 2.x to 5.x, registers every account with an RSA key; a P-256 key (made by
//! another tool, or by hand) is found too. certctl signs with either (`acme::jws::AccountKey`),
//! so the account is reused as it is: its URL and its key. Other keys cannot be used, and this
//! module says why.

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

/// certbot's account key, as PKCS#8 DER: P-256 or RSA.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountKey(Vec<u8>);

impl AccountKey {
    /// The key as PKCS#8 DER.
    pub fn pkcs8(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        f.write_str("AccountKey")
    }
}

/// The account key (`private_key.json`, a JWK), or the sentence saying why it cannot be used.
pub fn account_key(jwk_json: &[u8]) -> Result<AccountKey, String> {
    #[derive(Deserialize)]
    struct Jwk {
        kty: String,
        crv: Option<String>,
        n: Option<String>,
        e: Option<String>,
        x: Option<String>,
        y: Option<String>,
        d: Option<String>,
        p: Option<String>,
        q: Option<String>,
        dp: Option<String>,
        dq: Option<String>,
        qi: Option<String>,
    }
    let jwk: Jwk = serde_json::from_slice(jwk_json)
        .map_err(|e| format!("private_key.json does not parse: {e}"))?;
    let signs = "certctl signs with ECDSA P-256 and RSA account keys only";
    let field = |name: &str, v: Option<String>| -> Result<Vec<u8>, String> {
        v.and_then(|v| BASE64_URL_SAFE_NO_PAD.decode(v.trim_end_matches('=')).ok())
            .ok_or_else(|| format!("private_key.json: the key's {name} is missing or bad"))
    };
    match (jwk.kty.as_str(), jwk.crv.as_deref()) {
        ("EC", Some("P-256")) => {
            let (x, y, d) = (field("x", jwk.x)?, field("y", jwk.y)?, field("d", jwk.d)?);
            ec_p256_pkcs8(&x, &y, &d)
                .filter(|der| signs_with(der))
                .map(AccountKey)
                .ok_or_else(|| "private_key.json: not a valid P-256 key".to_owned())
        }
        ("RSA", _) => {
            let parts = [
                field("n", jwk.n)?,
                field("e", jwk.e)?,
                field("d", jwk.d)?,
                field("p", jwk.p)?,
                field("q", jwk.q)?,
                field("dp", jwk.dp)?,
                field("dq", jwk.dq)?,
                field("qi", jwk.qi)?,
            ];
            rsa_pkcs8(&parts)
                .filter(|der| signs_with(der))
                .map(AccountKey)
                .ok_or_else(|| "private_key.json: not a valid RSA key".to_owned())
        }
        (kty, crv) => Err(format!(
            "certbot's account key is {kty}{} and {signs}",
            crv.map(|c| format!(" {c}")).unwrap_or_default()
        )),
    }
}

/// An RSA key from its JWK parts (n, e, d, p, q, dp, dq, qi), checked, as PKCS#8 DER.
fn rsa_pkcs8(parts: &[Vec<u8>; 8]) -> Option<Vec<u8>> {
    use openssl::bn::BigNum;
    let [n, e, d, p, q, dp, dq, qi] = parts
        .iter()
        .map(|v| BigNum::from_slice(v).ok())
        .collect::<Option<Vec<_>>>()?
        .try_into()
        .ok()?;
    let rsa = openssl::rsa::Rsa::from_private_components(n, e, d, p, q, dp, dq, qi).ok()?;
    if !rsa.check_key().ok()? || rsa.size() < 256 {
        return None;
    }
    openssl::pkey::PKey::from_rsa(rsa)
        .ok()?
        .private_key_to_pkcs8()
        .ok()
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
    PKey::from_ec_key(key).ok()?.private_key_to_pkcs8().ok()
}

/// The final word is the signer's: the key must load there.
fn signs_with(der: &[u8]) -> bool {
    crate::acme::jws::AccountKey::from_pkcs8(der).is_ok()
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
        let der = account_key(jwk.as_bytes()).unwrap().pkcs8().to_vec();
        let back = openssl::pkey::PKey::private_key_from_pkcs8(&der).unwrap();
        assert_eq!(
            back.ec_key().unwrap().private_key().to_vec(),
            key.private_key().to_vec()
        );
        let json = credentials_json("https://ca.test/dir", "https://ca.test/acct/7", &der);
        let creds: instant_acme::AccountCredentials = serde_json::from_slice(&json).unwrap();
        assert_eq!(creds.private_key().secret_pkcs8_der(), der.as_slice());
    }

    /// What certbot writes: an RSA JWK (n, e, d, p, q, dp, dq, qi).
    fn rsa_jwk(rsa: &openssl::rsa::Rsa<openssl::pkey::Private>) -> serde_json::Value {
        let b = |n: Option<&openssl::bn::BigNumRef>| b64(&n.unwrap().to_vec());
        serde_json::json!({
            "kty": "RSA", "n": b(Some(rsa.n())), "e": b(Some(rsa.e())), "d": b(Some(rsa.d())),
            "p": b(rsa.p()), "q": b(rsa.q()), "dp": b(rsa.dmp1()), "dq": b(rsa.dmq1()),
            "qi": b(rsa.iqmp()),
        })
    }

    #[test]
    fn certbots_rsa_account_key_becomes_the_same_key_in_pkcs8() {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let jwk = rsa_jwk(&rsa);
        let der = account_key(jwk.to_string().as_bytes())
            .unwrap()
            .pkcs8()
            .to_vec();
        assert_eq!(
            crate::acme::jws::AccountSigner::alg(
                &crate::acme::jws::AccountKey::from_pkcs8(&der).unwrap()
            ),
            "RS256"
        );
        let back = openssl::pkey::PKey::private_key_from_pkcs8(&der).unwrap();
        let back = back.rsa().unwrap();
        assert_eq!(back.n().to_vec(), rsa.n().to_vec());
        assert_eq!(back.d().to_vec(), rsa.d().to_vec());
        // A missing part, or parts of two keys, are refused.
        let mut partial = jwk.clone();
        partial.as_object_mut().unwrap().remove("qi");
        let why = account_key(partial.to_string().as_bytes()).unwrap_err();
        assert!(why.contains("qi is missing"), "{why}");
        let other = rsa_jwk(&openssl::rsa::Rsa::generate(2048).unwrap());
        let mut mixed = jwk.clone();
        mixed["p"] = other["p"].clone();
        let why = account_key(mixed.to_string().as_bytes()).unwrap_err();
        assert!(why.contains("not a valid RSA key"), "{why}");
        assert!(!format!("{:?}", AccountKey(der)).contains('['));
    }

    #[test]
    fn other_keys_say_why_not() {
        let why =
            account_key(br#"{"kty":"EC","crv":"P-384","x":"AA","y":"AA","d":"AA"}"#).unwrap_err();
        assert!(
            why.contains("EC P-384") && why.contains("ECDSA P-256"),
            "{why}"
        );
        let why = account_key(br#"{"kty":"OKP","crv":"Ed25519","x":"AA","d":"AA"}"#).unwrap_err();
        assert!(why.contains("OKP Ed25519"), "{why}");
        let why =
            account_key(br#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}"#).unwrap_err();
        assert!(why.contains("not a valid P-256 key"), "{why}");
        assert!(account_key(b"{").is_err());
        assert!(account_key(br#"{"kty":"EC","crv":"P-256"}"#).is_err());
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
