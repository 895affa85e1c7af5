//! `certctl import certbot`: take certbot's lineages over. Arguments → request → one library call
//! (`ops::import`) → the report, per lineage, human or JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::Ctx;
use super::nginx::NginxLayoutArgs;
use certctl::Error;
use certctl::nginx::NginxSite;
use certctl::nginx::render::{Content, Hsts};
use certctl::ops::import::{self, AccountOutcome, ImportReport, ImportRequest, Outcome};
use certctl::ops::repoint::NginxReport;
use certctl::settings::Key;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    source: Source,
}

#[derive(Debug, Subcommand)]
enum Source {
    /// certbot's lineages (renewal/*.conf, live/, archive/) and its ACME account
    #[command(after_help = super::examples::IMPORT)]
    Certbot(CertbotArgs),
}

#[derive(Debug, Args)]
struct CertbotArgs {
    /// certbot's configuration directory (only read, never changed)
    #[arg(long, default_value = "/etc/letsencrypt", value_name = "DIR")]
    config_dir: PathBuf,
    /// Say what would be taken and what left to certbot; write nothing
    #[arg(long)]
    dry_run: bool,
    /// Machine-readable report on stdout
    #[arg(long)]
    json: bool,
    /// Extra trusted roots (PEM) for the CA's API, kept in every imported record (certbot took
    /// them from REQUESTS_CA_BUNDLE)
    #[arg(long, value_name = "PEM")]
    #[allow(dead_code)] // read through ctx.settings
    ca_bundle: Option<PathBuf>,
    /// Disable certbot's systemd timer and cron entry, once certbot has no lineage left to renew
    #[arg(long)]
    disable_certbot: bool,
    /// The system root of certbot's timer and cron entry (systemctl is only called for /)
    #[arg(
        long,
        default_value = "/",
        value_name = "DIR",
        requires = "disable_certbot"
    )]
    root: PathBuf,
    /// Leave nginx's files alone (by default every ssl_certificate, ssl_certificate_key and
    /// ssl_trusted_certificate reading an imported lineage's live/ files is pointed at certctl's)
    #[arg(long)]
    no_nginx: bool,
    /// Which nginx, and where certctl's files go when a site whose challenges certbot's nginx
    /// authenticator answered is taken over (as `certctl nginx NAME --take-over` does, with the
    /// intermediate TLS profile and two years of HSTS)
    #[command(flatten)]
    nginx: NginxLayoutArgs,
}

