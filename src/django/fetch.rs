//! The live half of `certctl django check --url`: fetch the site's plain-HTTP and HTTPS redirect
//! chains and a page that sets cookies, then hand the responses to the pure [`live`] checks.
//!
//! Each fetch (a whole redirect chain, every response head and the final body) ends within the
//! request's `timeout`, so a server that trickles bytes cannot stretch it, and a body is read up
//! to [`MAX_BODY`] bytes only.

use serde::Serialize;

use super::DjangoError;
use super::checks::report_rank;
use super::live;
use crate::finding::{Finding, Severity};

/// What to fetch for the live check.
#[derive(Clone, Debug)]
pub struct LiveRequest {
    /// The site's https:// URL.
    pub url: String,
    /// A page that sets cookies (default: the admin login page, else the URL itself).
    pub path: Option<String>,
    /// The plain-HTTP port that must redirect (80 unless testing).
    pub http_port: u16,
    /// Connect here instead of resolving the host (like curl --resolve).
    pub connect: Option<std::net::IpAddr>,
    /// Per fetch: a redirect chain with its final body, start to end.
    pub timeout: std::time::Duration,
    /// SESSION_COOKIE_NAME (from the static check when there is one).
    pub session_cookie: String,
    /// The plain-HTTP URL that must redirect (default: the URL's host on `http_port`).
    pub http_url: Option<String>,
    /// Trusted roots besides the system's (`--ca-bundle`).
    pub ca_bundle: Option<std::path::PathBuf>,
    /// Do not verify the site's certificate (`--insecure`; said in the report).
    pub insecure: bool,
}

/// The live report.
#[derive(Clone, Debug, Serialize)]
pub struct LiveReport {
    /// The URL checked.
    pub url: String,
    /// http:// → … as followed.
    pub http_chain: Vec<live::Hop>,
    /// The https:// URL → … as followed.
    pub https_chain: Vec<live::Hop>,
    /// Strict-Transport-Security headers on the first HTTPS response.
    pub hsts: Vec<String>,
    /// The page whose cookies were checked.
    pub cookie_page: String,
    /// Cookies set on the way.
    pub cookies: Vec<live::CookieView>,
    /// Whether the site's certificate chain was verified (false with `--insecure`).
    pub tls_verified: bool,
    /// Findings, worst first.
    pub findings: Vec<live::LiveFinding>,
}

/// A response at the end of a redirect chain, with every Set-Cookie seen on the way.
#[derive(Clone)]
struct Fetched {
    chain: Vec<live::Hop>,
    hsts: Vec<String>,
    /// The last response's headers (names lower-case).
    headers: Vec<(String, String)>,
    set_cookie: Vec<String>,
    status: u16,
    body: String,
}

/// The most of a page body the mixed-content check reads; the rest is not read.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// [`follow`], all of it within `timeout`.
async fn fetch(
    client: &reqwest::Client,
    start: reqwest::Url,
    timeout: std::time::Duration,
) -> Result<Fetched, DjangoError> {
    let what = start.to_string();
    tokio::time::timeout(timeout, follow(client, start))
        .await
        .unwrap_or_else(|_| {
            Err(DjangoError::Live(format!(
                "{what}: no complete answer within {} s",
                timeout.as_secs_f32()
            )))
        })
}

