//! The fleet store (issue 16) against a real PostgreSQL cluster (tests/common/postgres.rs):
//! `fleet init`, the fleet key, leases with fences, the store behind the CLI, node status,
//! import, and the database going away.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use certctl::store::pg::{Lease, cert_key};
use certctl::store::{CertStore, PgOptions, PgStore, StoreError};

use crate::common::postgres::Postgres;
use crate::common::{assert_ok, entry, eventually, mode, stderr};

/// A node: its own state directory and name, the fleet's store and key.
struct Node {
    state: PathBuf,
    name: &'static str,
    url: String,
    key: PathBuf,
}

impl Node {
    fn new(dir: &Path, name: &'static str, pg: &Postgres, key: &Path) -> Self {
        Self {
            state: dir.join(name),
            name,
            url: pg.url(),
            key: key.to_owned(),
        }
    }

    fn certctl(&self, args: &[&str]) -> Output {
        bare([])
            .arg("--state-dir")
            .arg(&self.state)
            .args(["--node", self.name])
            .env("CERTCTL_STORE", &self.url)
            .env("CERTCTL_FLEET_KEY", &self.key)
            .args(args)
            .output()
            .unwrap()
    }

    /// The library's store for this node, with a lease of `ttl`.
    fn store(&self, ttl: Duration) -> PgStore {
        PgStore::open(&PgOptions {
            url: self.url.clone(),
            key_path: self.key.clone(),
            node: self.name.into(),
            local_root: self.state.clone(),
            lease_ttl: ttl,
        })
        .unwrap()
    }
}

/// A cluster with the schema and a fleet key, and two nodes.
fn fleet(dir: &Path) -> (Postgres, Node, Node) {
    let pg = Postgres::start();
    let key = dir.join("fleet.key");
    let (web1, web2) = (
        Node::new(dir, "web1", &pg, &key),
        Node::new(dir, "web2", &pg, &key),
    );
    assert_ok(&web1.certctl(&["fleet", "init"]));
    (pg, web1, web2)
}

