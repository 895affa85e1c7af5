//! Running one test in a private network namespace that has only loopback (`unshare -n`), so
//! its lab can use the real ports 80 and 443 as users have them, whatever else listens on this
//! machine and whatever other tests run at the same time.
//!
//! A test process cannot move its own threads into a new namespace safely, so the test runs
//! itself again: [`enter`] starts this test binary under `unshare -n` with only that test
//! selected and `CERTCTL_TEST_NETNS` set, and fails with the inner run's output unless exactly
//! that test ran and passed. Inside, [`enter`] returns true and the test does its work.
//!
//! ```ignore
//! #[test]
//! fn on_the_real_ports() {
//!     if !netns::enter("module::on_the_real_ports") {
//!         return; // it ran inside the namespace, and passed
//!     }
//!     let lab = Lab::with(LabOptions { real_ports: true, ..LabOptions::default() });
//!     …
//! }
//! ```

use std::process::Command;

const INSIDE: &str = "CERTCTL_TEST_NETNS";

/// True in the re-run inside the namespace.
pub fn inside() -> bool {
    std::env::var_os(INSIDE).is_some()
}

/// Inside the namespace: true (run the test). Outside: runs the test `path` (as the test
/// harness names it, `module::name`) inside a new one, asserts that it passed, and returns false.
pub fn enter(path: &str) -> bool {
    if inside() {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new("unshare")
        .args([
            "--net",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(&exe)
        .args([path, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .output()
        .expect("run unshare (apt-get install -y util-linux iproute2)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{path} in a private network namespace ({}):\n{stdout}\n{stderr}\n(unshare -n needs root or CAP_SYS_ADMIN)",
        out.status
    );
    false
}
