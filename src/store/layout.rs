//! Paths inside the state directory. Pure: computes paths, touches nothing.
//!
//! ```text
//! accounts/<directory>/account.json          0600, in a 0700 directory
//! certs/<name>/renewal.toml                  how to renew it unattended
//! certs/<name>/archive/<n>/{cert,chain,fullchain,privkey}.pem
//! certs/<name>/archive/<n>/.deployed/{served,hook-<sha256>}   deploy steps done for version n
//! live/<name> -> ../certs/<name>/archive/<n> swapped atomically (one rename)
//! ```

use std::path::{Path, PathBuf};

use super::{DeployStep, KeySlot, LivePaths, StoreError};

/// The state directory's layout.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// A layout rooted at `root` (the `--state-dir`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The state directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// accounts/
    pub fn accounts_dir(&self) -> PathBuf {
        self.root.join("accounts")
    }

    /// accounts/<directory>/ for one ACME directory URL.
    pub fn account_dir(&self, directory_url: &str) -> PathBuf {
        self.accounts_dir().join(directory_slug(directory_url))
    }

    /// certs/
    pub fn certs_dir(&self) -> PathBuf {
        self.root.join("certs")
    }

    /// certs/<name>/
    pub fn cert_dir(&self, name: &str) -> PathBuf {
        self.certs_dir().join(name)
    }

    /// certs/<name>/archive/
    pub fn archive_dir(&self, name: &str) -> PathBuf {
        self.cert_dir(name).join("archive")
    }

    /// live/
    pub fn live_dir(&self) -> PathBuf {
        self.root.join("live")
    }

    /// live/<name>: the symlink that is swapped.
    pub fn live_link(&self, name: &str) -> PathBuf {
        self.live_dir().join(name)
    }

    /// The relative symlink target for version `n` of `name`, as seen from live/.
    pub fn live_target(name: &str, version: u64) -> PathBuf {
        Path::new("..")
            .join("certs")
            .join(name)
            .join("archive")
            .join(version.to_string())
    }

    /// certs/<name>/archive/<n>/.deployed/: the deploy steps done for version n (it goes with
    /// its version, so a version number used again never inherits another's marks).
    pub fn deploy_marks_dir(&self, name: &str, version: u64) -> PathBuf {
        self.archive_dir(name)
            .join(version.to_string())
            .join(".deployed")
    }

    /// The mark of one deploy step of version n: `served`, or `hook-` and the SHA-256 of the
    /// hook's command (the command itself may hold secrets; its hash names it).
    pub fn deploy_mark(&self, name: &str, version: u64, step: DeployStep<'_>) -> PathBuf {
        let file = match step {
            DeployStep::Served => "served".to_owned(),
            DeployStep::Hook(command) => {
                let digest =
                    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, command.as_bytes());
                let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
                format!("hook-{hex}")
            }
        };
        self.deploy_marks_dir(name, version).join(file)
    }

    /// The stable file paths of one key set under live/<name>/.
    pub fn live_paths(&self, name: &str, slot: KeySlot) -> LivePaths {
        let dir = self.live_link(name);
        LivePaths {
            cert: dir.join(slot.file_name("cert")),
            chain: dir.join(slot.file_name("chain")),
            fullchain: dir.join(slot.file_name("fullchain")),
            privkey: dir.join(slot.file_name("privkey")),
        }
    }
}

/// A directory name for an ACME directory URL: host, port and path, with anything outside
/// `[A-Za-z0-9.-]` turned into `_` (`https://127.0.0.1:14000/dir` → `127.0.0.1_14000_dir`).
pub fn directory_slug(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.trim_end_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Checks that a certificate name is safe as a single path component and in nginx config.
pub fn check_cert_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadName(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_directory_urls() {
        assert_eq!(
            directory_slug("https://acme-v02.api.letsencrypt.org/directory"),
            "acme-v02.api.letsencrypt.org_directory"
        );
        assert_eq!(
            directory_slug("https://127.0.0.1:14000/dir"),
            "127.0.0.1_14000_dir"
        );
    }

    #[test]
    fn cert_names_are_single_safe_components() {
        for good in ["example.com", "a-b_c.test", "::1", "example.com-rsa"] {
            assert!(check_cert_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "a b", ".hidden", "a;b"] {
            assert!(check_cert_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deploy_marks_live_in_their_version_and_name_hooks_by_hash() {
        let layout = Layout::new("/s");
        assert_eq!(
            layout.deploy_mark("a.test", 3, DeployStep::Served),
            Path::new("/s/certs/a.test/archive/3/.deployed/served")
        );
        let one = layout.deploy_mark("a.test", 3, DeployStep::Hook("systemctl reload x"));
        let two = layout.deploy_mark("a.test", 3, DeployStep::Hook("systemctl reload y"));
        assert_ne!(one, two);
        let file = one.file_name().unwrap().to_str().unwrap();
        assert!(file.starts_with("hook-") && file.len() == 5 + 64, "{file}");
        assert!(!file.contains("systemctl"));
    }

    #[test]
    fn live_links_point_into_the_archive() {
        assert_eq!(
            Layout::live_target("a.test", 3),
            PathBuf::from("../certs/a.test/archive/3")
        );
        let l = Layout::new("/s");
        assert_eq!(
            l.live_paths("a.test", KeySlot::Primary).fullchain,
            PathBuf::from("/s/live/a.test/fullchain.pem")
        );
    }
}
