//! Command-line parsing (clap derive) and dispatch. One file per subcommand; no logic here
//! beyond turning arguments into library requests and results into text.

mod audit;
mod config;
mod csr;
mod daemon;
mod dhparam;
mod django;
mod doctor;
mod examples;
mod fleet;
mod import;
mod install;
mod issue;
mod list;
mod man;
mod nginx;
mod renew;
mod revoke;
mod schedule;
mod status;
mod verify;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, Parser, Subcommand};

use certctl::Error;
use certctl::error::InputError;
use certctl::progress::{Progress, Step};
use certctl::settings::{self, Key, Settings, Spec};

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
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The config file (default /etc/certctl/certctl.toml, when it exists)
    #[arg(long, global = true, env = "CERTCTL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The fleet's shared store (postgres://…); without it, the state directory alone. With
    /// it, the state directory holds this node's local live/ files
    #[arg(long, global = true, value_name = "URL")]
    pub store: Option<String>,
    /// The fleet key file (0600) that seals private keys in the shared store
    #[arg(long, global = true, value_name = "PATH")]
    pub fleet_key: Option<PathBuf>,
    /// This node's name in the fleet
    #[arg(long, global = true, value_name = "NAME")]
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
    #[command(after_help = examples::ISSUE)]
    Issue(Box<issue::IssueArgs>),
    /// Show the certificates certctl manages
    #[command(after_help = examples::LIST)]
    List(list::ListArgs),
    /// Make a key and a CSR for another CA (SANs only, no Common Name)
    #[command(after_help = examples::CSR)]
    Csr(csr::CsrArgs),
    /// Bring your own certificate and key into the store (checked like an issued one)
    #[command(after_help = examples::INSTALL_CERT)]
    InstallCert(install::InstallArgs),
    /// Write Diffie-Hellman parameters (RFC 7919, instant; or --generate)
    #[command(after_help = examples::DHPARAM)]
    Dhparam(dhparam::DhparamArgs),
    /// Renew every certificate that is due (as the timer runs it), verify, deploy, check
    #[command(after_help = examples::RENEW)]
    Renew(Box<renew::RenewArgs>),
    /// Run renew on a cron schedule in the foreground (containers without systemd)
    #[command(after_help = examples::DAEMON)]
    Daemon(Box<daemon::DaemonArgs>),
    /// Grade a live server the way SSL Labs does (protocols, suites, certificate, HSTS, redirect)
    #[command(after_help = examples::AUDIT)]
    Audit(audit::AuditArgs),
    /// Revoke a certificate at its CA; certctl stops renewing it
    #[command(after_help = examples::REVOKE)]
    Revoke(revoke::RevokeArgs),
    /// Check a certificate, its chain and key (exit 0 ok, 1 warning, 2 critical)
    #[command(after_help = examples::VERIFY)]
    Verify(verify::VerifyArgs),
    /// Install, show or remove the systemd timer that runs `certctl renew`
    #[command(after_help = examples::SCHEDULE)]
    Schedule(schedule::ScheduleArgs),
    /// Write a hardened nginx TLS site (HSTS, redirect) for a certificate, test it, reload
    #[command(after_help = examples::NGINX)]
    Nginx(Box<nginx::NginxCmdArgs>),
    /// Check a Django project's HTTPS settings; make a SECRET_KEY
    #[command(after_help = examples::DJANGO)]
    Django(django::DjangoArgs),
    /// Take certificates over from another ACME client (certbot), leaving its files as they are
    #[command(after_help = examples::IMPORT)]
    Import(import::ImportArgs),
    /// Several nodes sharing one PostgreSQL store: init, status, import, sync
    #[command(after_help = examples::FLEET)]
    Fleet(fleet::FleetArgs),
    /// Show the effective settings and where each comes from (flag, environment, file, default)
    #[command(after_help = examples::CONFIG)]
    Config(config::ConfigArgs),
    /// Every certificate, its next renewal and last result, what nginx serves, the timer and
    /// daemon: exit 0 all good, 1 warnings, 2 something needs a person
    #[command(after_help = examples::STATUS)]
    Status(status::StatusArgs),
    /// Before an issue: DNS, port 80, CAA, nginx, the clock, the account: what would fail and
    /// how to fix it (exit 0 nothing wrong, 1 warnings, 2 an issue would fail)
    #[command(after_help = examples::DOCTOR)]
    Doctor(Box<doctor::DoctorArgs>),
    /// Print shell completions (bash, zsh, fish, elvish, powershell) for certctl
    #[command(after_help = examples::COMPLETIONS)]
    Completions(man::CompletionsArgs),
    /// Write man pages for certctl and every subcommand into a directory (package builds)
    #[command(hide = true)]
    Man(man::ManArgs),
}

