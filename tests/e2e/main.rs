//! End-to-end tests: the real certctl binary against real pebble and nginx (see tests/common).

#[path = "../common/mod.rs"]
mod common;

mod ari;
mod audit;
mod ca_faults;
mod config;
mod daemon;
mod django;
mod doctor;
mod faults;
mod fleet;
mod hostile;
mod import;
mod issue;
mod legacy;
mod nginx;
mod nginx_sites;
mod renew;
mod schedule;
mod status;
mod tools;
mod webroot;
