//! `certctl revoke NAME --reason R`.

use std::process::ExitCode;

use clap::Args;

use super::Ctx;
use certctl::Error;
use certctl::ops::revoke::{self, Reason};

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The certificate to revoke
    #[arg(value_name = "NAME")]
    name: String,
    /// RFC 5280 reason: unspecified, keyCompromise, superseded, cessationOfOperation,
    /// affiliationChanged, …
    #[arg(long, default_value = "unspecified", value_parser = |s: &str| s.parse::<Reason>())]
    reason: Reason,
}

pub fn run(args: RevokeArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    certctl::store::layout::check_cert_name(&args.name)?;
    let revoked = ctx.block_on(async {
        tokio::select! {
            result = revoke::revoke(&*ctx.store, &args.name, args.reason) => result,
            _ = super::interrupted() => Err(Error::Interrupted),
        }
    })??;
    if !ctx.quiet {
        println!(
            "revoked {} (serial {}, {}); certctl no longer renews it: `certctl issue` makes a new one{}",
            args.name,
            revoked.serial,
            revoked.reason,
            if args.reason.is_key_compromise() {
                " with a new key"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