/// The clap command: the derive definition, with each flag that has a setting saying its
/// environment variable, its config file key and its default.
pub fn command() -> clap::Command {
    with_settings(Cli::command())
}

fn with_settings(mut cmd: clap::Command) -> clap::Command {
    for spec in &settings::SPECS {
        if !cmd.get_arguments().any(|a| a.get_id() == spec.arg) {
            continue;
        }
        let mut note = format!("[env: {}] [config: {}]", spec.env, spec.name);
        if let Some(default) = spec.default {
            note.push_str(&format!(" [default: {default}]"));
        }
        cmd = cmd.mut_arg(spec.arg, |arg| {
            let short = arg.get_help().map(ToString::to_string).unwrap_or_default();
            let long = arg.get_long_help().map(|h| format!("{h}\n\n{note}"));
            let arg = arg.help(format!("{short} {note}"));
            match long {
                Some(long) => arg.long_help(long),
                None => arg,
            }
        });
    }
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in subs {
        cmd = cmd.mut_subcommand(name, with_settings);
    }
    cmd
}

/// Reads the config file and resolves every setting: flag > environment > file > default.
/// A bad file or variable is an error (exit 2) and nothing runs.
fn load_settings(global: &GlobalArgs, matches: &ArgMatches) -> Result<Settings, Error> {
    let (path, named) = match &global.config {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from(settings::DEFAULT_PATH), false),
    };
    let file = match std::fs::read_to_string(&path) {
        Ok(text) => Some(settings::parse_file(&path, &text)?),
        Err(e) if !named && e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(InputError::unreadable(&path)(e).into()),
    };
    let mut command = Vec::new();
    let mut leaf = matches;
    while let Some((name, sub)) = leaf.subcommand() {
        command.push(name);
        leaf = sub;
    }
    let command = command.join(" ");
    let flag = |spec: &Spec| -> Option<String> {
        if !spec.taken_by(&command) {
            return None;
        }
        [leaf, matches].into_iter().find_map(|m| {
            let mut raw = m.try_get_raw(spec.arg).ok().flatten()?;
            (m.value_source(spec.arg) == Some(ValueSource::CommandLine))
                .then(|| raw.next().map(|v| v.to_string_lossy().into_owned()))
                .flatten()
        })
    };
    Ok(settings::resolve(
        &flag,
        &|var| std::env::var(var).ok(),
        file.as_ref(),
    )?)
}

/// Runs the parsed command.
pub fn run(cli: Cli, matches: &ArgMatches) -> Result<ExitCode, Error> {
    let settings = load_settings(&cli.global, matches)?;
    // Commands that never touch the store do not connect to a shared one.
    let uses_store = !matches!(
        cli.command,
        Command::Audit(_)
            | Command::Dhparam(_)
            | Command::Csr(_)
            | Command::Django(_)
            | Command::Config(_)
            | Command::Completions(_)
            | Command::Man(_)
    ) && !fleet::is_init(&cli.command);
    let open = match (&cli.command, uses_store) {
        (_, false) => OpenStore::No,
        // A daemon outlives outages: it starts while the fleet database is away and checks
        // the schema and the fleet key once it answers.
        (Command::Daemon(_), true) => OpenStore::EvenIfAway,
        (_, true) => OpenStore::Yes,
    };
    let ctx = Ctx::new(&cli.global, settings, open)?;
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
        Command::Config(args) => config::run(args, ctx),
        Command::Completions(args) => man::completions(args),
        Command::Status(args) => status::run(args, ctx),
        Command::Doctor(args) => doctor::run(*args, ctx),
        Command::Man(args) => man::man_pages(args),
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
    /// The fleet database was away when the store was opened ([`OpenStore::EvenIfAway`]):
    /// its schema and the fleet key are not checked yet.
    pub pg_unchecked: bool,
    pub store_url: Option<String>,
    pub fleet_key: PathBuf,
    /// Every setting, resolved once (flag > environment > config file > default).
    pub settings: Settings,
    pub quiet: bool,
    pub verbose: u8,
    pub stderr_tty: bool,
    pub stdin_tty: bool,
}

/// Whether a command connects to a shared store.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OpenStore {
    No,
    Yes,
    EvenIfAway,
}

