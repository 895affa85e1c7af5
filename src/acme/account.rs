//! ACME accounts: create one per CA, or restore the stored one.
//!
//! Credentials travel as opaque JSON bytes (instant-acme's `AccountCredentials`: the account URL,
//! its key as PKCS#8 and the directory) so that the store never depends on instant-acme. The key
//! is P-256 for accounts certctl registers, or RSA for accounts certbot registered: instant-acme
//! signs ES256 only, so an RSA account's requests are signed again with its key by certctl's
//! client (`acme::http`), and its key authorizations come from its own key's thumbprint.

use std::path::Path;

use instant_acme::{AccountCredentials, NewAccount, RevocationReason, RevocationRequest};
use rustls_pki_types::CertificateDer;

use super::AcmeError;
use super::http::AcmeHttp;
use super::jws::{AccountKey, AccountSigner};

/// An account at a CA: instant-acme's client for it, and its own key's thumbprint.
#[derive(Clone)]
pub struct Account {
    acme: instant_acme::Account,
    thumbprint: String,
}

impl Account {
    /// The account's URL at its CA (the `kid` of every request; what CAA's `accounturi` names).
    pub fn url(&self) -> &str {
        self.acme.id()
    }

    /// The key authorization for an HTTP-01 `token` (RFC 8555 §8.1): `TOKEN.THUMBPRINT` of the
    /// account's own key, which for an RSA account is not the key instant-acme holds.
    pub fn key_authorization(&self, token: &str) -> String {
        format!("{token}.{}", self.thumbprint)
    }

    /// instant-acme's account, for the requests it makes (orders, renewal info, revocation).
    pub(crate) fn acme(&self) -> &instant_acme::Account {
        &self.acme
    }

    /// Revokes the certificate `leaf` (DER) with `reason`.
    pub async fn revoke(
        &self,
        directory_url: &str,
        leaf: &CertificateDer<'_>,
        reason: RevocationReason,
    ) -> Result<(), AcmeError> {
        let request = RevocationRequest {
            certificate: leaf,
            reason: Some(reason),
        };
        self.acme
            .revoke(&request)
            .await
            .map_err(|e| AcmeError::from_acme("the revocation", directory_url, e))
    }
}

/// Restores an account from credentials saved by [`create`] or imported from certbot.
pub async fn restore(
    directory_url: &str,
    ca_bundle: Option<&Path>,
    credentials_json: &[u8],
) -> Result<Account, AcmeError> {
    let credentials: AccountCredentials = serde_json::from_slice(credentials_json)
        .map_err(|_| AcmeError::BadAccount(directory_url.to_owned()))?;
    let key = key_of(directory_url, &credentials)?;
    let thumbprint = thumbprint_of(directory_url, &key)?;
    let http = AcmeHttp::new(ca_bundle)?;
    let builder = |http: AcmeHttp| instant_acme::Account::builder_with_http(Box::new(http));
    let acme = match key {
        AccountKey::P256(_) => builder(http).from_credentials(credentials).await,
        AccountKey::Rsa(_) => {
            // instant-acme signs with a stand-in P-256 key; the client signs again with `key`.
            let url = url(credentials_json)
                .ok_or_else(|| AcmeError::BadAccount(directory_url.to_owned()))?;
            let (_, stand_in) =
                instant_acme::Key::generate_pkcs8().map_err(|e| AcmeError::Key(e.to_string()))?;
            builder(http.signing_as(key))
                .from_parts(url, stand_in, directory_url.to_owned())
                .await
        }
    }
    .map_err(|e| AcmeError::from_acme("the directory", directory_url, e))?;
    Ok(Account { acme, thumbprint })
}

/// The account key's JWK thumbprint (RFC 7638, SHA-256, base64url): every key authorization of
/// the account is `TOKEN.THUMBPRINT` (RFC 8555 §8.1), so a server that knows it can answer any
/// HTTP-01 challenge of the account without seeing the token first.
pub fn thumbprint(directory_url: &str, credentials_json: &[u8]) -> Result<String, AcmeError> {
    thumbprint_of(
        directory_url,
        &account_key(directory_url, credentials_json)?,
    )
}

