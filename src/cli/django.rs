//! `certctl django check` and `certctl django secret-key`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::Ctx;
use certctl::Error;
use certctl::django::checks::Finding;
use certctl::django::fetch::{self, LiveReport, LiveRequest};
use certctl::django::project::{self, CheckRequest, StaticReport};
use certctl::django::{DjangoError, secret};
use certctl::finding::Severity;

#[derive(Debug, Args)]
pub struct DjangoArgs {
    #[command(subcommand)]
    command: DjangoCommand,
}

#[derive(Debug, Subcommand)]
enum DjangoCommand {
    /// Check a Django project's HTTPS and cookie settings (Django's deploy checks and more)
    Check(CheckArgs),
    /// Print a strong SECRET_KEY (or write DJANGO_SECRET_KEY into an env file, 0600)
    SecretKey(SecretKeyArgs),
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The project directory (where manage.py is; default: found from the current directory)
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    /// Settings module, e.g. config.settings.production (default: DJANGO_SETTINGS_MODULE, then manage.py's)
    #[arg(long, value_name = "MODULE")]
    settings: Option<String>,
    /// Environment the site runs with (KEY=value lines; wins over the process environment)
    #[arg(long, value_name = "FILE")]
    env_file: Option<PathBuf>,
    /// Also check the running site: http→https redirect, HSTS, cookies, mixed content
    #[arg(long, value_name = "https://HOST[:PORT]/")]
    url: Option<String>,
    /// The page whose cookies are checked (default: /admin/login/)
    #[arg(long, value_name = "PATH", requires = "url")]
    path: Option<String>,
    /// The plain-HTTP port that must redirect to https
    #[arg(long, default_value_t = 80, value_name = "N", requires = "url")]
    http_port: u16,
    /// The plain-HTTP URL that must redirect, when it is not http://HOST[:--http-port]/
    #[arg(
        long,
        value_name = "http://HOST[:PORT]/",
        requires = "url",
        conflicts_with = "http_port"
    )]
    http_url: Option<String>,
    /// Trust these CA certificates besides the system's when checking the live site
    #[arg(long, value_name = "FILE", requires = "url")]
    ca_bundle: Option<PathBuf>,
    /// Do not verify the live site's certificate (said in the report)
    #[arg(long, requires = "url", conflicts_with = "ca_bundle")]
    insecure: bool,
    /// Connect to this address instead of resolving the URL's host (like curl --resolve)
    #[arg(long, value_name = "IP", requires = "url")]
    connect: Option<std::net::IpAddr>,
    /// Seconds per request
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    timeout: u64,
    /// Exit 1 when there is any finding other than info
    #[arg(long)]
    strict: bool,
    /// Machine-readable report
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct SecretKeyArgs {
    /// Write DJANGO_SECRET_KEY=… into this file (created 0600; refused inside git unless ignored)
    #[arg(long, value_name = "FILE")]
    env_file: Option<PathBuf>,
}

pub fn run(args: DjangoArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    match args.command {
        DjangoCommand::Check(args) => check(args, ctx),
        DjangoCommand::SecretKey(args) => secret_key(args, ctx),
    }
}

/// Static findings and live findings, in one JSON object.
#[derive(serde::Serialize)]
struct Report {
    #[serde(flatten)]
    project: Option<StaticReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    live: Option<LiveReport>,
}

fn check(args: CheckArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    let start = match &args.project {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().map_err(|source| Error::Io {
            context: "cannot read the current directory".into(),
            source,
        })?,
    };
    let request = CheckRequest {
        start,
        settings_module: args.settings.clone(),
        env_file: args.env_file.clone(),
        process_env: std::env::vars().collect(),
    };
    // With --url and no project here, only the live site is checked.
    // The nginx sites certctl manages for the project are checked against its settings.
    let sites = |settings: &certctl::django::settings::Settings| {
        certctl::ops::django::managed_sites(&*ctx.store, settings)
    };
    let project = match project::check_with_sites(&request, &sites) {
        Err(DjangoError::NoProject(_)) if args.url.is_some() && args.project.is_none() => None,
        other => Some(other?),
    };
    let live = match &args.url {
        Some(url) => {
            let session_cookie = project
                .as_ref()
                .and_then(|p| p.settings.get("SESSION_COOKIE_NAME"))
                .and_then(|s| s.value.as_str().map(str::to_owned))
                .unwrap_or_else(|| "sessionid".into());
            let req = LiveRequest {
                url: url.clone(),
                path: args.path.clone(),
                http_port: args.http_port,
                connect: args.connect,
                timeout: std::time::Duration::from_secs(args.timeout.max(1)),
                session_cookie,
                http_url: args.http_url.clone(),
                ca_bundle: args.ca_bundle.clone(),
                insecure: args.insecure,
            };
            let mut live = ctx.block_on(fetch::check_live(&req))??;
            if let Some(p) = &project {
                certctl::django::live::join_settings(&mut live.findings, &p.settings);
            }
            Some(live)
        }
        None => None,
    };
    let report = Report { project, live };
    if args.json {
        let json = serde_json::to_string_pretty(&report).expect("the report serializes");
        println!("{json}");
    } else if !ctx.quiet {
        if let Some(p) = &report.project {
            print_findings(&p.project, &p.settings_module, &p.findings);
        }
        if let Some(l) = &report.live {
            print_live(l);
        }
    }
    let project_counts = report
        .project
        .iter()
        .flat_map(|p| &p.findings)
        .any(|f| f.finding.severity != Severity::Info);
    let live_counts = report
        .live
        .iter()
        .flat_map(|l| &l.findings)
        .any(|f| f.finding.severity != Severity::Info);
    Ok(match args.strict && (project_counts || live_counts) {
        true => ExitCode::from(1),
        false => ExitCode::SUCCESS,
    })
}

