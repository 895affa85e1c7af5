//! Signed ACME requests that instant-acme cannot make (the alternate chains' POST-as-GET):
//! the directory, nonces, one POST whose body is signed afresh for each
//! nonce, and a rejected nonce (`badNonce`) retried with the one the CA sent. Every exchange
//! goes through certctl's client (`http`), with its deadline and body cap. The JWS itself is
//! `jws`.

use std::path::Path;

use bytes::Bytes;
use instant_acme::{BodyWrapper, HttpClient};
use serde_json::Value;

use super::AcmeError;
use super::http::AcmeHttp;
use super::jws::{self, Answer, JwsError};

/// How many times one request is sent when the CA keeps refusing its nonce.
const ATTEMPTS: usize = 4;

/// A client for one CA's signed requests.
pub(crate) struct SignedClient {
    http: AcmeHttp,
    directory_url: String,
    directory: Value,
    /// The `Date` header of the directory's answer (the CA's clock), as sent.
    date: Option<String>,
    nonce: Option<String>,
    /// What certctl is doing, for errors ("the alternate chains").
    during: &'static str,
}

impl SignedClient {
    /// Fetches the CA's directory.
    pub(crate) async fn new(
        directory_url: &str,
        ca_bundle: Option<&Path>,
        during: &'static str,
    ) -> Result<Self, AcmeError> {
        let mut client = Self {
            http: AcmeHttp::new(ca_bundle)?,
            directory_url: directory_url.to_owned(),
            directory: Value::Null,
            date: None,
            nonce: None,
            during,
        };
        let get = http::Request::get(directory_url)
            .body(BodyWrapper::default())
            .map_err(|e| AcmeError::Protocol(e.to_string()))?;
        let (parts, body) = client.send(get).await?;
        client.date = header(&parts, "date").next();
        client.directory = serde_json::from_slice(&body).map_err(|_| AcmeError::Unreachable {
            url: directory_url.to_owned(),
            reason: "the answer is not an ACME directory".into(),
        })?;
        Ok(client)
    }

    /// The directory itself.
    pub(crate) fn directory(&self) -> &Value {
        &self.directory
    }

    /// The `Date` header the CA sent with its directory.
    pub(crate) fn date(&self) -> Option<&str> {
        self.date.as_deref()
    }

    /// A URL the directory names (`newNonce`, `keyChange`, …).
    pub(crate) fn endpoint(&self, name: &str) -> Option<String> {
        self.directory[name].as_str().map(str::to_owned)
    }

    /// POSTs the JWS `body(nonce)` to `url` and returns the answer's head and body when the CA
    /// accepts it; its problem document otherwise.
    pub(crate) async fn post(
        &mut self,
        url: &str,
        body: impl Fn(&str) -> Result<Vec<u8>, JwsError>,
    ) -> Result<(http::response::Parts, Bytes), AcmeError> {
        let mut refused = None;
        for _ in 0..ATTEMPTS {
            let nonce = match self.nonce.take() {
                Some(n) => n,
                None => self.fresh_nonce().await?,
            };
            let jws = body(&nonce).map_err(|e| AcmeError::Key(e.to_string()))?;
            let request = http::Request::post(url)
                .header(http::header::CONTENT_TYPE, "application/jose+json")
                .body(BodyWrapper::from(jws))
                .map_err(|e| AcmeError::Protocol(e.to_string()))?;
            let (parts, bytes) = self.send(request).await?;
            self.nonce = replay_nonce(&parts);
            match jws::answer(parts.status.as_u16(), &bytes, self.nonce.as_deref()) {
                Answer::Accepted => return Ok((parts, bytes)),
                Answer::BadNonce { problem, .. } => refused = Some(problem),
                Answer::Refused(problem) => return Err(AcmeError::refused(self.during, problem)),
                Answer::Garbage(status) => {
                    return Err(AcmeError::Protocol(format!(
                        "{url} answered {status} without a problem document"
                    )));
                }
            }
        }
        Err(match refused {
            Some(problem) => AcmeError::refused(self.during, problem),
            None => AcmeError::Protocol("the CA kept rejecting nonces".into()),
        })
    }

    async fn fresh_nonce(&mut self) -> Result<String, AcmeError> {
        let url = self
            .endpoint("newNonce")
            .ok_or_else(|| AcmeError::Protocol("the directory has no newNonce URL".into()))?;
        let request = http::Request::head(url)
            .body(BodyWrapper::default())
            .map_err(|e| AcmeError::Protocol(e.to_string()))?;
        let (parts, _) = self.send(request).await?;
        replay_nonce(&parts)
            .ok_or_else(|| AcmeError::Protocol("the CA sent no Replay-Nonce".into()))
    }

    async fn send(
        &self,
        mut request: http::Request<BodyWrapper<Bytes>>,
    ) -> Result<(http::response::Parts, Bytes), AcmeError> {
        request.headers_mut().insert(
            http::header::USER_AGENT,
            http::HeaderValue::from_static(concat!("certctl/", env!("CARGO_PKG_VERSION"))),
        );
        let mut rsp = self
            .http
            .request(request)
            .await
            .map_err(|e| AcmeError::from_acme(self.during, &self.directory_url, e))?;
        let body = rsp
            .body
            .into_bytes()
            .await
            .map_err(|e| AcmeError::Unreachable {
                url: self.directory_url.clone(),
                reason: e.to_string(),
            })?;
        Ok((rsp.parts, body))
    }
}

fn replay_nonce(parts: &http::response::Parts) -> Option<String> {
    parts
        .headers
        .get("replay-nonce")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Every value of header `name`.
pub(crate) fn header<'a>(
    parts: &'a http::response::Parts,
    name: &str,
) -> impl Iterator<Item = String> + 'a {
    parts
        .headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
}
