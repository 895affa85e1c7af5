//! `certctl nginx NAME` and the nginx options shared with `issue --nginx`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use certctl::Error;
use certctl::nginx::NginxSite;
use certctl::nginx::binary::Nginx;
use certctl::nginx::render::{self, Content, Hsts, NginxLayout};
use certctl::ops::nginx::{self as ops_nginx, NginxOutcome};
use certctl::settings::{Key, Settings};
use certctl::tls_policy::Profile;

use super::Ctx;

/// nginx options. Unset options come from the certificate's record, then the Debian defaults.
#[derive(Debug, Args, Default)]
pub struct NginxArgs {
    /// The TLS profile: each command names its own flag (`nginx --profile`, `issue --tls-profile`;
    /// `issue --profile` is the ACME profile).
    #[arg(skip)]
    pub profile: Option<Profile>,
    /// HSTS max-age in seconds (default 63072000, two years)
    #[arg(long, value_name = "SECONDS")]
    hsts: Option<u64>,
    /// Send no HSTS header at all
    #[arg(long, conflicts_with_all = ["hsts", "hsts_subdomains", "hsts_preload"])]
    no_hsts: bool,
    /// Add includeSubDomains to HSTS
    #[arg(long)]
    hsts_subdomains: bool,
    /// Add preload to HSTS (needs --hsts-subdomains and at least a year)
    #[arg(long)]
    hsts_preload: bool,
    /// Serve static files from DIR
    #[arg(long, value_name = "DIR", conflicts_with = "proxy_pass")]
    root: Option<PathBuf>,
    /// Proxy everything to URL (with Host, X-Forwarded-Proto and X-Forwarded-For)
    #[arg(long, value_name = "URL")]
    proxy_pass: Option<String>,
    /// HTTPS port (default 443)
    #[arg(long, value_name = "N")]
    https_port: Option<u16>,
    /// Where certctl's servers listen on an nginx that listens on neither port yet (repeatable;
    /// default: all IPv4 and IPv6 addresses); otherwise they listen as the servers there do
    #[arg(long, value_name = "ADDR")]
    listen: Vec<String>,
    #[command(flatten)]
    pub layout: NginxLayoutArgs,
    /// When a TLS server of yours already serves a name (a snakeoil or certbot certificate),
    /// point it at certctl's certificate with certctl's TLS settings and HSTS
    #[arg(long)]
    take_over: bool,
}

/// Which nginx, and where certctl's files go: `issue --nginx`, `certctl nginx` and `import
/// certbot`.
#[derive(Debug, Args, Default)]
pub struct NginxLayoutArgs {
    #[command(flatten)]
    pub binary: NginxBinArgs,
    /// Where site files go (default /etc/nginx/sites-available)
    #[arg(long, value_name = "DIR")]
    #[allow(dead_code)] // read through ctx.settings
    nginx_sites: Option<PathBuf>,
    /// Where enabling symlinks go (default /etc/nginx/sites-enabled)
    #[arg(long, value_name = "DIR")]
    #[allow(dead_code)] // read through ctx.settings
    nginx_enabled: Option<PathBuf>,
    /// Where certctl's snippets go (default /etc/nginx/snippets/certctl)
    #[arg(long, value_name = "DIR")]
    #[allow(dead_code)] // read through ctx.settings
    nginx_snippets: Option<PathBuf>,
    /// Web root for ACME challenges (default /var/www/certctl-acme)
    #[arg(long, value_name = "DIR")]
    #[allow(dead_code)] // read through ctx.settings
    acme_webroot: Option<PathBuf>,
}

impl NginxLayoutArgs {
    /// Flags and environment over the remembered layout over the config file over the Debian
    /// defaults (the flags arrive through `settings`).
    pub fn resolve(&self, old: Option<&NginxLayout>, settings: &Settings) -> NginxLayout {
        // Every one of these has a built-in default in settings, so each is Some.
        let path = |key, old: Option<PathBuf>| {
            settings
                .over_remembered(key, old, |v: &str| PathBuf::from(v))
                .unwrap_or_default()
        };
        NginxLayout {
            snippets_dir: path(Key::SnippetsDir, old.map(|l| l.snippets_dir.clone())),
            sites_dir: path(Key::SitesDir, old.map(|l| l.sites_dir.clone())),
            enabled_dir: Some(path(
                Key::EnabledDir,
                old.and_then(|l| l.enabled_dir.clone()),
            )),
            acme_webroot: path(Key::AcmeWebroot, old.map(|l| l.acme_webroot.clone())),
        }
    }
}

