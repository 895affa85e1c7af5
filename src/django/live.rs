//! What the running site shows: the plain-HTTP redirect chain, HSTS, the cookies a page sets,
//! and mixed content in its HTML. Pure: responses in, findings out; `django::fetch` fetches.

use serde::Serialize;

use crate::finding::{Finding, Severity};
use crate::hsts::parse_hsts;

use crate::audit::grade::HSTS_A_PLUS;
/// More hops than any sane redirect chain.
pub const MAX_HOPS: usize = 10;

/// One live finding: the common shape (ID `live.L001` …, severity, message, fix) and the URL
/// it is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveFinding {
    /// ID, severity, message and fix.
    #[serde(flatten)]
    pub finding: Finding,
    /// The URL it is about.
    pub url: String,
}

fn finding(
    id: &'static str,
    severity: Severity,
    url: &str,
    message: String,
    fix: &str,
) -> LiveFinding {
    LiveFinding {
        finding: Finding {
            id,
            severity,
            message,
            fix: fix.to_owned(),
        },
        url: url.to_owned(),
    }
}

/// One response of a redirect chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hop {
    /// What was asked for.
    pub url: String,
    /// The status.
    pub status: u16,
    /// The Location header, resolved against `url`.
    pub location: Option<String>,
}

/// The scheme, host (lower-case) and port of a URL, or None when it does not parse.
fn origin(url: &str) -> Option<(String, String, Option<u16>)> {
    let u = reqwest::Url::parse(url).ok()?;
    Some((
        u.scheme().to_owned(),
        u.host_str()?.to_lowercase(),
        u.port(),
    ))
}

/// The plain-HTTP entry point must answer with a redirect to https on the same host, in one hop,
/// and no chain may loop.
pub fn redirect_findings(chain: &[Hop]) -> Vec<LiveFinding> {
    let mut out = Vec::new();
    let Some(first) = chain.first() else {
        return out;
    };
    let fix_redirect = "let nginx answer port 80 with `return 301 https://$host$request_uri;` (certctl nginx does)";
    let looped = chain
        .iter()
        .enumerate()
        .any(|(i, hop)| chain[..i].iter().any(|h| h.url == hop.url))
        || chain.len() > MAX_HOPS;
    if looped {
        out.push(finding(
            "live.L003",
            Severity::Error,
            &first.url,
            format!(
                "redirect loop: {}",
                chain.iter().take(4).map(|h| h.url.as_str()).collect::<Vec<_>>().join(" -> ")
            ),
            "behind nginx set SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https') and `proxy_set_header X-Forwarded-Proto $scheme;`",
        ));
        return out;
    }
    if first.url.starts_with("http://") {
        match &first.location {
            None => out.push(finding(
                "live.L001",
                Severity::Error,
                &first.url,
                format!(
                    "plain HTTP answers {} without a redirect to https",
                    first.status
                ),
                fix_redirect,
            )),
            Some(to) => {
                let (from, to_origin) = (origin(&first.url), origin(to));
                match (from, to_origin) {
                    (_, Some((scheme, _, _))) if scheme != "https" => out.push(finding(
                        "live.L001",
                        Severity::Error,
                        &first.url,
                        format!("plain HTTP redirects to {to}, not to https"),
                        fix_redirect,
                    )),
                    (Some((_, host, _)), Some((_, to_host, _))) if host != to_host => out.push(finding(
                        "live.L002",
                        Severity::Warning,
                        &first.url,
                        format!("plain HTTP redirects to another host ({to}), so HSTS for {host} is never set first"),
                        "redirect to https on the same host first, then elsewhere",
                    )),
                    _ => {}
                }
                if !matches!(first.status, 301 | 308) {
                    out.push(finding(
                        "live.L004",
                        Severity::Info,
                        &first.url,
                        format!(
                            "the redirect to https is a {} (temporary), not a 301",
                            first.status
                        ),
                        "use `return 301` so browsers and search engines remember it",
                    ));
                }
            }
        }
    }
    out
}

/// HSTS on an HTTPS response.
pub fn hsts_findings(url: &str, headers: &[String]) -> Vec<LiveFinding> {
    let fix = "SECURE_HSTS_SECONDS = 31536000 in Django, or `add_header Strict-Transport-Security \"max-age=31536000\" always;` in nginx";
    match headers {
        [] => vec![finding(
            "live.L010",
            Severity::Warning,
            url,
            "no Strict-Transport-Security header on HTTPS".into(),
            fix,
        )],
        [one] => match parse_hsts(one).max_age {
            None => vec![finding(
                "live.L011",
                Severity::Error,
                url,
                format!("Strict-Transport-Security {one:?} has no valid max-age"),
                fix,
            )],
            Some(age) if age < HSTS_A_PLUS => vec![finding(
                "live.L011",
                Severity::Warning,
                url,
                format!("HSTS max-age is {age} s, under six months (no A+)"),
                fix,
            )],
            Some(_) => Vec::new(),
        },
        // Django and nginx both adding it: browsers take the first, which may be the weak one.
        many => vec![finding(
            "live.L012",
            Severity::Warning,
            url,
            format!(
                "{} Strict-Transport-Security headers (Django and nginx both add one?)",
                many.len()
            ),
            "set HSTS in one place: nginx or SECURE_HSTS_SECONDS, not both",
        )],
    }
}

