//! The lab the end-to-end tests run in: real pebble + pebble-challtestsrv (and, when asked, a
//! private nginx) on free loopback ports, in a temporary directory. Every process is stopped and
//! reaped when the [`Lab`] drops.
//!
//! Missing binaries fail loudly with the apt-get line to run; tests are never skipped.
//!
//! `process` starts and stops processes and finds free ports, `lab` runs pebble and certctl,
//! `nginx` the lab's private nginx, `pki` makes test CAs, `http` fetches pages for assertions;
//! this file holds the small assertion helpers.

#![allow(dead_code)]

pub mod backends;
pub mod dns;
pub mod front;
pub mod http;
pub mod lab;
pub mod netns;
pub mod nginx;
pub mod pki;
pub mod postgres;
pub mod process;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

pub use http::{http_get, http_get_at, https_get, https_get_at};
pub use lab::{Lab, LabOptions};
pub use pki::TestCa;
pub use process::{Subprocess, free_port, loopback};

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts success, showing stderr otherwise.
pub fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "certctl failed ({}):\n{}",
        out.status,
        stderr(out)
    );
}

/// The entry of a JSON array whose `field` is `value` (a certificate in `list --json`, a
/// lineage in an import report, a setting in `config show --json`).
pub fn entry<'a>(list: &'a serde_json::Value, field: &str, value: &str) -> &'a serde_json::Value {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list:#}"))
        .iter()
        .find(|e| e[field] == value)
        .unwrap_or_else(|| panic!("no {field} {value:?} in {list:#}"))
}

/// A `--json` findings array as "severity ID" lines (`error doctor.CAA_OTHER_CA`).
pub fn severity_ids(findings: &serde_json::Value) -> Vec<String> {
    findings
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {findings:#}"))
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["severity"].as_str().unwrap(),
                f["id"].as_str().unwrap()
            )
        })
        .collect()
}

/// `json` (a command's real `--json` output) is valid against `docs/schemas/NAME.schema.json`,
/// checked by python3-jsonschema (the schema itself too).
pub fn assert_schema(name: &str, json: &serde_json::Value) {
    let schema =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("docs/schemas/{name}.schema.json"));
    let script = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        cls = jsonschema.validators.validator_for(schema)\n\
        cls.check_schema(schema)\n\
        errors = sorted(cls(schema).iter_errors(json.load(sys.stdin)), key=str)\n\
        [print(list(e.absolute_path), e.message) for e in errors]\n\
        sys.exit(1 if errors else 0)\n";
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&schema)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (apt-get install -y python3-jsonschema)");
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        json.to_string().as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{name}.schema.json rejects the output:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
}

/// File mode bits.
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Retries `f` for up to 15 s until it returns Some: nginx reloads asynchronously, and a loaded
/// CI machine can be slow about it.
pub fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "condition not met within 15 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The real `systemd-analyze verify` accepts these unit files (syntax, directives, the binary
/// exists), with no warning.
pub fn assert_systemd_accepts(units: &[&Path]) {
    let verify = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .args(units)
        .output()
        .expect("systemd-analyze (apt-get install -y systemd)");
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify: {}",
        stderr(&verify)
    );
}