/// Which nginx, and how it is reloaded: `issue --nginx`, `certctl nginx` and `import certbot`.
#[derive(Debug, Args, Default)]
pub struct NginxBinArgs {
    /// The nginx binary (default: nginx in $PATH or sbin)
    #[arg(long, value_name = "PATH")]
    #[allow(dead_code)] // read through ctx.settings
    nginx_bin: Option<PathBuf>,
    /// nginx -p PREFIX (for a private instance)
    #[arg(long, value_name = "DIR")]
    #[allow(dead_code)] // read through ctx.settings
    nginx_prefix: Option<PathBuf>,
    /// nginx -c CONF
    #[arg(long, value_name = "FILE")]
    #[allow(dead_code)] // read through ctx.settings
    nginx_conf: Option<PathBuf>,
    /// Shell command that reloads nginx (default: nginx -s reload)
    #[arg(long, value_name = "CMD")]
    #[allow(dead_code)] // read through ctx.settings
    reload_cmd: Option<String>,
}

impl NginxBinArgs {
    /// Flags and environment over the remembered nginx over the config file over a bare
    /// `nginx` looked up in $PATH and sbin (the flags arrive through `settings`).
    pub fn resolve(&self, old: Option<&Nginx>, settings: &Settings) -> Nginx {
        let path = |key, old: Option<PathBuf>| {
            settings.over_remembered(key, old, |v: &str| PathBuf::from(v))
        };
        Nginx {
            bin: path(Key::NginxBin, old.map(|n| n.bin.clone()))
                .map(|bin| certctl::nginx::binary::resolve(&bin))
                .unwrap_or_else(|| certctl::nginx::binary::resolve(std::path::Path::new("nginx"))),
            prefix: path(Key::NginxPrefix, old.and_then(|n| n.prefix.clone())),
            conf: path(Key::NginxConf, old.and_then(|n| n.conf.clone())),
            reload_cmd: settings.over_remembered(
                Key::ReloadCmd,
                old.and_then(|n| n.reload_cmd.clone()),
                str::to_owned,
            ),
        }
    }
}

pub fn parse_profile(s: &str) -> Result<Profile, String> {
    s.parse()
}

impl NginxArgs {
    /// Flags over the remembered site over the config file over defaults; checked before
    /// anything is written.
    pub fn resolve(
        &self,
        remembered: Option<&NginxSite>,
        settings: &Settings,
    ) -> Result<NginxSite, Error> {
        let content = match (&self.root, &self.proxy_pass, remembered) {
            (Some(dir), _, _) => {
                Content::Root(std::path::absolute(dir).unwrap_or_else(|_| dir.clone()))
            }
            (None, Some(url), _) => Content::ProxyPass(url.clone()),
            (None, None, Some(r)) => r.content.clone(),
            (None, None, None) => Content::Site,
        };
        let hsts = if self.no_hsts {
            None
        } else if self.hsts.is_some()
            || self.hsts_subdomains
            || self.hsts_preload
            || remembered.is_none()
        {
            Some(Hsts {
                max_age: self.hsts.unwrap_or(Hsts::TWO_YEARS.max_age),
                include_subdomains: self.hsts_subdomains,
                preload: self.hsts_preload,
            })
        } else {
            remembered.and_then(|r| r.hsts)
        };
        let old = remembered;
        let nginx = self.layout.binary.resolve(old.map(|r| &r.nginx), settings);
        let layout = self.layout.resolve(old.map(|r| &r.layout), settings);
        let site = NginxSite {
            nginx,
            layout,
            profile: self.profile.or(old.map(|r| r.profile)).unwrap_or_default(),
            hsts,
            content,
            https_port: self.https_port.or(old.map(|r| r.https_port)).unwrap_or(443),
            listen: if self.listen.is_empty() {
                old.map(|r| r.listen.clone()).unwrap_or_default()
            } else {
                self.listen.clone()
            },
            take_over: self.take_over,
            fleet_thumbprint: None,
        };
        render::check_site(&site)?;
        Ok(site)
    }
}

