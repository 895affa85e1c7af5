//! What the running site shows: the plain-HTTP redirect chain, HSTS, the cookies a page sets,
//! mixed content in its HTML (in Mixed Content Level 2's terms), the security headers Django's
//! SecurityMiddleware sends, DEBUG's technical 404 page, and Django's CSRF origin check.
//! Pure: responses in, findings out; `django::fetch` fetches. Each finding names the Django
//! setting that governs it, so a report with the project's settings can say where it is set.

use serde::Serialize;

use crate::finding::{Finding, Severity};
use crate::hsts::parse_hsts;

use crate::audit::grade::HSTS_A_PLUS;
/// The most redirects followed: more than any sane chain.
pub const MAX_HOPS: usize = 5;

/// One live finding: the common shape (ID `live.L001` …, severity, message, fix) and the URL
/// it is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveFinding {
    /// ID, severity, message and fix.
    #[serde(flatten)]
    pub finding: Finding,
    /// The URL it is about.
    pub url: String,
    /// The Django setting that governs it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setting: Option<&'static str>,
    /// Where the project sets it (file:line), when the project was checked too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_at: Option<String>,
}

/// The Django setting behind each live finding.
fn setting_of(id: &str, message: &str) -> Option<&'static str> {
    Some(match id {
        "live.L001" | "live.L004" => "SECURE_SSL_REDIRECT",
        "live.L003" | "live.L060" => "SECURE_PROXY_SSL_HEADER",
        "live.L010" | "live.L011" | "live.L012" => "SECURE_HSTS_SECONDS",
        "live.L020" | "live.L022" | "live.L023" if message.contains("csrftoken") => match id {
            "live.L020" | "live.L023" => "CSRF_COOKIE_SECURE",
            _ => "CSRF_COOKIE_SAMESITE",
        },
        "live.L020" | "live.L023" => "SESSION_COOKIE_SECURE",
        "live.L021" => "SESSION_COOKIE_HTTPONLY",
        "live.L022" => "SESSION_COOKIE_SAMESITE",
        "live.L050" => "DEBUG",
        "live.L051" => "X_FRAME_OPTIONS",
        "live.L052" => "SECURE_CONTENT_TYPE_NOSNIFF",
        "live.L053" => "SECURE_REFERRER_POLICY",
        "live.L054" => "SECURE_CROSS_ORIGIN_OPENER_POLICY",
        _ => return None,
    })
}

/// Says where the project sets each finding's setting (file:line), from the static check.
pub fn join_settings(findings: &mut [LiveFinding], settings: &super::settings::Settings) {
    for f in findings {
        if let Some(s) = f.setting.and_then(|name| settings.get(name)) {
            f.set_at = Some(format!("{}:{}", s.origin.file.display(), s.origin.line));
        }
    }
}

