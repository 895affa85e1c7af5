//! `certctl renew`: every certificate that is due, from its renewal record alone.
//!
//! Per certificate, under its lock: read the live certificate, refresh ARI when it is stale,
//! decide (see `renewal::due`), and when due run the issue workflow up to the install,
//! with the new chain checked against trusted roots before the swap. Due certificates run
//! concurrently (bounded); one failure does not stop the others. Then, once per run: `nginx -t`
//! and one reload per nginx instance, a TLS handshake to every name on every address nginx
//! listens on for it (the new serial must be served, with a chain that verifies; otherwise the
//! previous live set comes back), and the deploy hooks.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use rustls_pki_types::CertificateDer;
use serde::Serialize;

use super::deploy::{Expected, version_info};
use super::issue::{self, IssueRequest, IssueRun, Stage};
use crate::Error;
use crate::acme::AcmeError;
use crate::acme::directory::LETS_ENCRYPT_STAGING;
use crate::config::{RenewalRecord, Responder};
use crate::error::UnknownCertHint;
use crate::nginx::binary::Nginx;
use crate::progress::{Progress, Step};
use crate::renewal::decide::{Decision, Facts, LiveCert, SkipReason, decide, worth_deploying};
use crate::renewal::due::{self, FailureKind, Inputs, Plan};
use crate::renewal::state::RenewalState;
use crate::store::{CertStore, KeySlot, StoreError, StoreLock};
use crate::verify::{self, CertInfo};

/// What `renew` was asked to do.
#[derive(Clone, Debug)]
pub struct RenewOptions {
    /// Only these certificates (empty: all).
    pub names: Vec<String>,
    /// Renew even when not due.
    pub force: bool,
    /// Renew when fewer than this many days remain (instead of the schedule).
    pub days: Option<u32>,
    /// Full orders against `server` (default: Let's Encrypt staging); nothing goes live.
    pub dry_run: bool,
    /// The CA for `--dry-run`.
    pub server: Option<String>,
    /// Run after every successful deploy, after the certificate's own hook.
    pub deploy_hook: Option<String>,
    /// How many certificates renew at once.
    pub concurrency: usize,
    /// How long to wait for a certificate another certctl is working on.
    pub lock_wait: Duration,
    /// Where previous versions of nginx files go.
    pub backup_root: PathBuf,
    /// How long the post-deploy check waits for nginx to serve the new certificate.
    pub served_wait: Duration,
    /// On a fleet node (`daemon --nginx`): this node's nginx, reloaded and checked for a
    /// certificate certctl's site serves, instead of the nginx the record names (the paths of
    /// the node that issued it).
    pub nginx_here: Option<Nginx>,
}

/// The result for one certificate.
#[derive(Clone, Debug, Serialize)]
pub struct CertReport {
    /// Certificate name.
    pub name: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Expiry of the certificate live after the run, Unix seconds.
    pub not_after: Option<i64>,
    /// When it renews (after this run).
    pub plan: Option<Plan>,
}

/// What happened to one certificate.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Outcome {
    /// Not due yet.
    NotDue,
    /// Due, but the backoff after the last failure has not passed.
    BackingOff {
        /// No retry before then.
        until: i64,
        /// The failure that set it.
        last_error: String,
    },
    /// Not renewed by certctl: installed by hand, revoked, or no record.
    Skipped {
        /// Why.
        why: String,
    },
    /// A new certificate is live and served.
    Renewed {
        /// Its serial.
        serial: String,
    },
    /// `--dry-run`: obtained and verified, not installed.
    DryRun {
        /// Its serial.
        serial: String,
    },
    /// Failed; the previous certificate is live.
    Failed {
        /// Why, one line.
        error: String,
        /// How it is expected to behave when retried.
        kind: FailureKind,
        /// No retry before then.
        next_retry: Option<i64>,
    },
}

/// Everything `renew` did.
#[derive(Debug, Serialize)]
pub struct RenewReport {
    /// One entry per certificate, sorted by name.
    pub certs: Vec<CertReport>,
}

impl RenewReport {
    /// The certificates that failed.
    pub fn failures(&self) -> impl Iterator<Item = &CertReport> {
        self.certs
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed { .. }))
    }
}

/// A certificate renewed in this run, waiting for the deploy phase. Its lock was released after
/// the install (holding it while another certificate's lock is awaited could deadlock two runs);
/// a rollback takes it again.
struct Pending {
    /// The claim on deploying this certificate: no other run deploys it while this is held.
    _claim: StoreLock,
    record: RenewalRecord,
    /// The version that was live and deployed before (what a rollback restores).
    previous: Option<u64>,
    /// The version this run put live.
    installed: u64,
    serial: String,
    /// nginx was already confirmed to serve `installed` (by a run that died before recording
    /// the deploy): no reload and no check for it again.
    served: bool,
}