/// One cookie as set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CookieView {
    /// Its name.
    pub name: String,
    /// Secure.
    pub secure: bool,
    /// HttpOnly.
    pub http_only: bool,
    /// SameSite as sent (None: absent).
    pub same_site: Option<String>,
}

/// Parses Set-Cookie values; unparsable ones are skipped.
pub fn parse_cookies(set_cookie: &[String]) -> Vec<CookieView> {
    set_cookie
        .iter()
        .filter_map(|raw| cookie::Cookie::parse(raw.as_str()).ok())
        .map(|c| CookieView {
            name: c.name().to_owned(),
            secure: c.secure().unwrap_or(false),
            http_only: c.http_only().unwrap_or(false),
            same_site: c.same_site().map(|s| s.to_string()),
        })
        .collect()
}

/// Cookies over HTTPS: all Secure; the session cookie HttpOnly; SameSite Lax or Strict.
/// The CSRF cookie may stay readable by scripts: Django's AJAX pattern reads it.
pub fn cookie_findings(
    url: &str,
    cookies: &[CookieView],
    session_cookie: &str,
) -> Vec<LiveFinding> {
    let mut out = Vec::new();
    for c in cookies {
        let setting = match c.name.as_str() {
            n if n == session_cookie => "SESSION_COOKIE",
            "csrftoken" => "CSRF_COOKIE",
            _ => "",
        };
        let fix = |attr: &str, value: &str| match setting {
            "" => format!("set the {attr} attribute on the {} cookie", c.name),
            s => format!("{s}_{attr} = {value}"),
        };
        if !c.secure {
            out.push(finding(
                "live.L020",
                Severity::Error,
                url,
                format!(
                    "cookie {} is set without Secure: it also travels over plain HTTP",
                    c.name
                ),
                &fix("SECURE", "True"),
            ));
        }
        if c.name == session_cookie && !c.http_only {
            out.push(finding(
                "live.L021",
                Severity::Warning,
                url,
                format!(
                    "cookie {} is set without HttpOnly: scripts can read the session",
                    c.name
                ),
                &fix("HTTPONLY", "True"),
            ));
        }
        match c.same_site.as_deref() {
            Some("Lax" | "Strict") => {}
            other => out.push(finding(
                "live.L022",
                Severity::Warning,
                url,
                format!(
                    "cookie {} has SameSite={}: browsers send it on cross-site requests",
                    c.name,
                    other.unwrap_or("(none)")
                ),
                &fix("SAMESITE", "'Lax'"),
            )),
        }
    }
    out
}

/// Plain-http subresources and form targets in an HTTPS page (mixed content): (tag, URL).
pub fn mixed_content(html: &str) -> Vec<(String, String)> {
    use html5gum::{Token, Tokenizer};
    let mut out = Vec::new();
    for token in Tokenizer::new(html).flatten() {
        let Token::StartTag(tag) = token else {
            continue;
        };
        let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
        let attr = |a: &str| {
            tag.attributes
                .get(a.as_bytes())
                .map(|v| String::from_utf8_lossy(&v.value).trim().to_owned())
        };
        let wanted: &[&str] = match name.as_str() {
            "script" | "img" | "iframe" | "audio" | "video" | "source" | "track" | "embed" => {
                &["src"]
            }
            "link" => match attr("rel").map(|r| r.to_ascii_lowercase()) {
                Some(r)
                    if r.split_whitespace().any(|w| {
                        matches!(
                            w,
                            "stylesheet" | "icon" | "preload" | "modulepreload" | "manifest"
                        )
                    }) =>
                {
                    &["href"]
                }
                _ => &[],
            },
            "form" => &["action"],
            "object" => &["data"],
            "input" | "button" => &["formaction"],
            _ => &[],
        };
        for a in wanted {
            if let Some(v) = attr(a).filter(|v| v.to_ascii_lowercase().starts_with("http://")) {
                out.push((name.clone(), v));
            }
        }
    }
    out
}

