//! `certctl issue`: the whole workflow from names to a verified certificate under live/.

use std::path::PathBuf;

use crate::Error;
use crate::acme::challenge::{Http01Responder, Standalone, Webroot};
use crate::acme::order::{self, OrderPlan};
use crate::acme::{AcmeError, account};
use crate::config::{RenewalRecord, Responder};
use crate::error::InputError;
use crate::hooks;
use crate::keys::{KeyType, PrivateKey};
use crate::names::Identifier;
use crate::nginx::apply::Reload;
use crate::progress::{Progress, Step};
use crate::renewal::due::FailureKind;
use crate::renewal::state::RenewalState;
use crate::store::{CertFiles, CertStore, KeySlot, LivePaths, StoreError};
use crate::verify::{self, CertInfo};

/// Everything `issue` needs, resolved and validated by the CLI.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    /// Certificate name (live/NAME).
    pub name: String,
    /// Identifiers, first is the primary.
    pub identifiers: Vec<Identifier>,
    /// Key type asked for; None means the reused key's type, or `default_key_type` for a new key.
    pub key_type: Option<KeyType>,
    /// The key type of a new key when none is asked for (the config file's `acme.key_type`).
    pub default_key_type: KeyType,
    /// Keep the live key if there is one.
    pub reuse_key: bool,
    /// The ACME profile (`--profile`), when the CA offers profiles.
    pub profile: Option<String>,
    /// `--preferred-chain`: pick the CA's alternate chain that leads to this issuer CN.
    pub preferred_chain: Option<String>,
    /// Issue an RSA 2048 set alongside the ECDSA primary (sticky: a re-issue of a dual
    /// certificate stays dual, since its nginx site serves both).
    pub dual: bool,
    /// ACME directory URL.
    pub directory_url: String,
    /// Extra roots for the CA's API.
    pub ca_bundle: Option<PathBuf>,
    /// Account contact.
    pub email: Option<String>,
    /// The user agreed to the CA's terms (needed only to create an account).
    pub agree_tos: bool,
    /// How to answer challenges.
    pub responder: Responder,
    /// Port for the standalone server, or of the web server serving the webroot.
    pub http_port: u16,
    /// Fetch tokens locally before the CA does.
    pub self_check: bool,
    /// Run after the new certificate is live.
    pub deploy_hook: Option<String>,
    /// `--nginx`: serve challenges through nginx, then write the TLS site and reload. Set too when
    /// the renewal record remembers a site, so a re-issue keeps it serving the new certificate.
    pub nginx: Option<IssueNginx>,
}

impl IssueRequest {
    /// A request that renews a certificate exactly as its record says.
    pub fn from_record(record: &RenewalRecord, backup_root: PathBuf) -> Result<Self, Error> {
        let identifiers =
            crate::names::parse_identifiers(record.domains.iter().map(String::as_str))?;
        Ok(Self {
            name: record.name.clone(),
            identifiers,
            key_type: Some(record.key_type),
            default_key_type: record.key_type,
            reuse_key: record.reuse_key,
            dual: record.dual,
            profile: record.profile.clone(),
            preferred_chain: record.preferred_chain.clone(),
            directory_url: record.server.clone(),
            ca_bundle: record.ca_bundle.clone(),
            email: record.email.clone(),
            agree_tos: false,
            responder: record.responder.clone(),
            http_port: record.http_port,
            self_check: record.self_check,
            deploy_hook: record.deploy_hook.clone(),
            nginx: record
                .nginx
                .clone()
                .map(|site| IssueNginx { site, backup_root }),
        })
    }
}

/// The nginx part of `issue --nginx`.
#[derive(Clone, Debug)]
pub struct IssueNginx {
    /// The site options.
    pub site: crate::nginx::NginxSite,
    /// Where previous versions of nginx files go.
    pub backup_root: PathBuf,
}

/// What `issue` did.
#[derive(Debug, serde::Serialize)]
pub struct IssueOutcome {
    /// Certificate name.
    pub name: String,
    /// The stable paths.
    pub paths: LivePaths,
    /// Facts about the new certificate.
    pub cert: CertInfo,
    /// Key type used.
    pub key_type: KeyType,
    /// The RSA set of a dual certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rsa: Option<RsaOutcome>,
    /// A new ACME account was registered for this run.
    pub account_created: bool,
    /// What `--nginx` wrote.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nginx: Option<super::nginx::NginxOutcome>,
    /// Another run (another node of a fleet) issued these names while this one waited for the
    /// certificate's lock: nothing was ordered, and its certificate is the one deployed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub issued_by_another_run: bool,
}

