//! `certctl csr`: a key and a CSR for a CA that certctl does not talk to (a commercial CA).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::Error;
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
            return Err(Error::Usage(format!(
                "{} exists; certctl does not overwrite it",
                path.display()
            )));
        }
    }
    std::fs::create_dir_all(out_dir)
        .map_err(|e| Error::Usage(format!("cannot create {}: {e}", out_dir.display())))?;
    for (path, text, mode) in [(&files.key, key.to_pem(), 0o600), (&files.csr, csr, 0o644)] {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| Error::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(files)
}
