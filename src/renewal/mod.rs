//! Renewal decisions: when each certificate is due ([`due`]), what a renewal run does with one
//! certificate ([`decide`]) and what is remembered between runs ([`state`]). Pure; `ops::renew`
//! does the I/O.

pub mod decide;
pub mod due;
pub mod state;
