//! The fleet key and what it seals: private keys and ACME account keys are encrypted before
//! they reach a shared store, with XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`) under a
//! 256-bit key from a file every node holds (0600) and the database never sees. Each sealed
//! value is bound to where it belongs (the associated data names the certificate, version and
//! key set, or the account's directory), so a row copied onto another row does not open.
//!
//! The key file is one line: `certctl-fleet-key-v1:` and the key in base64.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::StoreError;

const PREFIX: &str = "certctl-fleet-key-v1:";
const NONCE: usize = 24;
/// Sealed by `fleet init` and kept in the database: opening it tells a node that its key file
/// is this fleet's key, before anything else is read or written.
const CHECK: &[u8] = b"certctl fleet key check";
const CHECK_CONTEXT: &str = "fleet-key-check";

/// The fleet key. Never printed: Debug elides it.
pub struct FleetKey {
    cipher: XChaCha20Poly1305,
    path: PathBuf,
}

impl std::fmt::Debug for FleetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetKey")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FleetKey {
    /// Reads the key file; a missing, unreadable, group- or world-readable, or malformed file is
    /// a [`StoreError::FleetKey`] naming it.
    pub fn load(path: &Path) -> Result<Self, StoreError> {
        let bad = |reason: String| StoreError::FleetKey {
            path: path.to_owned(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => bad(
                "no such file: copy the fleet's key from a node that has it, or run `certctl fleet init` for a new fleet".into(),
            ),
            _ => bad(e.to_string()),
        })?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(bad(format!(
                "mode {:o} lets others read it; chmod 600 it",
                meta.permissions().mode() & 0o777
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        Self::parse(text.trim(), path).map_err(bad)
    }

    /// Makes a new random key and writes it to `path` (0600, never over an existing file).
    pub fn create(path: &Path) -> Result<Self, StoreError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| StoreError::FleetKey {
            path: path.to_owned(),
            reason: format!("no randomness: {e}"),
        })?;
        let text = format!("{PREFIX}{}\n", STANDARD.encode(bytes));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(crate::fsio::io("cannot create", dir))?;
        }
        crate::fsio::write_new(path, text.as_bytes(), 0o600)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::fsio::sync_dir(dir)?;
        }
        Self::parse(text.trim(), path).map_err(|reason| StoreError::FleetKey {
            path: path.to_owned(),
            reason,
        })
    }

    fn parse(text: &str, path: &Path) -> Result<Self, String> {
        let encoded = text
            .strip_prefix(PREFIX)
            .ok_or_else(|| format!("not a certctl fleet key (it should start with {PREFIX})"))?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|e| format!("the key is not base64: {e}"))?;
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
            .map_err(|_| format!("the key is {} bytes, not 32", bytes.len()))?;
        Ok(Self {
            cipher,
            path: path.to_owned(),
        })
    }

    /// Where the key came from (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Encrypts `plain` for `context`: a fresh random nonce followed by the ciphertext and tag.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE];
        getrandom::fill(&mut nonce).map_err(|e| StoreError::FleetKey {
            path: self.path.clone(),
            reason: format!("no randomness: {e}"),
        })?;
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Sealed(context.to_owned()))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// Decrypts what [`FleetKey::seal`] made for the same `context`; anything else (another
    /// key, another context, a changed byte) is [`StoreError::Sealed`].
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        if sealed.len() < NONCE {
            return Err(StoreError::Sealed(context.to_owned()));
        }
        let (nonce, body) = sealed.split_at(NONCE);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Sealed(context.to_owned()))
    }

    /// The value `fleet init` stores so every node can check its key.
    pub fn check_value(&self) -> Result<Vec<u8>, StoreError> {
        self.seal(CHECK_CONTEXT, CHECK)
    }

    /// Whether `stored` (the database's check value) was sealed with this key.
    pub fn verify_check(&self, stored: &[u8]) -> Result<(), StoreError> {
        match self.open(CHECK_CONTEXT, stored) {
            Ok(plain) if plain == CHECK => Ok(()),
            _ => Err(StoreError::FleetKey {
                path: self.path.clone(),
                reason: "this is not the key this fleet's database was initialized with".into(),
            }),
        }
    }
}

/// The associated data of a sealed private key.
pub fn privkey_context(name: &str, version: u64, slot: super::KeySlot) -> String {
    format!("privkey:{name}:{version}:{}", slot.file_name("privkey"))
}

/// The associated data of a sealed ACME account.
pub fn account_context(directory_url: &str) -> String {
    format!("account:{directory_url}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dir: &Path, name: &str) -> FleetKey {
        FleetKey::create(&dir.join(name)).unwrap()
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (key(dir.path(), "a"), key(dir.path(), "b"));
        let sealed = a
            .seal("privkey:x:1", b"-----BEGIN PRIVATE KEY-----")
            .unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"PRIVATE"));
        assert_eq!(
            a.open("privkey:x:1", &sealed).unwrap(),
            b"-----BEGIN PRIVATE KEY-----"
        );
        assert!(matches!(
            a.open("privkey:x:2", &sealed),
            Err(StoreError::Sealed(_))
        ));
        assert!(matches!(
            b.open("privkey:x:1", &sealed),
            Err(StoreError::Sealed(_))
        ));
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(a.open("privkey:x:1", &flipped).is_err());
        // Two seals of the same value differ (fresh nonces).
        assert_ne!(
            sealed,
            a.seal("privkey:x:1", b"-----BEGIN PRIVATE KEY-----")
                .unwrap()
        );
    }

    #[test]
    fn the_check_value_tells_the_fleet_key_from_another() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (key(dir.path(), "a"), key(dir.path(), "b"));
        let check = a.check_value().unwrap();
        a.verify_check(&check).unwrap();
        let err = b.verify_check(&check).unwrap_err().to_string();
        assert!(err.contains("not the key"), "{err}");
    }

    #[test]
    fn key_files_are_private_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/fleet.key");
        let made = FleetKey::create(&path).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let check = made.check_value().unwrap();
        FleetKey::load(&path).unwrap().verify_check(&check).unwrap();
        // Never over an existing key.
        assert!(FleetKey::create(&path).is_err());

        let missing = FleetKey::load(&dir.path().join("none")).unwrap_err();
        assert!(missing.to_string().contains("no such file"), "{missing}");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let open = FleetKey::load(&path).unwrap_err().to_string();
        assert!(open.contains("chmod 600"), "{open}");

        let junk = dir.path().join("junk");
        crate::fsio::write_new(&junk, b"hello", 0o600).unwrap();
        let junk = FleetKey::load(&junk).unwrap_err().to_string();
        assert!(junk.contains("not a certctl fleet key"), "{junk}");
    }
}
