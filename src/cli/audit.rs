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
    /// HOST, HOST:PORT, IP:PORT or [IPv6]:PORT (port 443 by default)
    target: String,
    /// The name to send as SNI and check the certificate against (default: HOST)
    #[arg(long, value_name = "NAME")]
    sni: Option<String>,
    /// Also trust these roots
    #[arg(long, value_name = "PEM")]
    ca_bundle: Option<PathBuf>,
    /// Port whose plain HTTP must redirect to https (0 skips the check)
    #[arg(long, default_value_t = 80, value_name = "N")]
    http_port: u16,
    /// Exit 1 when the grade is worse than this (A+, A, A-, B, C, D, E, F)
    #[arg(long, value_name = "GRADE", value_parser = str::parse::<Grade>)]
    min_grade: Option<Grade>,
    /// Seconds per connection
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    timeout: u64,
    /// The whole audit ends within this many seconds, against any server; what could not be
    /// tested by then is reported as unknown
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    deadline: u64,
    /// At most this many connections to the server at once
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Machine-readable report (top-level "grade")
    #[arg(long)]
    json: bool,
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

pub fn run(args: AuditArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    let (host, port) = split_target(&args.target)?;
    if port == 0 {
        return Err(AuditError::PortZero.into());
    }
    let extra_roots = match &args.ca_bundle {
        Some(path) => certctl::trust::load_bundle(path)?,
        None => Vec::new(),
    };
    let sni = match (&args.sni, host.parse::<IpAddr>()) {
        (Some(name), _) => Some(certctl::names::parse_identifier(name).map(|i| i.as_string())?),
        (None, Ok(_)) => None,
        (None, Err(_)) => Some(certctl::names::parse_identifier(&host).map(|i| i.as_string())?),
    };
    let report = ctx.block_on(async {
        let addr: SocketAddr = match host.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, port),
            Err(_) => tokio::net::lookup_host((host.as_str(), port))
                .await
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| AuditError::Unresolved { host: host.clone() })?,
        };
        audit::audit(&AuditRequest {
            addr,
            host: sni,
            extra_roots,
            http_port: (args.http_port != 0).then_some(args.http_port),
            timeout: Duration::from_secs(args.timeout.max(1)),
            concurrency: usize::from(args.concurrency),
            deadline: Duration::from_secs(args.deadline.max(1)),
        })
        .await
    })??;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        );
    } else if !ctx.quiet {
        print_report(&report);
    }
    match args.min_grade {
        Some(min) if report.grade < min => {
            eprintln!(
                "certctl: grade {} is worse than --min-grade {min}",
                report.grade
            );
            Ok(ExitCode::from(1))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
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
    for h in &r.clients {
        match h.suite() {
            Some((version, suite)) => println!(
                "  {:<24} {} {}{}",
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
                "  {:<24} fails: {}",
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
