//! `certctl csr`: key + CSR for a commercial CA.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use certctl::Error;
use certctl::keys::KeyType;
use certctl::names;

use super::Ctx;

#[derive(Debug, Args)]
pub struct CsrArgs {
    /// The primary name (also the file name stem)
    domain: String,
    /// More names (repeatable)
    #[arg(short = 'd', long = "domain", value_name = "NAME")]
    more: Vec<String>,
    /// Key type: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096
    #[arg(long, value_parser = |s: &str| s.parse::<KeyType>().map_err(|e| e.to_string()))]
    #[allow(dead_code)] // read through ctx.settings
    key_type: Option<KeyType>,
    /// Directory for NAME.key (0600) and NAME.csr
    #[arg(long, value_name = "DIR", default_value = ".")]
    out_dir: PathBuf,
}

pub fn run(args: CsrArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    let ids = names::parse_identifiers(
        std::iter::once(args.domain.as_str()).chain(args.more.iter().map(String::as_str)),
    )?;
    let name = ids[0].as_string();
    certctl::store::layout::check_cert_name(&name)?;
    let files = certctl::ops::csr::write_csr(&name, &ids, ctx.settings.key_type(), &args.out_dir)?;
    if !ctx.quiet {
        println!(
            "key: {} (0600)\ncsr: {}",
            files.key.display(),
            files.csr.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
