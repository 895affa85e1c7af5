//! `certctl dhparam`: write RFC 7919 parameters (instant) or generate new ones.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use certctl::Error;
use certctl::dhparam;

use super::Ctx;

#[derive(Debug, Args)]
pub struct DhparamArgs {
    /// Where to write the PEM (for nginx's ssl_dhparam)
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Prime size in bits (2048 or 3072 for the shipped groups)
    #[arg(long, default_value_t = 2048)]
    bits: u32,
    /// Generate a fresh group with OpenSSL instead of the RFC 7919 one (slow, gains nothing)
    #[arg(long)]
    generate: bool,
}

pub fn run(args: DhparamArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    let pem = if args.generate {
        let _spinner = ctx.spinner(
            false,
            &format!(
                "generating a {}-bit Diffie-Hellman group (minutes)",
                args.bits
            ),
        );
        dhparam::generate(args.bits)?
    } else {
        dhparam::rfc7919(args.bits)?.to_owned()
    };
    dhparam::write(&args.out, &pem)?;
    if !ctx.quiet {
        let what = if args.generate {
            "freshly generated"
        } else {
            "RFC 7919 ffdhe"
        };
        println!("wrote {} ({what}, {} bits)", args.out.display(), args.bits);
    }
    Ok(ExitCode::SUCCESS)
}
