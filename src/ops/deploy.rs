//! What `issue` and `renew` share when a certificate goes live: the check that nginx really
//! serves the new certificate after its reload, the rollback rules when it does not, and the
//! deploy hook, run with the certificate's name and live paths.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::Duration;

use rustls_pki_types::CertificateDer;

use crate::acme::directory::LETS_ENCRYPT_STAGING;
use crate::config::RenewalRecord;
use crate::hooks::{self, HookError};
use crate::nginx::binary::Nginx;
use crate::nginx::dump::ServerBlock;
use crate::renewal::decide::MIN_VALIDITY;
use crate::store::{CertStore, DeployStep, LivePaths};
use crate::trust;
use crate::verify::{self, CertInfo};

/// The variables a deploy hook gets: the certificate's name, names and live paths (the RSA
/// pair's too, for `--dual`).
pub fn deploy_env(
    name: &str,
    domains: &[String],
    paths: &LivePaths,
    rsa: Option<&LivePaths>,
) -> Vec<(&'static str, OsString)> {
    let mut env = vec![
        ("CERTCTL_NAME", name.into()),
        ("CERTCTL_DOMAINS", domains.join(" ").into()),
        ("CERTCTL_CERT", paths.cert.clone().into()),
        ("CERTCTL_CHAIN", paths.chain.clone().into()),
        ("CERTCTL_FULLCHAIN", paths.fullchain.clone().into()),
        ("CERTCTL_PRIVKEY", paths.privkey.clone().into()),
    ];
    if let Some(rsa) = rsa {
        env.push(("CERTCTL_RSA_FULLCHAIN", rsa.fullchain.clone().into()));
        env.push(("CERTCTL_RSA_PRIVKEY", rsa.privkey.clone().into()));
    }
    env
}

/// One deploy hook to run for a version that is live: what it gets in its environment.
pub struct DeployHook<'a> {
    /// The command as the user wrote it.
    pub command: &'a str,
    /// The certificate.
    pub name: &'a str,
    /// The version that is live (its deploy marks say whether this hook already ran for it).
    pub version: u64,
    /// The certificate's names.
    pub domains: &'a [String],
    /// Its live paths.
    pub paths: &'a LivePaths,
    /// The RSA pair's live paths, for `--dual`.
    pub rsa: Option<&'a LivePaths>,
}

/// Runs one deploy hook for a version that is live, once per version: a hook already marked
/// done for this version (a run that died before recording the deploy ran it) is skipped, and
/// one that completes is marked by the shell that ran it (see `hooks`). On the blocking pool: a
/// hook may take its time, and the runtime keeps serving signals and other certificates.
/// Returns false when the hook was skipped.
pub async fn run_deploy_hook(
    store: &dyn CertStore,
    hook: &DeployHook<'_>,
    stdin: hooks::Stdin<'static>,
) -> Result<bool, HookError> {
    let env = deploy_env(hook.name, hook.domains, hook.paths, hook.rsa);
    let (store, command, name, version) = (
        store.shared(),
        hook.command.to_owned(),
        hook.name.to_owned(),
        hook.version,
    );
    super::blocking(move || {
        let step = DeployStep::Hook(&command);
        if store.deploy_marked(&name, version, step) {
            tracing::info!("{name}: {command:?} already ran for version {version}; not again");
            return Ok(false);
        }
        match store.deploy_mark_path(&name, version, step) {
            Ok(mark) => hooks::run_marked(&command, &env, stdin, &mark)?,
            Err(e) => {
                tracing::warn!(
                    "{name}: cannot mark deploy hooks, running {command:?} unmarked: {e}"
                );
                hooks::run(&command, &env, stdin)?;
            }
        }
        // The wrapper made the mark; made durable here while certctl lives.
        if let Err(e) = store.mark_deployed(&name, version, step) {
            tracing::warn!("{name}: cannot record that {command:?} ran: {e}");
        }
        Ok(true)
    })
    .await
}

/// True when nginx was already confirmed to serve `version` (a run that died before recording
/// the deploy checked it): the reload and the check are not repeated.
pub async fn served_confirmed(store: &dyn CertStore, name: &str, version: u64) -> bool {
    let (store, name) = (store.shared(), name.to_owned());
    super::blocking(move || store.deploy_marked(&name, version, DeployStep::Served)).await
}

