//! The per-certificate renewal record (`certs/NAME/renewal.toml`).
//!
//! The record holds everything needed to renew a certificate unattended: the names, the key type,
//! the CA, how challenges are answered and the hooks. `issue` writes it; `renew` (later) reads it,
//! so nothing has to be repeated on the command line. Pure: parsing and rendering only.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::keys::KeyType;
use crate::names::{self, Identifier, NameError};

/// The record's format version, bumped when a field changes meaning.
pub const RECORD_FORMAT: u32 = 1;

/// How HTTP-01 challenges are answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Responder {
    /// Token files written under `path/.well-known/acme-challenge/`, served by an existing web server.
    Webroot {
        /// The web root directory.
        path: PathBuf,
    },
    /// certctl's own HTTP server on `http_port` for the duration of the order.
    Standalone,
    /// Brought by the user (`certctl install-cert`): certctl cannot renew it.
    Manual,
}

/// See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewalRecord {
    /// Format version ([`RECORD_FORMAT`] when written by this certctl).
    #[serde(default = "record_format")]
    pub format: u32,
    /// Certificate name (the live/NAME directory).
    pub name: String,
    /// Identifiers on the certificate (A-label names and IP addresses), first is the primary.
    pub domains: Vec<String>,
    /// Key type for new keys.
    pub key_type: KeyType,
    /// `--dual`: an RSA 2048 set is issued alongside the (ECDSA) primary, as a pair.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dual: bool,
    /// The ACME profile asked for (`--profile`), remembered for renewals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// `--preferred-chain`: the issuer (Common Name) the served chain should lead to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_chain: Option<String>,
    /// Keep the current private key on renewal.
    pub reuse_key: bool,
    /// ACME directory URL.
    pub server: String,
    /// Extra trusted roots for the CA's HTTPS API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
    /// Account contact email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Port of the HTTP server that answers challenges (standalone) or serves the webroot.
    pub http_port: u16,
    /// Fetch each token locally before asking the CA to validate.
    pub self_check: bool,
    /// Shell command run after a new certificate goes live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_hook: Option<String>,
    /// How challenges are answered.
    pub responder: Responder,
    /// The nginx site certctl manages for this certificate, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nginx: Option<crate::nginx::NginxSite>,
    /// An nginx whose own server blocks read this certificate's live files (`import certbot`
    /// pointed them there): renew tests and reloads it and checks what it serves, as for a site
    /// of certctl's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload_nginx: Option<crate::nginx::binary::Nginx>,
    /// Renew once fewer than this many days remain, as `renew --days` does (certbot's
    /// `renew_before_expiry`, kept by `import certbot`); `renew --days` given wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_before_days: Option<u32>,
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// TOML syntax or an unknown/missing field.
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    /// A newer certctl wrote this record.
    #[error("record format {0} is newer than this certctl understands ({RECORD_FORMAT})")]
    Format(u32),
    /// A stored name no longer parses.
    #[error(transparent)]
    Name(#[from] NameError),
}

fn record_format() -> u32 {
    RECORD_FORMAT
}

impl RenewalRecord {
    /// Renders the record as TOML, with a header saying who owns the file.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("a renewal record always serializes");
        format!("# Managed by certctl: how to renew this certificate unattended.\n{body}")
    }

    /// Parses a record written by [`RenewalRecord::to_toml`].
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let format: toml::Table = toml::from_str(text)?;
        let version = format
            .get("format")
            .and_then(toml::Value::as_integer)
            .unwrap_or(0);
        if version > i64::from(RECORD_FORMAT) {
            return Err(ConfigError::Format(version as u32));
        }
        let record: RenewalRecord = toml::from_str(text)?;
        record.identifiers()?;
        Ok(record)
    }

    /// The nginx whose servers read this certificate's live files: certctl's site's, or the
    /// user's own (after an import).
    pub fn served_by(&self) -> Option<&crate::nginx::binary::Nginx> {
        self.nginx
            .as_ref()
            .map(|site| &site.nginx)
            .or(self.reload_nginx.as_ref())
    }

    /// The identifiers, parsed again (records store them as text).
    pub fn identifiers(&self) -> Result<Vec<Identifier>, NameError> {
        names::parse_identifiers(self.domains.iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RenewalRecord {
        RenewalRecord {
            format: RECORD_FORMAT,
            name: "example.com".into(),
            domains: vec!["example.com".into(), "www.example.com".into()],
            key_type: KeyType::Rsa3072,
            dual: false,
            profile: None,
            preferred_chain: None,
            reuse_key: true,
            server: "https://127.0.0.1:14000/dir".into(),
            ca_bundle: Some("/etc/ca.pem".into()),
            email: Some("ops@example.com".into()),
            http_port: 8080,
            self_check: false,
            deploy_hook: Some("systemctl reload nginx".into()),
            responder: Responder::Webroot {
                path: "/var/www/acme".into(),
            },
            nginx: None,
            reload_nginx: None,
            renew_before_days: None,
        }
    }

    #[test]
    fn round_trips_through_toml() {
        let text = sample().to_toml();
        assert!(text.starts_with("# Managed by certctl"));
        assert!(text.contains("key_type = \"rsa-3072\""));
        assert_eq!(RenewalRecord::from_toml(&text).unwrap(), sample());
        let mut standalone = sample();
        standalone.responder = Responder::Standalone;
        standalone.email = None;
        assert_eq!(
            RenewalRecord::from_toml(&standalone.to_toml()).unwrap(),
            standalone
        );
    }

    #[test]
    fn refuses_unknown_fields_and_newer_formats() {
        let text = sample()
            .to_toml()
            .replace("reuse_key = true", "reuse_key = true\nreuse_kee = 1");
        let err = RenewalRecord::from_toml(&text).unwrap_err();
        assert!(err.to_string().contains("reuse_kee"), "{err}");
        let newer = sample().to_toml().replace("format = 1", "format = 99");
        assert!(matches!(
            RenewalRecord::from_toml(&newer),
            Err(ConfigError::Format(99))
        ));
    }
}
