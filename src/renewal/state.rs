//! What renewal remembers between runs, per certificate (`certs/NAME/state.json`): the last
//! attempt and its result, the failure count that drives the backoff, the ARI window and the
//! time chosen in it, and whether the certificate was revoked. Machine-written; pure data.

use serde::{Deserialize, Serialize};

use super::due::{FailureKind, Window};

/// See the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RenewalState {
    /// The last renewal attempt, Unix seconds.
    pub last_attempt: Option<i64>,
    /// The last attempt that put a new certificate live.
    pub last_success: Option<i64>,
    /// The last attempt's result.
    pub last_result: Option<LastResult>,
    /// Why the last attempt failed (one line).
    pub last_error: Option<String>,
    /// How that failure is expected to behave.
    pub failure_kind: Option<FailureKind>,
    /// Consecutive failures (0 after a success).
    pub failures: u32,
    /// No retry before this time (backoff), Unix seconds.
    pub next_retry: Option<i64>,
    /// What the CA said about renewal timing.
    pub ari: Option<AriState>,
    /// Set by `certctl revoke`: the certificate is no longer renewed.
    pub revoked: Option<Revoked>,
    /// The archive version that was last deployed (nginx reloaded and checked, hooks run). A live
    /// version that differs was installed by a run that stopped before deploying it.
    pub deployed_version: Option<u64>,
    /// What the not-due decision needs from the live leaf and the record, cached so a run over
    /// thousands of certificates need not parse every one (see [`LiveFacts`]).
    pub live: Option<LiveFacts>,
}

/// Identifies one content of a file without reading it (device, inode, size, modification
/// time). Files are replaced by renaming new ones over them, so another content has another
/// stamp; facts keyed by a stamp taken before the read can only be stale towards rejection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
}

/// Facts about one live version and the record, valid only for that version number (archive
/// versions never change, and the store never reuses a number this names) and that record
/// stamp. A cache: anything else means reading the files again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveFacts {
    /// The archive version the leaf facts come from.
    pub version: u64,
    /// The record's stamp when `manual` was read.
    pub record: Stamp,
    /// The record's responder is manual (install-cert).
    pub manual: bool,
    /// The record's `renew_before_days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_before_days: Option<u32>,
    /// The leaf's serial, lower-case hex.
    pub serial: String,
    /// The leaf's validity start, Unix seconds.
    pub not_before: i64,
    /// The leaf's expiry, Unix seconds.
    pub not_after: i64,
    /// The leaf's ARI identifier.
    pub cert_id: String,
}

/// Outcome of the last attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LastResult {
    /// A new certificate went live.
    Renewed,
    /// It failed; the live certificate was kept.
    Failed,
}

/// ACME Renewal Information for the live certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AriState {
    /// The ARI certificate identifier (`base64url(AKI).base64url(serial)`) this applies to.
    pub cert_id: String,
    /// The CA's directory offers renewalInfo.
    pub offered: bool,
    /// When it was last asked, Unix seconds.
    pub checked_at: i64,
    /// When to ask again (the CA's Retry-After, at most 12 hours away).
    pub next_check: i64,
    /// The suggested window, when offered.
    pub window: Option<Window>,
    /// The time chosen inside the window (kept while the window stays the same).
    pub chosen: Option<i64>,
    /// The CA's explanation, when the window moved for a reason.
    pub explanation_url: Option<String>,
}

/// ARI is re-checked at least this often (seconds).
pub const ARI_RECHECK: i64 = 12 * 3600;

/// What the CA answered when asked for renewal information.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AriAnswer {
    /// A suggested window.
    Window {
        /// The window.
        window: Window,
        /// Ask again after this many seconds (the CA's Retry-After).
        retry_after: i64,
        /// Why the window is what it is, when the CA says.
        explanation_url: Option<String>,
    },
    /// The CA's directory offers no renewalInfo.
    NotOffered,
}

impl AriState {
    /// The state after asking the CA about certificate `cert_id` at `now`. `random` (0..1) picks
    /// the time inside a new window; the time once chosen stays while the window does, since
    /// drawing again at every check would drift renewals towards the window's start.
    pub fn from_answer(
        cert_id: String,
        answer: AriAnswer,
        previous: Option<&AriState>,
        now: i64,
        random: f64,
    ) -> Self {
        match answer {
            AriAnswer::Window {
                window,
                retry_after,
                explanation_url,
            } => {
                let chosen = previous
                    .filter(|p| p.cert_id == cert_id && p.window == Some(window))
                    .and_then(|p| p.chosen)
                    .unwrap_or_else(|| window.pick(random));
                Self {
                    cert_id,
                    offered: true,
                    checked_at: now,
                    // Ask again when the CA says, but at least every 12 hours.
                    next_check: now + retry_after.clamp(60, ARI_RECHECK),
                    window: Some(window),
                    chosen: Some(chosen),
                    explanation_url,
                }
            }
            // A CA without ARI is asked again weekly whether it has started to offer it.
            AriAnswer::NotOffered => Self {
                cert_id,
                offered: false,
                checked_at: now,
                next_check: now + 7 * 86_400,
                window: None,
                chosen: None,
                explanation_url: None,
            },
        }
    }
}

