//! When a certificate is due, and when to try again after a failure. Pure: times are Unix
//! seconds passed in, randomness comes in as a number in `0.0..1.0`.
//!
//! The rules, in order:
//! - `--force` renews now; `--days N` renews once fewer than N days remain.
//! - When the CA offers ACME Renewal Information (RFC 9773), at a random time inside its
//!   suggested window (chosen once and kept while the window stays the same).
//! - Otherwise at two thirds of the lifetime, or half of it for lifetimes under 10 days, so 90-,
//!   64-, 45- and 6-day certificates all renew with time to spare.
//! - Always, whatever ARI says, once less than a twentieth of the lifetime or 24 hours remains.
//! - After a failure, not before the backoff Let's Encrypt's integration guide asks for has
//!   passed (about 1 min, 10 min, 100 min, then daily), or the CA's Retry-After if later.

use serde::{Deserialize, Serialize};

const DAY: i64 = 86_400;
/// Backoff after the 1st, 2nd, 3rd failure; every later one waits a day.
const BACKOFF: [i64; 3] = [60, 600, 6_000];
/// A Retry-After is honoured within these bounds (a CA asking for a week still gets retried daily).
const RETRY_AFTER_MIN: i64 = 60;
const RETRY_AFTER_MAX: i64 = DAY;

/// A suggested renewal window from the CA (RFC 9773 `suggestedWindow`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Start, Unix seconds.
    pub start: i64,
    /// End, Unix seconds.
    pub end: i64,
}

impl Window {
    /// A time inside the window; `random` is uniform in `0.0..1.0`. A window whose end is before
    /// its start (malformed) collapses to its start.
    pub fn pick(&self, random: f64) -> i64 {
        let span = (self.end - self.start).max(0);
        self.start + (span as f64 * random.clamp(0.0, 1.0)) as i64
    }
}

/// Why a certificate renews when it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// `--force`.
    Forced,
    /// `--days N`.
    Days,
    /// The time chosen inside the CA's ARI window.
    Ari,
    /// Two thirds (or half) of the lifetime.
    Lifetime,
    /// Less than a twentieth of the lifetime or 24 hours left.
    Backstop,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Forced => "forced",
            Self::Days => "--days",
            Self::Ari => "ARI window",
            Self::Lifetime => "lifetime",
            Self::Backstop => "backstop",
        })
    }
}

/// What decides the renewal time of one certificate.
#[derive(Clone, Copy, Debug, Default)]
pub struct Inputs {
    /// Validity start of the live certificate.
    pub not_before: i64,
    /// Validity end of the live certificate.
    pub not_after: i64,
    /// The time chosen inside the CA's ARI window, when the CA offers one.
    pub ari_time: Option<i64>,
    /// `--days N`.
    pub days: Option<u32>,
    /// `--force`.
    pub force: bool,
}

/// When a certificate renews.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The time it renews (may be in the past: it is due).
    pub at: i64,
    /// What chose that time.
    pub reason: Reason,
    /// The backstop: at the latest then, whatever ARI says.
    pub backstop: i64,
}

impl Plan {
    /// True when the renewal time has come.
    pub fn is_due(&self, now: i64) -> bool {
        now >= self.at
    }
}

/// The renewal time for a certificate. See the module docs.
pub fn plan(inputs: &Inputs, now: i64) -> Plan {
    let lifetime = (inputs.not_after - inputs.not_before).max(0);
    let backstop = inputs.not_after - (lifetime / 20).max(DAY);
    let (at, reason) = if inputs.force {
        (now, Reason::Forced)
    } else if let Some(days) = inputs.days {
        (inputs.not_after - i64::from(days) * DAY, Reason::Days)
    } else if let Some(ari) = inputs.ari_time {
        (ari, Reason::Ari)
    } else if lifetime < 10 * DAY {
        (inputs.not_before + lifetime / 2, Reason::Lifetime)
    } else {
        (inputs.not_before + lifetime * 2 / 3, Reason::Lifetime)
    };
    // --force and --days are the user's explicit word; otherwise the backstop wins when earlier.
    match reason {
        Reason::Ari | Reason::Lifetime if backstop < at => Plan {
            at: backstop,
            reason: Reason::Backstop,
            backstop,
        },
        _ => Plan {
            at,
            reason,
            backstop,
        },
    }
}

/// How a failure is expected to behave when retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// Network trouble, a CA outage, a local hiccup: retried on the backoff schedule.
    Transient,
    /// The CA's rate limit: retried after its Retry-After (or the backoff, if later).
    RateLimited,
    /// Will not fix itself (unauthorized, DNS, CAA, rejected identifier, bad configuration):
    /// reported, and retried only daily so the CA is not hammered.
    NeedsAttention,
}

