//! Completing a chain the server sent short, as SSL Labs does: follow the AIA caIssuers URL
//! of the topmost certificate to its issuer, one hop at a time, until the chain verifies.
//! Bounded three ways: at most [`MAX_FETCHES`] requests, [`MAX_BYTES`] per answer, and every
//! request holds a connection slot of the audit's budget and ends by the audit's deadline. Only http and https URLs are followed
//! ([`super::cert::ca_issuers`]); what a URL served is read by the pure
//! [`super::cert::issuer_in`].

use std::time::Duration;

use rustls_pki_types::CertificateDer;
use tokio::time::Instant;

use super::cert::{self, AiaCompletion, Fetched};
use crate::verify::{self, VerifyError};

/// Requests per audit: a real chain is one or two intermediates short at most.
pub const MAX_FETCHES: usize = 3;
/// Bytes per answer: an intermediate is 1–2 KiB, a PKCS#7 bundle a few.
pub const MAX_BYTES: usize = 64 * 1024;

/// Looks for the certificates missing between `chain` and `roots` (after `known`, the
/// --ca-bundle intermediates), when the chain does not verify for want of an issuer. Each
/// request takes at most `timeout`, and none runs past `until`.
pub async fn complete(
    chain: &[CertificateDer<'static>],
    roots: &[CertificateDer<'static>],
    known: &[CertificateDer<'static>],
    now: i64,
    timeout: Duration,
    until: Instant,
) -> AiaCompletion {
    let mut out = AiaCompletion::default();
    let mut failures: Vec<String> = Vec::new();
    let Some(mut top) = chain.last().cloned() else {
        return out;
    };
    loop {
        let mut path = chain.to_vec();
        path.extend(known.iter().cloned());
        path.extend(out.fetched.iter().map(|f| f.cert.clone()));
        // Only a missing issuer is something a fetch can fix (not expiry, not a bad name).
        if !matches!(
            verify::check_trusted(&path, roots, None, now),
            Err(VerifyError::Untrusted(_))
        ) || cert::self_signed(&top)
        {
            break;
        }
        let urls = cert::ca_issuers(&top);
        if urls.is_empty() {
            failures.push(match out.fetched.is_empty() {
                true => "the certificate names no http(s) caIssuers URL".to_owned(),
                false => "the fetched certificate names no http(s) caIssuers URL".to_owned(),
            });
            break;
        }
        let mut issuer = None;
        for url in urls {
            if out.requests == MAX_FETCHES {
                failures.push(format!("stopped after {MAX_FETCHES} requests"));
                break;
            }
            out.requests += 1;
            // A connection like the probes': it holds one of the budget's slots.
            let fetched = super::probe::holding_slot(timeout, || {
                let left = until.saturating_duration_since(Instant::now());
                fetch(&url, timeout.min(left))
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            match fetched {
                Ok(body) => match cert::issuer_in(&body, &top) {
                    Some(found) => {
                        issuer = Some(Fetched { url, cert: found });
                        break;
                    }
                    None => failures.push(format!("{url} served no certificate that issued it")),
                },
                Err(why) => failures.push(format!("{url}: {why}")),
            }
        }
        match issuer {
            Some(found) => {
                top = found.cert.clone();
                out.fetched.push(found);
            }
            None => break,
        }
    }
    if !failures.is_empty() {
        out.failure = Some(failures.join("; "));
    }
    out
}

/// GET `url` within `timeout` (connect, head and body), at most [`MAX_BYTES`] of body.
async fn fetch(url: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    if timeout.is_zero() {
        return Err("the audit's deadline passed".to_owned());
    }
    let client = super::http::client(timeout)?
        .redirect(reqwest::redirect::Policy::limited(2))
        .build()
        .map_err(|e| e.to_string())?;
    let mut rsp = client.get(url).send().await.map_err(|e| why(&e))?;
    if !rsp.status().is_success() {
        return Err(format!("HTTP {}", rsp.status().as_u16()));
    }
    let too_big = || format!("more than {} KiB", MAX_BYTES / 1024);
    if rsp.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = rsp.chunk().await.map_err(|e| why(&e))? {
        if body.len() + chunk.len() > MAX_BYTES {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// reqwest's message and its causes ("error sending request: operation timed out").
fn why(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
