//! `certctl completions SHELL` and the hidden `certctl man --out-dir DIR` (run at package build):
//! both generated from the clap definition, so they never drift from the flags.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use certctl::Error;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The directory the pages go to (certctl.1, certctl-issue.1, certctl-import-certbot.1, …)
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
}

/// Prints the completion script for `args.shell` on stdout.
pub fn completions(args: CompletionsArgs) -> Result<ExitCode, Error> {
    let mut cmd = super::command();
    clap_complete::generate(args.shell, &mut cmd, "certctl", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// Every man page: certctl(1) and one per visible subcommand at every level, as (file name, roff).
pub fn pages() -> Vec<(String, Vec<u8>)> {
    fn walk(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, out);
        }
        let man = clap_mangen::Man::new(cmd.clone());
        let mut roff = Vec::new();
        man.render(&mut roff)
            .expect("rendering into memory does not fail");
        // clap_mangen calls the after-help section EXTRA and fills it like prose; certctl's
        // after-help is the examples, one command a line, kept as written (.nf … .fi).
        let mut text = String::from_utf8_lossy(&roff).into_owned();
        if let Some(at) = text.find(".SH EXTRA\nExamples:\n") {
            let body = at + ".SH EXTRA\nExamples:\n".len();
            let end = text[body..]
                .find("\n.SH ")
                .map_or(text.len(), |e| body + e + 1);
            let examples = text[body..end].to_owned();
            text.replace_range(at..end, &format!(".SH EXAMPLES\n.nf\n{examples}.fi\n"));
        }
        out.push((man.get_filename(), text.into_bytes()));
    }
    let mut cmd = super::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, &mut out);
    out
}

/// Writes every page into `args.out_dir` (each written atomically, 0644).
pub fn man_pages(args: ManArgs) -> Result<ExitCode, Error> {
    if !args.out_dir.is_dir() {
        return Err(Error::Usage(format!(
            "--out-dir {} is not a directory",
            args.out_dir.display()
        )));
    }
    for (name, roff) in pages() {
        certctl::fsio::write_atomic(&args.out_dir.join(name), &roff, 0o644)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every visible subcommand at every level, as its path ("import certbot").
    fn subcommands() -> Vec<Vec<String>> {
        fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                let mut p = path.clone();
                p.push(sub.get_name().to_owned());
                out.push(p.clone());
                walk(sub, p, out);
            }
        }
        let mut out = Vec::new();
        walk(&super::super::command(), Vec::new(), &mut out);
        out
    }

    fn completion(shell: clap_complete::Shell) -> String {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut super::super::command(), "certctl", &mut buf);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn each_shells_completion_offers_every_subcommand() {
        let subs = subcommands();
        assert!(subs.len() > 20, "{subs:?}");
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let script = completion(shell);
            for path in &subs {
                let name = path.last().unwrap();
                assert!(
                    script.contains(name.as_str()),
                    "{shell}: no {}",
                    path.join(" ")
                );
            }
            // And the flags, including those the config file can set.
            assert!(
                script.contains("state-dir") && script.contains("key-type"),
                "{shell}"
            );
        }
        // fish names each subcommand in a `-a` completion of its parent.
        let fish = completion(clap_complete::Shell::Fish);
        for path in subs.iter().filter(|p| p.len() == 1) {
            assert!(
                fish.contains(&format!("-a \"{}\"", path[0])),
                "fish: {path:?}"
            );
        }
    }

    #[test]
    fn a_man_page_for_certctl_and_every_subcommand() {
        let pages = pages();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"certctl.1"), "{names:?}");
        for path in subcommands() {
            let file = format!("certctl-{}.1", path.join("-"));
            let (_, roff) = pages
                .iter()
                .find(|(n, _)| *n == file)
                .unwrap_or_else(|| panic!("no {file} in {names:?}"));
            let roff = String::from_utf8_lossy(roff);
            let title = format!(".TH certctl-{} 1", path.join("-"));
            assert!(
                roff.starts_with(".ie") || roff.contains(&title),
                "{file}: {roff}"
            );
            assert!(
                roff.contains(".SH NAME") && roff.contains(".SH SYNOPSIS"),
                "{file}"
            );
        }
        assert_eq!(pages.len(), subcommands().len() + 1, "{names:?}");
        let issue = &pages
            .iter()
            .find(|(n, _)| n == "certctl-issue.1")
            .unwrap()
            .1;
        let issue = String::from_utf8_lossy(issue);
        assert!(
            issue.contains(".SH EXAMPLES") && issue.contains("\\-\\-webroot /var/www/acme"),
            "{issue}"
        );
        assert!(
            issue.contains("CERTCTL_SERVER"),
            "the settings' notes are in the page"
        );
    }

    /// Every `certctl …` line of the README's sh blocks is among the examples its command shows
    /// after --help.
    #[test]
    fn every_readme_example_is_in_its_commands_help() {
        let readme = include_str!("../../README.md");
        let root = super::super::command();
        let normalize = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut in_sh = false;
        let mut checked = 0;
        for line in readme.lines() {
            if line.starts_with("```") {
                in_sh = !in_sh && line.trim() == "```sh";
                continue;
            }
            let Some(rest) = line.strip_prefix("certctl ").filter(|_| in_sh) else {
                continue;
            };
            let example = normalize(line.split(" #").next().unwrap());
            let mut words = rest.split_whitespace();
            let name = loop {
                match words.next() {
                    Some(w) if w.starts_with('-') => {
                        words.next();
                    }
                    Some(w) => break w,
                    None => panic!("no command in {line:?}"),
                }
            };
            let cmd = root
                .find_subcommand(name)
                .unwrap_or_else(|| panic!("README runs unknown command {name:?}: {line}"));
            let help = cmd
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                help.lines()
                    .any(|l| normalize(l.split(" #").next().unwrap()) == example),
                "`certctl {name} --help` lacks the README's example:\n{example}\n{help}"
            );
            checked += 1;
        }
        assert!(checked > 40, "only {checked} examples found");
    }
}