/// The RSA half of a dual certificate.
#[derive(Debug, serde::Serialize)]
pub struct RsaOutcome {
    /// The stable paths of the RSA set.
    pub paths: LivePaths,
    /// Facts about the RSA certificate.
    pub cert: CertInfo,
}

/// True when no account is stored for this CA yet (so `--agree-tos` will be needed).
pub fn needs_account(store: &dyn CertStore, directory_url: &str) -> Result<bool, Error> {
    Ok(store.load_account(directory_url)?.is_none())
}

/// How far a run goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Install, configure and reload nginx, run the deploy hook: `certctl issue`.
    Deploy,
    /// Install only; the caller reloads nginx and runs hooks once for many certificates (renew).
    Install,
    /// Obtain and verify, write nothing: `renew --dry-run`.
    DryRun,
}

/// What a run needs beyond the request: the stage, the certificate it replaces, the account.
#[derive(Clone, Copy)]
pub struct IssueRun<'a> {
    /// How far to go.
    pub stage: Stage,
    /// ARI identifier of the certificate being replaced (RFC 9773), when the CA offers ARI.
    pub replaces: Option<&'a str>,
    /// Also require the new chain to lead to a trusted root (the system's, plus the CA bundle)
    /// before it goes live. Skipped for Let's Encrypt's staging CA, whose roots are untrusted by
    /// design.
    pub trusted: bool,
    /// The CA account, when the caller already has it (renew restores one per CA per run, not
    /// one per certificate); else it is loaded, or created, here.
    pub account: Option<&'a crate::acme::Account>,
}

impl IssueRun<'_> {
    /// The nginx this run sets up: `issue --nginx`'s (a renewal leaves nginx files alone).
    fn sets_up_nginx<'r>(&self, req: &'r IssueRequest) -> Option<&'r IssueNginx> {
        req.nginx.as_ref().filter(|_| self.stage == Stage::Deploy)
    }
}

/// Runs the issue workflow under the certificate's lock. See the crate docs for the steps.
pub async fn issue(
    store: &dyn CertStore,
    req: &IssueRequest,
    progress: &dyn Progress,
) -> Result<IssueOutcome, Error> {
    let name = req.name.clone();
    let had_one = super::with_store(store, move |s| s.live_version(&name))
        .await?
        .is_some();
    // The deploy claim first, then the certificate lock (renew takes the lock, then only tries
    // the claim), so a renewal deploying this certificate finishes before it is issued again.
    let _claim = super::locks::deploy_claim(store, &req.name, super::locks::DEFAULT_WAIT).await?;
    let _cert_lock = super::locks::cert(store, &req.name, super::locks::DEFAULT_WAIT).await?;
    if !had_one && let Some((mut outcome, mut state)) = issued_meanwhile(store, req).await? {
        progress.step(
            Step::Install,
            &format!(
                "{} was issued by another run while this one waited (serial {}): nothing ordered",
                req.name, outcome.cert.serial
            ),
        );
        // Nothing earlier to go back to: the version is the other run's, deployed by it.
        deploy(store, req, &mut outcome, &mut state, None, progress).await?;
        return Ok(outcome);
    }
    // The same trust check renew applies, before anything goes live.
    let run = IssueRun {
        stage: Stage::Deploy,
        replaces: None,
        trusted: true,
        account: None,
    };
    issue_locked(store, req, run, progress).await
}

