//! The `certctl` binary: parse arguments, run the command, turn errors into one line + exit code.

mod cli;
mod logging;

use std::process::ExitCode;

use clap::FromArgMatches;

fn main() -> ExitCode {
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
