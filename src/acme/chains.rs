//! Alternate certificate chains (RFC 8555 section 7.4.2, `Link: <…>;rel="alternate"`) for
//! `--preferred-chain`. instant-acme downloads the default chain only, so this module makes its
//! own POST-as-GET requests, signed with the account key (ES256, as instant-acme creates it).

use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::EcdsaKeyPair;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use instant_acme::{BodyWrapper, HttpClient};

use super::AcmeError;
use super::http::AcmeHttp;

/// Fetches certificate chains as the account.
pub struct ChainFetcher {
    http: AcmeHttp,
    key: EcdsaKeyPair,
    kid: String,
    new_nonce: String,
    nonce: Option<String>,
    directory_url: String,
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
        let http = AcmeHttp::new(ca_bundle)?;
        let directory = send(&http, get(directory_url), directory_url).await?;
        let new_nonce = serde_json::from_slice::<serde_json::Value>(&directory.1)
            .ok()
            .and_then(|d| d["newNonce"].as_str().map(str::to_owned))
            .ok_or_else(|| AcmeError::Protocol("the directory has no newNonce URL".into()))?;
        Ok(Self {
            http,
            key,
            kid: account_url.to_owned(),
            new_nonce,
            nonce: None,
            directory_url: directory_url.to_owned(),
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

    /// One signed POST-as-GET; returns the alternate links and the body. A rejected nonce is
    /// retried with the fresh one the CA sent.
    async fn post_as_get(&mut self, url: &str) -> Result<(Vec<String>, Bytes), AcmeError> {
        for _ in 0..4 {
            let nonce = match self.nonce.take() {
                Some(n) => n,
                None => self.fresh_nonce().await?,
            };
            let protected =
                serde_json::json!({"alg": "ES256", "kid": self.kid, "nonce": nonce, "url": url});
            let protected = URL_SAFE_NO_PAD.encode(protected.to_string());
            let signature = self
                .key
                .sign(&SystemRandom::new(), format!("{protected}.").as_bytes())
                .map_err(|_| AcmeError::Protocol("cannot sign with the account key".into()))?;
            let body = serde_json::json!({
                "protected": protected,
                "payload": "",
                "signature": URL_SAFE_NO_PAD.encode(signature.as_ref()),
            });
            let request = http::Request::post(url)
                .header(http::header::CONTENT_TYPE, "application/jose+json")
                .body(BodyWrapper::from(body.to_string().into_bytes()))
                .map_err(|e| AcmeError::Protocol(e.to_string()))?;
            let (parts, bytes) = send(&self.http, request, &self.directory_url).await?;
            self.nonce = header(&parts, "replay-nonce").next();
            if parts.status.is_success() {
                // One header may carry several links, comma-separated (RFC 8288).
                let links = header(&parts, "link")
                    .flat_map(|h| split_links(&h))
                    .filter_map(|l| alternate(&l))
                    .collect();
                return Ok((links, bytes));
            }
            let problem: instant_acme::Problem = serde_json::from_slice(&bytes).map_err(|_| {
                AcmeError::Protocol(format!(
                    "{url} answered {} without a problem document",
                    parts.status
                ))
            })?;
            if !problem
                .r#type
                .as_deref()
                .is_some_and(|t| t.ends_with(":badNonce"))
            {
                return Err(AcmeError::refused("the alternate chains", problem));
            }
        }
        Err(AcmeError::Protocol("the CA kept rejecting nonces".into()))
    }

    async fn fresh_nonce(&self) -> Result<String, AcmeError> {
        let request = http::Request::head(&self.new_nonce)
            .body(BodyWrapper::default())
            .map_err(|e| AcmeError::Protocol(e.to_string()))?;
        let (parts, _) = send(&self.http, request, &self.directory_url).await?;
        header(&parts, "replay-nonce")
            .next()
            .ok_or_else(|| AcmeError::Protocol("the CA sent no Replay-Nonce".into()))
    }
}

fn get(url: &str) -> http::Request<BodyWrapper<Bytes>> {
    http::Request::get(url)
        .body(BodyWrapper::default())
        .expect("a GET request builds")
}

async fn send(
    http: &AcmeHttp,
    request: http::Request<BodyWrapper<Bytes>>,
    directory_url: &str,
) -> Result<(http::response::Parts, Bytes), AcmeError> {
    let mut rsp = http
        .request(request)
        .await
        .map_err(|e| AcmeError::from_acme("the alternate chains", directory_url, e))?;
    let body = rsp
        .body
        .into_bytes()
        .await
        .map_err(|e| AcmeError::Unreachable {
            url: directory_url.to_owned(),
            reason: e.to_string(),
        })?;
    Ok((rsp.parts, body))
}

fn header<'a>(parts: &'a http::response::Parts, name: &str) -> impl Iterator<Item = String> + 'a {
    parts
        .headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
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
