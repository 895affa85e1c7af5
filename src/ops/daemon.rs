//! `certctl daemon`: when to wake next. The loop itself is in the CLI (it owns the signals).

use super::issue::ARI_RECHECK;
use super::list::ListEntry;

/// When the daemon runs renew next: at the cron time, or earlier when a certificate's renewal
/// time (ARI or lifetime) or retry time comes first, and at least every 12 hours so ARI windows
/// are re-checked. Always in the future.
pub fn next_wake(now: i64, cron_next: Option<i64>, entries: &[ListEntry]) -> i64 {
    let mut wake = now + ARI_RECHECK;
    if let Some(at) = cron_next {
        wake = wake.min(at);
    }
    for renewal in entries.iter().filter_map(|e| e.renewal.as_ref()) {
        let at = renewal.next_retry.map_or(renewal.next_renewal, |retry| {
            retry.max(renewal.next_renewal)
        });
        if at > now {
            wake = wake.min(at);
        }
    }
    wake.max(now + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::list::RenewalView;
    use crate::renewal::schedule::Reason;

    fn entry(next_renewal: i64, next_retry: Option<i64>) -> ListEntry {
        let mut entry = ListEntry::unread("a.test".into(), String::new());
        entry.renewal = Some(RenewalView {
            next_renewal,
            next_renewal_rfc3339: String::new(),
            reason: Reason::Ari,
            backstop: next_renewal + 100,
            ari_window: None,
            ari_offered: Some(true),
            last_attempt: None,
            last_result: None,
            last_error: None,
            failures: 0,
            next_retry,
        });
        entry
    }

    #[test]
    fn wakes_for_cron_renewals_retries_and_ari_rechecks() {
        let now = 1_000_000;
        assert_eq!(next_wake(now, Some(now + 60), &[]), now + 60);
        assert_eq!(next_wake(now, None, &[]), now + ARI_RECHECK);
        // An ARI-chosen time before the next cron run.
        assert_eq!(
            next_wake(now, Some(now + 3600), &[entry(now + 600, None)]),
            now + 600
        );
        // Due already but backing off: the retry time.
        assert_eq!(
            next_wake(now, Some(now + 3600), &[entry(now - 5, Some(now + 60))]),
            now + 60
        );
        // Due and nothing to wait for: the cron time, never a busy loop.
        assert_eq!(
            next_wake(now, Some(now + 30), &[entry(now - 5, None)]),
            now + 30
        );
        assert_eq!(next_wake(now, Some(now - 30), &[]), now + 1);
    }
}