impl Ctx {
    fn new(global: &GlobalArgs, settings: Settings, open: OpenStore) -> Result<Self, Error> {
        let state_dir = settings
            .path(Key::StateDir)
            .unwrap_or_else(|| PathBuf::from("/var/lib/certctl"));
        let store_url = settings.value(Key::StoreUrl).map(str::to_owned);
        let fleet_key = settings
            .path(Key::FleetKey)
            .unwrap_or_else(|| PathBuf::from("/etc/certctl/fleet.key"));
        let local = certctl::store::FsStore::new(&state_dir);
        let mut pg_unchecked = false;
        let pg = match (&store_url, open) {
            (None, _) | (_, OpenStore::No) => None,
            (Some(url), open) => {
                let opts = certctl::store::PgOptions {
                    url: url.clone(),
                    key_path: fleet_key.clone(),
                    node: settings
                        .value(Key::Node)
                        .map(str::to_owned)
                        .unwrap_or_else(host_name),
                    local_root: state_dir.clone(),
                    lease_ttl: std::time::Duration::from_secs(global.lease_ttl),
                };
                match certctl::store::PgStore::open(&opts) {
                    Err(certctl::store::StoreError::Db { .. }) if open == OpenStore::EvenIfAway => {
                        pg_unchecked = true;
                        Some(certctl::store::PgStore::open_unchecked(&opts)?)
                    }
                    opened => Some(opened?),
                }
            }
        };
        let store: std::sync::Arc<dyn certctl::store::CertStore> = match &pg {
            Some(pg) => std::sync::Arc::new(pg.clone()),
            None => std::sync::Arc::new(local.clone()),
        };
        Ok(Self {
            store,
            local,
            pg,
            pg_unchecked,
            store_url,
            fleet_key,
            settings,
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

    /// A progress bar on stderr for counted work, drawn only when [`certctl::progress::show_bar`]
    /// says so (a terminal, no -q, no --json); `what` names the items ("targets").
    pub fn bar(&self, json: bool, what: &'static str) -> Bar {
        self.drawn(
            json,
            &format!("{{bar:30}} {{pos}}/{{len}} {what} {{wide_msg}}"),
            |_| (),
        )
    }

    /// A spinner on stderr with `message` for work of unknown length, under the same rule.
    pub fn spinner(&self, json: bool, message: &str) -> Bar {
        self.drawn(json, "{spinner} {msg} ({elapsed})", |bar| {
            bar.set_message(message.to_owned());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
        })
    }

    fn drawn(
        &self,
        json: bool,
        template: &str,
        start: impl FnOnce(&indicatif::ProgressBar),
    ) -> Bar {
        let shown = certctl::progress::show_bar(self.stderr_tty, self.quiet, json);
        Bar(shown.then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stderr(),
            );
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            start(&bar);
            bar
        }))
    }

    /// Steps are shown on a terminal, or anywhere with -v; never with -q.
    pub fn progress(&self) -> StepPrinter {
        StepPrinter {
            enabled: !self.quiet && (self.stderr_tty || self.verbose > 0),
        }
    }
}

/// A table's lines, header first: each column as wide as its widest cell, two spaces between.
pub fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> Vec<String> {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; N]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        parts.join("  ").trim_end().to_owned()
    };
    std::iter::once(line(header))
        .chain(rows.iter().map(|r| line(r.each_ref().map(String::as_str))))
        .collect()
}

/// The kernel's host name: a node's default name in the fleet.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into())
}

/// A progress bar or spinner (or nothing), cleared when dropped.
pub struct Bar(Option<indicatif::ProgressBar>);

impl certctl::progress::Tally for Bar {
    fn total(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.set_length(n);
        }
    }

    fn done(&self, item: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(item.to_owned());
            bar.inc(1);
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
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

    #[test]
    fn verify_cli() {
        command().debug_assert();
    }

    /// Every flag a setting names exists, with that id, on every command the setting lists.
    #[test]
    fn every_setting_names_real_flags() {
        let root = command();
        for spec in &settings::SPECS {
            for path in spec.commands {
                let mut cmd = &root;
                for name in path.split(' ').filter(|n| *n != "*") {
                    cmd = cmd.find_subcommand(name).expect(path);
                }
                let arg = cmd
                    .get_arguments()
                    .find(|a| a.get_id() == spec.arg)
                    .unwrap_or_else(|| panic!("{path} has no {}", spec.arg));
                assert_eq!(
                    format!("--{}", arg.get_long().unwrap()),
                    spec.flag,
                    "{path}"
                );
                assert!(
                    arg.get_default_values().is_empty(),
                    "{path} {}: the default lives in settings",
                    spec.flag
                );
            }
        }
    }
}
