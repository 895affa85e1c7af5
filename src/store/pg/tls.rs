//! TLS to the fleet's database, as libpq reads `sslmode` and `sslrootcert` in the `--store`
//! URL, so a URL that works with psql works with certctl:
//!
//! - `disable`: plain TCP.
//! - `prefer` (the default) and `require`: TLS when the server offers it (`require`: always),
//!   the server's certificate not checked; with `sslrootcert`, checked as `verify-ca`.
//! - `verify-ca`: TLS, the chain checked against `sslrootcert` (or the system's roots).
//! - `verify-full`: as `verify-ca`, and the certificate must name the host connected to.
//!
//! `sslrootcert=system` is the system's roots and implies `verify-full`, as in libpq 16.
//! tokio-postgres knows only disable/prefer/require; certctl takes the two parameters out of the
//! URL and builds the rustls verifier itself.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use tokio_postgres::config::SslMode;

use crate::store::StoreError;

/// How the link to the database is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No TLS.
    Disable,
    /// TLS if the server offers it, unverified.
    Prefer,
    /// TLS, unverified.
    Require,
    /// TLS, the chain verified.
    VerifyCa,
    /// TLS, the chain and the host name verified.
    VerifyFull,
}

/// Where the roots for verification come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Roots {
    /// The operating system's.
    System,
    /// A PEM file.
    File(PathBuf),
}

/// The URL as tokio-postgres reads it, and certctl's TLS settings taken out of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// The URL without `sslmode` and `sslrootcert`.
    pub url: String,
    /// The effective mode (libpq's rules applied).
    pub mode: Mode,
    /// The roots, for the verifying modes.
    pub roots: Option<Roots>,
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL and applies libpq's rules.
/// Pure. Other URL forms are passed on as they are (tokio-postgres reads their `sslmode`).
pub fn split(url: &str) -> Result<Split, StoreError> {
    let bad = |why: String| StoreError::BadUrl(why);
    let (base, query) = match url.split_once('?') {
        Some((base, query))
            if url.starts_with("postgres://") || url.starts_with("postgresql://") =>
        {
            (base, query)
        }
        _ => {
            return Ok(Split {
                url: url.to_owned(),
                mode: Mode::Prefer,
                roots: None,
            });
        }
    };
    let (mut mode, mut roots) = (None, None);
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| bad(format!("{key}: not UTF-8")))?;
        match key {
            "sslmode" => {
                mode = Some(match &*value {
                    "disable" => Mode::Disable,
                    "prefer" => Mode::Prefer,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    // libpq's `allow` tries plain first; certctl never downgrades by itself.
                    other => {
                        return Err(bad(format!(
                            "sslmode={other}: give disable, prefer, require, verify-ca or verify-full"
                        )));
                    }
                })
            }
            "sslrootcert" if value.is_empty() => {
                return Err(bad("sslrootcert is empty".into()));
            }
            "sslrootcert" if value == "system" => roots = Some(Roots::System),
            "sslrootcert" => roots = Some(Roots::File(PathBuf::from(&*value))),
            _ => kept.push(pair),
        }
    }
    let mode = match (mode, &roots) {
        (Some(Mode::Disable), Some(_)) => {
            return Err(bad("sslrootcert with sslmode=disable".into()));
        }
        // libpq 16: the system's roots make sense only with the host name checked.
        (Some(m), Some(Roots::System)) if m != Mode::VerifyFull => {
            return Err(bad(
                "sslrootcert=system needs sslmode=verify-full (or no sslmode)".into(),
            ));
        }
        (None, Some(Roots::System)) => Mode::VerifyFull,
        // libpq: with a root certificate file, require (and prefer) verify the chain.
        (None | Some(Mode::Prefer) | Some(Mode::Require), Some(Roots::File(_))) => Mode::VerifyCa,
        (m, _) => m.unwrap_or(Mode::Prefer),
    };
    let roots = match mode {
        Mode::VerifyCa | Mode::VerifyFull => Some(roots.unwrap_or(Roots::System)),
        _ => None,
    };
    let url = match kept.is_empty() {
        true => base.to_owned(),
        false => format!("{base}?{}", kept.join("&")),
    };
    Ok(Split { url, mode, roots })
}