/// The first certificate of a name another run put live while this one waited for the lock
/// (the caller saw none when it started), when it is what this run asks for: the same CA and names, the key type asked (if any), not dual. Ordering again would only
/// make a duplicate certificate (two nodes of a fleet running `issue` for a new name at once).
/// A name that had a certificate is always ordered: a re-issue may want another CA, profile or
/// key than a renewal that ran meanwhile. With its state.
async fn issued_meanwhile(
    store: &dyn CertStore,
    req: &IssueRequest,
) -> Result<Option<(IssueOutcome, RenewalState)>, Error> {
    if req.dual || req.reuse_key {
        return Ok(None);
    }
    let (name, asked_key, asked_ids) = (req.name.clone(), req.key_type, req.identifiers.clone());
    let server = req.directory_url.clone();
    super::with_store(store, move |s| -> Result<_, Error> {
        let (Some(record), Some(pem)) = (s.load_record(&name)?, s.live_cert(&name)?) else {
            return Ok(None);
        };
        let Some(leaf) = verify::parse_pem_chain(&pem)?.into_iter().next() else {
            return Ok(None);
        };
        let cert = verify::cert_info(&leaf)?;
        if record.dual
            || record.server != server
            || verify::check_names(&cert, &asked_ids).is_err()
            || asked_key.is_some_and(|k| k != record.key_type)
        {
            return Ok(None);
        }
        let outcome = IssueOutcome {
            name: name.clone(),
            paths: s.live_paths(&name, KeySlot::Primary),
            cert,
            key_type: record.key_type,
            rsa: None,
            account_created: false,
            nginx: None,
            issued_by_another_run: true,
        };
        Ok(Some((outcome, s.load_state(&name)?)))
    })
    .await
}

/// The workflow, for a caller that holds the certificate's lock: four named stages, each
/// handing the next what it settled. A failure before [`install`] leaves the live certificate
/// untouched.
pub async fn issue_locked(
    store: &dyn CertStore,
    req: &IssueRequest,
    run: IssueRun<'_>,
    progress: &dyn Progress,
) -> Result<IssueOutcome, Error> {
    let prepared = preflight(store, req, run, progress).await?;
    let installed = obtain_and_install(store, req, run, prepared, progress).await;
    // A first `--nginx` order asked the fleet's nodes to serve its challenges (`obtain`): the
    // request ends once the certificate is live, or the run failed (no node reverts for an
    // order whose certificate is coming).
    if run.sets_up_nginx(req).is_some() {
        let name = req.name.clone();
        if let Err(e) = super::with_store(store, move |s| s.withdraw_challenges(&name)).await {
            tracing::warn!(
                "{}: cannot withdraw the fleet's challenge request: {e}",
                req.name
            );
        }
    }
    let (mut outcome, mut state, previous) = match installed? {
        Installed::DryRun(outcome) => return Ok(outcome),
        Installed::Live(outcome, state, previous) => (*outcome, state, previous),
    };
    crate::failpoint::hit("issue.after_install");
    if run.stage == Stage::Install {
        return Ok(outcome);
    }
    // The certificate is live now: a failure from here on must say so, and leaves the version
    // "installed, not deployed" for the next renew to deploy (with its checks).
    match deploy(store, req, &mut outcome, &mut state, previous, progress).await {
        Ok(()) => {}
        Err(e @ Error::NotServed { .. }) => return Err(e),
        Err(e) => {
            return Err(Error::NotDeployed {
                name: req.name.clone(),
                serial: outcome.cert.serial.clone(),
                failure: Box::new(e),
            });
        }
    }
    Ok(outcome)
}

/// What [`obtain_and_install`] ended with.
enum Installed {
    /// `renew --dry-run`: obtained and verified, nothing written.
    DryRun(IssueOutcome),
    /// Live, with its renewal state and the version a failed deploy goes back to.
    Live(Box<IssueOutcome>, RenewalState, Option<u64>),
}

/// The middle stages: [`obtain`], then (but for a dry run) [`install`].
async fn obtain_and_install(
    store: &dyn CertStore,
    req: &IssueRequest,
    run: IssueRun<'_>,
    prepared: Prepared,
    progress: &dyn Progress,
) -> Result<Installed, Error> {
    let obtained = obtain(store, req, run, prepared, progress).await?;
    crate::failpoint::hit("issue.after_order");
    if run.stage == Stage::DryRun {
        progress.step(Step::Install, "dry run: nothing written");
        return Ok(Installed::DryRun(IssueOutcome {
            name: req.name.clone(),
            paths: store.live_paths(&req.name, KeySlot::Primary),
            cert: obtained.cert,
            key_type: obtained.key_type,
            rsa: None,
            account_created: obtained.account_created,
            nginx: None,
            issued_by_another_run: false,
        }));
    }
    // What a reissue that nginx does not serve goes back to: the version last deployed.
    let name = req.name.clone();
    let previous = super::with_store(store, move |s| -> Result<_, Error> {
        Ok(match s.load_state(&name)?.deployed_version {
            Some(deployed) => Some(deployed),
            None => s.live_version(&name)?,
        })
    })
    .await?;
    let (outcome, state) = install(store, req, obtained, progress).await?;
    Ok(Installed::Live(Box::new(outcome), state, previous))
}

