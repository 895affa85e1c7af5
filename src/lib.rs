//! certctl: TLS and certificate lifecycle management for nginx sites.
//!
//! The `certctl` binary is a thin CLI over this library. `certctl issue example.com` runs
//! [`ops::issue`]: validate names → load or create the ACME account → new order → publish each
//! HTTP-01 token (webroot or standalone) → self-check it over HTTP → tell the CA → poll → key and
//! CSR → finalize → verify chain, key and names → write a new archive version → atomically point
//! `live/NAME` at it.
//!
//! Each domain keeps its pure core (no I/O, unit-tested without sockets: [`names`], [`keys`],
//! [`verify`], [`config`], [`renewal`], [`nginx::render`], [`audit::grade`], [`django::checks`] …)
//! next to its I/O shell; [`ops`] only sequences several domains. docs/ARCHITECTURE.md draws the
//! floors and says where new code goes.

pub mod acme;
pub mod audit;
pub mod certbot;
pub mod clock;
pub mod config;
pub mod dhparam;
pub mod django;
pub mod dns;
pub mod doctor;
pub mod error;
pub mod failpoint;
pub mod finding;
pub mod fsio;
pub mod health;
pub mod hooks;
pub mod hsts;
pub mod keys;
pub mod names;
pub mod nginx;
pub mod ops;
pub mod parallel;
pub mod progress;
pub mod prometheus;
pub mod renewal;
pub mod scheduler;
pub mod settings;
pub mod store;
pub mod tls_policy;
pub mod trust;
pub mod verify;

pub use error::Error;
