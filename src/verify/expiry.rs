//! When a certificate counts as "expiring": relative to its own lifetime and to the CA's ARI
//! window, unless the user gave an absolute `--warn-days`. Pure: times come in as Unix seconds.
//!
//! A fixed 21 days means a 90-day certificate warns on day 69, which is fine, but a 6-day
//! certificate warns from the moment it is issued, and a monitoring system that always says
//! "expiring" gets ignored. So without `--warn-days` a certificate is expiring once less than
//! a quarter of its lifetime remains: that is 22.5 days for 90 days (close to the old 21),
//! 1.5 days for 6 days, in both cases well after certctl would have renewed it (two thirds, or
//! half under 10 days, see [`crate::renewal::due`]) so a warning means renewal is late. It is
//! also expiring when the CA's ARI window has ended without a renewal: the CA wanted it
//! replaced by then (an early end means revocation is coming).

use serde::Serialize;

const DAY: i64 = 86_400;

/// What decides whether a certificate is expiring.
#[derive(Clone, Copy, Debug, Default)]
pub struct Inputs {
    /// Validity start, Unix seconds.
    pub not_before: i64,
    /// Validity end, Unix seconds.
    pub not_after: i64,
    /// The end of the CA's suggested renewal window (ARI), when known.
    pub ari_end: Option<i64>,
    /// An absolute threshold: expiring once fewer than this many days remain (`--warn-days`).
    pub warn_days: Option<u32>,
}

/// The verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum Expiry {
    /// Not valid yet.
    NotYetValid,
    /// Past its end.
    Expired,
    /// Valid, and renewal is late or the end is near.
    Expiring {
        /// Why.
        why: Why,
    },
    /// Valid, nothing to worry about.
    Fine,
}

/// Why a certificate counts as expiring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Why {
    /// Fewer than `--warn-days` days remain.
    WarnDays,
    /// Less than a quarter of its lifetime remains.
    Lifetime,
    /// The CA's ARI window ended and it was not replaced.
    AriWindowPassed,
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::WarnDays => "fewer days left than --warn-days",
            Self::Lifetime => "less than a quarter of its lifetime left",
            Self::AriWindowPassed => "the CA's renewal window (ARI) has passed",
        })
    }
}

impl Expiry {
    /// True for anything a monitoring system should flag.
    pub fn is_expiring(&self) -> bool {
        !matches!(self, Self::Fine)
    }
}

/// The time from which the certificate counts as expiring (without ARI).
pub fn warn_from(inputs: &Inputs) -> i64 {
    match inputs.warn_days {
        Some(days) => inputs.not_after - i64::from(days) * DAY,
        None => inputs.not_after - (inputs.not_after - inputs.not_before).max(0) / 4,
    }
}

/// See the module docs.
pub fn assess(inputs: &Inputs, now: i64) -> Expiry {
    if now < inputs.not_before {
        return Expiry::NotYetValid;
    }
    if now > inputs.not_after {
        return Expiry::Expired;
    }
    if now >= warn_from(inputs) {
        let why = match inputs.warn_days {
            Some(_) => Why::WarnDays,
            None => Why::Lifetime,
        };
        return Expiry::Expiring { why };
    }
    if inputs.ari_end.is_some_and(|end| now > end) {
        return Expiry::Expiring {
            why: Why::AriWindowPassed,
        };
    }
    Expiry::Fine
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const HOUR: i64 = 3600;

    fn cert(issued_days_ago: f64, lifetime_days: i64) -> Inputs {
        let not_before = NOW - (issued_days_ago * DAY as f64) as i64;
        Inputs {
            not_before,
            not_after: not_before + lifetime_days * DAY,
            ..Inputs::default()
        }
    }

    #[test]
    fn expiring_is_relative_to_the_lifetime() {
        use Expiry::*;
        let lifetime = Expiring { why: Why::Lifetime };
        // (issued days ago, lifetime in days, verdict)
        let table = [
            // A 6-day certificate is not expiring on its first day, nor when renewal is due
            // (day 3), only once renewal is late (1.5 days left).
            (0.0, 6, Fine),
            (1.0, 6, Fine),
            (3.0, 6, Fine),
            (4.4, 6, Fine),
            (4.6, 6, lifetime),
            (5.99, 6, lifetime),
            // 90 days: 22.5 days left is the line (the old fixed 21 days, about).
            (1.0, 90, Fine),
            (60.0, 90, Fine),
            (67.0, 90, Fine),
            (68.0, 90, lifetime),
            // 45 days: renewal at day 30, expiring from 11.25 days left.
            (33.0, 45, Fine),
            (34.0, 45, lifetime),
            // Outside the validity period.
            (-1.0, 90, NotYetValid),
            (91.0, 90, Expired),
        ];
        for (ago, days, verdict) in table {
            assert_eq!(
                assess(&cert(ago, days), NOW),
                verdict,
                "{ago} days into {days}"
            );
        }
    }

    #[test]
    fn an_absolute_warn_days_wins_when_given() {
        let mut six = cert(0.0, 6);
        six.warn_days = Some(21);
        assert_eq!(
            assess(&six, NOW),
            Expiry::Expiring { why: Why::WarnDays },
            "asked for: a 6-day certificate always has fewer than 21 days"
        );
        let mut ninety = cert(60.0, 90);
        ninety.warn_days = Some(31);
        assert!(assess(&ninety, NOW).is_expiring());
        ninety.warn_days = Some(29);
        assert_eq!(assess(&ninety, NOW), Expiry::Fine);
        ninety.warn_days = Some(0);
        assert_eq!(assess(&ninety, NOW), Expiry::Fine);
        assert_eq!(warn_from(&ninety), ninety.not_after);
    }

    #[test]
    fn a_passed_ari_window_means_expiring_early() {
        let mut c = cert(10.0, 90);
        c.ari_end = Some(NOW + HOUR);
        assert_eq!(assess(&c, NOW), Expiry::Fine, "inside or before the window");
        c.ari_end = Some(NOW - HOUR);
        assert_eq!(
            assess(&c, NOW),
            Expiry::Expiring {
                why: Why::AriWindowPassed
            }
        );
        // The lifetime reason is named first when both hold.
        let mut late = cert(80.0, 90);
        late.ari_end = Some(NOW - DAY);
        assert_eq!(assess(&late, NOW), Expiry::Expiring { why: Why::Lifetime });
    }

    #[test]
    fn degenerate_certificates_never_panic() {
        for (nb, na) in [(NOW, NOW), (NOW + 5, NOW - 5), (i64::MIN / 2, i64::MAX / 2)] {
            let _ = assess(
                &Inputs {
                    not_before: nb,
                    not_after: na,
                    ari_end: Some(i64::MIN / 2),
                    warn_days: None,
                },
                NOW,
            );
        }
    }
}
