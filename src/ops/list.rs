//! `certctl list`: what the store holds, with facts read from each live certificate.

use serde::Serialize;

use crate::Error;
use crate::keys::KeyType;
use crate::store::{CertStore, KeySlot};
use crate::verify;

/// One row of `certctl list`.
#[derive(Clone, Debug, Serialize)]
pub struct ListEntry {
    /// Certificate name.
    pub name: String,
    /// Names on the live certificate (or, if none is live, the names asked for).
    pub names: Vec<String>,
    /// Key type from the renewal record (None when the record is damaged).
    pub key_type: Option<KeyType>,
    /// An RSA 2048 set is kept alongside (`--dual`).
    pub dual: bool,
    /// End of validity, Unix seconds (None when nothing is live or it does not parse).
    pub not_after: Option<i64>,
    /// The same, RFC 3339.
    pub not_after_rfc3339: Option<String>,
    /// Whole days left (negative once expired).
    pub days_left: Option<i64>,
    /// Issuer common name.
    pub issuer: Option<String>,
    /// Serial number, hex.
    pub serial: Option<String>,
    /// Path of the live full chain.
    pub fullchain: String,
    /// Why the live certificate could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Every certificate in the store, sorted by name. `now` is Unix seconds.
pub fn list(store: &dyn CertStore, now: i64) -> Result<Vec<ListEntry>, Error> {
    let mut entries = Vec::new();
    for name in store.cert_names()? {
        let record = match store.load_record(&name) {
            Ok(Some(record)) => record,
            Ok(None) => continue,
            Err(e) => {
                entries.push(ListEntry {
                    fullchain: store
                        .live_paths(&name, KeySlot::Primary)
                        .fullchain
                        .display()
                        .to_string(),
                    name,
                    names: Vec::new(),
                    key_type: None,
                    dual: false,
                    not_after: None,
                    not_after_rfc3339: None,
                    days_left: None,
                    issuer: None,
                    serial: None,
                    problem: Some(e.to_string()),
                });
                continue;
            }
        };
        let fullchain = store
            .live_paths(&name, KeySlot::Primary)
            .fullchain
            .display()
            .to_string();
        let info = match store.live_fullchain(&name)? {
            None => Err("no live certificate".to_owned()),
            Some(pem) => verify::parse_pem_chain(&pem)
                .and_then(|chain| verify::cert_info(&chain[0]))
                .map_err(|e| e.to_string()),
        };
        let entry = match info {
            Ok(info) => ListEntry {
                name,
                names: info.names,
                key_type: Some(record.key_type),
                dual: record.dual,
                not_after: Some(info.not_after),
                not_after_rfc3339: Some(verify::rfc3339(info.not_after)),
                days_left: Some((info.not_after - now).div_euclid(86_400)),
                issuer: Some(info.issuer),
                serial: Some(info.serial),
                fullchain,
                problem: None,
            },
            Err(problem) => ListEntry {
                name,
                names: record.domains,
                key_type: Some(record.key_type),
                dual: record.dual,
                not_after: None,
                not_after_rfc3339: None,
                days_left: None,
                issuer: None,
                serial: None,
                fullchain,
                problem: Some(problem),
            },
        };
        entries.push(entry);
    }
    Ok(entries)
}
