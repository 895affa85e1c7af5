//! `certctl install-cert`: bring your own certificate (from a commercial CA, say) into the store,
//! with the same checks an issued one gets, so `certctl nginx` can serve it.

use std::path::PathBuf;

use crate::Error;
use crate::config::{RECORD_FORMAT, RenewalRecord, Responder};
use crate::error::InputError;
use crate::keys::PrivateKey;
use crate::names;
use crate::store::{CertStore, LivePaths};
use crate::verify::{self, CertInfo};

/// The files a user brings.
#[derive(Debug)]
pub struct InstallRequest {
    /// Certificate name (live/NAME).
    pub name: String,
    /// The leaf (may already contain the chain).
    pub cert: PathBuf,
    /// Intermediates, if separate.
    pub chain: Option<PathBuf>,
    /// The private key (PKCS#8, PKCS#1 or SEC1 PEM).
    pub key: PathBuf,
}

/// What was installed.
#[derive(Debug, serde::Serialize)]
pub struct Installed {
    /// The stable paths.
    pub paths: LivePaths,
    /// Facts about the certificate.
    pub cert: CertInfo,
}

fn read(path: &PathBuf) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| InputError::unreadable(path)(e).into())
}

/// Any PEM private key OpenSSL reads (PKCS#8, PKCS#1, SEC1), normalized to PKCS#8 and loaded.
/// None when it is not a PEM private key at all.
pub(crate) fn load_any_key(pem: &[u8]) -> Option<Result<PrivateKey, crate::keys::KeyError>> {
    let pkcs8 = openssl::pkey::PKey::private_key_from_pem(pem)
        .and_then(|k| k.private_key_to_pem_pkcs8())
        .ok()?;
    Some(PrivateKey::from_pem_any(&String::from_utf8_lossy(&pkcs8)))
}

/// Checks and installs; every problem with the files is bad input (exit 2) and nothing is written.
pub fn install_cert(
    store: &dyn CertStore,
    req: &InstallRequest,
    now: i64,
) -> Result<Installed, Error> {
    let bad = |path: &PathBuf, e: &dyn std::fmt::Display| -> Error {
        InputError::bad_file(path, e).into()
    };
    let mut chain_pem = read(&req.cert)?;
    if let Some(chain) = &req.chain {
        if !chain_pem.ends_with('\n') {
            chain_pem.push('\n');
        }
        chain_pem.push_str(&read(chain)?);
    }
    // Normalize any PEM private key to PKCS#8 with OpenSSL, then load it the usual way.
    let key_pem = read(&req.key)?;
    let key = load_any_key(key_pem.as_bytes())
        .ok_or_else(|| bad(&req.key, &"is not a PEM private key"))?
        .map_err(|e| bad(&req.key, &e))?;

    let chain = verify::parse_pem_chain(chain_pem.as_bytes()).map_err(|e| bad(&req.cert, &e))?;
    let leaf = verify::cert_info(&chain[0]).map_err(|e| bad(&req.cert, &e))?;
    let identifiers = names::parse_identifiers(leaf.names.iter().map(String::as_str))
        .map_err(|e| bad(&req.cert, &format!("its names cannot be served: {e}")))?;
    let info = verify::check_issued(
        chain_pem.as_bytes(),
        &key.public_key_spki(),
        &identifiers,
        now,
    )
    .map_err(|e| bad(&req.cert, &e))?;
    let files = crate::store::CertFiles::from_chain(&chain_pem, key.to_pem())?;

    let _lock = super::locks::cert_blocking(store, &req.name, super::locks::DEFAULT_WAIT)?;
    let remembered = store.load_record(&req.name).ok().flatten();
    let remembered_nginx = remembered.as_ref().and_then(|r| r.nginx.clone());
    let reload_nginx = remembered.as_ref().and_then(|r| r.reload_nginx.clone());
    let renew_before_days = remembered.and_then(|r| r.renew_before_days);
    let record = RenewalRecord {
        format: RECORD_FORMAT,
        name: req.name.clone(),
        domains: identifiers.iter().map(|i| i.as_string()).collect(),
        key_type: key.key_type(),
        dual: false,
        profile: None,
        preferred_chain: None,
        reuse_key: true,
        server: String::new(),
        ca_bundle: None,
        email: None,
        http_port: 80,
        self_check: false,
        deploy_hook: None,
        responder: Responder::Manual,
        nginx: remembered_nginx,
        reload_nginx,
        renew_before_days,
    };
    let paths = store.install(&req.name, &files, &record)?;
    Ok(Installed { paths, cert: info })
}
