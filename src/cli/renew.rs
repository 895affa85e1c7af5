//! `certctl renew`: what the timer runs. Quiet when nothing happens; failures on stderr, exit 1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::Ctx;
use certctl::Error;
use certctl::ops::renew::{self, CertReport, Outcome, RenewOptions, RenewReport};
use certctl::settings::Key;

#[derive(Debug, Args)]
pub struct RenewArgs {
    /// Only these certificates (default: every certificate in the state directory)
    #[arg(value_name = "NAME")]
    names: Vec<String>,
    /// Renew even when not due
    #[arg(long)]
    force: bool,
    /// Renew when fewer than N days remain, instead of the schedule
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=3650))]
    days: Option<u32>,
    /// Full orders against Let's Encrypt staging (or --server); nothing goes live
    #[arg(long)]
    dry_run: bool,
    /// The CA for --dry-run
    #[arg(long, value_name = "URL", requires = "dry_run")]
    server: Option<String>,
    /// Machine-readable report on stdout
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    flags: RenewFlags,
}

/// What `renew` and `daemon` share.
#[derive(Debug, Args)]
pub struct RenewFlags {
    /// Run after each successful deploy (after the certificate's own hook)
    #[arg(long, value_name = "CMD")]
    #[allow(dead_code)] // read through ctx.settings
    deploy_hook: Option<String>,
    /// Run once per failed certificate, with a JSON description of the failure on stdin
    #[arg(long, value_name = "CMD")]
    #[allow(dead_code)] // read through ctx.settings
    on_failure_hook: Option<String>,
    /// Write a Prometheus textfile-collector file with every certificate's expiry, next renewal and last result
    #[arg(long, value_name = "PATH")]
    #[allow(dead_code)] // read through ctx.settings
    metrics_file: Option<PathBuf>,
    /// How many certificates renew at once
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    #[allow(dead_code)] // read through ctx.settings
    concurrency: Option<u16>,
    /// How long to wait for a certificate another certctl run is working on
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    lock_wait: u64,
}

impl RenewFlags {
    /// Renew options for every certificate, on the schedule.
    pub fn options(&self, ctx: &Ctx, days: Option<u32>) -> RenewOptions {
        RenewOptions {
            names: Vec::new(),
            force: false,
            days,
            dry_run: false,
            server: None,
            deploy_hook: ctx.settings.value(Key::DeployHook).map(str::to_owned),
            concurrency: usize::from(ctx.settings.concurrency()),
            lock_wait: Duration::from_secs(self.lock_wait),
            backup_root: certctl::ops::nginx::backup_root(ctx.local.layout().root()),
            served_wait: Duration::from_secs(10),
            nginx_here: None,
        }
    }

    /// The metrics file and the failure hook, after every run.
    pub fn after_run(&self, report: &RenewReport, ctx: &Ctx) -> Result<(), Error> {
        if let Some(hook) = ctx.settings.value(Key::OnFailureHook) {
            for failed in report.failures() {
                run_failure_hook(hook, failed);
            }
        }
        if let Some(path) = ctx.settings.path(Key::MetricsFile) {
            let text = certctl::ops::list::metrics(&*ctx.store, certctl::clock::unix_now())?;
            write_metrics(&path, &text)?;
        }
        Ok(())
    }
}

pub fn run(args: RenewArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    for name in &args.names {
        certctl::store::layout::check_cert_name(name)?;
        if ctx.store.load_record(name)?.is_none() {
            return Err(Error::Usage(format!(
                "no certificate named {name:?}; `certctl list` shows them"
            )));
        }
    }
    if let Some(url) = &args.server {
        certctl::acme::directory::directory_url(Some(url), false).map_err(Error::Usage)?;
    }
    let opts = RenewOptions {
        names: args.names.clone(),
        force: args.force,
        dry_run: args.dry_run,
        server: args.server.clone(),
        ..args.flags.options(ctx, args.days)
    };
    let report = ctx.block_on(async {
        tokio::select! {
            result = renew::renew(&*ctx.store, &opts) => result,
            _ = super::interrupted() => Err(Error::Interrupted),
        }
    })??;

    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        );
    } else {
        print_report(&report.certs, ctx);
    }
    // The report first, the alerts next; a metrics file that cannot be written is a warning,
    // never a reason to hide the renewal results.
    if let Err(e) = args.flags.after_run(&report, ctx) {
        eprintln!("certctl: warning: {e}");
    }
    let failed: Vec<&CertReport> = report.failures().collect();
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for cert in &failed {
        if let Outcome::Failed { error, .. } = &cert.outcome {
            eprintln!("certctl: renewal of {} failed: {error}", cert.name);
        }
    }
    eprintln!(
        "certctl: error: {} of {} certificate(s) failed to renew: {}",
        failed.len(),
        report.certs.len(),
        failed
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(ExitCode::from(1))
}

fn print_report(certs: &[CertReport], ctx: &Ctx) {
    if ctx.quiet {
        return;
    }
    let when = |t: i64| certctl::verify::rfc3339(t);
    for cert in certs {
        match &cert.outcome {
            Outcome::NotDue => {
                // Nothing to say unless asked: the timer runs twice a day.
                if ctx.verbose > 0
                    && let Some(plan) = &cert.plan
                {
                    println!(
                        "not due   {}: renews {} ({})",
                        cert.name,
                        when(plan.at),
                        plan.reason
                    );
                }
            }
            Outcome::BackingOff { until, last_error } => println!(
                "waiting   {}: due, retrying after {} (last failure: {last_error})",
                cert.name,
                when(*until)
            ),
            Outcome::Skipped { why } => println!("skipped   {}: {why}", cert.name),
            Outcome::Renewed { serial } => println!(
                "renewed   {}: serial {serial}, valid until {}",
                cert.name,
                cert.not_after.map(when).unwrap_or_default()
            ),
            Outcome::DryRun { serial } => {
                println!(
                    "dry run   {}: obtained and verified serial {serial}, not installed",
                    cert.name
                )
            }
            Outcome::Failed { .. } => {}
        }
    }
}

/// Written to a temporary file and renamed, so the collector never reads half a file.
fn write_metrics(path: &std::path::Path, text: &str) -> Result<(), Error> {
    certctl::fsio::write_atomic(path, text.as_bytes(), 0o644).map_err(|e| Error::Io {
        context: format!("cannot write --metrics-file {}", path.display()),
        source: e.source,
    })
}

fn run_failure_hook(hook: &str, failed: &CertReport) {
    let json = serde_json::to_string(failed).expect("report serializes");
    let env = [("CERTCTL_NAME", failed.name.clone().into())];
    match certctl::hooks::run(hook, &env, certctl::hooks::Stdin::Bytes(json.as_bytes())) {
        Ok(()) => {}
        Err(certctl::hooks::HookError::Failed { status, .. }) => {
            eprintln!("certctl: warning: the on-failure hook exited with {status}")
        }
        Err(certctl::hooks::HookError::Spawn(e)) => {
            eprintln!("certctl: warning: cannot run the on-failure hook: {e}")
        }
    }
}