/// Marks `version` as served by nginx, before anything else of its deploy happens.
pub async fn confirm_served(store: &dyn CertStore, name: &str, version: u64) {
    let (store, name) = (store.shared(), name.to_owned());
    super::blocking(move || {
        if let Err(e) = store.mark_deployed(&name, version, DeployStep::Served) {
            tracing::warn!("{name}: cannot record that nginx serves version {version}: {e}");
        }
    })
    .await
}

/// How long the post-deploy check waits for nginx to serve a new certificate (old workers finish
/// their connections first).
pub const SERVED_WAIT: Duration = Duration::from_secs(10);

/// One certificate whose new serial nginx should now serve.
pub struct Expected<'a> {
    /// Its record (names, CA).
    pub record: &'a RenewalRecord,
    /// The serial just put live.
    pub serial: &'a str,
}

/// What nginx serves after a reload, per name and address: `nginx -T`, off the async runtime.
pub async fn served_blocks(nginx: &Nginx) -> Vec<ServerBlock> {
    try_served_blocks(nginx).await.unwrap_or_default()
}

/// [`served_blocks`], saying why `nginx -T` failed when it did.
pub async fn try_served_blocks(nginx: &Nginx) -> Result<Vec<ServerBlock>, String> {
    let nginx = nginx.clone();
    super::blocking(move || nginx.dump())
        .await
        .map(|text: String| crate::nginx::dump::server_blocks(&text))
        .map_err(|e| e.to_string())
}

/// Checks that nginx serves each expected serial, with a chain that verifies, on every address
/// it listens on for each name. [`Nginx::reload`] returns once the old workers have stopped
/// accepting, so a handshake with the new serial shows what every new connection gets. Returns
/// the failures, by index into `expected`.
pub async fn check_served_all(
    expected: &[Expected<'_>],
    blocks: &[ServerBlock],
    wait: Duration,
) -> Vec<(usize, String)> {
    let roots: Vec<_> = expected.iter().map(|e| served_roots(e.record)).collect();
    let anchors: Vec<_> = roots.iter().map(|r| verify::Anchors::new(r)).collect();
    let mut failed = Vec::new();
    for (i, e) in expected.iter().enumerate() {
        if let Err(problem) = check_served(e.record, e.serial, blocks, &anchors[i], wait).await {
            failed.push((i, problem));
        }
    }
    failed
}

/// The roots a served chain must lead to: the system's plus the certificate's CA bundle.
fn served_roots(record: &RenewalRecord) -> Vec<CertificateDer<'static>> {
    with_bundle(trust::system_roots(), record)
}

/// `system` (the system's roots, read once by the caller) plus the certificate's CA bundle.
pub(crate) fn with_bundle(
    system: Vec<CertificateDer<'static>>,
    record: &RenewalRecord,
) -> Vec<CertificateDer<'static>> {
    let mut roots = system;
    if let Some(bundle) = &record.ca_bundle {
        match trust::load_bundle(bundle) {
            Ok(extra) => roots.extend(extra),
            Err(e) => tracing::warn!("{}: {e}", record.name),
        }
    }
    roots
}

/// Every address nginx terminates TLS on for `host`, sorted, each once.
pub(crate) fn tls_targets(blocks: &[ServerBlock], host: &str) -> Vec<SocketAddr> {
    let mut targets: Vec<SocketAddr> = blocks
        .iter()
        .filter(|b| b.serves(host))
        .flat_map(|b| b.tls_targets.iter().copied())
        .collect();
    targets.sort();
    targets.dedup();
    targets
}

/// Why an address does not serve the expected certificate for a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unserved {
    /// No TLS handshake (refused, timed out, a TLS alert).
    Handshake(String),
    /// Another certificate: its serial.
    OtherSerial {
        /// What the server presented.
        served: String,
        /// What it should present.
        expected: String,
    },
    /// The expected serial, with a chain that does not verify for the name.
    Chain(String),
}

impl std::fmt::Display for Unserved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Handshake(e) | Self::Chain(e) => f.write_str(e),
            Self::OtherSerial { served, expected } => {
                write!(f, "serves serial {served}, not the new {expected}")
            }
        }
    }
}

