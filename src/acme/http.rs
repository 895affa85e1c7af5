//! The HTTPS client instant-acme uses: platform roots plus `--ca-bundle`, and bounds on every
//! exchange, so a CA that is unreachable, stalls or never stops talking is reported within
//! seconds instead of hanging or filling memory.
//!
//! Every request has one deadline, [`REQUEST_DEADLINE`], covering the connection, the response
//! head *and* the whole body: the body is read here, into memory, before instant-acme sees it.
//! Bodies are capped at [`MAX_BODY`]: an ACME directory, order or problem document is a few
//! kilobytes and a certificate chain rarely more than ten, so 1 MiB is far above anything a
//! CA sends and far below anything that hurts. TCP keepalive is on, so a CA that vanishes
//! without closing the connection is noticed on pooled connections too.
//!
//! An HTTP error status is reported as one (status, method and URL) when instant-acme would
//! misread it: to a GET or HEAD, whose body it parses as the directory or ignores, and to a POST
//! without a problem document (a proxy's HTML 502). A POST's problem document goes to
//! instant-acme, which reads it (and retries a rejected nonce). A failed exchange names its
//! request ("POST https://…/new-order: …").
//!
//! For an account whose key is RSA (certbot's kind; instant-acme signs ES256 only), instant-acme
//! signs each request with a stand-in P-256 key and this client signs it again with the
//! account's own key before it is sent ([`AcmeHttp::signing_as`], `jws::resign`).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};

use super::AcmeError;
use super::jws::AccountKey;

/// How long to wait for a TCP connection to the CA.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one whole exchange may take: connecting, the request, the response head and body.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(15);
/// The largest response body accepted from the CA (see the module docs).
pub const MAX_BODY: usize = 1024 * 1024;
/// Idle time before TCP keepalive probes start on a connection to the CA.
const KEEPALIVE: Duration = Duration::from_secs(30);

type Inner = HyperClient<hyper_rustls::HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>;

/// See the module docs. Clones share one connection pool.
#[derive(Clone)]
pub(crate) struct AcmeHttp {
    client: Inner,
    limits: Limits,
    /// The account key every POST is signed again with, when instant-acme cannot sign with it.
    account_key: Option<Arc<AccountKey>>,
}

/// The bounds on one exchange.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Connection, head and body, all together.
    pub deadline: Duration,
    /// The largest body read.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            deadline: REQUEST_DEADLINE,
            max_body: MAX_BODY,
        }
    }
}

impl AcmeHttp {
    /// A client trusting the system roots and, if given, every certificate in `ca_bundle`.
    pub(crate) fn new(ca_bundle: Option<&Path>) -> Result<Self, AcmeError> {
        Self::with_limits(ca_bundle, Limits::default())
    }

    /// Like [`AcmeHttp::new`] with other bounds (tests).
    pub(crate) fn with_limits(ca_bundle: Option<&Path>, limits: Limits) -> Result<Self, AcmeError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let extra = match ca_bundle {
            Some(path) => crate::trust::load_bundle(path)?,
            None => Vec::new(),
        };
        let verifier =
            rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
                .map_err(|e| crate::trust::BundleError {
                    path: ca_bundle.map(Path::to_owned).unwrap_or_default(),
                    reason: e.to_string(),
                })?;
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| AcmeError::Protocol(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        tcp.set_nodelay(true);
        tcp.set_keepalive(Some(KEEPALIVE));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        Ok(Self {
            client: HyperClient::builder(TokioExecutor::new()).build(https),
            limits,
            account_key: None,
        })
    }

    /// This client, signing every POST again with `key` (see the module docs).
    pub(crate) fn signing_as(mut self, key: AccountKey) -> Self {
        self.account_key = Some(Arc::new(key));
        self
    }
}

/// `req` with its JWS body signed again by `key`.
async fn resigned(
    req: http::Request<BodyWrapper<Bytes>>,
    key: &AccountKey,
) -> Result<http::Request<BodyWrapper<Bytes>>, instant_acme::Error> {
    let (parts, body) = req.into_parts();
    let Ok(jws) = body.collect().await.map(|b| b.to_bytes());
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let jws =
        super::jws::resign(key, &rng, &jws).map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
    Ok(http::Request::from_parts(parts, BodyWrapper::from(jws)))
}

