//! `certctl config show`: every effective setting and where it comes from.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use certctl::Error;
use certctl::settings::Source;

use super::Ctx;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Each setting's effective value and its source: flag, environment, file (with its line) or
    /// default. Hook commands show their first word only (they may carry tokens).
    #[command(after_help = super::examples::CONFIG)]
    Show {
        /// Machine-readable: {"config_file", "settings": [{key, value, source, origin, env, flag}]}
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: ConfigArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    let ConfigCommand::Show { json } = args.command;
    let shown = ctx.settings.show();
    if json {
        let out = serde_json::json!({
            "config_file": ctx.settings.file,
            "settings": shown,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("settings serialize")
        );
        return Ok(ExitCode::SUCCESS);
    }
    match &ctx.settings.file {
        Some(path) => println!("config file: {}", path.display()),
        None => println!(
            "config file: none ({} does not exist)",
            certctl::settings::DEFAULT_PATH
        ),
    }
    let rows: Vec<[String; 3]> = shown
        .iter()
        .map(|s| {
            let source = match s.source {
                Source::Flag => format!("flag {}", s.origin),
                Source::Env => format!("env {}", s.origin),
                Source::File => format!("file {}", s.origin),
                Source::Default => format!("default ({})", s.origin),
            };
            [
                s.key.to_owned(),
                s.value.clone().unwrap_or_else(|| "-".into()),
                source,
            ]
        })
        .collect();
    for line in super::table(["KEY", "VALUE", "SOURCE"], &rows) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