fn finding(
    id: &'static str,
    severity: Severity,
    url: &str,
    message: String,
    fix: &str,
) -> LiveFinding {
    LiveFinding {
        setting: setting_of(id, &message),
        finding: Finding {
            id,
            severity,
            message,
            fix: fix.to_owned(),
        },
        url: url.to_owned(),
        set_at: None,
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
        if c.same_site.as_deref() == Some("None") && !c.secure {
            out.push(finding(
                "live.L023",
                Severity::Error,
                url,
                format!(
                    "cookie {} has SameSite=None without Secure: browsers reject it",
                    c.name
                ),
                &fix("SECURE", "True"),
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

/// What a plain-http reference in an HTTPS page is, in Mixed Content Level 2's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mixed {
    /// Scripts, styles, frames, objects, fetch targets in markup: browsers block them.
    Blockable,
    /// Images, audio, video: browsers upgrade them to https (and fail if that is not served).
    Upgradable,
    /// A form that submits over plain HTTP: the data travels in the clear.
    Form,
}

/// Plain-http subresources and form targets in an HTTPS page: (kind, tag, URL). Navigation
/// links (`<a href>`, `rel=canonical`) are not mixed content.
pub fn mixed_content(html: &str) -> Vec<(Mixed, String, String)> {
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
        let wanted: &[(&str, Mixed)] = match name.as_str() {
            "img" | "audio" | "video" | "source" | "track" => &[("src", Mixed::Upgradable)],
            "script" | "iframe" | "frame" | "embed" => &[("src", Mixed::Blockable)],
            "link" => match attr("rel").map(|r| r.to_ascii_lowercase()) {
                Some(r)
                    if r.split_whitespace().any(|w| {
                        matches!(
                            w,
                            "stylesheet"
                                | "icon"
                                | "preload"
                                | "modulepreload"
                                | "manifest"
                                | "prefetch"
                        )
                    }) =>
                {
                    &[("href", Mixed::Blockable)]
                }
                _ => &[],
            },
            "form" => &[("action", Mixed::Form)],
            "object" => &[("data", Mixed::Blockable)],
            "input" | "button" => &[("formaction", Mixed::Form)],
            _ => &[],
        };
        for (a, kind) in wanted {
            if let Some(v) = attr(a).filter(|v| v.to_ascii_lowercase().starts_with("http://")) {
                out.push((*kind, name.clone(), v));
            }
        }
    }
    out
}

/// Mixed content as findings: L030 blockable, L031 upgradable, L032 form targets.
pub fn mixed_findings(url: &str, html: &str) -> Vec<LiveFinding> {
    let fix = "use https:// (or a relative URL) for every resource and form target";
    mixed_content(html)
        .into_iter()
        .map(|(kind, tag, target)| match kind {
            Mixed::Blockable => finding(
                "live.L030",
                Severity::Error,
                url,
                format!("mixed content, blocked by browsers: <{tag}> loads {target}"),
                fix,
            ),
            Mixed::Upgradable => finding(
                "live.L031",
                Severity::Warning,
                url,
                format!(
                    "mixed content, upgraded to https by browsers (broken if not served there): <{tag}> loads {target}"
                ),
                fix,
            ),
            Mixed::Form => finding(
                "live.L032",
                Severity::Error,
                url,
                format!("a form submits over plain HTTP: <{tag}> to {target}"),
                fix,
            ),
        })
        .collect()
}

/// The headers Django's SecurityMiddleware and XFrameOptionsMiddleware send on an HTTPS page
/// (names lower-case).
pub fn header_findings(url: &str, headers: &[(String, String)]) -> Vec<LiveFinding> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim().to_owned())
    };
    let mut out = Vec::new();
    match get("x-frame-options") {
        Some(v) if v.eq_ignore_ascii_case("DENY") => {}
        other => out.push(finding(
            "live.L051",
            Severity::Warning,
            url,
            match other {
                Some(v) => format!("X-Frame-Options is {v:?}, not DENY"),
                None => "no X-Frame-Options header: other sites can frame the page".into(),
            },
            "X_FRAME_OPTIONS = 'DENY' with XFrameOptionsMiddleware",
        )),
    }
    if get("x-content-type-options").is_none_or(|v| !v.eq_ignore_ascii_case("nosniff")) {
        out.push(finding(
            "live.L052",
            Severity::Warning,
            url,
            "no X-Content-Type-Options: nosniff".into(),
            "SECURE_CONTENT_TYPE_NOSNIFF = True with SecurityMiddleware",
        ));
    }
    if get("referrer-policy").is_none() {
        out.push(finding(
            "live.L053",
            Severity::Warning,
            url,
            "no Referrer-Policy header: full URLs leak to other sites".into(),
            "SECURE_REFERRER_POLICY = 'same-origin'",
        ));
    }
    if get("cross-origin-opener-policy").is_none() {
        out.push(finding(
            "live.L054",
            Severity::Info,
            url,
            "no Cross-Origin-Opener-Policy header".into(),
            "SECURE_CROSS_ORIGIN_OPENER_POLICY = 'same-origin'",
        ));
    }
    out
}

/// Django's technical 404 page: what a 404 probe shows when DEBUG is on.
pub fn debug_finding(url: &str, status: u16, body: &str) -> Option<LiveFinding> {
    (status == 404 && body.contains("because you have <code>DEBUG = True</code>")).then(|| {
        finding(
            "live.L050",
            Severity::Error,
            url,
            "DEBUG is on: a missing page shows Django's technical 404 with the URL patterns".into(),
            "DEBUG = False in production",
        )
    })
}

