//! `certctl schedule install|status|uninstall`: the systemd timer that runs `certctl renew`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::Ctx;
use certctl::Error;
use certctl::scheduler::systemd as schedule;

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Write certctl-renew.service and .timer and enable the timer
    Install(RootArg),
    /// Show whether the timer is installed and when it runs next
    Status(RootArg),
    /// Disable the timer and remove the units
    Uninstall(RootArg),
}

#[derive(Debug, Args)]
struct RootArg {
    /// Install under this root instead of / (units go to ROOT/etc/systemd/system; systemctl is
    /// only called for /)
    #[arg(long, default_value = "/", value_name = "DIR")]
    root: PathBuf,
}

/// After a command that added or changed renewal records: the installed service's writable
/// paths follow (see `scheduler::systemd`). A failure is a warning: the certificate is fine,
/// only its renewal under the timer may not be.
pub fn refresh_paths(ctx: &Ctx) {
    let Ok(state) = std::path::absolute(ctx.local.layout().root()) else {
        return;
    };
    match schedule::refresh(&state, &schedule::writable_paths(&*ctx.store)) {
        Ok(changed) => {
            for file in changed {
                tracing::info!("updated {} (paths renewals write to)", file.display());
            }
        }
        Err(e) => eprintln!(
            "certctl: warning: the renewal timer may not be able to write this certificate's directories: {e}; run `certctl schedule install` again"
        ),
    }
}

pub fn run(args: ScheduleArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    match args.action {
        Action::Install(a) => {
            let binary = std::env::current_exe()
                .and_then(std::fs::canonicalize)
                .map_err(|source| Error::Io {
                    context: "cannot tell where the certctl binary is".into(),
                    source,
                })?;
            let state = std::path::absolute(ctx.local.layout().root())
                .map_err(|e| Error::Usage(format!("bad --state-dir: {e}")))?;
            let writable = schedule::writable_paths(&*ctx.store);
            let installed = schedule::install(&a.root, &binary, &state, &writable)?;
            if !ctx.quiet {
                for file in &installed.files {
                    println!("wrote {}", file.display());
                }
                match installed.enabled {
                    true => println!("certctl-renew.timer enabled and started"),
                    false => println!(
                        "systemd is not managing {} here: enable it with `systemctl enable --now certctl-renew.timer` on the target system",
                        a.root.display()
                    ),
                }
            }
        }
        Action::Status(a) => println!("{}", schedule::status(&a.root)?),
        Action::Uninstall(a) => {
            let removed = schedule::uninstall(&a.root)?;
            if !ctx.quiet {
                if removed.is_empty() {
                    println!("nothing to remove");
                }
                for file in removed {
                    println!("removed {}", file.display());
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
