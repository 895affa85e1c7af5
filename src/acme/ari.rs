//! ACME Renewal Information (RFC 9773): ask the CA when a certificate should be renewed.

use std::time::Duration;

use instant_acme::CertificateIdentifier;
use rustls_pki_types::CertificateDer;

use super::{Account, AcmeError};

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
    match account.acme().renewal_info(&id).await {
        Ok((info, retry_after)) => Ok(Some(Suggestion {
            start: info.suggested_window.start.unix_timestamp(),
            end: info.suggested_window.end.unix_timestamp(),
            explanation_url: info.explanation_url,
            retry_after: whole_seconds(retry_after),
        })),
        Err(instant_acme::Error::Unsupported(_)) => Ok(None),
        Err(e) => Err(AcmeError::from_acme(
            "renewal information",
            directory_url,
            e,
        )),
    }
}

/// instant-acme turns `Retry-After: 7200` into a time and measures it again a moment later,
/// which gives 7199.99 s: round up, so the CA's whole seconds come back exact.
fn whole_seconds(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_rounded_up_to_the_whole_second() {
        assert_eq!(
            whole_seconds(Duration::from_millis(7_199_990)),
            Duration::from_secs(7200)
        );
        assert_eq!(
            whole_seconds(Duration::from_secs(60)),
            Duration::from_secs(60)
        );
        assert_eq!(whole_seconds(Duration::ZERO), Duration::ZERO);
    }
    use rcgen::{CertificateParams, IsCa, Issuer, KeyIdMethod, KeyPair, SerialNumber};

    #[test]
    fn cert_id_is_the_rfc_9773_identifier() {
        // RFC 9773 section 4.1: AKI 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4
        // and serial 0x0087654321 give "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE".
        let aki = vec![
            0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0,
            0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4,
        ];
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::default();
        ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.key_identifier_method = KeyIdMethod::PreSpecified(aki);
        let issuer = Issuer::new(ca, &ca_key);
        let mut leaf = CertificateParams::new(vec!["a.test".to_owned()]).unwrap();
        leaf.serial_number = Some(SerialNumber::from_slice(&[0x00, 0x87, 0x65, 0x43, 0x21]));
        leaf.use_authority_key_identifier_extension = true;
        let cert = leaf
            .signed_by(&KeyPair::generate().unwrap(), &issuer)
            .unwrap();
        let der = CertificateDer::from(cert.der().to_vec());
        assert_eq!(
            cert_id(&der).unwrap(),
            "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
        );
    }
}
