//! Renewal decisions: when each certificate is due ([`schedule`]) and what is remembered between
//! runs ([`state`]). Pure; `ops::renew` does the I/O.

pub mod schedule;
pub mod state;
