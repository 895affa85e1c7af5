//! `certctl list`: what the store holds, with facts read from each live certificate and what
//! renewal will do next. Also the Prometheus textfile that `renew --metrics-file` writes.

use std::fmt::Write;

use serde::Serialize;

use crate::Error;
use crate::config::Responder;
use crate::keys::KeyType;
use crate::renewal::due::{self, FailureKind, Inputs, Reason, Window};
use crate::renewal::state::{LastResult, RenewalState};
use crate::store::{CertStore, KeySlot};
use crate::verify;
use crate::verify::expiry::{self, Expiry};

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
    /// Start of validity, Unix seconds.
    pub not_before: Option<i64>,
    /// End of validity, Unix seconds (None when nothing is live or it does not parse).
    pub not_after: Option<i64>,
    /// The same, RFC 3339.
    pub not_after_rfc3339: Option<String>,
    /// Whole days left (negative once expired).
    pub days_left: Option<i64>,
    /// Expiring or not, relative to the lifetime and the ARI window (`verify::expiry`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry: Option<Expiry>,
    /// Issuer common name.
    pub issuer: Option<String>,
    /// Serial number, hex.
    pub serial: Option<String>,
    /// Path of the live full chain.
    pub fullchain: String,
    /// What renewal will do (None for certificates certctl does not renew).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewal: Option<RenewalView>,
    /// Why certctl does not renew it (installed by hand, revoked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_renewed: Option<String>,
    /// Why the live certificate could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl ListEntry {
    /// An entry that knows only its name and path, before the record and certificate are read.
    pub(crate) fn unread(name: String, fullchain: String) -> Self {
        Self {
            name,
            names: Vec::new(),
            key_type: None,
            dual: false,
            not_before: None,
            not_after: None,
            not_after_rfc3339: None,
            days_left: None,
            expiry: None,
            issuer: None,
            serial: None,
            fullchain,
            renewal: None,
            not_renewed: None,
            problem: None,
        }
    }
}

/// When a certificate renews next and how the last attempt went.
#[derive(Clone, Debug, Serialize)]
pub struct RenewalView {
    /// The next renewal time, Unix seconds (already past when due).
    pub next_renewal: i64,
    /// The same, RFC 3339.
    pub next_renewal_rfc3339: String,
    /// What chose it (`ari`, `lifetime`, `backstop`).
    pub reason: Reason,
    /// Renewal happens by then at the latest, whatever ARI says.
    pub backstop: i64,
    /// The CA's ARI window, when it offers one.
    pub ari_window: Option<Window>,
    /// Whether the CA offers ARI (None: not asked yet).
    pub ari_offered: Option<bool>,
    /// The last attempt, Unix seconds.
    pub last_attempt: Option<i64>,
    /// Its result.
    pub last_result: Option<LastResult>,
    /// Why it failed.
    pub last_error: Option<String>,
    /// How the last failure is expected to behave (`needs-attention`: it will not fix itself).
    pub failure_kind: Option<FailureKind>,
    /// Consecutive failures.
    pub failures: u32,
    /// No retry before then (backoff).
    pub next_retry: Option<i64>,
}

/// Every certificate in the store, sorted by name. `now` is Unix seconds.
pub fn list(store: &dyn CertStore, now: i64) -> Result<Vec<ListEntry>, Error> {
    let mut entries = Vec::new();
    for name in store.cert_names()? {
        let fullchain = store
            .live_paths(&name, KeySlot::Primary)
            .fullchain
            .display()
            .to_string();
        let mut entry = ListEntry::unread(name.clone(), fullchain);
        let record = match store.load_record(&name) {
            Ok(Some(record)) => record,
            Ok(None) => continue,
            Err(e) => {
                entry.problem = Some(e.to_string());
                entries.push(entry);
                continue;
            }
        };
        entry.key_type = Some(record.key_type);
        entry.dual = record.dual;
        entry.names = record.domains.clone();
        let state = store.load_state(&name).unwrap_or_default();
        let live = store.live_fullchain(&name)?;
        let leaf = live.as_deref().map(|pem| {
            verify::parse_pem_chain(pem).and_then(|chain| {
                let info = verify::cert_info(&chain[0])?;
                let id = crate::acme::ari::cert_id(&chain[0]).unwrap_or_default();
                Ok((info, id))
            })
        });
        let (info, cert_id) = match leaf {
            None => {
                entry.problem = Some("no live certificate".into());
                entries.push(entry);
                continue;
            }
            Some(Err(e)) => {
                entry.problem = Some(e.to_string());
                entries.push(entry);
                continue;
            }
            Some(Ok(found)) => found,
        };
        entry.names = info.names.clone();
        entry.not_before = Some(info.not_before);
        entry.not_after = Some(info.not_after);
        entry.not_after_rfc3339 = Some(verify::rfc3339(info.not_after));
        entry.days_left = Some((info.not_after - now).div_euclid(86_400));
        let ari_end = state
            .ari
            .as_ref()
            .filter(|a| a.cert_id == cert_id)
            .and_then(|a| a.window)
            .map(|w| w.end);
        entry.expiry = Some(expiry::assess(
            &expiry::Inputs {
                not_before: info.not_before,
                not_after: info.not_after,
                ari_end,
                warn_days: None,
            },
            now,
        ));
        entry.issuer = Some(info.issuer.clone());
        entry.serial = Some(info.serial.clone());
        if record.responder == Responder::Manual {
            entry.not_renewed = Some("installed by hand (install-cert)".into());
        } else if let Some(revoked) = &state.revoked {
            entry.not_renewed = Some(format!("revoked ({})", revoked.reason));
        } else {
            entry.renewal = Some(view(&state, &info, &cert_id, record.renew_before_days, now));
        }
        entries.push(entry);
    }
    Ok(entries)
}

