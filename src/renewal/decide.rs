//! What a renewal run does with one certificate, decided from what is known about it: the
//! renewal record and state, the live certificate and the run's options. Pure: `ops::renew`
//! gathers the facts under the certificate's lock, acts on the decision, and asks again when
//! the decision is to fetch a fact first (ARI needs the network; the archive is read only when
//! a renewal is due).

use super::due::{self, Inputs, Plan};
use super::state::AriState;

/// The live certificate, as far as the decision needs it.
#[derive(Clone, Copy, Debug)]
pub struct LiveCert<'a> {
    /// Validity start, Unix seconds.
    pub not_before: i64,
    /// Validity end, Unix seconds.
    pub not_after: i64,
    /// Its ARI identifier (empty when it has none).
    pub cert_id: &'a str,
}

/// Everything the decision depends on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Facts<'a> {
    /// Installed by hand (`install-cert`): certctl cannot renew it.
    pub manual: bool,
    /// Revoked through certctl, with the reason given.
    pub revoked: Option<&'a str>,
    /// `--dry-run`: a full order against a test CA; nothing goes live.
    pub dry_run: bool,
    /// `--force`.
    pub force: bool,
    /// `--days N`.
    pub days: Option<u32>,
    /// The archive version last deployed (nginx reloaded and checked, hooks run).
    pub deployed_version: Option<u64>,
    /// The archive version live now.
    pub live_version: Option<u64>,
    /// The live version when this run started, before it held the lock.
    pub found_version: Option<u64>,
    /// The live certificate, when one parses.
    pub live: Option<LiveCert<'a>>,
    /// What the CA last said about renewal timing.
    pub ari: Option<&'a AriState>,
    /// ARI was already asked (or could not be) in this run.
    pub ari_refreshed: bool,
    /// The archive was looked at (in this run) for a newer valid version.
    pub archive_checked: bool,
    /// The newest archived version newer than the live one, valid for at least a day and not
    /// due itself (a version a rollback set aside, or one a crashed run never made live).
    pub newer_archived: Option<u64>,
    /// The backoff after the last failure: no retry before then.
    pub next_retry: Option<i64>,
    /// The last failure.
    pub last_error: Option<&'a str>,
}

/// Why a certificate is left alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// Installed by hand.
    Manual,
    /// Revoked, with the reason given.
    Revoked(String),
}

/// What to do with one certificate, with its reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Not renewed by certctl.
    Skip(SkipReason),
    /// A version is live that was never deployed (a run stopped between the swap and the
    /// reload): deploy it, with the same checks and rollback as a fresh renewal.
    DeployInstalled {
        /// The version deployed before it (what a rollback restores).
        previous: u64,
        /// The live version.
        installed: u64,
    },
    /// Another certctl run renewed it after this run started.
    RenewedConcurrently,
    /// The stored ARI answer is stale: ask the CA, then decide again.
    RefreshAri,
    /// Not due yet.
    NotDue(Plan),
    /// Due, but the backoff after the last failure has not passed.
    BackingOff {
        /// No retry before then.
        until: i64,
        /// The failure that set it.
        last_error: String,
        /// When it renews.
        plan: Option<Plan>,
    },
    /// Look in the archive for a valid version newer than the live one, then decide again.
    CheckArchive,
    /// Put an archived version live and deploy it, instead of ordering again (Let's Encrypt's
    /// duplicate-certificate limit makes a needless order costly).
    DeployArchived {
        /// The version.
        version: u64,
    },
    /// Renew now.
    Renew {
        /// When it was due (None: there is no live certificate to judge).
        plan: Option<Plan>,
    },
}

