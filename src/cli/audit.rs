//! `certctl audit HOST[:PORT]`: the grade first, then what caps it, then the details.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::Ctx;
use certctl::Error;
use certctl::audit::grade::Grade;
use certctl::audit::{self, AuditError, AuditReport, AuditRequest};

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// HOST, HOST:PORT, IP:PORT or [IPv6]:PORT (port 443 by default); several are audited at
    /// once, one line each
    #[arg(value_name = "TARGET")]
    targets: Vec<String>,
    /// Also audit every name and TLS port the local nginx serves (from nginx -T)
    #[arg(long)]
    nginx: bool,
    /// The nginx binary for --nginx
    #[arg(long, value_name = "PATH", requires = "nginx")]
    nginx_bin: Option<PathBuf>,
    /// nginx -p PREFIX for --nginx
    #[arg(long, value_name = "DIR", requires = "nginx")]
    nginx_prefix: Option<PathBuf>,
    /// nginx -c CONF for --nginx
    #[arg(long, value_name = "FILE", requires = "nginx")]
    nginx_conf: Option<PathBuf>,
    /// The name to send as SNI and check the certificate against (default: HOST)
    #[arg(long, value_name = "NAME")]
    sni: Option<String>,
    /// Also trust these roots
    #[arg(long, value_name = "PEM")]
    ca_bundle: Option<PathBuf>,
    /// Port whose plain HTTP must redirect to https (0 skips the check)
    #[arg(long, default_value_t = 80, value_name = "N")]
    http_port: u16,
    /// Exit 1 when a grade (the worst, with several targets) is worse than this (A+, A, A-, B,
    /// C, D, E, F)
    #[arg(long, value_name = "GRADE", value_parser = str::parse::<Grade>)]
    min_grade: Option<Grade>,
    /// Seconds per connection
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    timeout: u64,
    /// The whole audit (of every target) ends within this many seconds, against any server;
    /// what could not be tested by then is reported as unknown
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    deadline: u64,
    /// At most this many probe connections at once, for all targets together
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Machine-readable report (top-level "grade"; with several targets, an array)
    #[arg(long)]
    json: bool,
    /// Also write the report as one self-contained HTML page to FILE (one target)
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

/// HOST[:PORT] → (host, port).
fn split_target(target: &str) -> Result<(String, u16), AuditError> {
    let bad = |why: &'static str| AuditError::BadTarget {
        target: target.to_owned(),
        why,
    };
    if let Some(rest) = target.strip_prefix('[') {
        let (ip, tail) = rest.split_once(']').ok_or_else(|| bad("unclosed ["))?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad("bad port"))?,
            None if tail.is_empty() => 443,
            None => return Err(bad("expected [IPv6]:PORT")),
        };
        return Ok((ip.to_owned(), port));
    }
    if target.parse::<IpAddr>().is_ok() {
        return Ok((target.to_owned(), 443));
    }
    match target.rsplit_once(':') {
        Some((host, port)) => Ok((host.to_owned(), port.parse().map_err(|_| bad("bad port"))?)),
        None => Ok((target.to_owned(), 443)),
    }
}

/// One target as asked: (host or address, port).
fn resolve_request(
    host: &str,
    port: u16,
    sni: Option<&String>,
) -> Result<(Option<String>, String), AuditError> {
    if port == 0 {
        return Err(AuditError::PortZero);
    }
    let sni = match (sni, host.parse::<IpAddr>()) {
        (Some(name), _) => Some(name.clone()),
        (None, Ok(_)) => None,
        (None, Err(_)) => Some(host.to_owned()),
    };
    Ok((sni, host.to_owned()))
}

