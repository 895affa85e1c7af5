//! Which ACME directory to use: Let's Encrypt production (default), its staging CA, or any URL.

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory (untrusted certificates, generous rate limits).
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// The directory URL for `--server URL` / `--staging` / neither.
///
/// Returns `Err` with a message when the URL is not an absolute `https://` URL: ACME runs over
/// HTTPS only (RFC 8555 section 6.1).
pub fn directory_url(server: Option<&str>, staging: bool) -> Result<String, String> {
    match (server, staging) {
        (Some(_), true) => Err("--server and --staging cannot be used together".to_owned()),
        (None, true) => Ok(LETS_ENCRYPT_STAGING.to_owned()),
        (None, false) => Ok(LETS_ENCRYPT.to_owned()),
        (Some(url), false) => {
            let rest = url.strip_prefix("https://").ok_or_else(|| {
                format!("--server {url:?} must be an https:// URL (ACME runs over HTTPS only)")
            })?;
            let host = rest.split('/').next().unwrap_or_default();
            if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!("--server {url:?} is not a valid URL"));
            }
            Ok(url.to_owned())
        }
    }
}

/// What `certctl doctor` asks of a CA's directory.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DirectoryFacts {
    /// `meta.caaIdentities`: the domains the CA recognizes in CAA `issue` records (RFC 8555
    /// §7.1.1); empty when it names none.
    pub caa_identities: Vec<String>,
    /// The answer's `Date` header (the CA's clock), as sent.
    pub date: Option<String>,
}

/// Fetches the directory (one GET under the ACME client's deadline) for its CAA identities and
/// the CA's `Date`.
pub async fn facts(
    directory_url: &str,
    ca_bundle: Option<&std::path::Path>,
) -> Result<DirectoryFacts, super::AcmeError> {
    let client =
        super::signed::SignedClient::new(directory_url, ca_bundle, "the directory").await?;
    let caa_identities = client.directory()["meta"]["caaIdentities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_ascii_lowercase))
        .collect();
    Ok(DirectoryFacts {
        caa_identities,
        date: client.date().map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_production_staging_or_custom() {
        assert_eq!(directory_url(None, false).unwrap(), LETS_ENCRYPT);
        assert_eq!(directory_url(None, true).unwrap(), LETS_ENCRYPT_STAGING);
        assert_eq!(
            directory_url(Some("https://127.0.0.1:14000/dir"), false).unwrap(),
            "https://127.0.0.1:14000/dir"
        );
    }

    #[test]
    fn refuses_plain_http_and_conflicts() {
        assert!(directory_url(Some("http://ca.test/dir"), false).is_err());
        assert!(directory_url(Some("https:///dir"), false).is_err());
        assert!(directory_url(Some("https://ca.test/dir"), true).is_err());
    }
}