/// A version already in the store (never deployed, or valid in the archive), taken to the deploy
/// phase; the report says it was renewed to it.
fn to_deploy(
    report: &mut CertReport,
    claim: StoreLock,
    record: RenewalRecord,
    info: CertInfo,
    previous: Option<u64>,
    installed: u64,
    served: bool,
) -> Pending {
    report.not_after = Some(info.not_after);
    report.outcome = Outcome::Renewed {
        serial: info.serial.clone(),
    };
    Pending {
        _claim: claim,
        record,
        previous,
        installed,
        serial: info.serial,
        served,
    }
}

/// Runs renew. See the module docs.
pub async fn renew(store: &dyn CertStore, opts: &RenewOptions) -> Result<RenewReport, Error> {
    let names = match opts.names.is_empty() {
        true => store.cert_names()?,
        false => opts.names.clone(),
    };
    // Most certificates are not due on most runs: the blocking pool finds those from the files,
    // on every core, without locks; the rest go on below.
    let handle = store.shared();
    let screen_opts = opts.clone();
    let screened = tokio::task::spawn_blocking(move || screen_all(&*handle, &screen_opts, names))
        .await
        .map_err(|e| Error::Io {
            context: "the renewal screen stopped".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let mut not_due = Vec::new();
    let mut rest = Vec::new();
    for (name, version, screened) in screened {
        match screened {
            Some((not_after, plan)) => not_due.push((
                CertReport {
                    name,
                    outcome: Outcome::NotDue,
                    not_after: Some(not_after),
                    plan: Some(plan),
                },
                None,
            )),
            // The live version as this run found it: one that changes before its lock is ours
            // was renewed by a concurrent run, and is not renewed twice.
            None => rest.push((name, version)),
        }
    }
    let shared = Shared::default();
    let mut results: Vec<(CertReport, Option<Pending>)> = futures_util::stream::iter(rest)
        .map(|(name, version)| renew_one(store, opts, &shared, name, version))
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    results.extend(not_due);
    results.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    if !opts.dry_run {
        deploy(store, opts, &mut results).await;
    }
    Ok(RenewReport {
        certs: results.into_iter().map(|(report, _)| report).collect(),
    })
}

/// One certificate up to the install.
async fn renew_one(
    store: &dyn CertStore,
    opts: &RenewOptions,
    shared: &Shared,
    name: String,
    found_version: Option<u64>,
) -> (CertReport, Option<Pending>) {
    let mut report = CertReport {
        name: name.clone(),
        outcome: Outcome::NotDue,
        not_after: None,
        plan: None,
    };
    match renew_one_inner(store, opts, shared, &mut report, found_version).await {
        Ok(pending) => (report, pending),
        Err(e) => {
            report.outcome = Outcome::Failed {
                error: e.to_string(),
                kind: failure_kind(&e),
                next_retry: None,
            };
            (report, None)
        }
    }
}

async fn renew_one_inner(
    store: &dyn CertStore,
    opts: &RenewOptions,
    shared: &Shared,
    report: &mut CertReport,
    found_version: Option<u64>,
) -> Result<Option<Pending>, Error> {
    let name = report.name.clone();
    let now = crate::clock::unix_now();
    let _lock = super::locks::cert(store, &name, opts.lock_wait).await?;
    let Known {
        record,
        mut state,
        live_version,
        live,
        cert_id,
    } = {
        let name = name.clone();
        super::with_store(store, move |s| Known::load(s, &name)).await?
    };
    let mut ari_refreshed = false;
    let mut archive_checked = false;
    let mut newer_archived = None;
    let decision = loop {
        let facts = Facts {
            ari_refreshed,
            archive_checked,
            newer_archived,
            ..facts(
                opts,
                found_version,
                record.responder == Responder::Manual,
                record.renew_before_days,
                &state,
                live_version,
                live.as_ref().map(|(info, _)| LiveCert {
                    not_before: info.not_before,
                    not_after: info.not_after,
                    cert_id: &cert_id,
                }),
            )
        };
        match decide(&facts, now) {
            Decision::RefreshAri => {
                ari_refreshed = true;
                if let Some((_, leaf)) = &live
                    && let Some(account) = shared
                        .account(store, &record.server, record.ca_bundle.as_deref())
                        .await
                    && let Some(ari) =
                        super::ari::refresh(&account, &record.server, leaf, state.ari.as_ref(), now)
                            .await
                {
                    state.ari = Some(ari);
                    let (name, state) = (name.clone(), state.clone());
                    super::with_store(store, move |s| s.save_state(&name, &state)).await?;
                }
            }
            Decision::CheckArchive => {
                archive_checked = true;
                let name = name.clone();
                newer_archived = super::with_store(store, move |s| {
                    newer_archived_version(s, &name, live_version, now)
                })
                .await;
            }
            decision => break decision,
        }
    };
    let live_expiry = live.as_ref().map(|(info, _)| info.not_after);
    // Only the run holding the deploy claim deploys or installs: another run (an `issue`, a
    // renewal) may be deploying this certificate right now.
    let deploys = matches!(
        decision,
        Decision::DeployInstalled { .. } | Decision::DeployArchived { .. } | Decision::Renew { .. }
    );
    let mut claim = None;
    if deploys && !opts.dry_run {
        let owned = name.clone();
        claim = super::with_store(store, move |s| s.try_claim_deploy(&owned)).await?;
        if claim.is_none() {
            tracing::info!("{name}: another certctl run is deploying it");
            report.not_after = live_expiry;
            // A run that was asked for this certificate (by name, or --force) says why it did
            // nothing; the timer's run looks again next time.
            if opts.force || !opts.names.is_empty() {
                report.outcome = Outcome::Skipped {
                    why: "another certctl run (here, or this node's fleet daemon) is deploying it right now; run again once it is done".into(),
                };
            }
            if let Decision::Renew { plan } = decision {
                report.plan = plan;
            }
            return Ok(None);
        }
    }
    let plan = match decision {
        Decision::Skip(SkipReason::Manual) => {
            report.outcome = Outcome::Skipped {
                why: "installed by hand (install-cert); certctl cannot renew it".into(),
            };
            report.not_after = live_expiry;
            return Ok(None);
        }
        Decision::Skip(SkipReason::Revoked(reason)) => {
            report.outcome = Outcome::Skipped {
                why: format!("revoked ({reason}); issue a new certificate"),
            };
            return Ok(None);
        }
        Decision::DeployInstalled {
            previous,
            installed,
        } => {
            tracing::info!(
                "{name}: version {installed} is live but was never deployed; deploying it"
            );
            let (info, _) = live.expect("decided on a live certificate");
            let claim = claim.expect("claimed above");
            let served = super::deploy::served_confirmed(store, &name, installed).await;
            return Ok(Some(to_deploy(
                report,
                claim,
                record,
                info,
                Some(previous),
                installed,
                served,
            )));
        }
        Decision::RenewedConcurrently => {
            tracing::info!("{name}: renewed by a concurrent certctl run moments ago");
            report.not_after = live_expiry;
            return Ok(None);
        }
        Decision::RefreshAri | Decision::CheckArchive => unreachable!("answered above"),
        Decision::NotDue(plan) => {
            report.not_after = live_expiry;
            report.plan = Some(plan);
            return Ok(None);
        }
        Decision::BackingOff {
            until,
            last_error,
            plan,
        } => {
            report.not_after = live_expiry;
            report.plan = plan;
            report.outcome = Outcome::BackingOff { until, last_error };
            return Ok(None);
        }
        Decision::DeployArchived { version } => {
            let owned = name.clone();
            let info = super::with_store(store, move |s| -> Result<CertInfo, Error> {
                let Some(info) = version_info(s, &owned, version) else {
                    return Err(StoreError::Corrupt {
                        path: format!("archive/{version}").into(),
                        reason: "the version to deploy does not parse".into(),
                    }
                    .into());
                };
                tracing::info!(
                    "{owned}: version {version} in the archive is valid; deploying it instead of ordering again"
                );
                s.restore_version(&owned, version)?;
                Ok(info)
            })
            .await?;
            let claim = claim.expect("claimed above");
            // Its deploy marks went with the restore: a full deploy.
            return Ok(Some(to_deploy(
                report,
                claim,
                record,
                info,
                live_version,
                version,
                false,
            )));
        }
        Decision::Renew { plan } => plan,
    };
    report.not_after = live_expiry;
    report.plan = plan;

    // Due: the issue workflow, from the record alone.
    let mut req = IssueRequest::from_record(&record, opts.backup_root.clone())?;
    let replaces = state
        .ari
        .as_ref()
        .filter(|a| a.offered)
        .map(|a| a.cert_id.clone());
    let stage = match opts.dry_run {
        true => {
            req.directory_url = opts
                .server
                .clone()
                .unwrap_or_else(|| LETS_ENCRYPT_STAGING.to_owned());
            // The user agreed to the CA's terms when issuing; a dry-run account follows suit.
            req.agree_tos = true;
            req.deploy_hook = None;
            Stage::DryRun
        }
        false => Stage::Install,
    };
    // One account per CA per run, shared by every certificate's order (restoring one fetches
    // the directory); without a stored one the workflow creates it.
    let account = shared
        .account(store, &req.directory_url, req.ca_bundle.as_deref())
        .await;
    let run = IssueRun {
        stage,
        replaces: replaces.as_deref().filter(|_| stage == Stage::Install),
        trusted: !opts.dry_run,
        account: account.as_ref(),
    };
    let owned = name.clone();
    let previous = super::with_store(store, move |s| s.live_version(&owned)).await?;
    let progress = Named(&name);
    // Standalone responders bind the HTTP port: those certificates take turns.
    let _port = match req.responder {
        Responder::Standalone => Some(shared.standalone.lock().await),
        _ => None,
    };
    match issue::issue_locked(store, &req, run, &progress).await {
        Ok(outcome) if stage == Stage::DryRun => {
            report.outcome = Outcome::DryRun {
                serial: outcome.cert.serial,
            };
            Ok(None)
        }
        Ok(outcome) => {
            report.not_after = Some(outcome.cert.not_after);
            report.plan = Some(due::plan(
                &Inputs {
                    not_before: outcome.cert.not_before,
                    not_after: outcome.cert.not_after,
                    ..Inputs::default()
                },
                now,
            ));
            report.outcome = Outcome::Renewed {
                serial: outcome.cert.serial.clone(),
            };
            crate::failpoint::hit("renew.after_install");
            let owned = name.clone();
            let installed = super::with_store(store, move |s| s.live_version(&owned))
                .await?
                .unwrap_or_default();
            Ok(Some(Pending {
                _claim: claim.expect("claimed unless a dry run"),
                record,
                previous: state.deployed_version.or(previous),
                installed,
                serial: outcome.cert.serial,
                served: false,
            }))
        }
        Err(e) if stage == Stage::DryRun => Err(e),
        Err(e) => {
            let kind = failure_kind(&e);
            let (owned, error, retry) = (name.clone(), e.to_string(), retry_after(&e));
            let state = super::with_store(store, move |s| -> Result<RenewalState, Error> {
                let mut state = s.load_state(&owned).unwrap_or(state);
                state.failed(now, error, kind, retry);
                s.save_state(&owned, &state)?;
                Ok(state)
            })
            .await?;
            report.outcome = Outcome::Failed {
                error: e.to_string(),
                kind,
                next_retry: state.next_retry,
            };
            Ok(None)
        }
    }
}

/// nginx test + one reload per nginx instance, the served-certificate check, the hooks. A
/// version nginx was already confirmed to serve is not reloaded or checked again, and a hook
/// that already ran for a version is not run again (a run that died mid-deploy did them).
///
/// A rollback happens only when the failure is the new certificate's (nginx names its files, or
/// serves another serial, or the handshake for it fails), only to a version valid for at least
/// a day, and never on a fleet (the other nodes serve the new version). Anything else (another site breaks `nginx -t`, the reload command fails) is
/// reported with nginx's message; the new certificate stays live and is deployed again by the
/// next run.
async fn deploy(
    store: &dyn CertStore,
    opts: &RenewOptions,
    results: &mut [(CertReport, Option<Pending>)],
) {
    // The nginx a pending version still needs reloaded and checked.
    let to_check = |p: &Option<Pending>| {
        let p = p.as_ref().filter(|p| !p.served)?;
        match (&opts.nginx_here, &p.record.nginx) {
            (Some(here), Some(_)) => Some(here.clone()),
            _ => p.record.served_by().cloned(),
        }
    };
    let mut instances: Vec<Nginx> = Vec::new();
    for (_, pending) in results.iter() {
        if let Some(nginx) = to_check(pending)
            && !instances.contains(&nginx)
        {
            instances.push(nginx);
        }
    }
    for nginx in &instances {
        let uses_it = |p: &Option<Pending>| to_check(p).is_some_and(|n| n == *nginx);
        crate::failpoint::hit("renew.before_reload");
        let n = nginx.clone();
        // `nginx -T` tests the configuration as `-t` does and says what the reload will serve.
        let reloaded = super::blocking(move || {
            let config = n.test_and_dump()?;
            n.reload().map(|()| config)
        })
        .await;
        let config = match reloaded {
            Ok(config) => config,
            Err(e) => {
                let message = e.to_string();
                for (report, pending) in results.iter_mut().filter(|(_, p)| uses_it(p)) {
                    let names_it = pending
                        .as_ref()
                        .is_some_and(|p| names_live_files(store, &p.record, &message));
                    if names_it {
                        let problem = format!("nginx did not take the new certificate ({e})");
                        roll_back(store, opts, report, pending.take(), problem).await;
                    } else {
                        let error = format!(
                            "renewed and live, but nginx could not be reloaded for a reason other than the new certificate, so nothing was rolled back; the next run deploys it again: {e}"
                        );
                        record_failure(store, opts, report, error).await;
                        // Not deployed: the version stays "installed, not deployed".
                        pending.take();
                    }
                }
                continue;
            }
        };
        let blocks = crate::nginx::dump::server_blocks(&config);
        let checked: Vec<usize> = (0..results.len())
            .filter(|&i| uses_it(&results[i].1))
            .collect();
        let expected: Vec<Expected> = checked
            .iter()
            .filter_map(|&i| results[i].1.as_ref())
            .map(|p| Expected {
                record: &p.record,
                serial: &p.serial,
            })
            .collect();
        let failed: Vec<(usize, String)> =
            super::deploy::check_served_all(&expected, &blocks, opts.served_wait)
                .await
                .into_iter()
                .map(|(k, problem)| (checked[k], problem))
                .collect();
        for &i in checked
            .iter()
            .filter(|i| !failed.iter().any(|(f, _)| f == *i))
        {
            if let Some(p) = &results[i].1 {
                super::deploy::confirm_served(store, &p.record.name, p.installed).await;
            }
        }
        crate::failpoint::hit("renew.after_served_check");
        if failed.is_empty() {
            continue;
        }
        for (i, problem) in &failed {
            let (report, pending) = &mut results[*i];
            roll_back(store, opts, report, pending.take(), problem.clone()).await;
        }
        // nginx must load the restored files too; if it cannot, say so on each.
        let n = nginx.clone();
        if let Err(e) = super::blocking(move || n.reload()).await {
            for (i, _) in &failed {
                if let Outcome::Failed { error, .. } = &mut results[*i].0.outcome {
                    error.push_str(&format!("; reloading nginx after the restore failed: {e}"));
                }
            }
        }
    }
    for (report, pending) in results.iter_mut() {
        let Some(p) = pending.take() else { continue };
        let hooks = [p.record.deploy_hook.as_deref(), opts.deploy_hook.as_deref()];
        let mut hook_error = None;
        for hook in hooks.into_iter().flatten() {
            if let Err(e) = run_hook(store, hook, &p.record, p.installed).await {
                report.outcome = Outcome::Failed {
                    error: format!("renewed and live, but {e}"),
                    kind: FailureKind::NeedsAttention,
                    next_retry: None,
                };
                hook_error = Some(e.to_string());
            }
        }
        crate::failpoint::hit("renew.after_hooks");
        // Deployed: a later run does not deploy this version again. Written under the
        // certificate's lock, while this run still holds the deploy claim.
        let installed = p.installed;
        update_state(store, opts, &report.name, "the deploy", move |state| {
            state.deployed_version = Some(installed);
            if hook_error.is_some() {
                state.last_error = hook_error;
            }
        })
        .await;
        drop(p);
    }
}

/// True when nginx's complaint names one of this certificate's live files: the failure is the
/// new certificate's.
fn names_live_files(store: &dyn CertStore, record: &RenewalRecord, message: &str) -> bool {
    let slots: &[KeySlot] = match record.dual {
        true => &[KeySlot::Primary, KeySlot::Rsa],
        false => &[KeySlot::Primary],
    };
    slots.iter().any(|&slot| {
        let paths = store.live_paths(&record.name, slot);
        [&paths.cert, &paths.chain, &paths.fullchain, &paths.privkey]
            .iter()
            .any(|p| message.contains(&*p.to_string_lossy()))
    })
}

/// Records a deploy failure that is not the new certificate's: the failure is counted, the
/// new certificate stays live.
async fn record_failure(
    store: &dyn CertStore,
    opts: &RenewOptions,
    report: &mut CertReport,
    error: String,
) {
    let now = crate::clock::unix_now();
    let failure = error.clone();
    let state = update_state(store, opts, &report.name, "the failure", move |state| {
        state.failed(now, failure, FailureKind::NeedsAttention, None);
    })
    .await;
    report.outcome = Outcome::Failed {
        error,
        kind: FailureKind::NeedsAttention,
        next_retry: state.next_retry,
    };
}

/// Puts the previous live set back after a deploy that did not take (not on a fleet:
/// `deploy::roll_back_to`), and records the failure.
/// Only the version this run installed is replaced (one a concurrent run or a human installed
/// since is left alone), and only by a version valid for at least a day.
async fn roll_back(
    store: &dyn CertStore,
    opts: &RenewOptions,
    report: &mut CertReport,
    pending: Option<Pending>,
    problem: String,
) {
    let Some(p) = pending else { return };
    let lock = super::locks::cert(store, &report.name, opts.lock_wait).await;
    let now = crate::clock::unix_now();
    let (name, installed, previous) = (report.name.clone(), p.installed, p.previous);
    let (error, state, not_after) = super::with_store(store, move |s| {
        let outcome = match &lock {
            Err(e) => format!("the new certificate stays live: {e}"),
            Ok(_) => super::deploy::roll_back_to(s, &name, installed, previous, now),
        };
        crate::failpoint::hit("renew.after_rollback");
        let error = format!("{problem}; {outcome}");
        let mut state = s.load_state(&name).unwrap_or_default();
        state.failed(now, error.clone(), FailureKind::NeedsAttention, None);
        if lock.is_ok()
            && let Err(e) = s.save_state(&name, &state)
        {
            tracing::warn!("{name}: cannot record the failure: {e}");
        }
        let not_after = live_leaf(s, &name).map(|(info, _)| info.not_after);
        (error, state, not_after)
    })
    .await;
    report.not_after = not_after;
    report.outcome = Outcome::Failed {
        error,
        kind: FailureKind::NeedsAttention,
        next_retry: state.next_retry,
    };
    drop(p);
}

/// Changes a certificate's state under its lock, on the blocking pool; a state that cannot be
/// written is logged (`what` was not recorded). Returns the state as changed (the default when
/// the lock could not be had).
async fn update_state(
    store: &dyn CertStore,
    opts: &RenewOptions,
    name: &str,
    what: &'static str,
    change: impl FnOnce(&mut RenewalState) + Send + 'static,
) -> RenewalState {
    let lock = match super::locks::cert(store, name, opts.lock_wait).await {
        Ok(lock) => lock,
        Err(e) => {
            tracing::warn!("{name}: cannot record {what}: {e}");
            return RenewalState::default();
        }
    };
    let name = name.to_owned();
    super::with_store(store, move |s| {
        let _lock = lock;
        let mut state = s.load_state(&name).unwrap_or_default();
        change(&mut state);
        if let Err(e) = s.save_state(&name, &state) {
            tracing::warn!("{name}: cannot record {what}: {e}");
        }
        state
    })
    .await
}

/// What the store knows about one certificate.
struct Known {
    record: RenewalRecord,
    state: RenewalState,
    live_version: Option<u64>,
    live: Option<(CertInfo, CertificateDer<'static>)>,
    /// The ARI identifier of the live certificate: what its stored renewal window belongs to.
    cert_id: String,
}

impl Known {
    fn load(store: &dyn CertStore, name: &str) -> Result<Self, Error> {
        let record = super::record_of(store, name, UnknownCertHint::None)?;
        let state = store.load_state(name)?;
        let live_version = store.live_version(name)?;
        let live = live_leaf(store, name);
        let cert_id = live
            .as_ref()
            .map(|(_, leaf)| crate::acme::ari::cert_id(leaf).unwrap_or_default())
            .unwrap_or_default();
        Ok(Self {
            record,
            state,
            live_version,
            live,
            cert_id,
        })
    }
}

/// Screens every certificate (see [`screen`]), on up to four threads: per certificate, its
/// name, its live version as found, and the expiry and plan when it is not due.
#[allow(clippy::type_complexity)]
fn screen_all(
    store: &dyn CertStore,
    opts: &RenewOptions,
    names: Vec<String>,
) -> Vec<(String, Option<u64>, Option<(i64, Plan)>)> {
    let now = crate::clock::unix_now();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let chunk = names.len().div_ceil(threads).max(64);
    let one = |name: String| {
        let version = store.live_version(&name).ok().flatten();
        let screened = screen(store, opts, &name, version, now);
        (name, version, screened)
    };
    if names.len() <= chunk {
        return names.into_iter().map(one).collect();
    }
    std::thread::scope(|scope| {
        let workers: Vec<_> = names
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().cloned().map(one).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("the screen does not panic"))
            .collect()
    })
}

/// The lock-free look that finds most certificates not due: from the cached facts while the live
/// leaf and the record are unchanged, else from the files (and the facts cached for next time).
/// Returns the expiry and plan when not due; anything else is decided again under the lock.
fn screen(
    store: &dyn CertStore,
    opts: &RenewOptions,
    name: &str,
    found_version: Option<u64>,
    now: i64,
) -> Option<(i64, Plan)> {
    let mut state = store.load_state(name).ok()?;
    let version = found_version?;
    let record_stamp = store.record_stamp(name);
    if state.live_facts(Some(version), record_stamp).is_none() {
        // Read from the version's own files (never through live/, which may move meanwhile),
        // the record after its stamp: facts cached from files that change later are rejected.
        let record = store.load_record(name).ok()??;
        let pem = store.version_fullchain(name, version).ok()??;
        let leaf = verify::parse_pem_chain(&pem).ok()?.into_iter().next()?;
        let info = verify::cert_info(&leaf).ok()?;
        let facts = crate::renewal::state::LiveFacts {
            version,
            record: record_stamp?,
            manual: record.responder == Responder::Manual,
            renew_before_days: record.renew_before_days,
            cert_id: crate::acme::ari::cert_id(&leaf).unwrap_or_default(),
            serial: info.serial,
            not_before: info.not_before,
            not_after: info.not_after,
        };
        state.live = Some(facts.clone());
        // Cached only when the lock is free at once: state.json is written under it.
        if let Ok(Some(_lock)) = store.try_lock_cert(name)
            && let Ok(mut current) = store.load_state(name)
        {
            current.live = Some(facts);
            if let Err(e) = store.save_state(name, &current) {
                tracing::debug!("{name}: cannot cache its facts: {e}");
            }
        }
    }
    let cached = state.live.as_ref()?;
    let live_version = Some(version);
    let live = LiveCert {
        not_before: cached.not_before,
        not_after: cached.not_after,
        cert_id: &cached.cert_id,
    };
    let facts = facts(
        opts,
        found_version,
        cached.manual,
        cached.renew_before_days,
        &state,
        live_version,
        Some(live),
    );
    match decide(&facts, now) {
        Decision::NotDue(plan) => Some((cached.not_after, plan)),
        _ => None,
    }
}

/// The facts a decision needs, before anything was fetched in this run.
fn facts<'a>(
    opts: &RenewOptions,
    found_version: Option<u64>,
    manual: bool,
    renew_before_days: Option<u32>,
    state: &'a RenewalState,
    live_version: Option<u64>,
    live: Option<LiveCert<'a>>,
) -> Facts<'a> {
    Facts {
        manual,
        revoked: state.revoked.as_ref().map(|r| r.reason.as_str()),
        dry_run: opts.dry_run,
        force: opts.force,
        // `renew --days` given wins over the record's own (certbot's renew_before_expiry).
        days: opts.days.or(renew_before_days),
        deployed_version: state.deployed_version,
        live_version,
        found_version,
        live,
        ari: state.ari.as_ref(),
        ari_refreshed: false,
        archive_checked: false,
        newer_archived: None,
        next_retry: state.next_retry,
        last_error: state.last_error.as_deref(),
    }
}

