//! `certctl fleet import`: a single server's state directory copied into the fleet's store.
//! Idempotent: a certificate or account the store already has is left as the fleet has it.
//! `certctl fleet export`: the inverse, the store written into a state directory.
//! `certctl fleet http01-snippet`: the stateless HTTP-01 location for the fleet's account.
//! `converge` / `watch`: a node brought in line with the fleet and deployed to its own nginx
//! (what `certctl daemon --store … --nginx` runs), serving the challenges of a first order
//! another node makes (`place_challenges`).

use super::deploy::Expected;
use crate::Error;
use crate::config::RenewalRecord;
use crate::error::InputError;
use crate::nginx::binary::Nginx;
use crate::nginx::render::NginxLayout;
use crate::nginx::{NginxError, NginxSite};
use crate::store::pg::{NodeDeploy, Notice};
use crate::store::{CertStore, DeployStep, FsStore, PgStore, StoreLock};

/// What an import or an export did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Transfer {
    /// Certificates copied.
    pub copied: Vec<String>,
    /// Certificates the destination already had (left as they are).
    pub present: Vec<String>,
    /// ACME directories whose account was copied.
    pub accounts: Vec<String>,
}

/// Copies every certificate of `from` with `cert` (true: copied, false: the destination had
/// it) and then the account of every CA they use with `account` (true: copied). Each
/// certificate is told to `tally` as it is copied.
fn transfer(
    from: &dyn CertStore,
    tally: &dyn crate::progress::Tally,
    cert: impl Fn(&str) -> Result<bool, Error>,
    account: impl Fn(&str, &[u8]) -> Result<bool, Error>,
) -> Result<Transfer, Error> {
    let mut report = Transfer::default();
    let mut directories = Vec::new();
    let names = from.cert_names()?;
    tally.total(names.len() as u64);
    for name in names {
        if let Some(record) = from.load_record(&name)?
            && !directories.contains(&record.server)
        {
            directories.push(record.server.clone());
        }
        let copied = cert(&name)?;
        tally.done(&name);
        match copied {
            true => report.copied.push(name),
            false => report.present.push(name),
        }
    }
    for url in directories {
        if let Some(credentials) = from.load_account(&url)?
            && account(&url, &credentials)?
        {
            report.accounts.push(url);
        }
    }
    Ok(report)
}

/// Copies every certificate (all versions, record, state, live version) and the account of
/// every CA they use from `from` (this node's state directory) into `store`, then brings this
/// node in line with the fleet (`converge`), which also records what it serves.
pub fn import(
    from: &FsStore,
    store: &PgStore,
    tally: &dyn crate::progress::Tally,
) -> Result<Transfer, Error> {
    let report = transfer(
        from,
        tally,
        |name| Ok(store.import_cert(from, name)?),
        |url, credentials| Ok(store.import_account(url, credentials)?),
    )?;
    store.converge(&())?;
    Ok(report)
}

/// The inverse of [`import`]: every certificate of the store (all versions, record, state,
/// live version) and the account of every CA they use, written into the state directory `to`
/// as a single server keeps them, so certctl can run there without the fleet. Idempotent: what
/// `to` already has is left alone.
pub fn export(
    store: &PgStore,
    to: &FsStore,
    tally: &dyn crate::progress::Tally,
) -> Result<Transfer, Error> {
    transfer(
        store,
        tally,
        |name| Ok(store.export_cert(to, name)?),
        |url, credentials| {
            if to.load_account(url)?.is_some() {
                return Ok(false);
            }
            to.save_account(url, credentials)?;
            Ok(true)
        },
    )
}

/// The nginx location that answers every HTTP-01 challenge of the account the store holds for
/// `directory_url`, on any node (see `nginx-snippets/acme-challenge-stateless.conf`).
pub fn http01_snippet(store: &dyn CertStore, directory_url: &str) -> Result<String, Error> {
    let thumbprint = account_thumbprint(store, directory_url)?
        .ok_or_else(|| InputError::NoAccount(directory_url.to_owned()))?;
    Ok(crate::nginx::render::acme_stateless_snippet(&thumbprint))
}

/// The JWK thumbprint of the account the store holds for `directory_url`, if it holds one: what
/// every node's ACME location answers with ([`crate::nginx::NginxSite::fleet_thumbprint`]).
pub fn account_thumbprint(
    store: &dyn CertStore,
    directory_url: &str,
) -> Result<Option<String>, Error> {
    match store.load_account(directory_url)? {
        Some(credentials) => Ok(Some(crate::acme::account::thumbprint(
            directory_url,
            &credentials,
        )?)),
        None => Ok(None),
    }
}

