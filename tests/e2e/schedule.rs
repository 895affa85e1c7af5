//! The systemd units follow the renewal records: a webroot added after `schedule install` is
//! writable under the timer too (the paths drop-in certctl rewrites after `issue`).

use std::fs;

use crate::common::{Lab, LabOptions, assert_ok};

#[test]
fn a_webroot_added_after_install_becomes_writable_for_the_timer() {
    let lab = Lab::with(LabOptions {
        nginx: true,
        ..LabOptions::default()
    });
    let root = lab.dir.path().join("root");
    let root_arg = root.to_str().unwrap();
    assert_ok(
        &lab.certctl(["schedule", "install", "--root", root_arg])
            .output()
            .unwrap(),
    );
    let units = root.join("etc/systemd/system");
    let service = units.join("certctl-renew.service");
    let timer = units.join("certctl-renew.timer");
    let dropin = units.join("certctl-renew.service.d/certctl-paths.conf");
    let webroot = lab.webroot.display().to_string();
    assert!(!fs::read_to_string(&dropin).unwrap().contains(&webroot));
    let text = fs::read_to_string(&service).unwrap();
    assert!(text.contains("\nUMask=0022\n"), "{text}");

    // A certificate with a webroot, issued after the timer was installed.
    let port = lab.http_port.to_string();
    assert_ok(&lab.issue(
        &["late.test"],
        &["--webroot", &webroot, "--http-port", &port],
    ));
    let paths = fs::read_to_string(&dropin).unwrap();
    assert!(
        paths.contains(&format!("ReadWritePaths=-{webroot}\n")),
        "{paths}"
    );

    // The real systemd reads the units with the drop-in.
    crate::common::assert_systemd_accepts(&[&service, &timer]);

    // Uninstall takes the drop-in too, and a later issue does not bring it back.
    assert_ok(
        &lab.certctl(["schedule", "uninstall", "--root", root_arg])
            .output()
            .unwrap(),
    );
    assert!(!dropin.exists() && !dropin.parent().unwrap().exists());
    assert_ok(&lab.issue(
        &["later.test"],
        &["--webroot", &webroot, "--http-port", &port],
    ));
    assert!(!dropin.exists());
}
