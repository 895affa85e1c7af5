//! `certctl fleet import`: a single server's state directory copied into the fleet's store.
//! Idempotent: a certificate or account the store already has is left as the fleet has it.
//! `certctl fleet http01-snippet`: the stateless HTTP-01 location for the fleet's account.

use crate::Error;
use crate::error::InputError;
use crate::store::{CertStore, FsStore, PgStore};

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    /// Certificates copied into the store.
    pub imported: Vec<String>,
    /// Certificates the store already had (left as they are).
    pub present: Vec<String>,
    /// ACME directories whose account was copied.
    pub accounts: Vec<String>,
}

/// Copies every certificate (all versions, record, state, live version) and the account of
/// every CA they use from `from` (this node's state directory) into `store`, then brings this
/// node in line with the fleet (`converge`), which also records what it serves.
/// Each certificate is told to `tally` as it is copied.
pub fn import(
    from: &FsStore,
    store: &PgStore,
    tally: &dyn crate::progress::Tally,
) -> Result<ImportReport, Error> {
    let mut report = ImportReport::default();
    let mut directories = Vec::new();
    let names = from.cert_names()?;
    tally.total(names.len() as u64);
    for name in names {
        if let Some(record) = from.load_record(&name)?
            && !directories.contains(&record.server)
        {
            directories.push(record.server.clone());
        }
        let imported = store.import_cert(from, &name)?;
        tally.done(&name);
        match imported {
            true => report.imported.push(name),
            false => report.present.push(name),
        }
    }
    for url in directories {
        if let Some(credentials) = from.load_account(&url)?
            && store.import_account(&url, &credentials)?
        {
            report.accounts.push(url);
        }
    }
    store.converge(&())?;
    Ok(report)
}

/// The nginx location that answers every HTTP-01 challenge of the account the store holds for
/// `directory_url`, on any node (see `nginx-snippets/acme-challenge-stateless.conf`).
pub fn http01_snippet(store: &dyn CertStore, directory_url: &str) -> Result<String, Error> {
    let credentials = store
        .load_account(directory_url)?
        .ok_or_else(|| InputError::NoAccount(directory_url.to_owned()))?;
    let thumbprint = crate::acme::account::thumbprint(directory_url, &credentials)?;
    Ok(crate::nginx::render::acme_stateless_snippet(&thumbprint))
}