/// What [`preflight`] settled: the keys being made and a responder ready for challenges.
struct Prepared {
    dual: bool,
    responder: Box<dyn Http01Responder>,
    key_task: KeyTask,
    rsa_key_task: Option<KeyTask>,
}

/// Everything that can fail locally fails before the CA hears from us: a revoked key to reuse,
/// contradicting flags, the standalone port, the webroot, nginx serving challenges. Key
/// generation starts here, on blocking threads, while the CA validates (RSA 4096 takes a while).
async fn preflight(
    store: &dyn CertStore,
    req: &IssueRequest,
    run: IssueRun<'_>,
    progress: &dyn Progress,
) -> Result<Prepared, Error> {
    // A dual certificate stays dual: its nginx site serves both sets. What the store holds is
    // read on the blocking pool.
    let (name, reuse, asked_dual) = (req.name.clone(), req.reuse_key, req.dual);
    let (dual, compromised, reused, reused_rsa) =
        super::with_store(store, move |s| -> Result<_, Error> {
            let remembered = s.load_record(&name).ok().flatten();
            let dual = asked_dual || remembered.is_some_and(|r| r.dual);
            let compromised = reuse
                && s.load_state(&name)
                    .ok()
                    .and_then(|st| st.revoked)
                    .is_some_and(|r| r.reason == "keyCompromise");
            let reused = reused_key(s, &name, reuse, KeySlot::Primary)?;
            let reused_rsa = match dual {
                true => reused_key(s, &name, reuse, KeySlot::Rsa)?,
                false => None,
            };
            Ok((dual, compromised, reused, reused_rsa))
        })
        .await?;
    if compromised {
        return Err(InputError::CompromisedKey(req.name.clone()).into());
    }
    let key_type = reused
        .as_ref()
        .map(PrivateKey::key_type)
        .or(req.key_type)
        .unwrap_or(req.default_key_type);
    if let (Some(key), Some(asked)) = (&reused, req.key_type)
        && key.key_type() != asked
    {
        return Err(InputError::ReuseKeyType {
            name: req.name.clone(),
            kept: key.key_type(),
            asked,
        }
        .into());
    }
    if dual && key_type.is_rsa() {
        return Err(InputError::DualRsa(key_type).into());
    }
    // `issue --nginx` sets nginx up; a renewal leaves nginx files alone (the site already serves
    // challenges, and the self-check proves it).
    if let Some(n) = run.sets_up_nginx(req) {
        progress.step(Step::Challenge, "making nginx serve ACME challenges");
        let (handle, site, name) = (store.shared(), n.site.clone(), req.name.clone());
        let (ids, port, backups) = (
            req.identifiers.clone(),
            req.http_port,
            n.backup_root.clone(),
        );
        super::blocking(move || {
            super::nginx::prepare_challenges(&*handle, &site, &name, &ids, port, &backups)
        })
        .await?;
        super::nginx::wait_until_challenges_served(&n.site, &req.identifiers, req.http_port)
            .await?;
    }
    let responder: Box<dyn Http01Responder> = match &req.responder {
        Responder::Webroot { path } => Box::new(Webroot::new(path)?),
        Responder::Standalone => Box::new(Standalone::start(req.http_port).await?),
        Responder::Manual => {
            return Err(InputError::IssueManual.into());
        }
    };
    Ok(Prepared {
        dual,
        responder,
        key_task: spawn_key(reused, key_type),
        rsa_key_task: dual.then(|| spawn_key(reused_rsa, KeyType::Rsa2048)),
    })
}

/// How long a first order waits for the other nodes of a fleet to serve its challenges.
const SHARE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// `issue --nginx` on a fleet: every node's nginx serves the first order's challenges before
/// the CA validates, since its DNS may send validation to any of them (a single server has no
/// other node). [`issue_locked`] withdraws the request.
async fn share_challenges(
    store: &dyn CertStore,
    req: &IssueRequest,
    site: &crate::nginx::NginxSite,
    progress: &dyn Progress,
) -> Result<(), Error> {
    let request = crate::store::ChallengeRequest {
        name: req.name.clone(),
        identifiers: req.identifiers.iter().map(Identifier::as_string).collect(),
        http_port: req.http_port,
        server: req.directory_url.clone(),
        site: site.clone(),
    };
    let unready =
        super::with_store(store, move |s| s.share_challenges(&request, SHARE_WAIT)).await?;
    for (node, why) in unready {
        let note = format!("node {node} may not answer the challenges: {why}");
        tracing::warn!("{}: {note}", req.name);
        progress.step(Step::Challenge, &note);
    }
    Ok(())
}

