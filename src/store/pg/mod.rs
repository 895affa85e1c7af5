//! The PostgreSQL store: one fleet of nodes sharing certificates, renewal records and state,
//! ACME accounts and node status (issue 16; see docs/ARCHITECTURE.md).
//!
//! - **The database is the source of truth**; each node still keeps its own local `live/NAME`
//!   set, written by [`FsStore::install_version`] (the same atomic directory rename and symlink
//!   swap as the single-server store), so nginx reads local files and keeps serving when the
//!   database is away. Version numbers are the fleet's.
//! - **Keys never reach the database in the clear**: private keys and account credentials are
//!   sealed with the fleet key ([`super::seal`]) before they are sent.
//! - **One writer per certificate by a lease with a fence**: `try_lock_cert` takes the lease row
//!   of `cert:NAME` with an upsert that only succeeds when the previous lease expired; the fence
//!   comes from a sequence; a task heartbeats while the [`StoreLock`] lives; every write locks
//!   the lease row and checks that the fence is still the holder's, in the same transaction as
//!   the write, so a stale holder's late write is refused ([`StoreError::Fenced`]). The
//!   database's clock decides expiry, never a node's. No advisory locks (they give no fence and
//!   do not survive PgBouncer's transaction pooling).
//! - The deploy claim stays local (each node deploys its own nginx).
//!
//! The [`CertStore`] trait is synchronous; this store answers on its own small tokio runtime,
//! every call bounded by [`DEADLINE`] (connect, queries, commit), so a caller on any thread or
//! runtime waits at most that long.

pub mod schema;
pub mod status;
pub mod tls;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, GenericClient, Row};

use super::seal::{FleetKey, account_context, privkey_context};
use super::{
    CertFiles, CertStore, ChallengeRequest, DeployStep, FsStore, KeySlot, LivePaths, StoreError,
    StoreLock,
};
use crate::config::RenewalRecord;
use crate::renewal::state::{RenewalState, Stamp};

/// Every store call (connect, statements, commit) finishes within this, or fails.
pub const DEADLINE: Duration = Duration::from_secs(15);
/// How long a first order's challenge request stands when the node that made it never
/// withdraws it (killed): then the nodes undo what they placed for it.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(600);
/// How long a lease lasts without a heartbeat.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

/// A first order's challenge request, as a node's daemon reads it.
#[derive(Clone, Debug)]
pub struct PendingChallenge {
    /// What to serve.
    pub request: ChallengeRequest,
    /// The request's number (a new one each time it is made).
    pub number: i64,
    /// This node confirmed this very request already.
    pub confirmed_here: bool,
}

/// How to open a fleet store.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// `postgres://…` (libpq's URL or key=value form).
    pub url: String,
    /// The fleet key file.
    pub key_path: PathBuf,
    /// This node's name (node status, lease holders).
    pub node: String,
    /// This node's local state directory (live/ for nginx).
    pub local_root: PathBuf,
    /// How long a lease lasts without a heartbeat (heartbeats every third of it).
    pub lease_ttl: Duration,
}

/// What `fleet init` did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InitReport {
    /// The schema version before.
    pub schema_from: i32,
    /// The schema version now.
    pub schema_to: i32,
    /// A new fleet key file was written.
    pub key_created: bool,
}

/// How long the snapshot `cert_names` takes answers reads made without the certificate's lease.
const SNAPSHOT_AGE: Duration = Duration::from_secs(2);

/// What `cert_names` read of every certificate in the same statement: a renew run's screen over
/// hundreds of certificates then costs one round trip, not three per certificate. Only reads
/// that are racy anyway (no lease held) are answered from it; a read under this process's lease,
/// or of a certificate this process wrote since, goes to the database.
struct Snapshot {
    taken: std::time::Instant,
    certs: HashMap<String, SnapRow>,
}

#[derive(Clone)]
struct SnapRow {
    live_version: Option<u64>,
    stamp: Stamp,
    state: Option<String>,
}

/// A certificate's lease key.
pub fn cert_key(name: &str) -> String {
    format!("cert:{name}")
}

fn account_key(directory_url: &str) -> String {
    format!("account:{directory_url}")
}

/// What a node's deploy of one certificate came to, for node status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeDeploy {
    /// The certificate.
    pub name: String,
    /// The serial a handshake saw nginx serve (None: the deploy failed).
    pub served: Option<String>,
    /// Why it failed.
    pub problem: Option<String>,
}

/// What the listening connection reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// A certificate has a new live version.
    Live(String),
    /// The connection ended, and why.
    Lost(String),
}

/// The listening connection: closed when dropped.
pub struct Listener {
    _client: Client,
}

/// A held lease, as a test or a workflow sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// What it covers (`cert:NAME`, `account:URL`).
    pub key: String,
    /// Its fence: larger than every fence handed out before it.
    pub fence: i64,
}

/// The fleet store. Cheap to clone (one connection and runtime, shared).
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("node", &self.inner.node)
            .finish_non_exhaustive()
    }
}

struct Inner {
    target: Target,
    client: tokio::sync::Mutex<Option<Client>>,
    key: FleetKey,
    node: String,
    holder: String,
    local: FsStore,
    held: Mutex<HashMap<String, i64>>,
    /// The record revision this process last brought into the local store, per certificate.
    synced_records: Mutex<HashMap<String, i64>>,
    snapshot: Mutex<Option<Snapshot>>,
    lease_ttl: Duration,
    round_trips: AtomicU64,
}

impl Drop for Inner {
    fn drop(&mut self) {
        tracing::debug!(
            "postgres store: {} database round trips",
            self.round_trips.load(Ordering::Relaxed)
        );
    }
}

fn db(action: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| {
        // The server's own message when there is one: "relation … does not exist" beats "db error".
        let reason = match e.as_db_error() {
            Some(d) => d.message().to_owned(),
            // tokio-postgres's message leaves out its cause ("error performing TLS handshake"
            // and not why): the chain, joined.
            None => crate::acme::error_chain(&e),
        };
        StoreError::Db { action, reason }
    }
}

/// Where the store connects, and how the link is secured ([`tls`]).
#[derive(Clone)]
struct Target {
    config: tokio_postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
}

fn parse_target(url: &str) -> Result<Target, StoreError> {
    let (mut config, tls) = tls::parse(url)?;
    // Keepalives find a connection the network dropped silently (a daemon's LISTEN) within a
    // minute instead of hours.
    config
        .connect_timeout(Duration::from_secs(5))
        .keepalives_idle(Duration::from_secs(30))
        .keepalives_interval(Duration::from_secs(10))
        .keepalives_retries(3)
        .application_name("certctl");
    Ok(Target { config, tls })
}

/// The runtime every fleet store of the process answers on (never dropped: a store may go
/// away on any thread, inside another runtime too).
fn runtime() -> Result<&'static tokio::runtime::Runtime, StoreError> {
    static RT: std::sync::OnceLock<Option<tokio::runtime::Runtime>> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("certctl-pg")
            .enable_all()
            .build()
            .ok()
    })
    .as_ref()
    .ok_or(StoreError::Db {
        action: "cannot start the database runtime for",
        reason: "the thread or timer could not be made".into(),
    })
}

/// Runs `fut` on `rt` and waits for it from any thread, within [`DEADLINE`].
fn run_on<T: Send + 'static>(
    fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let rt = runtime()?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let result = match tokio::time::timeout(DEADLINE, fut).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Db {
                action: "no answer in time from",
                reason: format!("gave up after {} s", DEADLINE.as_secs()),
            }),
        };
        let _ = tx.send(result);
    });
    rx.recv().unwrap_or_else(|_| {
        Err(StoreError::Db {
            action: "lost the request to",
            reason: "the database runtime stopped".into(),
        })
    })
}