/// `install-cert NAME` on `node` with a fresh key and certificate made in `dir`.
fn install(node: &Node, dir: &Path, name: &str) -> Output {
    let pki = dir.join(format!("pki-{name}-{}", rand_tag()));
    let args = crate::common::pki::byo_install_args(&pki, name, 2, 90);
    node.certctl(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn rand_tag() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Asserts that certctl failed with `code` and said `text`.
fn fails_with(out: &Output, code: i32, text: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", stderr(out));
    assert!(stderr(out).contains(text), "{}", stderr(out));
}

/// A fleet and the library's stores of its two nodes, with leases of `ttl`.
fn two_stores(ttl: Duration) -> (tempfile::TempDir, Postgres, PgStore, PgStore) {
    let dir = tempfile::tempdir().unwrap();
    let (pg, web1, web2) = fleet(dir.path());
    let (a, b) = (web1.store(ttl), web2.store(ttl));
    (dir, pg, a, b)
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// `fleet status --json`, valid against its schema.
fn status_json(out: &Output) -> serde_json::Value {
    let status = json(out);
    crate::common::assert_schema("fleet-status", &status);
    status
}

#[test]
fn fleet_init_is_idempotent_and_a_missing_or_wrong_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (pg, web1, _) = fleet(dir.path());
    assert_eq!(mode(&web1.key), 0o600);
    let key_before = std::fs::read(&web1.key).unwrap();

    // Again, from any node: nothing changes.
    let again = web1.certctl(&["fleet", "init"]);
    assert_ok(&again);
    assert!(stderr(&again).contains("up to date"), "{}", stderr(&again));
    assert_eq!(std::fs::read(&web1.key).unwrap(), key_before);
    assert_eq!(
        pg.psql(
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM certctl_schema_version"
        ),
        "1,2,3"
    );

    // A node without the key file: init does not make a second key for the same fleet.
    let mut keyless = Node::new(dir.path(), "web3", &pg, &dir.path().join("none.key"));
    let out = keyless.certctl(&["fleet", "init"]);
    fails_with(&out, 2, "copy it here");
    assert!(!keyless.key.exists());
    let out = keyless.certctl(&["list"]);
    fails_with(&out, 2, "no such file");

    // Another fleet's key: refused before anything is read or written.
    let other = Postgres::start();
    keyless.key = dir.path().join("other.key");
    keyless.url = other.url();
    assert_ok(&keyless.certctl(&["fleet", "init"]));
    keyless.url = pg.url();
    let out = keyless.certctl(&["list"]);
    fails_with(&out, 2, "not the key this fleet");
}

#[test]
fn two_holders_racing_for_a_lease_one_wins() {
    let (_dir, _pg, a, b) = two_stores(Duration::from_secs(30));
    let stores = [a, b];
    for round in 0..20 {
        let key = cert_key(&format!("race{round}.test"));
        let barrier = Arc::new(Barrier::new(2));
        let won: Vec<Option<Lease>> = std::thread::scope(|s| {
            let handles: Vec<_> = stores
                .iter()
                .map(|store| {
                    let (barrier, key) = (barrier.clone(), key.clone());
                    s.spawn(move || {
                        barrier.wait();
                        store.try_lease(&key, Duration::from_secs(30)).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(
            won.iter().filter(|w| w.is_some()).count(),
            1,
            "round {round}: {won:?}"
        );
    }
}

#[test]
fn an_expired_lease_is_taken_over_and_the_stale_holders_write_is_refused() {
    let (_dir, _pg, a, b) = two_stores(Duration::from_secs(30));
    let key = cert_key("stale.test");
    // web1 takes a short lease and then stalls (no heartbeat).
    let stale = a.try_lease(&key, Duration::from_secs(1)).unwrap().unwrap();
    assert_eq!(b.try_lease(&key, Duration::from_secs(30)).unwrap(), None);
    // web2 takes over once it expired, with a larger fence.
    let fresh = eventually(|| b.try_lease(&key, Duration::from_secs(30)).unwrap());
    assert!(fresh.fence > stale.fence, "{fresh:?} after {stale:?}");

    let mut state = certctl::renewal::state::RenewalState::default();
    state.succeeded(1_000);
    b.save_state_fenced(&fresh, "stale.test", &state).unwrap();

    // web1 wakes up: its late write and its heartbeat are refused by the fence.
    let mut late = certctl::renewal::state::RenewalState::default();
    late.succeeded(2_000);
    let err = a
        .save_state_fenced(&stale, "stale.test", &late)
        .unwrap_err();
    assert!(matches!(err, StoreError::Fenced { .. }), "{err}");
    assert!(matches!(
        a.heartbeat(&stale, Duration::from_secs(30)),
        Err(StoreError::Fenced { .. })
    ));
    assert_eq!(
        a.load_state("stale.test").unwrap().to_json(),
        state.to_json(),
        "the store keeps the new holder's state"
    );
    // Releasing the stale lease does not free the new holder's.
    a.release(&stale).unwrap();
    assert_eq!(a.try_lease(&key, Duration::from_secs(30)).unwrap(), None);
}

#[test]
fn a_held_certificate_lock_heartbeats_and_frees_on_drop() {
    // A lease of 2 s kept alive by heartbeats every 2/3 s.
    let (_dir, _pg, a, b) = two_stores(Duration::from_secs(2));
    let lock = a.try_lock_cert("held.test").unwrap().expect("free");
    // Three lease lifetimes later, the holder still holds it.
    let until = std::time::Instant::now() + Duration::from_secs(6);
    while std::time::Instant::now() < until {
        assert!(b.try_lock_cert("held.test").unwrap().is_none());
        std::thread::sleep(Duration::from_millis(200));
    }
    // Writes through the trait carry the holder's fence; the other node cannot write.
    a.save_state("held.test", &Default::default()).unwrap();
    assert!(matches!(
        b.save_state("held.test", &Default::default()),
        Err(StoreError::LeaseBusy(_))
    ));
    drop(lock);
    assert!(b.try_lock_cert("held.test").unwrap().is_some());
}

#[test]
fn certificates_go_through_the_store_and_every_node_reports_what_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let (pg, web1, web2) = fleet(dir.path());
    assert_ok(&install(&web1, dir.path(), "shop.test"));

    // web1 wrote its local live set; the database holds the key sealed, never the PEM.
    let key_pem = std::fs::read_to_string(web1.state.join("live/shop.test/privkey.pem")).unwrap();
    assert!(key_pem.contains("PRIVATE KEY"));
    assert_eq!(mode(&web1.state.join("live/shop.test/privkey.pem")), 0o600);
    assert_eq!(
        pg.psql("SELECT count(*) FROM certctl_version WHERE position('PRIVATE' in encode(privkey, 'escape')) > 0"),
        "0"
    );
    assert_eq!(pg.psql("SELECT count(*) FROM certctl_version"), "1");

    // web2 has nothing yet: it lags, and status says so (exit 1).
    assert_ok(&web2.certctl(&["fleet", "sync"]));
    let list = web2.certctl(&["list", "--json"]);
    assert_ok(&list);
    assert_eq!(json(&list)[0]["name"], "shop.test");
    assert_eq!(
        std::fs::read_to_string(web2.state.join("live/shop.test/privkey.pem")).unwrap(),
        key_pem
    );
    let status = web1.certctl(&["fleet", "status", "--json"]);
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    let v = status_json(&status);
    assert_eq!(v["nodes"], serde_json::json!(["web1", "web2"]));
    let serial = v["certs"][0]["live_serial"].as_str().unwrap().to_owned();
    assert_eq!(v["certs"][0]["nodes"][1]["serial"], serial.as_str());

    // A new version from web1: web2 lags until it syncs.
    assert_ok(&install(&web1, dir.path(), "shop.test"));
    let status = web1.certctl(&["fleet", "status", "--json"]);
    assert_eq!(status.status.code(), Some(1), "{}", stderr(&status));
    let v = status_json(&status);
    assert_eq!(v["certs"][0]["live_version"], 2);
    assert_eq!(v["certs"][0]["nodes"][0]["lagging"], false);
    assert_eq!(v["certs"][0]["nodes"][1]["lagging"], true);
    assert_eq!(v["certs"][0]["nodes"][1]["serial"], serial.as_str());
    let metrics = web1.certctl(&["fleet", "status", "--prometheus"]);
    assert_eq!(metrics.status.code(), Some(1), "{}", stderr(&metrics));
    let text = String::from_utf8_lossy(&metrics.stdout);
    for line in [
        "certctl_fleet_node_lagging{name=\"shop.test\",node=\"web1\"} 0",
        "certctl_fleet_node_lagging{name=\"shop.test\",node=\"web2\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line}\n{text}");
    }
    let table = web1.certctl(&["fleet", "status"]);
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("lagging (live: 2)"),
        "{}",
        String::from_utf8_lossy(&table.stdout)
    );
    assert_ok(&web2.certctl(&["fleet", "sync"]));
    assert_ok(&web1.certctl(&["fleet", "status"]));
    assert_eq!(
        std::fs::read_link(web2.state.join("live/shop.test")).unwrap(),
        Path::new("../certs/shop.test/archive/2")
    );
}

#[test]
fn import_copies_a_state_directory_once_and_the_database_going_away_leaves_nodes_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (pg, web1, _) = fleet(dir.path());
    // A single server's state directory, made without the store.
    let single = Node {
        url: String::new(),
        ..Node::new(dir.path(), "web1", &pg, &web1.key)
    };
    for name in ["a.test", "b.test"] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_certctl"));
        let pki = dir.path().join(format!("pki-{name}"));
        std::fs::create_dir_all(&pki).unwrap();
        crate::common::pki::byo_pki(&pki, &[name], 2, 90);
        let out = cmd
            .env_remove("CERTCTL_STORE")
            .arg("--state-dir")
            .arg(&single.state)
            .args(["install-cert", name, "--cert"])
            .arg(pki.join("cert.pem"))
            .arg("--key")
            .arg(pki.join("key.pem"))
            .output()
            .unwrap();
        assert_ok(&out);
    }
    let first = web1.certctl(&["fleet", "import"]);
    assert_ok(&first);
    let text = String::from_utf8_lossy(&first.stdout);
    assert!(
        text.contains("imported a.test") && text.contains("imported b.test"),
        "{text}"
    );
    let second = web1.certctl(&["fleet", "import"]);
    assert_ok(&second);
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("already in the store: a.test"),
        "{}",
        String::from_utf8_lossy(&second.stdout)
    );
    assert_eq!(pg.psql("SELECT count(*) FROM certctl_version"), "2");
    let list = web1.certctl(&["list", "--json"]);
    assert_ok(&list);
    assert_eq!(json(&list).as_array().unwrap().len(), 2);
    // The importing node reports what it serves: the fleet does not lag.
    let status = web1.certctl(&["fleet", "status", "--json"]);
    assert_ok(&status);
    assert_eq!(status_json(&status)["nodes"], serde_json::json!(["web1"]));

    // The database goes away: store commands fail (exit 1, naming it); local files stay.
    pg.stop();
    let out = web1.certctl(&["list"]);
    fails_with(&out, 1, "fleet database");
    assert!(web1.state.join("live/a.test/fullchain.pem").exists());
    // It comes back: so does the store.
    pg.start_server();
    assert_ok(&web1.certctl(&["list"]));
}

#[test]
fn a_daemon_started_while_the_database_is_away_waits_for_it_then_converges() {
    let dir = tempfile::tempdir().unwrap();
    let (pg, web1, web2) = fleet(dir.path());
    assert_ok(&install(&web1, dir.path(), "a.test"));
    // A node reboots while the database is away: its daemon starts anyway and waits.
    pg.stop();
    let daemon = |node: &Node, key: &Path, log: &str| {
        let mut cmd = bare(["daemon", "--cron", "0 0 0 1 1 *", "--recheck", "1s"]);
        cmd.arg("--state-dir")
            .arg(&node.state)
            .args(["--node", node.name])
            .env("CERTCTL_STORE", &node.url)
            .env("CERTCTL_FLEET_KEY", key);
        crate::common::Subprocess::spawn("certctl daemon", cmd, dir.path().join(log))
    };
    let log = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    let mut waiting = daemon(&web2, &web2.key, "web2.log");
    // Another fleet's key cannot be told apart while the database is away; it is refused once
    // the database answers.
    let other_key = dir.path().join("other.key");
    certctl::store::seal::FleetKey::create(&other_key).unwrap();
    let mut wrong = daemon(&web2, &other_key, "wrong.log");
    eventually(|| {
        (log("web2.log").contains("fleet database is unreachable")
            && log("wrong.log").contains("fleet database is unreachable"))
        .then_some(())
    });
    assert!(!waiting.wait_for_exit(Duration::from_millis(1500), Duration::from_millis(50)));
    assert!(!web2.state.join("live/a.test/fullchain.pem").exists());

    pg.start_server();
    eventually(|| {
        web2.state
            .join("live/a.test/fullchain.pem")
            .exists()
            .then_some(())
    });
    eventually(|| {
        log("web2.log")
            .contains("fleet database is back")
            .then_some(())
    });
    assert!(
        wrong.wait_for_exit(Duration::from_secs(20), Duration::from_millis(50)),
        "the daemon with another fleet's key still runs:\n{}",
        log("wrong.log")
    );
    assert!(
        log("wrong.log").contains("not the key this fleet"),
        "{}",
        log("wrong.log")
    );
    assert!(!waiting.wait_for_exit(Duration::from_millis(200), Duration::from_millis(50)));
}

#[test]
fn the_store_speaks_tls_as_libpq_reads_sslmode() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Postgres::start();
    let ca = crate::common::TestCa::root("Database Root");
    let other = crate::common::TestCa::root("Another Root");
    let (ca_pem, other_pem) = (dir.path().join("ca.pem"), dir.path().join("other.pem"));
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    std::fs::write(&other_pem, other.pem()).unwrap();
    // First the server's certificate names only db.test, not the address connected to.
    let key = rcgen::KeyPair::generate().unwrap();
    pg.require_tls(&ca.leaf(&["db.test"], &key).pem(), &key.serialize_pem());
    let key_path = dir.path().join("fleet.key");
    let node = |query: &str| Node {
        url: format!("{}{query}", pg.url()),
        ..Node::new(dir.path(), "web1", &pg, &key_path)
    };
    let (ca_arg, other_arg) = (ca_pem.display(), other_pem.display());

    // The server takes TLS clients only: plain TCP is refused by the database, exit 1.
    fails_with(
        &node("?sslmode=disable").certctl(&["fleet", "init"]),
        1,
        "fleet database",
    );
    // libpq's default (prefer) and require encrypt without checking the certificate.
    assert_ok(&node("").certctl(&["fleet", "init"]));
    assert_ok(&node("?sslmode=require").certctl(&["list"]));
    // verify-ca checks the chain only; verify-full the name too.
    assert_ok(&node(&format!("?sslmode=verify-ca&sslrootcert={ca_arg}")).certctl(&["list"]));
    fails_with(
        &node(&format!("?sslmode=verify-full&sslrootcert={ca_arg}")).certctl(&["list"]),
        1,
        "certificate",
    );
    // A root file makes require check the chain, as libpq does: another CA's is refused.
    fails_with(
        &node(&format!("?sslmode=require&sslrootcert={other_arg}")).certctl(&["list"]),
        1,
        "certificate",
    );
    fails_with(
        &node("?sslmode=verify-ca").certctl(&["list"]),
        1,
        "certificate",
    );
    // A certificate for the address: verify-full passes.
    let key = rcgen::KeyPair::generate().unwrap();
    pg.require_tls(&ca.leaf(&["127.0.0.1"], &key).pem(), &key.serialize_pem());
    assert_ok(&node(&format!("?sslmode=verify-full&sslrootcert={ca_arg}")).certctl(&["list"]));

    // Bad TLS parameters are bad input: one line naming them, exit 2, nothing sent.
    fails_with(
        &node("?sslmode=allow").certctl(&["list"]),
        2,
        "sslmode=allow",
    );
    fails_with(
        &node("?sslrootcert=/nonexistent/ca.pem").certctl(&["list"]),
        2,
        "sslrootcert",
    );
    let out = node("?sslmode=disable&sslrootcert=/x.pem").certctl(&["list"]);
    fails_with(&out, 2, "sslrootcert with sslmode=disable");
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
}

/// certctl with `args` and no CERTCTL_* from the test's environment.
fn bare<const N: usize>(args: [&str; N]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_certctl"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CERTCTL_") {
            cmd.env_remove(&key);
        }
    }
    cmd.stdin(Stdio::null()).args(args);
    cmd
}

