//! One ACME order over HTTP-01: new order, publish tokens, self-check, validate, finalize.
//!
//! Polling starts after 20 ms and backs off by 1.5× (instant-acme honours Retry-After), so a fast
//! CA is never waited on for long and a slow one is not hammered.

use std::time::Duration;

use instant_acme::{AuthorizationStatus, ChallengeType, NewOrder, OrderStatus, RetryPolicy};

use super::challenge::{self, Http01Responder, PublishedToken};
use super::{Account, AcmeError};
use crate::names::Identifier;
use crate::progress::{Progress, Step};

/// How to run one order.
pub struct OrderPlan<'a> {
    /// The directory URL (for messages).
    pub directory_url: &'a str,
    /// The identifiers, in order.
    pub identifiers: &'a [Identifier],
    /// `Some(port)`: fetch each token from 127.0.0.1:port before telling the CA.
    pub self_check_port: Option<u16>,
    /// The ARI identifier of the certificate this order replaces (RFC 9773 `replaces`), sent
    /// only to a CA that offers ARI.
    pub replaces: Option<&'a str>,
    /// The ACME profile (checked against the directory's offer beforehand).
    pub profile: Option<&'a str>,
}

fn retry_policy() -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(20))
        .backoff(1.5)
        .timeout(Duration::from_secs(120))
}