/// What [`obtain`] brought back: verified files, nothing written yet.
struct Obtained {
    dual: bool,
    files: CertFiles,
    cert: CertInfo,
    key_type: KeyType,
    rsa_cert: Option<CertInfo>,
    account: crate::acme::Account,
    account_created: bool,
}

/// The account, the order(s), the certificate(s), each verified (chain, key, names, validity)
/// and, when the run asks, checked to lead to a trusted root.
async fn obtain(
    store: &dyn CertStore,
    req: &IssueRequest,
    run: IssueRun<'_>,
    prepared: Prepared,
    progress: &dyn Progress,
) -> Result<Obtained, Error> {
    let Prepared {
        dual,
        mut responder,
        key_task,
        rsa_key_task,
    } = prepared;
    progress.step(Step::Account, &req.directory_url);
    let (account, account_created) = match run.account {
        Some(account) => (account.clone(), false),
        None => load_or_create_account(store, req).await?,
    };
    progress.step(
        Step::Account,
        if account_created {
            "new account registered"
        } else {
            "using the stored account"
        },
    );

    if let Some(profile) = &req.profile {
        let offered = account::offered_profiles(&account);
        account::check_profile(profile, &offered, &req.directory_url)?;
    }
    let plan = OrderPlan {
        directory_url: &req.directory_url,
        identifiers: &req.identifiers,
        self_check_port: req.self_check.then_some(req.http_port),
        replaces: run.replaces,
        profile: req.profile.as_deref(),
    };
    let chooser = ChainChooser::new(store, req, &account);
    // A first `--nginx` order (not a renewal: every node serves its site already).
    if let Some(n) = run.sets_up_nginx(req) {
        share_challenges(store, req, &n.site, progress).await?;
    }
    let (mut files, cert, key) = obtain_set(
        &account,
        &plan,
        responder.as_mut(),
        key_task,
        req,
        &chooser,
        progress,
    )
    .await?;
    // The RSA order follows on the same account: the CA usually reuses the authorizations the
    // first order just validated, so it costs little.
    let mut rsa_cert = None;
    if let Some(task) = rsa_key_task {
        progress.step(Step::Order, "the RSA 2048 half of --dual");
        let (rsa_files, info, _) = obtain_set(
            &account,
            &plan,
            responder.as_mut(),
            task,
            req,
            &chooser,
            progress,
        )
        .await?;
        files.rsa = Some(Box::new(rsa_files));
        rsa_cert = Some(info);
    }
    drop(responder);
    if run.trusted && req.directory_url != crate::acme::directory::LETS_ENCRYPT_STAGING {
        progress.step(Step::Verify, "chain leads to a trusted root");
        let roots = crate::trust::trusted_roots(req.ca_bundle.as_deref())?;
        let now = crate::clock::unix_now();
        for set in std::iter::once(&files).chain(files.rsa.as_deref()) {
            let chain = verify::parse_pem_chain(set.fullchain.as_bytes())?;
            verify::check_trusted(&chain, &roots, None, now)?;
        }
    }
    Ok(Obtained {
        dual,
        files,
        cert,
        key_type: key.key_type(),
        rsa_cert,
        account,
        account_created,
    })
}