/// The decision for one certificate at `now`. See the module docs.
pub fn decide(facts: &Facts<'_>, now: i64) -> Decision {
    if facts.manual {
        return Decision::Skip(SkipReason::Manual);
    }
    if let Some(reason) = facts.revoked {
        return Decision::Skip(SkipReason::Revoked(reason.to_owned()));
    }
    if !facts.dry_run
        && let (Some(deployed), Some(installed)) = (facts.deployed_version, facts.live_version)
        && deployed != installed
        && facts.live.is_some()
    {
        return Decision::DeployInstalled {
            previous: deployed,
            installed,
        };
    }
    if !facts.dry_run && facts.live_version != facts.found_version {
        return Decision::RenewedConcurrently;
    }
    if let Some(live) = &facts.live
        && !facts.dry_run
        && !facts.ari_refreshed
        && facts
            .ari
            .is_none_or(|a| a.cert_id != live.cert_id || a.next_check <= now)
    {
        return Decision::RefreshAri;
    }
    let plan = facts.live.map(|live| {
        let ari_time = facts
            .ari
            .filter(|a| a.cert_id == live.cert_id)
            .and_then(|a| a.chosen);
        due::plan(
            &Inputs {
                not_before: live.not_before,
                not_after: live.not_after,
                ari_time,
                days: facts.days,
                force: facts.force || facts.dry_run,
            },
            now,
        )
    });
    if let Some(plan) = plan.filter(|p| !p.is_due(now)) {
        return Decision::NotDue(plan);
    }
    if !facts.force
        && !facts.dry_run
        && let (Some(until), Some(error)) = (facts.next_retry, facts.last_error)
        && until > now
    {
        return Decision::BackingOff {
            until,
            last_error: error.to_owned(),
            plan,
        };
    }
    if !facts.force && !facts.dry_run {
        if !facts.archive_checked {
            return Decision::CheckArchive;
        }
        if let Some(version) = facts.newer_archived {
            return Decision::DeployArchived { version };
        }
    }
    Decision::Renew { plan }
}

/// A day: an archived or previous version must stay valid at least this long to be put live.
pub const MIN_VALIDITY: i64 = 86_400;

