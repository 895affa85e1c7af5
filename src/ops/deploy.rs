//! What `issue` and `renew` share when a certificate goes live: the deploy hook, run with the
//! certificate's name and live paths.

use std::ffi::OsString;

use crate::hooks::{self, HookError};
use crate::store::LivePaths;

/// The variables a deploy hook gets: the certificate's name, names and live paths (the RSA
/// pair's too, for `--dual`).
pub fn deploy_env(
    name: &str,
    domains: &[String],
    paths: &LivePaths,
    rsa: Option<&LivePaths>,
) -> Vec<(&'static str, OsString)> {
    let mut env = vec![
        ("CERTCTL_NAME", name.into()),
        ("CERTCTL_DOMAINS", domains.join(" ").into()),
        ("CERTCTL_CERT", paths.cert.clone().into()),
        ("CERTCTL_CHAIN", paths.chain.clone().into()),
        ("CERTCTL_FULLCHAIN", paths.fullchain.clone().into()),
        ("CERTCTL_PRIVKEY", paths.privkey.clone().into()),
    ];
    if let Some(rsa) = rsa {
        env.push(("CERTCTL_RSA_FULLCHAIN", rsa.fullchain.clone().into()));
        env.push(("CERTCTL_RSA_PRIVKEY", rsa.privkey.clone().into()));
    }
    env
}

/// Runs one deploy hook for a certificate that is live.
pub fn run_deploy_hook(
    hook: &str,
    name: &str,
    domains: &[String],
    paths: &LivePaths,
    rsa: Option<&LivePaths>,
    stdin: hooks::Stdin<'_>,
) -> Result<(), HookError> {
    hooks::run(hook, &deploy_env(name, domains, paths, rsa), stdin)
}
