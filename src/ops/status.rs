//! `certctl status`: one look at the whole machine. Per certificate what `list` knows (names,
//! days left against its lifetime, next renewal and why, the last result), plus what nginx
//! serves for each of its names: one bounded handshake per name and address, all at once (up to
//! `concurrency`), with the same verdict renew's post-deploy check uses
//! ([`super::deploy::served_verdict`]); and how renew runs (timer, daemon). `health` turns the
//! facts into findings and the exit code.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use rustls_pki_types::CertificateDer;
use serde::Serialize;

use crate::Error;
use crate::config::RenewalRecord;
use crate::finding::{Finding, Severity};
use crate::health::{self, CertFacts, SchedulerFacts, Served, ServedResult};
use crate::nginx::binary::Nginx;
use crate::nginx::dump::ServerBlock;
use crate::scheduler::daemon::{self, DaemonState};
use crate::scheduler::systemd::{self, TimerState};
use crate::store::CertStore;
use crate::verify::Anchors;

use super::deploy::{self, Unserved};
use super::list::{self, ListEntry};

/// How `status` looks.
#[derive(Clone, Debug)]
pub struct StatusOptions {
    /// Each handshake (connect included) ends within this.
    pub timeout: Duration,
    /// At most this many handshakes at once.
    pub concurrency: usize,
    /// The system root the timer is looked for under.
    pub systemd_root: PathBuf,
    /// The state directory (the daemon's heartbeat is there).
    pub state_dir: PathBuf,
}

/// One certificate.
#[derive(Clone, Debug, Serialize)]
pub struct CertStatus {
    /// What `list --json` says about it.
    #[serde(flatten)]
    pub entry: ListEntry,
    /// Its whole lifetime in days.
    pub lifetime_days: Option<i64>,
    /// Which nginx serves it (None: no nginx site of certctl's or repointed by an import).
    pub nginx: Option<Nginx>,
    /// What nginx serves for each name at each address.
    pub served: Vec<Served>,
    /// What is wrong, worst first.
    pub findings: Vec<Finding>,
    /// The worst finding's severity (`ok` without findings).
    pub severity: Severity,
}

/// How renew runs.
#[derive(Clone, Debug, Serialize)]
pub struct SchedulerStatus {
    /// certctl's systemd timer.
    pub timer: TimerState,
    /// A running `certctl daemon`, from its heartbeat.
    pub daemon: Option<DaemonState>,
}

/// The whole machine.
#[derive(Clone, Debug, Serialize)]
pub struct StatusReport {
    /// When, Unix seconds.
    pub now: i64,
    /// Every certificate, by name.
    pub certificates: Vec<CertStatus>,
    /// Timer and daemon.
    pub scheduler: SchedulerStatus,
    /// Findings about the machine rather than one certificate.
    pub findings: Vec<Finding>,
    /// 0 all good, 1 warnings, 2 a person is needed.
    pub exit_code: u8,
}

/// The facts that need no network: the store, the timer, the daemon's heartbeat. Blocking.
pub fn gather(store: &dyn CertStore, opts: &StatusOptions, now: i64) -> Result<Gathered, Error> {
    let entries = list::list(store, now)?;
    let records = entries
        .iter()
        .map(|e| store.load_record(&e.name).ok().flatten())
        .collect();
    let timer = systemd::timer_state(&opts.systemd_root).unwrap_or_else(|e| {
        tracing::warn!("{e}");
        TimerState::default()
    });
    Ok(Gathered {
        entries,
        records,
        scheduler: SchedulerStatus {
            timer,
            daemon: daemon::running(&opts.state_dir),
        },
        system_roots: crate::trust::system_roots(),
    })
}

/// What [`gather`] found.
pub struct Gathered {
    entries: Vec<ListEntry>,
    records: Vec<Option<RenewalRecord>>,
    scheduler: SchedulerStatus,
    system_roots: Vec<CertificateDer<'static>>,
}

