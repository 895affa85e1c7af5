//! The HTTPS client instant-acme uses: platform roots plus `--ca-bundle`, and deadlines, so an
//! unreachable CA is reported within seconds instead of hanging.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};

use super::AcmeError;

/// How long to wait for a TCP connection to the CA.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request/response may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

type Inner = HyperClient<hyper_rustls::HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>;

/// See the module docs.
pub(crate) struct AcmeHttp(Inner);

impl AcmeHttp {
    /// A client trusting the system roots and, if given, every certificate in `ca_bundle`.
    pub(crate) fn new(ca_bundle: Option<&Path>) -> Result<Self, AcmeError> {
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
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        Ok(Self(
            HyperClient::builder(TokioExecutor::new()).build(https),
        ))
    }
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let fut = self.0.request(req);
        Box::pin(async move {
            match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
                Ok(Ok(rsp)) => Ok(BytesResponse::from(rsp)),
                Ok(Err(e)) => Err(instant_acme::Error::Other(Box::new(e))),
                Err(_) => Err(instant_acme::Error::Other(
                    format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()).into(),
                )),
            }
        })
    }
}