pub fn run(args: AuditArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    if args.targets.is_empty() && !args.nginx {
        return Err(Error::Usage(
            "name a TARGET (HOST[:PORT]) or pass --nginx".into(),
        ));
    }
    // (SNI, where to connect: a host to look up or an address) per target, checked first.
    let mut asked: Vec<(Option<String>, String, u16)> = Vec::new();
    for target in &args.targets {
        let (host, port) = split_target(target)?;
        let (sni, host) = resolve_request(&host, port, args.sni.as_ref())?;
        let sni = match sni {
            Some(name) => Some(certctl::names::parse_identifier(&name).map(|i| i.as_string())?),
            None => None,
        };
        asked.push((sni, host, port));
    }
    let extra_roots = match &args.ca_bundle {
        Some(path) => certctl::trust::load_bundle(path)?,
        None => Vec::new(),
    };
    if args.nginx {
        let nginx = certctl::nginx::binary::Nginx {
            bin: args.nginx_bin.clone().unwrap_or_else(|| "nginx".into()),
            prefix: args.nginx_prefix.clone(),
            conf: args.nginx_conf.clone(),
            reload_cmd: None,
        };
        for t in certctl::ops::audit::nginx_targets(&nginx)? {
            asked.push((t.name, t.addr.ip().to_string(), t.addr.port()));
        }
    }
    let single = asked.len() == 1 && !args.nginx;
    if args.html.is_some() && !single {
        return Err(Error::Usage(
            "--html writes the report of one target".into(),
        ));
    }
    let request = |addr, host| AuditRequest {
        addr,
        host,
        extra_roots: extra_roots.clone(),
        http_port: (args.http_port != 0).then_some(args.http_port),
        timeout: Duration::from_secs(args.timeout.max(1)),
        concurrency: usize::from(args.concurrency),
        deadline: Duration::from_secs(args.deadline.max(1)),
    };
    let results: Vec<(String, Result<AuditReport, AuditError>)> = ctx.block_on(async {
        let mut reqs = Vec::new();
        let mut shown = Vec::new();
        let mut failed = Vec::new();
        for (i, (sni, host, port)) in asked.iter().enumerate() {
            let addr: Result<SocketAddr, AuditError> = match host.parse::<IpAddr>() {
                Ok(ip) => Ok(SocketAddr::new(ip, *port)),
                Err(_) => tokio::net::lookup_host((host.as_str(), *port))
                    .await
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| AuditError::Unresolved { host: host.clone() }),
            };
            let name = match sni {
                Some(n) => format!("{n} ({host}:{port})"),
                None => format!("{host}:{port}"),
            };
            match addr {
                Ok(addr) => {
                    reqs.push(request(addr, sni.clone()));
                    shown.push((i, name));
                }
                Err(e) => failed.push((i, name, e)),
            }
        }
        let bar = match reqs.len() {
            0 | 1 => None,
            _ => Some(ctx.bar(args.json, "targets")),
        };
        let tally: &dyn certctl::progress::Tally = match &bar {
            Some(bar) => bar,
            None => &(),
        };
        let reports = audit::audit_many(
            &reqs,
            usize::from(args.concurrency),
            Duration::from_secs(args.deadline.max(1)),
            tally,
        )
        .await;
        let mut all: Vec<(usize, String, Result<AuditReport, AuditError>)> = shown
            .into_iter()
            .zip(reports)
            .map(|((i, name), r)| (i, name, r))
            .collect();
        all.extend(failed.into_iter().map(|(i, name, e)| (i, name, Err(e))));
        all.sort_by_key(|(i, _, _)| *i);
        all.into_iter().map(|(_, name, r)| (name, r)).collect()
    })?;
    if single {
        let report = results.into_iter().next().map(|(_, r)| r).transpose()?;
        let Some(report) = report else {
            return Ok(ExitCode::SUCCESS);
        };
        if let Some(path) = &args.html {
            let page = audit::html::render(&report);
            certctl::fsio::write_atomic(path, page.as_bytes(), 0o644)?;
        }
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("report serializes")
            );
        } else if !ctx.quiet {
            print_report(&report);
        }
        return Ok(below_min(report.grade, args.min_grade));
    }
    print_many(&results, args.json, ctx.quiet);
    let any_failed = results.iter().any(|(_, r)| r.is_err());
    let worst = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .map(|r| r.grade)
        .min();
    if any_failed {
        return Ok(ExitCode::from(1));
    }
    Ok(match worst {
        Some(worst) => below_min(worst, args.min_grade),
        None => ExitCode::SUCCESS,
    })
}

