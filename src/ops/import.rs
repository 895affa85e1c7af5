//! `certctl import certbot`: take certbot's lineages over: certbot's directory → a plan per
//! lineage (certbot::renewal) → its live files checked (keys, verify) → store → the account
//! (certbot::account: its URL and key, P-256 or RSA, shared with certbot, which can go on using
//! it for what it still renews). Lineages certctl cannot renew the way certbot did
//! are left to certbot, with the reason. Nothing under certbot's directory is written;
//! `--dry-run` writes nothing and sends nothing to the CA.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::Error;
use crate::certbot::dir::{ConfigDir, LineageFiles};
use crate::certbot::renewal::{self, Plan, RenewalConf};
use crate::certbot::{account, schedule};
use crate::config::{RECORD_FORMAT, RenewalRecord, Responder};
use crate::keys::PrivateKey;
use crate::nginx::NginxSite;
use crate::nginx::apply::Reload;
use crate::nginx::binary::Nginx;
use crate::ops::repoint::{Moved, NginxReport, Repointing};
use crate::store::{CertFiles, CertStore, KeySlot};

/// What to import and how.
#[derive(Clone, Debug)]
pub struct ImportRequest {
    /// certbot's configuration directory.
    pub config_dir: PathBuf,
    /// Say what would happen; write nothing.
    pub dry_run: bool,
    /// Trusted roots for the CA's API, written into every imported record (certbot took them
    /// from REQUESTS_CA_BUNDLE, which it does not record).
    pub ca_bundle: Option<PathBuf>,
    /// Disable certbot's timer and cron entry under this root once every lineage is certctl's.
    pub disable_certbot: Option<PathBuf>,
    /// The nginx whose files are pointed at certctl's copies, or why none is looked at.
    pub nginx: Result<Nginx, String>,
    /// How a site whose challenges certbot's nginx authenticator answered is taken over, as
    /// `certctl nginx NAME --take-over` does: certctl's layout, TLS profile and HSTS (used only
    /// when `nginx` is Ok, whose binary it carries).
    pub site: NginxSite,
    /// Where previous versions of nginx files go (and the journals `--revert` reads).
    pub backup_root: PathBuf,
    /// Now (Unix seconds).
    pub now: i64,
}

/// What happened to one lineage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Now certctl's.
    Imported,
    /// `--dry-run`: would be certctl's.
    WouldImport,
    /// certctl already has it (an earlier import): the same names under the same name.
    AlreadyImported,
    /// Left to certbot (see the reason).
    Left,
    /// Could have been taken, but writing it failed (see the reason).
    Failed,
}

/// What certctl renews a lineage with: certbot's account, or a new one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AccountOutcome {
    /// certbot's account (its key and URL) is certctl's account for this CA.
    Reused {
        /// The account URL certbot registered.
        url: String,
    },
    /// certctl already had an account for this CA; it is kept.
    CertctlAccount {
        /// Its URL.
        url: String,
    },
    /// certbot's account cannot be used, so certctl registered a new one with the same CA (and
    /// certbot's contact), under the terms certbot's user agreed to.
    Registered {
        /// The new account's URL.
        url: String,
        /// Why certbot's account cannot be used.
        reason: String,
    },
    /// `--dry-run`: certctl would register a new account.
    WouldRegister {
        /// Why certbot's account cannot be used.
        reason: String,
    },
    /// certbot's account cannot be used and registering a new one failed: renewals fail until
    /// certctl has an account for the CA.
    NoAccount {
        /// Why certbot's account cannot be used, and why registering failed.
        reason: String,
    },
}

