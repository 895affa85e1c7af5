//! Workflows that cross modules (acme → verify → store). Only this module sequences domains.

pub mod csr;
pub mod install;
pub mod issue;
pub mod list;
pub mod nginx;

/// The current time in Unix seconds: the one place workflows read the clock (pure modules take
/// the time as an argument).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