/// One connection for init (before a key is known to be right).
async fn connect(target: &Target) -> Result<Client, StoreError> {
    let (client, connection) = target
        .config
        .connect(target.tls.clone())
        .await
        .map_err(db("cannot connect to"))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("postgres connection ended: {e}");
        }
    });
    Ok(client)
}

/// `fleet init`: the schema brought to [`schema::LATEST`] and the fleet key created or checked.
/// Idempotent; safe to run from every node.
pub fn init(url: &str, key_path: &std::path::Path) -> Result<InitReport, StoreError> {
    let target = parse_target(url)?;
    let key_path = key_path.to_owned();
    run_on(async move {
        let mut client = connect(&target).await?;
        let (schema_from, schema_to) = migrate(&mut client).await?;
        let stored: Option<Vec<u8>> = client
            .query_opt("SELECT key_check FROM certctl_fleet", &[])
            .await
            .map_err(db("cannot read the fleet from"))?
            .map(|row| row.get(0));
        let (key, key_created) = match (key_path.exists(), &stored) {
            (true, _) => (FleetKey::load(&key_path)?, false),
            (false, Some(_)) => {
                return Err(StoreError::FleetKey {
                    path: key_path,
                    reason: "no such file, and this fleet already has a key: copy it here from a node that has it (0600)".into(),
                });
            }
            (false, None) => (FleetKey::create(&key_path)?, true),
        };
        match stored {
            Some(check) => key.verify_check(&check)?,
            None => {
                client
                    .execute(
                        "INSERT INTO certctl_fleet (key_check) VALUES ($1) ON CONFLICT DO NOTHING",
                        &[&key.check_value()?],
                    )
                    .await
                    .map_err(db("cannot write the fleet to"))?;
                // Another node's init may have won the race with its own key.
                let row = client
                    .query_one("SELECT key_check FROM certctl_fleet", &[])
                    .await
                    .map_err(db("cannot read the fleet from"))?;
                key.verify_check(row.get(0))?;
            }
        }
        Ok(InitReport {
            schema_from,
            schema_to,
            key_created,
        })
    })
}

/// Applies the migrations past the database's version in one transaction, the version table
/// locked so two nodes' inits run one after the other.
async fn migrate(client: &mut Client) -> Result<(i32, i32), StoreError> {
    client
        .batch_execute(schema::VERSION_TABLE)
        .await
        .map_err(db("cannot create the schema table in"))?;
    let tx = client
        .transaction()
        .await
        .map_err(db("cannot begin a transaction in"))?;
    tx.batch_execute("LOCK TABLE certctl_schema_version IN SHARE ROW EXCLUSIVE MODE")
        .await
        .map_err(db("cannot lock the schema table in"))?;
    let current: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM certctl_schema_version",
            &[],
        )
        .await
        .map_err(db("cannot read the schema version from"))?
        .get(0);
    let pending = schema::pending(current).map_err(StoreError::Schema)?;
    for n in pending {
        tx.batch_execute(schema::MIGRATIONS[n])
            .await
            .map_err(db("cannot migrate"))?;
        let version = n as i32 + 1;
        tx.execute(
            "INSERT INTO certctl_schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(db("cannot record the schema version in"))?;
    }
    tx.commit().await.map_err(db("cannot commit to"))?;
    Ok((current, schema::LATEST))
}

impl PgStore {
    /// Opens the fleet store: loads the key file, connects, and checks that the schema is this
    /// certctl's and that the key is the fleet's (a wrong or missing key fails here, clearly).
    pub fn open(opts: &PgOptions) -> Result<Self, StoreError> {
        let store = Self::open_unchecked(opts)?;
        store.check()?;
        Ok(store)
    }

    /// As [`PgStore::open`] without its first statement: the URL and the fleet key are read,
    /// the database is not asked anything yet. For a daemon that must start while the database
    /// is away; it calls [`PgStore::check`] once the database answers.
    pub fn open_unchecked(opts: &PgOptions) -> Result<Self, StoreError> {
        let target = parse_target(&opts.url)?;
        let key = FleetKey::load(&opts.key_path)?;
        let mut nonce = [0u8; 4];
        let _ = getrandom::fill(&mut nonce);
        let store = Self {
            inner: Arc::new(Inner {
                target,
                client: tokio::sync::Mutex::new(None),
                key,
                holder: format!(
                    "{}:{}:{:08x}",
                    opts.node,
                    std::process::id(),
                    u32::from_le_bytes(nonce)
                ),
                node: opts.node.clone(),
                local: FsStore::new(&opts.local_root),
                held: Mutex::new(HashMap::new()),
                synced_records: Mutex::new(HashMap::new()),
                snapshot: Mutex::new(None),
                lease_ttl: opts.lease_ttl,
                round_trips: AtomicU64::new(0),
            }),
        };
        Ok(store)
    }

    /// The schema is this certctl's and the fleet key is the fleet's.
    pub fn check(&self) -> Result<(), StoreError> {
        let row = self
            .query_opt(
                "SELECT (SELECT max(version) FROM certctl_schema_version), \
                 (SELECT key_check FROM certctl_fleet)",
                vec![],
            )
            .map_err(|e| match e {
                StoreError::Db { reason, .. } if reason.contains("does not exist") => {
                    StoreError::Schema(
                        "the database has no certctl schema: run `certctl fleet init --store …`"
                            .into(),
                    )
                }
                e => e,
            })?
            .expect("one row");
        let version: Option<i32> = row.get(0);
        match version.unwrap_or(0) {
            v if v == schema::LATEST => {}
            v if v < schema::LATEST => {
                return Err(StoreError::Schema(format!(
                    "the database's certctl schema is version {v}, this certctl needs {}: run `certctl fleet init --store …`",
                    schema::LATEST
                )));
            }
            v => return Err(StoreError::Schema(schema::pending(v).unwrap_err())),
        }
        let check: Option<Vec<u8>> = row.get(1);
        match check {
            Some(check) => self.inner.key.verify_check(&check),
            None => Err(StoreError::Schema(
                "the fleet has no key yet: run `certctl fleet init --store …`".into(),
            )),
        }
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// The local store this node's nginx reads.
    pub fn local(&self) -> &FsStore {
        &self.inner.local
    }

    /// How many statements (round trips) this store has sent so far.
    pub fn round_trips(&self) -> u64 {
        self.inner.round_trips.load(Ordering::Relaxed)
    }

    /// Runs `fut` on the store's runtime within [`DEADLINE`]; a connection that timed out
    /// mid-statement is dropped, so the next call starts on a fresh one.
    fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        let result = run_on(fut);
        if matches!(&result, Err(StoreError::Db { action, .. }) if *action == "no answer in time from")
        {
            let _ = run_on(async move {
                inner.client.lock().await.take();
                Ok(())
            });
        }
        result
    }

    /// One statement outside a transaction.
    fn query(&self, sql: &'static str, params: Vec<P>) -> Result<Vec<Row>, StoreError> {
        let inner = self.inner.clone();
        self.run(async move {
            let guard = inner.connected().await?;
            let client = guard.as_ref().expect("connected");
            inner.q(client, sql, &params).await
        })
    }

