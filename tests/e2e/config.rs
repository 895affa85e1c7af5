//! The config file (`--config`, `CERTCTL_CONFIG`): real issues take their CA, bundle and key type
//! from it, the environment and flags beat it, `config show` says where each value comes from,
//! and a bad file stops every command before it runs.

use std::fs;
use std::path::Path;

use crate::common::lab::Lab;
use crate::common::{assert_ok, assert_schema, entry, stderr};

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
}

fn key_type(lab: &Lab, name: &str) -> String {
    let out = lab.certctl(["list", "--json"]).output().unwrap();
    assert_ok(&out);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema("list", &list);
    entry(&list, "name", name)["key_type"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn issue_takes_the_file_and_flags_and_the_environment_beat_it() {
    let lab = Lab::start();
    let config = lab.dir.path().join("certctl.toml");
    write(
        &config,
        &format!(
            "# the lab's CA\n[acme]\nserver = \"{}\"\nca_bundle = \"{}\"\nkey_type = \"rsa-2048\"\nemail = \"ops@example.com\"\n",
            lab.directory_url(),
            lab.ca_bundle.display()
        ),
    );
    let port = lab.http_port.to_string();
    let issue = |extra: &[&str], env: Option<(&str, &str)>| {
        let mut cmd = lab.certctl(["--config", config.to_str().unwrap(), "issue", "cfg.test"]);
        cmd.args(["--standalone", "--http-port", &port, "--agree-tos"])
            .args(extra);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    // No --server, no --ca-bundle, no --key-type: all from the file.
    assert_ok(&issue(&[], None));
    assert_eq!(key_type(&lab, "cfg.test"), "rsa-2048");
    // The environment beats the file.
    assert_ok(&issue(&[], Some(("CERTCTL_KEY_TYPE", "ecdsa-p384"))));
    assert_eq!(key_type(&lab, "cfg.test"), "ecdsa-p384");
    // The flag beats both.
    assert_ok(&issue(
        &["--key-type", "ecdsa-p256"],
        Some(("CERTCTL_KEY_TYPE", "ecdsa-p384")),
    ));
    assert_eq!(key_type(&lab, "cfg.test"), "ecdsa-p256");

    // `config show` with the same file (through CERTCTL_CONFIG this time).
    let out = lab
        .certctl(["config", "show", "--json"])
        .env("CERTCTL_CONFIG", &config)
        .env("CERTCTL_CONCURRENCY", "7")
        .output()
        .unwrap();
    assert_ok(&out);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema("config-show", &shown);
    assert_eq!(shown["config_file"], config.to_str().unwrap());
    let setting = |key: &str| entry(&shown["settings"], "key", key).clone();
    assert_eq!(setting("acme.server")["value"], lab.directory_url());
    assert_eq!(setting("acme.server")["source"], "file");
    assert_eq!(
        setting("acme.server")["origin"],
        format!("{}:3", config.display())
    );
    assert_eq!(
        setting("acme.key_type")["origin"],
        format!("{}:5", config.display())
    );
    assert_eq!(setting("renew.concurrency")["value"], "7");
    assert_eq!(setting("renew.concurrency")["source"], "env");
    assert_eq!(setting("store.state_dir")["source"], "flag");
    assert_eq!(
        setting("store.state_dir")["value"],
        lab.state_dir.to_str().unwrap()
    );
    assert_eq!(setting("hooks.deploy")["source"], "default");
    assert_eq!(setting("hooks.deploy")["value"], serde_json::Value::Null);

    // The table says the same, a line per setting.
    let out = lab
        .certctl(["--config", config.to_str().unwrap(), "config", "show"])
        .output()
        .unwrap();
    assert_ok(&out);
    let table = String::from_utf8(out.stdout).unwrap();
    let line = table
        .lines()
        .find(|l| l.starts_with("acme.key_type"))
        .unwrap();
    assert!(
        line.contains("rsa-2048") && line.contains(&format!("file {}:5", config.display())),
        "{table}"
    );
}

#[test]
fn a_bad_config_file_stops_every_command_with_its_line() {
    let lab = Lab::start();
    let dir = lab.dir.path();
    let unknown = dir.join("unknown.toml");
    write(
        &unknown,
        "[acme]\nemail = \"ops@example.com\"\n\n[renew]\nconcurency = 3\n",
    );
    let bad_value = dir.join("bad-value.toml");
    write(&bad_value, "[acme]\nkey_type = \"dsa-1024\"\n");
    let hook_marker = dir.join("hook-ran");
    let cases = [
        (&unknown, ":5: ", "concurency"),
        (&bad_value, ":2: acme.key_type: ", "dsa-1024"),
    ];
    for (file, at, says) in cases {
        for command in [
            vec!["list"],
            vec!["config", "show"],
            vec![
                "issue",
                "bad.test",
                "--standalone",
                "--server",
                &lab.directory_url(),
            ],
        ] {
            let out = lab
                .certctl(["--config", file.to_str().unwrap()])
                .args(&command)
                .env(
                    "CERTCTL_DEPLOY_HOOK",
                    format!("touch {}", hook_marker.display()),
                )
                .output()
                .unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{command:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.contains(&format!("{}{at}", file.display())) && err.contains(says),
                "{command:?}: {err}"
            );
            assert!(
                out.stdout.is_empty(),
                "{command:?} printed {:?}",
                out.stdout
            );
        }
    }
    // Nothing ran: no state written, no hook.
    assert!(!lab.state_dir.join("certs").exists());
    assert!(!hook_marker.exists());

    // A config file named but missing is bad input too; the default path missing is fine.
    let out = lab
        .certctl(["list"])
        .env("CERTCTL_CONFIG", dir.join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("missing.toml"));
    // A bad variable is refused the same way, naming it.
    let out = lab
        .certctl(["list"])
        .env("CERTCTL_CONCURRENCY", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("CERTCTL_CONCURRENCY (renew.concurrency)"),
        "{}",
        stderr(&out)
    );
}
