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
use crate::common::{assert_ok, eventually, mode, stderr};

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
        pg.psql("SELECT string_agg(version::text, ',') FROM certctl_schema_version"),
        "1"
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
    let runs: Vec<_> = [web1(bare(["renew"])), web2(bare(["renew"]))]
        .into_iter()
        .map(|mut cmd| {
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for run in runs {
        assert_ok(&run.wait_with_output().unwrap());
    }
    assert_eq!(pg.psql("SELECT count(*) FROM certctl_version"), "3");
    assert_eq!(pg.psql("SELECT live_version FROM certctl_cert"), "3");
    assert_ok(&web1(bare(["fleet", "sync"])).output().unwrap());
    assert_ok(&web2(bare(["fleet", "sync"])).output().unwrap());
    assert_ok(&web1(bare(["fleet", "status"])).output().unwrap());
    assert_eq!(
        std::fs::read(lab.state_dir.join("live/fleet.test/cert.pem")).unwrap(),
        std::fs::read(web2_state.join("live/fleet.test/cert.pem")).unwrap()
    );
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
