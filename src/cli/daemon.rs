//! `certctl daemon --cron EXPR`: renew on a schedule in the foreground (containers without
//! systemd). Survives failing runs; SIGTERM/SIGINT stop it between runs, or after the current one.
//!
//! Each run is a child process (this binary, the same arguments, plus the hidden `--one-run`),
//! in its own process group, bounded by `--run-deadline`: a run stuck anywhere (a CA, a lock, a
//! deploy hook, nginx) is stopped with SIGTERM, then SIGKILL, hooks included, and the next run
//! happens on schedule. An in-process timeout could not do this: hooks and nginx run as
//! blocking calls, which no async deadline interrupts.

use std::os::unix::process::CommandExt;
use std::process::{Child, ExitCode};
use std::str::FromStr;
use std::time::{Duration, Instant};

use clap::Args;

use super::Ctx;
use super::nginx::NginxLayoutArgs;
use super::renew::RenewFlags;
use certctl::Error;
use certctl::clock::unix_now;
use certctl::ops::{fleet, list, renew};
use certctl::scheduler::cron::{Upcoming, next_wake};
use certctl::scheduler::daemon as heartbeat;
use certctl::verify::rfc3339;

/// A stopped run gets this long to exit after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// When to run renew, in the cron crate's syntax: sec min hour day-of-month month
    /// day-of-week [year], UTC (e.g. "0 7 */12 * * *")
    #[arg(long, value_name = "EXPR")]
    cron: String,
    /// Renew when fewer than N days remain, instead of the schedule
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=3650))]
    days: Option<u32>,
    /// Stop a renew run that takes longer than this (SIGTERM, then SIGKILL 10 s later), so a
    /// stuck run never blocks the next ones: 90s, 30m, 2h or seconds
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    run_deadline: Duration,
    /// With --store: keep this node's nginx serving the fleet's live certificates (the sites
    /// `issue --nginx` made on any node placed here too, nginx -t, reload, a handshake that
    /// checks the served serial) as soon as a new one is live
    #[arg(long)]
    nginx: bool,
    #[command(flatten)]
    nginx_layout: NginxLayoutArgs,
    /// With --store: how often to re-check the store without a notification, and to retry
    /// while the database is away: 30s, 5m or seconds
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    recheck: Duration,
    /// Internal: the child process that does one run
    #[arg(long, hide = true)]
    one_run: bool,
    #[command(flatten)]
    flags: RenewFlags,
}

/// "90s", "30m", "2h", "1d" or plain seconds; at least one second.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{text:?}: give a number with s, m, h or d (e.g. 30m)"
            ));
        }
    };
    let secs = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{text:?}: give a positive whole number with s, m, h or d"))?;
    Ok(Duration::from_secs(secs))
}