    fn query_opt(&self, sql: &'static str, params: Vec<P>) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The fence this process holds on `key`, or a lease taken just for one write (released
    /// when the returned lock drops). Another holder's live lease refuses the write.
    fn fence(&self, key: &str) -> Result<(i64, Option<StoreLock>), StoreError> {
        if let Some(name) = key.strip_prefix("cert:") {
            self.forget(name);
        }
        if let Some(fence) = self.held_fence(key) {
            return Ok((fence, None));
        }
        let lock = self
            .try_lease_lock(key)?
            .ok_or_else(|| StoreError::LeaseBusy(key.to_owned()))?;
        let fence = self
            .held_fence(key)
            .expect("a lease just taken is registered");
        Ok((fence, Some(lock)))
    }

    /// The snapshot's row for `name`, when it may answer (see [`Snapshot`]).
    fn snapped(&self, name: &str) -> Option<SnapRow> {
        if self.held_fence(&cert_key(name)).is_some() {
            return None;
        }
        let snapshot = self
            .inner
            .snapshot
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let snapshot = snapshot.as_ref()?;
        if snapshot.taken.elapsed() >= SNAPSHOT_AGE {
            return None;
        }
        snapshot.certs.get(name).cloned()
    }

    /// Drops `name` from the snapshot: this process is about to write it.
    fn forget(&self, name: &str) {
        if let Some(snapshot) = self
            .inner
            .snapshot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            snapshot.certs.remove(name);
        }
    }

    fn held_fence(&self, key: &str) -> Option<i64> {
        self.inner
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied()
    }

    /// Tries to take the lease on `key` for `ttl`: Some(fence) when this call took it (the old
    /// lease, if any, had expired), None when another holder's lease is still running. Takes
    /// no heartbeat: [`PgStore::heartbeat`] keeps it.
    pub fn try_lease(&self, key: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let rows = self.query(
            "INSERT INTO certctl_lease AS l (key, holder, fence, taken_at, expires_at) \
             VALUES ($1, $2, nextval('certctl_fence'), now(), now() + make_interval(secs => $3)) \
             ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, fence = excluded.fence, \
                 taken_at = excluded.taken_at, expires_at = excluded.expires_at \
             WHERE l.expires_at <= now() \
             RETURNING fence",
            vec![
                P::Text(key.to_owned()),
                P::Text(self.inner.holder.clone()),
                P::Float(ttl.as_secs_f64()),
            ],
        )?;
        Ok(rows.first().map(|row| Lease {
            key: key.to_owned(),
            fence: row.get(0),
        }))
    }

    /// Extends a lease by `ttl` from now; [`StoreError::Fenced`] when it is no longer the
    /// holder's (it expired and someone took it).
    pub fn heartbeat(&self, lease: &Lease, ttl: Duration) -> Result<(), StoreError> {
        let inner = self.inner.clone();
        let lease = lease.clone();
        self.run(async move { inner.heartbeat(&lease.key, lease.fence, ttl).await })
    }