#[derive(Debug, Args)]
pub struct NginxCmdArgs {
    /// The certificate name (see `certctl list`)
    name: String,
    /// Port of the HTTP redirect server (default 80)
    #[arg(long, default_value_t = 80, value_name = "N")]
    http_port: u16,
    /// Print the unified diff of every file that would change, and write nothing
    #[arg(long)]
    dry_run: bool,
    /// Put every file certctl created or changed for NAME back as it was before certctl first
    /// touched it, then nginx -t and reload (the certificate stays in the store)
    #[arg(long)]
    revert: bool,
    /// With --revert: put files back even if they were edited after certctl changed them
    #[arg(long, requires = "revert")]
    force: bool,
    /// TLS profile: intermediate (default) or modern
    #[arg(long, value_parser = parse_profile)]
    profile: Option<Profile>,
    #[command(flatten)]
    nginx: NginxArgs,
}

pub fn run(mut args: NginxCmdArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    args.nginx.profile = args.profile;
    certctl::store::layout::check_cert_name(&args.name)?;
    let record = ctx.store.load_record(&args.name)?.ok_or_else(|| {
        Error::Usage(format!(
            "no certificate named {:?}; run `certctl issue` first",
            args.name
        ))
    })?;
    let backup_root = ops_nginx::backup_root(ctx.local.layout().root());
    if args.revert {
        let mut site = args.nginx.resolve(record.nginx.as_ref(), &ctx.settings)?;
        if record.nginx.is_none() {
            // Files an import repointed: the nginx it found then.
            site.nginx = args
                .nginx
                .layout
                .binary
                .resolve(record.reload_nginx.as_ref(), &ctx.settings);
        }
        let outcome = ops_nginx::revert(
            &*ctx.store,
            &args.name,
            &site,
            &backup_root,
            args.force,
            args.dry_run,
        )?;
        if outcome.diff.is_none() && !ctx.quiet {
            for path in &outcome.applied.changed {
                println!("nginx: restored {}", path.display());
            }
            println!(
                "nginx: configuration tested and reloaded; the certificate stays in the store"
            );
        } else {
            print_outcome(&outcome, ctx);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let site = args.nginx.resolve(record.nginx.as_ref(), &ctx.settings)?;
    let site = for_fleet(site, ctx, &record.server)?;
    let outcome = ops_nginx::configure_site(
        &*ctx.store,
        &args.name,
        &site,
        args.http_port,
        args.dry_run,
        &backup_root,
        certctl::nginx::apply::Reload::IfChanged,
        true,
    )?;
    print_outcome(&outcome, ctx);
    Ok(ExitCode::SUCCESS)
}

/// On a fleet node, the site's ACME location answers any token of the fleet's account for
/// `directory_url` (when the store holds one yet), so the CA may reach any node.
pub fn for_fleet(mut site: NginxSite, ctx: &Ctx, directory_url: &str) -> Result<NginxSite, Error> {
    if ctx.pg.is_some() {
        site.fleet_thumbprint =
            certctl::ops::fleet::account_thumbprint(&*ctx.store, directory_url)?;
    }
    Ok(site)
}

/// Shows the diff (dry run), what changed, and the notes.
pub fn print_outcome(outcome: &NginxOutcome, ctx: &Ctx) {
    if let Some(diff) = &outcome.diff {
        if diff.is_empty() {
            println!("nothing to change");
        } else {
            print!("{diff}");
        }
    } else if !ctx.quiet {
        if outcome.applied.changed.is_empty() && outcome.applied.reloaded {
            println!("nginx: configuration unchanged; tested and reloaded for the new certificate");
        } else if outcome.applied.changed.is_empty() {
            println!("nginx: nothing to change");
        } else {
            for path in &outcome.applied.changed {
                println!("nginx: wrote {}", path.display());
            }
            if let Some(dir) = outcome.applied.backup_dir.as_ref().filter(|d| d.exists()) {
                println!("nginx: previous versions in {}", dir.display());
            }
            println!("nginx: configuration tested and reloaded");
        }
    }
    for note in &outcome.notes {
        eprintln!("certctl: note: {note}");
    }
}