pub fn run(args: DaemonArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    let schedule = cron::Schedule::from_str(&args.cron).map_err(|e| {
        Error::Usage(format!(
            "--cron {:?} is not a cron expression: {e}",
            args.cron
        ))
    })?;
    let say = |text: &str| {
        if !ctx.quiet {
            eprintln!("{} certctl daemon: {text}", rfc3339(unix_now()));
        }
    };
    if args.one_run {
        return one_run(&args, ctx, &say);
    }
    if args.nginx && ctx.pg.is_none() {
        return Err(Error::Usage(
            "daemon --nginx deploys the fleet's certificates: give --store postgres://… (or CERTCTL_STORE)".into(),
        ));
    }
    let nginx = args.nginx.then(|| fleet::NodeNginx {
        nginx: args.nginx_layout.binary.resolve(None, &ctx.settings),
        layout: args.nginx_layout.resolve(None, &ctx.settings),
        recheck: args.recheck,
    });
    let exe = std::env::current_exe().map_err(|source| Error::Io {
        context: "cannot find certctl's own binary to run renew".into(),
        source,
    })?;
    say(&format!(
        "started; schedule {:?} (UTC), each run stopped after {} s",
        args.cron,
        args.run_deadline.as_secs()
    ));
    // A fleet node converges alongside the schedule, in the same runtime.
    let converger = async {
        match &ctx.pg {
            Some(pg) => {
                say(&format!(
                    "fleet node {}: converging on every new version, re-checking every {} s{}",
                    pg.node(),
                    args.recheck.as_secs(),
                    match nginx {
                        Some(_) => ", deploying to nginx",
                        None => "",
                    }
                ));
                fleet::watch(
                    pg,
                    nginx.as_ref(),
                    args.recheck,
                    certctl::ops::deploy::SERVED_WAIT,
                    !ctx.pg_unchecked,
                    &say,
                )
                .await
            }
            None => std::future::pending().await,
        }
    };
    let schedule = async {
        loop {
            let now = unix_now();
            // The store may be a database away: read it on the blocking pool. When it cannot be
            // read, the next run is tried again soon (renewals wait, then resume).
            let store = ctx.store.clone();
            let listed = tokio::task::spawn_blocking(move || list::list(&*store, now)).await;
            let entries = match listed {
                Ok(Ok(entries)) => Some(entries),
                Ok(Err(e)) => {
                    say(&format!(
                        "cannot read the certificates ({e}); renewals wait, trying again in {} s",
                        args.recheck.as_secs()
                    ));
                    None
                }
                Err(e) => {
                    say(&format!("cannot read the certificates ({e})"));
                    None
                }
            };
            let cron_next = schedule.upcoming(chrono::Utc).next().map(|t| t.timestamp());
            // --days replaces the schedule (as in renew): the renewal is that many days before
            // the end.
            let upcoming: Vec<Upcoming> = entries
                .iter()
                .flatten()
                .filter_map(|e| Some((e.renewal.as_ref()?, e.not_after)))
                .map(|(r, not_after)| Upcoming {
                    renewal: match (args.days, not_after) {
                        (Some(days), Some(end)) => end - i64::from(days) * 86_400,
                        _ => r.next_renewal,
                    },
                    retry: r.next_retry,
                })
                .collect();
            let mut wake = next_wake(now, cron_next, &upcoming);
            // A certificate due and not renewed (its run died, another node holds it, the
            // store was away) is looked at again soon, not at the next cron time.
            let overdue = upcoming
                .iter()
                .any(|u| u.retry.map_or(u.renewal, |r| r.max(u.renewal)) <= now);
            if entries.is_none() || overdue {
                wake = wake.min(now + i64::try_from(args.recheck.as_secs()).unwrap_or(60));
            }
            say(&format!("next run {}", rfc3339(wake)));
            let heartbeat = heartbeat::DaemonState {
                pid: std::process::id(),
                cron: args.cron.clone(),
                next_run: wake,
                updated: now,
            };
            if let Err(e) = heartbeat::write(ctx.local.layout().root(), &heartbeat) {
                say(&format!(
                    "cannot write the heartbeat `certctl status` reads: {e}"
                ));
            }
            let sleep = Duration::from_secs(u64::try_from(wake - now).unwrap_or(1));
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = super::interrupted() => break,
            }
            let mut child = match std::process::Command::new(&exe)
                .args(std::env::args_os().skip(1))
                .arg("--one-run")
                .stdin(std::process::Stdio::null())
                .process_group(0)
                .spawn()
            {
                Ok(child) => child,
                Err(e) => {
                    say(&format!("cannot start a renew run: {e}"));
                    continue;
                }
            };
            let deadline = Instant::now() + args.run_deadline;
            let finished = tokio::select! {
                finished = wait_until(&mut child, deadline) => finished,
                _ = super::interrupted() => {
                    // Stopping mid-order would waste the CA's work; a second signal stops at once.
                    say("stopping after the current run (signal again to stop now)");
                    tokio::select! {
                        finished = wait_until(&mut child, deadline) => {
                            report_exit(finished, args.run_deadline, &mut child, &say).await;
                            break
                        }
                        _ = super::interrupted() => {
                            stop(&mut child).await;
                            return Err(Error::Interrupted);
                        }
                    }
                }
            };
            report_exit(finished, args.run_deadline, &mut child, &say).await;
        }
        say("stopped");
        Ok(())
    };
    let result = ctx.block_on(async {
        tokio::select! {
            result = schedule => result,
            e = converger => Err(e),
        }
    })?;
    heartbeat::remove(ctx.local.layout().root());
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Waits for the run to exit, polling, until `deadline`; false when it is still running.
async fn wait_until(child: &mut Child, deadline: Instant) -> bool {
    loop {
        if !matches!(child.try_wait(), Ok(None)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM to the run's process group (certctl and any hook or nginx it started), SIGKILL
/// after [`GRACE`]; then reaps it.
async fn stop(child: &mut Child) {
    use rustix::process::{Pid, Signal, kill_process_group};
    let Some(group) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) else {
        return;
    };
    let _ = kill_process_group(group, Signal::TERM);
    if !wait_until(child, Instant::now() + GRACE).await {
        let _ = kill_process_group(group, Signal::KILL);
    }
    let _ = child.wait();
    // Whatever the run left behind in its group (a hook's children) goes too.
    let _ = kill_process_group(group, Signal::KILL);
}

async fn report_exit(finished: bool, limit: Duration, child: &mut Child, say: &dyn Fn(&str)) {
    if finished {
        // The run reported itself; a crash is worth a line.
        if let Ok(status) = child.wait()
            && status.code().is_none_or(|c| c > 2)
        {
            say(&format!("the renew run ended abnormally ({status})"));
        }
        return;
    }
    say(&format!(
        "the renew run did not finish within {} s; stopping it (the next run goes on as scheduled)",
        limit.as_secs()
    ));
    stop(child).await;
}

/// The child: one renew run, reported on stderr like the daemon's own lines.
fn one_run(args: &DaemonArgs, ctx: &Ctx, say: &dyn Fn(&str)) -> Result<ExitCode, Error> {
    let opts = renew::RenewOptions {
        // A fleet node deploys to its own nginx, whichever node issued the certificate.
        nginx_here: (args.nginx && ctx.pg.is_some())
            .then(|| args.nginx_layout.binary.resolve(None, &ctx.settings)),
        ..args.flags.options(ctx, args.days)
    };
    let result = ctx.block_on(async {
        tokio::select! {
            result = renew::renew(&*ctx.store, &opts) => result,
            _ = super::interrupted() => Err(Error::Interrupted),
        }
    })?;
    report(&args.flags, result, ctx, say);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_deadlines_read_like_people_write_them() {
        let table = [
            ("30m", Some(1800)),
            ("90s", Some(90)),
            ("2h", Some(7200)),
            ("1d", Some(86_400)),
            ("45", Some(45)),
            ("0s", None),
            ("", None),
            ("m", None),
            ("5w", None),
            ("-5m", None),
            ("1.5h", None),
            ("99999999999999999999d", None),
        ];
        for (text, secs) in table {
            assert_eq!(
                parse_duration(text).ok().map(|d| d.as_secs()),
                secs,
                "{text:?}"
            );
        }
    }
}
