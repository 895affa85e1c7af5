//! Workflows that cross modules (acme → verify → store). Only this module sequences domains.

pub mod issue;
pub mod list;
pub mod nginx;
