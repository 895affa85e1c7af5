//! `certctl status`: the whole machine on one screen, or `--json`; exit 0 all good, 1 warnings,
//! 2 something needs a person.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use certctl::Error;
use certctl::finding::Severity;
use certctl::health::ServedResult;
use certctl::ops::status::{self, CertStatus, StatusOptions, StatusReport};
use certctl::verify::rfc3339;

use super::Ctx;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Machine-readable: {"certificates": [...], "scheduler", "findings", "exit_code"}
    #[arg(long)]
    json: bool,
    /// Each handshake with nginx ends within this many milliseconds
    #[arg(long, default_value_t = 2000, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=60_000))]
    timeout_ms: u64,
    /// At most this many handshakes at once
    #[arg(long = "handshakes", default_value_t = 32, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    handshakes: u16,
    /// The system root the timer is looked for under
    #[arg(long, default_value = "/", value_name = "DIR")]
    root: std::path::PathBuf,
}

pub fn run(args: StatusArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    let now = certctl::clock::unix_now();
    let opts = StatusOptions {
        timeout: Duration::from_millis(args.timeout_ms),
        concurrency: usize::from(args.handshakes),
        systemd_root: args.root,
        state_dir: ctx.local.layout().root().to_owned(),
    };
    let gathered = status::gather(&*ctx.store, &opts, now)?;
    let report = ctx.block_on(status::status(gathered, &opts, now))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("the report serializes")
        );
    } else {
        print(&report, ctx);
    }
    Ok(ExitCode::from(report.exit_code))
}

fn days(c: &CertStatus) -> String {
    match (c.entry.days_left, c.lifetime_days) {
        (Some(left), Some(life)) if life > 0 => {
            format!("{left}/{life} ({}%)", (left.max(0) * 100) / life)
        }
        (Some(left), _) => left.to_string(),
        _ => "-".into(),
    }
}

fn next_renewal(c: &CertStatus, now: i64) -> String {
    match (&c.entry.renewal, &c.entry.not_renewed) {
        (Some(r), _) if r.next_renewal <= now => format!("due now ({})", r.reason),
        (Some(r), _) => format!("{} ({})", rfc3339(r.next_renewal), r.reason),
        (None, Some(why)) => format!("never: {why}"),
        (None, None) => "-".into(),
    }
}

fn last_result(c: &CertStatus) -> String {
    let Some(r) = &c.entry.renewal else {
        return "-".into();
    };
    match (r.last_attempt, r.last_result) {
        (Some(at), Some(result)) => {
            let result = serde_json::to_value(result)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            match r.failures {
                0 => format!("{result} {}", rfc3339(at)),
                n => format!("{result} {} ({n} in a row)", rfc3339(at)),
            }
        }
        _ => "none yet".into(),
    }
}

fn served(c: &CertStatus) -> String {
    if c.nginx.is_none() {
        return "no nginx site".into();
    }
    let live = c
        .served
        .iter()
        .filter(|s| s.result == ServedResult::Live)
        .count();
    match (live, c.served.len()) {
        (_, 0) => "-".into(),
        (l, n) if l == n => format!("live serial ({n}/{n})"),
        (l, n) => format!("NOT the live serial ({l}/{n})"),
    }
}

fn print(report: &StatusReport, ctx: &Ctx) {
    let now = report.now;
    if report.certificates.is_empty() && !ctx.quiet {
        println!("no certificates in {}", ctx.local.layout().root().display());
    }
    let rows: Vec<[String; 6]> = report
        .certificates
        .iter()
        .map(|c| {
            [
                c.entry.name.clone(),
                days(c),
                next_renewal(c, now),
                last_result(c),
                served(c),
                c.severity.as_str().to_owned(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        let header = [
            "NAME",
            "DAYS LEFT",
            "NEXT RENEWAL",
            "LAST RESULT",
            "NGINX SERVES",
            "STATE",
        ];
        let lines = super::table(header, &rows);
        println!("{}", lines[0]);
        for (line, c) in lines[1..].iter().zip(&report.certificates) {
            println!("{line}");
            if c.entry.names.len() > 1 || c.entry.names.first() != Some(&c.entry.name) {
                println!("  names: {}", c.entry.names.join(", "));
            }
        }
    }
    let s = &report.scheduler;
    let timer = match (&s.timer.installed, &s.timer.systemd) {
        (false, _) => "not installed".to_owned(),
        (true, false) => "installed (systemd not running here)".to_owned(),
        (true, true) => format!(
            "{} ({}), next run {}",
            s.timer.active.as_deref().unwrap_or("?"),
            s.timer.enabled.as_deref().unwrap_or("?"),
            s.timer.next_run.as_deref().unwrap_or("n/a")
        ),
    };
    let daemon = match &s.daemon {
        Some(d) => format!("running (pid {}), next run {}", d.pid, rfc3339(d.next_run)),
        None => "not running".to_owned(),
    };
    println!("timer: {timer}; daemon: {daemon}");
    let mut findings: Vec<_> = report
        .certificates
        .iter()
        .flat_map(|c| &c.findings)
        .chain(&report.findings)
        .filter(|f| f.severity > Severity::Info)
        .collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    for f in &findings {
        println!("{:<7} {} {}", f.severity.as_str(), f.id, f.message);
        if !f.fix.is_empty() {
            println!("        fix: {}", f.fix);
        }
    }
    println!(
        "{}",
        match report.exit_code {
            0 => "all good".to_owned(),
            1 => format!("{} warning(s)", findings.len()),
            _ => "needs a person (above)".to_owned(),
        }
    );
}