    /// Gives a lease up (no-op when it is no longer the holder's).
    pub fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        self.query(
            "DELETE FROM certctl_lease WHERE key = $1 AND fence = $2",
            vec![P::Text(lease.key.clone()), P::Int(lease.fence)],
        )
        .map(drop)
    }

    /// Takes the lease on `key` as a [`StoreLock`]: registered as this process's fence for
    /// writes, kept alive by a heartbeat task, released when the lock drops.
    fn try_lease_lock(&self, key: &str) -> Result<Option<StoreLock>, StoreError> {
        let ttl = self.inner.lease_ttl;
        let Some(lease) = self.try_lease(key, ttl)? else {
            return Ok(None);
        };
        self.inner
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_owned(), lease.fence);
        let inner = Arc::downgrade(&self.inner);
        let (key_hb, fence) = (lease.key.clone(), lease.fence);
        let heartbeat = runtime()?.spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                let Some(inner) = inner.upgrade() else { return };
                match tokio::time::timeout(ttl / 3, inner.heartbeat(&key_hb, fence, ttl)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e @ StoreError::Fenced { .. })) => {
                        tracing::warn!("{e}");
                        return;
                    }
                    Ok(Err(e)) => tracing::warn!("lease heartbeat for {key_hb}: {e}"),
                    Err(_) => tracing::warn!("lease heartbeat for {key_hb}: no answer in time"),
                }
            }
        });
        Ok(Some(StoreLock(Box::new(HeldLease {
            store: self.clone(),
            lease,
            heartbeat,
        }))))
    }

    /// Writes guarded by the fence this process holds on `key` (or a lease taken for them):
    /// `steps` runs inside a transaction that first locks the lease row and checks the fence.
    fn fenced<T: Send + 'static>(&self, key: &str, steps: impl Steps<T>) -> Result<T, StoreError> {
        let (fence, _transient) = self.fence(key)?;
        self.fenced_with(
            &Lease {
                key: key.to_owned(),
                fence,
            },
            steps,
        )
    }

    /// Like [`PgStore::fenced`] with an explicit lease (tests hold leases by hand).
    fn fenced_with<T: Send + 'static>(
        &self,
        lease: &Lease,
        steps: impl Steps<T>,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        let lease = lease.clone();
        self.run(async move {
            let mut guard = inner.connected().await?;
            let client = guard.as_mut().expect("connected");
            inner.count(1);
            let tx = client
                .transaction()
                .await
                .map_err(db("cannot begin a transaction in"))?;
            let holds = inner
                .q(
                    &tx,
                    "SELECT 1 FROM certctl_lease WHERE key = $1 AND fence = $2 FOR UPDATE",
                    &[P::Text(lease.key.clone()), P::Int(lease.fence)],
                )
                .await?;
            if holds.is_empty() {
                return Err(StoreError::Fenced {
                    key: lease.key,
                    fence: lease.fence,
                });
            }
            let value = steps(&inner, &tx).await?;
            inner.count(1);
            tx.commit().await.map_err(db("cannot commit to"))?;
            Ok(value)
        })
    }

    /// Saves renewal state under an explicit lease: what a stale holder's late write looks like
    /// in the tests (the trait's `save_state` uses the lease this process holds).
    pub fn save_state_fenced(
        &self,
        lease: &Lease,
        name: &str,
        state: &RenewalState,
    ) -> Result<(), StoreError> {
        let (name, json) = (name.to_owned(), state.to_json());
        self.fenced_with(lease, move |inner, tx| {
            Box::pin(async move { inner.put_state(tx, name, json).await })
        })
    }

    /// The version `name` has live in the store, with its serial.
    fn live_row(&self, name: &str) -> Result<Option<Row>, StoreError> {
        super::layout::check_cert_name(name)?;
        self.query_opt(
            "SELECT v.version, v.serial, v.cert, v.fullchain, v.privkey, v.rsa_privkey \
             FROM certctl_cert c JOIN certctl_version v \
               ON v.name = c.name AND v.version = c.live_version \
             WHERE c.name = $1",
            vec![P::Text(name.to_owned())],
        )
    }

    /// One version's files from the store, keys opened with the fleet key.
    fn version_files(&self, name: &str, version: u64) -> Result<Option<CertFiles>, StoreError> {
        let Some(row) = self.query_opt(
            "SELECT cert, chain, fullchain, privkey, rsa_cert, rsa_chain, rsa_fullchain, rsa_privkey \
             FROM certctl_version WHERE name = $1 AND version = $2",
            vec![P::Text(name.to_owned()), P::Int(version as i64)],
        )?
        else {
            return Ok(None);
        };
        let open = |slot: KeySlot, sealed: &[u8]| -> Result<String, StoreError> {
            let plain = self
                .inner
                .key
                .open(&privkey_context(name, version, slot), sealed)?;
            String::from_utf8(plain)
                .map_err(|_| StoreError::Sealed(privkey_context(name, version, slot)))
        };
        let rsa = match row.get::<_, Option<String>>(4) {
            Some(cert) => Some(Box::new(CertFiles {
                cert,
                chain: row.get(5),
                fullchain: row.get(6),
                privkey: open(KeySlot::Rsa, row.get(7))?,
                rsa: None,
            })),
            None => None,
        };
        Ok(Some(CertFiles {
            cert: row.get(0),
            chain: row.get(1),
            fullchain: row.get(2),
            privkey: open(KeySlot::Primary, row.get(3))?,
            rsa,
        }))
    }

    /// [`PgStore::version_files`] of a version the store must have.
    fn stored_version(&self, name: &str, version: u64) -> Result<CertFiles, StoreError> {
        self.version_files(name, version)?
            .ok_or_else(|| StoreError::Corrupt {
                path: PathBuf::from(format!("postgres:certctl_version/{name}/{version}")),
                reason: "the version is missing from the store".into(),
            })
    }

    /// Writes the store's `version` of `name` to this node's live/ (with exactly that number)
    /// and records what this node now has.
    fn materialize(&self, name: &str, version: u64) -> Result<LivePaths, StoreError> {
        let files = self.stored_version(name, version)?;
        let record = self.load_record(name)?.ok_or_else(|| StoreError::Corrupt {
            path: PathBuf::from(format!("postgres:certctl_cert/{name}")),
            reason: "the certificate has a version but no renewal record".into(),
        })?;
        let paths = self
            .inner
            .local
            .install_version(name, version, &files, &record)?;
        self.report_local(&[(name.to_owned(), version, serial_of(&files.cert))])?;
        Ok(paths)
    }

    /// Records in node status what this node has in its live/ (one statement for all).
    fn report_local(&self, have: &[(String, u64, String)]) -> Result<(), StoreError> {
        if have.is_empty() {
            return Ok(());
        }
        self.query(
            "INSERT INTO certctl_node_status (node, name, version, serial, since, checked_at) \
             SELECT $1, n, v, s, now(), now() FROM unnest($2::text[], $3::int8[], $4::text[]) AS t(n, v, s) \
             ON CONFLICT (node, name) DO UPDATE SET \
               since = CASE WHEN certctl_node_status.version = excluded.version \
                            THEN certctl_node_status.since ELSE now() END, \
               version = excluded.version, serial = excluded.serial, checked_at = now()",
            vec![
                P::Text(self.inner.node.clone()),
                P::TextArr(have.iter().map(|h| h.0.clone()).collect()),
                P::IntArr(have.iter().map(|h| h.1 as i64).collect()),
                P::TextArr(have.iter().map(|h| h.2.clone()).collect()),
            ],
        )
        .map(drop)
    }

    /// The store's live version of `name` as it is now (never the snapshot).
    pub fn fresh_live_version(&self, name: &str) -> Result<Option<u64>, StoreError> {
        Ok(self
            .query_opt(
                "SELECT live_version FROM certctl_cert WHERE name = $1",
                vec![P::Text(name.to_owned())],
            )?
            .and_then(|row| row.get::<_, Option<i64>>(0))
            .map(|v| v as u64))
    }

    /// Brings this node's live/ to the store's live versions; returns the certificates whose
    /// local version changed. Every certificate's local version is recorded in node status.
    /// A record changed without a new version (`certctl nginx NAME` on another node: the site,
    /// the hooks) is brought into the local store too. Each certificate is told to `tally`
    /// once it is looked at.
    pub fn converge(&self, tally: &dyn crate::progress::Tally) -> Result<Vec<String>, StoreError> {
        let rows = self.query(
            "SELECT name, live_version, record_rev FROM certctl_cert \
             WHERE live_version IS NOT NULL ORDER BY name",
            vec![],
        )?;
        tally.total(rows.len() as u64);
        let revisions: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(2))).collect();
        let mut changed = Vec::new();
        let mut have = Vec::new();
        let mut failed = None;
        for row in rows {
            let (name, version): (String, i64) = (row.get(0), row.get(1));
            let mut version = version as u64;
            let local = self.inner.local.live_version(&name)?;
            if local != Some(version) {
                // Read again just before writing: a run on this node may have installed a newer
                // version since the list was read, and live/ must not go back to the older one.
                match self.fresh_live_version(&name)? {
                    Some(now) => version = now,
                    None => continue,
                }
            }
            if local != Some(version) {
                match self.materialize(&name, version) {
                    Ok(_) => changed.push(name.clone()),
                    Err(e) => {
                        tracing::warn!("{name}: cannot bring version {version} here: {e}");
                        failed.get_or_insert(e);
                    }
                }
            }
            if let (Some(local), Some(cert)) = (
                self.inner.local.live_version(&name)?,
                self.inner.local.live_cert(&name)?,
            ) {
                have.push((
                    name.clone(),
                    local,
                    serial_of(&String::from_utf8_lossy(&cert)),
                ));
            }
            tally.done(&name);
        }
        self.report_local(&have)?;
        if let Err(e) = self.sync_records(&revisions) {
            failed.get_or_insert(e);
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(changed),
        }
    }

    /// Writes into the local store each record whose revision this process has not brought
    /// here yet and which differs from the local one (one query for all of them; none when
    /// nothing changed since the last call).
    fn sync_records(&self, revisions: &[(String, i64)]) -> Result<(), StoreError> {
        let stale: Vec<String> = {
            let synced = self.inner.synced_records.lock().unwrap();
            revisions
                .iter()
                .filter(|(name, rev)| synced.get(name) != Some(rev))
                .map(|(name, _)| name.clone())
                .collect()
        };
        if stale.is_empty() {
            return Ok(());
        }
        let rows = self.query(
            "SELECT name, record, record_rev FROM certctl_cert \
             WHERE name = ANY($1) AND record IS NOT NULL",
            vec![P::TextArr(stale)],
        )?;
        for row in rows {
            let (name, text, rev): (String, String, i64) = (row.get(0), row.get(1), row.get(2));
            let record = record_from(&name, &text)?;
            let local = self.inner.local.load_record(&name).ok().flatten();
            // A certificate with no local version yet gets its record with that version.
            let here = self.inner.local.live_version(&name)?.is_some();
            if here && local.is_none_or(|l| l.to_toml() != record.to_toml()) {
                self.inner.local.save_record(&record)?;
                tracing::info!("{name}: the fleet's renewal record changed; brought here");
            }
            self.inner.synced_records.lock().unwrap().insert(name, rev);
        }
        Ok(())
    }

    /// The first orders whose challenges the fleet's nginx nodes are asked to serve, but those
    /// this node made (its own nginx is set up by the run that orders): each with its request
    /// number, and whether this node confirmed it already. In the same statement, this node's
    /// daemon (one that deploys to nginx: the only kind that asks) says it is alive and how
    /// often it looks.
    pub fn pending_challenges(
        &self,
        recheck: Duration,
    ) -> Result<Vec<PendingChallenge>, StoreError> {
        let rows = self.query(
            "WITH seen AS (INSERT INTO certctl_node (node, recheck_secs, seen_at) \
               VALUES ($1, $2, now()) \
               ON CONFLICT (node) DO UPDATE SET recheck_secs = excluded.recheck_secs, \
                 seen_at = now()) \
             SELECT c.name, c.request, c.body, EXISTS (SELECT 1 FROM certctl_challenge_ready r \
               WHERE r.name = c.name AND r.node = $1 AND r.request = c.request) \
             FROM certctl_challenge c WHERE c.expires_at > now() AND c.node <> $1",
            vec![
                P::Text(self.inner.node.clone()),
                P::Float(recheck.as_secs_f64()),
            ],
        )?;
        let mut pending = Vec::new();
        for row in rows {
            let (name, body): (String, String) = (row.get(0), row.get(2));
            match toml::from_str::<ChallengeRequest>(&body) {
                Ok(request) => pending.push(PendingChallenge {
                    request,
                    number: row.get(1),
                    confirmed_here: row.get(3),
                }),
                Err(e) => {
                    tracing::warn!("{name}: a challenge request this certctl cannot read: {e}")
                }
            }
        }
        Ok(pending)
    }

    /// This node's answer to challenge request `number` for `name`: it serves them (None), or
    /// why not. A request withdrawn meanwhile takes no answer.
    pub fn confirm_challenges(
        &self,
        name: &str,
        number: i64,
        problem: Option<String>,
    ) -> Result<(), StoreError> {
        self.query(
            "INSERT INTO certctl_challenge_ready (name, node, request, problem) \
             SELECT name, $2, request, $4 FROM certctl_challenge \
             WHERE name = $1 AND request = $3 \
             ON CONFLICT (name, node) DO UPDATE SET request = excluded.request, \
               problem = excluded.problem",
            vec![
                P::Text(name.to_owned()),
                P::Text(self.inner.node.clone()),
                P::Int(number),
                P::NullText(problem),
            ],
        )
        .map(drop)
    }

    /// Records what this node's nginx serves after a deploy (one statement for all): a serial
    /// a handshake confirmed (with the time), or the problem that stopped it (the serial last
    /// confirmed stays).
    pub fn report_served(&self, deploys: &[NodeDeploy]) -> Result<(), StoreError> {
        if deploys.is_empty() {
            return Ok(());
        }
        self.query(
            "UPDATE certctl_node_status AS s SET \
               served_serial = coalesce(t.served, s.served_serial), \
               verified_at = CASE WHEN t.served IS NULL THEN s.verified_at ELSE now() END, \
               problem = t.problem \
             FROM unnest($2::text[], $3::text[], $4::text[]) AS t(name, served, problem) \
             WHERE s.node = $1 AND s.name = t.name",
            vec![
                P::Text(self.inner.node.clone()),
                P::TextArr(deploys.iter().map(|d| d.name.clone()).collect()),
                P::NullTextArr(deploys.iter().map(|d| d.served.clone()).collect()),
                P::NullTextArr(deploys.iter().map(|d| d.problem.clone()).collect()),
            ],
        )
        .map(drop)
    }

    /// Listens for new live versions (`certctl_live`, sent by every install and restore on
    /// commit) on a connection of its own: each notification's certificate name arrives on
    /// `tx` as [`Notice::Live`]; when the connection ends (the database stopped, the network
    /// failed), [`Notice::Lost`] says why, once, and nothing more comes. The connection lives
    /// as long as the returned [`Listener`].
    pub fn listen(
        &self,
        tx: tokio::sync::mpsc::UnboundedSender<Notice>,
    ) -> Result<Listener, StoreError> {
        let target = self.inner.target.clone();
        run_on(async move {
            let (client, mut connection) = target
                .config
                .connect(target.tls)
                .await
                .map_err(db("cannot connect to"))?;
            tokio::spawn(async move {
                let reason = loop {
                    match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                        Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                            if tx.send(Notice::Live(n.payload().to_owned())).is_err() {
                                return;
                            }
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            break match e.as_db_error() {
                                Some(d) => d.message().to_owned(),
                                None => e.to_string(),
                            };
                        }
                        None => break "the connection closed".to_owned(),
                    }
                };
                let _ = tx.send(Notice::Lost(reason));
            });
            client
                .batch_execute("LISTEN certctl_live")
                .await
                .map_err(db("cannot listen for new versions in"))?;
            Ok(Listener { _client: client })
        })
    }

    /// What every node has of every certificate.
    pub fn status(&self) -> Result<status::FleetStatus, StoreError> {
        let live = self
            .query(
                "SELECT c.name, c.live_version, v.serial FROM certctl_cert c \
                 LEFT JOIN certctl_version v ON v.name = c.name AND v.version = c.live_version",
                vec![],
            )?
            .iter()
            .map(|row| status::LiveRow {
                name: row.get(0),
                version: row.get::<_, Option<i64>>(1).map(|v| v as u64),
                serial: row.get(2),
            })
            .collect::<Vec<_>>();
        let reported = self
            .query(
                "SELECT node, name, version, serial, extract(epoch FROM since)::int8, \
                 extract(epoch FROM checked_at)::int8, served_serial, \
                 extract(epoch FROM verified_at)::int8, problem FROM certctl_node_status",
                vec![],
            )?
            .iter()
            .map(|row| status::NodeRow {
                node: row.get(0),
                name: row.get(1),
                version: row.get::<_, i64>(2) as u64,
                serial: row.get(3),
                since: row.get(4),
                checked_at: row.get(5),
                served_serial: row.get(6),
                verified_at: row.get(7),
                problem: row.get(8),
            })
            .collect::<Vec<_>>();
        Ok(status::fleet_status(&live, &reported))
    }

    /// Copies one certificate from a single-server state directory: every archive version
    /// (keys sealed), the record, the renewal state and the live version, in one transaction
    /// under the certificate's lease. A certificate the store already has is left as it is
    /// (false): the fleet may have renewed it since.
    pub fn import_cert(&self, from: &FsStore, name: &str) -> Result<bool, StoreError> {
        let Some(record) = from.load_record(name)? else {
            return Ok(false);
        };
        let mut versions = Vec::new();
        for version in from.versions(name)? {
            if let Some(files) = from.version_files(name, version)? {
                versions.push((version, self.seal_version(name, version, &files)?));
            }
        }
        let live = from.live_version(name)?;
        let state = from.load_state(name)?.to_json();
        let (name, node) = (name.to_owned(), self.inner.node.clone());
        self.fenced(&cert_key(&name), move |inner, tx| {
            Box::pin(async move {
                let exists = inner
                    .q(
                        tx,
                        "SELECT 1 FROM certctl_cert WHERE name = $1",
                        &[P::Text(name.clone())],
                    )
                    .await?;
                if !exists.is_empty() {
                    return Ok(false);
                }
                inner
                    .q(
                        tx,
                        "INSERT INTO certctl_cert (name, record, record_rev, live_version) VALUES ($1, $2, 1, $3)",
                        &[
                            P::Text(name.clone()),
                            P::Text(record.to_toml()),
                            P::NullInt(live.map(|v| v as i64)),
                        ],
                    )
                    .await?;
                for (version, sealed) in versions {
                    inner.put_version(tx, &name, version, sealed, &node).await?;
                }
                inner.put_state(tx, name, state).await?;
                Ok(true)
            })
        })
    }

    /// Copies one certificate out of the store into a single server's state directory `to`
    /// (the inverse of [`PgStore::import_cert`]): every version under its fleet number (keys
    /// opened with the fleet key, written 0600), the record, the renewal state, and live/ at
    /// the store's live version, under `to`'s lock of the certificate. A certificate `to`
    /// already has is left as it is (false).
    pub fn export_cert(&self, to: &FsStore, name: &str) -> Result<bool, StoreError> {
        super::layout::check_cert_name(name)?;
        let Some(_lock) = to.try_lock_cert(name)? else {
            return Err(StoreError::LeaseBusy(format!(
                "{name} in {}",
                to.layout().root().display()
            )));
        };
        if to.load_record(name)?.is_some() {
            return Ok(false);
        }
        let Some(record) = self.load_record(name)? else {
            return Ok(false);
        };
        let state = self.load_state(name)?;
        let mut last = None;
        for version in self.versions(name)? {
            to.install_version(name, version, &self.stored_version(name, version)?, &record)?;
            last = Some(version);
        }
        // Live as the fleet has it (not necessarily the newest: a rollback).
        if let Some(live) = self.live_version(name)?
            && last.is_some_and(|v| v != live)
        {
            to.install_version(name, live, &self.stored_version(name, live)?, &record)?;
        }
        to.save_state(name, &state)?;
        Ok(true)
    }

    /// Copies one ACME account (sealed) when the store has none for that directory.
    pub fn import_account(
        &self,
        directory_url: &str,
        credentials: &[u8],
    ) -> Result<bool, StoreError> {
        if self.load_account(directory_url)?.is_some() {
            return Ok(false);
        }
        self.save_account(directory_url, credentials)?;
        Ok(true)
    }

    fn seal_version(
        &self,
        name: &str,
        version: u64,
        files: &CertFiles,
    ) -> Result<SealedVersion, StoreError> {
        let key = &self.inner.key;
        let rsa = match &files.rsa {
            Some(rsa) => Some((
                rsa.cert.clone(),
                rsa.chain.clone(),
                rsa.fullchain.clone(),
                key.seal(
                    &privkey_context(name, version, KeySlot::Rsa),
                    rsa.privkey.as_bytes(),
                )?,
            )),
            None => None,
        };
        Ok(SealedVersion {
            serial: serial_of(&files.cert),
            cert: files.cert.clone(),
            chain: files.chain.clone(),
            fullchain: files.fullchain.clone(),
            privkey: key.seal(
                &privkey_context(name, version, KeySlot::Primary),
                files.privkey.as_bytes(),
            )?,
            rsa,
        })
    }
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The statements of a fenced write: given the store and the open transaction (the fence
/// already checked), they run before the commit.
trait Steps<T>:
    for<'t> FnOnce(
        &'t Inner,
        &'t tokio_postgres::Transaction<'t>,
    ) -> BoxFuture<'t, Result<T, StoreError>>
    + Send
    + 'static
{
}