/// `cmd` as node `node` of the fleet in `pg`, with `state` as its state directory (`cmd` gives
/// no --state-dir of its own).
fn as_node(mut cmd: Command, pg: &Postgres, key: &Path, node: &str, state: &Path) -> Command {
    cmd.env("CERTCTL_STORE", pg.url())
        .env("CERTCTL_FLEET_KEY", key)
        .env("CERTCTL_NODE", node)
        .env("CERTCTL_STATE_DIR", state);
    cmd
}

/// pebble issuing ten-minute certificates (due at once, every authorization validated again),
/// HTTP-01 through nginx's webroot; a fleet whose web1 uses the lab's state directory and web2
/// its own; `name` issued by web1.
struct AcmeFleet {
    lab: crate::common::Lab,
    pg: Postgres,
    key: PathBuf,
    web2_state: PathBuf,
    lease_ttl: &'static str,
}

impl AcmeFleet {
    fn start(name: &str, lease_ttl: &'static str) -> Self {
        let lab = crate::common::Lab::with(crate::common::LabOptions {
            nginx: true,
            validity_secs: Some(600),
            authz_reuse: Some(0),
            ..Default::default()
        });
        let fleet = Self {
            pg: Postgres::start(),
            key: lab.dir.path().join("fleet.key"),
            web2_state: lab.dir.path().join("web2"),
            lab,
            lease_ttl,
        };
        assert_ok(
            &fleet
                .node("web1", bare(["fleet", "init"]))
                .output()
                .unwrap(),
        );
        let (webroot, port) = (
            fleet.lab.webroot.display().to_string(),
            fleet.lab.http_port.to_string(),
        );
        let issue = fleet
            .lab
            .issue_command(&[name], &["--webroot", &webroot, "--http-port", &port]);
        assert_ok(&fleet.node("web1", issue).output().unwrap());
        fleet
    }

    /// `cmd` as web1 or web2.
    fn node(&self, node: &str, cmd: Command) -> Command {
        let state = match node {
            "web1" => &self.lab.state_dir,
            _ => &self.web2_state,
        };
        let mut cmd = as_node(cmd, &self.pg, &self.key, node, state);
        cmd.env("CERTCTL_LEASE_TTL", self.lease_ttl);
        cmd
    }
}

/// Starts every command at once, asserts each succeeds, and returns what each printed.
fn all_succeed<const N: usize>(cmds: [Command; N]) -> Vec<Output> {
    let runs = cmds.map(|mut cmd| {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    });
    let outputs: Vec<Output> = runs
        .into_iter()
        .map(|run| run.wait_with_output().unwrap())
        .collect();
    for out in &outputs {
        assert_ok(out);
    }
    outputs
}

#[test]
fn acme_issue_and_renewals_run_through_the_store_with_one_order_per_renewal() {
    let fleet = AcmeFleet::start("fleet.test", "30");
    let (lab, pg, web2_state) = (&fleet.lab, &fleet.pg, &fleet.web2_state);
    let web1 = |cmd| fleet.node("web1", cmd);
    let web2 = |cmd| fleet.node("web2", cmd);
    assert_eq!(pg.psql("SELECT count(*) FROM certctl_account"), "1");

    // web2 renews what web1 issued, with the fleet's account from the store.
    let out = web2(bare(["renew"])).output().unwrap();
    assert_ok(&out);
    assert_eq!(
        pg.psql("SELECT string_agg(created_by || ':' || version, ',' ORDER BY version) FROM certctl_version"),
        "web1:1,web2:2"
    );
    assert!(web2_state.join("live/fleet.test/privkey.pem").exists());
    let status = web1(bare(["fleet", "status", "--json"])).output().unwrap();
    assert_eq!(status.status.code(), Some(1), "web1 still has version 1");

    // Both nodes renew at once: one order, one new version.
    all_succeed([web1(bare(["renew"])), web2(bare(["renew"]))]);
    assert_eq!(pg.psql("SELECT count(*) FROM certctl_version"), "3");
    assert_eq!(pg.psql("SELECT live_version FROM certctl_cert"), "3");
    assert_ok(&web1(bare(["fleet", "sync"])).output().unwrap());
    assert_ok(&web2(bare(["fleet", "sync"])).output().unwrap());
    assert_ok(&web1(bare(["fleet", "status"])).output().unwrap());
    assert_eq!(
        std::fs::read(lab.state_dir.join("live/fleet.test/cert.pem")).unwrap(),
        std::fs::read(web2_state.join("live/fleet.test/cert.pem")).unwrap()
    );

    // Two nodes issue the same new name at once: the lease takes them one after the other, and
    // the later one finds the certificate the first made while it waited: one order, one
    // version, both nodes with the same files.
    let (webroot, port) = (lab.webroot.display().to_string(), lab.http_port.to_string());
    let runs = all_succeed(["web1", "web2"].map(|node| {
        let issue = lab.issue_command(
            &["race.test"],
            &["--webroot", &webroot, "--http-port", &port],
        );
        fleet.node(node, issue)
    }));
    // One order: the run that waited for the lease finds the other's certificate and deploys it.
    assert_eq!(
        pg.psql(
            "SELECT string_agg(version::text, ',' ORDER BY version) FROM certctl_version WHERE name = 'race.test'"
        ),
        "1"
    );
    assert_eq!(
        pg.psql("SELECT live_version FROM certctl_cert WHERE name = 'race.test'"),
        "1"
    );
    let waited: Vec<String> = runs
        .iter()
        .map(|r| String::from_utf8_lossy(&r.stdout).into_owned())
        .filter(|out| out.contains("issued by another run while this one waited, nothing ordered"))
        .collect();
    assert_eq!(waited.len(), 1, "{waited:?}");
    assert_ok(&web1(bare(["fleet", "sync"])).output().unwrap());
    assert_ok(&web2(bare(["fleet", "sync"])).output().unwrap());
    for file in ["cert.pem", "privkey.pem"] {
        assert_eq!(
            std::fs::read(lab.state_dir.join("live/race.test").join(file)).unwrap(),
            std::fs::read(web2_state.join("live/race.test").join(file)).unwrap(),
            "{file}"
        );
    }
    assert_ok(&web1(bare(["fleet", "status"])).output().unwrap());
}