/// The new version goes live in one swap, with its renewal record; then the renewal state
/// (success, the CA's ARI window). From here on the certificate is live: what follows may warn,
/// never fail the run as if nothing had changed.
async fn install(
    store: &dyn CertStore,
    req: &IssueRequest,
    obtained: Obtained,
    progress: &dyn Progress,
) -> Result<(IssueOutcome, RenewalState), Error> {
    progress.step(Step::Install, &req.name);
    let mut record = record_for(req, obtained.key_type);
    record.dual = obtained.dual;
    let leaf = verify::parse_pem_chain(obtained.files.cert.as_bytes())
        .ok()
        .and_then(|c| c.into_iter().next());
    // The writes and their fsyncs, on the blocking pool.
    let (name, files) = (req.name.clone(), obtained.files);
    let (paths, mut state) = super::with_store(store, move |s| -> Result<_, Error> {
        // What the stored record carries beyond the request stays: the user's nginx files that
        // read this certificate (an import pointed them here; every later version reloads that
        // nginx too), and certbot's renew_before_expiry.
        let stored = s.load_record(&name).ok().flatten();
        record.reload_nginx = stored.as_ref().and_then(|r| r.reload_nginx.clone());
        record.renew_before_days = stored.and_then(|r| r.renew_before_days);
        let paths = s.install(&name, &files, &record)?;
        Ok((paths, s.load_state(&name).unwrap_or_default()))
    })
    .await?;
    let rsa = obtained.rsa_cert.map(|cert| RsaOutcome {
        paths: store.live_paths(&req.name, KeySlot::Rsa),
        cert,
    });
    let now = crate::clock::unix_now();
    state.succeeded(now);
    if let Some(leaf) = leaf {
        state.ari =
            super::ari::refresh(&obtained.account, &req.directory_url, &leaf, None, now).await;
    }
    let (name, saved) = (req.name.clone(), state.clone());
    super::with_store(store, move |s| {
        if let Err(e) = s.save_state(&name, &saved) {
            tracing::warn!("{name}: cannot record the renewal state: {e}");
        }
    })
    .await;
    let outcome = IssueOutcome {
        name: req.name.clone(),
        paths,
        cert: obtained.cert,
        key_type: obtained.key_type,
        rsa,
        account_created: obtained.account_created,
        nginx: None,
        issued_by_another_run: false,
    };
    Ok((outcome, state))
}

/// nginx (the TLS site, `nginx -t`, reload) and the deploy hook; then the version is recorded
/// as deployed. The new certificate sits behind the same paths, so nginx is reloaded even when
/// the site file does not change.
async fn deploy(
    store: &dyn CertStore,
    req: &IssueRequest,
    outcome: &mut IssueOutcome,
    state: &mut RenewalState,
    previous: Option<u64>,
    progress: &dyn Progress,
) -> Result<(), Error> {
    // The version this run put live: what the deploy marks and the record are about.
    let version = store
        .live_version(&req.name)?
        .ok_or_else(|| StoreError::Corrupt {
            path: outcome.paths.cert.clone(),
            reason: "no live version after the install".into(),
        })?;
    if let Some(n) = &req.nginx {
        progress.step(Step::Deploy, "writing the nginx TLS site, nginx -t, reload");
        let (handle, name, site) = (store.shared(), req.name.clone(), n.site.clone());
        let (port, backups) = (req.http_port, n.backup_root.clone());
        let configured = super::blocking(move || {
            super::nginx::configure_site(
                &*handle,
                &name,
                &site,
                port,
                false,
                &backups,
                Reload::Always,
                true,
            )
        })
        .await?;
        outcome.nginx = Some(configured);
        crate::failpoint::hit("issue.after_nginx");
        progress.step(Step::Deploy, "checking what nginx serves");
        served_or_roll_back(store, req, outcome, previous).await?;
        super::deploy::confirm_served(store, &req.name, version).await;
    }
    if let Some(hook) = &req.deploy_hook {
        progress.step(Step::Deploy, hook);
        let domains: Vec<String> = req.identifiers.iter().map(Identifier::as_string).collect();
        let hook = super::deploy::DeployHook {
            command: hook,
            name: &req.name,
            version,
            domains: &domains,
            paths: &outcome.paths,
            rsa: outcome.rsa.as_ref().map(|r| &r.paths),
        };
        super::deploy::run_deploy_hook(store, &hook, hooks::Stdin::Inherit).await?;
        crate::failpoint::hit("issue.after_hook");
    }
    state.deployed_version = Some(version);
    if let Err(e) = store.save_state(&req.name, state) {
        tracing::warn!("{}: cannot record the deploy: {e}", req.name);
    }
    Ok(())
}

