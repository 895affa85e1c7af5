//! `certctl verify`: check a managed certificate (or any certificate files) the way a monitoring
//! system wants: chain order and links, trust, key match, names, validity.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::Error;
use crate::error::{InputError, UnknownCertHint};
use crate::finding::Severity;
use crate::store::{CertStore, KeySlot};
use crate::verify::CertInfo;
use crate::verify::report::{self, Finding, Inputs};

/// What to verify.
#[derive(Debug)]
pub enum Target {
    /// A certificate in the store (live files, record names).
    Name(String),
    /// Files: the certificate (maybe with its chain), a separate chain, the key.
    Files {
        /// Certificate PEM (leaf first).
        cert: PathBuf,
        /// Intermediates PEM.
        chain: Option<PathBuf>,
        /// Private key PEM (any format OpenSSL reads).
        key: Option<PathBuf>,
    },
}

/// The request.
#[derive(Debug)]
pub struct VerifyRequest {
    /// What.
    pub target: Target,
    /// Extra trusted roots (besides the system store and, for a name, its record's bundle).
    pub ca_bundle: Option<PathBuf>,
    /// A host name the certificate must cover.
    pub hostname: Option<String>,
    /// Warn when fewer than this many days remain; None: relative to the certificate's
    /// lifetime and its ARI window (`verify::expiry`).
    pub warn_days: Option<u32>,
}

fn status_word<S: serde::Serializer>(severity: &Severity, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(report::monitoring_word(*severity))
}

/// The report.
#[derive(Debug, Serialize)]
pub struct VerifyOutcome {
    /// The worst finding (JSON: ok, warning or critical, as monitoring systems say).
    #[serde(serialize_with = "status_word")]
    pub status: Severity,
    /// Every finding.
    pub findings: Vec<Finding>,
    /// The certificate, when it parsed.
    pub cert: Option<CertInfo>,
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    Ok(std::fs::read(path).map_err(InputError::unreadable(path))?)
}

/// The public key of a PEM private key in any format OpenSSL reads.
fn key_spki(pem: &[u8], path: &Path) -> Result<Vec<u8>, Error> {
    let key = super::install::load_any_key(pem)
        .ok_or_else(|| InputError::bad_file(path, "is not a PEM private key"))??;
    Ok(key.public_key_spki())
}

/// The end of the ARI window stored for the certificate in `pem`, if the CA gave one for it.
fn ari_end(store: &dyn CertStore, name: &str, pem: &[u8]) -> Option<i64> {
    let chain = crate::verify::parse_pem_chain(pem).ok()?;
    let id = crate::acme::ari::cert_id(chain.first()?).ok()?;
    let ari = store.load_state(name).ok()?.ari?;
    (ari.cert_id == id).then_some(ari.window?.end)
}

/// Runs the checks. Unreadable input is an error (exit 2); what is wrong with readable input is
/// a finding.
pub fn verify(
    store: &dyn CertStore,
    req: &VerifyRequest,
    now: i64,
) -> Result<VerifyOutcome, Error> {
    let mut roots = crate::trust::trusted_roots(req.ca_bundle.as_deref())?;
    let hostname = req.hostname.as_deref();
    let (findings, cert) = match &req.target {
        Target::Files { cert, chain, key } => {
            let mut pem = read(cert)?;
            if let Some(chain) = chain {
                pem.push(b'\n');
                pem.extend(read(chain)?);
            }
            let spki = key.as_deref().map(|k| key_spki(&read(k)?, k)).transpose()?;
            report::report(&Inputs {
                chain_pem: &pem,
                key_spki: spki.as_deref(),
                roots: &roots,
                names: None,
                hostname,
                now,
                warn_days: req.warn_days,
                ari_end: None,
            })
        }
        Target::Name(name) => {
            let record = super::record_of(store, name, UnknownCertHint::List)?;
            if let Some(bundle) = &record.ca_bundle {
                roots.extend(crate::trust::load_bundle(bundle)?);
            }
            let slots: &[KeySlot] = match record.dual {
                true => &[KeySlot::Primary, KeySlot::Rsa],
                false => &[KeySlot::Primary],
            };
            let mut all = Vec::new();
            let mut first = None;
            for &slot in slots {
                let paths = store.live_paths(name, slot);
                let pem = read(&paths.fullchain)?;
                let spki = key_spki(&read(&paths.privkey)?, &paths.privkey)?;
                // The stored ARI window, when it belongs to this (the primary) certificate.
                let ari_end = match slot {
                    KeySlot::Primary => ari_end(store, name, &pem),
                    _ => None,
                };
                let (mut findings, info) = report::report(&Inputs {
                    chain_pem: &pem,
                    key_spki: Some(&spki),
                    roots: &roots,
                    names: Some(&record.domains),
                    hostname,
                    now,
                    warn_days: req.warn_days,
                    ari_end,
                });
                if slot == KeySlot::Rsa {
                    for f in &mut findings {
                        f.check = format!("rsa {}", f.check);
                    }
                }
                all.extend(findings);
                first = first.or(info);
            }
            (all, first)
        }
    };
    Ok(VerifyOutcome {
        status: report::worst(&findings),
        findings,
        cert,
    })
}
