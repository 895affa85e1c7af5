//! Waiting for the store's locks. Every wait is bounded and asynchronous (try, then sleep), so a
//! run never blocks the runtime another task needs to release the lock, and Ctrl-C (a select in
//! the CLI) interrupts it.

use std::path::Path;
use std::time::Duration;

use crate::Error;
use crate::store::{CertStore, StoreError, StoreLock};

/// How long `issue`, `revoke` and `install-cert` wait for another certctl working on the same
/// certificate (renew has `--lock-wait`).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(120);

/// How often a busy lock is tried again.
const RETRY: Duration = Duration::from_millis(50);

/// The certificate's lock, waiting up to `wait` for another certctl that holds it.
pub async fn cert(store: &dyn CertStore, name: &str, wait: Duration) -> Result<StoreLock, Error> {
    wait_for(|| store.try_lock_cert(name), wait, || name.to_owned()).await
}

/// The account-creation lock of one ACME directory, waiting up to `wait`.
pub async fn account(
    store: &dyn CertStore,
    directory_url: &str,
    wait: Duration,
) -> Result<StoreLock, Error> {
    let what = || format!("the account for {directory_url}");
    wait_for(|| store.try_lock_account(directory_url), wait, what).await
}

/// The claim on deploying a certificate, waiting up to `wait` for a run that is deploying it
/// (`issue` waits; `renew` only tries, and leaves a certificate another run deploys).
pub async fn deploy_claim(
    store: &dyn CertStore,
    name: &str,
    wait: Duration,
) -> Result<StoreLock, Error> {
    let what = || format!("deploying {name}");
    wait_for(|| store.try_claim_deploy(name), wait, what).await
}

/// The certificate's lock for code that is not async (install-cert, import): the same bounded
/// wait, with the thread asleep between tries.
pub fn cert_blocking(
    store: &dyn CertStore,
    name: &str,
    wait: Duration,
) -> Result<StoreLock, Error> {
    wait_blocking(|| store.try_lock_cert(name), wait, || name.to_owned())
}

/// The account-creation lock for code that is not async.
pub fn account_blocking(
    store: &dyn CertStore,
    directory_url: &str,
    wait: Duration,
) -> Result<StoreLock, Error> {
    let what = || format!("the account for {directory_url}");
    wait_blocking(|| store.try_lock_account(directory_url), wait, what)
}

/// The lock that serializes certctl's edits of nginx's files: a run reads a user's file,
/// computes its change and writes it while holding this, so two `issue --nginx` runs never lose
/// each other's edit. Bounded like every other wait.
pub fn nginx_edits(backup_root: &Path, wait: Duration) -> Result<NginxEditLock, Error> {
    std::fs::create_dir_all(backup_root).map_err(crate::fsio::io("cannot create", backup_root))?;
    let path = backup_root.join(".lock");
    let file = wait_blocking(
        || crate::fsio::try_lock(&path),
        wait,
        || "nginx's files".into(),
    )?;
    Ok(NginxEditLock(file))
}

/// Held while certctl edits nginx's files; released on drop.
pub struct NginxEditLock(#[allow(dead_code)] std::fs::File);

/// Tries `try_lock` until it yields, with the thread asleep between tries, for up to `wait`.
fn wait_blocking<T, E: Into<Error>>(
    mut try_lock: impl FnMut() -> Result<Option<T>, E>,
    wait: Duration,
    what: impl FnOnce() -> String,
) -> Result<T, Error> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        if let Some(lock) = try_lock().map_err(Into::into)? {
            return Ok(lock);
        }
        if std::time::Instant::now() >= deadline {
            return Err(busy(what(), wait));
        }
        std::thread::sleep(RETRY);
    }
}

async fn wait_for(
    mut try_lock: impl FnMut() -> Result<Option<StoreLock>, StoreError>,
    wait: Duration,
    what: impl FnOnce() -> String,
) -> Result<StoreLock, Error> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if let Some(lock) = try_lock()? {
            return Ok(lock);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(busy(what(), wait));
        }
        tokio::time::sleep(RETRY).await;
    }
}

fn busy(name: String, wait: Duration) -> Error {
    Error::Busy {
        name,
        waited: wait.as_secs(),
    }
}
