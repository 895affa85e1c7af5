//! An account's key rolled over (RFC 8555 section 7.3.5) from RSA, the key certbot registers
//! accounts with, to a new P-256 key, the only kind instant-acme signs with. The account keeps
//! its URL (so CAA `accounturi` and the CA's rate limits still see the same account) and the old
//! key stops working at the CA. Three exchanges (directory, nonce, keyChange; again on a
//! rejected nonce) each have the client's deadline and all together [`ROLLOVER_DEADLINE`].
//! When the keyChange's answer is lost (the connection broke, or its deadline passed), the CA
//! may have taken the new key anyway: a fourth request, the account fetched with the new key,
//! decides, so a key the CA holds is not thrown away. The JWS is built by `jws`.

use std::path::Path;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;

use super::AcmeError;
use super::jws::{self, AccountSigner, KeyRef, P256Signer, RsaSigner};
use super::signed::SignedClient;

/// The whole rollover, every exchange and retry included.
pub const ROLLOVER_DEADLINE: Duration = Duration::from_secs(75);

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
        let posted = client
            .post(&url, |nonce| {
                jws::key_change(&old, &new, &rng, account_url, &url, nonce)
            })
            .await;
        match posted {
            Ok((_, body)) => check_key(&body, &new)?,
            // The answer was lost: whether the CA took the key is for the account to say.
            Err(lost @ (AcmeError::Unreachable { .. } | AcmeError::Timeout(_))) => {
                holds_key(&mut client, &new, &rng, account_url)
                    .await
                    .map_err(|_| lost)?
            }
            Err(refused) => return Err(refused),
        }
        Ok(new.pkcs8().to_vec())
    };
    tokio::time::timeout(ROLLOVER_DEADLINE, exchange)
        .await
        .unwrap_or(Err(AcmeError::Timeout(DURING)))
}

/// Fetches the account (POST-as-GET) signed with `key`: it succeeds only when the CA holds that
/// key for the account.
async fn holds_key(
    client: &mut SignedClient,
    key: &P256Signer,
    rng: &SystemRandom,
    account_url: &str,
) -> Result<(), AcmeError> {
    let (_, body) = client
        .post(account_url, |nonce| {
            let kid = KeyRef::Kid(account_url);
            jws::sign(key, rng, kid, Some(nonce), account_url, b"")
                .map(|j| j.to_string().into_bytes())
        })
        .await?;
    check_key(&body, key)
}

/// A CA that shows the account's key (in the account object `body`) must show `key`.
fn check_key(body: &[u8], key: &P256Signer) -> Result<(), AcmeError> {
    let shown = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|account| jws::thumbprint(&account["key"]));
    if shown.is_some_and(|t| Some(t) != jws::thumbprint(&key.jwk())) {
        return Err(AcmeError::Protocol(
            "the CA accepted the key rollover but shows another key for the account".into(),
        ));
    }
    Ok(())
}
