//! `certctl doctor NAME…`: before an issue, what would fail and how to fix it; `--json`; exit 0
//! nothing wrong, 1 warnings, 2 an issue would fail.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use certctl::Error;
use certctl::finding::{Finding, Severity};
use certctl::names;
use certctl::ops::doctor::{self, DoctorReport, DoctorRequest, ProbeResponder};
use certctl::store::layout::check_cert_name;

use super::Ctx;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("responder").args(["webroot", "standalone", "nginx"])))]
pub struct DoctorArgs {
    /// The names the certificate would have (the first is the primary)
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
    /// Certificate name: the live/NAME directory (default: the first name)
    #[arg(long)]
    name: Option<String>,
    /// Use ADDR for NAME instead of DNS (repeatable; split-horizon DNS, tests)
    #[arg(long, value_name = "NAME:ADDR", value_parser = parse_resolve)]
    resolve: Vec<(String, IpAddr)>,
    /// Ask this DNS server (ADDR or ADDR:PORT) instead of the system's resolvers
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_dns_server)]
    dns_server: Option<SocketAddr>,
    /// Each DNS query and each probe fetch ends within this many milliseconds
    #[arg(long, default_value_t = 3000, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=60_000))]
    timeout_ms: u64,
    /// The domain the CA recognizes in CAA records (repeatable; default: the CA directory's
    /// caaIdentities, letsencrypt.org for Let's Encrypt)
    #[arg(long, value_name = "DOMAIN")]
    caa_identity: Vec<String>,
    /// Serve the probe token from DIR/.well-known/acme-challenge/ (as issue --webroot)
    #[arg(long, value_name = "DIR")]
    webroot: Option<PathBuf>,
    /// Serve the probe token from certctl's own listener on --http-port (the default)
    #[arg(long)]
    standalone: bool,
    /// Check nginx as issue --nginx would use it: its servers for the names, the plan, and the
    /// probe through its ACME web root
    #[arg(long)]
    nginx: bool,
    /// The port the CA connects to
    #[arg(long, default_value_t = 80, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    http_port: u16,
    #[command(flatten)]
    ca: super::issue::CaArgs,
    /// Machine-readable: {"names": [...], "findings", "exit_code", …}
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    nginx_options: super::nginx::NginxArgs,
}

fn parse_resolve(s: &str) -> Result<(String, IpAddr), String> {
    let (name, addr) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not NAME:ADDR"))?;
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let ip = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IP address"))?;
    let id = names::parse_identifier(name).map_err(|e| e.to_string())?;
    Ok((id.as_string(), ip))
}

fn parse_dns_server(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| format!("{s:?} is not an IP address with an optional :PORT"))
}

pub fn run(args: DoctorArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    let identifiers = names::parse_identifiers(args.names.iter().map(String::as_str))?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| identifiers[0].as_string());
    check_cert_name(&name)?;
    for caa in &args.caa_identity {
        if !matches!(names::parse_identifier(caa), Ok(names::Identifier::Dns(_))) {
            return Err(Error::Usage(format!(
                "--caa-identity {caa:?} is not a domain name"
            )));
        }
    }
    let nginx = if args.nginx {
        let remembered = ctx.store.load_record(&name)?.and_then(|r| r.nginx);
        let site = args
            .nginx_options
            .resolve(remembered.as_ref(), &ctx.settings)?;
        let backups = certctl::ops::nginx::backup_root(ctx.local.layout().root());
        Some((site, backups))
    } else {
        None
    };
    let responder = match (&args.webroot, &nginx) {
        (Some(dir), _) if !dir.is_dir() => {
            return Err(Error::Usage(format!(
                "--webroot {} is not a directory",
                dir.display()
            )));
        }
        (Some(dir), _) => ProbeResponder::Webroot(dir.clone()),
        (None, Some((site, _))) => ProbeResponder::Webroot(site.layout.acme_webroot.clone()),
        (None, None) => ProbeResponder::Standalone,
    };
    let req = DoctorRequest {
        name,
        identifiers,
        resolve: args.resolve.clone(),
        dns_server: args.dns_server,
        timeout: Duration::from_millis(args.timeout_ms),
        directory_url: args.ca.directory_url(&ctx.settings)?,
        ca_bundle: super::issue::CaArgs::ca_bundle(&ctx.settings)?,
        caa_identities: args
            .caa_identity
            .iter()
            .map(|c| c.to_ascii_lowercase())
            .collect(),
        responder,
        http_port: args.http_port,
        nginx,
    };
    let now = certctl::clock::unix_now();
    let report = ctx.block_on(async {
        tokio::select! {
            result = doctor::doctor(&*ctx.store, &req, now) => result,
            _ = super::interrupted() => Err(Error::Interrupted),
        }
    })??;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("the report serializes")
        );
    } else {
        print(&report, ctx.quiet);
    }
    Ok(ExitCode::from(report.exit_code))
}

fn print_findings(findings: &[Finding], quiet: bool) {
    for f in findings
        .iter()
        .filter(|f| !quiet || f.severity > Severity::Info)
    {
        println!("  {:<7} {:<26} {}", f.severity.as_str(), f.id, f.message);
        if !f.fix.is_empty() {
            println!("          fix: {}", f.fix);
        }
    }
}

fn print(report: &DoctorReport, quiet: bool) {
    println!("CA {}", report.directory_url);
    print_findings(&report.findings, quiet);
    for n in &report.names {
        println!("{}", n.name);
        print_findings(&n.findings, quiet);
    }
    println!(
        "{}",
        match report.exit_code {
            0 => "nothing in the way of an issue",
            1 => "warnings (above); an issue may still work",
            _ => "an issue would fail: fix the errors above first",
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_and_dns_server_take_what_people_write() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            parse_resolve("Example.COM:203.0.113.7").unwrap(),
            ("example.com".to_owned(), ip("203.0.113.7"))
        );
        assert_eq!(
            parse_resolve("example.com:[2001:db8::7]").unwrap().1,
            ip("2001:db8::7")
        );
        assert_eq!(parse_resolve("example.com:::1").unwrap().1, ip("::1"));
        assert!(parse_resolve("example.com").is_err());
        assert!(parse_resolve("example.com:nowhere").is_err());
        assert_eq!(
            parse_dns_server("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(parse_dns_server("::1").unwrap().port(), 53);
        assert!(parse_dns_server("ns.example.com").is_err());
    }
}