impl<T, F> Steps<T> for F where
    F: for<'t> FnOnce(
            &'t Inner,
            &'t tokio_postgres::Transaction<'t>,
        ) -> BoxFuture<'t, Result<T, StoreError>>
        + Send
        + 'static
{
}

/// A version ready for the database: keys sealed, serial known.
struct SealedVersion {
    serial: String,
    cert: String,
    chain: String,
    fullchain: String,
    privkey: Vec<u8>,
    rsa: Option<(String, String, String, Vec<u8>)>,
}

/// The serial of a PEM leaf, lower-case hex ("" when it does not parse).
fn serial_of(cert_pem: &str) -> String {
    crate::verify::parse_pem_chain(cert_pem.as_bytes())
        .ok()
        .and_then(|chain| chain.into_iter().next())
        .and_then(|leaf| crate::verify::cert_info(&leaf).ok())
        .map(|info| info.serial)
        .unwrap_or_default()
}

/// A statement parameter, owned so a request can move to the store's runtime.
enum P {
    Text(String),
    Int(i64),
    NullInt(Option<i64>),
    Float(f64),
    Bytes(Vec<u8>),
    NullText(Option<String>),
    NullBytes(Option<Vec<u8>>),
    TextArr(Vec<String>),
    NullTextArr(Vec<Option<String>>),
    IntArr(Vec<i64>),
}

