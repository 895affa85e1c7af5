//! Reading certbot's configuration directory: renewal files, a lineage's live files, an
//! account. Read only: nothing here opens a file for writing.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::CertbotError;
use super::renewal::LiveFiles;

/// certbot's configuration directory (`--config-dir`, /etc/letsencrypt by default).
#[derive(Clone, Debug)]
pub struct ConfigDir {
    root: PathBuf,
}

/// One `renewal/NAME.conf`.
#[derive(Debug)]
pub struct RenewalFile {
    /// The lineage name (the file name without `.conf`).
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Its text, or why it cannot be read.
    pub text: Result<String, String>,
}

/// The PEM files of a lineage's live version, as bytes on disk.
#[derive(Debug)]
pub struct LineageFiles {
    /// cert.pem
    pub cert: String,
    /// chain.pem
    pub chain: String,
    /// fullchain.pem
    pub fullchain: String,
    /// privkey.pem
    pub privkey: String,
    /// Where fullchain.pem is, for messages.
    pub fullchain_path: PathBuf,
}

/// The files of one certbot account.
#[derive(Debug)]
pub struct AccountFiles {
    /// accounts/SERVER/ID/
    pub dir: PathBuf,
    /// private_key.json: the account key as a JWK.
    pub private_key: Vec<u8>,
    /// regr.json: the registration (account URL, contact).
    pub regr: Vec<u8>,
}

impl ConfigDir {
    /// Opens `root`: it must exist and have a renewal/ directory.
    pub fn open(root: &Path) -> Result<Self, CertbotError> {
        match fs::metadata(root) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(CertbotError::NotCertbot(root.to_owned())),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(CertbotError::NoConfigDir(root.to_owned()));
            }
            Err(source) => {
                return Err(CertbotError::Unreadable {
                    path: root.to_owned(),
                    source,
                });
            }
        }
        if !root.join("renewal").is_dir() {
            return Err(CertbotError::NotCertbot(root.to_owned()));
        }
        Ok(Self {
            root: root.to_owned(),
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every `renewal/*.conf`, sorted by name (certbot ignores other files there too).
    pub fn renewal_files(&self) -> Result<Vec<RenewalFile>, CertbotError> {
        let dir = self.root.join("renewal");
        let unreadable = |source| CertbotError::Unreadable {
            path: dir.clone(),
            source,
        };
        let mut files = Vec::new();
        for entry in fs::read_dir(&dir).map_err(unreadable)? {
            let entry = entry.map_err(unreadable)?;
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some(name) = file_name.strip_suffix(".conf") else {
                continue;
            };
            if name.is_empty() {
                continue;
            }
            let path = entry.path();
            let text = fs::read(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
                .and_then(|bytes| {
                    String::from_utf8(bytes)
                        .map_err(|_| format!("{} is not UTF-8 text", path.display()))
                });
            files.push(RenewalFile {
                name: name.to_owned(),
                path,
                text,
            });
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    /// The live files of lineage `name`: where its renewal file says, or live/NAME/ when the
    /// file names none or names paths that are gone (a directory restored elsewhere).
    pub fn read_live(&self, name: &str, files: &LiveFiles) -> Result<LineageFiles, String> {
        let live = self.root.join("live").join(name);
        let pick = |named: &Option<PathBuf>, stem: &str| -> PathBuf {
            match named {
                Some(path) if path.exists() => path.clone(),
                _ => live.join(format!("{stem}.pem")),
            }
        };
        let read = |path: &Path| -> Result<String, String> {
            fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        };
        let fullchain_path = pick(&files.fullchain, "fullchain");
        Ok(LineageFiles {
            cert: read(&pick(&files.cert, "cert"))?,
            chain: read(&pick(&files.chain, "chain"))?,
            fullchain: read(&fullchain_path)?,
            privkey: read(&pick(&files.privkey, "privkey"))?,
            fullchain_path,
        })
    }

    /// Account `id` for the ACME directory `server`: accounts/HOST[:PORT]/PATH/ID/, as certbot
    /// lays them out.
    pub fn read_account(&self, server: &str, id: &str) -> Result<AccountFiles, String> {
        if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
            return Err(format!("the account id {id:?} is not a directory name"));
        }
        let rest = server.split_once("://").map_or(server, |(_, rest)| rest);
        if rest.split('/').any(|part| part == "..") {
            return Err(format!(
                "the server URL {server} is not a path certbot uses"
            ));
        }
        let dir = self
            .root
            .join("accounts")
            .join(rest.trim_end_matches('/'))
            .join(id);
        let read = |file: &str| {
            let path = dir.join(file);
            fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        };
        Ok(AccountFiles {
            private_key: read("private_key.json")?,
            regr: read("regr.json")?,
            dir,
        })
    }

    /// The scripts in renewal-hooks/{pre,deploy,post}/ (certbot runs them for every lineage).
    pub fn directory_hooks(&self) -> Vec<PathBuf> {
        let mut hooks = Vec::new();
        for kind in ["pre", "deploy", "post"] {
            let Ok(entries) = fs::read_dir(self.root.join("renewal-hooks").join(kind)) else {
                continue;
            };
            hooks.extend(entries.flatten().map(|e| e.path()));
        }
        hooks.sort();
        hooks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_certbot_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            ConfigDir::open(&dir.path().join("missing")),
            Err(CertbotError::NoConfigDir(_))
        ));
        assert!(matches!(
            ConfigDir::open(dir.path()),
            Err(CertbotError::NotCertbot(_))
        ));
        fs::write(dir.path().join("file"), "").unwrap();
        assert!(matches!(
            ConfigDir::open(&dir.path().join("file")),
            Err(CertbotError::NotCertbot(_))
        ));
        fs::create_dir(dir.path().join("renewal")).unwrap();
        fs::write(dir.path().join("renewal/b.test.conf"), "x").unwrap();
        fs::write(dir.path().join("renewal/a.test.conf"), "y").unwrap();
        fs::write(dir.path().join("renewal/README"), "z").unwrap();
        let conf = ConfigDir::open(dir.path()).unwrap();
        let names: Vec<String> = conf
            .renewal_files()
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["a.test", "b.test"]);
        assert!(conf.read_account("https://ca.test/dir", "../x").is_err());
        assert!(conf.read_account("https://ca.test/../dir", "x").is_err());
        let err = conf
            .read_account("https://ca.test:1/dir", "abc")
            .unwrap_err();
        assert!(
            err.contains("accounts/ca.test:1/dir/abc/private_key.json"),
            "{err}"
        );
    }
}
