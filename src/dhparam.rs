//! Diffie-Hellman parameters for nginx's `ssl_dhparam`.
//!
//! The RFC 7919 groups ship with certctl (the same ffdhe2048 Mozilla and certbot ship): writing
//! them is instant, and a freshly generated group buys no security. `--generate` makes a new
//! group with OpenSSL for those who insist. Mozilla's current profiles use no DHE suites at all.

use std::path::Path;

/// RFC 7919 ffdhe2048, PEM.
pub const FFDHE2048: &str = include_str!("../nginx-snippets/ffdhe2048.pem");
/// RFC 7919 ffdhe3072, PEM.
pub const FFDHE3072: &str = include_str!("../nginx-snippets/ffdhe3072.pem");

/// Errors from dhparam handling.
#[derive(Debug, thiserror::Error)]
pub enum DhError {
    /// Bad size or file (exit 2).
    #[error("{0}")]
    Invalid(String),
    /// OpenSSL failed.
    #[error("OpenSSL failed: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
    /// File trouble.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The shipped RFC 7919 group of `bits` (2048 or 3072).
pub fn rfc7919(bits: u32) -> Result<&'static str, DhError> {
    match bits {
        2048 => Ok(FFDHE2048),
        3072 => Ok(FFDHE3072),
        other => Err(DhError::Invalid(format!(
            "certctl ships RFC 7919 groups of 2048 and 3072 bits, not {other}; use --generate for other sizes"
        ))),
    }
}

/// Generates a new group of `bits` with OpenSSL (generator 2), PEM.
pub fn generate(bits: u32) -> Result<String, DhError> {
    if !(2048..=8192).contains(&bits) {
        return Err(DhError::Invalid(format!(
            "--bits {bits}: use 2048 to 8192 (below 2048 is weak; SSL Labs caps such servers at B)"
        )));
    }
    let dh = openssl::dh::Dh::generate_params(bits, 2)?;
    Ok(String::from_utf8_lossy(&dh.params_to_pem()?).into_owned())
}

/// The size in bits of the prime in a PEM `DH PARAMETERS` block.
pub fn prime_bits(pem: &str) -> Result<i32, DhError> {
    let dh = openssl::dh::Dh::params_from_pem(pem.as_bytes())?;
    Ok(dh.prime_p().num_bits())
}

/// Writes `pem` to `path` (0644, atomically: see [`crate::fsio`]).
pub fn write(path: &Path, pem: &str) -> Result<(), DhError> {
    crate::fsio::write_atomic(path, pem.as_bytes(), 0o644).map_err(|e| DhError::Io {
        path: path.to_owned(),
        source: e.source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ships_the_rfc7919_groups() {
        assert_eq!(prime_bits(rfc7919(2048).unwrap()).unwrap(), 2048);
        assert_eq!(prime_bits(rfc7919(3072).unwrap()).unwrap(), 3072);
        // RFC 7919 primes start and end with 64 one bits; ffdhe2048's first digits are known.
        let dh = openssl::dh::Dh::params_from_pem(FFDHE2048.as_bytes()).unwrap();
        let hex = dh.prime_p().to_hex_str().unwrap().to_string();
        assert!(
            hex.starts_with("FFFFFFFFFFFFFFFFADF85458A2BB4A9AAFDC5620273D3CF1"),
            "{hex}"
        );
        assert!(hex.ends_with("FFFFFFFFFFFFFFFF"));
        assert!(rfc7919(1024).is_err());
    }

    #[test]
    fn refuses_weak_generation() {
        assert!(matches!(generate(1024), Err(DhError::Invalid(_))));
    }
}
