//! `certctl daemon --run-deadline`: a stuck run is stopped and the next one still happens.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::common::{Lab, LabOptions, assert_ok};

#[test]
fn a_stuck_run_is_stopped_at_its_deadline_and_the_next_run_happens() {
    let lab = Lab::with(LabOptions {
        validity_secs: Some(600),
        authz_reuse: Some(0),
        ..LabOptions::default()
    });
    assert_ok(&lab.issue_standalone(&["stuck.test"], &[]));
    // Every run renews the short-lived certificate, then hangs in the deploy hook.
    let marker = lab.dir.path().join("hook-started");
    let hook = format!("echo >> {}; sleep 600", marker.display());
    let mut daemon = lab
        .certctl([
            "daemon",
            "--cron",
            "*/1 * * * * *",
            "--run-deadline",
            "2s",
            "--deploy-hook",
            &hook,
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Two runs reached the hook: the first was stopped, and another came after it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&marker).map_or(0, |t| t.lines().count()) < 2 {
        assert!(Instant::now() < deadline, "no second run within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        std::process::Command::new("kill")
            .arg(daemon.id().to_string())
            .status()
            .unwrap()
            .success()
    );
    // A signal during a run waits for that run, which the deadline ends.
    let deadline = Instant::now() + Duration::from_secs(30);
    while daemon.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the daemon did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut log = String::new();
    daemon
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(
        log.contains("the renew run did not finish within 2 s; stopping it"),
        "{log}"
    );
    assert!(log.trim_end().ends_with("stopped"), "{log}");
    // The hooks went with their runs: no `sleep 600` is left behind.
    let left = std::process::Command::new("pgrep")
        .args(["-f", &format!("echo >> {}", marker.display())])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&left.stdout)
    );
    lab.assert_chain_verifies("stuck.test");
}