/// What nginx serves for every name of every certificate: `nginx -T` once per nginx, then the
/// handshakes, all concurrent and each bounded.
async fn served(g: &Gathered, opts: &StatusOptions) -> Vec<Vec<Served>> {
    let mut nginxes: Vec<&Nginx> = g
        .records
        .iter()
        .flatten()
        .filter_map(RenewalRecord::served_by)
        .collect();
    nginxes.sort_by_key(|n| (&n.bin, &n.prefix, &n.conf));
    nginxes.dedup();
    let dumps =
        futures_util::future::join_all(nginxes.iter().map(|n| deploy::try_served_blocks(n))).await;
    let blocks_of = |n: &Nginx| -> &Result<Vec<ServerBlock>, String> {
        let i = nginxes
            .iter()
            .position(|m| *m == n)
            .expect("every nginx was dumped");
        &dumps[i]
    };
    let mut roots: HashMap<Option<&Path>, Vec<CertificateDer<'static>>> = HashMap::new();
    for record in g.records.iter().flatten() {
        roots
            .entry(record.ca_bundle.as_deref())
            .or_insert_with(|| deploy::with_bundle(g.system_roots.clone(), record));
    }
    // Made ready for path building once per CA bundle, not once per handshake.
    let anchors: HashMap<Option<&Path>, Anchors<'_>> =
        roots.iter().map(|(k, r)| (*k, Anchors::new(r))).collect();
    // (certificate, name, address or what stands in for the handshake)
    let mut out: Vec<Vec<Served>> = vec![Vec::new(); g.entries.len()];
    let mut checks = Vec::new();
    for (i, (entry, record)) in g.entries.iter().zip(&g.records).enumerate() {
        let (Some(record), Some(serial)) = (record, entry.serial.as_deref()) else {
            continue;
        };
        let Some(nginx) = record.served_by() else {
            continue;
        };
        for host in &record.domains {
            let blocks = match blocks_of(nginx) {
                Ok(blocks) => blocks,
                Err(why) => {
                    out[i].push(Served {
                        name: host.clone(),
                        address: None,
                        result: ServedResult::Unknown { why: why.clone() },
                    });
                    continue;
                }
            };
            let targets = deploy::tls_targets(blocks, host);
            if targets.is_empty() {
                out[i].push(Served {
                    name: host.clone(),
                    address: None,
                    result: ServedResult::NoTlsServer,
                });
            }
            for addr in targets {
                let anchors = &anchors[&record.ca_bundle.as_deref()];
                checks.push(async move {
                    let verdict =
                        deploy::served_verdict(record, host, addr, serial, anchors, opts.timeout)
                            .await;
                    let result = match verdict {
                        Ok(()) => ServedResult::Live,
                        Err(Unserved::OtherSerial { served, .. }) => {
                            ServedResult::OtherSerial { served }
                        }
                        Err(Unserved::Chain(error)) => ServedResult::BadChain { error },
                        Err(Unserved::Handshake(error)) => ServedResult::Unreachable { error },
                    };
                    (
                        i,
                        Served {
                            name: host.clone(),
                            address: Some(addr.to_string()),
                            result,
                        },
                    )
                });
            }
        }
    }
    let done: Vec<(usize, Served)> = futures_util::stream::iter(checks)
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    for (i, served) in done {
        out[i].push(served);
    }
    for list in &mut out {
        list.sort_by(|a, b| (&a.name, &a.address).cmp(&(&b.name, &b.address)));
    }
    out
}

/// The report: [`gather`]'s facts, the handshakes, and the findings.
pub async fn status(g: Gathered, opts: &StatusOptions, now: i64) -> StatusReport {
    let served = served(&g, opts).await;
    let mut certificates = Vec::new();
    let mut renews_any = false;
    for ((entry, record), served) in g.entries.into_iter().zip(&g.records).zip(served) {
        let renewal = entry.renewal.as_ref();
        renews_any |= renewal.is_some();
        let findings = health::assess(&CertFacts {
            name: &entry.name,
            problem: entry.problem.as_deref(),
            expiry: entry.expiry,
            not_renewed: entry.not_renewed.as_deref(),
            last_result: renewal.and_then(|r| r.last_result),
            last_error: renewal.and_then(|r| r.last_error.as_deref()),
            failure_kind: renewal.and_then(|r| r.failure_kind),
            failures: renewal.map_or(0, |r| r.failures),
            served: &served,
        });
        certificates.push(CertStatus {
            lifetime_days: entry
                .not_before
                .zip(entry.not_after)
                .map(|(b, a)| (a - b) / 86_400),
            nginx: record.as_ref().and_then(RenewalRecord::served_by).cloned(),
            served,
            severity: findings
                .iter()
                .map(|f| f.severity)
                .max()
                .unwrap_or(Severity::Ok),
            findings,
            entry,
        });
    }
    let timer = &g.scheduler.timer;
    let findings = health::assess_scheduler(SchedulerFacts {
        timer_installed: timer.installed,
        timer_active: timer
            .systemd
            .then(|| timer.active.as_deref() == Some("active")),
        daemon: g.scheduler.daemon.is_some(),
        renews_any,
    });
    let exit_code = health::exit_code(
        certificates
            .iter()
            .flat_map(|c| &c.findings)
            .chain(&findings),
    );
    StatusReport {
        now,
        certificates,
        scheduler: g.scheduler,
        findings,
        exit_code,
    }
}
