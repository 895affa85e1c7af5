//! Refreshing a certificate's ARI state (RFC 9773) from the CA: shared by `issue`, which asks
//! right after installing, and `renew`, which asks again when the stored answer is stale.

use rustls_pki_types::CertificateDer;

use crate::renewal::due::Window;
use crate::renewal::state::{AriAnswer, AriState};

/// What the CA says now about renewing `leaf` (None when it cannot be asked now: a warning is
/// logged and the stored state, if any, stays).
pub async fn refresh(
    account: &crate::acme::Account,
    directory_url: &str,
    leaf: &CertificateDer<'_>,
    previous: Option<&AriState>,
    now: i64,
) -> Option<AriState> {
    let cert_id = crate::acme::ari::cert_id(leaf).ok()?;
    let answer = match crate::acme::ari::suggestion(account, directory_url, leaf).await {
        Ok(Some(s)) => AriAnswer::Window {
            window: Window {
                start: s.start,
                end: s.end,
            },
            retry_after: s.retry_after.as_secs() as i64,
            explanation_url: s.explanation_url,
        },
        Ok(None) => AriAnswer::NotOffered,
        Err(e) => {
            tracing::warn!("cannot fetch renewal information: {e}");
            return None;
        }
    };
    Some(AriState::from_answer(
        cert_id,
        answer,
        previous,
        now,
        crate::clock::random_unit(),
    ))
}
