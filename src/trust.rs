//! Which roots certctl trusts: the system's, plus those of a `--ca-bundle` (a test or private
//! CA). One strict loader: a bundle that cannot be read, does not parse or holds no certificate
//! is an error naming the file, never silently an empty list.

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

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
