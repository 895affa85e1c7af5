//! Workflows that cross modules (acme → verify → store). Only this module sequences domains.

pub mod ari;
pub mod audit;
pub mod csr;
pub mod deploy;
pub mod django;
pub mod doctor;
pub mod fleet;
pub mod import;
pub mod install;
pub mod issue;
pub mod list;
pub mod locks;
pub mod nginx;
pub mod renew;
pub mod repoint;
pub mod revoke;
pub mod status;
pub mod verify;

use crate::Error;
use crate::config::RenewalRecord;
use crate::error::{InputError, UnknownCertHint};
use crate::store::CertStore;

/// The renewal record of certificate `name`; a name the store does not know is bad input, with
/// `hint` saying what to do.
pub(crate) fn record_of(
    store: &dyn CertStore,
    name: &str,
    hint: UnknownCertHint,
) -> Result<RenewalRecord, Error> {
    Ok(store
        .load_record(name)?
        .ok_or_else(|| InputError::UnknownCert {
            name: name.to_owned(),
            hint,
        })?)
}

/// Runs store work (every store call is file I/O) on the blocking pool, with a handle on the same
/// store.
pub(crate) async fn with_store<T: Send + 'static>(
    store: &dyn CertStore,
    f: impl FnOnce(&dyn CertStore) -> T + Send + 'static,
) -> T {
    let handle = store.shared();
    blocking(move || f(&*handle)).await
}

/// Runs blocking work (a child process, nginx, a handshake, many files) on tokio's blocking
/// pool, so the async runtime stays free for signals and the other certificates. A panic in `f`
/// carries on in the caller.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("blocking work was cancelled: {e}"),
    }
}

/// Runs `f` on the blocking pool on `value`, moved there and back: for work on a caller's own
/// data that is not `'static`.
pub(crate) async fn blocking_on<V, T>(
    value: &mut V,
    f: impl FnOnce(&mut V) -> T + Send + 'static,
) -> T
where
    V: Default + Send + 'static,
    T: Send + 'static,
{
    let mut moved = std::mem::take(value);
    let (result, moved) = blocking(move || (f(&mut moved), moved)).await;
    *value = moved;
    result
}
