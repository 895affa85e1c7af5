//! Workflows that cross modules (acme → verify → store). Only this module sequences domains.

pub mod ari;
pub mod csr;
pub mod deploy;
pub mod install;
pub mod issue;
pub mod list;
pub mod nginx;
pub mod renew;
pub mod revoke;
pub mod verify;