/// A revocation done through certctl.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoked {
    /// When, Unix seconds.
    pub at: i64,
    /// Serial of the revoked certificate.
    pub serial: String,
    /// The RFC 5280 reason given.
    pub reason: String,
}

impl RenewalState {
    /// Parses state.json.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }

    /// The cached facts, when they belong to live version `version` and the record stamped
    /// `record`.
    pub fn live_facts(&self, version: Option<u64>, record: Option<Stamp>) -> Option<&LiveFacts> {
        let (version, record) = (version?, record?);
        self.live
            .as_ref()
            .filter(|f| f.version == version && f.record == record)
    }

    /// Renders state.json.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("state serializes") + "\n"
    }

    /// The ARI time for the certificate with identifier `cert_id`, when the CA gave a window for it.
    pub fn ari_time(&self, cert_id: &str) -> Option<i64> {
        self.ari
            .as_ref()
            .filter(|a| a.cert_id == cert_id)
            .and_then(|a| a.chosen)
    }

    /// Records a success: the failure count and backoff reset.
    pub fn succeeded(&mut self, at: i64) {
        self.last_attempt = Some(at);
        self.last_success = Some(at);
        self.last_result = Some(LastResult::Renewed);
        self.last_error = None;
        self.failure_kind = None;
        self.failures = 0;
        self.next_retry = None;
        self.ari = None;
        self.revoked = None;
    }

    /// Records a failure and sets the next retry time.
    pub fn failed(&mut self, at: i64, error: String, kind: FailureKind, retry_after: Option<i64>) {
        self.last_attempt = Some(at);
        self.last_result = Some(LastResult::Failed);
        self.last_error = Some(error);
        self.failure_kind = Some(kind);
        self.failures = self.failures.saturating_add(1);
        self.next_retry = Some(super::due::next_retry(self.failures, at, kind, retry_after));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_and_a_success_resets() {
        let mut s = RenewalState::default();
        s.failed(1000, "boom".into(), FailureKind::Transient, None);
        assert_eq!((s.failures, s.next_retry), (1, Some(1060)));
        s.failed(1100, "boom".into(), FailureKind::Transient, None);
        assert_eq!((s.failures, s.next_retry), (2, Some(1700)));
        let round = RenewalState::from_json(s.to_json().as_bytes()).unwrap();
        assert_eq!(round, s);
        s.succeeded(2000);
        assert_eq!((s.failures, s.next_retry, s.last_error), (0, None, None));
        assert_eq!(s.last_result, Some(LastResult::Renewed));
    }

    #[test]
    fn an_ari_time_once_chosen_stays_while_the_window_does() {
        let window = Window {
            start: 1000,
            end: 2000,
        };
        let answer = || AriAnswer::Window {
            window,
            retry_after: 5,
            explanation_url: None,
        };
        let first = AriState::from_answer("id".into(), answer(), None, 100, 0.5);
        assert_eq!(first.next_check, 160, "retries are at least a minute apart");
        let chosen = first.chosen.unwrap();
        assert!((1000..=2000).contains(&chosen));
        let again = AriState::from_answer("id".into(), answer(), Some(&first), 200, 0.99);
        assert_eq!(again.chosen, Some(chosen));
        let other = AriState::from_answer("new".into(), answer(), Some(&first), 200, 0.99);
        assert_ne!(other.chosen, Some(chosen));
        let none = AriState::from_answer("id".into(), AriAnswer::NotOffered, None, 100, 0.5);
        assert_eq!((none.offered, none.next_check), (false, 100 + 7 * 86_400));
    }

    #[test]
    fn ari_time_applies_only_to_its_certificate() {
        let s = RenewalState {
            ari: Some(AriState {
                cert_id: "aki.serial".into(),
                offered: true,
                checked_at: 0,
                next_check: 10,
                window: Some(Window { start: 5, end: 9 }),
                chosen: Some(7),
                explanation_url: None,
            }),
            ..RenewalState::default()
        };
        assert_eq!(s.ari_time("aki.serial"), Some(7));
        assert_eq!(s.ari_time("aki.other"), None);
        assert!(RenewalState::from_json(b"{}").is_ok());
        assert!(RenewalState::from_json(b"{").is_err());
    }
}
