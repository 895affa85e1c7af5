//! `certctl issue`: arguments, checks that need no network, then [`certctl::ops::issue`].

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use certctl::Error;
use certctl::acme::{account, directory};
use certctl::config::Responder;
use certctl::keys::KeyType;
use certctl::names;
use certctl::ops::issue::{self, IssueRequest};
use certctl::settings::{Key, Settings, Source};
use certctl::store::layout::check_cert_name;

use super::Ctx;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("responder").required(true).args(["webroot", "standalone", "nginx"])))]
pub struct IssueArgs {
    /// The primary domain name (or IP address)
    domain: String,
    /// More names for the same certificate (repeatable)
    #[arg(short = 'd', long = "domain", value_name = "NAME")]
    more: Vec<String>,
    /// Certificate name: the live/NAME directory (default: the primary domain)
    #[arg(long)]
    name: Option<String>,
    /// Answer challenges by writing files under DIR/.well-known/acme-challenge/
    #[arg(long, value_name = "DIR")]
    webroot: Option<PathBuf>,
    /// Answer challenges with a built-in HTTP server for the duration of the order
    #[arg(long)]
    standalone: bool,
    /// Port of the standalone server, or of the web server that serves --webroot
    #[arg(long, default_value_t = 80, value_name = "N")]
    http_port: u16,
    /// Key type: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096
    #[arg(long, value_parser = parse_key_type)]
    #[allow(dead_code)] // read through ctx.settings, the flag layer of settings::resolve
    key_type: Option<KeyType>,
    /// Keep the current private key instead of making a new one
    #[arg(long)]
    reuse_key: bool,
    /// ACME profile, when the CA offers them (Let's Encrypt: classic, tlsserver, shortlived);
    /// remembered for renewals
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Pick the CA's alternate chain that leads to this issuer (Common Name), when it offers one
    #[arg(long, value_name = "ISSUER_CN")]
    preferred_chain: Option<String>,
    /// With --nginx: the TLS profile, intermediate (default) or modern
    #[arg(long, value_parser = super::nginx::parse_profile, requires = "nginx")]
    tls_profile: Option<certctl::tls_policy::Profile>,
    /// Two keys for one name: ECDSA P-256 plus RSA 2048, issued, renewed and served as a pair
    #[arg(long)]
    dual: bool,
    #[command(flatten)]
    ca: CaArgs,
    /// Contact address for the ACME account
    #[arg(long)]
    #[allow(dead_code)] // read through ctx.settings
    email: Option<String>,
    /// Agree to the CA's terms of service (needed to create an account)
    #[arg(long)]
    agree_tos: bool,
    /// Do not fetch the tokens locally before asking the CA to validate
    #[arg(long)]
    no_self_check: bool,
    /// Shell command to run after the certificate goes live (CERTCTL_* variables set)
    #[arg(long, value_name = "CMD")]
    deploy_hook: Option<String>,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
    /// One shot through nginx: serve challenges from nginx, issue, write the TLS site, reload
    #[arg(long)]
    nginx: bool,
    /// With --nginx: print the unified diff of every nginx file the issue would touch, and
    /// neither issue nor write anything
    #[arg(long, requires = "nginx")]
    dry_run: bool,
    #[command(flatten)]
    nginx_options: super::nginx::NginxArgs,
}

fn parse_key_type(s: &str) -> Result<KeyType, String> {
    s.parse()
        .map_err(|e: certctl::keys::KeyError| e.to_string())
}

impl IssueArgs {
    /// Every check that needs neither the network nor a write.
    fn request(&self, settings: &Settings) -> Result<IssueRequest, Error> {
        let ca_bundle_setting = settings.path(Key::CaBundle);
        let identifiers = names::parse_identifiers(
            std::iter::once(self.domain.as_str()).chain(self.more.iter().map(String::as_str)),
        )?;
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| identifiers[0].as_string());
        check_cert_name(&name)?;
        for (flag, path) in [
            ("--webroot", &self.webroot),
            ("--ca-bundle", &ca_bundle_setting),
        ] {
            if let Some(path) = path
                && path.to_str().is_none()
            {
                return Err(Error::Usage(format!(
                    "{flag} {} is not valid UTF-8; it has to be stored in the renewal record",
                    path.display()
                )));
            }
        }
        let nginx = None;
        let responder = match &self.webroot {
            Some(dir) => {
                if !dir.is_dir() {
                    return Err(Error::Usage(format!(
                        "--webroot {} is not a directory",
                        dir.display()
                    )));
                }
                Responder::Webroot {
                    path: std::path::absolute(dir).unwrap_or_else(|_| dir.clone()),
                }
            }
            None => Responder::Standalone,
        };
        if self.http_port == 0 {
            return Err(Error::Usage(
                "--http-port must be between 1 and 65535".into(),
            ));
        }
        let directory_url = self.ca.directory_url(settings)?;
        let email = settings.value(Key::Email).map(str::to_owned);
        if let Some(email) = &email {
            account::check_email(email).map_err(Error::Usage)?;
        }
        let ca_bundle = CaArgs::ca_bundle(settings)?;
        Ok(IssueRequest {
            name,
            identifiers,
            key_type: settings.explicit(Key::KeyType).and_then(|k| k.parse().ok()),
            default_key_type: settings.key_type(),
            reuse_key: self.reuse_key,
            dual: self.dual,
            profile: self.profile.clone(),
            preferred_chain: self.preferred_chain.clone(),
            directory_url,
            ca_bundle,
            email,
            agree_tos: self.agree_tos,
            responder,
            http_port: self.http_port,
            self_check: !self.no_self_check,
            deploy_hook: self.deploy_hook.clone(),
            nginx,
        })
    }
}