#[test]
fn export_writes_the_store_back_into_a_state_directory_that_runs_alone() {
    let fleet = AcmeFleet::start("round.test", "30");
    let lab = &fleet.lab;
    // Two versions in the store (web2 renews what web1 issued); web1 brings both here.
    assert_ok(&fleet.node("web2", bare(["renew"])).output().unwrap());
    assert_ok(
        &fleet
            .node("web1", bare(["fleet", "sync"]))
            .output()
            .unwrap(),
    );

    let out = lab.dir.path().join("exported");
    let export = || {
        fleet
            .node("web2", bare(["fleet", "export", "--out"]))
            .arg(&out)
            .output()
            .unwrap()
    };
    let first = export();
    assert_ok(&first);
    let text = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(
        text.contains("exported round.test")
            && text.contains(&format!("exported the account for {}", lab.directory_url())),
        "{text}"
    );
    let again = export();
    assert_ok(&again);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("already in"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );

    // Every version as the fleet numbered it, byte for byte what the nodes have; keys 0600;
    // live/ at the fleet's live version.
    for version in ["1", "2"] {
        for file in ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"] {
            let here = out
                .join("certs/round.test/archive")
                .join(version)
                .join(file);
            let node = lab
                .state_dir
                .join("certs/round.test/archive")
                .join(version)
                .join(file);
            assert_eq!(
                std::fs::read(&here).unwrap(),
                std::fs::read(&node).unwrap(),
                "{version}/{file}"
            );
        }
        assert_eq!(
            mode(
                &out.join("certs/round.test/archive")
                    .join(version)
                    .join("privkey.pem")
            ),
            0o600
        );
    }
    assert_eq!(
        std::fs::read_link(out.join("live/round.test")).unwrap(),
        Path::new("../certs/round.test/archive/2")
    );
    // `list` on the exported directory alone says what the fleet's says (paths aside).
    let listed = |cmd: Command| {
        let out = { cmd }.output().unwrap();
        assert_ok(&out);
        let mut v = json(&out);
        for entry in v.as_array_mut().unwrap() {
            entry.as_object_mut().unwrap().remove("fullchain");
        }
        v
    };
    let alone = listed({
        let mut cmd = bare(["list", "--json", "--state-dir"]);
        cmd.arg(&out);
        cmd
    });
    assert_eq!(alone, listed(fleet.node("web1", bare(["list", "--json"]))));

    // And certctl runs there without the fleet: a renewal with the exported account (kept
    // as it is: no new registration), which the fleet never sees.
    let account = out
        .join("accounts")
        .read_dir()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("account.json");
    let before = std::fs::read(&account).unwrap();
    let mut renew = bare(["renew", "--force", "--state-dir"]);
    assert_ok(&renew.arg(&out).output().unwrap());
    assert_eq!(std::fs::read(&account).unwrap(), before);
    assert_eq!(
        std::fs::read_link(out.join("live/round.test")).unwrap(),
        Path::new("../certs/round.test/archive/3")
    );
    assert_eq!(fleet.pg.psql("SELECT count(*) FROM certctl_version"), "2");
}

#[test]
fn a_renewer_killed_mid_order_loses_its_lease_and_another_node_finishes() {
    // Leases of 2 s, so the dead holder's runs out within the test.
    let fleet = AcmeFleet::start("kill.test", "2");
    let pg = &fleet.pg;

    // web1 dies (SIGABRT, no cleanup) after its renewal order, before the install.
    let mut renew = fleet.node("web1", bare(["renew"]));
    let died = renew
        .env("CERTCTL_FAILPOINT", "issue.after_order")
        .output()
        .unwrap();
    assert!(!died.status.success(), "{}", stderr(&died));
    assert!(
        pg.psql("SELECT holder FROM certctl_lease WHERE key = 'cert:kill.test'")
            .starts_with("web1:"),
        "the dead renewer's lease is still in the table"
    );
    assert_eq!(pg.psql("SELECT count(*) FROM certctl_version"), "1");

    // web2 waits for that lease to run out, takes it, and renews.
    let out = fleet
        .node("web2", bare(["renew", "--lock-wait", "60"]))
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(
        pg.psql("SELECT string_agg(created_by || ':' || version, ',' ORDER BY version) FROM certctl_version"),
        "web1:1,web2:2"
    );
    assert_eq!(
        pg.psql("SELECT count(*) FROM certctl_lease"),
        "0",
        "released after the run"
    );
}

#[test]
fn any_node_answers_http01_for_the_fleet_account_without_the_token_file() {
    let fleet = AcmeFleet::start("first.test", "30");
    let lab = &fleet.lab;
    let snippet = lab.dir.path().join("stateless.conf");
    let directory = lab.directory_url();
    let out = fleet
        .node(
            "web2",
            bare(["fleet", "http01-snippet", "--server", &directory, "--out"]),
        )
        .arg(&snippet)
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(mode(&snippet), 0o644);

    // A node whose webroot nginx does not serve: validation fails while nginx only serves files.
    let unserved = lab.dir.path().join("unserved");
    std::fs::create_dir(&unserved).unwrap();
    let port = lab.http_port.to_string();
    let issue = |name: &str| {
        let cmd = lab.issue_command(
            &[name],
            &[
                "--webroot",
                unserved.to_str().unwrap(),
                "--http-port",
                &port,
            ],
        );
        fleet.node("web1", cmd).output().unwrap()
    };
    assert!(!issue("second.test").status.success());

    // With the stateless location, nginx answers any token itself, and the CA's validation of
    // an order it never wrote a file for passes.
    lab.serve_challenges_with(&snippet);
    // (nginx reloads asynchronously: its new workers answer a moment later.)
    let thumbprint = eventually(|| {
        let answer = crate::common::http_get(
            lab.http_port,
            "any.test",
            "/.well-known/acme-challenge/tok-EN_1",
        )
        .ok()?;
        Some(answer.body.trim().strip_prefix("tok-EN_1.")?.to_owned())
    });
    assert_eq!(
        thumbprint.len(),
        43,
        "a SHA-256 in base64url: {thumbprint:?}"
    );
    assert_ok(&issue("second.test"));
    assert_eq!(
        fleet
            .pg
            .psql("SELECT count(*) FROM certctl_cert WHERE live_version IS NOT NULL"),
        "2"
    );
}

/// How long after its issue a certificate of the three-node test is due (seconds).
const RENEW_AFTER: u64 = 25;

/// The names and addresses of the three nodes of [`three_nodes_converge_on_every_renewal_and_ride_out_faults`].
const NODES: [(&str, &str); 3] = [
    ("web1", "127.0.0.2"),
    ("web2", "127.0.0.3"),
    ("web3", "127.0.0.4"),
];

/// One node of a three-node fleet in a private network namespace: its own state directory,
/// its own nginx on ADDR:80 and ADDR:443, its own `certctl daemon`.
struct WebNode {
    name: &'static str,
    addr: &'static str,
    state: PathBuf,
    prefix: PathBuf,
    nginx: Option<crate::common::Subprocess>,
    daemon: Option<crate::common::Subprocess>,
    starts: u32,
}

/// The fleet: pebble (whose DNS the test steers), PostgreSQL, the fleet key, three nodes.
struct ThreeNodes {
    lab: crate::common::Lab,
    pg: Postgres,
    key: PathBuf,
    nodes: Vec<WebNode>,
}

impl ThreeNodes {
    /// The fleet's PostgreSQL and key, and `nodes` (name, address), nothing started on them.
    fn new(lab: crate::common::Lab, nodes: &[(&'static str, &'static str)]) -> Self {
        let root = lab.dir.path().to_owned();
        Self {
            pg: Postgres::start(),
            key: root.join("fleet.key"),
            nodes: nodes
                .iter()
                .map(|&(name, addr)| WebNode {
                    name,
                    addr,
                    state: root.join(name).join("state"),
                    prefix: root.join(name).join("nginx"),
                    nginx: None,
                    daemon: None,
                    starts: 0,
                })
                .collect(),
            lab,
        }
    }

    /// Starts `node`'s nginx on the `nginx.conf` in its prefix, listening on ADDR:80.
    fn spawn_nginx(&mut self, node: usize) {
        let n = &mut self.nodes[node];
        let mut cmd = Command::new("nginx");
        cmd.arg("-p")
            .arg(&n.prefix)
            .arg("-c")
            .arg(n.prefix.join("nginx.conf"));
        let mut nginx =
            crate::common::Subprocess::spawn("nginx", cmd, n.prefix.join("logs/nginx.out"));
        nginx.wait_for_port(format!("{}:80", n.addr).parse().unwrap());
        crate::common::nginx::wait_for_pid_file(&n.prefix);
        n.nginx = Some(nginx);
    }

    /// `certctl daemon` on `node` with `args`, its log in the node's logs/.
    fn spawn_daemon(&mut self, node: usize, args: &[&str]) {
        let mut cmd = self.certctl(node, args);
        cmd.env("RUST_LOG", "warn");
        let n = &mut self.nodes[node];
        n.starts += 1;
        let log = n.prefix.join(format!("logs/daemon-{}.log", n.starts));
        n.daemon = Some(crate::common::Subprocess::spawn("certctl daemon", cmd, log));
    }
    /// certctl as `node`, with the fleet's store and key and a 5 s lease (a dead holder's
    /// lease runs out within the test).
    fn certctl(&self, node: usize, args: &[&str]) -> Command {
        let n = &self.nodes[node];
        let mut cmd = bare([]);
        cmd.arg("--state-dir")
            .arg(&n.state)
            .args(["--node", n.name])
            .env("CERTCTL_STORE", self.pg.url())
            .env("CERTCTL_FLEET_KEY", &self.key)
            .env("CERTCTL_LEASE_TTL", "5")
            .args(args);
        cmd
    }

