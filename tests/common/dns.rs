//! A real authoritative DNS server for the tests: Debian's Knot DNS (`knotd`) on a free loopback
//! port, UDP and TCP, serving the zone `test.` from a zone file the test writes. Stopped on drop.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::process::{Subprocess, free_port, loopback};

/// See the module docs.
pub struct Knot {
    /// Where certctl's `--dns-server` points: `127.0.0.1:PORT`.
    pub server: String,
    _process: Subprocess,
}

impl Knot {
    /// Serves zone `test.` with `records` (zone-file lines, names relative to `test.` or
    /// absolute) under a SOA and NS of its own, from files in `dir`.
    pub fn start(dir: &Path, records: &str) -> Self {
        let dir = dir.join("knot");
        fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let zone = format!(
            "$ORIGIN test.\n$TTL 60\n@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n@ IN NS ns.test.\nns IN A 127.0.0.1\n{records}\n"
        );
        fs::write(dir.join("test.zone"), zone).unwrap();
        let d = dir.display();
        let conf = format!(
            "server:\n    listen: 127.0.0.1@{port}\n    rundir: {d}\n\
             database:\n    storage: {d}\n\
             control:\n    listen: {d}/knot.sock\n\
             log:\n  - target: stderr\n    any: info\n\
             template:\n  - id: default\n    storage: {d}\n    file: \"%s.zone\"\n    zonefile-sync: -1\n    journal-content: none\n\
             zone:\n  - domain: test.\n"
        );
        fs::write(dir.join("knot.conf"), conf).unwrap();
        let mut cmd = Command::new("knotd");
        cmd.arg("-c").arg(dir.join("knot.conf"));
        let mut process = Subprocess::spawn("knotd", cmd, dir.join("knotd.log"));
        process.wait_for_port(loopback(port));
        Self {
            server: format!("127.0.0.1:{port}"),
            _process: process,
        }
    }
}