/// Which CA: `issue` and `doctor`.
#[derive(Debug, Args)]
pub struct CaArgs {
    /// ACME directory URL
    #[arg(long, value_name = "URL", conflicts_with = "staging")]
    #[allow(dead_code)] // read through ctx.settings
    server: Option<String>,
    /// Use Let's Encrypt's staging CA (untrusted certificates, for trials)
    #[arg(long)]
    staging: bool,
    /// Also trust the roots in this PEM file for the CA's HTTPS API
    #[arg(long, value_name = "PEM")]
    #[allow(dead_code)] // read through ctx.settings
    ca_bundle: Option<PathBuf>,
}

impl CaArgs {
    /// The ACME directory from --server (through settings) and --staging: --staging beats a
    /// server from the environment or the file; with --server it is refused.
    pub fn directory_url(&self, settings: &Settings) -> Result<String, Error> {
        let server = match settings.get(Key::Server).source {
            Source::Flag => settings.value(Key::Server),
            Source::Env | Source::File if !self.staging => settings.value(Key::Server),
            _ => None,
        };
        directory::directory_url(server, self.staging).map_err(Error::Usage)
    }

    /// The --ca-bundle setting, loaded once to refuse a bad file early, as an absolute path.
    pub fn ca_bundle(settings: &Settings) -> Result<Option<PathBuf>, Error> {
        match settings.path(Key::CaBundle) {
            Some(path) => {
                certctl::trust::load_bundle(&path)?;
                Ok(Some(std::path::absolute(&path).unwrap_or(path)))
            }
            None => Ok(None),
        }
    }
}

pub fn run(args: IssueArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    let mut req = args.request(&ctx.settings)?;
    let remembered = ctx.store.load_record(&req.name)?.and_then(|r| r.nginx);
    let backup_root = certctl::ops::nginx::backup_root(ctx.local.layout().root());
    if args.nginx {
        let mut options = args.nginx_options;
        options.profile = args.tls_profile;
        let site = options.resolve(remembered.as_ref(), &ctx.settings)?;
        let site = super::nginx::for_fleet(site, ctx, &req.directory_url)?;
        if args.dry_run {
            let preview = certctl::ops::nginx::preview(
                &*ctx.store,
                &req.name,
                &site,
                &req.identifiers,
                req.http_port,
                &backup_root,
            )?;
            let outcome = certctl::ops::nginx::NginxOutcome {
                diff: Some(preview.diff),
                notes: preview.notes,
                ..Default::default()
            };
            super::nginx::print_outcome(&outcome, ctx);
            return Ok(ExitCode::SUCCESS);
        }
        req.responder = Responder::Webroot {
            path: site.layout.acme_webroot.clone(),
        };
        req.nginx = Some(issue::IssueNginx { site, backup_root });
    } else if let Some(site) = remembered {
        // The site certctl wrote for this certificate keeps being served, with the new one.
        let site = super::nginx::for_fleet(site, ctx, &req.directory_url)?;
        req.nginx = Some(issue::IssueNginx { site, backup_root });
    }
    if !req.agree_tos && issue::needs_account(&*ctx.store, &req.directory_url)? {
        req.agree_tos = ctx.stdin_tty && ask_terms(&req.directory_url);
        if !req.agree_tos {
            return Err(Error::Usage(format!(
                "no account exists yet for {}; creating one needs your agreement to the CA's terms of service: pass --agree-tos",
                req.directory_url
            )));
        }
    }
    let progress = ctx.progress();
    let outcome = ctx.block_on(async {
        tokio::select! {
            result = issue::issue(&*ctx.store, &req, &progress) => result,
            _ = super::interrupted() => Err(Error::Interrupted),
        }
    })??;

    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&outcome).expect("outcome serializes")
        );
    } else if !ctx.quiet {
        if let Some(n) = &outcome.nginx {
            super::nginx::print_outcome(n, ctx);
        }
        let days = (outcome.cert.not_after - certctl::clock::unix_now()).div_euclid(86_400);
        println!(
            "Certificate {} {} ({}), valid until {} ({days} days), issuer {}",
            outcome.name,
            match outcome.issued_by_another_run {
                true => "issued by another run while this one waited, nothing ordered",
                false => "issued",
            },
            outcome.key_type,
            certctl::verify::rfc3339(outcome.cert.not_after),
            outcome.cert.issuer
        );
        println!("  names:     {}", outcome.cert.names.join(", "));
        println!("  fullchain: {}", outcome.paths.fullchain.display());
        println!("  privkey:   {}", outcome.paths.privkey.display());
        if let Some(rsa) = &outcome.rsa {
            println!("  rsa-2048:  {}", rsa.paths.fullchain.display());
            println!("             {}", rsa.paths.privkey.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn ask_terms(directory_url: &str) -> bool {
    eprint!("Do you agree to the terms of service of the CA at {directory_url}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes" | "Yes")
}