fn view(
    state: &RenewalState,
    info: &verify::CertInfo,
    cert_id: &str,
    renew_before_days: Option<u32>,
    now: i64,
) -> RenewalView {
    let plan = due::plan(
        &Inputs {
            not_before: info.not_before,
            not_after: info.not_after,
            ari_time: state.ari_time(cert_id),
            days: renew_before_days,
            ..Inputs::default()
        },
        now,
    );
    let ari = state.ari.as_ref().filter(|a| a.cert_id == cert_id);
    RenewalView {
        next_renewal: plan.at,
        next_renewal_rfc3339: verify::rfc3339(plan.at),
        reason: plan.reason,
        backstop: plan.backstop,
        ari_window: ari.and_then(|a| a.window),
        ari_offered: ari.map(|a| a.offered),
        last_attempt: state.last_attempt,
        last_result: state.last_result,
        last_error: state.last_error.clone(),
        failure_kind: state
            .failure_kind
            .filter(|_| state.last_result == Some(LastResult::Failed)),
        failures: state.failures,
        next_retry: state.next_retry,
    }
}

/// The Prometheus textfile-collector text for every certificate (node_exporter's
/// `--collector.textfile.directory`).
pub fn metrics(store: &dyn CertStore, now: i64) -> Result<String, Error> {
    Ok(render_metrics(&list(store, now)?, now))
}

/// Pure rendering of [`metrics`].
pub fn render_metrics(entries: &[ListEntry], now: i64) -> String {
    let mut out = String::new();
    let mut family = |name: &str, help: &str, rows: Vec<(String, String)>| {
        crate::prometheus::gauge(&mut out, name, help, rows);
    };
    let label = |e: &ListEntry| crate::prometheus::label("name", &e.name);
    family(
        "certctl_certificate_expiry_timestamp_seconds",
        "End of validity of the live certificate.",
        entries
            .iter()
            .filter_map(|e| Some((label(e), e.not_after?.to_string())))
            .collect(),
    );
    family(
        "certctl_certificate_expiring",
        "1 when renewal is late: less than a quarter of the lifetime left, the CA's ARI window passed, or expired.",
        entries
            .iter()
            .filter_map(|e| Some((label(e), u8::from(e.expiry?.is_expiring()).to_string())))
            .collect(),
    );
    family(
        "certctl_certificate_next_renewal_timestamp_seconds",
        "When certctl renews the certificate next (past: due).",
        entries
            .iter()
            .filter_map(|e| {
                let r = e.renewal.as_ref()?;
                let reason = serde_json::to_value(r.reason).ok()?;
                Some((
                    format!("{},reason={reason}", label(e)),
                    r.next_renewal.to_string(),
                ))
            })
            .collect(),
    );
    family(
        "certctl_renewal_last_success",
        "1 when the last renewal attempt succeeded, 0 when it failed (absent before any attempt).",
        entries
            .iter()
            .filter_map(|e| {
                let result = e.renewal.as_ref()?.last_result?;
                Some((
                    label(e),
                    u8::from(result == LastResult::Renewed).to_string(),
                ))
            })
            .collect(),
    );
    family(
        "certctl_renewal_consecutive_failures",
        "Failed renewal attempts since the last success.",
        entries
            .iter()
            .filter_map(|e| Some((label(e), e.renewal.as_ref()?.failures.to_string())))
            .collect(),
    );
    let _ = writeln!(
        out,
        "# HELP certctl_renew_run_timestamp_seconds When certctl renew last ran.\n# TYPE certctl_renew_run_timestamp_seconds gauge\ncertctl_renew_run_timestamp_seconds {now}"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_have_one_series_per_certificate() {
        let mut entry = ListEntry::unread("a.test".into(), String::new());
        entry.names = vec!["a.test".into()];
        entry.key_type = Some(KeyType::EcdsaP256);
        entry.not_before = Some(100);
        entry.not_after = Some(1000);
        entry.days_left = Some(0);
        entry.expiry = Some(Expiry::Expiring {
            why: expiry::Why::Lifetime,
        });
        entry.renewal = Some(RenewalView {
            next_renewal: 700,
            next_renewal_rfc3339: String::new(),
            reason: Reason::Lifetime,
            backstop: 900,
            ari_window: None,
            ari_offered: None,
            last_attempt: Some(50),
            last_result: Some(LastResult::Failed),
            last_error: Some("boom".into()),
            failure_kind: Some(FailureKind::Transient),
            failures: 2,
            next_retry: Some(650),
        });
        let text = render_metrics(&[entry], 42);
        for line in [
            "certctl_certificate_expiry_timestamp_seconds{name=\"a.test\"} 1000",
            "certctl_certificate_next_renewal_timestamp_seconds{name=\"a.test\",reason=\"lifetime\"} 700",
            "certctl_renewal_last_success{name=\"a.test\"} 0",
            "certctl_renewal_consecutive_failures{name=\"a.test\"} 2",
            "certctl_certificate_expiring{name=\"a.test\"} 1",
            "certctl_renew_run_timestamp_seconds 42",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
