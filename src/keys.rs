//! Certificate keys and CSRs (rcgen).
//!
//! Owns the key types certctl offers (the ones Let's Encrypt accepts) and the shape of the CSR: the
//! names as SANs only, no Common Name, no extended key usage, no Must-Staple. Pure: no I/O.

use std::fmt;
use std::str::FromStr;

use rcgen::{CertificateParams, DistinguishedName, KeyPair, PublicKeyData, SanType};
use serde::{Deserialize, Serialize};

use crate::names::Identifier;

/// A certificate key type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum KeyType {
    /// ECDSA on P-256 with SHA-256 (the default: small, fast, universally supported).
    #[default]
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    /// RSA 2048 bits.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// RSA 3072 bits.
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    /// RSA 4096 bits.
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

impl KeyType {
    /// Every key type, in the order shown to users.
    pub const ALL: [Self; 5] = [
        Self::EcdsaP256,
        Self::EcdsaP384,
        Self::Rsa2048,
        Self::Rsa3072,
        Self::Rsa4096,
    ];

    /// The name used on the command line and in renewal records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
            Self::Rsa2048 => "rsa-2048",
            Self::Rsa3072 => "rsa-3072",
            Self::Rsa4096 => "rsa-4096",
        }
    }

    /// True for the RSA types.
    pub fn is_rsa(self) -> bool {
        matches!(self, Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096)
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| KeyError::UnknownType(s.to_owned()))
    }
}

/// Errors from key generation, key loading and CSR building.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key type named on the command line or in a record is not one certctl knows.
    #[error(
        "unknown key type {0:?}; choose one of ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096"
    )]
    UnknownType(String),
    /// The crypto library failed to generate or parse a key, or to sign the CSR.
    #[error("key operation failed: {0}")]
    Crypto(#[from] rcgen::Error),
}

/// A private key for a certificate. Its `Debug` never shows key material.
pub struct PrivateKey {
    pair: KeyPair,
    key_type: KeyType,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({}, [secret key elided])", self.key_type)
    }
}