/// Up to [`MAX_BODY`] bytes of the body, as text (invalid UTF-8 replaced).
async fn body(mut rsp: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_BODY {
        match rsp.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(MAX_BODY);
    String::from_utf8_lossy(&bytes).into_owned()
}

async fn follow(client: &reqwest::Client, start: reqwest::Url) -> Result<Fetched, DjangoError> {
    let mut url = start;
    let mut fetched = Fetched {
        chain: Vec::new(),
        hsts: Vec::new(),
        headers: Vec::new(),
        set_cookie: Vec::new(),
        status: 0,
        body: String::new(),
    };
    loop {
        let rsp =
            client.get(url.clone()).send().await.map_err(|e| {
                DjangoError::Live(format!("{url}: {}", crate::acme::error_chain(&e)))
            })?;
        let values = |name: &str| -> Vec<String> {
            rsp.headers()
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect()
        };
        if url.scheme() == "https" && !fetched.chain.iter().any(|h| h.url.starts_with("https:")) {
            fetched.hsts = values("strict-transport-security");
        }
        fetched.set_cookie.extend(values("set-cookie"));
        fetched.headers = rsp
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let location = match rsp.status().is_redirection() {
            true => rsp
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok()),
            false => None,
        };
        let seen = fetched.chain.iter().any(|h| h.url == url.as_str());
        fetched.status = rsp.status().as_u16();
        fetched.chain.push(live::Hop {
            url: url.to_string(),
            status: fetched.status,
            location: location.as_ref().map(ToString::to_string),
        });
        match location {
            Some(next) if !seen && fetched.chain.len() <= live::MAX_HOPS => url = next,
            _ => {
                if fetched.status < 300 || fetched.status >= 400 {
                    fetched.body = body(rsp).await;
                }
                return Ok(fetched);
            }
        }
    }
}

/// The live check: redirects, HSTS, cookies, mixed content, security headers, DEBUG and the
/// CSRF origin check. The certificate is verified (system roots and `ca_bundle`) unless
/// `insecure`; grading it is `certctl audit`'s job.
pub async fn check_live(req: &LiveRequest) -> Result<LiveReport, DjangoError> {
    let bad = |why: &str| DjangoError::BadUrl {
        url: req.url.clone(),
        why: why.to_owned(),
    };
    let url = reqwest::Url::parse(&req.url).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() != "https" {
        return Err(bad("must be an https:// URL"));
    }
    let host = url.host_str().ok_or_else(|| bad("has no host"))?.to_owned();
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .timeout(req.timeout)
        .redirect(reqwest::redirect::Policy::none());
    builder = if req.insecure {
        builder.danger_accept_invalid_certs(true)
    } else {
        let roots = crate::trust::trusted_roots(req.ca_bundle.as_deref())?;
        let certs: Vec<reqwest::Certificate> = roots
            .iter()
            .filter_map(|c| reqwest::Certificate::from_der(c).ok())
            .collect();
        builder.tls_certs_only(certs)
    };
    if let Some(ip) = req.connect {
        // The port is the URL's; only the address is replaced.
        builder = builder.resolve(&host, std::net::SocketAddr::new(ip, 0));
    }
    let client = builder
        .build()
        .map_err(|e| DjangoError::Live(e.to_string()))?;

    let plain = match &req.http_url {
        Some(given) => {
            let bad_http = |why: String| DjangoError::BadHttpUrl {
                url: given.clone(),
                why,
            };
            let plain = reqwest::Url::parse(given).map_err(|e| bad_http(e.to_string()))?;
            if plain.scheme() != "http" {
                return Err(bad_http("must be an http:// URL".into()));
            }
            plain
        }
        None => {
            let mut plain = url.clone();
            plain
                .set_scheme("http")
                .map_err(|_| bad("cannot make its http:// form"))?;
            plain
                .set_port((req.http_port != 80).then_some(req.http_port))
                .map_err(|_| bad("cannot set the http port"))?;
            plain.set_path("/");
            plain.set_query(None);
            plain
        }
    };
    // A path no site has: DEBUG's technical 404 page shows itself there.
    let probe = url
        .join("/certctl-probe-404-9f2c/")
        .map_err(|e| bad(&e.to_string()))?;
    let (http, https, missing) = tokio::join!(
        fetch(&client, plain, req.timeout),
        fetch(&client, url.clone(), req.timeout),
        fetch(&client, probe.clone(), req.timeout)
    );
    let (http, https) = (http?, https?);

    let default_page = req.path.is_none();
    let page = url
        .join(req.path.as_deref().unwrap_or("/admin/login/"))
        .map_err(|e| bad(&e.to_string()))?;
    let mut cookie_page = fetch(&client, page.clone(), req.timeout).await?;
    let mut page_url = page.to_string();
    let mut findings = Vec::new();
    if cookie_page.status == 404 && default_page {
        findings.push(live::LiveFinding {
            finding: Finding {
                id: "live.L040",
                severity: Severity::Info,
                message: "no admin login page here; cookies were read from the URL itself".into(),
                fix: "pass --path with a page that sets the session and CSRF cookies".into(),
            },
            url: page_url.clone(),
            setting: None,
            set_at: None,
        });
        cookie_page = https.clone();
        page_url = url.to_string();
    }

    // A loop is reported once, with its cause; what it hides (HSTS, cookies, headers) is not
    // reported as a cause of its own.
    let https_redirects = live::redirect_findings(&https.chain);
    let looped = https_redirects.iter().any(|f| f.finding.id == "live.L003");
    findings.extend(
        live::redirect_findings(&http.chain)
            .into_iter()
            .filter(|f| !(looped && f.finding.id == "live.L003")),
    );
    findings.extend(https_redirects);
    let cookies = live::parse_cookies(&cookie_page.set_cookie);
    if !looped {
        findings.extend(live::hsts_findings(url.as_str(), &https.hsts));
        findings.extend(live::header_findings(url.as_str(), &https.headers));
        findings.extend(live::cookie_findings(
            &page_url,
            &cookies,
            &req.session_cookie,
        ));
        findings.extend(live::mixed_findings(url.as_str(), &https.body));
        if page_url != url.as_str() {
            findings.extend(live::mixed_findings(&page_url, &cookie_page.body));
        }
        if let Ok(missing) = &missing {
            findings.extend(live::debug_finding(
                probe.as_str(),
                missing.status,
                &missing.body,
            ));
        }
        if let Some(token) = cookies_value(&cookie_page.set_cookie, "csrftoken") {
            findings.extend(csrf_origin_check(&client, &page, &token, req.timeout).await);
        }
    }
    findings.sort_by_key(|f| report_rank(f.finding.severity));
    Ok(LiveReport {
        url: url.to_string(),
        http_chain: http.chain,
        https_chain: https.chain,
        hsts: https.hsts,
        cookie_page: page_url,
        cookies,
        tls_verified: !req.insecure,
        findings,
    })
}

