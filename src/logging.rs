//! Diagnostics to stderr via tracing: `-v` info, `-vv` debug, `-vvv` trace, or `CERTCTL_LOG`.

use tracing_subscriber::EnvFilter;

/// Installs the subscriber. Colour only when stderr is a terminal and NO_COLOR is unset.
pub fn init(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "certctl=info",
        (false, 2) => "certctl=debug,instant_acme=debug",
        _ => "trace",
    };
    let filter = match quiet {
        true => EnvFilter::new(default),
        false => EnvFilter::try_from_env("CERTCTL_LOG").unwrap_or_else(|_| EnvFilter::new(default)),
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .without_time()
        .init();
}
