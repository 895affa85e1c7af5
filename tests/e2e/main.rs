//! End-to-end tests: the real certctl binary against real pebble and nginx (see tests/common).

#[path = "../common/mod.rs"]
mod common;

mod audit;
mod django;
mod faults;
mod hostile;
mod import;
mod issue;
mod legacy;
mod nginx;
mod renew;
mod tools;