fn severity_word(severity: Severity, colour: bool) -> String {
    let (code, word) = match severity {
        Severity::Error => ("1;31", "error"),
        Severity::Warning => ("1;33", "warning"),
        Severity::Info => ("1;34", "info"),
        Severity::Unknown => ("1;35", "unknown"),
        Severity::Ok => ("1;32", "ok"),
    };
    match colour {
        true => format!("\x1b[{code}m{word:<7}\x1b[0m"),
        false => format!("{word:<7}"),
    }
}

fn use_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn print_live(l: &LiveReport) {
    let colour = use_colour();
    println!("{} (live)", l.url);
    if !l.tls_verified {
        println!("  TLS:   the certificate was NOT verified (--insecure)");
    }
    let chain = |hops: &[certctl::django::live::Hop]| {
        hops.iter()
            .map(|h| format!("{} {}", h.url, h.status))
            .collect::<Vec<_>>()
            .join(" -> ")
    };
    println!("  http:  {}", chain(&l.http_chain));
    println!("  https: {}", chain(&l.https_chain));
    println!(
        "  HSTS:  {}",
        if l.hsts.is_empty() {
            "none".to_owned()
        } else {
            l.hsts.join(" | ")
        }
    );
    for c in &l.cookies {
        println!(
            "  cookie {}: Secure {}, HttpOnly {}, SameSite {}",
            c.name,
            if c.secure { "yes" } else { "no" },
            if c.http_only { "yes" } else { "no" },
            c.same_site.as_deref().unwrap_or("(none)")
        );
    }
    if l.findings.is_empty() {
        println!("no live findings");
    }
    for lf in &l.findings {
        let f = &lf.finding;
        println!(
            "{} {:<13} {}",
            severity_word(f.severity, colour),
            f.id,
            f.message
        );
        match (lf.setting, &lf.set_at) {
            (Some(setting), Some(at)) => println!("{:22}setting: {setting}, set at {at}", ""),
            (Some(setting), None) => println!("{:22}setting: {setting}", ""),
            _ => {}
        }
        println!("{:22}fix: {}", "", f.fix);
    }
}

fn print_findings(project: &Path, module: &str, findings: &[Finding]) {
    let colour = use_colour();
    let paint = |severity: Severity| severity_word(severity, colour);
    println!("{} (settings {module})", project.display());
    if findings.is_empty() {
        println!("no findings");
        return;
    }
    for f in findings {
        let place = match (&f.file, f.line) {
            (Some(file), Some(line)) => {
                let shown = file.strip_prefix(project).unwrap_or(file);
                format!("set at {}:{line}", shown.display())
            }
            _ => "not set (Django's default)".to_owned(),
        };
        let common = &f.finding;
        println!(
            "{} {:<13} {}",
            paint(common.severity),
            common.id,
            common.message
        );
        println!("{:22}{}: {place}", "", f.setting);
        if !common.fix.is_empty() {
            println!("{:22}fix: {}", "", common.fix);
        }
    }
    let count = |s: Severity| findings.iter().filter(|f| f.finding.severity == s).count();
    println!(
        "{} errors, {} warnings, {} unknown, {} info",
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Unknown),
        count(Severity::Info)
    );
}

fn secret_key(args: SecretKeyArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    let key = secret::secret_key()?;
    match args.env_file {
        Some(path) => {
            secret::write_secret_env(&path, &key)?;
            if !ctx.quiet {
                eprintln!(
                    "wrote DJANGO_SECRET_KEY to {} (0600); read it with env(\"DJANGO_SECRET_KEY\")",
                    path.display()
                );
            }
        }
        None => println!("{key}"),
    }
    Ok(ExitCode::SUCCESS)
}
