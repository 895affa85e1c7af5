//! The state store: ACME accounts, certificate versions, the stable live paths, renewal records.
//!
//! Everything above this module talks to [`CertStore`], never to the filesystem directly, so the
//! fleet's shared backend ([`PgStore`], PostgreSQL) replaces [`FsStore`] without touching the
//! ACME, nginx or renewal code. The store never prints and never logs key material.

mod fs;
pub mod layout;
pub mod pg;
pub mod seal;

use std::path::PathBuf;

pub use fs::FsStore;
pub use pg::{PgOptions, PgStore};

use crate::config::RenewalRecord;
use crate::renewal::state::{RenewalState, Stamp};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error(transparent)]
    Io(#[from] crate::fsio::IoError),
    /// A certificate name that cannot be a directory name.
    #[error(
        "invalid certificate name {0:?}: use letters, digits, dots, hyphens, underscores and colons, not starting with a dot"
    )]
    BadName(String),
    /// A stored file exists but does not parse.
    #[error("{path} is damaged: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Something is in the way of a path certctl manages.
    #[error("{0} exists and was not made by certctl; move it away first")]
    InTheWay(PathBuf),
    /// The `--store` URL does not parse.
    #[error("--store is not a PostgreSQL URL: {0}")]
    BadUrl(String),
    /// The fleet key file is missing, unreadable, open to others, malformed or not this
    /// fleet's.
    #[error("fleet key {}: {reason}", path.display())]
    FleetKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A sealed value does not open with the fleet key.
    #[error(
        "the stored secret {0} does not open with the fleet key: it was changed, or sealed by another fleet"
    )]
    Sealed(String),
    /// The database cannot be reached, or a statement failed.
    #[error("{action} the fleet database: {reason}")]
    Db {
        /// What certctl was doing.
        action: &'static str,
        /// The database's or the network's word.
        reason: String,
    },
    /// The database's schema is not the one this certctl uses.
    #[error("{0}")]
    Schema(String),
    /// A write under a lease this process no longer holds: it expired and another node took
    /// it (a larger fence). The write was refused; nothing changed.
    #[error("the lease on {key} (fence {fence}) was lost to another node; this write was refused")]
    Fenced {
        /// The lease (`cert:NAME`, `account:URL`).
        key: String,
        /// The fence this process held.
        fence: i64,
    },
    /// A write without the lease while another node holds it.
    #[error("another node holds the lease on {0}; try again when it is done")]
    LeaseBusy(String),
}

/// The PEM files of one certificate version, as written to the archive and exposed under live/.
pub struct CertFiles {
    /// The leaf certificate.
    pub cert: String,
    /// The intermediates, as the CA sent them.
    pub chain: String,
    /// Leaf followed by intermediates: what nginx's `ssl_certificate` wants.
    pub fullchain: String,
    /// The private key (PKCS#8 PEM). Written 0600.
    pub privkey: String,
    /// `--dual`: the RSA set issued alongside, for the same names. It lives in the same version
    /// directory, so the one live swap replaces both sets together.
    pub rsa: Option<Box<CertFiles>>,
}

/// A step of deploying one version that happens once for that version, however many runs it
/// takes: nginx confirmed to serve it, or one deploy hook completed. Each is marked in the
/// version's own directory when done, so a run that finishes the deploy of a version an earlier
/// run installed (and died deploying) repeats none of them. The marks of a version are cleared
/// when it is put live again ([`CertStore::restore_version`]).
#[derive(Clone, Copy, Debug)]
pub enum DeployStep<'a> {
    /// nginx, after a reload, served this version on every address for every name.
    Served,
    /// This deploy hook (the command as written) exited 0 for this version.
    Hook(&'a str),
}

/// Which key set of a certificate: every certificate has a primary set; `--dual` adds an RSA set
/// whose files carry an `-rsa` suffix (fullchain-rsa.pem, privkey-rsa.pem, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySlot {
    /// cert.pem, chain.pem, fullchain.pem, privkey.pem.
    Primary,
    /// cert-rsa.pem, chain-rsa.pem, fullchain-rsa.pem, privkey-rsa.pem.
    Rsa,
}