impl P {
    fn sql(&self) -> (&(dyn ToSql + Sync), Type) {
        match self {
            P::Text(v) => (v, Type::TEXT),
            P::Int(v) => (v, Type::INT8),
            P::NullInt(v) => (v, Type::INT8),
            P::Float(v) => (v, Type::FLOAT8),
            P::Bytes(v) => (v, Type::BYTEA),
            P::NullText(v) => (v, Type::TEXT),
            P::NullBytes(v) => (v, Type::BYTEA),
            P::TextArr(v) => (v, Type::TEXT_ARRAY),
            P::NullTextArr(v) => (v, Type::TEXT_ARRAY),
            P::IntArr(v) => (v, Type::INT8_ARRAY),
        }
    }
}

impl Inner {
    fn count(&self, n: u64) {
        self.round_trips.fetch_add(n, Ordering::Relaxed);
    }

    /// The connection, made (again) when there is none or it closed: the store rides out a
    /// database restart.
    async fn connected(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>, StoreError> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = None;
            self.count(1);
            *guard = Some(connect(&self.target).await?);
        }
        Ok(guard)
    }

    /// One statement, one round trip (typed parameters, no separate prepare).
    async fn q<C: GenericClient + Sync>(
        &self,
        client: &C,
        sql: &str,
        params: &[P],
    ) -> Result<Vec<Row>, StoreError> {
        self.count(1);
        let params: Vec<(&(dyn ToSql + Sync), Type)> = params.iter().map(P::sql).collect();
        client
            .query_typed(sql, &params)
            .await
            .map_err(db("a statement failed in"))
    }

    /// One statement whose rows do not matter.
    async fn exec<C: GenericClient + Sync>(
        &self,
        client: &C,
        sql: &str,
        params: &[P],
    ) -> Result<(), StoreError> {
        self.q(client, sql, params).await.map(drop)
    }

    async fn heartbeat(&self, key: &str, fence: i64, ttl: Duration) -> Result<(), StoreError> {
        let guard = self.connected().await?;
        let rows = self
            .q(
                guard.as_ref().expect("connected"),
                "UPDATE certctl_lease SET expires_at = now() + make_interval(secs => $3) \
                 WHERE key = $1 AND fence = $2 RETURNING 1",
                &[
                    P::Text(key.to_owned()),
                    P::Int(fence),
                    P::Float(ttl.as_secs_f64()),
                ],
            )
            .await?;
        match rows.is_empty() {
            true => Err(StoreError::Fenced {
                key: key.to_owned(),
                fence,
            }),
            false => Ok(()),
        }
    }

    async fn put_state(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        name: String,
        json: String,
    ) -> Result<(), StoreError> {
        self.exec(
            tx,
            "INSERT INTO certctl_renewal_state (name, state) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = now()",
            &[P::Text(name), P::Text(json)],
        )
        .await
    }

    async fn put_version(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        name: &str,
        version: u64,
        v: SealedVersion,
        node: &str,
    ) -> Result<(), StoreError> {
        let (rsa_cert, rsa_chain, rsa_fullchain, rsa_privkey) = match v.rsa {
            Some((a, b, c, d)) => (Some(a), Some(b), Some(c), Some(d)),
            None => (None, None, None, None),
        };
        self.exec(
            tx,
            "INSERT INTO certctl_version (name, version, serial, cert, chain, fullchain, privkey, \
                 rsa_cert, rsa_chain, rsa_fullchain, rsa_privkey, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            &[
                P::Text(name.to_owned()),
                P::Int(version as i64),
                P::Text(v.serial),
                P::Text(v.cert),
                P::Text(v.chain),
                P::Text(v.fullchain),
                P::Bytes(v.privkey),
                P::NullText(rsa_cert),
                P::NullText(rsa_chain),
                P::NullText(rsa_fullchain),
                P::NullBytes(rsa_privkey),
                P::Text(node.to_owned()),
            ],
        )
        .await
    }
}

/// A lease held through a [`StoreLock`]: heartbeats until dropped, then released.
struct HeldLease {
    store: PgStore,
    lease: Lease,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        self.heartbeat.abort();
        {
            let mut held = self
                .store
                .inner
                .held
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if held.get(&self.lease.key) == Some(&self.lease.fence) {
                held.remove(&self.lease.key);
            }
        }
        // Best effort: a lease not released expires on its own.
        if let Err(e) = self.store.release(&self.lease) {
            tracing::debug!("releasing the lease on {}: {e}", self.lease.key);
        }
    }
}

/// A record's stamp from its revision and last change (microseconds).
fn stamp(rev: i64, updated_us: i64) -> Stamp {
    Stamp {
        dev: 0,
        ino: 0,
        size: rev as u64,
        mtime_ns: i128::from(updated_us) * 1000,
    }
}