/// Runs the order and returns the PEM chain and the certificate URL (for alternate chains). `csr` is called once the order is ready, so key
/// generation can overlap with validation.
pub async fn obtain<F>(
    account: &Account,
    plan: &OrderPlan<'_>,
    responder: &mut dyn Http01Responder,
    csr: F,
    progress: &dyn Progress,
) -> Result<(String, Option<String>), AcmeError>
where
    F: AsyncFnOnce() -> Result<Vec<u8>, AcmeError>,
{
    let url = plan.directory_url;
    let acme_ids: Vec<instant_acme::Identifier> = plan
        .identifiers
        .iter()
        .map(|id| match id {
            Identifier::Dns(name) => instant_acme::Identifier::Dns(name.clone()),
            Identifier::Ip(ip) => instant_acme::Identifier::Ip(*ip),
        })
        .collect();
    progress.step(Step::Order, &format!("{} identifier(s)", acme_ids.len()));
    let has_ip = plan
        .identifiers
        .iter()
        .any(|id| matches!(id, Identifier::Ip(_)));
    let replaces = plan.replaces.and_then(|id| id.split_once('.'));
    let new_order = |with_replaces: bool| {
        let mut order = NewOrder::new(&acme_ids);
        if let Some(profile) = plan.profile {
            order = order.profile(profile);
        }
        match replaces.filter(|_| with_replaces) {
            Some((aki, serial)) => order.replaces(instant_acme::CertificateIdentifier {
                authority_key_identifier: aki.into(),
                serial: serial.into(),
            }),
            None => order,
        }
    };
    let first = retry_bad_nonce(async || account.acme().new_order(&new_order(true)).await).await;
    let first = match first {
        // The certificate was already replaced (by another run, say), or the CA does not take
        // this `replaces` (RFC 9773 section 5: a CA may answer malformed for an identifier it
        // does not know), or it ignored the field (instant-acme then refuses the order, since
        // RFC 9773 says the CA must echo it): order again without it. Renewal must never hinge
        // on ARI.
        Err(e) if replaces.is_some() && refuses_replaces(&e) => {
            tracing::info!(
                "the CA did not take `replaces` ({}); ordering without it",
                match &e {
                    instant_acme::Error::Api(problem) => super::ProblemDisplay(problem).to_string(),
                    other => other.to_string(),
                }
            );
            retry_bad_nonce(async || account.acme().new_order(&new_order(false)).await).await
        }
        other => other,
    };
    let mut order =
        first.map_err(|e| AcmeError::from_acme("the new order", url, e).with_ip_context(has_ip))?;

    // Publish every token first, then self-check, then tell the CA: a failed self-check costs
    // the CA nothing.
    let mut published: Vec<PublishedToken> = Vec::new();
    for_each_authorization(&mut order, url, async |mut authz| {
        let identifier = authz.identifier().to_string();
        match authz.status {
            AuthorizationStatus::Valid => {
                progress.step(
                    Step::Challenge,
                    &format!("{identifier}: already authorized"),
                );
                return Ok(());
            }
            AuthorizationStatus::Pending => {}
            other => {
                tracing::debug!("authorization for {identifier} is {other:?}");
                return Err(AcmeError::ValidationFailed {
                    failures: vec![(identifier, format!("{other:?}").to_lowercase(), None)],
                });
            }
        }
        let challenge = authz
            .challenge(ChallengeType::Http01)
            .ok_or_else(|| AcmeError::NoHttp01(identifier.clone()))?;
        if published.iter().any(|p| p.token == challenge.token) {
            return Ok(());
        }
        let key_authorization = account.key_authorization(&challenge.token);
        responder.publish(&challenge.token, &key_authorization)?;
        published.push(PublishedToken {
            identifier: crate::names::parse_identifier(&identifier).map_err(|e| {
                AcmeError::Protocol(format!("the CA sent identifier {identifier:?}: {e}"))
            })?,
            token: challenge.token.clone(),
            key_authorization,
        });
        progress.step(Step::Challenge, &format!("{identifier}: token published"));
        Ok(())
    })
    .await?;

    if let Some(port) = plan.self_check_port
        && !published.is_empty()
    {
        challenge::self_check(port, &published).await?;
        progress.step(Step::Challenge, "self-check passed");
    }

    let mut answered = std::collections::HashSet::new();
    for_each_authorization(&mut order, url, async |mut authz| {
        if authz.status != AuthorizationStatus::Pending
            || !answered.insert(authz.identifier().to_string())
        {
            return Ok(());
        }
        if let Some(mut challenge) = authz.challenge(ChallengeType::Http01) {
            retry_bad_nonce(async || challenge.set_ready().await)
                .await
                .map_err(|e| AcmeError::from_acme("the challenge", url, e))?;
        }
        Ok(())
    })
    .await?;

    progress.step(Step::Validation, "waiting for the CA");
    // An invalid order may come back as a status or as the order's error document; either way
    // the user wants to know which identifier failed and why.
    // Each poll is a signed request too: a rejected nonce there is retried like any other.
    let order_problem =
        match retry_bad_nonce(async || order.poll_ready(&retry_policy()).await).await {
            Ok(OrderStatus::Invalid) => order.state().error.clone(),
            Ok(_) => None,
            Err(instant_acme::Error::Api(problem)) => Some(problem),
            Err(e) => return Err(AcmeError::from_acme("validation", url, e)),
        };
    if order.state().status == OrderStatus::Invalid || order_problem.is_some() {
        let failures = collect_failures(&mut order, url).await?;
        return Err(match (failures.is_empty(), order_problem) {
            (true, Some(problem)) => {
                AcmeError::refused("the order", problem).with_ip_context(has_ip)
            }
            (true, None) => AcmeError::Protocol(format!(
                "the order {} is invalid and the CA gave no reason",
                order.url()
            )),
            _ => AcmeError::ValidationFailed { failures },
        });
    }
    responder.cleanup();

    progress.step(Step::Finalize, "sending the CSR");
    let csr = csr().await?;
    retry_bad_nonce(async || order.finalize_csr(&csr).await)
        .await
        .map_err(|e| AcmeError::from_acme("the CSR", url, e))?;
    let chain = match retry_bad_nonce(async || order.certificate().await)
        .await
        .map_err(|e| AcmeError::from_acme("the certificate", url, e))?
    {
        Some(chain) => chain,
        None => retry_bad_nonce(async || order.poll_certificate(&retry_policy()).await)
            .await
            .map_err(|e| AcmeError::from_acme("the certificate", url, e))?,
    };
    progress.step(Step::Finalize, "certificate downloaded");
    Ok((chain, order.state().certificate.clone()))
}

/// True for the answers after which an order is sent again without `replaces`: the problems
/// `alreadyReplaced` and `malformed`, and instant-acme's refusal of an order that does not echo
/// the field.
fn refuses_replaces(err: &instant_acme::Error) -> bool {
    match err {
        instant_acme::Error::Api(problem) => problem
            .r#type
            .as_deref()
            .is_some_and(|t| t.ends_with(":alreadyReplaced") || t.ends_with(":malformed")),
        instant_acme::Error::Other(inner) => {
            inner.to_string().starts_with("replaces field mismatch")
        }
        _ => false,
    }
}

