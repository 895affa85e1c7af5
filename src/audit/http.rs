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
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, addr)
        .build()
        .map_err(|e| e.to_string())?;
    let url = match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(ip)) => format!("https://[{ip}]:{}/", addr.port()),
        _ => format!("https://{host}:{}/", addr.port()),
    };
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
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, target)
        .build()
        .ok()?;
    let rsp = match client.get(format!("http://{host}:{port}/")).send().await {
        Ok(rsp) => rsp,
        Err(e) => return Some(Redirect::Failed(format!("port {port}: {e}"))),
    };
    let location = rsp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let ok = rsp.status().is_redirection() && location.starts_with(&format!("https://{host}"));
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