/// The value of the cookie `name` among Set-Cookie headers.
fn cookies_value(set_cookie: &[String], name: &str) -> Option<String> {
    set_cookie
        .iter()
        .filter_map(|raw| cookie::Cookie::parse(raw.as_str()).ok())
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// Posts an empty form to `page` with the CSRF cookie and token, as a browser does (Origin and
/// Referer set), and when Django refuses it, again without them: see
/// [`live::csrf_origin_finding`]. A post that cannot be made tests nothing.
async fn csrf_origin_check(
    client: &reqwest::Client,
    page: &reqwest::Url,
    token: &str,
    timeout: std::time::Duration,
) -> Option<live::LiveFinding> {
    let with_origin = csrf_post(client, page, token, true, timeout).await.ok()?;
    let first = live::PostAnswer {
        status: with_origin.0,
        body: &with_origin.1,
    };
    let without_origin = match first.status {
        403 => csrf_post(client, page, token, false, timeout).await.ok(),
        _ => None,
    };
    let second = without_origin
        .as_ref()
        .map(|(status, body)| live::PostAnswer {
            status: *status,
            body,
        });
    live::csrf_origin_finding(page.as_str(), &first, second.as_ref())
}

/// One form post: (status, body), all within `timeout`.
async fn csrf_post(
    client: &reqwest::Client,
    page: &reqwest::Url,
    token: &str,
    origin: bool,
    timeout: std::time::Duration,
) -> Result<(u16, String), DjangoError> {
    let mut request = client
        .post(page.clone())
        .header("cookie", format!("csrftoken={token}"))
        .header("x-csrftoken", token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("");
    if origin {
        request = request
            .header("origin", page.origin().ascii_serialization())
            .header("referer", page.as_str());
    }
    let send = async {
        let rsp = request
            .send()
            .await
            .map_err(|e| DjangoError::Live(format!("{page}: {}", crate::acme::error_chain(&e))))?;
        let status = rsp.status().as_u16();
        Ok((status, body(rsp).await))
    };
    tokio::time::timeout(timeout, send)
        .await
        .unwrap_or_else(|_| {
            Err(DjangoError::Live(format!(
                "{page}: no answer to the form post"
            )))
        })
}