/// The check renew makes after its reload: nginx must serve the new serial, with a chain that
/// verifies, for every name on every address. When it does not, the version last deployed comes
/// back under renew's rules (still ours, valid for a day) and the failure is recorded, so the
/// next renew does not take the unserved version for a deployed one.
async fn served_or_roll_back(
    store: &dyn CertStore,
    req: &IssueRequest,
    outcome: &IssueOutcome,
    previous: Option<u64>,
) -> Result<(), Error> {
    let Some(n) = &req.nginx else { return Ok(()) };
    let record = record_for(req, outcome.key_type);
    let blocks = match outcome
        .nginx
        .as_ref()
        .and_then(|o| o.applied.config.as_deref())
    {
        Some(config) => crate::nginx::dump::server_blocks(config),
        None => super::deploy::served_blocks(&n.site.nginx).await,
    };
    let expected = [super::deploy::Expected {
        record: &record,
        serial: &outcome.cert.serial,
    }];
    let failed =
        super::deploy::check_served_all(&expected, &blocks, super::deploy::SERVED_WAIT).await;
    let Some((_, problem)) = failed.into_iter().next() else {
        return Ok(());
    };
    let now = crate::clock::unix_now();
    let installed = store.live_version(&req.name)?.unwrap_or_default();
    let mut result = super::deploy::roll_back_to(store, &req.name, installed, previous, now);
    if store.live_version(&req.name)? != Some(installed) {
        let nginx = n.site.nginx.clone();
        if let Err(e) = super::blocking(move || nginx.reload()).await {
            result.push_str(&format!("; reloading nginx after the restore failed: {e}"));
        }
    }
    let err = Error::NotServed {
        name: req.name.clone(),
        serial: outcome.cert.serial.clone(),
        problem,
        outcome: result,
    };
    let mut state = store.load_state(&req.name).unwrap_or_default();
    state.failed(now, err.to_string(), FailureKind::NeedsAttention, None);
    if let Err(e) = store.save_state(&req.name, &state) {
        tracing::warn!("{}: cannot record the failure: {e}", req.name);
    }
    Err(err)
}

/// `--preferred-chain`: swaps the default chain for the CA's alternate that leads to the preferred
/// issuer. When none does, the default chain is kept (with a warning): a certificate is better
/// than none.
struct ChainChooser<'a> {
    preferred: Option<&'a str>,
    directory_url: &'a str,
    ca_bundle: Option<&'a std::path::Path>,
    credentials: Option<Vec<u8>>,
    account_url: &'a str,
}

impl<'a> ChainChooser<'a> {
    fn new(
        store: &dyn CertStore,
        req: &'a IssueRequest,
        account: &'a crate::acme::Account,
    ) -> Self {
        Self {
            preferred: req.preferred_chain.as_deref(),
            directory_url: &req.directory_url,
            ca_bundle: req.ca_bundle.as_deref(),
            credentials: store.load_account(&req.directory_url).ok().flatten(),
            account_url: account.url(),
        }
    }

    async fn choose(
        &self,
        default: String,
        cert_url: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<String, Error> {
        let Some(preferred) = self.preferred else {
            return Ok(default);
        };
        if verify::chain_leads_to(default.as_bytes(), preferred) {
            return Ok(default);
        }
        let (Some(url), Some(credentials)) = (cert_url, &self.credentials) else {
            return Ok(default);
        };
        progress.step(
            Step::Finalize,
            &format!("looking for a chain to {preferred}"),
        );
        // The certificate is issued: a failure to fetch alternates must not throw it away.
        let chains = match self.alternates(credentials, url).await {
            Ok(chains) => chains,
            Err(e) => {
                tracing::warn!(
                    "cannot fetch the alternate chains ({e}); keeping the default chain"
                );
                return Ok(default);
            }
        };
        match chains
            .into_iter()
            .find(|c| verify::chain_leads_to(c.as_bytes(), preferred))
        {
            Some(chain) => Ok(chain),
            None => {
                tracing::warn!(
                    "the CA offers no chain to {preferred:?}; keeping its default chain"
                );
                Ok(default)
            }
        }
    }
}

impl ChainChooser<'_> {
    async fn alternates(&self, credentials: &[u8], url: &str) -> Result<Vec<String>, AcmeError> {
        let mut fetcher = crate::acme::chains::ChainFetcher::new(
            self.directory_url,
            self.ca_bundle,
            credentials,
            self.account_url,
        )
        .await?;
        fetcher.all_chains(url).await
    }
}

/// The live key of one set when `--reuse-key` asks for it.
fn reused_key(
    store: &dyn CertStore,
    name: &str,
    reuse_key: bool,
    slot: KeySlot,
) -> Result<Option<PrivateKey>, Error> {
    if !reuse_key {
        return Ok(None);
    }
    Ok(store
        .live_privkey(name, slot)?
        .map(|pem| PrivateKey::from_pem_any(&pem))
        .transpose()?)
}

