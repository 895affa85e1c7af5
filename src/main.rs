//! The `certctl` binary: parse arguments, run the command, turn errors into one line + exit code.

mod cli;
mod logging;

use std::process::ExitCode;

use clap::FromArgMatches;

/// The exit code when stdout's reader went away (`certctl list | head -1`): what a shell
/// reports for a program SIGPIPE stopped (128 + 13).
const CLOSED_STDOUT: i32 = 141;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let matches = cli::command().get_matches();
    let cli = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    logging::init(cli.global.verbose, cli.global.quiet);
    match cli::run(cli, &matches) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("certctl: error: {}", one_line(&err));
            ExitCode::from(err.exit_code())
        }
    }
}

/// Every command prints with `println!`, which panics when stdout's reader is gone (Rust ignores
/// SIGPIPE). The one mechanism for all of them: a panic while stdout is a pipe or socket nobody
/// reads any more ends the process quietly with [`CLOSED_STDOUT`], as SIGPIPE would have. Any
/// other panic is reported as usual.
fn quiet_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if stdout_reader_gone() {
            std::process::exit(CLOSED_STDOUT);
        }
        report(info)
    }));
}

/// True when stdout is a pipe (or socket) whose reading end is closed: poll reports POLLERR on
/// it (a file or terminal never does). Polls without waiting.
fn stdout_reader_gone() -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let stdout = std::io::stdout();
    let mut fds = [PollFd::new(&stdout, PollFlags::OUT)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    poll(&mut fds, Some(&now)).is_ok()
        && fds[0].revents().intersects(PollFlags::ERR | PollFlags::HUP)
}

/// The error and its sources joined with ": ", without repeating what the message already says.
fn one_line(err: &certctl::Error) -> String {
    let mut line = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        let text = s.to_string();
        if !line.contains(&text) {
            line = format!("{line}: {text}");
        }
        source = s.source();
    }
    line.replace('\n', " ")
}