fn thumbprint_of(directory_url: &str, key: &AccountKey) -> Result<String, AcmeError> {
    super::jws::thumbprint(&key.jwk())
        .ok_or_else(|| AcmeError::BadAccount(directory_url.to_owned()))
}

/// The account's URL at its CA (RFC 8555 §7.3: the `Location` of newAccount; what CAA's
/// `accounturi` names, RFC 8657) from stored credentials.
pub fn url(credentials_json: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(credentials_json).ok()?;
    value["id"].as_str().map(str::to_owned)
}

/// The account's key (P-256 or RSA) from stored credentials.
pub(crate) fn account_key(
    directory_url: &str,
    credentials_json: &[u8],
) -> Result<AccountKey, AcmeError> {
    let credentials: AccountCredentials = serde_json::from_slice(credentials_json)
        .map_err(|_| AcmeError::BadAccount(directory_url.to_owned()))?;
    key_of(directory_url, &credentials)
}

fn key_of(directory_url: &str, credentials: &AccountCredentials) -> Result<AccountKey, AcmeError> {
    AccountKey::from_pkcs8(credentials.private_key().secret_pkcs8_der())
        .map_err(|_| AcmeError::BadAccount(directory_url.to_owned()))
}

/// Registers a new account (P-256 key) and returns it with its credentials to store (0600).
pub async fn create(
    directory_url: &str,
    ca_bundle: Option<&Path>,
    email: Option<&str>,
) -> Result<(Account, Vec<u8>), AcmeError> {
    let contact = email.map(|e| format!("mailto:{e}"));
    let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
    let http = AcmeHttp::new(ca_bundle)?;
    let new_account = NewAccount {
        contact: &contacts,
        terms_of_service_agreed: true,
        only_return_existing: false,
    };
    // A rejected nonce means nothing was registered: ask again (with a new key, which is fine).
    let (acme, credentials) = super::order::retry_bad_nonce(async || {
        instant_acme::Account::builder_with_http(Box::new(http.clone()))
            .create(&new_account, directory_url.to_owned(), None)
            .await
    })
    .await
    .map_err(|e| AcmeError::from_acme("the new account", directory_url, e))?;
    let json = serde_json::to_vec(&credentials).map_err(|e| AcmeError::Protocol(e.to_string()))?;
    // A new account's key is instant-acme's own P-256 key: its thumbprint is the account's.
    let thumbprint = acme.key_thumbprint().to_owned();
    Ok((Account { acme, thumbprint }, json))
}

/// Checks a requested ACME profile against what the CA's directory offers (`offered`).
pub fn check_profile(
    profile: &str,
    offered: &[String],
    directory_url: &str,
) -> Result<(), AcmeError> {
    if offered.iter().any(|p| p == profile) {
        return Ok(());
    }
    Err(AcmeError::ProfileNotOffered {
        profile: profile.to_owned(),
        directory_url: directory_url.to_owned(),
        offered: offered.to_vec(),
    })
}

/// The profile names a CA's directory offers.
pub fn offered_profiles(account: &Account) -> Vec<String> {
    let mut names: Vec<String> = account.acme.profiles().map(|p| p.name.to_owned()).collect();
    names.sort();
    names
}

/// Checks an account contact address before anything is sent (RFC 8555 wants a mailto: URL).
pub fn check_email(email: &str) -> Result<(), String> {
    let valid = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    }) && !email
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | ';' | '<' | '>' | '"'))
        && !email.starts_with("mailto:");
    if valid {
        Ok(())
    } else {
        Err(format!("--email {email:?} is not a valid email address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_must_be_offered() {
        let offered = [
            "classic".to_owned(),
            "shortlived".to_owned(),
            "tlsserver".to_owned(),
        ];
        assert!(check_profile("shortlived", &offered, "u").is_ok());
        let err = check_profile("short", &offered, "u")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("offers classic, shortlived, tlsserver"),
            "{err}"
        );
        let err = check_profile("classic", &[], "u").unwrap_err().to_string();
        assert!(err.contains("offers no profiles"), "{err}");
    }

    #[test]
    fn checks_email_addresses() {
        assert!(check_email("ops@example.com").is_ok());
        for bad in [
            "",
            "ops",
            "@example.com",
            "ops@example",
            "a b@example.com",
            "mailto:a@b.c",
            "a@b.c,d@e.f",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