impl PrivateKey {
    /// Generates a fresh key from the OS CSPRNG.
    pub fn generate(key_type: KeyType) -> Result<Self, KeyError> {
        use rcgen::{PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_RSA_SHA256, RsaKeySize};
        let pair = match key_type {
            KeyType::EcdsaP256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?,
            KeyType::EcdsaP384 => KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384)?,
            KeyType::Rsa2048 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048)?,
            KeyType::Rsa3072 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_3072)?,
            KeyType::Rsa4096 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_4096)?,
        };
        Ok(Self { pair, key_type })
    }

    /// Loads a PKCS#8 PEM key written earlier by certctl (used by `--reuse-key`).
    pub fn from_pem(pem: &str, key_type: KeyType) -> Result<Self, KeyError> {
        use rcgen::{PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_RSA_SHA256};
        let alg = match key_type {
            KeyType::EcdsaP256 => &PKCS_ECDSA_P256_SHA256,
            KeyType::EcdsaP384 => &PKCS_ECDSA_P384_SHA384,
            _ => &PKCS_RSA_SHA256,
        };
        let pair = KeyPair::from_pem_and_sign_algo(pem, alg)?;
        Ok(Self { pair, key_type })
    }

    /// Loads a PKCS#8 PEM key of any supported type, telling the type from the key itself.
    pub fn from_pem_any(pem: &str) -> Result<Self, KeyError> {
        use rcgen::{PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384};
        let pair = KeyPair::from_pem(pem)?;
        let key_type = if pair.algorithm() == &PKCS_ECDSA_P256_SHA256 {
            KeyType::EcdsaP256
        } else if pair.algorithm() == &PKCS_ECDSA_P384_SHA384 {
            KeyType::EcdsaP384
        } else {
            // RSA: the size of the modulus, from the SubjectPublicKeyInfo.
            let spki = pair.subject_public_key_info();
            let bits = <x509_parser::x509::SubjectPublicKeyInfo as x509_parser::prelude::FromDer<
                _,
            >>::from_der(&spki)
            .ok()
            .and_then(|(_, info)| match info.parsed() {
                Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => Some(rsa.key_size()),
                _ => None,
            });
            match bits {
                Some(2048) => KeyType::Rsa2048,
                Some(3072) => KeyType::Rsa3072,
                Some(4096) => KeyType::Rsa4096,
                other => {
                    return Err(KeyError::UnknownType(format!(
                        "the stored key ({} bits)",
                        other.map_or("unknown".into(), |b| b.to_string())
                    )));
                }
            }
        };
        Self::from_pem(pem, key_type)
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The private key as PKCS#8 PEM, for the 0600 `privkey.pem`.
    pub fn to_pem(&self) -> String {
        self.pair.serialize_pem()
    }

    /// The DER SubjectPublicKeyInfo, to match against a certificate.
    pub fn public_key_spki(&self) -> Vec<u8> {
        self.pair.subject_public_key_info()
    }

    /// Builds the DER CSR for `identifiers`: SANs only, empty subject, no EKU, no Must-Staple.
    pub fn csr_der(&self, identifiers: &[Identifier]) -> Result<Vec<u8>, KeyError> {
        Ok(self.csr(identifiers)?.der().to_vec())
    }

    /// The same CSR as PEM, for a commercial CA's web form.
    pub fn csr_pem(&self, identifiers: &[Identifier]) -> Result<String, KeyError> {
        Ok(self.csr(identifiers)?.pem()?)
    }

    fn csr(
        &self,
        identifiers: &[Identifier],
    ) -> Result<rcgen::CertificateSigningRequest, KeyError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names = identifiers
            .iter()
            .map(|id| match id {
                Identifier::Dns(name) => Ok(SanType::DnsName(name.as_str().try_into()?)),
                Identifier::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            })
            .collect::<Result<_, rcgen::Error>>()?;
        Ok(params.serialize_request(&self.pair)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::*;

    #[test]
    fn key_type_names_round_trip() {
        for k in KeyType::ALL {
            assert_eq!(k.as_str().parse::<KeyType>().unwrap(), k);
        }
        assert!(matches!(
            "rsa-8192".parse::<KeyType>(),
            Err(KeyError::UnknownType(_))
        ));
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("elided"));
        assert!(!shown.contains("BEGIN"));
    }

    #[test]
    fn csr_has_sans_only_no_cn_no_eku() {
        let key = PrivateKey::generate(KeyType::EcdsaP384).unwrap();
        let ids = vec![
            Identifier::Dns("a.test".into()),
            Identifier::Ip("127.0.0.1".parse().unwrap()),
        ];
        let der = key.csr_der(&ids).unwrap();
        let (_, csr) = X509CertificationRequest::from_der(&der).unwrap();
        let info = &csr.certification_request_info;
        assert_eq!(info.subject.iter_common_name().count(), 0);
        assert_eq!(info.subject_pki.raw, key.public_key_spki().as_slice());
        let mut sans = Vec::new();
        let mut other_extensions = Vec::new();
        for ext in csr.requested_extensions().into_iter().flatten() {
            match ext {
                ParsedExtension::SubjectAlternativeName(san) => {
                    sans.extend(san.general_names.iter().map(|g| format!("{g}")))
                }
                other => other_extensions.push(format!("{other:?}")),
            }
        }
        assert_eq!(sans, vec!["DNSName(a.test)", "IPAddress(7f:00:00:01)"]);
        assert!(
            other_extensions.is_empty(),
            "unexpected extensions: {other_extensions:?}"
        );
        csr.verify_signature().unwrap();
    }

    #[test]
    fn tells_the_type_of_a_stored_key() {
        for kt in [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::Rsa2048] {
            let key = PrivateKey::generate(kt).unwrap();
            let again = PrivateKey::from_pem_any(&key.to_pem()).unwrap();
            assert_eq!(again.key_type(), kt);
            assert_eq!(again.public_key_spki(), key.public_key_spki());
        }
    }

    #[test]
    fn pem_round_trip_keeps_public_key() {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let again = PrivateKey::from_pem(&key.to_pem(), KeyType::EcdsaP256).unwrap();
        assert_eq!(key.public_key_spki(), again.public_key_spki());
    }
}