/// instant-acme retries a rejected nonce twice; a CA that rejects more in a row (pebble's test
/// mode rejects 5% of good nonces, and Let's Encrypt may too under load) gets three more tries
/// for the requests that are safe to repeat: a badNonce means the request was not processed.
/// The polls (order ready, certificate issued) are wrapped too: each is several signed
/// requests, and three rejections in a row among a run's many requests is not rare with pebble.
pub(super) async fn retry_bad_nonce<T>(
    mut request: impl AsyncFnMut() -> Result<T, instant_acme::Error>,
) -> Result<T, instant_acme::Error> {
    let mut tries = 0;
    loop {
        match request().await {
            Err(e) if tries < 3 && is_bad_nonce(&e) => {
                tries += 1;
                tracing::debug!("the CA rejected a nonce again; retrying");
            }
            other => return other,
        }
    }
}

/// Calls `visit` on each of the order's authorizations. Each is a signed fetch: when the CA
/// rejects a nonce more often than instant-acme retries, the list is read again from the start,
/// so `visit` must do nothing twice.
async fn for_each_authorization(
    order: &mut instant_acme::Order,
    url: &str,
    mut visit: impl AsyncFnMut(instant_acme::AuthorizationHandle<'_>) -> Result<(), AcmeError>,
) -> Result<(), AcmeError> {
    let mut rejected = 0;
    'fetch: loop {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let authz = match authz {
                Err(e) if is_bad_nonce(&e) && rejected < 3 => {
                    rejected += 1;
                    continue 'fetch;
                }
                other => other.map_err(|e| AcmeError::from_acme("the authorizations", url, e))?,
            };
            visit(authz).await?;
        }
        return Ok(());
    }
}

/// The CA rejected the request's nonce (RFC 8555 section 6.5): it did not process the request.
fn is_bad_nonce(err: &instant_acme::Error) -> bool {
    matches!(err, instant_acme::Error::Api(problem)
        if problem.r#type.as_deref().is_some_and(|t| t.ends_with(":badNonce")))
}

/// After an order went invalid: which identifiers failed, with the CA's reason for each.
async fn collect_failures(
    order: &mut instant_acme::Order,
    url: &str,
) -> Result<Vec<(String, String, Option<super::Problem>)>, AcmeError> {
    let mut failures = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz.map_err(|e| AcmeError::from_acme("the authorizations", url, e))?;
        let state = authz
            .refresh()
            .await
            .map_err(|e| AcmeError::from_acme("the authorizations", url, e))?;
        if state.status == AuthorizationStatus::Valid {
            continue;
        }
        let problem = state
            .challenges
            .iter()
            .find(|c| c.r#type == ChallengeType::Http01)
            .and_then(|c| c.error.clone());
        let status = format!("{:?}", state.status).to_lowercase();
        failures.push((state.identifier().to_string(), status, problem));
    }
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_again_without_replaces_only_for_already_replaced_malformed_or_ignored() {
        let problem = |kind: &str| {
            instant_acme::Error::Api(
                serde_json::from_str(&format!(
                    r#"{{"type":"urn:ietf:params:acme:error:{kind}","detail":"x"}}"#
                ))
                .unwrap(),
            )
        };
        for (kind, again) in [
            ("alreadyReplaced", true),
            ("malformed", true),
            ("rateLimited", false),
            ("badNonce", false),
            ("unauthorized", false),
        ] {
            assert_eq!(refuses_replaces(&problem(kind)), again, "{kind}");
        }
        let untyped = instant_acme::Error::Api(serde_json::from_str(r#"{"detail":"x"}"#).unwrap());
        assert!(!refuses_replaces(&untyped));
        // instant-acme's words when the CA's order does not echo `replaces` (0.8.5).
        let ignored = instant_acme::Error::Other(
            "replaces field mismatch: expected Some(..), found None".into(),
        );
        assert!(refuses_replaces(&ignored));
        let other = instant_acme::Error::Other("connection reset".into());
        assert!(!refuses_replaces(&other));
    }
}