fn record_from(name: &str, text: &str) -> Result<RenewalRecord, StoreError> {
    RenewalRecord::from_toml(text).map_err(|e| StoreError::Corrupt {
        path: PathBuf::from(format!("postgres:certctl_cert/{name}")),
        reason: e.to_string(),
    })
}

impl CertStore for PgStore {
    fn try_lock_account(&self, directory_url: &str) -> Result<Option<StoreLock>, StoreError> {
        self.try_lease_lock(&account_key(directory_url))
    }

    fn load_account(&self, directory_url: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = self.query_opt(
            "SELECT sealed FROM certctl_account WHERE directory_url = $1",
            vec![P::Text(directory_url.to_owned())],
        )?;
        row.map(|row| {
            self.inner
                .key
                .open(&account_context(directory_url), row.get(0))
        })
        .transpose()
    }

    fn save_account(&self, directory_url: &str, credentials_json: &[u8]) -> Result<(), StoreError> {
        let sealed = self
            .inner
            .key
            .seal(&account_context(directory_url), credentials_json)?;
        let url = directory_url.to_owned();
        self.fenced(&account_key(directory_url), move |inner, tx| {
            Box::pin(async move {
                inner
                    .exec(
                        tx,
                        "INSERT INTO certctl_account (directory_url, sealed) VALUES ($1, $2) \
                         ON CONFLICT (directory_url) DO UPDATE SET sealed = excluded.sealed, updated_at = now()",
                        &[P::Text(url), P::Bytes(sealed)],
                    )
                    .await
            })
        })
    }

    fn try_lock_cert(&self, name: &str) -> Result<Option<StoreLock>, StoreError> {
        super::layout::check_cert_name(name)?;
        self.try_lease_lock(&cert_key(name))
    }

    fn try_claim_deploy(&self, name: &str) -> Result<Option<StoreLock>, StoreError> {
        // Each node deploys to its own nginx: the claim is local.
        self.inner.local.try_claim_deploy(name)
    }

    fn versions(&self, name: &str) -> Result<Vec<u64>, StoreError> {
        super::layout::check_cert_name(name)?;
        Ok(self
            .query(
                "SELECT version FROM certctl_version WHERE name = $1 ORDER BY version",
                vec![P::Text(name.to_owned())],
            )?
            .iter()
            .map(|row| row.get::<_, i64>(0) as u64)
            .collect())
    }

    fn version_fullchain(&self, name: &str, version: u64) -> Result<Option<Vec<u8>>, StoreError> {
        super::layout::check_cert_name(name)?;
        Ok(self
            .query_opt(
                "SELECT fullchain FROM certctl_version WHERE name = $1 AND version = $2",
                vec![P::Text(name.to_owned()), P::Int(version as i64)],
            )?
            .map(|row| row.get::<_, String>(0).into_bytes()))
    }

    fn load_record(&self, name: &str) -> Result<Option<RenewalRecord>, StoreError> {
        super::layout::check_cert_name(name)?;
        let row = self.query_opt(
            "SELECT record FROM certctl_cert WHERE name = $1 AND record IS NOT NULL",
            vec![P::Text(name.to_owned())],
        )?;
        row.map(|row| record_from(name, row.get(0))).transpose()
    }