/// Why an exchange was cut short; instant-acme carries it as `Error::Other`, and
/// [`AcmeError::from_acme`] turns it into "cannot talk to the ACME server at URL: …".
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    /// The deadline passed before the body was complete.
    #[error("no complete answer within {} s", .0.as_secs())]
    Deadline(Duration),
    /// The body is larger than the cap.
    #[error("the answer is larger than {}; refused", size(*.0))]
    TooLarge(usize),
    /// The connection failed or broke off.
    #[error("{0}")]
    Transport(String),
    /// An HTTP error status that instant-acme would misread: to a GET or HEAD (it parses the
    /// body as the directory, or the nonce, it asked for) or without a problem document.
    #[error("the CA answered HTTP {status} to {method} {url}")]
    Status {
        /// The request's method.
        method: http::Method,
        /// The request's URL.
        url: String,
        /// The status line's code and reason.
        status: http::StatusCode,
        /// The problem document the body held, if any.
        problem: Option<instant_acme::Problem>,
    },
}

/// An exchange cut short, named by its request: "POST https://…/new-order: no complete answer …".
#[derive(Debug, thiserror::Error)]
#[error("{request}: {error}")]
pub(crate) struct CutShort {
    /// The method and URL.
    request: String,
    /// Why.
    error: ExchangeError,
}

/// The problem document in an error response's body, if it holds one.
fn problem_in(body: &[u8]) -> Option<instant_acme::Problem> {
    serde_json::from_slice::<instant_acme::Problem>(body)
        .ok()
        .filter(|p| p.r#type.is_some() || p.detail.is_some())
}

/// A size for people: "1 MiB", "64 KiB", "100 bytes".
fn size(bytes: usize) -> String {
    match bytes {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let (method, url) = (req.method().clone(), req.uri().to_string());
        let request = format!("{method} {url}");
        let (client, limits) = (self.client.clone(), self.limits);
        let account_key = self
            .account_key
            .clone()
            .filter(|_| method == http::Method::POST);
        Box::pin(async move {
            let req = match account_key {
                Some(key) => resigned(req, &key).await?,
                None => req,
            };
            let exchange = async {
                let rsp = client
                    .request(req)
                    .await
                    .map_err(|e| ExchangeError::Transport(super::error_chain(&e)))?;
                let (parts, body) = rsp.into_parts();
                let declared = parts
                    .headers
                    .get(http::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                if declared.is_some_and(|n| n > limits.max_body as u64) {
                    return Err(ExchangeError::TooLarge(limits.max_body));
                }
                let body = Limited::new(body, limits.max_body)
                    .collect()
                    .await
                    .map_err(|e| match e.downcast::<http_body_util::LengthLimitError>() {
                        Ok(_) => ExchangeError::TooLarge(limits.max_body),
                        Err(e) => ExchangeError::Transport(super::error_chain(e.as_ref())),
                    })?
                    .to_bytes();
                let status = parts.status;
                if !(status.is_success() || status.is_informational() || status.is_redirection()) {
                    let problem = problem_in(&body);
                    // instant-acme reads a POST's problem document itself (and retries on
                    // badNonce); anything else would reach it as "not ACME JSON".
                    if method != http::Method::POST || problem.is_none() {
                        return Err(ExchangeError::Status {
                            method,
                            url,
                            status,
                            problem,
                        });
                    }
                }
                Ok(http::Response::from_parts(parts, Full::new(body)))
            };
            let error = match tokio::time::timeout(limits.deadline, exchange).await {
                Ok(Ok(rsp)) => return Ok(BytesResponse::from(rsp)),
                // The status line names the request already.
                Ok(Err(e @ ExchangeError::Status { .. })) => {
                    return Err(instant_acme::Error::Other(Box::new(e)));
                }
                Ok(Err(e)) => e,
                Err(_) => ExchangeError::Deadline(limits.deadline),
            };
            Err(instant_acme::Error::Other(Box::new(CutShort {
                request,
                error,
            })))
        })
    }
}