/// The report of one lineage.
#[derive(Debug, Serialize)]
pub struct LineageReport {
    /// The lineage (and certctl certificate) name.
    pub name: String,
    /// What happened.
    pub outcome: Outcome,
    /// Why it was left or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The certificate's names.
    pub domains: Vec<String>,
    /// Serial number (hex) of the live certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Expiry (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// How renewals answer challenges ("webroot /var/www", "standalone on port 80").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responder: Option<String>,
    /// ACME directory URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Key type of renewals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
    /// The deploy hook renewals run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy_hook: Option<String>,
    /// The account renewals use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountOutcome>,
    /// Where the certificate now lives (certctl's live/NAME/fullchain.pem).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fullchain: Option<PathBuf>,
    /// certbot's installer for the lineage (`nginx`), whose edits certctl repoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installer: Option<String>,
    /// nginx directives that now read certctl's files instead of certbot's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repointed: Vec<Moved>,
    /// certbot's nginx authenticator answered this lineage's challenges: the files certctl
    /// changed to take the site over (its ACME include and redirect on port 80, its certificate,
    /// TLS settings and HSTS on 443), or with `--dry-run` the diff.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteTakeOver>,
    /// Things the user should know (settings not carried over, paths to repoint).
    pub notes: Vec<String>,
}