impl KeySlot {
    /// The file name of `stem` ("cert", "privkey", …) in this slot.
    pub fn file_name(self, stem: &str) -> String {
        match self {
            KeySlot::Primary => format!("{stem}.pem"),
            KeySlot::Rsa => format!("{stem}-rsa.pem"),
        }
    }
}

impl CertFiles {
    /// The files of one set from the CA's PEM chain (leaf first) and its private key: each
    /// certificate parsed and written back as one canonical PEM block.
    pub fn from_chain(
        chain_pem: &str,
        privkey: String,
    ) -> Result<Self, crate::verify::VerifyError> {
        let blocks = crate::verify::pem_blocks(chain_pem.as_bytes())?;
        let (leaf, rest) = blocks
            .split_first()
            .ok_or(crate::verify::VerifyError::Empty)?;
        Ok(Self {
            cert: leaf.clone(),
            chain: rest.concat(),
            fullchain: blocks.concat(),
            privkey,
            rsa: None,
        })
    }
}

impl std::fmt::Debug for CertFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertFiles")
            .field("privkey", &"[secret key elided]")
            .finish_non_exhaustive()
    }
}

/// Where a certificate's stable files are.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LivePaths {
    /// live/NAME/cert.pem
    pub cert: PathBuf,
    /// live/NAME/chain.pem
    pub chain: PathBuf,
    /// live/NAME/fullchain.pem
    pub fullchain: PathBuf,
    /// live/NAME/privkey.pem
    pub privkey: PathBuf,
}

/// A held lock; released on drop, and by the kernel when the process dies. Locks are only ever
/// tried, never waited for inside the store: `ops::locks` waits, bounded and without blocking
/// the async runtime.
pub struct StoreLock(#[allow(dead_code)] Box<dyn Send>);

impl std::fmt::Debug for StoreLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreLock")
    }
}