/// The newest archived version newer than the live one that is worth putting live.
fn newer_archived_version(
    store: &dyn CertStore,
    name: &str,
    live: Option<u64>,
    now: i64,
) -> Option<u64> {
    let versions = store.versions(name).ok()?;
    versions
        .into_iter()
        .rev()
        .take_while(|&v| Some(v) > live)
        .find(|&v| {
            version_info(store, name, v)
                .is_some_and(|i| worth_deploying(i.not_before, i.not_after, now))
        })
}

/// The live leaf, parsed, if there is one.
fn live_leaf(store: &dyn CertStore, name: &str) -> Option<(CertInfo, CertificateDer<'static>)> {
    let pem = store.live_cert(name).ok()??;
    let leaf = verify::parse_pem_chain(&pem).ok()?.into_iter().next()?;
    let info = verify::cert_info(&leaf).ok()?;
    Some((info, leaf))
}

/// What the concurrent renewals of one run share: one account per CA (restoring one fetches the
/// directory, and its HTTP client keeps its connections for every order), and the turn of the
/// standalone responders.
#[derive(Default)]
struct Shared {
    #[allow(clippy::type_complexity)]
    cache: tokio::sync::Mutex<HashMap<(String, Option<PathBuf>), Option<crate::acme::Account>>>,
    standalone: tokio::sync::Mutex<()>,
}