/// True when a certificate valid from `not_before` to `not_after` may be put live at `now`: valid
/// now, for at least [`MIN_VALIDITY`] more, and not due for renewal itself.
pub fn worth_deploying(not_before: i64, not_after: i64, now: i64) -> bool {
    let plan = due::plan(
        &Inputs {
            not_before,
            not_after,
            ..Inputs::default()
        },
        now,
    );
    not_before <= now && not_after - now >= MIN_VALIDITY && !plan.is_due(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::renewal::due::{Reason, Window};

    const DAY: i64 = 86_400;
    const NOW: i64 = 100 * DAY;

    /// A 90-day certificate issued `age` days ago, deployed, with a fresh ARI answer that
    /// offers no window.
    fn facts(age: i64) -> (LiveCert<'static>, AriState) {
        let live = LiveCert {
            not_before: NOW - age * DAY,
            not_after: NOW - age * DAY + 90 * DAY,
            cert_id: "aki.serial",
        };
        let ari = AriState {
            cert_id: "aki.serial".into(),
            offered: false,
            checked_at: NOW,
            next_check: NOW + 3600,
            window: None,
            chosen: None,
            explanation_url: None,
        };
        (live, ari)
    }

    fn base<'a>(live: LiveCert<'a>, ari: &'a AriState) -> Facts<'a> {
        Facts {
            deployed_version: Some(3),
            live_version: Some(3),
            found_version: Some(3),
            live: Some(live),
            ari: Some(ari),
            archive_checked: true,
            ..Facts::default()
        }
    }

    #[test]
    fn decides_by_table() {
        let (young, ari) = facts(10);
        let (old, _) = facts(70);
        let mut windowed = ari.clone();
        windowed.offered = true;
        windowed.window = Some(Window {
            start: NOW - 10,
            end: NOW + 10,
        });
        windowed.chosen = Some(NOW - 5);
        let mut stale = ari.clone();
        stale.next_check = NOW;
        let mut other_cert = ari.clone();
        other_cert.cert_id = "aki.other".into();

        type Check = fn(&Decision) -> bool;
        let cases: Vec<(&str, Facts<'_>, Check)> = vec![
            (
                "manual",
                Facts {
                    manual: true,
                    ..base(young, &ari)
                },
                |d| *d == Decision::Skip(SkipReason::Manual),
            ),
            (
                "revoked",
                Facts {
                    revoked: Some("keyCompromise"),
                    ..base(old, &ari)
                },
                |d| *d == Decision::Skip(SkipReason::Revoked("keyCompromise".into())),
            ),
            (
                "installed, never deployed",
                Facts {
                    live_version: Some(4),
                    found_version: Some(4),
                    ..base(young, &ari)
                },
                |d| {
                    *d == Decision::DeployInstalled {
                        previous: 3,
                        installed: 4,
                    }
                },
            ),
            (
                "never deployed, but a dry run",
                Facts {
                    live_version: Some(4),
                    found_version: Some(4),
                    dry_run: true,
                    ..base(young, &ari)
                },
                |d| matches!(d, Decision::Renew { plan: Some(p) } if p.reason == Reason::Forced),
            ),
            (
                "a concurrent run renewed it",
                Facts {
                    live_version: Some(3),
                    found_version: Some(2),
                    ..base(old, &ari)
                },
                |d| *d == Decision::RenewedConcurrently,
            ),
            (
                "no ARI answer yet",
                Facts {
                    ari: None,
                    ..base(young, &ari)
                },
                |d| *d == Decision::RefreshAri,
            ),
            ("stale ARI answer", base(young, &stale), |d| {
                *d == Decision::RefreshAri
            }),
            (
                "ARI answer for the previous certificate",
                base(young, &other_cert),
                |d| *d == Decision::RefreshAri,
            ),
            (
                "stale, but already asked",
                Facts {
                    ari_refreshed: true,
                    ..base(young, &stale)
                },
                |d| matches!(d, Decision::NotDue(p) if p.reason == Reason::Lifetime),
            ),
            ("young", base(young, &ari), |d| {
                matches!(d, Decision::NotDue(_))
            }),
            (
                "two thirds of its life",
                base(old, &ari),
                |d| matches!(d, Decision::Renew { plan: Some(p) } if p.reason == Reason::Lifetime),
            ),
            (
                "inside the ARI window",
                base(young, &windowed),
                |d| matches!(d, Decision::Renew { plan: Some(p) } if p.reason == Reason::Ari),
            ),
            (
                "--force",
                Facts {
                    force: true,
                    ..base(young, &ari)
                },
                |d| matches!(d, Decision::Renew { plan: Some(p) } if p.reason == Reason::Forced),
            ),
            (
                "--days 85",
                Facts {
                    days: Some(85),
                    ..base(young, &ari)
                },
                |d| matches!(d, Decision::Renew { plan: Some(p) } if p.reason == Reason::Days),
            ),
            (
                "backing off",
                Facts {
                    next_retry: Some(NOW + 60),
                    last_error: Some("boom"),
                    ..base(old, &ari)
                },
                |d| matches!(d, Decision::BackingOff { until, .. } if *until == NOW + 60),
            ),
            (
                "backoff over",
                Facts {
                    next_retry: Some(NOW - 60),
                    last_error: Some("boom"),
                    ..base(old, &ari)
                },
                |d| matches!(d, Decision::Renew { .. }),
            ),
            (
                "backing off, but --force",
                Facts {
                    force: true,
                    next_retry: Some(NOW + 60),
                    last_error: Some("boom"),
                    ..base(old, &ari)
                },
                |d| matches!(d, Decision::Renew { .. }),
            ),
            (
                "no live certificate",
                Facts {
                    live: None,
                    ..base(old, &ari)
                },
                |d| *d == Decision::Renew { plan: None },
            ),
            (
                "due: look in the archive first",
                Facts {
                    archive_checked: false,
                    ..base(old, &ari)
                },
                |d| *d == Decision::CheckArchive,
            ),
            (
                "not due: the archive is not read",
                Facts {
                    archive_checked: false,
                    ..base(young, &ari)
                },
                |d| matches!(d, Decision::NotDue(_)),
            ),
            (
                "due, a valid newer version archived",
                Facts {
                    newer_archived: Some(5),
                    ..base(old, &ari)
                },
                |d| *d == Decision::DeployArchived { version: 5 },
            ),
            (
                "--force orders even with one archived",
                Facts {
                    force: true,
                    newer_archived: Some(5),
                    ..base(old, &ari)
                },
                |d| matches!(d, Decision::Renew { .. }),
            ),
        ];
        for (name, facts, expected) in cases {
            let decision = decide(&facts, NOW);
            assert!(expected(&decision), "{name}: {decision:?}");
        }
    }
}

#[cfg(test)]
mod worth_deploying_tests {
    use super::*;

    #[test]
    fn only_a_version_valid_for_a_day_and_not_due_goes_live() {
        const DAY: i64 = 86_400;
        let now = 100 * DAY;
        // A 90-day certificate, 10 days old: fine.
        assert!(worth_deploying(now - 10 * DAY, now + 80 * DAY, now));
        // 70 days old: due itself.
        assert!(!worth_deploying(now - 70 * DAY, now + 20 * DAY, now));
        // A 6-day certificate with 20 hours left.
        assert!(!worth_deploying(now - 5 * DAY, now + 20 * 3600, now));
        // Not valid yet.
        assert!(!worth_deploying(now + 60, now + 90 * DAY, now));
    }
}