/// The store interface. See the module docs.
pub trait CertStore: Send + Sync {
    /// The lock that serializes account creation for one ACME directory, without waiting: None
    /// when another process holds it.
    fn try_lock_account(&self, directory_url: &str) -> Result<Option<StoreLock>, StoreError>;
    /// The saved account credentials (opaque JSON) for a directory, if any.
    fn load_account(&self, directory_url: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Saves account credentials (0600). Call with the account lock held.
    fn save_account(&self, directory_url: &str, credentials_json: &[u8]) -> Result<(), StoreError>;

    /// The lock for one certificate (every read-decide-write of its record, state and live
    /// version happens under it), without waiting: None when another process holds it.
    fn try_lock_cert(&self, name: &str) -> Result<Option<StoreLock>, StoreError>;
    /// The claim on deploying a certificate's installed version, without waiting: held by the
    /// run that installed a version (or took over an undeployed one) from before it releases the
    /// certificate lock until the deploy is recorded, so a version is deployed by one run only.
    /// None when another live process holds it.
    fn try_claim_deploy(&self, name: &str) -> Result<Option<StoreLock>, StoreError>;
    /// The archive versions of a certificate, oldest first.
    fn versions(&self, name: &str) -> Result<Vec<u64>, StoreError>;
    /// The fullchain PEM of one archive version, if it exists.
    fn version_fullchain(&self, name: &str, version: u64) -> Result<Option<Vec<u8>>, StoreError>;
    /// The renewal record of a certificate, if it exists.
    fn load_record(&self, name: &str) -> Result<Option<RenewalRecord>, StoreError>;
    /// The names of every certificate with a renewal record.
    fn cert_names(&self) -> Result<Vec<String>, StoreError>;
    /// The live private key PEM of one key set (for `--reuse-key`), if there is one.
    fn live_privkey(&self, name: &str, slot: KeySlot) -> Result<Option<String>, StoreError>;
    /// The live fullchain PEM, if there is a live version.
    fn live_fullchain(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// The live leaf certificate PEM alone (cert.pem), if there is a live version: what renewal
    /// decisions read, without decoding the chain.
    fn live_cert(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes a new version, saves the record, then atomically points live/NAME at the new
    /// version. A crash at any point leaves the previous live set intact.
    fn install(
        &self,
        name: &str,
        files: &CertFiles,
        record: &RenewalRecord,
    ) -> Result<LivePaths, StoreError>;
    /// Rewrites the renewal record of an existing certificate (atomically).
    fn save_record(&self, record: &RenewalRecord) -> Result<(), StoreError>;
    /// What renewal remembers about a certificate (default when never written).
    fn load_state(&self, name: &str) -> Result<RenewalState, StoreError>;
    /// Saves the renewal state (atomically). Call with the cert lock held.
    fn save_state(&self, name: &str, state: &RenewalState) -> Result<(), StoreError>;
    /// The version number live/NAME points at, if any.
    fn live_version(&self, name: &str) -> Result<Option<u64>, StoreError>;
    /// Points live/NAME back at an earlier version (after a deploy that did not take). The
    /// version's deploy marks are cleared first: going live again is a new deploy.
    fn restore_version(&self, name: &str, version: u64) -> Result<(), StoreError>;
    /// The file whose existence marks `step` of deploying `version` done, its directory created:
    /// for a process other than certctl to create (the wrapper a deploy hook runs in).
    fn deploy_mark_path(
        &self,
        name: &str,
        version: u64,
        step: DeployStep<'_>,
    ) -> Result<PathBuf, StoreError>;
    /// True when `step` of deploying `version` is marked done.
    fn deploy_marked(&self, name: &str, version: u64, step: DeployStep<'_>) -> bool;
    /// Marks `step` of deploying `version` done, durably. Call under the deploy claim.
    fn mark_deployed(
        &self,
        name: &str,
        version: u64,
        step: DeployStep<'_>,
    ) -> Result<(), StoreError>;
    /// The stable paths of one key set of a certificate (whether or not they exist yet).
    fn live_paths(&self, name: &str, slot: KeySlot) -> LivePaths;
    /// The stamp of the renewal record as it is now (take it before reading the record), None
    /// when there is none.
    fn record_stamp(&self, name: &str) -> Option<Stamp>;
    /// A handle on the same store that can move to the blocking pool or another thread.
    fn shared(&self) -> std::sync::Arc<dyn CertStore>;

    /// True when the live version is shared with other nodes (a fleet): a deploy that fails on
    /// this node does not put an earlier version live, since the others may serve the new one.
    fn live_is_shared(&self) -> bool {
        false
    }
    /// Asks every other node of a shared store to serve HTTP-01 challenges for a first order
    /// (`issue --nginx` for names no node serves yet), and waits up to `wait` until each live
    /// node that deploys to nginx says it does. Returns the nodes that did not, with why. A
    /// single server has no other node: nothing to ask.
    fn share_challenges(
        &self,
        _request: &ChallengeRequest,
        _wait: std::time::Duration,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(Vec::new())
    }
    /// Withdraws the request once the order is over (the nodes undo what an order that failed
    /// left behind).
    fn withdraw_challenges(&self, _name: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A first order's challenges, as every node of a fleet must serve them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChallengeRequest {
    /// The certificate.
    pub name: String,
    /// Its identifiers.
    pub identifiers: Vec<String>,
    /// The port the CA validates on.
    pub http_port: u16,
    /// The ACME directory (whose account's thumbprint answers the tokens).
    pub server: String,
    /// The site, as the issuing node has it (each node puts its own nginx and paths in).
    pub site: crate::nginx::NginxSite,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(name: &str) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn splits_a_chain_into_leaf_and_intermediates() {
        let (a, b) = (self_signed("a.test"), self_signed("b.test"));
        // CRLFs and text between the blocks, as some CAs send them.
        let pem = format!("{}\nsome text\n{}", a.replace('\n', "\r\n"), b);
        let files = CertFiles::from_chain(&pem, "key".into()).unwrap();
        assert_eq!(files.cert, a);
        assert_eq!(files.chain, b);
        assert_eq!(files.fullchain, format!("{a}{b}"));
        assert!(CertFiles::from_chain("garbage", "key".into()).is_err());
    }
}
