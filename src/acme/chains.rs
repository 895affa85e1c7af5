//! Alternate certificate chains (RFC 8555 section 7.4.2, `Link: <…>;rel="alternate"`) for
//! `--preferred-chain`. instant-acme downloads the default chain only, so this module makes its
//! own POST-as-GET requests, signed with the account key.

use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use bytes::Bytes;

use super::AcmeError;
use super::jws::{self, AccountKey, KeyRef};
use super::signed::{SignedClient, header};

/// Fetches certificate chains as the account.
pub struct ChainFetcher {
    client: SignedClient,
    key: AccountKey,
    kid: String,
}

impl ChainFetcher {
    /// A fetcher for the account with stored `credentials_json` and URL `account_url`.
    pub async fn new(
        directory_url: &str,
        ca_bundle: Option<&Path>,
        credentials_json: &[u8],
        account_url: &str,
    ) -> Result<Self, AcmeError> {
        let key = super::account::account_key(directory_url, credentials_json)?;
        let client = SignedClient::new(directory_url, ca_bundle, "the alternate chains").await?;
        Ok(Self {
            client,
            key,
            kid: account_url.to_owned(),
        })
    }

    /// The chain at `cert_url` (the order's certificate URL) and every alternate the CA links.
    pub async fn all_chains(&mut self, cert_url: &str) -> Result<Vec<String>, AcmeError> {
        let (links, body) = self.post_as_get(cert_url).await?;
        let mut chains = vec![String::from_utf8_lossy(&body).into_owned()];
        for url in links {
            let (_, body) = self.post_as_get(&url).await?;
            chains.push(String::from_utf8_lossy(&body).into_owned());
        }
        Ok(chains)
    }

    /// One signed POST-as-GET; returns the alternate links and the body.
    async fn post_as_get(&mut self, url: &str) -> Result<(Vec<String>, Bytes), AcmeError> {
        let (key, kid, rng) = (&self.key, self.kid.as_str(), SystemRandom::new());
        let (parts, bytes) = self
            .client
            .post(url, |nonce| {
                jws::sign(key, &rng, KeyRef::Kid(kid), Some(nonce), url, b"")
                    .map(|j| j.to_string().into_bytes())
            })
            .await?;
        // One header may carry several links, comma-separated (RFC 8288).
        let links = header(&parts, "link")
            .flat_map(|h| split_links(&h))
            .filter_map(|l| alternate(&l))
            .collect();
        Ok((links, bytes))
    }
}

/// Splits a Link header value into its links: at commas outside `<…>`.
fn split_links(value: &str) -> Vec<String> {
    let mut links = Vec::new();
    let (mut current, mut in_url) = (String::new(), false);
    for c in value.chars() {
        match c {
            '<' => in_url = true,
            '>' => in_url = false,
            ',' if !in_url => {
                links.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    links.push(current);
    links
        .into_iter()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The URL of a `Link: <url>;rel="alternate"` header value, if it is one.
fn alternate(link: &str) -> Option<String> {
    let (target, params) = link.split_once(';')?;
    let url = target.trim().strip_prefix('<')?.strip_suffix('>')?;
    params
        .split(';')
        .any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"alternate\"" || p == "rel=alternate"
        })
        .then(|| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_alternate_links() {
        assert_eq!(
            alternate("<https://ca.test/cert/1/1>;rel=\"alternate\"").as_deref(),
            Some("https://ca.test/cert/1/1")
        );
        assert_eq!(
            alternate("<https://ca.test/cert/1/2>; rel=alternate").as_deref(),
            Some("https://ca.test/cert/1/2")
        );
        assert_eq!(alternate("<https://ca.test/dir>;rel=\"index\""), None);
        assert_eq!(alternate("garbage"), None);
        let both = split_links(
            "<https://ca.test/a,b>;rel=\"alternate\", <https://ca.test/dir>;rel=\"index\"",
        );
        assert_eq!(both.len(), 2);
        assert_eq!(alternate(&both[0]).as_deref(), Some("https://ca.test/a,b"));
    }
}
