//! The cron daemon for containers (`certctl daemon`): when to wake next. Pure; the loop itself
//! is in the CLI, which owns the signals.

use crate::renewal::state::ARI_RECHECK;

/// One certificate's next renewal time and, after a failure, the time it may be retried.
#[derive(Clone, Copy, Debug)]
pub struct Upcoming {
    /// When it is due (ARI-chosen or from its lifetime), Unix seconds.
    pub renewal: i64,
    /// No retry before this time (backoff).
    pub retry: Option<i64>,
}

/// When the daemon runs renew next: at the cron time, or earlier when a certificate's renewal
/// time (ARI or lifetime) or retry time comes first, and at least every 12 hours so ARI windows
/// are re-checked. Always in the future.
pub fn next_wake(now: i64, cron_next: Option<i64>, certs: &[Upcoming]) -> i64 {
    let mut wake = now + ARI_RECHECK;
    if let Some(at) = cron_next {
        wake = wake.min(at);
    }
    for cert in certs {
        let at = cert
            .retry
            .map_or(cert.renewal, |retry| retry.max(cert.renewal));
        if at > now {
            wake = wake.min(at);
        }
    }
    wake.max(now + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(next_renewal: i64, next_retry: Option<i64>) -> Upcoming {
        Upcoming {
            renewal: next_renewal,
            retry: next_retry,
        }
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
