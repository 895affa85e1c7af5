//! `certctl revoke`: revoke the live certificate at its CA with an RFC 5280 reason; certctl then
//! stops renewing it until a new one is issued.

use std::str::FromStr;

use instant_acme::RevocationReason;

use crate::Error;
use crate::config::Responder;
use crate::error::{InputError, UnknownCertHint};
use crate::renewal::state::Revoked;
use crate::store::{CertStore, KeySlot};
use crate::verify;

/// The RFC 5280 reason codes (section 5.3.1), by their ASN.1 names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reason(u8);

const REASONS: [(&str, u8); 9] = [
    ("unspecified", 0),
    ("keyCompromise", 1),
    ("cACompromise", 2),
    ("affiliationChanged", 3),
    ("superseded", 4),
    ("cessationOfOperation", 5),
    ("certificateHold", 6),
    ("privilegeWithdrawn", 9),
    ("aACompromise", 10),
];

impl FromStr for Reason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        REASONS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|&(_, code)| Reason(code))
            .ok_or_else(|| {
                let names: Vec<&str> = REASONS.iter().map(|(n, _)| *n).collect();
                format!(
                    "unknown revocation reason {s:?}; use one of {}",
                    names.join(", ")
                )
            })
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = REASONS
            .iter()
            .find(|(_, c)| *c == self.0)
            .map_or("unknown", |(n, _)| n);
        f.write_str(name)
    }
}

impl Reason {
    /// A compromised key must never be reused for the next certificate.
    pub fn is_key_compromise(&self) -> bool {
        self.0 == 1
    }

    fn to_acme(self) -> RevocationReason {
        match self.0 {
            1 => RevocationReason::KeyCompromise,
            2 => RevocationReason::CaCompromise,
            3 => RevocationReason::AffiliationChanged,
            4 => RevocationReason::Superseded,
            5 => RevocationReason::CessationOfOperation,
            6 => RevocationReason::CertificateHold,
            9 => RevocationReason::PrivilegeWithdrawn,
            10 => RevocationReason::AaCompromise,
            _ => RevocationReason::Unspecified,
        }
    }
}

/// Revokes every live set of `name` (both halves of a dual certificate) and records it.
pub async fn revoke(store: &dyn CertStore, name: &str, reason: Reason) -> Result<Revoked, Error> {
    let _lock = super::locks::cert(store, name, super::locks::DEFAULT_WAIT).await?;
    let record = super::record_of(store, name, UnknownCertHint::List)?;
    if record.responder == Responder::Manual {
        return Err(InputError::RevokeManual(name.to_owned()).into());
    }
    let json = store
        .load_account(&record.server)?
        .ok_or_else(|| InputError::NoAccount(record.server.clone()))?;
    let account =
        crate::acme::account::restore(&record.server, record.ca_bundle.as_deref(), &json).await?;
    let slots: &[KeySlot] = match record.dual {
        true => &[KeySlot::Primary, KeySlot::Rsa],
        false => &[KeySlot::Primary],
    };
    let mut serial = String::new();
    for &slot in slots {
        let path = store.live_paths(name, slot).cert;
        let pem = std::fs::read(&path).map_err(crate::fsio::io("cannot read", &path))?;
        let leaf = verify::parse_pem_chain(&pem)?.remove(0);
        if serial.is_empty() {
            serial = verify::cert_info(&leaf)?.serial;
        }
        account
            .revoke(&record.server, &leaf, reason.to_acme())
            .await?;
    }
    let revoked = Revoked {
        at: crate::clock::unix_now(),
        serial,
        reason: reason.to_string(),
    };
    let mut state = store.load_state(name)?;
    state.revoked = Some(revoked.clone());
    store.save_state(name, &state)?;
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc5280_reason_names() {
        let r: Reason = "keyCompromise".parse().unwrap();
        assert!(r.is_key_compromise());
        assert_eq!(r.to_string(), "keyCompromise");
        assert_eq!(
            "superseded".parse::<Reason>().unwrap().to_string(),
            "superseded"
        );
        let err = "stolen".parse::<Reason>().unwrap_err();
        assert!(err.contains("keyCompromise"), "{err}");
    }
}