/// The earliest time to try again after the `failures`-th consecutive failure at `failed_at`.
pub fn next_retry(
    failures: u32,
    failed_at: i64,
    kind: FailureKind,
    retry_after: Option<i64>,
) -> i64 {
    let backoff = match kind {
        FailureKind::NeedsAttention => DAY,
        _ => failures
            .checked_sub(1)
            .and_then(|i| BACKOFF.get(i as usize).copied())
            .unwrap_or(DAY),
    };
    let asked = retry_after
        .map(|at| (at - failed_at).clamp(RETRY_AFTER_MIN, RETRY_AFTER_MAX))
        .unwrap_or(0);
    failed_at + backoff.max(asked)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn cert(days: i64) -> Inputs {
        Inputs {
            not_before: NOW,
            not_after: NOW + days * DAY,
            ..Inputs::default()
        }
    }

    #[test]
    fn lifetime_rule_fits_every_let_s_encrypt_lifetime() {
        // (lifetime in days, renewal offset from issuance in seconds)
        let table = [
            (90, 60 * DAY),
            (64, 64 * DAY * 2 / 3),
            (45, 30 * DAY),
            (6, 3 * DAY),
        ];
        for (days, offset) in table {
            let p = plan(&cert(days), NOW);
            assert_eq!(
                (p.at - NOW, p.reason),
                (offset, Reason::Lifetime),
                "{days} days"
            );
            assert!(!p.is_due(NOW) && p.is_due(NOW + offset));
            assert!(
                p.backstop > p.at,
                "{days} days: backstop after the normal time"
            );
        }
    }

    #[test]
    fn backstop_is_a_twentieth_or_a_day_before_expiry() {
        assert_eq!(
            plan(&cert(90), NOW).backstop,
            NOW + 90 * DAY - 90 * DAY / 20
        );
        assert_eq!(plan(&cert(6), NOW).backstop, NOW + 5 * DAY);
        // A few-minute certificate (pebble in tests) is due at once.
        let short = Inputs {
            not_after: NOW + 300,
            ..cert(0)
        };
        let p = plan(&short, NOW);
        assert_eq!(p.reason, Reason::Backstop);
        assert!(p.is_due(NOW));
    }

    #[test]
    fn ari_time_is_used_but_never_past_the_backstop() {
        let mut inputs = cert(90);
        inputs.ari_time = Some(NOW + 10 * DAY);
        let p = plan(&inputs, NOW);
        assert_eq!((p.at, p.reason), (NOW + 10 * DAY, Reason::Ari));
        inputs.ari_time = Some(NOW + 89 * DAY);
        let p = plan(&inputs, NOW);
        assert_eq!((p.at, p.reason), (p.backstop, Reason::Backstop));
        // A window in the past (the CA revoked or wants it replaced early): due now.
        inputs.ari_time = Some(NOW - DAY);
        assert!(plan(&inputs, NOW).is_due(NOW));
    }

    #[test]
    fn days_and_force_override_everything() {
        let mut inputs = cert(90);
        inputs.days = Some(30);
        let p = plan(&inputs, NOW);
        assert_eq!((p.at, p.reason), (NOW + 60 * DAY, Reason::Days));
        inputs.days = Some(89);
        inputs.ari_time = Some(NOW + 50 * DAY);
        assert_eq!(plan(&inputs, NOW).at, NOW + DAY);
        inputs.force = true;
        let p = plan(&inputs, NOW);
        assert_eq!((p.at, p.reason), (NOW, Reason::Forced));
    }

    #[test]
    fn window_pick_stays_inside() {
        let w = Window {
            start: 100,
            end: 200,
        };
        assert_eq!(w.pick(0.0), 100);
        assert_eq!(w.pick(0.5), 150);
        assert!(w.pick(0.999_999) < 200);
        assert_eq!(w.pick(7.0), 200);
        assert_eq!(Window { start: 5, end: 1 }.pick(0.5), 5);
    }

    #[test]
    fn backoff_follows_the_integration_guide() {
        let t = FailureKind::Transient;
        let waits: Vec<i64> = (1..=5).map(|n| next_retry(n, NOW, t, None) - NOW).collect();
        assert_eq!(waits, [60, 600, 6_000, DAY, DAY]);
        // Retry-After is honoured when later, clamped to a day, and never shortens the backoff.
        assert_eq!(next_retry(1, NOW, t, Some(NOW + 3_600)) - NOW, 3_600);
        assert_eq!(next_retry(1, NOW, t, Some(NOW + 30 * DAY)) - NOW, DAY);
        assert_eq!(next_retry(3, NOW, t, Some(NOW + 5)) - NOW, 6_000);
        let rl = FailureKind::RateLimited;
        assert_eq!(next_retry(1, NOW, rl, Some(NOW + 7_200)) - NOW, 7_200);
        // What will not fix itself is retried daily, from the first failure.
        assert_eq!(
            next_retry(1, NOW, FailureKind::NeedsAttention, None) - NOW,
            DAY
        );
    }
}
