//! `issue --webroot` as root, the way the timer runs it: a strict umask, and a webroot a web
//! user could have filled with symlinks.

use std::fs;
use std::os::unix::fs::symlink;
use std::process::{Command, Output};

use crate::common::{Lab, LabOptions, assert_ok, mode, stderr};

/// `cmd` run under `umask 077` (the systemd unit's UMask).
fn with_strict_umask(cmd: &Command) -> Output {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("umask 077; exec \"$0\" \"$@\"")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => sh.env(key, v),
            None => sh.env_remove(key),
        };
    }
    sh.output().unwrap()
}

fn issue_cmd(lab: &Lab, name: &str) -> Command {
    let port = lab.http_port.to_string();
    let url = lab.directory_url();
    lab.certctl([
        "issue",
        name,
        "--webroot",
        lab.webroot.to_str().unwrap(),
        "--http-port",
        &port,
        "--server",
        &url,
        "--ca-bundle",
        lab.ca_bundle.to_str().unwrap(),
        "--agree-tos",
    ])
}

#[test]
fn challenge_files_are_readable_by_nginx_under_a_strict_umask() {
    let lab = Lab::with(LabOptions {
        nginx: true,
        ..LabOptions::default()
    });
    // The self-check fetches each token through nginx (workers run as nobody): with 0700
    // directories it would answer 403.
    assert_ok(&with_strict_umask(&issue_cmd(&lab, "umask.test")));
    for dir in [".well-known", ".well-known/acme-challenge"] {
        assert_eq!(mode(&lab.webroot.join(dir)), 0o755, "{dir}");
    }
    lab.assert_chain_verifies("umask.test");
}

#[test]
fn a_symlinked_challenge_directory_is_refused_and_nothing_is_written_through_it() {
    let lab = Lab::with(LabOptions {
        nginx: true,
        ..LabOptions::default()
    });
    let target = lab.dir.path().join("roots-secrets");
    fs::create_dir(&target).unwrap();
    fs::create_dir(lab.webroot.join(".well-known")).unwrap();
    symlink(&target, lab.webroot.join(".well-known/acme-challenge")).unwrap();
    let out = issue_cmd(&lab, "link.test").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("refusing to write challenge files through")
            && err.contains(".well-known/acme-challenge"),
        "{err}"
    );
    assert_eq!(fs::read_dir(&target).unwrap().count(), 0, "nothing written");
    assert!(!lab.live("link.test").exists());
}