/// Exit 1 (said on stderr) when `grade` is worse than `--min-grade`.
fn below_min(grade: Grade, min: Option<Grade>) -> ExitCode {
    match min {
        Some(min) if grade < min => {
            eprintln!("certctl: grade {grade} is worse than --min-grade {min}");
            ExitCode::from(1)
        }
        _ => ExitCode::SUCCESS,
    }
}

/// Several targets: one line each (grade, target, what caps it), or a JSON array whose entries
/// are reports or `{"target", "error"}`.
fn print_many(results: &[(String, Result<AuditReport, AuditError>)], json: bool, quiet: bool) {
    if json {
        let all: Vec<serde_json::Value> = results
            .iter()
            .map(|(name, r)| match r {
                Ok(report) => serde_json::to_value(report).expect("report serializes"),
                Err(e) => serde_json::json!({ "target": name, "error": e.to_string() }),
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&all).expect("reports serialize")
        );
        return;
    }
    if quiet {
        return;
    }
    for (name, r) in results {
        match r {
            Ok(report) => {
                let caps: Vec<&str> = report
                    .rating
                    .caps
                    .iter()
                    .map(|c| c.why.as_str())
                    .take(2)
                    .collect();
                println!(
                    "{:<3} {name}  {} connections, {} ms{}{}",
                    report.grade.as_str(),
                    report.connections,
                    report.elapsed_ms,
                    if caps.is_empty() { "" } else { "; " },
                    caps.join("; ")
                );
            }
            Err(e) => println!("-   {name}  {e}"),
        }
    }
    let worst = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .map(|r| r.grade)
        .min();
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    println!(
        "{} targets, worst grade {}{}",
        results.len(),
        worst.map_or("-", |g| g.as_str()),
        match failed {
            0 => String::new(),
            n => format!(", {n} could not be audited"),
        }
    );
}