impl Shared {
    /// The stored account for the CA at `server` (trusting `ca_bundle`), restored once per run.
    /// None when there is none yet (the workflow creates it; the next certificate finds it) or
    /// it cannot be restored (remembered, so a CA that is down costs one wait, not one each).
    async fn account(
        &self,
        store: &dyn CertStore,
        server: &str,
        ca_bundle: Option<&std::path::Path>,
    ) -> Option<crate::acme::Account> {
        let key = (server.to_owned(), ca_bundle.map(ToOwned::to_owned));
        let mut cache = self.cache.lock().await;
        if let Some(found) = cache.get(&key) {
            return found.clone();
        }
        let json = super::issue::stored_account(store, server).await.ok()??;
        let account = crate::acme::account::restore(server, ca_bundle, &json)
            .await
            .inspect_err(|e| tracing::warn!("{server}: {e}"))
            .ok();
        cache.insert(key, account.clone());
        account
    }
}

/// Progress of one certificate among many: logged, not drawn.
struct Named<'a>(&'a str);

impl Progress for Named<'_> {
    fn step(&self, step: Step, detail: &str) {
        tracing::info!("{}: {step}: {detail}", self.0);
    }
}

/// Runs a deploy hook for a renewed certificate (once for `version`), stdin closed (renewals
/// run unattended).
async fn run_hook(
    store: &dyn CertStore,
    hook: &str,
    record: &RenewalRecord,
    version: u64,
) -> Result<(), Error> {
    let paths = store.live_paths(&record.name, KeySlot::Primary);
    let rsa = record
        .dual
        .then(|| store.live_paths(&record.name, KeySlot::Rsa));
    let hook = super::deploy::DeployHook {
        command: hook,
        name: &record.name,
        version,
        domains: &record.domains,
        paths: &paths,
        rsa: rsa.as_ref(),
    };
    super::deploy::run_deploy_hook(store, &hook, crate::hooks::Stdin::Null).await?;
    Ok(())
}