/// What one convergence of this node did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConvergeReport {
    /// Certificates whose local live/ now has the fleet's live version.
    pub changed: Vec<String>,
    /// Certificates this node's nginx was reloaded for and now serves: (name, serial).
    pub served: Vec<(String, String)>,
    /// Certificates whose deploy here failed: (name, why). They are tried again next time.
    pub failed: Vec<(String, String)>,
    /// Certificates a renew run on this node is deploying right now (its deploy claim): they
    /// are looked at again in a moment.
    pub busy: Vec<String>,
    /// Certificates whose nginx site was placed or reverted here: (name, what was done).
    pub sites: Vec<(String, &'static str)>,
}

/// This node's nginx, as `certctl daemon --nginx` was told: what is tested and reloaded, and
/// where the sites the fleet's records describe are placed.
#[derive(Clone, Debug)]
pub struct NodeNginx {
    /// How to run this node's nginx.
    pub nginx: Nginx,
    /// Where certctl's files go on this node.
    pub layout: NginxLayout,
    /// How often the daemon looks without a notice (what the fleet counts on when it waits).
    pub recheck: std::time::Duration,
}

/// What [`place_sites`] did on this node: sites placed or reverted, and those it could not.
#[derive(Default)]
struct Placed {
    /// (name, what was done).
    done: Vec<(String, &'static str)>,
    /// (name, why not).
    failed: Vec<(String, String)>,
}

/// Places on this node the nginx site each fleet record describes (`issue --nginx` on any
/// node), with this node's nginx and paths, as `certctl nginx NAME` would write it here, and
/// the ACME location answering the fleet account's tokens. A site placed once is placed again
/// only when the record's site changes (a marker in its nginx journal says what was placed);
/// a record that no longer has a site (`certctl nginx NAME --revert` on any node) reverts what
/// was placed here.
fn place_sites(store: &PgStore, node: &NodeNginx) -> Result<Placed, Error> {
    let local = store.local();
    let backup_root = super::nginx::backup_root(local.layout().root());
    let mut thumbprints = std::collections::HashMap::new();
    let mut placed = Placed::default();
    for name in local.cert_names()? {
        let Some(record) = local
            .load_record(&name)?
            .filter(|_| matches!(local.live_version(&name), Ok(Some(_))))
        else {
            continue;
        };
        let marker = super::nginx::journal_dir(&backup_root, &name).join("placed-site.toml");
        let Some(site) = record.nginx.clone() else {
            if let Some(outcome) = unplace_site(local, &name, &marker, &backup_root) {
                match outcome {
                    Ok(()) => placed.done.push((name, "nginx site reverted here")),
                    Err(e) => placed
                        .failed
                        .push((name, format!("cannot revert the nginx site here: {e}"))),
                }
            }
            continue;
        };
        let mut here = NginxSite {
            nginx: node.nginx.clone(),
            layout: node.layout.clone(),
            ..site
        };
        let text = toml::to_string(&here).expect("a site always serializes");
        if std::fs::read_to_string(&marker).is_ok_and(|m| m == text) {
            continue;
        }
        if !thumbprints.contains_key(&record.server) {
            let thumbprint = account_thumbprint(store, &record.server)?;
            thumbprints.insert(record.server.clone(), thumbprint);
        }
        here.fleet_thumbprint = thumbprints[&record.server].clone();
        let placed_here = super::nginx::configure_site(
            local,
            &name,
            &here,
            record.http_port,
            false,
            &backup_root,
            crate::nginx::apply::Reload::IfChanged,
            false,
        );
        match placed_here {
            Ok(_) => {
                write_marker(&marker, &text)?;
                placed.done.push((name, "nginx site placed here"));
            }
            Err(e) => placed
                .failed
                .push((name, format!("cannot place the nginx site here: {e}"))),
        }
    }
    Ok(placed)
}

/// Writes a marker of what was placed on this node (the site as placed, `text`), in the
/// certificate's nginx journal.
fn write_marker(marker: &std::path::Path, text: &str) -> Result<(), Error> {
    if let Some(dir) = marker.parent() {
        std::fs::create_dir_all(dir).map_err(crate::fsio::io("cannot create", dir))?;
    }
    Ok(crate::fsio::write_atomic(marker, text.as_bytes(), 0o644)?)
}

/// The marker of what [`place_challenges`] placed on this node for `name`'s first order.
fn challenge_marker(backup_root: &std::path::Path, name: &str) -> std::path::PathBuf {
    super::nginx::journal_dir(backup_root, name).join("placed-challenges.toml")
}

/// Serves on this node the challenges of each first order another node asked the fleet to
/// serve (`issue --nginx` for names no node serves yet; `CertStore::share_challenges`): the
/// ACME location answering the fleet account's tokens for its names on this node's port-80
/// servers, as `issue --nginx` sets it up before ordering, then this node's answer. What was
/// placed for an order that is over without a certificate (withdrawn, or expired when its
/// node died) is reverted; a certificate that came of it gets its whole site from
/// [`place_sites`].
fn place_challenges(store: &PgStore, node: &NodeNginx) -> Result<Placed, Error> {
    let local = store.local();
    let backup_root = super::nginx::backup_root(local.layout().root());
    let pending = store.pending_challenges(node.recheck)?;
    let mut placed = Placed::default();
    for p in pending.iter().filter(|p| !p.confirmed_here) {
        let request = &p.request;
        let outcome = (|| -> Result<(), Error> {
            let identifiers = request
                .identifiers
                .iter()
                .map(|i| crate::names::parse_identifier(i))
                .collect::<Result<Vec<_>, _>>()?;
            let site = NginxSite {
                nginx: node.nginx.clone(),
                layout: node.layout.clone(),
                fleet_thumbprint: account_thumbprint(store, &request.server)?,
                ..request.site.clone()
            };
            super::nginx::prepare_challenges(
                local,
                &site,
                &request.name,
                &identifiers,
                request.http_port,
                &backup_root,
            )?;
            let text = toml::to_string(&site).expect("a site always serializes");
            write_marker(&challenge_marker(&backup_root, &request.name), &text)
        })();
        let problem = match outcome {
            Ok(()) => {
                placed.done.push((
                    request.name.clone(),
                    "serving the first order's challenges here",
                ));
                None
            }
            Err(e) => {
                let why = format!("cannot serve the first order's challenges here: {e}");
                placed.failed.push((request.name.clone(), why.clone()));
                Some(why)
            }
        };
        // A request withdrawn meanwhile takes no answer; the next cycle sees it is over.
        if let Err(e) = store.confirm_challenges(&request.name, p.number, problem) {
            tracing::warn!("{}: cannot confirm the challenges: {e}", request.name);
        }
    }
    // Orders that are over: a certificate that came of one keeps what was placed (its site
    // follows); one that did not is reverted. The fleet's live version decides, as it is now:
    // the request is withdrawn only after the certificate went live.
    let journals = std::fs::read_dir(super::nginx::journal_root(&backup_root));
    let names = journals.into_iter().flatten().flatten();
    for name in names.filter_map(|entry| entry.file_name().into_string().ok()) {
        let marker = challenge_marker(&backup_root, &name);
        if !marker.exists() || pending.iter().any(|p| p.request.name == name) {
            continue;
        }
        match store.fresh_live_version(&name) {
            Ok(Some(_)) => {
                let _ = std::fs::remove_file(&marker);
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(
                    "{name}: cannot tell whether its first order made a certificate: {e}"
                );
                continue;
            }
        }
        if let Some(outcome) = unplace_site(local, &name, &marker, &backup_root) {
            match outcome {
                Ok(()) => placed.done.push((
                    name,
                    "the first order is over: its challenges reverted here",
                )),
                Err(e) => placed.failed.push((
                    name,
                    format!("cannot revert the first order's challenges: {e}"),
                )),
            }
        }
    }
    Ok(placed)
}

/// Reverts the site placed on this node for `name` (its marker says what was placed), as
/// `certctl nginx NAME --revert` would here. None when nothing was placed; a journal already
/// reverted by hand only loses its marker.
fn unplace_site(
    local: &FsStore,
    name: &str,
    marker: &std::path::Path,
    backup_root: &std::path::Path,
) -> Option<Result<(), Error>> {
    let text = std::fs::read_to_string(marker).ok()?;
    let outcome = match toml::from_str::<NginxSite>(&text) {
        Ok(site) => match super::nginx::revert(local, name, &site, backup_root, false, false) {
            Ok(_) | Err(Error::Nginx(NginxError::NothingToRevert(_))) => Ok(()),
            Err(e) => Err(e),
        },
        // A marker this version cannot read: forget it; the journal stays for a manual revert.
        Err(_) => Ok(()),
    };
    if outcome.is_ok() {
        let _ = std::fs::remove_file(marker);
    }
    Some(outcome)
}

/// One certificate whose local live version this node's nginx has not been confirmed to serve.
struct Undeployed {
    name: String,
    version: u64,
    record: RenewalRecord,
    serial: String,
    /// The local deploy claim: a renew run on this node does not deploy it meanwhile.
    _claim: StoreLock,
}

/// Brings this node in line with the fleet, as a single server deploys: the store's live
/// versions into the local live/ (atomic swap), then, with `nginx`, for every local version
/// nginx was not yet confirmed to serve: `nginx -t` (through `-T`), one reload, and a handshake
/// per name and address that must present the new serial (`deploy::check_served_all`).
/// Served versions get their deploy mark; node status records the serial served and when, or
/// the problem. A failing deploy here is reported and retried on the next call; it never
/// touches the fleet's version (no rollback: other nodes serve it). Blocking work runs on the
/// blocking pool.
pub async fn converge(
    store: &PgStore,
    node: Option<&NodeNginx>,
    served_wait: std::time::Duration,
) -> Result<ConvergeReport, Error> {
    let pg = store.clone();
    let changed = super::blocking(move || pg.converge(&())).await?;
    let mut report = ConvergeReport {
        changed,
        ..ConvergeReport::default()
    };
    let Some(node) = node else {
        return Ok(report);
    };
    let nginx = &node.nginx;
    let (pg, n) = (store.clone(), node.clone());
    let placed = super::blocking(move || {
        let mut challenges = place_challenges(&pg, &n)?;
        let sites = place_sites(&pg, &n)?;
        challenges.done.extend(sites.done);
        challenges.failed.extend(sites.failed);
        Ok::<_, Error>(challenges)
    })
    .await?;
    (report.sites, report.failed) = (placed.done, placed.failed);
    let pg = store.clone();
    let (mut todo, busy) = super::blocking(move || undeployed(pg.local())).await?;
    // A site that could not be placed here is reported once, as that.
    todo.retain(|c| !report.failed.iter().any(|(name, _)| *name == c.name));
    report.busy = busy;
    if todo.is_empty() {
        return Ok(report);
    }
    let n = nginx.clone();
    // `nginx -T` tests the configuration as `-t` does and says what the reload will serve.
    let reloaded = super::blocking(move || match n.dump() {
        Ok(config) => n.reload().map(|()| config).map_err(|e| e.to_string()),
        Err(NginxError::Broken { stderr }) => Err(format!(
            "nginx -t fails here, so nginx was not reloaded and serves the previous certificate: {}",
            stderr
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        )),
        Err(e) => Err(e.to_string()),
    })
    .await;
    let mut deploys = Vec::new();
    match reloaded {
        Err(problem) => {
            for cert in &todo {
                report.failed.push((cert.name.clone(), problem.clone()));
            }
        }
        Ok(config) => {
            let blocks = crate::nginx::dump::server_blocks(&config);
            let expected: Vec<Expected> = todo
                .iter()
                .map(|c| Expected {
                    record: &c.record,
                    serial: &c.serial,
                })
                .collect();
            let failed = super::deploy::check_served_all(&expected, &blocks, served_wait).await;
            for (i, cert) in todo.iter().enumerate() {
                match failed.iter().find(|(f, _)| *f == i) {
                    Some((_, problem)) => report.failed.push((cert.name.clone(), problem.clone())),
                    None => {
                        super::deploy::confirm_served(store, &cert.name, cert.version).await;
                        report.served.push((cert.name.clone(), cert.serial.clone()));
                    }
                }
            }
        }
    }
    for (name, serial) in &report.served {
        deploys.push(NodeDeploy {
            name: name.clone(),
            served: Some(serial.clone()),
            problem: None,
        });
    }
    for (name, problem) in &report.failed {
        deploys.push(NodeDeploy {
            name: name.clone(),
            served: None,
            problem: Some(problem.clone()),
        });
    }
    let pg = store.clone();
    super::blocking(move || pg.report_served(&deploys)).await?;
    drop(todo);
    Ok(report)
}

/// The local certificates whose live version nginx was not confirmed to serve, each with its
/// deploy claim; and those a renew run on this node is deploying (left to it for now).
fn undeployed(local: &FsStore) -> Result<(Vec<Undeployed>, Vec<String>), Error> {
    let (mut todo, mut busy) = (Vec::new(), Vec::new());
    for name in local.cert_names()? {
        let Some(version) = local.live_version(&name)? else {
            continue;
        };
        if local.deploy_marked(&name, version, DeployStep::Served) {
            continue;
        }
        let (Some(record), Some(cert)) = (local.load_record(&name)?, local.live_cert(&name)?)
        else {
            continue;
        };
        let Some(claim) = local.try_claim_deploy(&name)? else {
            busy.push(name);
            continue;
        };
        let serial = crate::verify::parse_pem_chain(&cert)
            .ok()
            .and_then(|chain| chain.into_iter().next())
            .and_then(|leaf| crate::verify::cert_info(&leaf).ok())
            .map(|info| info.serial)
            .unwrap_or_default();
        todo.push(Undeployed {
            name,
            version,
            record,
            serial,
            _claim: claim,
        });
    }
    Ok((todo, busy))
}

/// How soon a certificate another run on this node was deploying is looked at again.
const BUSY_AGAIN: std::time::Duration = std::time::Duration::from_millis(200);

/// Keeps this node converged for as long as it runs (`certctl daemon` on a fleet node): a
/// convergence at start, on every new live version the store announces (LISTEN), and every
/// `every` as the fallback. When the database goes away, nginx keeps serving the local files;
/// `say` reports the loss once and the return once, and the loop tries again every `every`.
/// A store opened while the database was away (`checked` false) is checked (schema, fleet key)
/// once the database answers; returns only when that check fails.
pub async fn watch(
    store: &PgStore,
    nginx: Option<&NodeNginx>,
    every: std::time::Duration,
    served_wait: std::time::Duration,
    mut checked: bool,
    say: &dyn Fn(&str),
) -> Error {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut listener = None;
    let mut reachable = true;
    let lost = |reachable: &mut bool, why: &str| {
        if std::mem::replace(reachable, false) {
            say(&format!(
                "the fleet database is unreachable ({why}): nginx keeps serving this node's files; renewals wait until it is back (checking every {} s)",
                every.as_secs()
            ));
        }
    };
    loop {
        let mut wait = every;
        if listener.is_none() {
            let (pg, tx) = (store.clone(), tx.clone());
            match super::blocking(move || pg.listen(tx)).await {
                Ok(l) => listener = Some(l),
                Err(e) => lost(&mut reachable, &e.to_string()),
            }
        }
        let (started, trips) = (std::time::Instant::now(), store.round_trips());
        let converged = async {
            if !checked {
                let pg = store.clone();
                super::blocking(move || pg.check()).await?;
                checked = true;
            }
            converge(store, nginx, served_wait).await
        }
        .await;
        tracing::debug!(
            "converge cycle: {} ms, {} database round trips",
            started.elapsed().as_millis(),
            store.round_trips() - trips
        );
        match converged {
            Ok(report) => {
                if !std::mem::replace(&mut reachable, listener.is_some()) && reachable {
                    say("the fleet database is back");
                }
                for name in &report.changed {
                    say(&format!("{name}: the fleet's live version is now here"));
                }
                for (name, done) in &report.sites {
                    say(&format!("{name}: {done}"));
                }
                for (name, serial) in &report.served {
                    say(&format!("{name}: nginx serves serial {serial}"));
                }
                for (name, problem) in &report.failed {
                    say(&format!("{name}: not deployed here: {problem}"));
                }
                if !report.busy.is_empty() {
                    wait = wait.min(BUSY_AGAIN);
                }
            }
            Err(e @ Error::Store(crate::store::StoreError::Db { .. })) => {
                lost(&mut reachable, &e.to_string())
            }
            // The database answers, but it is not this fleet's (schema, key).
            Err(e) if !checked => return e,
            Err(e) => say(&format!(
                "cannot bring this node in line with the fleet: {e}"
            )),
        }
        let notice = tokio::select! {
            notice = rx.recv() => notice,
            _ = tokio::time::sleep(wait) => None,
        };
        // One convergence covers every notice that arrived meanwhile.
        for notice in notice
            .into_iter()
            .chain(std::iter::from_fn(|| rx.try_recv().ok()))
        {
            if let Notice::Lost(why) = notice {
                listener = None;
                lost(&mut reachable, &why);
            }
        }
    }
}
