//! Command-line parsing (clap derive) and dispatch. One file per subcommand; no logic here
//! beyond turning arguments into library requests and results into text.

mod audit;
mod csr;
mod daemon;
mod dhparam;
mod django;
mod fleet;
mod import;
mod install;
mod issue;
mod list;
mod nginx;
mod renew;
mod revoke;
mod schedule;
mod verify;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use certctl::Error;
use certctl::progress::{Progress, Step};

/// certctl: TLS certificates for nginx sites, issued, installed and kept right.
#[derive(Debug, Parser)]
#[command(name = "certctl", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// State directory (accounts, archive, live certificates)
    #[arg(
        long,
        global = true,
        env = "CERTCTL_STATE_DIR",
        default_value = "/var/lib/certctl"
    )]
    pub state_dir: PathBuf,
    /// The fleet's shared store (postgres://…); without it, the state directory alone. With
    /// it, the state directory holds this node's local live/ files
    #[arg(long, global = true, env = "CERTCTL_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// The fleet key file (0600) that seals private keys in the shared store
    #[arg(
        long,
        global = true,
        env = "CERTCTL_FLEET_KEY",
        value_name = "PATH",
        default_value = "/etc/certctl/fleet.key"
    )]
    pub fleet_key: PathBuf,
    /// This node's name in the fleet (default: the host name)
    #[arg(long, global = true, env = "CERTCTL_NODE", value_name = "NAME")]
    pub node: Option<String>,
    /// How long a fleet lease lasts without a heartbeat, in seconds (tests shorten it)
    #[arg(long, global = true, hide = true, env = "CERTCTL_LEASE_TTL", value_name = "SECONDS",
          default_value_t = certctl::store::pg::DEFAULT_LEASE_TTL.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub lease_ttl: u64,
    /// Print nothing but errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More detail on stderr (-v, -vv, -vvv)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Obtain a certificate over ACME HTTP-01 and install it under live/NAME
    Issue(Box<issue::IssueArgs>),
    /// Show the certificates certctl manages
    List(list::ListArgs),
    /// Make a key and a CSR for another CA (SANs only, no Common Name)
    Csr(csr::CsrArgs),
    /// Bring your own certificate and key into the store (checked like an issued one)
    InstallCert(install::InstallArgs),
    /// Write Diffie-Hellman parameters (RFC 7919, instant; or --generate)
    Dhparam(dhparam::DhparamArgs),
    /// Renew every certificate that is due (as the timer runs it), verify, deploy, check
    Renew(Box<renew::RenewArgs>),
    /// Run renew on a cron schedule in the foreground (containers without systemd)
    Daemon(Box<daemon::DaemonArgs>),
    /// Grade a live server the way SSL Labs does (protocols, suites, certificate, HSTS, redirect)
    Audit(audit::AuditArgs),
    /// Revoke a certificate at its CA; certctl stops renewing it
    Revoke(revoke::RevokeArgs),
    /// Check a certificate, its chain and key (exit 0 ok, 1 warning, 2 critical)
    Verify(verify::VerifyArgs),
    /// Install, show or remove the systemd timer that runs `certctl renew`
    Schedule(schedule::ScheduleArgs),
    /// Write a hardened nginx TLS site (HSTS, redirect) for a certificate, test it, reload
    Nginx(Box<nginx::NginxCmdArgs>),
    /// Check a Django project's HTTPS settings; make a SECRET_KEY
    Django(django::DjangoArgs),
    /// Take certificates over from another ACME client (certbot), leaving its files as they are
    Import(import::ImportArgs),
    /// Several nodes sharing one PostgreSQL store: init, status, import, sync
    Fleet(fleet::FleetArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<ExitCode, Error> {
    // Commands that never touch the store do not connect to a shared one.
    let uses_store = !matches!(
        cli.command,
        Command::Audit(_) | Command::Dhparam(_) | Command::Csr(_) | Command::Django(_)
    ) && !fleet::is_init(&cli.command);
    let ctx = Ctx::new(&cli.global, uses_store)?;
    // These add or change renewal records, and so the directories renewals write to.
    let changes_records = matches!(
        cli.command,
        Command::Issue(_) | Command::Nginx(_) | Command::InstallCert(_) | Command::Import(_)
    );
    let result = dispatch(cli.command, &ctx);
    if changes_records && result.is_ok() {
        schedule::refresh_paths(&ctx);
    }
    result
}

fn dispatch(command: Command, ctx: &Ctx) -> Result<ExitCode, Error> {
    match command {
        Command::Issue(args) => issue::run(*args, ctx),
        Command::List(args) => list::run(args, ctx),
        Command::Nginx(args) => nginx::run(*args, ctx),
        Command::Renew(args) => renew::run(*args, ctx),
        Command::Schedule(args) => schedule::run(args, ctx),
        Command::Daemon(args) => daemon::run(*args, ctx),
        Command::Verify(args) => verify::run(args, ctx),
        Command::Revoke(args) => revoke::run(args, ctx),
        Command::Audit(args) => audit::run(args, ctx),
        Command::Dhparam(args) => dhparam::run(args, ctx),
        Command::Csr(args) => csr::run(args, ctx),
        Command::InstallCert(args) => install::run(args, ctx),
        Command::Django(args) => django::run(args, ctx),
        Command::Import(args) => import::run(args, ctx),
        Command::Fleet(args) => fleet::run(args, ctx),
    }
}

/// What every command needs: the store, the runtime, how to talk to the user.
pub struct Ctx {
    /// The store every workflow uses: the fleet's when --store is given, else `local`.
    pub store: std::sync::Arc<dyn certctl::store::CertStore>,
    /// The state directory (with --store: this node's local live/ files).
    pub local: certctl::store::FsStore,
    /// The fleet's store, when --store is given.
    pub pg: Option<certctl::store::PgStore>,
    pub store_url: Option<String>,
    pub fleet_key: PathBuf,
    pub quiet: bool,
    pub verbose: u8,
    pub stderr_tty: bool,
    pub stdin_tty: bool,
}

impl Ctx {
    fn new(global: &GlobalArgs, open_store: bool) -> Result<Self, Error> {
        let local = certctl::store::FsStore::new(&global.state_dir);
        let pg = match (&global.store, open_store) {
            (Some(url), true) => Some(certctl::store::PgStore::open(&certctl::store::PgOptions {
                url: url.clone(),
                key_path: global.fleet_key.clone(),
                node: global.node.clone().unwrap_or_else(host_name),
                local_root: global.state_dir.clone(),
                lease_ttl: std::time::Duration::from_secs(global.lease_ttl),
            })?),
            _ => None,
        };
        let store: std::sync::Arc<dyn certctl::store::CertStore> = match &pg {
            Some(pg) => std::sync::Arc::new(pg.clone()),
            None => std::sync::Arc::new(local.clone()),
        };
        Ok(Self {
            store,
            local,
            pg,
            store_url: global.store.clone(),
            fleet_key: global.fleet_key.clone(),
            quiet: global.quiet,
            verbose: global.verbose,
            stderr_tty: std::io::stderr().is_terminal(),
            stdin_tty: std::io::stdin().is_terminal(),
        })
    }

    /// Runs a future on a single-threaded runtime (a CLI run is one workflow).
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> Result<F::Output, Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::Io {
                context: "cannot start the async runtime".into(),
                source,
            })?;
        Ok(rt.block_on(fut))
    }

    /// Steps are shown on a terminal, or anywhere with -v; never with -q.
    pub fn progress(&self) -> StepPrinter {
        StepPrinter {
            enabled: !self.quiet && (self.stderr_tty || self.verbose > 0),
        }
    }
}

/// The kernel's host name: a node's default name in the fleet.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into())
}

/// Prints each step to stderr as it happens.
pub struct StepPrinter {
    enabled: bool,
}

impl Progress for StepPrinter {
    fn step(&self, step: Step, detail: &str) {
        if self.enabled {
            eprintln!("  {step:<10} {detail}");
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM, so the workflow is dropped and responders clean up.
pub async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