/// When a rate-limited CA says to come back. Let's Encrypt words it in the problem detail
/// ("… retry after 2025-01-01 12:00:00 UTC: see …"); instant-acme does not pass the Retry-After
/// header on, so the detail is what there is.
pub fn retry_after(err: &Error) -> Option<i64> {
    let Error::Acme(AcmeError::Refused { problem, .. }) = err else {
        return None;
    };
    let detail = problem.detail.as_deref()?;
    let (_, rest) = detail.split_once("retry after ")?;
    let stamp = rest.get(..19)?;
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let at = time::PrimitiveDateTime::parse(stamp, format).ok()?;
    Some(at.assume_utc().unix_timestamp())
}

/// Tells failures that will fix themselves from those a human must look at.
pub fn failure_kind(err: &Error) -> FailureKind {
    const NEEDS_ATTENTION: [&str; 8] = [
        ":unauthorized",
        ":dns",
        ":caa",
        ":rejectedIdentifier",
        ":unsupportedIdentifier",
        ":badCSR",
        ":accountDoesNotExist",
        ":userActionRequired",
    ];
    let attention = |kind: Option<&str>| {
        kind.is_some_and(|k| NEEDS_ATTENTION.iter().any(|suffix| k.ends_with(suffix)))
    };
    match err {
        Error::Acme(AcmeError::Refused { problem, .. }) => {
            let kind = problem.r#type.as_deref();
            if kind.is_some_and(|k| k.ends_with(":rateLimited")) {
                FailureKind::RateLimited
            } else if attention(kind) {
                FailureKind::NeedsAttention
            } else {
                FailureKind::Transient
            }
        }
        // A CA that errs on its side (or asks us to slow down) will answer again later; a 4xx
        // to the directory is a wrong URL.
        Error::Acme(AcmeError::Status { code, .. }) => match *code >= 500 || *code == 429 {
            true => FailureKind::Transient,
            false => FailureKind::NeedsAttention,
        },
        Error::Acme(AcmeError::ValidationFailed { failures }) => {
            let all_permanent = failures
                .iter()
                .all(|(_, _, p)| attention(p.as_ref().and_then(|p| p.r#type.as_deref())));
            match all_permanent {
                true => FailureKind::NeedsAttention,
                false => FailureKind::Transient,
            }
        }
        Error::Acme(
            AcmeError::Unreachable { .. }
            | AcmeError::Timeout(_)
            | AcmeError::SelfCheck { .. }
            | AcmeError::Responder(_)
            | AcmeError::Protocol(_),
        )
        | Error::Store(_)
        | Error::Busy { .. }
        | Error::Interrupted => FailureKind::Transient,
        _ => FailureKind::NeedsAttention,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(kind: &str) -> Error {
        let problem =
            serde_json::from_str(&format!(r#"{{"type":"{kind}","detail":"x"}}"#)).unwrap();
        Error::Acme(AcmeError::refused("the new order", problem))
    }

    #[test]
    fn reads_the_retry_time_from_a_rate_limit_problem() {
        let problem = serde_json::from_str(
            r#"{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2025-01-01 12:30:00 UTC: see https://letsencrypt.org/docs/rate-limits/"}"#,
        )
        .unwrap();
        let err = Error::Acme(AcmeError::refused("the new order", problem));
        assert_eq!(retry_after(&err), Some(1_735_734_600));
        assert_eq!(
            retry_after(&refused("urn:ietf:params:acme:error:rateLimited")),
            None
        );
    }

    #[test]
    fn tells_permanent_failures_from_transient_ones() {
        let ns = "urn:ietf:params:acme:error";
        assert_eq!(
            failure_kind(&refused(&format!("{ns}:rateLimited"))),
            FailureKind::RateLimited
        );
        assert_eq!(
            failure_kind(&refused(&format!("{ns}:unauthorized"))),
            FailureKind::NeedsAttention
        );
        assert_eq!(
            failure_kind(&refused(&format!("{ns}:serverInternal"))),
            FailureKind::Transient
        );
        assert_eq!(
            failure_kind(&refused(&format!("{ns}:badNonce"))),
            FailureKind::Transient
        );
        let validation = |kind: &str| {
            Error::Acme(AcmeError::ValidationFailed {
                failures: vec![(
                    "a.test".into(),
                    "invalid".into(),
                    serde_json::from_str(&format!(r#"{{"type":"{ns}:{kind}"}}"#)).ok(),
                )],
            })
        };
        assert_eq!(
            failure_kind(&validation("dns")),
            FailureKind::NeedsAttention
        );
        assert_eq!(
            failure_kind(&validation("connection")),
            FailureKind::Transient
        );
        let unreachable = Error::Acme(AcmeError::Unreachable {
            url: "u".into(),
            reason: "refused".into(),
        });
        assert_eq!(failure_kind(&unreachable), FailureKind::Transient);
        assert_eq!(
            failure_kind(&Error::Verify(verify::VerifyError::KeyMismatch)),
            FailureKind::NeedsAttention
        );
    }
}
