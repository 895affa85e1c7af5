//! `certctl verify`: exit 0 ok, 1 warning (expiring soon), 2 critical (expired, untrusted, broken
//! chain, wrong key or names). For monitoring systems.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::Ctx;
use certctl::Error;
use certctl::finding::Severity;
use certctl::ops::verify::{self, Target, VerifyRequest};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A certificate certctl manages (or use --cert)
    #[arg(
        value_name = "NAME",
        required_unless_present = "cert",
        conflicts_with = "cert"
    )]
    name: Option<String>,
    /// Certificate file (PEM; may include the chain)
    #[arg(long, value_name = "PEM")]
    cert: Option<PathBuf>,
    /// Intermediates file (PEM)
    #[arg(long, value_name = "PEM", requires = "cert")]
    chain: Option<PathBuf>,
    /// Private key file (PEM), checked against the certificate
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<PathBuf>,
    /// Also trust these roots
    #[arg(long, value_name = "PEM")]
    ca_bundle: Option<PathBuf>,
    /// The certificate must be valid for this host name
    #[arg(long, value_name = "HOST")]
    host: Option<String>,
    /// Warn (exit 1) when fewer than N days remain. Without it: when less than a quarter of the
    /// certificate's lifetime remains, or the CA's ARI window has passed
    #[arg(long, value_name = "N")]
    warn_days: Option<u32>,
    /// Machine-readable report
    #[arg(long)]
    json: bool,
}

pub fn run(args: VerifyArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    let target = match (args.name, args.cert) {
        (Some(name), _) => {
            certctl::store::layout::check_cert_name(&name)?;
            Target::Name(name)
        }
        (None, Some(cert)) => Target::Files {
            cert,
            chain: args.chain,
            key: args.key,
        },
        (None, None) => return Err(Error::Usage("give a certificate NAME or --cert".into())),
    };
    if let Some(bundle) = &args.ca_bundle {
        certctl::trust::load_bundle(bundle)?;
    }
    let req = VerifyRequest {
        target,
        ca_bundle: args.ca_bundle,
        hostname: args.host,
        warn_days: args.warn_days,
    };
    let outcome = verify::verify(&*ctx.store, &req, certctl::clock::unix_now())?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&outcome).expect("outcome serializes")
        );
    } else if !ctx.quiet || outcome.status != Severity::Ok {
        for f in &outcome.findings {
            let mark = match f.severity() {
                Severity::Ok | Severity::Info => "ok      ",
                Severity::Unknown | Severity::Warning => "WARNING ",
                Severity::Error => "CRITICAL",
            };
            println!("{mark} {:<13} {}", f.check, f.detail());
        }
    }
    // Monitoring's convention (Nagios): 0 ok, 1 warning, 2 critical.
    Ok(ExitCode::from(match outcome.status {
        Severity::Ok | Severity::Info => 0,
        Severity::Unknown | Severity::Warning => 1,
        Severity::Error => 2,
    }))
}
