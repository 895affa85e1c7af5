//! End-to-end tests: the real certctl binary against real pebble and nginx (see tests/common).

#[path = "../common/mod.rs"]
mod common;

mod audit;
mod django;
mod issue;
mod legacy;
mod nginx;
mod nginx_sites;
mod renew;
mod tools;
