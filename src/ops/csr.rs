//! `certctl csr`: a key and a CSR for a CA that certctl does not talk to (a commercial CA).

use std::path::{Path, PathBuf};

use crate::Error;
use crate::error::InputError;
use crate::keys::{KeyType, PrivateKey};
use crate::names::Identifier;

/// The files written.
#[derive(Debug, serde::Serialize)]
pub struct CsrFiles {
    /// NAME.key, 0600.
    pub key: PathBuf,
    /// NAME.csr.
    pub csr: PathBuf,
}

/// Writes `NAME.key` (0600) and `NAME.csr` into `out_dir`; refuses to overwrite either.
pub fn write_csr(
    name: &str,
    identifiers: &[Identifier],
    key_type: KeyType,
    out_dir: &Path,
) -> Result<CsrFiles, Error> {
    let key = PrivateKey::generate(key_type)?;
    let csr = key.csr_pem(identifiers)?;
    let files = CsrFiles {
        key: out_dir.join(format!("{name}.key")),
        csr: out_dir.join(format!("{name}.csr")),
    };
    for path in [&files.key, &files.csr] {
        if path.exists() {
            return Err(InputError::Exists(path.clone()).into());
        }
    }
    std::fs::create_dir_all(out_dir).map_err(crate::fsio::io("cannot create", out_dir))?;
    for (path, text, mode) in [(&files.key, key.to_pem(), 0o600), (&files.csr, csr, 0o644)] {
        crate::fsio::write_new(path, text.as_bytes(), mode)?;
    }
    Ok(files)
}
