//! `certctl daemon --cron EXPR`: renew on a schedule in the foreground (containers without
//! systemd). Survives failing runs; SIGTERM/SIGINT stop it between runs, or after the current one.

use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;

use super::Ctx;
use super::renew::RenewFlags;
use certctl::Error;
use certctl::clock::unix_now;
use certctl::ops::{list, renew};
use certctl::scheduler::cron::{Upcoming, next_wake};
use certctl::verify::rfc3339;

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// When to run renew, in the cron crate's syntax: sec min hour day-of-month month
    /// day-of-week [year], UTC (e.g. "0 7 */12 * * *")
    #[arg(long, value_name = "EXPR")]
    cron: String,
    /// Renew when fewer than N days remain, instead of the schedule
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=3650))]
    days: Option<u32>,
    #[command(flatten)]
    flags: RenewFlags,
}

pub fn run(args: DaemonArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    let schedule = cron::Schedule::from_str(&args.cron).map_err(|e| {
        Error::Usage(format!(
            "--cron {:?} is not a cron expression: {e}",
            args.cron
        ))
    })?;
    let opts = args.flags.options(ctx, args.days);
    let say = |text: &str| {
        if !ctx.quiet {
            eprintln!("{} certctl daemon: {text}", rfc3339(unix_now()));
        }
    };
    say(&format!("started; schedule {:?} (UTC)", args.cron));
    ctx.block_on(async {
        loop {
            let now = unix_now();
            let entries = list::list(&ctx.store, now).unwrap_or_default();
            let cron_next = schedule.upcoming(chrono::Utc).next().map(|t| t.timestamp());
            let upcoming: Vec<Upcoming> = entries
                .iter()
                .filter_map(|e| e.renewal.as_ref())
                .map(|r| Upcoming {
                    renewal: r.next_renewal,
                    retry: r.next_retry,
                })
                .collect();
            let wake = next_wake(now, cron_next, &upcoming);
            say(&format!("next run {}", rfc3339(wake)));
            let sleep = Duration::from_secs(u64::try_from(wake - now).unwrap_or(1));
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = super::interrupted() => break,
            }
            let run = renew::renew(&ctx.store, &opts);
            tokio::pin!(run);
            let result = tokio::select! {
                result = &mut run => result,
                _ = super::interrupted() => {
                    // Stopping mid-order would waste the CA's work; a second signal stops at once.
                    say("stopping after the current run (signal again to stop now)");
                    tokio::select! {
                        result = &mut run => { report(&args.flags, result, ctx, &say); break }
                        _ = super::interrupted() => return Err(Error::Interrupted),
                    }
                }
            };
            report(&args.flags, result, ctx, &say);
        }
        say("stopped");
        Ok(())
    })??;
    Ok(ExitCode::SUCCESS)
}

/// Logs one run; a failing run is reported and the daemon carries on.
fn report(
    flags: &RenewFlags,
    result: Result<renew::RenewReport, Error>,
    ctx: &Ctx,
    say: &dyn Fn(&str),
) {
    let report = match result {
        Ok(report) => report,
        Err(e) => return say(&format!("run failed: {e}")),
    };
    if let Err(e) = flags.after_run(&report, ctx) {
        say(&format!("after the run: {e}"));
    }
    let count = |pred: fn(&renew::Outcome) -> bool| {
        report.certs.iter().filter(|c| pred(&c.outcome)).count()
    };
    say(&format!(
        "run done: {} renewed, {} failed, {} not due",
        count(|o| matches!(o, renew::Outcome::Renewed { .. })),
        count(|o| matches!(o, renew::Outcome::Failed { .. })),
        count(|o| matches!(o, renew::Outcome::NotDue)),
    ));
    for cert in report.failures() {
        if let renew::Outcome::Failed { error, .. } = &cert.outcome {
            say(&format!("renewal of {} failed: {error}", cert.name));
        }
    }
}