type KeyTask = tokio::task::JoinHandle<Result<PrivateKey, crate::keys::KeyError>>;

fn spawn_key(reused: Option<PrivateKey>, key_type: KeyType) -> KeyTask {
    tokio::task::spawn_blocking(move || match reused {
        Some(key) => Ok(key),
        None => PrivateKey::generate(key_type),
    })
}

/// One order for one key: finalized with the key's CSR, then verified (chain, key, names,
/// validity) before anything is written.
async fn obtain_set(
    account: &crate::acme::Account,
    plan: &OrderPlan<'_>,
    responder: &mut dyn Http01Responder,
    key_task: KeyTask,
    req: &IssueRequest,
    chooser: &ChainChooser<'_>,
    progress: &dyn Progress,
) -> Result<(CertFiles, CertInfo, PrivateKey), Error> {
    let mut key_slot = None;
    let (chain_pem, cert_url) = order::obtain(
        account,
        plan,
        responder,
        async || {
            let key = key_task
                .await
                .map_err(|e| AcmeError::Key(format!("key generation stopped: {e}")))?
                .map_err(|e| AcmeError::Key(e.to_string()))?;
            let csr = key
                .csr_der(&req.identifiers)
                .map_err(|e| AcmeError::Key(e.to_string()))?;
            key_slot = Some(key);
            Ok(csr)
        },
        progress,
    )
    .await?;
    let key = key_slot.ok_or_else(|| AcmeError::Key("no key was generated".into()))?;
    let chain_pem = chooser
        .choose(chain_pem, cert_url.as_deref(), progress)
        .await?;

    progress.step(Step::Verify, "chain, key, names, validity");
    let cert = verify::check_issued(
        chain_pem.as_bytes(),
        &key.public_key_spki(),
        &req.identifiers,
        crate::clock::unix_now(),
    )?;
    let files = CertFiles::from_chain(&chain_pem, key.to_pem())?;
    Ok((files, cert, key))
}

async fn load_or_create_account(
    store: &dyn CertStore,
    req: &IssueRequest,
) -> Result<(crate::acme::Account, bool), Error> {
    let url = &req.directory_url;
    let bundle = req.ca_bundle.as_deref();
    if let Some(json) = stored_account(store, url).await? {
        return Ok((account::restore(url, bundle, &json).await?, false));
    }
    // Several processes may start at once on a fresh state dir: one creates, the others wait
    // for the lock and then find its account.
    let _lock = super::locks::account(store, url, super::locks::DEFAULT_WAIT).await?;
    if let Some(json) = stored_account(store, url).await? {
        return Ok((account::restore(url, bundle, &json).await?, false));
    }
    if !req.agree_tos {
        return Err(AcmeError::TermsNotAgreed(None).into());
    }
    let (account, json) = account::create(url, bundle, req.email.as_deref()).await?;
    let owned = url.clone();
    super::with_store(store, move |s| s.save_account(&owned, &json)).await?;
    Ok((account, true))
}

/// The stored credentials for the CA at `url`, read on the blocking pool.
pub(crate) async fn stored_account(
    store: &dyn CertStore,
    url: &str,
) -> Result<Option<Vec<u8>>, Error> {
    let url = url.to_owned();
    Ok(super::with_store(store, move |s| s.load_account(&url)).await?)
}

fn record_for(req: &IssueRequest, key_type: KeyType) -> RenewalRecord {
    RenewalRecord {
        format: crate::config::RECORD_FORMAT,
        name: req.name.clone(),
        domains: req.identifiers.iter().map(Identifier::as_string).collect(),
        key_type,
        dual: req.dual,
        profile: req.profile.clone(),
        preferred_chain: req.preferred_chain.clone(),
        reuse_key: req.reuse_key,
        server: req.directory_url.clone(),
        ca_bundle: req.ca_bundle.clone(),
        email: req.email.clone(),
        http_port: req.http_port,
        self_check: req.self_check,
        deploy_hook: req.deploy_hook.clone(),
        responder: req.responder.clone(),
        nginx: req.nginx.as_ref().map(|n| n.site.clone()),
        reload_nginx: None,
        renew_before_days: None,
    }
}