    fn cert_names(&self) -> Result<Vec<String>, StoreError> {
        let taken = std::time::Instant::now();
        let rows = self.query(
            "SELECT c.name, c.live_version, c.record_rev, \
                    (extract(epoch FROM c.updated_at) * 1000000)::int8, s.state \
             FROM certctl_cert c LEFT JOIN certctl_renewal_state s ON s.name = c.name \
             WHERE c.record IS NOT NULL ORDER BY c.name",
            vec![],
        )?;
        let mut names = Vec::with_capacity(rows.len());
        let mut certs = HashMap::with_capacity(rows.len());
        for row in rows {
            let name: String = row.get(0);
            certs.insert(
                name.clone(),
                SnapRow {
                    live_version: row.get::<_, Option<i64>>(1).map(|v| v as u64),
                    stamp: stamp(row.get(2), row.get(3)),
                    state: row.get(4),
                },
            );
            names.push(name);
        }
        *self
            .inner
            .snapshot
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Snapshot { taken, certs });
        Ok(names)
    }

    fn live_privkey(&self, name: &str, slot: KeySlot) -> Result<Option<String>, StoreError> {
        let Some(row) = self.live_row(name)? else {
            return Ok(None);
        };
        let version = row.get::<_, i64>(0) as u64;
        let sealed: Option<Vec<u8>> = match slot {
            KeySlot::Primary => Some(row.get(4)),
            KeySlot::Rsa => row.get(5),
        };
        sealed
            .map(|sealed| {
                let context = privkey_context(name, version, slot);
                let plain = self.inner.key.open(&context, &sealed)?;
                String::from_utf8(plain).map_err(|_| StoreError::Sealed(context))
            })
            .transpose()
    }

    fn live_fullchain(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .live_row(name)?
            .map(|row| row.get::<_, String>(3).into_bytes()))
    }

    fn live_cert(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .live_row(name)?
            .map(|row| row.get::<_, String>(2).into_bytes()))
    }

    fn install(
        &self,
        name: &str,
        files: &CertFiles,
        record: &RenewalRecord,
    ) -> Result<LivePaths, StoreError> {
        super::layout::check_cert_name(name)?;
        // The number is the store's: the next after every version any node made.
        let (fence, _transient) = self.fence(&cert_key(name))?;
        let lease = Lease {
            key: cert_key(name),
            fence,
        };
        let next = self
            .query_opt(
                "SELECT coalesce(max(version), 0) + 1 FROM certctl_version WHERE name = $1",
                vec![P::Text(name.to_owned())],
            )?
            .map_or(1, |row| row.get::<_, i64>(0) as u64);
        let sealed = self.seal_version(name, next, files)?;
        let (owned, toml, node) = (name.to_owned(), record.to_toml(), self.inner.node.clone());
        self.fenced_with(&lease, move |inner, tx| {
            Box::pin(async move {
                inner
                    .exec(
                        tx,
                        "INSERT INTO certctl_cert (name, record, record_rev, live_version) VALUES ($1, $2, 1, $3) \
                         ON CONFLICT (name) DO UPDATE SET record = excluded.record, \
                           record_rev = certctl_cert.record_rev + 1, live_version = excluded.live_version, \
                           updated_at = now()",
                        &[P::Text(owned.clone()), P::Text(toml), P::Int(next as i64)],
                    )
                    .await?;
                inner.put_version(tx, &owned, next, sealed, &node).await?;
                // Delivered on commit: every node's daemon may converge at once.
                inner
                    .q(tx, "SELECT pg_notify('certctl_live', $1)", &[P::Text(owned)])
                    .await
            })
        })?;
        let paths = self
            .inner
            .local
            .install_version(name, next, files, record)?;
        self.report_local(&[(name.to_owned(), next, serial_of(&files.cert))])?;
        Ok(paths)
    }

    fn save_record(&self, record: &RenewalRecord) -> Result<(), StoreError> {
        super::layout::check_cert_name(&record.name)?;
        let (name, toml) = (record.name.clone(), record.to_toml());
        self.fenced(&cert_key(&record.name), move |inner, tx| {
            Box::pin(async move {
                inner
                    .exec(
                        tx,
                        "INSERT INTO certctl_cert (name, record, record_rev) VALUES ($1, $2, 1) \
                         ON CONFLICT (name) DO UPDATE SET record = excluded.record, \
                           record_rev = certctl_cert.record_rev + 1, updated_at = now()",
                        &[P::Text(name.clone()), P::Text(toml)],
                    )
                    .await?;
                // Every node's daemon brings the changed record (its nginx site) here at once.
                inner
                    .exec(tx, "SELECT pg_notify('certctl_live', $1)", &[P::Text(name)])
                    .await
            })
        })
    }

    fn load_state(&self, name: &str) -> Result<RenewalState, StoreError> {
        super::layout::check_cert_name(name)?;
        let text = match self.snapped(name) {
            Some(row) => row.state,
            None => self
                .query_opt(
                    "SELECT state FROM certctl_renewal_state WHERE name = $1",
                    vec![P::Text(name.to_owned())],
                )?
                .map(|row| row.get::<_, String>(0)),
        };
        let Some(text) = text else {
            return Ok(RenewalState::default());
        };
        match RenewalState::from_json(text.as_bytes()) {
            Ok(state) => Ok(state),
            // As the filesystem store does: the state only steers timing, so renewal goes on
            // and the failure shows in list and the metrics.
            Err(reason) => {
                tracing::warn!("{name}: the stored renewal state did not parse ({reason})");
                let mut state = RenewalState::default();
                state.failed(
                    crate::clock::unix_now(),
                    format!("the stored renewal state did not parse ({reason})"),
                    crate::renewal::due::FailureKind::NeedsAttention,
                    None,
                );
                state.next_retry = None;
                Ok(state)
            }
        }
    }

    fn save_state(&self, name: &str, state: &RenewalState) -> Result<(), StoreError> {
        super::layout::check_cert_name(name)?;
        let (owned, json) = (name.to_owned(), state.to_json());
        self.fenced(&cert_key(name), move |inner, tx| {
            Box::pin(async move { inner.put_state(tx, owned, json).await })
        })
    }

    fn live_version(&self, name: &str) -> Result<Option<u64>, StoreError> {
        super::layout::check_cert_name(name)?;
        if let Some(row) = self.snapped(name) {
            return Ok(row.live_version);
        }
        self.fresh_live_version(name)
    }

    fn restore_version(&self, name: &str, version: u64) -> Result<(), StoreError> {
        super::layout::check_cert_name(name)?;
        let owned = name.to_owned();
        let restored = self.fenced(&cert_key(name), move |inner, tx| {
            Box::pin(async move {
                let rows = inner
                    .q(
                        tx,
                        "UPDATE certctl_cert SET live_version = $2, updated_at = now() \
                         WHERE name = $1 AND EXISTS \
                           (SELECT 1 FROM certctl_version WHERE name = $1 AND version = $2) \
                         RETURNING 1",
                        &[P::Text(owned.clone()), P::Int(version as i64)],
                    )
                    .await?;
                if !rows.is_empty() {
                    inner
                        .q(
                            tx,
                            "SELECT pg_notify('certctl_live', $1)",
                            &[P::Text(owned)],
                        )
                        .await?;
                }
                Ok(!rows.is_empty())
            })
        })?;
        if !restored {
            return Err(StoreError::Corrupt {
                path: PathBuf::from(format!("postgres:certctl_version/{name}/{version}")),
                reason: "the version to restore is missing".into(),
            });
        }
        self.materialize(name, version)?;
        // Going live again is a new deploy on this node: the local store clears its marks.
        self.inner.local.restore_version(name, version)
    }

    // Deploy marks are per node: each node reloads its own nginx and runs its own hooks.
    fn deploy_mark_path(
        &self,
        name: &str,
        version: u64,
        step: DeployStep<'_>,
    ) -> Result<PathBuf, StoreError> {
        self.inner.local.deploy_mark_path(name, version, step)
    }

    fn deploy_marked(&self, name: &str, version: u64, step: DeployStep<'_>) -> bool {
        self.inner.local.deploy_marked(name, version, step)
    }

    fn mark_deployed(
        &self,
        name: &str,
        version: u64,
        step: DeployStep<'_>,
    ) -> Result<(), StoreError> {
        self.inner.local.mark_deployed(name, version, step)
    }

    fn live_paths(&self, name: &str, slot: KeySlot) -> LivePaths {
        self.inner.local.live_paths(name, slot)
    }

    fn record_stamp(&self, name: &str) -> Option<Stamp> {
        super::layout::check_cert_name(name).ok()?;
        if let Some(row) = self.snapped(name) {
            return Some(row.stamp);
        }
        let row = self
            .query_opt(
                "SELECT record_rev, (extract(epoch FROM updated_at) * 1000000)::int8 \
                 FROM certctl_cert WHERE name = $1 AND record IS NOT NULL",
                vec![P::Text(name.to_owned())],
            )
            .ok()??;
        Some(stamp(row.get(0), row.get(1)))
    }

    fn shared(&self) -> Arc<dyn CertStore> {
        Arc::new(self.clone())
    }

    fn live_is_shared(&self) -> bool {
        true
    }

    /// The request is a row (a new request number each time, and this node's name) and a
    /// notice; each other nginx node's daemon answers in `certctl_challenge_ready`. Live nodes
    /// (`certctl_node`: daemons that deploy to nginx) are those whose daemon looked within two of its re-check periods (and five seconds); the
    /// wait polls every 50 ms.
    fn share_challenges(
        &self,
        request: &ChallengeRequest,
        wait: Duration,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let body = toml::to_string(request).expect("a challenge request serializes");
        let row = self.query_opt(
            "WITH r AS (INSERT INTO certctl_challenge (name, request, node, body, expires_at) \
               VALUES ($1, nextval('certctl_challenge_request'), $4, $2, \
                       now() + make_interval(secs => $3)) \
               ON CONFLICT (name) DO UPDATE SET request = excluded.request, \
                 node = excluded.node, body = excluded.body, expires_at = excluded.expires_at \
               RETURNING request) \
             SELECT request, pg_notify('certctl_live', $1) FROM r",
            vec![
                P::Text(request.name.clone()),
                P::Text(body),
                P::Float(CHALLENGE_TTL.as_secs_f64()),
                P::Text(self.inner.node.clone()),
            ],
        )?;
        let number: i64 = row.map(|r| r.get(0)).unwrap_or_default();
        let deadline = std::time::Instant::now() + wait;
        loop {
            let answers = self.query(
                "SELECT n.node, r.node IS NOT NULL, r.problem FROM certctl_node n \
                 LEFT JOIN certctl_challenge_ready r \
                   ON r.node = n.node AND r.name = $1 AND r.request = $2 \
                 WHERE n.node <> $3 AND n.seen_at > \
                   now() - make_interval(secs => 2 * n.recheck_secs + 5) \
                 ORDER BY n.node",
                vec![
                    P::Text(request.name.clone()),
                    P::Int(number),
                    P::Text(self.inner.node.clone()),
                ],
            )?;
            let waiting: Vec<String> = answers
                .iter()
                .filter(|r| !r.get::<_, bool>(1))
                .map(|r| r.get(0))
                .collect();
            let mut unready: Vec<(String, String)> = answers
                .iter()
                .filter_map(|r| Some((r.get(0), r.get::<_, Option<String>>(2)?)))
                .collect();
            if waiting.is_empty() || std::time::Instant::now() >= deadline {
                unready.extend(waiting.into_iter().map(|node| {
                    let why = format!("its daemon did not confirm within {} s", wait.as_secs());
                    (node, why)
                }));
                unready.sort();
                return Ok(unready);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn withdraw_challenges(&self, name: &str) -> Result<(), StoreError> {
        self.query(
            "WITH d AS (DELETE FROM certctl_challenge WHERE name = $1 RETURNING name) \
             SELECT pg_notify('certctl_live', name) FROM d",
            vec![P::Text(name.to_owned())],
        )
        .map(drop)
    }
}
