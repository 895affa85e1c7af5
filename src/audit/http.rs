//! The audit's HTTP checks: the HSTS header on an HTTPS response and the plain-HTTP redirect.
//! Each request ends within the `timeout` it is given (reqwest's total timeout: connect, the
//! response head and any body), which the scan bounds by the audit's deadline.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The HSTS header on an HTTPS GET / (certificate not checked: this is about the header).
pub async fn hsts(
    addr: SocketAddr,
    host: Option<&str>,
    timeout: Duration,
) -> Result<(Option<String>, Option<u64>), String> {
    let host = host
        .map(str::to_owned)
        .unwrap_or_else(|| addr.ip().to_string());
    let client = client(timeout)?
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, addr)
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("https://{}/", authority(&host, addr.port()));
    let rsp = client.get(url).send().await.map_err(|e| e.to_string())?;
    let header = rsp
        .headers()
        .get("strict-transport-security")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let max_age = header
        .as_deref()
        .and_then(|h| crate::hsts::parse_hsts(h).max_age);
    Ok((header, max_age))
}

/// The audit's HTTP client: no proxy, each request within `timeout` (connect, head and body),
/// and no certificate check ([`super::served::any_chain_config`]). None is needed: the HSTS header is about the header, the redirect
/// check speaks plain HTTP, and a certificate fetched from an AIA URL is judged by its signature
/// chain, not by how it travelled. A verifying client would also read every file of the
/// system's trust store on the runtime's thread when it is built, before the first probe.
pub(super) fn client(timeout: Duration) -> Result<reqwest::ClientBuilder, String> {
    let builder = reqwest::Client::builder().no_proxy().timeout(timeout);
    // The audit's own rustls configuration: it keeps any chain and speaks P-521 too.
    Ok(builder.tls_backend_preconfigured(super::served::any_chain_config()?))
}

/// `host:port` for a URL, an IPv6 address in brackets.
fn authority(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
        _ => format!("{host}:{port}"),
    }
}

/// Whether `location` is an absolute https URL whose host is exactly `host` (a name compared
/// case-insensitively without a trailing dot, an address as an address): never a prefix, so
/// `https://example.com.evil.net/` and `https://example.com@evil.net/` are not `example.com`.
/// Pure.
fn https_on(location: &str, host: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(location) else {
        return false;
    };
    let Some(got) = url.host_str().filter(|_| url.scheme() == "https") else {
        return false;
    };
    let got = got.trim_start_matches('[').trim_end_matches(']');
    let bare = |n: &str| n.trim_end_matches('.').to_ascii_lowercase();
    match (got.parse::<IpAddr>(), host.parse::<IpAddr>()) {
        (Ok(got), Ok(want)) => got == want,
        (Err(_), Err(_)) => bare(got) == bare(host),
        _ => false,
    }
}

/// What plain HTTP answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redirect {
    /// A redirect to https on the same host ("301 to https://…").
    Good(String),
    /// An answer that is not that redirect.
    Wrong(String),
    /// No answer (refused, timed out, not HTTP): not tested.
    Failed(String),
}

/// Plain HTTP on `http_port` of `addr`'s IP should redirect to https on the same `host` (the
/// IP when None).
pub async fn redirect(
    addr: SocketAddr,
    host: Option<&str>,
    http_port: Option<u16>,
    timeout: Duration,
) -> Option<Redirect> {
    let port = http_port?;
    let host = host
        .map(str::to_owned)
        .unwrap_or_else(|| addr.ip().to_string());
    let target = SocketAddr::new(addr.ip(), port);
    let client = client(timeout).and_then(|b| {
        b.redirect(reqwest::redirect::Policy::none())
            .resolve(&host, target)
            .build()
            .map_err(|e| e.to_string())
    });
    let client = match client {
        Ok(client) => client,
        // Not tested is said, never silence.
        Err(e) => return Some(Redirect::Failed(format!("port {port}: {e}"))),
    };
    let url = format!("http://{}/", authority(&host, port));
    let rsp = match client.get(url).send().await {
        Ok(rsp) => rsp,
        Err(e) => return Some(Redirect::Failed(format!("port {port}: {e}"))),
    };
    let location = rsp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let ok = rsp.status().is_redirection() && https_on(&location, &host);
    Some(match ok {
        true => Redirect::Good(format!("{} to {location}", rsp.status().as_u16())),
        false => Redirect::Wrong(format!(
            "port {port} answers {} {}",
            rsp.status().as_u16(),
            if location.is_empty() {
                "without a redirect to https".to_owned()
            } else {
                format!("to {location}, not https on the same host")
            }
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redirect_host_must_be_the_host_exactly() {
        for (location, host, ok) in [
            ("https://example.com/", "example.com", true),
            ("https://EXAMPLE.com./path?q", "example.com", true),
            ("https://example.com:8443/", "example.com", true),
            ("https://example.com.evil.net/", "example.com", false),
            ("https://example.com@evil.net/", "example.com", false),
            ("https://evil.net/example.com", "example.com", false),
            ("http://example.com/", "example.com", false),
            ("/relative", "example.com", false),
            ("//example.com/", "example.com", false),
            ("https://[::1]:8443/", "::1", true),
            ("https://[::2]/", "::1", false),
            ("https://127.0.0.1/", "127.0.0.1", true),
            ("https://127.0.0.10/", "127.0.0.1", false),
        ] {
            assert_eq!(https_on(location, host), ok, "{location} for {host}");
        }
        assert_eq!(authority("::1", 80), "[::1]:80");
        assert_eq!(authority("a.test", 80), "a.test:80");
    }
}