/// A site taken over for a lineage certbot's nginx authenticator answered for.
#[derive(Debug, Default, Serialize)]
pub struct SiteTakeOver {
    /// Files changed (empty with `--dry-run`).
    pub changed: Vec<PathBuf>,
    /// `--dry-run`: the unified diff of what would change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// Why the site could not be taken over: renewals fail their challenges until it is
    /// (`certctl nginx NAME --take-over`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What was done to certbot's schedule.
#[derive(Debug, Serialize)]
pub struct ScheduleReport {
    /// certbot's timer/cron was (or, with --dry-run, would be) disabled.
    pub disabled: bool,
    /// What was done, one sentence each.
    pub actions: Vec<String>,
    /// Why nothing was disabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The whole import.
#[derive(Debug, Serialize)]
pub struct ImportReport {
    /// certbot's configuration directory.
    pub config_dir: PathBuf,
    /// Nothing was written.
    pub dry_run: bool,
    /// One entry per renewal file, by name.
    pub lineages: Vec<LineageReport>,
    /// Scripts in certbot's renewal-hooks/ directories, which certctl does not run.
    pub directory_hooks: Vec<PathBuf>,
    /// `--disable-certbot`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certbot_schedule: Option<ScheduleReport>,
    /// nginx's files pointed at certctl's copies.
    pub nginx: NginxReport,
}

impl ImportReport {
    /// True when some lineage could not be written, or nginx not repointed (exit 1).
    pub fn failed(&self) -> bool {
        self.lineages.iter().any(|l| {
            l.outcome == Outcome::Failed || l.site.as_ref().is_some_and(|s| s.error.is_some())
        }) || self.nginx.error.is_some()
    }
}

/// A lineage that can be taken: its record, files and account.
struct Taken {
    record: RenewalRecord,
    files: CertFiles,
    account: Result<AccountImport, String>,
}

/// certbot's account, read.
#[derive(Clone)]
struct AccountImport {
    url: String,
    key: account::AccountKey,
}

/// Runs the import. Errors are about the directory as a whole; each lineage's own trouble is in
/// its report.
/// Each lineage is told to `tally` once it is read and checked.
pub async fn import_certbot(
    store: &dyn CertStore,
    req: &ImportRequest,
    tally: &dyn crate::progress::Tally,
) -> Result<ImportReport, Error> {
    let dir = ConfigDir::open(&req.config_dir)?;
    let mut lineages = Vec::new();
    let mut pending = Vec::new();
    let mut accounts = AccountsRead::new();
    let files = dir.renewal_files()?;
    tally.total(files.len() as u64);
    for file in files {
        let mut report = LineageReport {
            name: file.name.clone(),
            outcome: Outcome::Left,
            reason: None,
            domains: Vec::new(),
            serial: None,
            not_after: None,
            responder: None,
            server: None,
            key_type: None,
            deploy_hook: None,
            account: None,
            fullchain: None,
            installer: None,
            repointed: Vec::new(),
            site: None,
            notes: Vec::new(),
        };
        match prepare(
            store,
            &dir,
            &file.name,
            file.text,
            req,
            &mut accounts,
            &mut report,
        ) {
            Err(reason) => {
                report.reason = Some(reason);
            }
            Ok(None) => report.outcome = Outcome::AlreadyImported,
            Ok(Some(taken)) => {
                report.outcome = Outcome::WouldImport;
                pending.push((lineages.len(), taken));
            }
        }
        tally.done(&report.name);
        lineages.push(report);
    }
    // `nginx -T` loads every certificate nginx serves (hundreds of ms for a hundred sites): it
    // runs while the lineages are written.
    let dump = req
        .nginx
        .as_ref()
        .ok()
        .cloned()
        .map(|nginx| tokio::task::spawn_blocking(move || nginx.dump()));
    if !req.dry_run {
        // A dozen fsyncs per lineage: on the blocking pool.
        let handle = store.shared();
        let installed = super::blocking_on(&mut pending, move |p| install_all(&*handle, p)).await;
        for (i, installed) in installed {
            let report = &mut lineages[i];
            match installed {
                Ok(path) => {
                    report.outcome = Outcome::Imported;
                    report.fullchain = Some(path);
                }
                Err(e) => {
                    report.outcome = Outcome::Failed;
                    report.reason = Some(e.to_string());
                }
            }
        }
    }
    // Accounts last, for the lineages that were taken.
    let mut accounts = AccountBook::default();
    for (i, taken) in &pending {
        let report = &mut lineages[*i];
        if report.outcome == Outcome::Failed {
            continue;
        }
        let account = accounts.decide(store, taken, req).await;
        report.notes.extend(account_note(&account));
        report.account = Some(account);
    }
    let dump = match dump {
        Some(task) => task.await.ok().and_then(Result::ok),
        None => None,
    };
    // nginx -t and a reload: on the blocking pool.
    let (handle, owned, certbot_dir) = (store.shared(), req.clone(), dir.clone());
    let nginx = super::blocking_on(&mut lineages, move |l| {
        repoint(&*handle, &certbot_dir, &owned, dump, l)
    })
    .await;
    let taken_over: Vec<(usize, u16)> = pending
        .iter()
        .filter(|(_, t)| t.record.nginx.is_some())
        .map(|(i, t)| (*i, t.record.http_port))
        .collect();
    take_over_sites(store, req, &taken_over, &mut lineages).await;
    // systemctl: on the blocking pool.
    let certbot_schedule = match req.disable_certbot.clone() {
        None => None,
        Some(root) => {
            let dry_run = req.dry_run;
            let schedule =
                super::blocking_on(&mut lineages, move |l| disable_certbot(&root, l, dry_run));
            Some(schedule.await?)
        }
    };
    Ok(ImportReport {
        config_dir: req.config_dir.clone(),
        dry_run: req.dry_run,
        lineages,
        directory_hooks: dir.directory_hooks(),
        certbot_schedule,
        nginx,
    })
}

/// Points nginx at every lineage certctl has now, and says per lineage what moved, and what
/// else must move.
fn repoint(
    store: &dyn CertStore,
    dir: &ConfigDir,
    req: &ImportRequest,
    dump: Option<String>,
    lineages: &mut [LineageReport],
) -> NginxReport {
    let ours: Vec<String> = lineages
        .iter()
        .filter(|l| {
            matches!(
                l.outcome,
                Outcome::Imported | Outcome::WouldImport | Outcome::AlreadyImported
            )
        })
        .map(|l| l.name.clone())
        .collect();
    let mut result = match &req.nginx {
        Err(why) => Repointing {
            report: NginxReport {
                skipped: Some(why.clone()),
                ..NginxReport::default()
            },
            ..Repointing::default()
        },
        Ok(nginx) => super::repoint::repoint_nginx(
            store,
            nginx,
            dump,
            &super::repoint::certbot_dirs(&req.config_dir),
            &ours,
            req.dry_run,
            &req.backup_root,
        )
        .unwrap_or_else(|e| Repointing {
            report: NginxReport {
                nginx: Some(nginx.clone()),
                error: Some(e.to_string()),
                ..NginxReport::default()
            },
            ..Repointing::default()
        }),
    };
    let nginx_read = result.report.skipped.is_none() && result.report.error.is_none();
    for l in lineages.iter_mut() {
        if let Some(moved) = result.moved.remove(&l.name) {
            l.repointed = moved;
        }
        if l.installer.is_some()
            && l.repointed.is_empty()
            && matches!(l.outcome, Outcome::Imported | Outcome::WouldImport)
        {
            l.notes.push(match nginx_read {
                true => "certbot's nginx installer set this lineage up, but no file nginx loads reads its live/ files: nothing was repointed".into(),
                false => "certbot's nginx installer set this lineage up: nginx keeps reading certbot's files until they are repointed".into(),
            });
        }
        if let Some(kept) = result.kept.remove(&l.name) {
            l.notes.push(format!(
                "nginx keeps reading certbot's files at {}",
                kept.join(", ")
            ));
        }
        if matches!(l.outcome, Outcome::Imported | Outcome::WouldImport) {
            let live = store.live_paths(&l.name, KeySlot::Primary).fullchain;
            let what = match nginx_read {
                true => "anything else that reads",
                false => "anything that reads",
            };
            let readers = match nginx_read {
                true => "other services, scripts",
                false => "nginx's ssl_certificate, other services",
            };
            l.notes.push(format!(
                "{what} {} ({readers}) must be pointed at {}/ to see renewals",
                l.fullchain_dir(dir),
                live.parent().unwrap_or(&live).display()
            ));
        }
    }
    result.report
}

/// Takes over, one after the other (two lineages may share a file), the sites whose challenges
/// certbot's nginx authenticator answered, exactly as `certctl nginx NAME --take-over` does, so
/// certctl's renewals are answered by its ACME include on port 80.
async fn take_over_sites(
    store: &dyn CertStore,
    req: &ImportRequest,
    taken_over: &[(usize, u16)],
    lineages: &mut [LineageReport],
) {
    for &(i, http_port) in taken_over {
        let l = &mut lineages[i];
        let result = match l.outcome {
            Outcome::WouldImport => Ok(SiteTakeOver {
                diff: Some(format!(
                    "(taken over as `certctl nginx {} --take-over` does once the lineage is imported)",
                    l.name
                )),
                ..SiteTakeOver::default()
            }),
            Outcome::Imported => {
                let (handle, name, site) = (store.shared(), l.name.clone(), req.site.clone());
                let backups = req.backup_root.clone();
                super::blocking(move || {
                    super::nginx::configure_site(
                        &*handle,
                        &name,
                        &site,
                        http_port,
                        false,
                        &backups,
                        Reload::IfChanged,
                        true,
                    )
                })
                .await
                .map(|outcome| {
                    l.notes.extend(outcome.notes);
                    SiteTakeOver {
                        changed: outcome.applied.changed,
                        ..SiteTakeOver::default()
                    }
                })
            }
            _ => continue,
        };
        l.site = Some(result.unwrap_or_else(|e| SiteTakeOver {
            error: Some(e.to_string()),
            ..SiteTakeOver::default()
        }));
    }
}

/// What the user must know about the account a lineage renews with.
fn account_note(account: &AccountOutcome) -> Option<String> {
    match account {
        AccountOutcome::Registered { .. } | AccountOutcome::WouldRegister { .. } => Some(
            "a CAA record whose accounturi names certbot's account must name certctl's too".into(),
        ),
        _ => None,
    }
}

impl LineageReport {
    fn fullchain_dir(&self, dir: &ConfigDir) -> String {
        dir.root()
            .join("live")
            .join(&self.name)
            .display()
            .to_string()
            + "/"
    }
}

/// Disables certbot's schedule only when certbot has nothing left to renew.
fn disable_certbot(
    root: &Path,
    lineages: &[LineageReport],
    dry_run: bool,
) -> Result<ScheduleReport, Error> {
    let kept: Vec<&str> = lineages
        .iter()
        .filter(|l| matches!(l.outcome, Outcome::Left | Outcome::Failed))
        .map(|l| l.name.as_str())
        .collect();
    if !kept.is_empty() {
        return Ok(ScheduleReport {
            disabled: false,
            actions: Vec::new(),
            reason: Some(format!(
                "certbot still renews {}: its timer and cron entry stay",
                kept.join(", ")
            )),
        });
    }
    let actions = schedule::disable(root, dry_run)?;
    let reason = actions.is_empty().then(|| {
        format!(
            "no certbot timer or cron entry is enabled under {}",
            root.display()
        )
    });
    Ok(ScheduleReport {
        disabled: !actions.is_empty(),
        actions,
        reason,
    })
}

/// Checks one lineage and builds what certctl would store; Ok(None) when an earlier import
/// already took it, Err with the reason when it is left to certbot.
/// certbot's accounts as read so far, by (server, id): many lineages share one, and checking an
/// RSA key (its primes) costs tens of milliseconds.
type AccountsRead = BTreeMap<(String, String), (Option<String>, Result<AccountImport, String>)>;

fn prepare(
    store: &dyn CertStore,
    dir: &ConfigDir,
    name: &str,
    text: Result<String, String>,
    req: &ImportRequest,
    accounts: &mut AccountsRead,
    report: &mut LineageReport,
) -> Result<Option<Taken>, String> {
    let conf = RenewalConf::parse(&text?).map_err(|e| format!("renewal/{name}.conf {e}"))?;
    let plan = renewal::plan(&conf).map_err(|r| r.to_string())?;
    report.server = Some(plan.server.clone());
    report.responder = Some(describe(plan.responder.as_ref(), plan.http_port));
    report.deploy_hook = plan.deploy_hook.clone();
    report.installer = plan.installer_nginx.then(|| "nginx".to_owned());
    report.notes.extend(plan.notes.iter().cloned());
    crate::store::layout::check_cert_name(name).map_err(|e| e.to_string())?;
    let live = dir.read_live(name, &plan.files)?;
    let checked = check_lineage(name, &live, req.now)?;
    report.domains = checked.domains.clone();
    report.serial = Some(checked.serial.clone());
    report.not_after = Some(crate::verify::rfc3339(checked.not_after));
    report.notes.extend(checked.notes.iter().cloned());
    if let Some(Responder::Webroot { path }) = &plan.responder
        && !path.is_dir()
    {
        report
            .notes
            .push(format!("the web root {} does not exist", path.display()));
    }

    if let Some(existing) = store.load_record(name).map_err(|e| e.to_string())? {
        // Taken before (and perhaps renewed since): the same names under the same name.
        let set = |d: &[String]| d.iter().cloned().collect::<std::collections::BTreeSet<_>>();
        if set(&existing.domains) == set(&checked.domains) {
            return Ok(None);
        }
        return Err(format!(
            "certctl already has a certificate named {name}, for other names ({})",
            existing.domains.join(", ")
        ));
    }

    let key_type = match (plan.reuse_key, plan.key_type) {
        (false, Some(kind)) => kind,
        _ => checked.key_type,
    };
    report.key_type = Some(key_type.to_string());
    // certbot's nginx authenticator: certctl's ACME include, in the site it takes over, answers.
    let (responder, site) = match (&plan.responder, &req.nginx) {
        (Some(responder), _) => (responder.clone(), None),
        (None, Ok(_)) => (
            Responder::Webroot {
                path: req.site.layout.acme_webroot.clone(),
            },
            Some(req.site.clone()),
        ),
        (None, Err(why)) => {
            return Err(format!(
                "authenticator nginx: certctl answers its challenges through the nginx site it takes over, but {why}"
            ));
        }
    };
    let (email, account) = match &plan.account {
        Some(id) => accounts
            .entry((plan.server.clone(), id.clone()))
            .or_insert_with(|| certbot_account(dir, &plan))
            .clone(),
        None => certbot_account(dir, &plan),
    };
    let record = RenewalRecord {
        format: RECORD_FORMAT,
        name: name.to_owned(),
        domains: checked.domains,
        key_type,
        dual: false,
        profile: None,
        preferred_chain: plan.preferred_chain.clone(),
        reuse_key: plan.reuse_key,
        server: plan.server.clone(),
        ca_bundle: req.ca_bundle.clone(),
        email,
        http_port: plan.http_port,
        // certbot never fetched its own tokens; certctl checks where it serves them itself.
        self_check: responder == Responder::Standalone || site.is_some(),
        deploy_hook: plan.deploy_hook.clone(),
        responder,
        nginx: site,
        reload_nginx: None,
        renew_before_days: plan.renew_before_days,
    };
    let files = CertFiles {
        cert: live.cert,
        chain: live.chain,
        fullchain: live.fullchain,
        privkey: checked.privkey,
        rsa: None,
    };
    Ok(Some(Taken {
        record,
        files,
        account,
    }))
}

fn describe(responder: Option<&Responder>, port: u16) -> String {
    match responder {
        Some(Responder::Webroot { path }) => format!("webroot {}", path.display()),
        Some(Responder::Standalone) => format!("standalone on port {port}"),
        Some(Responder::Manual) => "manual".into(),
        None => format!("nginx on port {port}: certctl's ACME include in the site it takes over"),
    }
}

/// The facts of a lineage's live files, checked the way an installed certificate is.
struct Checked {
    domains: Vec<String>,
    serial: String,
    not_after: i64,
    key_type: crate::keys::KeyType,
    /// The key as certctl stores it: certbot's bytes when they are PKCS#8 already.
    privkey: String,
    notes: Vec<String>,
}

fn check_lineage(name: &str, live: &LineageFiles, now: i64) -> Result<Checked, String> {
    let path = live.fullchain_path.display();
    let chain = crate::verify::parse_pem_chain(live.fullchain.as_bytes())
        .map_err(|e| format!("{path}: {e}"))?;
    let leaf = crate::verify::cert_info(&chain[0]).map_err(|e| format!("{path}: {e}"))?;
    let cert_pem = crate::verify::parse_pem_chain(live.cert.as_bytes())
        .map_err(|e| format!("cert.pem: {e}"))?;
    if cert_pem[0] != chain[0] {
        return Err("cert.pem is not the first certificate of fullchain.pem".into());
    }
    let mut notes = Vec::new();
    let (key, privkey) = match PrivateKey::from_pem_any(&live.privkey) {
        Ok(key) => (key, live.privkey.clone()),
        Err(_) => {
            let key = crate::ops::install::load_any_key(live.privkey.as_bytes())
                .ok_or("privkey.pem is not a PEM private key")?
                .map_err(|e| format!("privkey.pem: {e}"))?;
            notes.push("privkey.pem is stored as PKCS#8 (the same key)".into());
            let pem = key.to_pem();
            (key, pem)
        }
    };
    if key.public_key_spki() != leaf.spki {
        return Err("privkey.pem is not the key of cert.pem".into());
    }
    let mut domains: Vec<String> =
        crate::names::parse_identifiers(leaf.names.iter().map(String::as_str))
            .map_err(|e| format!("the certificate's names cannot be renewed by certctl: {e}"))?
            .iter()
            .map(|i| i.as_string())
            .collect();
    if let Some(i) = domains.iter().position(|d| d == name) {
        let primary = domains.remove(i);
        domains.insert(0, primary);
    }
    if now > leaf.not_after {
        notes.push(format!(
            "expired on {}: the next `certctl renew` renews it",
            crate::verify::rfc3339(leaf.not_after)
        ));
    }
    Ok(Checked {
        domains,
        serial: leaf.serial,
        not_after: leaf.not_after,
        key_type: key.key_type(),
        privkey,
        notes,
    })
}

/// The contact email and, when certctl can use its key, certbot's account.
fn certbot_account(
    dir: &ConfigDir,
    plan: &Plan,
) -> (Option<String>, Result<AccountImport, String>) {
    let Some(id) = &plan.account else {
        return (
            None,
            Err("the renewal file names no certbot account".into()),
        );
    };
    let files = match dir.read_account(&plan.server, id) {
        Ok(files) => files,
        Err(e) => return (None, Err(e)),
    };
    let registration = match account::registration(&files.regr) {
        Ok(r) => r,
        Err(e) => return (None, Err(e)),
    };
    let email = registration.email.clone();
    let imported = account::account_key(&files.private_key).map(|key| AccountImport {
        url: registration.url,
        key,
    });
    (email, imported)
}

/// certctl keeps one account per CA: the first usable certbot account for a CA becomes it,
/// unless certctl has one already; without a usable one, certctl registers its own (once per CA).
/// certbot's account is used as it is, its URL and its key (P-256, or RSA as certbot makes
/// them), so certbot can go on renewing what it keeps with the same account.
#[derive(Default)]
struct AccountBook {
    /// CA → what its lineages get (stored, registered or, in a dry run, planned).
    chosen: BTreeMap<String, AccountOutcome>,
}

impl AccountBook {
    async fn decide(
        &mut self,
        store: &dyn CertStore,
        taken: &Taken,
        req: &ImportRequest,
    ) -> AccountOutcome {
        let server = &taken.record.server;
        let wanted = taken.account.as_ref().ok();
        if let Some(chosen) = self.chosen.get(server) {
            return match (chosen, wanted) {
                (AccountOutcome::Reused { url }, Some(a)) if a.url == *url => chosen.clone(),
                (
                    AccountOutcome::Reused { url }
                    | AccountOutcome::CertctlAccount { url }
                    | AccountOutcome::Registered { url, .. },
                    _,
                ) => AccountOutcome::CertctlAccount { url: url.clone() },
                _ => chosen.clone(),
            };
        }
        let outcome = self.first(store, taken, req).await;
        self.chosen.insert(server.clone(), outcome.clone());
        outcome
    }