/// Mixed content as findings.
pub fn mixed_findings(url: &str, html: &str) -> Vec<LiveFinding> {
    mixed_content(html)
        .into_iter()
        .map(|(tag, target)| {
            let (severity, what) = match tag.as_str() {
                "form" | "input" | "button" => (Severity::Error, "a form posts to"),
                "img" | "audio" | "video" | "source" | "track" => {
                    (Severity::Warning, "an image or media loads from")
                }
                _ => (Severity::Error, "a script, style or frame loads from"),
            };
            finding(
                "live.L030",
                severity,
                url,
                format!("mixed content: {what} {target} (<{tag}>)"),
                "use https:// (or a relative URL) for every resource and form target",
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(url: &str, status: u16, location: Option<&str>) -> Hop {
        Hop {
            url: url.into(),
            status,
            location: location.map(Into::into),
        }
    }

    fn ids(f: &[LiveFinding]) -> Vec<&str> {
        f.iter().map(|f| f.finding.id).collect()
    }

    #[test]
    fn redirects_must_go_to_https_on_the_same_host_without_loops() {
        let good = [
            hop("http://a.test/", 301, Some("https://a.test/")),
            hop("https://a.test/", 200, None),
        ];
        assert!(redirect_findings(&good).is_empty());
        assert_eq!(
            ids(&redirect_findings(&[hop("http://a.test/", 200, None)])),
            ["live.L001"]
        );
        let temp = [
            hop("http://a.test/", 302, Some("https://a.test/")),
            hop("https://a.test/", 200, None),
        ];
        assert_eq!(ids(&redirect_findings(&temp)), ["live.L004"]);
        let other = [hop("http://a.test/", 301, Some("https://www.a.test/"))];
        assert_eq!(ids(&redirect_findings(&other)), ["live.L002"]);
        let looped = [
            hop("https://a.test/", 301, Some("https://a.test/")),
            hop("https://a.test/", 301, Some("https://a.test/")),
        ];
        assert_eq!(ids(&redirect_findings(&looped)), ["live.L003"]);
    }

    #[test]
    fn hsts_headers() {
        assert!(hsts_findings("u", &["max-age=31536000".into()]).is_empty());
        assert_eq!(ids(&hsts_findings("u", &[])), ["live.L010"]);
        assert_eq!(
            ids(&hsts_findings("u", &["max-age=3600".into()])),
            ["live.L011"]
        );
        assert_eq!(
            ids(&hsts_findings("u", &["max-age=x".into()])),
            ["live.L011"]
        );
        assert_eq!(
            ids(&hsts_findings(
                "u",
                &["max-age=31536000".into(), "max-age=1".into()]
            )),
            ["live.L012"]
        );
    }

    #[test]
    fn cookies_need_secure_httponly_and_samesite() {
        let cookies = parse_cookies(&[
            "sessionid=abc; expires=Thu, 01 Jan 2099 00:00:00 GMT; HttpOnly; Max-Age=1209600; Path=/; SameSite=Lax; Secure".into(),
            "csrftoken=xyz; Path=/; SameSite=Lax; Secure".into(),
        ]);
        assert!(
            cookie_findings("u", &cookies, "sessionid").is_empty(),
            "{cookies:?}"
        );
        let bad = parse_cookies(&[
            "sessionid=abc; Path=/".into(),
            "csrftoken=x; SameSite=None; Path=/".into(),
        ]);
        let found = cookie_findings("u", &bad, "sessionid");
        assert_eq!(
            ids(&found),
            [
                "live.L020",
                "live.L021",
                "live.L022",
                "live.L020",
                "live.L022"
            ]
        );
        assert!(
            found[0]
                .finding
                .fix
                .contains("SESSION_COOKIE_SECURE = True")
        );
    }

    #[test]
    fn mixed_content_in_html() {
        let html = r#"<html><head>
            <link rel="stylesheet" href="http://cdn.test/a.css"><link rel="canonical" href="http://a.test/">
            <script src="https://ok.test/x.js"></script><SCRIPT SRC="http://evil.test/x.js"></SCRIPT>
            </head><body><img src="http://img.test/p.png"><a href="http://a.test/">link</a>
            <form method="post" action="http://a.test/login/"></form><iframe src="//x.test/"></iframe></body></html>"#;
        let found = mixed_content(html);
        assert_eq!(
            found,
            [
                ("link".into(), "http://cdn.test/a.css".into()),
                ("script".into(), "http://evil.test/x.js".into()),
                ("img".into(), "http://img.test/p.png".into()),
                ("form".into(), "http://a.test/login/".into()),
            ]
        );
        let findings = mixed_findings("u", html);
        assert_eq!(
            findings[2].finding.severity,
            Severity::Warning,
            "images are passive"
        );
        assert_eq!(
            findings[3].finding.severity,
            Severity::Error,
            "a form posts in the clear"
        );
    }
}
