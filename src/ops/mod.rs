//! Workflows that cross modules (acme → verify → store). Only this module sequences domains.

pub mod csr;
pub mod issue;
pub mod list;
pub mod nginx;
