//! An account's key rolled over (RFC 8555 section 7.3.5) from RSA, the key certbot registers
//! accounts with, to a new P-256 key, the only kind instant-acme signs with. The account keeps
//! its URL (so CAA `accounturi` and the CA's rate limits still see the same account) and the old
//! key stops working at the CA. Three exchanges (directory, nonce, keyChange; again on a
//! rejected nonce), each with the client's deadline and all together within
//! [`ROLLOVER_DEADLINE`]. The JWS is built by `jws`.

use std::path::Path;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;

use super::AcmeError;
use super::jws::{self, AccountSigner, P256Signer, RsaSigner};
use super::signed::SignedClient;

/// The whole rollover, every exchange and retry included.
pub const ROLLOVER_DEADLINE: Duration = Duration::from_secs(45);

const DURING: &str = "the account key rollover";

/// Rolls the account at `account_url` over from the RSA key `old_pkcs8` to a new P-256 key, and
/// returns the new key (PKCS#8 DER) once the CA took it.
pub async fn roll_over(
    directory_url: &str,
    ca_bundle: Option<&Path>,
    account_url: &str,
    old_pkcs8: &[u8],
) -> Result<Vec<u8>, AcmeError> {
    let key_error = |e: jws::JwsError| AcmeError::Key(e.to_string());
    let old = RsaSigner::from_pkcs8(old_pkcs8).map_err(key_error)?;
    let rng = SystemRandom::new();
    let new = P256Signer::generate(&rng).map_err(key_error)?;
    let exchange = async {
        let mut client = SignedClient::new(directory_url, ca_bundle, DURING).await?;
        let url = client
            .endpoint("keyChange")
            .ok_or_else(|| AcmeError::NoKeyChange(directory_url.to_owned()))?;
        let (_, body) = client
            .post(&url, |nonce| {
                jws::key_change(&old, &new, &rng, account_url, &url, nonce)
            })
            .await?;
        // A CA that shows the account's key must show the new one.
        let shown = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|account| jws::thumbprint(&account["key"]));
        if shown.is_some_and(|t| Some(t) != jws::thumbprint(&new.jwk())) {
            return Err(AcmeError::Protocol(
                "the CA accepted the key rollover but shows another key for the account".into(),
            ));
        }
        Ok(new.pkcs8().to_vec())
    };
    tokio::time::timeout(ROLLOVER_DEADLINE, exchange)
        .await
        .unwrap_or(Err(AcmeError::Timeout(DURING)))
}
