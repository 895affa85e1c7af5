//! `certctl list`: a table, or `--json`.

use std::process::ExitCode;

use clap::Args;

use certctl::Error;

use super::Ctx;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print a JSON array instead of a table
    #[arg(long)]
    json: bool,
    /// Per certificate: the ARI window, the chosen renewal time, the backstop, the last attempt,
    /// the last failure and the next retry
    #[arg(long, conflicts_with = "json")]
    explain: bool,
}

pub fn run(args: ListArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    let now = certctl::clock::unix_now();
    let entries = certctl::ops::list::list(&*ctx.store, now)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&entries).expect("entries serialize")
        );
        return Ok(ExitCode::SUCCESS);
    }
    if args.explain {
        explain(&entries, now);
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        if !ctx.quiet {
            eprintln!("no certificates in {}", ctx.local.layout().root().display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 7]> = entries
        .iter()
        .map(|e| {
            [
                e.name.clone(),
                e.names.join(","),
                match (e.key_type, e.dual) {
                    (None, _) => "-".into(),
                    (Some(k), false) => k.to_string(),
                    (Some(k), true) => format!("{k}+rsa-2048"),
                },
                e.not_after_rfc3339.clone().unwrap_or_else(|| "-".into()),
                match (e.days_left, e.expiry) {
                    (None, _) => "-".into(),
                    (Some(d), Some(x)) if x.is_expiring() => format!("{d} (expiring)"),
                    (Some(d), _) => d.to_string(),
                },
                match (&e.renewal, &e.not_renewed) {
                    (Some(r), _) if r.next_renewal <= now => "due now".to_owned(),
                    (Some(r), _) => certctl::verify::rfc3339(r.next_renewal),
                    (None, Some(why)) => why.clone(),
                    (None, None) => "-".to_owned(),
                },
                e.issuer
                    .clone()
                    .or_else(|| e.problem.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let header = [
        "NAME",
        "NAMES",
        "KEY",
        "NOT AFTER",
        "DAYS",
        "NEXT RENEWAL",
        "ISSUER",
    ];
    for line in super::table(header, &rows) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The renewal reasoning, certificate by certificate.
fn explain(entries: &[certctl::ops::list::ListEntry], now: i64) {
    use certctl::verify::expiry::Expiry;
    use certctl::verify::rfc3339;
    for e in entries {
        println!("{}  ({})", e.name, e.names.join(", "));
        if let Some(problem) = &e.problem {
            println!("  problem:       {problem}");
        }
        if let (Some(not_before), Some(not_after)) = (e.not_before, e.not_after) {
            println!(
                "  valid:         {} to {} ({} days, {} left)",
                rfc3339(not_before),
                rfc3339(not_after),
                (not_after - not_before) / 86_400,
                e.days_left.unwrap_or_default()
            );
        }
        match e.expiry {
            Some(Expiry::Expiring { why }) => println!("  expiring:      {why}"),
            Some(Expiry::Expired) => println!("  expiring:      expired"),
            Some(Expiry::NotYetValid) => println!("  expiring:      not valid yet"),
            _ => {}
        }
        if let Some(why) = &e.not_renewed {
            println!("  not renewed:   {why}");
        }
        let Some(r) = &e.renewal else {
            println!();
            continue;
        };
        let ari = match (r.ari_offered, r.ari_window) {
            (Some(true), Some(w)) => format!("window {} to {}", rfc3339(w.start), rfc3339(w.end)),
            (Some(false), _) => "the CA offers no renewal information".to_owned(),
            _ => "not asked yet".to_owned(),
        };
        println!("  ARI:           {ari}");
        let when = match r.next_renewal <= now {
            true => "due now".to_owned(),
            false => rfc3339(r.next_renewal),
        };
        println!("  next renewal:  {when} (chosen by: {})", r.reason);
        println!(
            "  backstop:      {} (renewed by then whatever ARI says)",
            rfc3339(r.backstop)
        );
        match (r.last_attempt, r.last_result) {
            (Some(at), Some(result)) => println!(
                "  last attempt:  {} {}",
                rfc3339(at),
                serde_json::to_value(result)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
            _ => println!("  last attempt:  none"),
        }
        if let Some(err) = &r.last_error {
            println!("  last failure:  {err} ({} in a row)", r.failures);
        }
        if let Some(retry) = r.next_retry.filter(|t| *t > now) {
            println!("  next retry:    not before {}", rfc3339(retry));
        }
        println!();
    }
}
