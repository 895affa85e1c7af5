//! ACME Renewal Information (RFC 9773): ask the CA when a certificate should be renewed.

use std::time::Duration;

use instant_acme::{Account, CertificateIdentifier};
use rustls_pki_types::CertificateDer;

use super::AcmeError;

/// The CA's answer for one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suggestion {
    /// Window start, Unix seconds.
    pub start: i64,
    /// Window end, Unix seconds.
    pub end: i64,
    /// Why the window is what it is, when the CA says.
    pub explanation_url: Option<String>,
    /// When to ask again (the CA's Retry-After).
    pub retry_after: Duration,
}

/// The ARI identifier of a certificate: `base64url(AKI keyIdentifier).base64url(serial)`.
pub fn cert_id(leaf: &CertificateDer<'_>) -> Result<String, String> {
    CertificateIdentifier::try_from(leaf).map(|id| id.to_string())
}

/// The CA's suggested window for `leaf`, or None when its directory offers no renewalInfo
/// (then nothing is sent).
pub async fn suggestion(
    account: &Account,
    directory_url: &str,
    leaf: &CertificateDer<'_>,
) -> Result<Option<Suggestion>, AcmeError> {
    let id = CertificateIdentifier::try_from(leaf).map_err(AcmeError::Protocol)?;
    match account.renewal_info(&id).await {
        Ok((info, retry_after)) => Ok(Some(Suggestion {
            start: info.suggested_window.start.unix_timestamp(),
            end: info.suggested_window.end.unix_timestamp(),
            explanation_url: info.explanation_url,
            retry_after,
        })),
        Err(instant_acme::Error::Unsupported(_)) => Ok(None),
        Err(e) => Err(AcmeError::from_acme(
            "renewal information",
            directory_url,
            e,
        )),
    }
}
