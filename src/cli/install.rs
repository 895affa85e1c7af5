//! `certctl install-cert`: bring your own certificate.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use certctl::Error;
use certctl::ops::install::{self, InstallRequest};

use super::Ctx;

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Certificate name (the live/NAME directory)
    name: String,
    /// The certificate (PEM; may already include the chain)
    #[arg(long, value_name = "PEM")]
    cert: PathBuf,
    /// The intermediates (PEM), if in a separate file
    #[arg(long, value_name = "PEM")]
    chain: Option<PathBuf>,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1)
    #[arg(long, value_name = "PEM")]
    key: PathBuf,
}

pub fn run(args: InstallArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    certctl::store::layout::check_cert_name(&args.name)?;
    let now = certctl::clock::unix_now();
    let req = InstallRequest {
        name: args.name,
        cert: args.cert,
        chain: args.chain,
        key: args.key,
    };
    let installed = install::install_cert(&*ctx.store, &req, now)?;
    if !ctx.quiet {
        println!(
            "Installed {} ({}), valid until {}, issuer {}",
            req.name,
            installed.cert.names.join(", "),
            certctl::verify::rfc3339(installed.cert.not_after),
            installed.cert.issuer
        );
        println!("  fullchain: {}", installed.paths.fullchain.display());
        println!("  privkey:   {}", installed.paths.privkey.display());
    }
    Ok(ExitCode::SUCCESS)
}
