//! Failpoints for the fault-matrix tests: `CERTCTL_FAILPOINT=STEP` makes a debug build abort
//! at that step, as a SIGKILL would (no destructors, no cleanup; the kernel drops its locks).
//! Release builds compile every call to nothing.

/// Aborts the process when `CERTCTL_FAILPOINT` names `step` (debug builds only).
#[inline]
pub fn hit(step: &'static str) {
    #[cfg(debug_assertions)]
    if std::env::var_os("CERTCTL_FAILPOINT").is_some_and(|v| v == step) {
        eprintln!("certctl: failpoint {step}: aborting");
        std::process::abort();
    }
    #[cfg(not(debug_assertions))]
    let _ = step;
}

/// Every step a failpoint can name, in the order a run passes them (the fault matrix walks
/// this list).
pub const STEPS: &[&str] = &[
    "issue.after_order",
    "store.after_version_dir",
    "store.after_archive",
    "store.before_swap",
    "store.after_swap",
    "issue.after_install",
    "issue.after_nginx",
    "issue.after_hook",
    "renew.after_install",
    "renew.before_reload",
    "renew.after_served_check",
    "renew.after_rollback",
    "renew.after_hooks",
];