    fn run(&self, node: usize, args: &[&str]) -> Output {
        self.certctl(node, args).output().unwrap()
    }

    /// Starts `node`'s nginx: port 80 answers HTTP-01 from `challenge.conf` (at first a
    /// webroot every node shares, the way fleets without certctl do it; until the fleet has an
    /// account to make the stateless snippet for), and `sites/*.conf` holds its TLS server.
    fn start_nginx(&mut self, node: usize, webroot: &Path) {
        let n = &mut self.nodes[node];
        for sub in ["tmp", "logs", "sites"] {
            std::fs::create_dir_all(n.prefix.join(sub)).unwrap();
        }
        std::fs::write(
            n.prefix.join("challenge.conf"),
            format!(
                "location /.well-known/acme-challenge/ {{ root {}; default_type text/plain; try_files $uri =404; }}\n",
                webroot.display()
            ),
        )
        .unwrap();
        let conf = format!(
            r#"{preamble}    server {{
        listen {addr}:80 default_server;
        include {prefix}/challenge.conf;
        location / {{ return 404; }}
    }}
    include {prefix}/sites/*.conf;
}}
"#,
            preamble = crate::common::nginx::nginx_preamble(&n.prefix),
            addr = n.addr,
            prefix = n.prefix.display(),
        );
        std::fs::write(n.prefix.join("nginx.conf"), conf).unwrap();
        self.spawn_nginx(node);
    }

    /// `node`'s port 80 answers every HTTP-01 token of the fleet's account by itself (the
    /// snippet `fleet http01-snippet` wrote), once nginx reloaded.
    fn serve_stateless(&self, node: usize, snippet: &Path) {
        let n = &self.nodes[node];
        std::fs::copy(snippet, n.prefix.join("challenge.conf")).unwrap();
        let reload = Command::new("nginx")
            .arg("-p")
            .arg(&n.prefix)
            .arg("-c")
            .arg(n.prefix.join("nginx.conf"))
            .args(["-s", "reload"])
            .output()
            .unwrap();
        assert!(reload.status.success(), "{}", stderr(&reload));
        let addr = format!("{}:80", n.addr).parse().unwrap();
        eventually(|| {
            let answer = crate::common::http_get_at(
                addr,
                "any.test",
                "/.well-known/acme-challenge/probe-token",
            )
            .ok()?;
            answer.body.starts_with("probe-token.").then_some(())
        });
    }

    /// `node`'s TLS server for `name`, reading the node's own live files.
    fn write_site(&self, node: usize, name: &str) {
        let n = &self.nodes[node];
        let live = n.state.join("live").join(name);
        std::fs::write(
            n.prefix.join("sites").join(format!("{name}.conf")),
            format!(
                "server {{\n    listen {addr}:443 ssl;\n    server_name {name};\n    ssl_certificate {live}/fullchain.pem;\n    ssl_certificate_key {live}/privkey.pem;\n    return 200 \"{node}\\n\";\n}}\n",
                addr = n.addr,
                live = live.display(),
                node = n.name,
            ),
        )
        .unwrap();
    }

    /// `certctl daemon` on `node`: renew when fewer than 2 days remain (pebble's certificates
    /// last 2 days and 25 s: each is due 25 s after it was issued, and every node wakes for
    /// that moment and races for the lease), converge on every notification, re-check every
    /// 3 s, deploy to its nginx.
    fn start_daemon(&mut self, node: usize) {
        let prefix = self.nodes[node].prefix.clone();
        self.spawn_daemon(
            node,
            &[
                "daemon",
                "--cron",
                "0 0 0 1 1 *",
                "--days",
                "2",
                "--recheck",
                "3s",
                "--nginx",
                "--nginx-prefix",
                prefix.to_str().unwrap(),
                "--nginx-conf",
                prefix.join("nginx.conf").to_str().unwrap(),
            ],
        );
    }

    /// Everything `node`'s daemons logged so far.
    fn daemon_log(&self, node: usize) -> String {
        (1..=self.nodes[node].starts)
            .map(|i| {
                std::fs::read_to_string(
                    self.nodes[node].prefix.join(format!("logs/daemon-{i}.log")),
                )
                .unwrap_or_default()
            })
            .collect()
    }

    /// The HTTP-01 tokens the CA fetched from `node`'s nginx, each once (pebble fetches a
    /// token more than once per validation).
    fn tokens(&self, node: usize) -> std::collections::BTreeSet<String> {
        std::fs::read_to_string(self.nodes[node].prefix.join("logs/access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let path = l.split("GET /.well-known/acme-challenge/").nth(1)?;
                Some(path.split(' ').next()?.to_owned())
            })
            .filter(|token| token != "probe-token")
            .collect()
    }

    /// How many validations (distinct tokens) reached `node`'s nginx.
    fn validations(&self, node: usize) -> usize {
        self.tokens(node).len()
    }

    /// How many validations reached any node (one per order: no authorization is reused).
    fn all_validations(&self) -> usize {
        let mut all = self.tokens(0);
        all.extend(self.tokens(1));
        all.extend(self.tokens(2));
        all.len()
    }

    /// The serial `node`'s nginx presents for `name` (a real handshake).
    fn served(&self, node: usize, name: &str) -> Option<String> {
        let addr = format!("{}:443", self.nodes[node].addr).parse().unwrap();
        let chain =
            certctl::audit::served::served_chain(addr, name, Duration::from_secs(5)).ok()?;
        Some(certctl::verify::cert_info(chain.first()?).ok()?.serial)
    }

    /// The fleet's live version of `name` and its serial, from the database.
    fn live(&self, name: &str) -> (u64, String) {
        let row = self.pg.psql(&format!(
            "SELECT c.live_version || '|' || v.serial FROM certctl_cert c JOIN certctl_version v \
             ON v.name = c.name AND v.version = c.live_version WHERE c.name = '{name}'"
        ));
        let (version, serial) = row.split_once('|').unwrap_or_else(|| panic!("{row:?}"));
        (version.parse().unwrap(), serial.to_owned())
    }

    fn versions(&self, name: &str) -> u64 {
        self.pg
            .psql(&format!(
                "SELECT count(*) FROM certctl_version WHERE name = '{name}'"
            ))
            .parse()
            .unwrap()
    }

    fn created_by(&self, name: &str, version: u64) -> String {
        self.pg.psql(&format!(
            "SELECT created_by FROM certctl_version WHERE name = '{name}' AND version = {version}"
        ))
    }

    /// Waits until the fleet's live version of `name` is past `version`; returns the new one.
    fn next_version(&self, name: &str, version: u64) -> (u64, String) {
        let started = std::time::Instant::now();
        loop {
            let live = self.live(name);
            if live.0 > version {
                return live;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let list = self.run(0, &["list", "--json"]);
                let logs: Vec<String> = (0..3).map(|i| self.daemon_log(i)).collect();
                panic!(
                    "no renewal of {name} past version {version} within 60 s:\n{:?} {}{}\n{}\n{}",
                    list.status,
                    String::from_utf8_lossy(&list.stdout),
                    String::from_utf8_lossy(&list.stderr),
                    self.pg
                        .psql("SELECT name, record IS NULL, live_version FROM certctl_cert"),
                    logs.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The fleet's live version of `name`, once its next renewal is at least 10 s away (a
    /// renewal already due is waited out first), so what the test changes now applies to the
    /// next renewal and not to one under way.
    fn settle(&self, name: &str) -> u64 {
        loop {
            let (version, _) = self.live(name);
            let pem = self.pg.psql(&format!(
                "SELECT cert FROM certctl_version WHERE name = '{name}' AND version = {version}"
            ));
            let leaf = certctl::verify::parse_pem_chain(pem.as_bytes())
                .unwrap()
                .remove(0);
            let due = certctl::verify::cert_info(&leaf).unwrap().not_after - 2 * 86_400;
            if due - certctl::clock::unix_now() >= 10 {
                return version;
            }
            self.next_version(name, version);
        }
    }

    /// Waits until each of `nodes` serves `serial` for `name`; returns how long that took.
    fn all_serve(&self, nodes: &[usize], name: &str, serial: &str) -> Duration {
        let started = std::time::Instant::now();
        while !nodes
            .iter()
            .all(|&i| self.served(i, name).as_deref() == Some(serial))
        {
            if started.elapsed() > Duration::from_secs(20) {
                let logs: Vec<String> = (0..3).map(|i| self.daemon_log(i)).collect();
                panic!(
                    "{nodes:?} not serving {serial} within 20 s:\n{}",
                    logs.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        started.elapsed()
    }

    /// Waits until `fleet status` says every node's nginx was seen serving `serial` for `name`
    /// (exit 0, nothing lagging).
    fn status_agrees(&self, name: &str, serial: &str) {
        within(10, "fleet status agreeing", || {
            let (code, status) = self.status();
            let cert = entry(&status["certs"], "name", name).clone();
            let nodes = cert["nodes"].as_array()?.clone();
            let all = nodes.len() == 3
                && nodes.iter().all(|n| {
                    n["served_serial"] == serial
                        && n["verified_at"].is_i64()
                        && n["lagging"] == false
                        && n["problem"].is_null()
                });
            (code == 0 && cert["live_serial"] == serial && all).then_some(())
        });
    }

    /// `fleet status --json` from web1, with its exit code.
    fn status(&self) -> (i32, serde_json::Value) {
        let out = self.run(0, &["fleet", "status", "--json"]);
        (out.status.code().unwrap(), json(&out))
    }
}

/// `args` as the `&str`s [`ThreeNodes::run`] takes.
/// `run` again while it says a daemon is deploying the certificate right then (what a node's
/// daemon does for a moment after every new version and record), for up to 20 s.
fn when_not_deploying(run: impl Fn() -> Output) -> Output {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = run();
        let busy = String::from_utf8_lossy(&out.stdout).contains("is deploying it right now");
        if !busy || std::time::Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn argv(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Polls `f` every 100 ms for up to `secs` seconds until it returns Some.
fn within<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {secs} s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Three nodes (127.0.0.2, .3, .4 on ports 80 and 443 in a network namespace of their own),
/// three nginx, three `certctl daemon --nginx`, one PostgreSQL, pebble. The CA's DNS sends each
/// validation to a node the test picks, never (where the test can tell) the one ordering.
#[test]
fn three_nodes_converge_on_every_renewal_and_ride_out_faults() {
    if !crate::common::netns::enter(
        "fleet::three_nodes_converge_on_every_renewal_and_ride_out_faults",
    ) {
        return;
    }
    let lab = crate::common::Lab::with(crate::common::LabOptions {
        real_ports: true,
        validity_secs: Some(2 * 86_400 + RENEW_AFTER),
        authz_reuse: Some(0),
        ..Default::default()
    });
    let root = lab.dir.path().to_owned();
    let mut fleet = ThreeNodes::new(lab, &NODES);
    assert_ok(&fleet.run(0, &["fleet", "init"]));
    let directory = fleet.lab.directory_url();
    let ca_bundle = fleet.lab.ca_bundle.display().to_string();
    let issue = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "issue",
            name,
            "--server",
            &directory,
            "--ca-bundle",
            &ca_bundle,
            "--agree-tos",
            "--http-port",
            "80",
        ];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };

    // The first order: web1 orders; the CA's DNS sends the validation to web2, which answers
    // from the webroot the nodes share at first.
    let shared = root.join("shared-webroot");
    std::fs::create_dir(&shared).unwrap();
    for i in 0..3 {
        fleet.start_nginx(i, &shared);
    }
    fleet.lab.set_address("fleet.test", NODES[1].1);
    let first = issue(
        "fleet.test",
        &["--webroot", shared.to_str().unwrap(), "--no-self-check"],
    );
    assert_ok(&fleet.run(0, &argv(&first)));
    assert_eq!(
        [
            fleet.validations(0),
            fleet.validations(1),
            fleet.validations(2)
        ],
        [0, 1, 0],
        "the validation reached web2 only"
    );
    // From now on every node answers for the fleet's account without any token file; the
    // shared webroot is no longer served (orders still write their files there, unread).
    let snippet = root.join("acme-stateless.conf");
    assert_ok(&fleet.run(
        1,
        &[
            "fleet",
            "http01-snippet",
            "--server",
            &directory,
            "--out",
            snippet.to_str().unwrap(),
        ],
    ));
    for i in 0..3 {
        fleet.serve_stateless(i, &snippet);
    }
    for i in 0..3 {
        fleet.write_site(i, "fleet.test");
    }
    for i in 0..3 {
        fleet.start_daemon(i);
    }
    let (v1, serial1) = fleet.live("fleet.test");
    assert_eq!(
        (v1, fleet.created_by("fleet.test", v1).as_str()),
        (1, "web1")
    );
    fleet.all_serve(&[0, 1, 2], "fleet.test", &serial1);
    fleet.status_agrees("fleet.test", &serial1);

    // Renewals: when the certificate is due, all three daemons wake together; one orders, every
    // node serves the new serial. Validation goes to a node other than the one that ordered last.
    let mut last_orderer = "web1".to_owned();
    for round in 0..2 {
        let at = NODES.iter().position(|(n, _)| *n != last_orderer).unwrap();
        let target = NODES[at];
        let version = fleet.settle("fleet.test");
        fleet.lab.set_address("fleet.test", target.1);
        let seen = fleet.validations(at);
        let (v, serial) = fleet.next_version("fleet.test", version);
        let took = fleet.all_serve(&[0, 1, 2], "fleet.test", &serial);
        last_orderer = fleet.created_by("fleet.test", v);
        eprintln!(
            "round {round}: version {v} by {last_orderer}, validated at {}, on every node {took:?} after the test saw it",
            target.0
        );
        assert_eq!(v, version + 1, "one version per renewal");
        assert_eq!(fleet.validations(at), seen + 1, "validated at {}", target.0);
        assert_eq!(
            fleet.all_validations() as u64,
            fleet.versions("fleet.test"),
            "one order (one validation) per version"
        );
        fleet.status_agrees("fleet.test", &serial);
    }

    // web3's nginx -t fails: web3 says so in node status and keeps serving the old
    // certificate; web1 and web2 are not held up. Fixed, web3 catches up by itself.
    let version = fleet.settle("fleet.test");
    let broken = fleet.nodes[2].prefix.join("sites/broken.conf");
    std::fs::write(&broken, "this_is_not_a_directive on;\n").unwrap();
    let before = fleet.served(2, "fleet.test").unwrap();
    let (_, serial) = fleet.next_version("fleet.test", version);
    fleet.all_serve(&[0, 1], "fleet.test", &serial);
    let status = within(20, "web3's problem in fleet status", || {
        let (code, status) = fleet.status();
        let web3 = entry(
            &entry(&status["certs"], "name", "fleet.test")["nodes"],
            "node",
            "web3",
        )
        .clone();
        (code == 1
            && web3["problem"]
                .as_str()
                .is_some_and(|p| p.contains("this_is_not_a_directive")))
        .then_some(web3)
    });
    assert_eq!(status["lagging"], true);
    assert_eq!(status["served_serial"], before.as_str());
    assert_eq!(
        fleet.served(2, "fleet.test").as_deref(),
        Some(before.as_str())
    );
    std::fs::remove_file(&broken).unwrap();
    fleet.all_serve(&[2], "fleet.test", &serial);
    fleet.status_agrees("fleet.test", &serial);

    // web3's daemon is down during a renewal; the CA validates through web3's nginx (still
    // up), so the node that orders is not the one validated. web3 lags, then catches up.
    let version = fleet.settle("fleet.test");
    fleet.nodes[2].daemon = None;
    fleet.lab.set_address("fleet.test", NODES[2].1);
    let seen_web3 = fleet.validations(2);
    let (v, serial) = fleet.next_version("fleet.test", version);
    let version = v;
    assert_ne!(fleet.created_by("fleet.test", v), "web3");
    assert_eq!(
        fleet.validations(2),
        seen_web3 + 1,
        "validated through web3"
    );
    fleet.all_serve(&[0, 1], "fleet.test", &serial);
    let (code, status) = fleet.status();
    assert_eq!(code, 1, "{status:#}");
    let web3 = entry(
        &entry(&status["certs"], "name", "fleet.test")["nodes"],
        "node",
        "web3",
    )
    .clone();
    assert_eq!(web3["lagging"], true, "{status:#}");
    assert_ne!(
        fleet.served(2, "fleet.test").as_deref(),
        Some(serial.as_str())
    );
    fleet.start_daemon(2);
    fleet.all_serve(&[2], "fleet.test", &serial);
    fleet.status_agrees("fleet.test", &serial);

    // kill -9 of the renewer's node while its run holds the lease, before its new version:
    // another node takes the lease once it runs out and finishes; one new version, nothing
    // torn; the node, back, catches up.
    fleet.lab.set_address("fleet.test", NODES[0].1);
    let (holder, pid) = within(40, "a renewer holding the lease", || {
        let row = fleet.pg.psql(&format!(
            "SELECT holder FROM certctl_lease WHERE key = 'cert:fleet.test' AND \
             (SELECT live_version FROM certctl_cert WHERE name = 'fleet.test') = {version}"
        ));
        let mut parts = row.split(':');
        let node = parts.next().filter(|n| !n.is_empty())?.to_owned();
        Some((node, parts.next()?.parse::<i32>().ok()?))
    });
    // The whole node dies: its daemon, then the renew run holding the lease (its own
    // process group).
    let dead = fleet.nodes.iter().position(|n| n.name == holder).unwrap();
    let daemon = fleet.nodes[dead].daemon.as_ref().unwrap().id();
    for victim in [daemon, pid as u32] {
        let killed = Command::new("kill")
            .args(["-9", &victim.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }
    let (v, serial) = fleet.next_version("fleet.test", version);
    assert_eq!(v, version + 1);
    let version = v;
    let finisher = fleet.created_by("fleet.test", v);
    eprintln!("killed {holder} (pid {pid}) holding the lease; {finisher} made version {v}");
    assert_ne!(finisher, holder, "another node finished the renewal");
    assert_eq!(
        fleet.versions("fleet.test"),
        version,
        "no version lost or doubled"
    );
    // The node comes back and catches up.
    fleet.start_daemon(dead);
    fleet.all_serve(&[0, 1, 2], "fleet.test", &serial);
    fleet.status_agrees("fleet.test", &serial);
    for n in &fleet.nodes {
        let live = n.state.join("live/fleet.test");
        assert_eq!(mode(&live.join("privkey.pem")), 0o600);
        let cert = std::fs::read(live.join("cert.pem")).unwrap();
        let leaf = certctl::verify::parse_pem_chain(&cert).unwrap().remove(0);
        assert_eq!(
            certctl::verify::cert_info(&leaf).unwrap().serial,
            serial,
            "{}",
            n.name
        );
    }

    // PostgreSQL stops across a renewal window: every node keeps serving, the daemons say so,
    // and the renewal happens once the database is back.
    let version = fleet.settle("fleet.test");
    fleet.pg.stop();
    for i in 0..3 {
        within(40, "the daemons noticing", || {
            fleet
                .daemon_log(i)
                .contains("fleet database is unreachable")
                .then_some(())
        });
    }
    within(40, "a renew run failing while the database is away", || {
        (0..3)
            .any(|i| fleet.daemon_log(i).contains("renewals wait, trying again"))
            .then_some(())
    });
    for i in 0..3 {
        assert_eq!(
            fleet.served(i, "fleet.test").as_deref(),
            Some(serial.as_str())
        );
    }
    fleet.pg.start_server();
    let (v, serial) = fleet.next_version("fleet.test", version);
    assert_eq!(v, version + 1);
    fleet.all_serve(&[0, 1, 2], "fleet.test", &serial);
    fleet.status_agrees("fleet.test", &serial);
    for i in 0..3 {
        // A new node's daemon makes its state directory for its heartbeat too.
        assert!(
            !fleet.daemon_log(i).contains("cannot write the heartbeat"),
            "{}",
            fleet.daemon_log(i)
        );
        assert!(
            fleet.daemon_log(i).contains("fleet database is back"),
            "{}",
            fleet.daemon_log(i)
        );
    }
    eprintln!("{}", fleet.daemon_log(0));
}

/// Two nodes (127.0.0.2 and .3 in a network namespace of their own) each running the same
/// plain-HTTP site in Debian's layout, each with `certctl daemon --nginx` and its own paths.
/// `issue --nginx` on web1 takes web1's site to HTTPS; web2's daemon places the same site on
/// web2 from the fleet's record, serving web2's own content. A renewal ordered on web1 is
/// validated through web2, which has no token file: its ACME location answers for the fleet's
/// account.
#[test]
fn issue_nginx_on_one_node_makes_every_node_serve_the_site() {
    if !crate::common::netns::enter(
        "fleet::issue_nginx_on_one_node_makes_every_node_serve_the_site",
    ) {
        return;
    }
    let lab = crate::common::Lab::with(crate::common::LabOptions {
        real_ports: true,
        authz_reuse: Some(0),
        ..Default::default()
    });
    let nodes = [("web1", "127.0.0.2"), ("web2", "127.0.0.3")];
    let mut fleet = ThreeNodes::new(lab, &nodes);
    assert_ok(&fleet.run(0, &["fleet", "init"]));
    // Each node's paths, as its config file would give them to every certctl command there.
    let prefixes: Vec<PathBuf> = fleet.nodes.iter().map(|n| n.prefix.clone()).collect();
    // `args` followed by the node's paths.
    let on = |node: usize, args: &[&str]| -> Vec<String> {
        let p = &prefixes[node];
        let at = |sub: &str| p.join(sub).display().to_string();
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend([
            "--nginx-prefix".into(),
            at(""),
            "--nginx-conf".into(),
            at("nginx.conf"),
            "--nginx-sites".into(),
            at("sites-available"),
            "--nginx-enabled".into(),
            at("sites-enabled"),
            "--nginx-snippets".into(),
            at("snippets"),
            "--acme-webroot".into(),
            at("acme"),
        ]);
        all
    };
    // Each node's own plain-HTTP sites (the same on every node, as a fleet's are); web1 also
    // listens on 127.0.0.1, where issue's own self-check looks.
    let user_site = |node: usize, name: &str| {
        let n = &fleet.nodes[node];
        format!(
            "server {{\n    listen {addr}:80;\n{extra}    server_name {name};\n    root {www};\n    index index.html;\n}}\n",
            addr = n.addr,
            extra = if node == 0 {
                "    listen 127.0.0.1:80;\n"
            } else {
                ""
            },
            www = n.prefix.join("www").display(),
        )
    };
    let sites: Vec<String> = (0..2).map(|i| user_site(i, "site.test")).collect();
    let later: Vec<String> = (0..2).map(|i| user_site(i, "shop.test")).collect();
    let failing: Vec<String> = (0..2).map(|i| user_site(i, "gone.test")).collect();
    let site_text = |node: usize| sites[node].clone();
    for i in 0..2 {
        let n = &mut fleet.nodes[i];
        for sub in ["tmp", "logs", "sites-available", "sites-enabled", "www"] {
            std::fs::create_dir_all(n.prefix.join(sub)).unwrap();
        }
        std::fs::write(
            n.prefix.join("www/index.html"),
            format!("hello from {}\n", n.name),
        )
        .unwrap();
        for (file, text) in [
            ("app", site_text(i)),
            ("shop", later[i].clone()),
            ("gone", failing[i].clone()),
        ] {
            std::fs::write(n.prefix.join("sites-available").join(file), text).unwrap();
            std::os::unix::fs::symlink(
                n.prefix.join("sites-available").join(file),
                n.prefix.join("sites-enabled").join(file),
            )
            .unwrap();
        }
        let conf = format!(
            "{preamble}    include {prefix}/sites-enabled/*;\n}}\n",
            preamble = crate::common::nginx::nginx_preamble(&n.prefix),
            prefix = n.prefix.display(),
        );
        std::fs::write(n.prefix.join("nginx.conf"), conf).unwrap();
        fleet.spawn_nginx(i);
    }
    for i in 0..2 {
        let args = on(
            i,
            &[
                "daemon",
                "--cron",
                "0 0 0 1 1 *",
                "--recheck",
                "1s",
                "--nginx",
            ],
        );
        fleet.spawn_daemon(i, &argv(&args));
    }

    // The first order of the fleet, before it has an account: web1 registers one, then asks
    // every node to serve the order's challenges; the CA's DNS sends the validation to web2.
    fleet.lab.set_address("site.test", nodes[1].1);
    let directory = fleet.lab.directory_url();
    let ca_bundle = fleet.lab.ca_bundle.display().to_string();
    let args = on(
        0,
        &[
            "issue",
            "site.test",
            "--nginx",
            "--server",
            &directory,
            "--ca-bundle",
            &ca_bundle,
            "--agree-tos",
        ],
    );
    assert_ok(&fleet.run(0, &argv(&args)));
    assert_eq!(fleet.validations(1), 1, "the CA validated through web2");
    let (_, serial1) = fleet.live("site.test");
    let (root_pem, _) = fleet.lab.pebble_roots();
    let page = |node: usize| {
        let addr = format!("{}:443", fleet.nodes[node].addr).parse().unwrap();
        crate::common::https_get_at(addr, "site.test", "/", &root_pem)
    };
    assert_eq!(page(0).unwrap().body, "hello from web1\n");

    // web2 was told nothing: its daemon places the site from the fleet's record, with web2's
    // paths and web2's own content, and serves the certificate.
    within(20, "web2 serving the site over HTTPS", || {
        (fleet.served(1, "site.test").as_deref() == Some(serial1.as_str())).then_some(())
    });
    let p2 = &fleet.nodes[1].prefix;
    assert!(p2.join("sites-available/certctl-site.test.conf").exists());
    assert!(p2.join("sites-enabled/certctl-site.test.conf").exists());
    assert_eq!(page(1).unwrap().body, "hello from web2\n");
    let http =
        crate::common::http_get_at("127.0.0.3:80".parse().unwrap(), "site.test", "/x?y=1").unwrap();
    assert_eq!(http.status, 301, "{}", http.body);
    assert_eq!(http.header("location"), Some("https://site.test/x?y=1"));
    // Its port-80 server answers the fleet account's tokens without a file.
    let token = crate::common::http_get_at(
        "127.0.0.3:80".parse().unwrap(),
        "site.test",
        "/.well-known/acme-challenge/no-file-here",
    )
    .unwrap();
    assert_eq!(token.status, 200);
    assert!(token.body.starts_with("no-file-here."), "{}", token.body);

    // A renewal web1 orders is validated through web2, which never saw the token.
    fleet.lab.set_address("site.test", nodes[1].1);
    let before = fleet.validations(1);
    let renew = when_not_deploying(|| fleet.run(0, &["renew", "--force", "site.test"]));
    assert_ok(&renew);
    assert_eq!(
        fleet.validations(1),
        before + 1,
        "the CA validated through web2"
    );
    let (v2, serial2) = fleet.live("site.test");
    assert_eq!(v2, 2);
    within(20, "both nodes serving the renewed certificate", || {
        (0..2)
            .all(|i| fleet.served(i, "site.test").as_deref() == Some(serial2.as_str()))
            .then_some(())
    });
    // Placed at the first try, never failed on any cycle.
    let log = fleet.daemon_log(1);
    assert!(!log.contains("not deployed here"), "{log}");

    // A first order for a name only the users' own port-80 servers serve, the fleet's account
    // known: web1 orders and the CA's DNS sends the validation to web2, whose daemon set up the
    // challenges there before the CA was told to validate.
    fleet.lab.set_address("shop.test", nodes[1].1);
    let before = fleet.validations(1);
    let args = on(
        0,
        &[
            "issue",
            "shop.test",
            "--nginx",
            "--server",
            &directory,
            "--ca-bundle",
            &ca_bundle,
        ],
    );
    assert_ok(&fleet.run(0, &argv(&args)));
    assert_eq!(
        fleet.validations(1),
        before + 1,
        "the CA validated through web2"
    );
    let (_, shop_serial) = fleet.live("shop.test");
    within(20, "both nodes serving shop.test", || {
        (0..2)
            .all(|i| fleet.served(i, "shop.test").as_deref() == Some(shop_serial.as_str()))
            .then_some(())
    });
    assert!(
        fleet
            .daemon_log(1)
            .contains("shop.test: serving the first order's challenges here"),
        "{}",
        fleet.daemon_log(1)
    );

    // A first order that fails (the CA's DNS sends it where nothing listens) leaves every
    // node's files as they were: web2 reverts what it set up for it.
    fleet.lab.set_address("gone.test", "127.0.0.9");
    let args = on(
        0,
        &[
            "issue",
            "gone.test",
            "--nginx",
            "--server",
            &directory,
            "--ca-bundle",
            &ca_bundle,
        ],
    );
    let failed = fleet.run(0, &argv(&args));
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    within(20, "web2's challenges for gone.test reverted", || {
        let now =
            std::fs::read_to_string(fleet.nodes[1].prefix.join("sites-available/gone")).ok()?;
        (now == failing[1]
            && fleet
                .daemon_log(1)
                .contains("gone.test: the first order is over: its challenges reverted here"))
        .then_some(())
    });

    // A change to the site without a new version (`certctl nginx` on web1) reaches web2 too.
    let args = on(0, &["nginx", "site.test", "--hsts", "600"]);
    assert_ok(&fleet.run(0, &argv(&args)));
    within(20, "web2 sending the changed HSTS header", || {
        let response = page(1).ok()?;
        (response.header("strict-transport-security") == Some("max-age=600")).then_some(())
    });

    // A renewal web2's daemon orders is deployed to web2's own nginx, not to the one the record
    // names (web1's paths, where the site was issued).
    let args = on(
        1,
        &[
            "daemon",
            "--one-run",
            "--cron",
            "0 0 0 1 1 *",
            "--days",
            "3650",
            "--nginx",
        ],
    );
    // The scheduled run says nothing when web2's daemon is deploying the certificate right
    // then: it runs again until it renews, as the next timer run would.
    within(20, "web2's run renewing the certificate", || {
        assert_ok(&fleet.run(1, &argv(&args)));
        (fleet.live("site.test").0 == 3).then_some(())
    });
    let (v3, serial3) = fleet.live("site.test");
    assert_eq!(v3, 3, "web2's run renewed the certificate");
    within(20, "both nodes serving web2's renewal", || {
        (0..2)
            .all(|i| fleet.served(i, "site.test").as_deref() == Some(serial3.as_str()))
            .then_some(())
    });

    // A renewal whose deploy fails on the renewing node (web1's nginx serves copies of the old
    // files) is not rolled back on a fleet: web2 serves it, web1 says why, and web1's daemon
    // deploys it once web1's nginx reads the live files again.
    let site_file = prefixes[0].join("sites-available/certctl-site.test.conf");
    let original = std::fs::read_to_string(&site_file).unwrap();
    let live1 = fleet.nodes[0].state.join("live/site.test");
    let copies = fleet.lab.dir.path().join("web1-copies");
    std::fs::create_dir_all(&copies).unwrap();
    for f in ["fullchain.pem", "privkey.pem"] {
        std::fs::copy(live1.join(f), copies.join(f)).unwrap();
    }
    let pointed = original.replace(&live1.display().to_string(), &copies.display().to_string());
    assert_ne!(pointed, original);
    std::fs::write(&site_file, &pointed).unwrap();
    let renew = when_not_deploying(|| fleet.run(0, &["renew", "--force", "site.test"]));
    assert_eq!(renew.status.code(), Some(1), "{}", stderr(&renew));
    assert!(
        stderr(&renew).contains("on a fleet nothing is rolled back"),
        "{}",
        stderr(&renew)
    );
    let (v4, serial4) = fleet.live("site.test");
    assert_eq!(v4, 4, "the renewal stays the fleet's live version");
    within(20, "web2 serving the renewal web1 could not deploy", || {
        (fleet.served(1, "site.test").as_deref() == Some(serial4.as_str())).then_some(())
    });
    assert_eq!(
        fleet.served(0, "site.test").as_deref(),
        Some(serial3.as_str())
    );
    std::fs::write(&site_file, &original).unwrap();
    within(
        20,
        "web1's daemon deploying it once nginx reads the live files",
        || (fleet.served(0, "site.test").as_deref() == Some(serial4.as_str())).then_some(()),
    );

    // `--revert` on web1 reverts what web2's daemon placed: plain HTTP serves web2's page again
    // and web2's own file is as it was.
    let args = on(0, &["nginx", "site.test", "--revert"]);
    assert_ok(&fleet.run(0, &argv(&args)));
    within(20, "web2's site reverted", || {
        let http =
            crate::common::http_get_at("127.0.0.3:80".parse().unwrap(), "site.test", "/").ok()?;
        (http.status == 200 && http.body == "hello from web2\n").then_some(())
    });
    assert!(!p2.join("sites-enabled/certctl-site.test.conf").exists());
    assert_eq!(
        std::fs::read_to_string(p2.join("sites-available/app")).unwrap(),
        site_text(1)
    );
    // The daemon says so once the cycle that reverted it ends.
    within(10, "web2's daemon saying it reverted the site", || {
        fleet
            .daemon_log(1)
            .contains("site.test: nginx site reverted here")
            .then_some(())
    });
    for node in 0..2 {
        let log = fleet.daemon_log(node);
        assert!(
            !log.contains("cannot revert") && !log.contains("cannot place"),
            "{log}"
        );
    }
}