    /// The first lineage of a CA settles its account.
    async fn first(
        &self,
        store: &dyn CertStore,
        taken: &Taken,
        req: &ImportRequest,
    ) -> AccountOutcome {
        let server = &taken.record.server;
        if let Some(url) = store
            .load_account(server)
            .ok()
            .flatten()
            .and_then(|json| crate::acme::account::url(&json))
        {
            return match taken.account.as_ref().ok() {
                Some(a) if a.url == url => AccountOutcome::Reused { url },
                _ => AccountOutcome::CertctlAccount { url },
            };
        }
        let reason = match &taken.account {
            Ok(AccountImport { url, key }) => {
                if req.dry_run {
                    return AccountOutcome::Reused { url: url.clone() };
                }
                let credentials = account::credentials_json(server, url, key.pkcs8());
                match save_account(store, server, &credentials) {
                    Ok(()) => return AccountOutcome::Reused { url: url.clone() },
                    Err(e) => format!("certbot's account could not be stored: {e}"),
                }
            }
            Err(reason) => reason.clone(),
        };
        if req.dry_run {
            return AccountOutcome::WouldRegister { reason };
        }
        match register(store, &taken.record, req).await {
            Ok(url) => AccountOutcome::Registered { url, reason },
            Err(e) => AccountOutcome::NoAccount {
                reason: format!(
                    "{reason}; registering a new account with {server} failed ({e}): renewals fail until `certctl issue` registers one"
                ),
            },
        }
    }
}

/// Registers certctl's own account with the lineage's CA (certbot's user agreed to its terms).
async fn register(
    store: &dyn CertStore,
    record: &RenewalRecord,
    req: &ImportRequest,
) -> Result<String, Error> {
    let server = &record.server;
    let _lock = super::locks::account(store, server, super::locks::DEFAULT_WAIT).await?;
    if let Some(url) = store
        .load_account(server)?
        .and_then(|json| crate::acme::account::url(&json))
    {
        return Ok(url);
    }
    let (account, json) =
        crate::acme::account::create(server, req.ca_bundle.as_deref(), record.email.as_deref())
            .await?;
    store.save_account(server, &json)?;
    Ok(account.url().to_owned())
}

fn save_account(store: &dyn CertStore, server: &str, credentials: &[u8]) -> Result<(), Error> {
    let _lock = super::locks::account_blocking(store, server, super::locks::DEFAULT_WAIT)?;
    if store.load_account(server)?.is_none() {
        store.save_account(server, credentials)?;
    }
    Ok(())
}

/// Installs every taken lineage. Each install waits on a dozen fsyncs, so a few threads keep
/// the disk busy (100 lineages in well under a second); each holds its certificate's lock.
fn install_all(
    store: &dyn CertStore,
    pending: &[(usize, Taken)],
) -> Vec<(usize, Result<PathBuf, Error>)> {
    crate::parallel::map(pending, 8, |(index, taken)| (*index, install(store, taken)))
}

fn install(store: &dyn CertStore, taken: &Taken) -> Result<PathBuf, Error> {
    let name = &taken.record.name;
    let _lock = super::locks::cert_blocking(store, name, super::locks::DEFAULT_WAIT)?;
    if store.load_record(name)?.is_some() {
        return Err(crate::error::InputError::Exists(
            store.live_paths(name, KeySlot::Primary).fullchain,
        )
        .into());
    }
    let paths = store.install(name, &taken.files, &taken.record)?;
    Ok(paths.fullchain)
}