/// How Django answered a form post carrying a valid CSRF cookie and token.
pub struct PostAnswer<'a> {
    /// The status.
    pub status: u16,
    /// The body.
    pub body: &'a str,
}

impl PostAnswer<'_> {
    fn csrf_refused(&self) -> bool {
        self.status == 403
            && (self.body.contains("CSRF verification failed")
                || self.body.contains("Origin checking failed"))
    }
}

/// Django's CSRF origin check, seen from outside: a same-origin HTTPS post (with Origin, as
/// browsers send it) refused, while the same post without Origin is not, means Django compares
/// the Origin with an http:// origin: it does not know the request came over HTTPS. With DEBUG
/// on, Django says so itself ("Origin checking failed").
pub fn csrf_origin_finding(
    url: &str,
    with_origin: &PostAnswer<'_>,
    without_origin: Option<&PostAnswer<'_>>,
) -> Option<LiveFinding> {
    let said = with_origin.status == 403 && with_origin.body.contains("Origin checking failed");
    let only_origin =
        with_origin.csrf_refused() && without_origin.is_some_and(|a| !a.csrf_refused());
    (said || only_origin).then(|| {
        finding(
            "live.L060",
            Severity::Error,
            url,
            "a same-origin HTTPS form post fails Django's CSRF origin check: Django thinks the request is plain HTTP, so every form on the site is refused".into(),
            "SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https') and `proxy_set_header X-Forwarded-Proto $scheme;` in nginx",
        )
    })
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
                "live.L023",
                "live.L022"
            ]
        );
        assert_eq!(found[4].setting, Some("CSRF_COOKIE_SECURE"));
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
                (
                    Mixed::Blockable,
                    "link".into(),
                    "http://cdn.test/a.css".into()
                ),
                (
                    Mixed::Blockable,
                    "script".into(),
                    "http://evil.test/x.js".into()
                ),
                (
                    Mixed::Upgradable,
                    "img".into(),
                    "http://img.test/p.png".into()
                ),
                (Mixed::Form, "form".into(), "http://a.test/login/".into()),
            ],
            "links and canonical are navigation, not mixed content"
        );
        let findings = mixed_findings("u", html);
        assert_eq!(
            ids(&findings),
            ["live.L030", "live.L030", "live.L031", "live.L032"]
        );
        assert_eq!(findings[2].finding.severity, Severity::Warning);
        assert_eq!(findings[3].finding.severity, Severity::Error);
    }

    #[test]
    fn security_headers_debug_page_and_csrf_origin() {
        let good: Vec<(String, String)> = [
            ("x-frame-options", "DENY"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "same-origin"),
            ("cross-origin-opener-policy", "same-origin"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert!(header_findings("u", &good).is_empty());
        let found = header_findings("u", &[("x-frame-options".into(), "SAMEORIGIN".into())]);
        assert_eq!(
            ids(&found),
            ["live.L051", "live.L052", "live.L053", "live.L054"]
        );
        assert_eq!(found[0].setting, Some("X_FRAME_OPTIONS"));
        let page = "<p>You're seeing this error because you have <code>DEBUG = True</code> in your Django settings file.</p>";
        assert!(debug_finding("u", 404, page).is_some());
        assert!(debug_finding("u", 404, "<h1>Not Found</h1>").is_none());
        let answer = |status, body| PostAnswer { status, body };
        let debug_page = answer(
            403,
            "<p>Origin checking failed - https://a.test does not match any trusted origins.</p>",
        );
        assert!(csrf_origin_finding("u", &debug_page, None).is_some());
        let refused = answer(
            403,
            "<h1>Forbidden (403)</h1><p>CSRF verification failed. Request aborted.</p>",
        );
        let fine = answer(200, "");
        assert!(
            csrf_origin_finding("u", &refused, Some(&fine)).is_some(),
            "only the Origin differs"
        );
        assert!(
            csrf_origin_finding("u", &refused, Some(&refused)).is_none(),
            "the token itself failed"
        );
        assert!(csrf_origin_finding("u", &fine, None).is_none());
    }
}