/// tokio-postgres's mode for `mode`: it only needs to know whether TLS is required.
pub fn ssl_mode(mode: Mode) -> SslMode {
    match mode {
        Mode::Disable => SslMode::Disable,
        Mode::Prefer => SslMode::Prefer,
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
    }
}

/// The connector for `split`: reads `sslrootcert` (a missing or empty file is a bad `--store`).
pub fn connector(split: &Split) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match &split.roots {
        None => Arc::new(crate::trust::Lenient::any(provider.clone())),
        Some(roots) => {
            let certs = match roots {
                Roots::System => crate::trust::system_roots(),
                Roots::File(path) => crate::trust::load_bundle(path)
                    .map_err(|e| StoreError::BadUrl(format!("sslrootcert: {e}")))?,
            };
            let mut store = rustls::RootCertStore::empty();
            store.add_parsable_certificates(certs);
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                    .build()
                    .map_err(|e| StoreError::BadUrl(format!("sslrootcert: {e}")))?;
            match split.mode {
                Mode::VerifyFull => webpki,
                _ => Arc::new(crate::trust::Lenient::chain_only(provider.clone(), webpki)),
            }
        }
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::BadUrl(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The URL's tokio-postgres config and its connector.
pub fn parse(
    url: &str,
) -> Result<
    (
        tokio_postgres::Config,
        tokio_postgres_rustls::MakeRustlsConnect,
    ),
    StoreError,
> {
    let split = split(url)?;
    let mut config = tokio_postgres::Config::from_str(&split.url)
        .map_err(|e| StoreError::BadUrl(e.to_string()))?;
    if split.url.starts_with("postgres") {
        config.ssl_mode(ssl_mode(split.mode));
    }
    Ok((config, connector(&split)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> Split {
        split(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn libpq_rules_for_sslmode_and_sslrootcert() {
        let base = "postgres://certctl@db.internal/certctl";
        for (query, mode, roots) in [
            ("", Mode::Prefer, None),
            ("?sslmode=disable", Mode::Disable, None),
            ("?sslmode=require", Mode::Require, None),
            ("?sslmode=verify-ca", Mode::VerifyCa, Some(Roots::System)),
            (
                "?sslmode=verify-full",
                Mode::VerifyFull,
                Some(Roots::System),
            ),
            (
                "?sslmode=require&sslrootcert=/etc/ca.pem",
                Mode::VerifyCa,
                Some(Roots::File("/etc/ca.pem".into())),
            ),
            (
                "?sslrootcert=%2Fetc%2Fca.pem",
                Mode::VerifyCa,
                Some(Roots::File("/etc/ca.pem".into())),
            ),
            (
                "?sslmode=verify-full&sslrootcert=/etc/ca.pem",
                Mode::VerifyFull,
                Some(Roots::File("/etc/ca.pem".into())),
            ),
            ("?sslrootcert=system", Mode::VerifyFull, Some(Roots::System)),
        ] {
            let s = ok(&format!("{base}{query}"));
            assert_eq!((s.mode, s.roots), (mode, roots), "{query}");
            assert_eq!(s.url, base, "{query}");
        }
        // Other parameters stay, in order, for tokio-postgres.
        let s = ok(&format!(
            "{base}?connect_timeout=3&sslmode=verify-full&application_name=x"
        ));
        assert_eq!(
            s.url,
            format!("{base}?connect_timeout=3&application_name=x")
        );
        // key=value strings go to tokio-postgres as they are.
        let kv = "host=127.0.0.1 user=certctl sslmode=require";
        assert_eq!(ok(kv).url, kv);
    }

    #[test]
    fn contradictions_and_unknown_modes_are_refused() {
        let base = "postgres://certctl@db.internal/certctl";
        for query in [
            "?sslmode=allow",
            "?sslmode=verify",
            "?sslmode=disable&sslrootcert=/etc/ca.pem",
            "?sslmode=require&sslrootcert=system",
            "?sslrootcert=",
        ] {
            let e = split(&format!("{base}{query}")).unwrap_err();
            assert!(matches!(e, StoreError::BadUrl(_)), "{query}: {e}");
        }
    }
}
