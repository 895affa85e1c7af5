//! `certctl fleet init | status | import | export | sync | http01-snippet`: the shared PostgreSQL store of several nodes.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use certctl::Error;
use certctl::store::pg::status::FleetStatus;
use certctl::verify::rfc3339;

use super::Ctx;

#[derive(Debug, Args)]
pub struct FleetArgs {
    #[command(subcommand)]
    command: FleetCommand,
}

#[derive(Debug, Subcommand)]
enum FleetCommand {
    /// Create or upgrade the schema (idempotent) and create the fleet key, or check it
    Init,
    /// Per certificate and node: the serial each node has, since when, and who lags (exit 1)
    Status {
        /// Print JSON instead of a table
        #[arg(long, conflicts_with = "prometheus")]
        json: bool,
        /// Print Prometheus text (a textfile collector's file): per certificate and node,
        /// lagging, a failed deploy, when nginx was verified
        #[arg(long)]
        prometheus: bool,
    },
    /// Copy this node's state directory (--state-dir) into the store; what the store has stays
    Import,
    /// Write the store into a state directory (the inverse of import); what it has stays
    Export {
        /// The state directory to write (created when missing)
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
    },
    /// Bring this node's live/ to the store's live versions and record what it has
    Sync,
    /// The nginx location that answers HTTP-01 for the fleet's account on any node (TOKEN.THUMBPRINT)
    Http01Snippet {
        /// The ACME directory URL of the account
        #[arg(long, value_name = "URL")]
        server: String,
        /// Write it to this file (0644, replaced atomically) instead of stdout
        #[arg(long, value_name = "PATH")]
        out: Option<std::path::PathBuf>,
    },
}

/// `fleet init` makes the store it would otherwise open.
pub fn is_init(command: &super::Command) -> bool {
    matches!(
        command,
        super::Command::Fleet(FleetArgs {
            command: FleetCommand::Init
        })
    )
}

pub fn run(args: FleetArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    if let FleetCommand::Init = args.command {
        let url = ctx.store_url.as_deref().ok_or_else(needs_store)?;
        let report = certctl::store::pg::init(url, &ctx.fleet_key)?;
        if !ctx.quiet {
            match report.schema_from == report.schema_to {
                true => eprintln!("schema: version {}, up to date", report.schema_to),
                false => eprintln!(
                    "schema: version {} -> {}",
                    report.schema_from, report.schema_to
                ),
            }
            match report.key_created {
                true => eprintln!(
                    "fleet key: created {} (0600); copy it to every node",
                    ctx.fleet_key.display()
                ),
                false => eprintln!("fleet key: {} is this fleet's", ctx.fleet_key.display()),
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let store = ctx.pg.as_ref().ok_or_else(needs_store)?;
    match args.command {
        FleetCommand::Init => unreachable!("handled above"),
        FleetCommand::Status { json, prometheus } => {
            let status = store.status()?;
            match (json, prometheus) {
                (true, _) => println!(
                    "{}",
                    serde_json::to_string_pretty(&status).expect("status serializes")
                ),
                (_, true) => print!("{}", status.metrics()),
                _ => print_status(&status),
            }
            Ok(match status.lagging() {
                true => ExitCode::FAILURE,
                false => ExitCode::SUCCESS,
            })
        }
        FleetCommand::Import => {
            let report =
                certctl::ops::fleet::import(&ctx.local, store, &ctx.bar(false, "certificates"))?;
            if !ctx.quiet {
                for name in &report.copied {
                    println!("imported {name}");
                }
                for name in &report.present {
                    println!("already in the store: {name}");
                }
                for url in &report.accounts {
                    println!("imported the account for {url}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        FleetCommand::Export { out } => {
            let to = certctl::store::FsStore::new(&out);
            let report = certctl::ops::fleet::export(store, &to, &ctx.bar(false, "certificates"))?;
            if !ctx.quiet {
                for name in &report.copied {
                    println!("exported {name}");
                }
                for name in &report.present {
                    println!("already in {}: {name}", out.display());
                }
                for url in &report.accounts {
                    println!("exported the account for {url}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        FleetCommand::Http01Snippet { server, out } => {
            let snippet = certctl::ops::fleet::http01_snippet(store, &server)?;
            match out {
                Some(path) => certctl::fsio::write_atomic(&path, snippet.as_bytes(), 0o644)?,
                None => print!("{snippet}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        FleetCommand::Sync => {
            let changed = store.converge(&ctx.bar(false, "certificates"))?;
            if !ctx.quiet {
                for name in changed {
                    println!("{name}: now the store's live version");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn needs_store() -> Error {
    Error::Usage("fleet commands need --store postgres://… (or CERTCTL_STORE)".into())
}

fn print_status(status: &FleetStatus) {
    println!(
        "{:<30} {:<12} {:<8} {:<36} {:<20} LAG",
        "CERTIFICATE", "NODE", "VERSION", "SERIAL", "SINCE"
    );
    for cert in &status.certs {
        for node in &cert.nodes {
            println!(
                "{:<30} {:<12} {:<8} {:<36} {:<20} {}",
                cert.name,
                node.node,
                node.version.map_or("-".into(), |v| v.to_string()),
                node.serial.as_deref().unwrap_or("-"),
                node.since.map_or("-".into(), rfc3339),
                match node.lagging {
                    true => format!("lagging (live: {})", cert.live_version.unwrap_or(0)),
                    false => "ok".into(),
                }
            );
        }
    }
}
