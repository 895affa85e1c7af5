//! `certctl status` against a real lab: pebble, the lab's nginx, certificates in every state a
//! person must tell apart (healthy, expiring, failing, and one whose renewal went live while nginx
//! still serves the old serial), the exit code and both outputs.

use crate::common::lab::Lab;
use crate::common::{assert_ok, assert_schema, entry, eventually, stderr};

/// `status --json` (the timer looked for under `root`) → (exit code, report).
fn status(lab: &Lab, root: &std::path::Path) -> (i32, serde_json::Value) {
    let out = lab
        .certctl(["status", "--json", "--root", root.to_str().unwrap()])
        .output()
        .unwrap();
    let report =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    assert_schema("status", &report);
    (out.status.code().unwrap(), report)
}

fn ids(cert: &serde_json::Value) -> Vec<String> {
    crate::common::severity_ids(&cert["findings"])
}

#[test]
fn status_tells_healthy_expiring_failing_and_stale_apart() {
    let mut lab = Lab::managed_nginx();
    let root = lab.dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();

    // Healthy: served by nginx, nothing to do. The timer installed (under a root without systemd).
    assert_ok(&lab.issue_site("healthy.test", &[]));
    assert_ok(
        &lab.certctl(["schedule", "install", "--root", root.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    let (code, report) = status(&lab, &root);
    let healthy = entry(&report["certificates"], "name", "healthy.test");
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(healthy["severity"], "ok");
    let served = healthy["served"].as_array().unwrap();
    assert!(
        !served.is_empty() && served.iter().all(|s| s["state"] == "live"),
        "{served:?}"
    );
    assert_eq!(healthy["served"][0]["name"], "healthy.test");
    assert!(healthy["renewal"]["next_renewal"].as_i64().unwrap() > report["now"].as_i64().unwrap());
    assert!(healthy["lifetime_days"].as_i64().unwrap() >= healthy["days_left"].as_i64().unwrap());
    assert_eq!(report["scheduler"]["timer"]["installed"], true);

    // Failing: its renewal cannot reach the CA (below).
    assert_ok(&lab.issue_site("failing.test", &[]));
    assert_ok(&lab.issue_site("stale.test", &[]));
    // Expiring: brought by hand, five days left of an 85-day lifetime; certctl cannot renew it.
    let install =
        crate::common::pki::byo_install_args(&lab.dir.path().join("byo"), "expiring.test", 80, 5);
    assert_ok(&lab.certctl(&install).output().unwrap());

    // Stale: its renewal went live, and certctl died before reloading nginx (last: every issue
    // --nginx reloads).
    let old_serial =
        entry(&status(&lab, &root).1["certificates"], "name", "stale.test")["serial"].clone();
    let out = lab
        .certctl(["renew", "stale.test", "--force"])
        .env("CERTCTL_FAILPOINT", "renew.before_reload")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the failpoint stops the run");

    lab.stop_pebble();
    let out = lab
        .certctl(["renew", "failing.test", "--force", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let renewed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_schema("renew", &renewed);
    assert_eq!(
        entry(&renewed["certs"], "name", "failing.test")["result"],
        "failed"
    );

    let (code, report) = status(&lab, &root);
    assert_eq!(code, 2, "{report:#}");
    let certs = &report["certificates"];
    assert!(ids(entry(certs, "name", "healthy.test")).is_empty());
    let stale = entry(certs, "name", "stale.test");
    assert_ne!(stale["serial"], old_serial, "the renewal went live");
    assert!(
        ids(stale).contains(&"error status.OLD_SERIAL".to_owned()),
        "{stale:#}"
    );
    let stale_served = stale["served"].as_array().unwrap();
    assert!(
        stale_served
            .iter()
            .all(|s| s["state"] == "other-serial" && s["served"] == old_serial),
        "{stale_served:?}"
    );
    let expiring = entry(certs, "name", "expiring.test");
    assert_eq!(ids(expiring), ["warning status.EXPIRING"], "{expiring:#}");
    let (left, life) = (
        expiring["days_left"].as_i64().unwrap(),
        expiring["lifetime_days"].as_i64().unwrap(),
    );
    assert!(left <= 5 && life >= 84, "{left} of {life} days");
    assert_eq!(expiring["served"], serde_json::json!([]));
    let failing = entry(certs, "name", "failing.test");
    assert_eq!(
        ids(failing),
        ["warning status.RENEWAL_FAILED"],
        "{failing:#}"
    );
    assert_eq!(failing["renewal"]["last_result"], "failed");
    // An unreachable CA is the kind of failure that fixes itself: a warning, not yet a person.
    assert_eq!(failing["renewal"]["failure_kind"], "transient");
    assert!(
        failing["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cannot talk to the ACME server"),
        "{failing:#}"
    );

    // The screen says the same.
    let out = lab
        .certctl(["status", "--root", root.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let screen = String::from_utf8(out.stdout).unwrap();
    for want in [
        "healthy.test",
        "live serial (",
        "NOT the live serial (0/",
        "status.OLD_SERIAL",
        "status.EXPIRING",
        "status.RENEWAL_FAILED",
        "1 in a row",
        "timer: installed",
        "needs a person",
    ] {
        assert!(screen.contains(want), "no {want:?} in\n{screen}");
    }

    // nginx reloaded: it serves the live serial; what is left are warnings.
    lab.reload_nginx();
    let (code, report) = eventually(|| {
        let (code, report) = status(&lab, &root);
        (code != 2).then_some((code, report))
    });
    assert_eq!(code, 1, "{report:#}");
    assert!(ids(entry(&report["certificates"], "name", "stale.test")).is_empty());
}

#[test]
fn status_sees_a_running_daemon_and_its_next_run() {
    let lab = Lab::start();
    assert_ok(&lab.issue_standalone(&["daemon.test"], &[]));
    let nowhere = lab.dir.path().join("no-systemd");
    // Nothing runs renew: a warning.
    let (code, report) = status(&lab, &nowhere);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["findings"][0]["id"], "status.NO_SCHEDULER");

    let daemon = crate::common::Subprocess::spawn(
        "certctl daemon",
        lab.certctl(["daemon", "--cron", "0 0 7 * * *"]),
        lab.dir.path().join("daemon.log"),
    );
    let (code, report) = eventually(|| {
        let (code, report) = status(&lab, &nowhere);
        (!report["scheduler"]["daemon"].is_null()).then_some((code, report))
    });
    assert_eq!(code, 0, "{report:#}");
    let heartbeat = &report["scheduler"]["daemon"];
    assert_eq!(heartbeat["cron"], "0 0 7 * * *");
    assert!(heartbeat["next_run"].as_i64().unwrap() > report["now"].as_i64().unwrap());
    let out = lab
        .certctl(["status", "--root", nowhere.to_str().unwrap()])
        .output()
        .unwrap();
    let screen = String::from_utf8(out.stdout).unwrap();
    assert!(screen.contains("daemon: running (pid "), "{screen}");

    // Stopped, it says so: the heartbeat goes with it.
    drop(daemon);
    let (code, report) = status(&lab, &nowhere);
    assert!(report["scheduler"]["daemon"].is_null(), "{report:#}");
    assert_eq!(code, 1);
}