/// One handshake to `addr` with SNI `host`, bounded by `timeout` (connect and handshake, on the
/// blocking pool): it must present `serial` with a chain that verifies for `host` against
/// `anchors` (the roots, made ready once).
pub(crate) async fn served_verdict(
    record: &RenewalRecord,
    host: &str,
    addr: SocketAddr,
    serial: &str,
    anchors: &verify::Anchors<'_>,
    timeout: Duration,
) -> Result<(), Unserved> {
    let host_owned = host.to_owned();
    let chain =
        super::blocking(move || crate::audit::served::served_chain(addr, &host_owned, timeout))
            .await
            .map_err(Unserved::Handshake)?;
    let leaf = chain
        .first()
        .ok_or_else(|| Unserved::Handshake("no certificate presented".into()))?;
    let info = verify::cert_info(leaf).map_err(|e| Unserved::Handshake(e.to_string()))?;
    if info.serial != serial {
        return Err(Unserved::OtherSerial {
            served: info.serial,
            expected: serial.to_owned(),
        });
    }
    // Let's Encrypt staging's roots are untrusted by design: the serial is the check.
    if record.server == LETS_ENCRYPT_STAGING {
        return Ok(());
    }
    verify::check_anchored(&chain, anchors, Some(host), crate::clock::unix_now())
        .map_err(|e| Unserved::Chain(e.to_string()))
}

/// A TLS handshake to every name on every address nginx listens on for it must present the new
/// serial, with a chain that verifies for that name. A reload is graceful: old workers may
/// answer for a moment, so each address gets up to `wait`.
async fn check_served(
    record: &RenewalRecord,
    serial: &str,
    blocks: &[ServerBlock],
    anchors: &verify::Anchors<'_>,
    wait: Duration,
) -> Result<(), String> {
    for host in &record.domains {
        let targets = tls_targets(blocks, host);
        if targets.is_empty() {
            return Err(format!(
                "nginx has no TLS server for {host} after the reload"
            ));
        }
        for addr in targets {
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                let verdict =
                    served_verdict(record, host, addr, serial, anchors, Duration::from_secs(5))
                        .await;
                match verdict {
                    Ok(()) => break,
                    Err(e) if tokio::time::Instant::now() >= deadline => {
                        return Err(format!("after the reload, nginx at {addr} for {host}: {e}"));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }
    }
    Ok(())
}

/// Puts `previous` live again after the version this run `installed` was not served, under the
/// rules both workflows follow: only while `installed` is still live (a version installed since
/// by another run or a human is left alone), and only to a version valid for at least a day.
/// Never on a fleet, whose live version other nodes serve: this node's daemon deploys it again.
/// The caller holds the certificate's lock. Returns what happened, for the error message.
pub fn roll_back_to(
    store: &dyn CertStore,
    name: &str,
    installed: u64,
    previous: Option<u64>,
    now: i64,
) -> String {
    if store.live_is_shared() {
        return "on a fleet nothing is rolled back: the new certificate stays live for the other nodes, and this node's daemon deploys it again".into();
    }
    let Some(previous) = previous else {
        return "there is no earlier certificate to go back to; the new one stays live".into();
    };
    match store.live_version(name) {
        Ok(Some(live)) if live != installed => {
            "a newer certificate was installed meanwhile and is left live".into()
        }
        _ if !version_info(store, name, previous)
            .is_some_and(|i| i.not_before <= now && i.not_after - now >= MIN_VALIDITY) =>
        {
            "the previous certificate expires within a day, so the new one stays live".into()
        }
        _ => match store.restore_version(name, previous) {
            Ok(()) => "the previous certificate is live again".into(),
            Err(e) => format!("restoring the previous certificate failed: {e}"),
        },
    }
}

/// Facts about one archived version, if it parses.
pub fn version_info(store: &dyn CertStore, name: &str, version: u64) -> Option<CertInfo> {
    let pem = store.version_fullchain(name, version).ok()??;
    let leaf = verify::parse_pem_chain(&pem).ok()?.into_iter().next()?;
    verify::cert_info(&leaf).ok()
}
