//! Which roots certctl trusts: the system's, plus those of a `--ca-bundle` (a test or private
//! CA). One strict loader: a bundle that cannot be read, does not parse or holds no certificate
//! is an error naming the file, never silently an empty list.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// A `--ca-bundle` that cannot be used (exit 2: the user named the file).
#[derive(Debug, thiserror::Error)]
#[error("cannot use the CA bundle {path}: {reason}")]
pub struct BundleError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// The certificates of a PEM bundle file: at least one, or an error.
pub fn load_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>, BundleError> {
    let bad = |reason: String| BundleError {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".to_owned()));
    }
    Ok(certs)
}

/// The operating system's trusted roots (none when the system store cannot be read).
pub fn system_roots() -> Vec<CertificateDer<'static>> {
    rustls_native_certs::load_native_certs().certs
}

/// The system's roots plus those in `bundle`.
pub fn trusted_roots(bundle: Option<&Path>) -> Result<Vec<CertificateDer<'static>>, BundleError> {
    let mut roots = system_roots();
    if let Some(path) = bundle {
        roots.extend(load_bundle(path)?);
    }
    Ok(roots)
}

/// A verifier that checks less than a full verification: nothing about the certificate (the
/// audit keeps whatever chain a server sends and judges it later; a database link with
/// `sslmode=require` encrypts without verifying, as libpq does), or the chain but not the name
/// (`sslmode=verify-ca`). The handshake's signatures are always checked with the provider's
/// algorithms.
#[derive(Debug)]
pub struct Lenient {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
}

impl Lenient {
    /// Accepts any certificate.
    pub fn any(provider: Arc<CryptoProvider>) -> Self {
        Self {
            provider,
            chain: None,
        }
    }

    /// Accepts a certificate `chain` verifies, whatever names it carries.
    pub fn chain_only(
        provider: Arc<CryptoProvider>,
        chain: Arc<rustls::client::WebPkiServerVerifier>,
    ) -> Self {
        Self {
            provider,
            chain: Some(chain),
        }
    }
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            verified => verified,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_missing_or_empty_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        assert!(
            load_bundle(&missing)
                .unwrap_err()
                .to_string()
                .contains("nope.pem")
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = load_bundle(&empty).unwrap_err();
        assert_eq!(err.reason, "no PEM certificate in it");
        assert!(trusted_roots(Some(&empty)).is_err());
    }
}
