//! `certctl django check` and `certctl django secret-key`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::Ctx;
use certctl::Error;
use certctl::django::checks::{Finding, Severity};
use certctl::ops::django::{self, CheckRequest};

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

fn check(args: CheckArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    let start = match args.project {
        Some(dir) => dir,
        None => std::env::current_dir()
            .map_err(|e| Error::Usage(format!("cannot read the current directory: {e}")))?,
    };
    let report = django::check(&CheckRequest {
        start,
        settings_module: args.settings,
        env_file: args.env_file,
        process_env: std::env::vars().collect(),
    })?;
    if args.json {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::Usage(format!("cannot write JSON: {e}")))?;
        println!("{json}");
    } else if !ctx.quiet {
        print_findings(&report.project, &report.settings_module, &report.findings);
    }
    let counted = report.findings.iter().any(|f| f.severity != Severity::Info);
    Ok(match args.strict && counted {
        true => ExitCode::from(1),
        false => ExitCode::SUCCESS,
    })
}

fn print_findings(project: &Path, module: &str, findings: &[Finding]) {
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let paint = |severity: Severity| {
        let (code, word) = match severity {
            Severity::Error => ("1;31", "error"),
            Severity::Warning => ("1;33", "warning"),
            Severity::Info => ("1;34", "info"),
            Severity::Unknown => ("1;35", "unknown"),
        };
        match colour {
            true => format!("\x1b[{code}m{word:<7}\x1b[0m"),
            false => format!("{word:<7}"),
        }
    };
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
        println!("{} {:<13} {}", paint(f.severity), f.id, f.message);
        println!("{:22}{}: {place}", "", f.setting);
        if !f.fix.is_empty() {
            println!("{:22}fix: {}", "", f.fix);
        }
    }
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    println!(
        "{} errors, {} warnings, {} unknown, {} info",
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Unknown),
        count(Severity::Info)
    );
}

fn secret_key(args: SecretKeyArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    let key = django::secret_key()?;
    match args.env_file {
        Some(path) => {
            django::write_secret_env(&path, &key)?;
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