fn print_report(r: &AuditReport) {
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let paint = |text: &str| match (colour, text.chars().next()) {
        (true, Some('A')) => format!("\x1b[1;32m{text}\x1b[0m"),
        (true, Some('B' | 'C')) => format!("\x1b[1;33m{text}\x1b[0m"),
        (true, _) => format!("\x1b[1;31m{text}\x1b[0m"),
        (false, _) => text.to_owned(),
    };
    let g = &r.rating;
    println!(
        "{}  {}  (score {}: protocol {}, key exchange {}, cipher {}; trust ignored: {})",
        paint(r.grade.as_str()),
        r.target,
        g.score,
        g.protocol_score,
        g.key_exchange_score,
        g.cipher_score,
        g.grade_trust_ignored
    );
    if let Some(cert) = r
        .certificate
        .as_ref()
        .filter(|c| !c.trusted || !c.name_matches)
    {
        if let Some(problem) = &cert.problem {
            println!("  T  certificate not trusted: {problem}");
        }
        if !cert.name_matches {
            println!(
                "  M  certificate names {} do not cover {}",
                cert.names.join(", "),
                cert.checked_name
            );
        }
    }
    for cap in &g.caps {
        println!("  {:<2} {}", cap.cap.as_str(), cap.why);
    }
    for warning in &g.warnings {
        println!("  !  {warning}");
    }
    // Unknowns that cap the grade are listed with the caps above.
    for unknown in g
        .unknowns
        .iter()
        .filter(|u| !g.caps.iter().any(|c| c.why == **u))
    {
        println!("  ?  {unknown}");
    }
    if !g.weaknesses.is_empty() {
        println!("  weaknesses: {}", g.weaknesses.join("; "));
    }
    // Certificate details and probes that did not apply: said, not graded.
    for f in g
        .findings
        .iter()
        .filter(|f| f.id.starts_with("audit.X509_") || f.id.starts_with("audit.UNTESTED_"))
    {
        println!("  i  {}", f.message);
    }
    println!();
    for p in r.protocols.iter().filter(|p| p.supported) {
        let order = match p.server_order {
            Some(true) => ", server order",
            Some(false) => ", client order",
            None => "",
        };
        println!("{}{order}", p.protocol);
        for s in &p.suites {
            let mut notes = Vec::new();
            if !s.forward_secrecy {
                notes.push("no FS");
            }
            if !s.aead {
                notes.push("no AEAD");
            }
            println!(
                "  {} {} ({} bits{}{})",
                s.id,
                s.name,
                s.bits,
                if notes.is_empty() { "" } else { ", " },
                notes.join(", ")
            );
        }
    }
    let off: Vec<&str> = r
        .protocols
        .iter()
        .filter(|p| !p.supported)
        .map(|p| p.protocol)
        .collect();
    println!("not offered: {}", off.join(", "));
    if let Some(c) = &r.certificate {
        println!(
            "certificate: {} ({}), issuer {}, until {}, {} certificate(s) sent",
            c.names.join(", "),
            c.key,
            c.issuer,
            c.not_after,
            c.chain_length
        );
    }
    if let Some(d) = r.certificate.as_ref().map(|c| &c.details) {
        let list = |l: &Option<Vec<String>>| match l {
            Some(l) => l.join(" "),
            None => "(none)".to_owned(),
        };
        let usage = d
            .key_usage
            .as_ref()
            .map(|l| l.iter().map(|s| (*s).to_owned()).collect());
        println!(
            "  key usage: {}, extended key usage: {}, {} embedded SCTs, Must-Staple: {}, valid for {} days",
            list(&usage),
            list(&d.extended_key_usage),
            d.embedded_scts,
            if d.must_staple { "yes" } else { "no" },
            d.validity_days
        );
    }
    println!("HSTS: {}", r.hsts_header.as_deref().unwrap_or("none"));
    match &r.http_redirect {
        Some(Ok(to)) => println!("HTTP: redirects ({to})"),
        Some(Err(e)) => println!("HTTP: {e}"),
        None => {}
    }
    let yes_no = |b: Option<bool>| match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "n/a",
    };
    println!(
        "secure renegotiation: {}, compression: {}, fallback SCSV: {}, resumption: {}, ALPN h2: {}, OCSP stapling: {}",
        yes_no(Some(r.secure_renegotiation)),
        yes_no(Some(r.compression)),
        yes_no(r.fallback_scsv),
        yes_no(r.resumption),
        yes_no(Some(r.h2)),
        yes_no(r.ocsp_stapling),
    );
    for (name, verdict) in [
        ("ROBOT", &r.robot),
        ("CBC padding oracle", &r.cbc_padding_oracle),
    ] {
        use certctl::audit::oracle::Verdict;
        let (status, detail) = match verdict {
            Verdict::Vulnerable(d) => ("VULNERABLE", d),
            Verdict::NotVulnerable(d) => ("no", d),
            Verdict::Untested(d) => ("not tested", d),
            Verdict::Unknown(d) => ("could not test", d),
        };
        println!("{name}: {status} ({detail})");
    }
    if !r.groups.is_empty() {
        println!("key exchange groups: {}", r.groups.join(", "));
    }
    if let Some(bits) = r.dh_bits {
        println!("DHE group: {bits} bits");
    }
    println!("clients (simulated):");
    let width = r.clients.iter().map(|h| h.client.len()).max().unwrap_or(0);
    for h in &r.clients {
        match h.suite() {
            Some((version, suite)) => println!(
                "  {:<width$} {} {}{}",
                h.client,
                version.name(),
                suite.name,
                if suite.forward_secrecy {
                    ""
                } else {
                    " (no FS)"
                }
            ),
            None => println!(
                "  {:<width$} fails: {}",
                h.client,
                h.failure.as_deref().unwrap_or("nothing in common")
            ),
        }
    }
    println!("{} connections in {} ms", r.connections, r.elapsed_ms);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_grades_parse() {
        assert_eq!(
            split_target("example.com").unwrap(),
            ("example.com".into(), 443)
        );
        assert_eq!(
            split_target("127.0.0.1:8443").unwrap(),
            ("127.0.0.1".into(), 8443)
        );
        assert_eq!(split_target("[::1]:8443").unwrap(), ("::1".into(), 8443));
        assert_eq!(split_target("::1").unwrap(), ("::1".into(), 443));
        assert!(split_target("host:x").is_err());
        let grade = |s: &str| s.parse::<Grade>();
        assert!(grade("A+") > grade("A") && grade("A") > grade("A-") && grade("F") > grade("T"));
        assert!(grade("a+").is_ok() && grade("Z").is_err());
    }
}
