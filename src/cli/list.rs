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
}

pub fn run(args: ListArgs, ctx: &Ctx) -> Result<ExitCode, Error> {
    let now = certctl::ops::unix_now();
    let entries = certctl::ops::list::list(&ctx.store, now)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&entries).expect("entries serialize")
        );
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        if !ctx.quiet {
            eprintln!("no certificates in {}", ctx.store.layout().root().display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 6]> = entries
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
                e.days_left.map_or_else(|| "-".into(), |d| d.to_string()),
                e.issuer
                    .clone()
                    .or_else(|| e.problem.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["NAME", "NAMES", "KEY", "NOT AFTER", "DAYS", "ISSUER"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let print_row = |cells: &[&str]| {
        let line: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    };
    print_row(&header);
    for row in &rows {
        print_row(&row.each_ref().map(String::as_str));
    }
    Ok(ExitCode::SUCCESS)
}
