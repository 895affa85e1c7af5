//! `certctl renew` against pebble issuing short-lived certificates (due at once) and a private
//! nginx.

use std::fs;
use std::time::Instant;

use crate::common::{Lab, LabOptions, assert_ok, eventually, stderr};

/// Certificates valid for ten minutes: under a day, so due for renewal at once. pebble never
/// reuses an authorization (but about 1% of the time, see below), so renewals are validated again.
fn short_lived(managed_nginx: bool, nginx: bool) -> Lab {
    Lab::with(LabOptions {
        managed_nginx,
        nginx,
        validity_secs: Some(600),
        authz_reuse: Some(0),
        ..LabOptions::default()
    })
}

fn renew(lab: &Lab, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["renew"];
    args.extend_from_slice(extra);
    lab.certctl(&args).output().unwrap()
}

fn list_json(lab: &Lab) -> serde_json::Value {
    let out = lab.certctl(["list", "--json"]).output().unwrap();
    assert_ok(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `issue NAME --webroot <lab webroot served by nginx on the lab's HTTP port>` plus `extra`.
fn issue_webroot(lab: &Lab, name: &str, extra: &[&str]) {
    let webroot = lab.webroot.display().to_string();
    let port = lab.http_port.to_string();
    let mut args = vec!["--webroot", &webroot, "--http-port", &port];
    args.extend_from_slice(extra);
    assert_ok(&lab.issue(&[name], &args));
}

fn live_cert(lab: &Lab, name: &str) -> String {
    fs::read_to_string(lab.live(name).join("cert.pem")).unwrap()
}

#[test]
fn renew_replaces_due_certificates_reloads_nginx_once_and_runs_the_hook() {
    let lab = short_lived(true, false);
    let site = lab.site_dir();
    let hook_log = lab.dir.path().join("hook.log");
    let hook = format!(
        "echo \"$CERTCTL_NAME|$CERTCTL_DOMAINS|$CERTCTL_FULLCHAIN|$CERTCTL_PRIVKEY\" >> {}",
        hook_log.display()
    );
    assert_ok(&lab.issue_nginx(
        &["site.test", "www.site.test"],
        &["--root", site.to_str().unwrap(), "--deploy-hook", &hook],
    ));
    let before = live_cert(&lab, "site.test");
    assert_eq!(lab.served_leaf("site.test", None).trim(), before.trim());
    fs::remove_file(&hook_log).unwrap();

    // Nothing on the command line but `renew`: the record has it all.
    let out = renew(&lab, &[]);
    assert_ok(&out);
    let after = live_cert(&lab, "site.test");
    assert_ne!(after, before, "a new certificate is live");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("renewed   site.test"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // nginx serves it (the reload happened, and the post-deploy check saw it).
    assert_eq!(lab.served_leaf("www.site.test", None).trim(), after.trim());
    let hook_runs = fs::read_to_string(&hook_log).unwrap();
    let live = lab.live("site.test");
    assert_eq!(
        hook_runs,
        format!(
            "site.test|site.test www.site.test|{}|{}\n",
            live.join("fullchain.pem").display(),
            live.join("privkey.pem").display()
        ),
        "the hook ran once, with the name and paths"
    );
    let entry = &list_json(&lab)[0];
    assert_eq!(entry["renewal"]["last_result"], "renewed");
    assert_eq!(entry["renewal"]["failures"], 0);
    assert!(entry["renewal"]["next_renewal"].as_i64().is_some());
    lab.assert_chain_verifies("site.test");
}

#[test]
fn a_failed_renewal_leaves_live_alone_records_it_and_backs_off() {
    let mut lab = short_lived(false, true);
    issue_webroot(&lab, "a.test", &["--no-self-check"]);
    let live = lab.live("a.test");
    let snapshot = || -> (Vec<Vec<u8>>, std::path::PathBuf) {
        let files = ["cert.pem", "fullchain.pem", "privkey.pem"]
            .iter()
            .map(|f| fs::read(live.join(f)).unwrap())
            .collect();
        (files, fs::read_link(&live).unwrap())
    };

    // The web server is gone: the CA cannot validate.
    lab.stop_nginx();
    let metrics = lab.dir.path().join("certctl.prom");
    let failure_log = lab.dir.path().join("failure.json");
    let on_failure = format!("cat > {}", failure_log.display());
    // pebble 2.4 still reuses a valid authorization about 1% of the time at
    // PEBBLE_AUTHZREUSE=0, and then needs no validation: such a run renews, and the next fails.
    let mut attempts = 0;
    let (before, out) = loop {
        let before = snapshot();
        let out = renew(
            &lab,
            &[
                "--metrics-file",
                metrics.to_str().unwrap(),
                "--on-failure-hook",
                &on_failure,
            ],
        );
        attempts += 1;
        if out.status.code() != Some(0) || attempts == 3 {
            break (before, out);
        }
    };
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stderr(&out),
        String::from_utf8_lossy(&out.stdout)
    );
    let (files, target) = before;
    let err = stderr(&out);
    assert!(
        err.contains("renewal of a.test failed") && err.contains("1 of 1 certificate(s) failed"),
        "{err}"
    );
    assert_eq!(fs::read_link(&live).unwrap(), target, "live/ not swapped");
    for (file, bytes) in ["cert.pem", "fullchain.pem", "privkey.pem"]
        .iter()
        .zip(&files)
    {
        assert_eq!(
            &fs::read(live.join(file)).unwrap(),
            bytes,
            "{file} unchanged"
        );
    }
    let entry = &list_json(&lab)[0];
    assert_eq!(entry["renewal"]["last_result"], "failed", "{entry}");
    assert_eq!(entry["renewal"]["failures"], 1);
    assert!(
        entry["renewal"]["last_error"]
            .as_str()
            .unwrap()
            .contains("a.test")
    );
    assert!(entry["renewal"]["next_retry"].as_i64().is_some());
    let failure: serde_json::Value =
        serde_json::from_slice(&fs::read(&failure_log).unwrap()).unwrap();
    assert_eq!(
        (failure["name"].as_str(), failure["result"].as_str()),
        (Some("a.test"), Some("failed"))
    );
    let explain = lab.certctl(["list", "--explain"]).output().unwrap();
    let text = String::from_utf8_lossy(&explain.stdout);
    for line in [
        "ARI:",
        "next renewal:  due now",
        "backstop:",
        "last attempt:",
        "last failure:",
        "next retry:    not before",
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }
    let prom = fs::read_to_string(&metrics).unwrap();
    assert!(
        prom.contains("certctl_renewal_last_success{name=\"a.test\"} 0"),
        "{prom}"
    );
    assert!(prom.contains("certctl_certificate_expiry_timestamp_seconds{name=\"a.test\"}"));

    // The next run inside the backoff does not hammer the CA.
    let out = renew(&lab, &[]);
    assert_ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("waiting   a.test"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(list_json(&lab)[0]["renewal"]["failures"], 1);
}

/// Points the lab's managed site at copies of the live files, so nginx keeps serving the old
/// certificate whatever is live.
fn serve_copies(lab: &Lab, name: &str) {
    let copies = lab.dir.path().join("copies");
    fs::create_dir_all(&copies).unwrap();
    let live = lab.live(name);
    for f in ["fullchain.pem", "privkey.pem"] {
        fs::copy(live.join(f), copies.join(f)).unwrap();
    }
    let site_file = lab
        .nginx_prefix
        .join(format!("sites-available/certctl-{name}.conf"));
    let text = fs::read_to_string(&site_file)
        .unwrap()
        .replace(&live.display().to_string(), &copies.display().to_string());
    fs::write(&site_file, text).unwrap();
}

#[test]
fn nginx_serving_a_copy_is_caught_and_the_previous_set_restored() {
    let lab = Lab::managed_nginx();
    assert_ok(&lab.issue_site("site.test", &[]));
    serve_copies(&lab, "site.test");
    let live = lab.live("site.test");
    let target = fs::read_link(&live).unwrap();

    let out = renew(&lab, &["--force"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("not the new") && err.contains("previous certificate is live again"),
        "{err}"
    );
    assert_eq!(
        fs::read_link(&live).unwrap(),
        target,
        "previous live set restored"
    );
    assert_eq!(list_json(&lab)[0]["renewal"]["last_result"], "failed");
}

#[test]
fn no_rollback_to_a_certificate_that_expires_within_a_day() {
    // Ten-minute certificates: the previous one is no better than the new one.
    let lab = short_lived(true, false);
    assert_ok(&lab.issue_site("site.test", &[]));
    serve_copies(&lab, "site.test");
    let live = lab.live("site.test");
    let target = fs::read_link(&live).unwrap();

    let out = renew(&lab, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("not the new") && err.contains("expires within a day"),
        "{err}"
    );
    assert_ne!(
        fs::read_link(&live).unwrap(),
        target,
        "the new set stays live"
    );
}

#[test]
fn nothing_due_contacts_no_ca_and_two_concurrent_runs_renew_once() {
    // Long-lived certificates: nothing is due, and with pebble gone the run still succeeds fast.
    let mut lab = Lab::start();
    assert_ok(&lab.issue_standalone(&["calm.test"], &[]));
    lab.stop_pebble();
    let started = Instant::now();
    let out = renew(&lab, &[]);
    assert_ok(&out);
    assert_eq!(stderr(&out), "", "no CA contacted, nothing to say");
    assert!(out.stdout.is_empty());
    eprintln!("nothing-due renew took {:?}", started.elapsed());
    let entry = &list_json(&lab)[0];
    assert_eq!(entry["renewal"]["reason"], "lifetime");
    assert_eq!(
        entry["renewal"]["ari_offered"], false,
        "pebble 2.4 offers no ARI"
    );

    // Two runs at once over two due certificates: each certificate renewed exactly once.
    let lab = short_lived(false, true);
    for name in ["one.test", "two.test"] {
        issue_webroot(&lab, name, &[]);
    }
    let runs: Vec<_> = (0..2)
        .map(|_| lab.certctl(["renew"]).spawn().unwrap())
        .collect();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert_ok(&out);
    }
    for name in ["one.test", "two.test"] {
        let versions = fs::read_dir(lab.state_dir.join("certs").join(name).join("archive"))
            .unwrap()
            .count();
        assert_eq!(versions, 2, "{name}: issued once, renewed once");
        lab.assert_chain_verifies(name);
    }
}

#[test]
fn dry_run_orders_for_real_and_installs_nothing() {
    let lab = short_lived(false, true);
    issue_webroot(&lab, "dry.test", &[]);
    let target = fs::read_link(lab.live("dry.test")).unwrap();
    let out = renew(&lab, &["--dry-run", "--server", &lab.directory_url()]);
    assert_ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("dry run   dry.test"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(fs::read_link(lab.live("dry.test")).unwrap(), target);
    let out = renew(&lab, &["nope.test"]);
    assert_eq!(out.status.code(), Some(2));
    eventually(|| Some(()));
}

#[test]
fn schedule_install_writes_units_that_systemd_accepts_and_uninstall_removes_them() {
    let lab = Lab::start();
    let root = lab.dir.path().join("root");
    let root_arg = root.to_str().unwrap();
    let out = lab
        .certctl(["schedule", "install", "--root", root_arg])
        .output()
        .unwrap();
    assert_ok(&out);
    let units = root.join("etc/systemd/system");
    let service = units.join("certctl-renew.service");
    let timer = units.join("certctl-renew.timer");
    let text = fs::read_to_string(&service).unwrap();
    assert!(
        text.contains(&format!(
            "ExecStart={} --quiet --state-dir {} renew",
            fs::canonicalize(env!("CARGO_BIN_EXE_certctl"))
                .unwrap()
                .display(),
            lab.state_dir.display()
        )),
        "{text}"
    );
    // The real systemd checks both units (syntax, directives, the binary exists).
    crate::common::assert_systemd_accepts(&[&service, &timer]);
    let status = lab
        .certctl(["schedule", "status", "--root", root_arg])
        .output()
        .unwrap();
    assert_ok(&status);
    assert!(String::from_utf8_lossy(&status.stdout).contains("installed at"));

    // A unit certctl did not write is left alone: an operational refusal (exit 1), as for an
    // nginx file certctl does not own; the invocation itself was fine.
    fs::write(&timer, "[Timer]\nOnCalendar=daily\n").unwrap();
    let out = lab
        .certctl(["schedule", "install", "--root", root_arg])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("was not written by certctl"));
    assert_eq!(
        fs::read_to_string(&timer).unwrap(),
        "[Timer]\nOnCalendar=daily\n"
    );
    fs::remove_file(&timer).unwrap();
    assert_ok(
        &lab.certctl(["schedule", "install", "--root", root_arg])
            .output()
            .unwrap(),
    );
    assert_ok(
        &lab.certctl(["schedule", "uninstall", "--root", root_arg])
            .output()
            .unwrap(),
    );
    assert!(!service.exists() && !timer.exists());
}

#[test]
fn daemon_renews_on_its_cron_schedule_and_stops_cleanly_on_sigterm() {
    let lab = short_lived(false, true);
    issue_webroot(&lab, "cron.test", &[]);
    let archive = lab.state_dir.join("certs/cron.test/archive");
    let mut daemon = lab
        .certctl(["daemon", "--cron", "*/1 * * * * *"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Every second: the short-lived certificate is renewed at least once.
    eventually(|| (fs::read_dir(&archive).unwrap().count() >= 2).then_some(()));
    let pid = daemon.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .arg(&pid)
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut log = String::new();
    std::io::Read::read_to_string(daemon.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(status.success(), "{status}: {log}");
    assert!(log.contains("run done: 1 renewed, 0 failed"), "{log}");
    assert!(log.trim_end().ends_with("stopped"), "{log}");
    // Whatever the moment of the signal, live/ points at a complete version.
    lab.assert_chain_verifies("cron.test");

    let out = lab
        .certctl(["daemon", "--cron", "every tuesday"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--cron"), "{}", stderr(&out));
}

#[test]
fn verify_reports_for_monitoring_and_revoke_stops_renewal() {
    let lab = Lab::start();
    assert_ok(&lab.issue_standalone(&["mon.test"], &[]));
    let bundle = lab.ca_bundle.to_str().unwrap();
    let verify = |args: &[&str]| {
        let mut all = vec!["verify"];
        all.extend_from_slice(args);
        lab.certctl(&all).output().unwrap()
    };
    // The record's bundle holds pebble's root: a managed certificate verifies as it is.
    let out = verify(&["mon.test"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&verify(&["mon.test", "--json"]).stdout).unwrap();
    crate::common::assert_schema("verify", &json);
    assert_eq!(json["status"], "ok");
    // Expiring within the warning window (pebble's certificates last years; ask for more).
    let out = verify(&["mon.test", "--warn-days", "4000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("WARNING  validity"));
    // Files: wrong key, missing intermediate (no root reachable), wrong host: critical.
    let live = lab.live("mon.test");
    let other = lab.dir.path().join("other.key");
    let key = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&other)
        .output()
        .unwrap();
    assert!(key.status.success());
    let cert = live.join("cert.pem");
    let files = |extra: &[&str]| {
        let mut args = vec!["--cert", cert.to_str().unwrap(), "--ca-bundle", bundle];
        args.extend_from_slice(extra);
        verify(&args)
    };
    let chain = live.join("chain.pem");
    let key_ok = live.join("privkey.pem");
    let out = files(&[
        "--chain",
        chain.to_str().unwrap(),
        "--key",
        key_ok.to_str().unwrap(),
        "--host",
        "mon.test",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = files(&[
        "--chain",
        chain.to_str().unwrap(),
        "--key",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("CRITICAL key"));
    let out = files(&[]);
    assert_eq!(out.status.code(), Some(2), "missing intermediate");
    assert!(String::from_utf8_lossy(&out.stdout).contains("CRITICAL trust"));
    let out = files(&["--chain", chain.to_str().unwrap(), "--host", "evil.test"]);
    assert_eq!(out.status.code(), Some(2));

    // Revoke: the CA accepts, certctl stops renewing it, and a compromised key is not reused.
    let bad = lab
        .certctl(["revoke", "mon.test", "--reason", "stolen"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let out = lab
        .certctl(["revoke", "mon.test", "--reason", "keyCompromise"])
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(list_json(&lab)[0]["not_renewed"], "revoked (keyCompromise)");
    let out = renew(&lab, &["--force"]);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("skipped   mon.test: revoked"));
    let again = lab.certctl(["revoke", "mon.test"]).output().unwrap();
    assert_eq!(
        again.status.code(),
        Some(1),
        "already revoked: the CA says so"
    );
    let reuse = lab.issue_standalone(&["mon.test"], &["--reuse-key"]);
    assert_eq!(reuse.status.code(), Some(2), "{}", stderr(&reuse));
    assert_ok(&lab.issue_standalone(&["mon.test"], &[]));
    assert!(
        list_json(&lab)[0]["renewal"].is_object(),
        "a new certificate renews again"
    );
}

#[test]
fn standalone_certificates_take_turns_on_the_http_port() {
    let lab = short_lived(false, false);
    for name in ["s1.test", "s2.test", "s3.test"] {
        assert_ok(&lab.issue_standalone(&[name], &[]));
    }
    let out = renew(&lab, &["--concurrency", "3"]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("renewed   ").count(), 3, "{text}");
}

#[test]
fn a_version_installed_but_never_deployed_is_deployed_by_the_next_run() {
    // Long-lived certificates: nothing is due, so only the undeployed version gives work.
    let lab = Lab::managed_nginx();
    assert_ok(&lab.issue_site("site.test", &[]));
    let state_file = lab.state_dir.join("certs/site.test/state.json");
    let state: serde_json::Value = serde_json::from_slice(&fs::read(&state_file).unwrap()).unwrap();
    assert_eq!(state["deployed_version"], 1);

    // A run stopped between the live swap and the reload: version 2 is live, never deployed.
    let archive = lab.state_dir.join("certs/site.test/archive");
    let copy = std::process::Command::new("cp")
        .arg("-a")
        .arg(archive.join("1"))
        .arg(archive.join("2"))
        .status()
        .unwrap();
    assert!(copy.success());
    // A version made this way has done none of its deploy (the copy took version 1's marks).
    fs::remove_dir_all(archive.join("2/.deployed")).unwrap();
    let live = lab.live("site.test");
    fs::remove_file(&live).unwrap();
    std::os::unix::fs::symlink("../certs/site.test/archive/2", &live).unwrap();

    let out = renew(&lab, &[]);
    assert_ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("renewed   site.test"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let state: serde_json::Value = serde_json::from_slice(&fs::read(&state_file).unwrap()).unwrap();
    assert_eq!(state["deployed_version"], 2, "deployed now");
    let again = renew(&lab, &[]);
    assert_ok(&again);
    assert!(again.stdout.is_empty(), "nothing left to do");
}