pub fn run(args: ImportArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    let Source::Certbot(args) = args.source;
    let ca_bundle = match &ctx.settings.path(Key::CaBundle) {
        Some(path) => {
            certctl::trust::load_bundle(path)?;
            Some(
                std::path::absolute(path)
                    .map_err(|e| Error::Usage(format!("bad --ca-bundle: {e}")))?,
            )
        }
        None => None,
    };
    // A site certbot's nginx plugin set up keeps its own listen and content; certctl points its
    // TLS server at certctl's certificate with the default profile and HSTS (`certctl nginx
    // NAME` changes either afterwards).
    let site = NginxSite {
        nginx: args.nginx.binary.resolve(None, &ctx.settings),
        layout: args.nginx.resolve(None, &ctx.settings),
        profile: Default::default(),
        hsts: Some(Hsts::TWO_YEARS),
        content: Content::Site,
        https_port: 443,
        listen: Vec::new(),
        take_over: true,
        fleet_thumbprint: None,
    };
    let req = ImportRequest {
        config_dir: args.config_dir,
        dry_run: args.dry_run,
        ca_bundle,
        disable_certbot: args.disable_certbot.then_some(args.root),
        nginx: match args.no_nginx {
            true => Err("--no-nginx: nginx's files were not looked at".into()),
            false => {
                let nginx = site.nginx.clone();
                match nginx.bin.exists() {
                    true => Ok(nginx),
                    false => Err(format!(
                        "no nginx binary found ({}): nginx's files were not looked at (--nginx-bin)",
                        nginx.bin.display()
                    )),
                }
            }
        },
        site,
        backup_root: certctl::ops::nginx::backup_root(ctx.local.layout().root()),
        now: certctl::clock::unix_now(),
    };
    let bar = ctx.bar(args.json, "lineages");
    let report = ctx.block_on(import::import_certbot(&*ctx.store, &req, &bar))??;
    drop(bar);
    if args.json {
        let json = serde_json::to_string_pretty(&report).expect("the report serializes");
        println!("{json}");
    } else if !ctx.quiet {
        print_human(&report);
    }
    Ok(if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_human(report: &ImportReport) {
    println!(
        "certbot's {}{}",
        report.config_dir.display(),
        if report.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    );
    if report.lineages.is_empty() {
        println!("  no lineages (renewal/*.conf) to import");
    }
    for l in &report.lineages {
        let what = match l.outcome {
            Outcome::Imported => "imported",
            Outcome::WouldImport => "would import",
            Outcome::AlreadyImported => "already imported",
            Outcome::Left => "left to certbot",
            Outcome::Failed => "FAILED",
        };
        match &l.reason {
            Some(reason) => println!("  {}: {what}: {reason}", l.name),
            None => println!("  {}: {what}", l.name),
        }
        if matches!(l.outcome, Outcome::Left | Outcome::Failed) {
            continue;
        }
        let mut facts = vec![l.domains.join(", ")];
        facts.extend(l.responder.clone());
        facts.extend(l.key_type.clone());
        facts.extend(l.serial.as_ref().map(|s| format!("serial {s}")));
        facts.extend(l.not_after.as_ref().map(|t| format!("valid until {t}")));
        println!("      {}", facts.join("; "));
        if let Some(server) = &l.server {
            println!("      CA {server}");
        }
        match &l.account {
            Some(AccountOutcome::Reused { url }) => println!("      account: certbot's, {url}"),
            Some(AccountOutcome::CertctlAccount { url }) => {
                println!("      account: certctl's existing account, {url}")
            }
            Some(AccountOutcome::Registered { url, reason }) => {
                println!("      account: registered {url}, since {reason}")
            }
            Some(AccountOutcome::WouldRegister { reason }) => {
                println!("      account: would register a new one, since {reason}")
            }
            Some(AccountOutcome::NoAccount { reason }) => println!("      account: NONE: {reason}"),
            None => {}
        }
        if let Some(hook) = &l.deploy_hook {
            println!("      deploy hook: {hook}");
        }
        if let Some(path) = &l.fullchain {
            println!("      now at {}", path.display());
        }
        for m in &l.repointed {
            println!(
                "      nginx: {} {} {} -> {}",
                m.at,
                m.directive,
                m.from,
                m.to.display()
            );
        }
        if let Some(site) = &l.site {
            for path in &site.changed {
                println!("      nginx site taken over: wrote {}", path.display());
            }
            if let Some(diff) = &site.diff {
                println!("      nginx site: {diff}");
            }
            if let Some(error) = &site.error {
                println!(
                    "      nginx site NOT taken over: {error} (renewals fail their challenges until `certctl nginx {} --take-over` succeeds)",
                    l.name
                );
            }
        }
        for note in &l.notes {
            println!("      note: {note}");
        }
    }
    for hook in &report.directory_hooks {
        println!(
            "  note: certctl does not run certbot's directory hook {}; add it to a record's deploy hook if it is needed",
            hook.display()
        );
    }
    let count = |o: &[Outcome]| {
        report
            .lineages
            .iter()
            .filter(|l| o.contains(&l.outcome))
            .count()
    };
    println!(
        "{} {}, {} already imported, {} left to certbot{}",
        if report.dry_run {
            "would import"
        } else {
            "imported"
        },
        count(&[Outcome::Imported, Outcome::WouldImport]),
        count(&[Outcome::AlreadyImported]),
        count(&[Outcome::Left]),
        match count(&[Outcome::Failed]) {
            0 => String::new(),
            n => format!(", {n} failed"),
        }
    );
    print_nginx(&report.nginx);
    if let Some(schedule) = &report.certbot_schedule {
        for action in &schedule.actions {
            println!("certbot: {action}");
        }
        if let Some(reason) = &schedule.reason {
            println!("certbot's schedule: {reason}");
        }
    }
}

fn print_nginx(nginx: &NginxReport) {
    if let Some(why) = &nginx.skipped {
        println!("nginx: {why}");
    }
    if let Some(error) = &nginx.error {
        println!("nginx: NOT repointed: {error} (`--no-nginx` leaves nginx alone)");
    }
    for v in &nginx.variable {
        println!("nginx: left {v}: its path uses a variable");
    }
    match &nginx.diff {
        Some(diff) if diff.is_empty() => println!("nginx: nothing to repoint"),
        Some(diff) => print!("{diff}"),
        None if nginx.skipped.is_some() || nginx.error.is_some() => {}
        None if nginx.changed.is_empty() => println!("nginx: nothing to repoint"),
        None => {
            for path in &nginx.changed {
                println!("nginx: wrote {}", path.display());
            }
            if let Some(dir) = &nginx.backup_dir {
                println!("nginx: previous versions in {}", dir.display());
            }
            println!("nginx: configuration tested and reloaded");
        }
    }
}
