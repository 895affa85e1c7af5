//! The checks: every security check of Django's `manage.py check --deploy` (Django 5.2's
//! `django/core/checks/security/`) and the HTTPS-related checks Django runs on every check
//! (`4_0.E001`), with the same IDs and conditions evaluated in the same order, plus certctl's
//! own for a site behind an nginx TLS proxy. A condition that reads an
//! unknown value gives a finding of severity `unknown` that says why, never a guess. Pure.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::settings::{Settings, Value};
use crate::finding::{self, Severity};
use crate::nginx::proxied::Proxying;

/// One finding about a setting: the common shape (ID `security.W004`, Django's own, or
/// `certctl.D001`; severity; message; fix) and where the value came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// ID, severity, message and fix.
    #[serde(flatten)]
    pub finding: finding::Finding,
    /// The setting it is about.
    pub setting: &'static str,
    /// The file and line that set the value (None: Django's default is in effect).
    pub file: Option<PathBuf>,
    /// The line in `file`.
    pub line: Option<usize>,
}

/// Where a severity sorts in django's reports: errors, warnings, info, then unknowns. This is
/// the reports' own order (and not [`Severity`]'s, which puts unknown above info).
pub fn report_rank(severity: Severity) -> u8 {
    match severity {
        Severity::Error => 0,
        Severity::Warning => 1,
        Severity::Info => 2,
        Severity::Unknown => 3,
        Severity::Ok => 4,
    }
}

/// What the checks know besides the settings.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Files tracked by git (to tell a committed secret).
    pub tracked: Vec<PathBuf>,
    /// Where the admin is mounted at the default `admin/` URL (file, line).
    pub default_admin: Option<(PathBuf, usize)>,
    /// The project's templates: (file, text).
    pub templates: Vec<(PathBuf, String)>,
    /// The nginx sites certctl manages for this project.
    pub sites: Vec<ProxySite>,
}

/// An nginx site certctl manages for the project (a certificate whose names the project's
/// ALLOWED_HOSTS allows): its name, and each `proxy_pass` of its TLS server with the headers
/// that go with it.
#[derive(Clone, Debug)]
pub struct ProxySite {
    /// The certificate's name.
    pub name: String,
    /// What the TLS server for the name passes on.
    pub proxying: Vec<Proxying>,
}

/// Whether ALLOWED_HOSTS lets `host` through, as Django's `validate_host` decides (`*`, a
/// leading-dot pattern for a domain and its subdomains, else exact, case-insensitive).
pub fn allows_host(settings: &Settings, host: &str) -> Option<bool> {
    let r = Reader { settings };
    let Ok(Value::List(patterns)) = r.value("ALLOWED_HOSTS") else {
        return None;
    };
    let host = host.to_ascii_lowercase();
    let mut allowed = false;
    for pattern in &patterns {
        let pattern = pattern.as_str()?.to_ascii_lowercase();
        allowed |= pattern == "*"
            || pattern == host
            || pattern
                .strip_prefix('.')
                .is_some_and(|domain| host == domain || host.ends_with(&pattern));
    }
    Some(allowed)
}

const SECURITY_MW: &str = "django.middleware.security.SecurityMiddleware";
const XFRAME_MW: &str = "django.middleware.clickjacking.XFrameOptionsMiddleware";
const CSRF_MW: &str = "django.middleware.csrf.CsrfViewMiddleware";
const SESSION_MW: &str = "django.contrib.sessions.middleware.SessionMiddleware";
const SESSION_APP: &str = "django.contrib.sessions";
const REFERRER_POLICY_VALUES: &[&str] = &[
    "no-referrer",
    "no-referrer-when-downgrade",
    "origin",
    "origin-when-cross-origin",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
    "unsafe-url",
];
const COOP_VALUES: &[&str] = &["same-origin", "same-origin-allow-popups", "unsafe-none"];

/// Django's defaults (django/conf/global_settings.py) for the settings the checks read.
fn default(name: &str) -> Value {
    let s = |v: &str| Value::Str(v.to_owned());
    match name {
        "DEBUG"
        | "SECURE_SSL_REDIRECT"
        | "SECURE_HSTS_INCLUDE_SUBDOMAINS"
        | "SECURE_HSTS_PRELOAD"
        | "SESSION_COOKIE_SECURE"
        | "CSRF_COOKIE_SECURE"
        | "CSRF_USE_SESSIONS" => Value::Bool(false),
        "SECURE_CONTENT_TYPE_NOSNIFF" | "SESSION_COOKIE_HTTPONLY" => Value::Bool(true),
        "SECURE_HSTS_SECONDS" => Value::Int(0),
        "X_FRAME_OPTIONS" => s("DENY"),
        "SECURE_REFERRER_POLICY" | "SECURE_CROSS_ORIGIN_OPENER_POLICY" => s("same-origin"),
        "SESSION_COOKIE_SAMESITE" | "CSRF_COOKIE_SAMESITE" => s("Lax"),
        "SECRET_KEY" => s(""),
        "SECURE_PROXY_SSL_HEADER" => Value::None,
        _ => Value::List(Vec::new()),
    }
}

/// A decided condition, or why it cannot be.
type Decided<T> = Result<T, String>;

struct Reader<'s> {
    settings: &'s Settings,
}

impl Reader<'_> {
    fn value(&self, name: &str) -> Decided<Value> {
        let value = self
            .settings
            .get(name)
            .map_or_else(|| default(name), |s| s.value.clone());
        match value {
            Value::Unknown(why) => Err(format!("{name} is unknown: {why}")),
            v => Ok(v),
        }
    }

    fn truthy(&self, name: &str) -> Decided<bool> {
        Ok(self.value(name)?.truthy().unwrap_or(false))
    }

    /// Python `settings.NAME is True`.
    fn is_true(&self, name: &str) -> Decided<bool> {
        Ok(self.value(name)? == Value::Bool(true))
    }

    fn contains(&self, name: &str, item: &str) -> Decided<bool> {
        self.value(name)?
            .contains(&Value::Str(item.to_owned()))
            .ok_or_else(|| format!("{name} has an unknown entry"))
    }

    fn location(&self, name: &str) -> (Option<PathBuf>, Option<usize>) {
        match self.settings.get(name) {
            Some(s) => (Some(s.origin.file.clone()), Some(s.origin.line)),
            None => (None, None),
        }
    }
}

/// The setting's name as a `'static` str for the findings that name any `*_URL` setting.
fn setting_name(name: &str) -> &'static str {
    match name {
        "STATIC_URL" => "STATIC_URL",
        "MEDIA_URL" => "MEDIA_URL",
        _ => "*_URL",
    }
}

/// Runs every check.
pub fn check(settings: &Settings, context: &Context) -> Vec<Finding> {
    let r = Reader { settings };
    let mut out = Vec::new();
    let mut emit = |id: &'static str,
                    severity: Severity,
                    setting: &'static str,
                    decided: Decided<bool>,
                    message: &str,
                    fix: &str| {
        let (file, line) = r.location(setting);
        let (severity, message) = match decided {
            Ok(false) => return,
            Ok(true) => (severity, message.to_owned()),
            Err(why) => (
                Severity::Unknown,
                format!("cannot tell whether {message}: {why}"),
            ),
        };
        out.push(Finding {
            finding: finding::Finding {
                id,
                severity,
                message,
                fix: fix.to_owned(),
            },
            setting,
            file,
            line,
        });
    };
    let w = Severity::Warning;
    // Django's compatibility check (every `manage.py check`, not only --deploy).
    match r.value("CSRF_TRUSTED_ORIGINS") {
        Ok(Value::List(origins)) => {
            for origin in &origins {
                let missing = match origin {
                    Value::Str(o) => Ok(!o.contains("://")),
                    other => Err(format!("an entry is {}", other.display())),
                };
                emit(
                    "4_0.E001",
                    Severity::Error,
                    "CSRF_TRUSTED_ORIGINS",
                    missing,
                    &format!(
                        "CSRF_TRUSTED_ORIGINS entry {} has no scheme (Django 4.0+ requires https://…)",
                        origin.display()
                    ),
                    "write each origin with its scheme: https://example.com",
                );
            }
        }
        Ok(_) => {}
        Err(why) => emit(
            "4_0.E001",
            Severity::Error,
            "CSRF_TRUSTED_ORIGINS",
            Err(why),
            "a CSRF_TRUSTED_ORIGINS entry has no scheme",
            "write each origin with its scheme: https://example.com",
        ),
    }
    let mw = |name: &str| r.contains("MIDDLEWARE", name);
    let security = mw(SECURITY_MW);
    let xframe = mw(XFRAME_MW);
    let csrf = mw(CSRF_MW);

    emit(
        "security.W001",
        w,
        "MIDDLEWARE",
        security.clone().map(|b| !b),
        "SecurityMiddleware is not in MIDDLEWARE, so HSTS, the SSL redirect and nosniff are off",
        "add 'django.middleware.security.SecurityMiddleware' near the top of MIDDLEWARE",
    );
    emit(
        "security.W002",
        w,
        "MIDDLEWARE",
        xframe.clone().map(|b| !b),
        "XFrameOptionsMiddleware is not in MIDDLEWARE (no clickjacking protection)",
        "add 'django.middleware.clickjacking.XFrameOptionsMiddleware' to MIDDLEWARE",
    );
    emit(
        "security.W003",
        w,
        "MIDDLEWARE",
        csrf.clone().map(|b| !b),
        "CsrfViewMiddleware is not in MIDDLEWARE (no CSRF protection)",
        "add 'django.middleware.csrf.CsrfViewMiddleware' to MIDDLEWARE",
    );
    // Each of these passes when SecurityMiddleware is absent, as in Django.
    let with_security = |rest: &dyn Fn() -> Decided<bool>| -> Decided<bool> {
        match security.clone()? {
            false => Ok(false),
            true => rest(),
        }
    };
    emit(
        "security.W004",
        w,
        "SECURE_HSTS_SECONDS",
        with_security(&|| Ok(!r.truthy("SECURE_HSTS_SECONDS")?)),
        "SECURE_HSTS_SECONDS is not set, so browsers are not told to insist on HTTPS",
        "SECURE_HSTS_SECONDS = 31536000 (once HTTPS works for every subdomain you include)",
    );
    let with_hsts =
        |name: &str| with_security(&|| Ok(r.truthy("SECURE_HSTS_SECONDS")? && !r.is_true(name)?));
    emit(
        "security.W005",
        w,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        with_hsts("SECURE_HSTS_INCLUDE_SUBDOMAINS"),
        "SECURE_HSTS_INCLUDE_SUBDOMAINS is not True",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS = True (every subdomain must serve HTTPS)",
    );
    emit(
        "security.W006",
        w,
        "SECURE_CONTENT_TYPE_NOSNIFF",
        with_security(&|| Ok(!r.is_true("SECURE_CONTENT_TYPE_NOSNIFF")?)),
        "SECURE_CONTENT_TYPE_NOSNIFF is not True",
        "SECURE_CONTENT_TYPE_NOSNIFF = True",
    );
    emit(
        "security.W008",
        w,
        "SECURE_SSL_REDIRECT",
        with_security(&|| Ok(!r.is_true("SECURE_SSL_REDIRECT")?)),
        "SECURE_SSL_REDIRECT is not True, so plain-HTTP requests are served as they are",
        "SECURE_SSL_REDIRECT = True (with SECURE_PROXY_SSL_HEADER behind nginx), or redirect in nginx",
    );
    emit(
        "security.W009",
        w,
        "SECRET_KEY",
        r.value("SECRET_KEY").map(|v| !strong_secret(&v)),
        "SECRET_KEY is shorter than 50 characters, has fewer than 5 distinct ones, or starts with 'django-insecure-'",
        "generate one with `certctl django secret-key --env-file .env` and read it from the environment",
    );
    match r.value("SECRET_KEY_FALLBACKS") {
        Ok(Value::List(keys)) => {
            // One warning per weak entry, as Django gives.
            for (index, _) in keys.iter().enumerate().filter(|(_, k)| !strong_secret(k)) {
                emit(
                    "security.W025",
                    w,
                    "SECRET_KEY_FALLBACKS",
                    Ok(true),
                    &format!("SECRET_KEY_FALLBACKS[{index}] is a weak key"),
                    "remove weak keys from SECRET_KEY_FALLBACKS",
                );
            }
        }
        Ok(_) => {}
        Err(why) => emit(
            "security.W025",
            w,
            "SECRET_KEY_FALLBACKS",
            Err(why),
            "SECRET_KEY_FALLBACKS holds a weak key",
            "remove weak keys from SECRET_KEY_FALLBACKS",
        ),
    }
    session_cookie_checks(&r, &mut emit);
    emit(
        "security.W016",
        w,
        "CSRF_COOKIE_SECURE",
        (|| {
            Ok(!r.truthy("CSRF_USE_SESSIONS")?
                && csrf.clone()?
                && !r.is_true("CSRF_COOKIE_SECURE")?)
        })(),
        "CSRF_COOKIE_SECURE is not True, so the CSRF cookie also travels over plain HTTP",
        "CSRF_COOKIE_SECURE = True",
    );
    emit(
        "security.W018",
        w,
        "DEBUG",
        r.truthy("DEBUG"),
        "DEBUG is on: error pages show settings and code to anyone",
        "DEBUG = False in production",
    );
    emit(
        "security.W019",
        w,
        "X_FRAME_OPTIONS",
        (|| Ok(xframe.clone()? && r.value("X_FRAME_OPTIONS")? != Value::Str("DENY".into())))(),
        "X_FRAME_OPTIONS is not 'DENY'",
        "X_FRAME_OPTIONS = 'DENY' (unless the site must be framed by itself)",
    );
    emit(
        "security.W020",
        w,
        "ALLOWED_HOSTS",
        r.truthy("ALLOWED_HOSTS").map(|b| !b),
        "ALLOWED_HOSTS is empty",
        "ALLOWED_HOSTS = ['example.com'] (the names nginx serves)",
    );
    emit(
        "security.W021",
        w,
        "SECURE_HSTS_PRELOAD",
        with_hsts("SECURE_HSTS_PRELOAD"),
        "SECURE_HSTS_PRELOAD is not True",
        "SECURE_HSTS_PRELOAD = True, then submit the domain at hstspreload.org",
    );
    let referrer = with_security(&|| Ok(r.value("SECURE_REFERRER_POLICY")? == Value::None));
    emit(
        "security.W022",
        w,
        "SECURE_REFERRER_POLICY",
        referrer,
        "SECURE_REFERRER_POLICY is None, so full URLs leak to other sites",
        "SECURE_REFERRER_POLICY = 'same-origin'",
    );
    emit(
        "security.E023",
        Severity::Error,
        "SECURE_REFERRER_POLICY",
        with_security(&|| {
            let values: Vec<String> = match r.value("SECURE_REFERRER_POLICY")? {
                Value::None => return Ok(false),
                Value::Str(s) => s.split(',').map(|v| v.trim().to_owned()).collect(),
                Value::List(items) => items
                    .iter()
                    .map(|v| v.as_str().unwrap_or("\u{0}").to_owned())
                    .collect(),
                other => vec![other.display()],
            };
            Ok(!values
                .iter()
                .all(|v| REFERRER_POLICY_VALUES.contains(&v.as_str())))
        }),
        "SECURE_REFERRER_POLICY has a value browsers do not know",
        "use one of: same-origin, strict-origin-when-cross-origin, no-referrer, …",
    );
    emit(
        "security.E024",
        Severity::Error,
        "SECURE_CROSS_ORIGIN_OPENER_POLICY",
        with_security(&|| {
            Ok(match r.value("SECURE_CROSS_ORIGIN_OPENER_POLICY")? {
                Value::None => false,
                Value::Str(s) => !COOP_VALUES.contains(&s.as_str()),
                _ => true,
            })
        }),
        "SECURE_CROSS_ORIGIN_OPENER_POLICY has an invalid value",
        "SECURE_CROSS_ORIGIN_OPENER_POLICY = 'same-origin'",
    );

    // certctl's own, for a site behind an nginx TLS proxy.
    let proxy_header = r.value("SECURE_PROXY_SSL_HEADER");
    let expected_header = Value::List(vec![
        Value::Str("HTTP_X_FORWARDED_PROTO".into()),
        Value::Str("https".into()),
    ]);
    emit(
        "certctl.D001",
        w,
        "SECURE_PROXY_SSL_HEADER",
        (|| Ok(r.is_true("SECURE_SSL_REDIRECT")? && proxy_header.clone()? == Value::None))(),
        "SECURE_SSL_REDIRECT is on but SECURE_PROXY_SSL_HEADER is not set: behind nginx every request looks like http and is redirected forever",
        "SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https'), with `proxy_set_header X-Forwarded-Proto $scheme;` in nginx",
    );
    // Without the site certctl manages, what nginx sends is a guess: its own proxy's header.
    emit(
        "certctl.D002",
        w,
        "SECURE_PROXY_SSL_HEADER",
        match context.sites.is_empty() {
            true => proxy_header
                .clone()
                .map(|v| v != Value::None && v != expected_header),
            false => Ok(false),
        },
        "SECURE_PROXY_SSL_HEADER is not ('HTTP_X_FORWARDED_PROTO', 'https'), the header nginx sets",
        "SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')",
    );
    emit(
        "certctl.D003",
        w,
        "CSRF_TRUSTED_ORIGINS",
        r.value("CSRF_TRUSTED_ORIGINS").map(|v| match v {
            Value::List(items) => items.iter().any(|o| {
                o.as_str()
                    .is_some_and(|s| s.contains("://") && !s.starts_with("https://"))
            }),
            _ => false,
        }),
        "CSRF_TRUSTED_ORIGINS has an origin that is not https://",
        "write each origin as https://example.com",
    );
    for (id, setting) in [
        ("certctl.D004", "SESSION_COOKIE_SAMESITE"),
        ("certctl.D005", "CSRF_COOKIE_SAMESITE"),
    ] {
        let value = r.value(setting);
        let invalid = value.clone().map(|v| {
            !matches!(&v, Value::Bool(false))
                && !matches!(v.as_str(), Some("Lax" | "Strict" | "None"))
        });
        let cross_site =
            value.map(|v| matches!(v, Value::Bool(false)) || v.as_str() == Some("None"));
        emit(
            id,
            Severity::Error,
            setting,
            invalid,
            &format!("{setting} is not 'Lax', 'Strict', 'None' or False"),
            &format!("{setting} = 'Lax'"),
        );
        emit(
            id,
            w,
            setting,
            cross_site,
            &format!("{setting} lets browsers send the cookie on cross-site requests"),
            &format!("{setting} = 'Lax' (or 'Strict')"),
        );
    }
    emit(
        "certctl.D006",
        w,
        "ALLOWED_HOSTS",
        r.contains("ALLOWED_HOSTS", "*"),
        "ALLOWED_HOSTS contains '*', so any Host header is accepted (host header poisoning)",
        "list the names nginx serves",
    );
    let committed = settings.get("SECRET_KEY").filter(|s| {
        s.origin.literal
            && s.value.as_str().is_some_and(|k| !k.is_empty())
            && context.tracked.iter().any(|t| t == &s.origin.file)
    });
    emit(
        "certctl.D007",
        Severity::Error,
        "SECRET_KEY",
        Ok(committed.is_some()),
        "SECRET_KEY is a literal in a file committed to git: anyone with the repository can forge sessions",
        "rotate it: `certctl django secret-key --env-file .env`, and read DJANGO_SECRET_KEY from the environment",
    );
    emit(
        "certctl.D008",
        w,
        "SECURE_HSTS_SECONDS",
        with_security(&|| match r.value("SECURE_HSTS_SECONDS")? {
            Value::Int(s) => Ok(s > 0 && s < crate::audit::grade::HSTS_A_PLUS as i64),
            _ => Ok(false),
        }),
        "SECURE_HSTS_SECONDS is shorter than six months, which costs the A+",
        "SECURE_HSTS_SECONDS = 31536000",
    );
    // URL settings over plain HTTP: a CDN or media host the HTTPS pages load in the clear.
    for (name, s) in &settings.values {
        let Some(url) = s.value.as_str() else {
            continue;
        };
        if !name.ends_with("_URL") || !url.to_ascii_lowercase().starts_with("http://") {
            continue;
        }
        let blocked = matches!(name.as_str(), "STATIC_URL");
        out.push(Finding {
            finding: finding::Finding {
                id: "certctl.D010",
                severity: if blocked { Severity::Error } else { Severity::Warning },
                message: format!(
                    "{name} is {url}: the HTTPS pages load from it over plain HTTP (mixed content{})",
                    if blocked { ", blocked by browsers" } else { "" }
                ),
                fix: format!("{name} = '{}'", url.replacen("http://", "https://", 1)),
            },
            setting: setting_name(name),
            file: Some(s.origin.file.clone()),
            line: Some(s.origin.line),
        });
    }
    // Templates that load scripts, styles, frames or media, or post forms, over plain HTTP.
    for (file, text) in &context.templates {
        for (kind, tag, target) in super::live::mixed_content(text) {
            let line = text
                .find(&target)
                .map(|at| super::settings::line_of(text, at));
            let (severity, what) = match kind {
                super::live::Mixed::Upgradable => (Severity::Warning, "loads"),
                super::live::Mixed::Blockable => (Severity::Error, "loads (blocked by browsers)"),
                super::live::Mixed::Form => (Severity::Error, "submits a form to"),
            };
            out.push(Finding {
                finding: finding::Finding {
                    id: "certctl.D011",
                    severity,
                    message: format!("a template's <{tag}> {what} {target} over plain HTTP"),
                    fix: "use https:// (or a relative URL) in the template".into(),
                },
                setting: "TEMPLATES",
                file: Some(file.clone()),
                line,
            });
        }
    }
    if let Some((file, line)) = &context.default_admin {
        out.push(Finding {
            finding: finding::Finding {
                id: "certctl.D009",
                severity: Severity::Info,
                message: "the admin is at the default URL admin/, the first place scanners try"
                    .into(),
                fix: "mount admin.site.urls under a less obvious path".into(),
            },
            setting: "ROOT_URLCONF",
            file: Some(file.clone()),
            line: Some(*line),
        });
    }
    let (file, line) = r.location("SECURE_PROXY_SSL_HEADER");
    for (id, severity, message, fix) in proxy_checks(&proxy_header, &context.sites) {
        out.push(Finding {
            finding: finding::Finding {
                id,
                severity,
                message,
                fix,
            },
            setting: "SECURE_PROXY_SSL_HEADER",
            file: file.clone(),
            line,
        });
    }
    out.sort_by_key(|f| report_rank(f.finding.severity));
    out
}

/// SECURE_PROXY_SSL_HEADER against what each `proxy_pass` of the managed sites really sends:
/// certctl.D012 when Django trusts a header nginx does not set (or sets to something else
/// than `https` on HTTPS requests), certctl.D013 when nginx proxies HTTPS to a Django that
/// trusts no header. (id, severity, message, fix) each.
fn proxy_checks(
    header: &Decided<Value>,
    sites: &[ProxySite],
) -> Vec<(&'static str, Severity, String, String)> {
    const FORWARD: &str = "proxy_set_header X-Forwarded-Proto $scheme;";
    let mut out = Vec::new();
    for site in sites {
        for p in &site.proxying {
            let at = format!("{}:{}", p.file.display(), p.line);
            let trusted = match header {
                Err(why) => {
                    out.push((
                        "certctl.D012",
                        Severity::Unknown,
                        format!(
                            "cannot tell whether Django trusts what nginx sends at {at}: {why}"
                        ),
                        "make SECURE_PROXY_SSL_HEADER a literal".into(),
                    ));
                    continue;
                }
                Ok(Value::None) => None,
                Ok(Value::List(pair)) if pair.len() == 2 => {
                    match (pair[0].as_str(), pair[1].as_str()) {
                        (Some(meta), Some(value)) => Some((meta.to_owned(), value.to_owned())),
                        _ => continue,
                    }
                }
                Ok(_) => continue, // Django's own check (or none) speaks of a malformed value.
            };
            let Some((meta, expected)) = trusted else {
                let sends = match p.header("X-Forwarded-Proto") {
                    Ok(Some(_)) => String::new(),
                    _ => format!(", and `{FORWARD}` beside the proxy_pass at {at}"),
                };
                out.push((
                    "certctl.D013",
                    Severity::Warning,
                    format!(
                        "nginx serves {} over HTTPS and proxies to Django ({at}), but SECURE_PROXY_SSL_HEADER is not set: Django takes every request for plain HTTP (request.is_secure() is False; HTTPS form posts fail with \"Origin checking failed\" unless CSRF_TRUSTED_ORIGINS names https://{})",
                        site.name, site.name
                    ),
                    format!("SECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https'){sends}"),
                ));
                continue;
            };
            // HTTP_X_FORWARDED_PROTO is the request header X-Forwarded-Proto.
            let Some(name) = meta.strip_prefix("HTTP_").map(header_name) else {
                continue;
            };
            let fix = match name.eq_ignore_ascii_case("X-Forwarded-Proto") {
                true => format!("`{FORWARD}` beside the proxy_pass at {at}"),
                false => {
                    format!("`proxy_set_header {name} $scheme;` beside the proxy_pass at {at}")
                }
            };
            let problem = match p.header(&name) {
                Err(why) => {
                    out.push((
                        "certctl.D012",
                        Severity::Unknown,
                        format!("cannot tell whether nginx sends {name} to Django at {at}: {why}"),
                        fix,
                    ));
                    continue;
                }
                Ok(None) => format!(
                    "SECURE_PROXY_SSL_HEADER trusts {name}, but nginx does not set it for Django at {at} (site {}): Django takes every request for plain HTTP (with SECURE_SSL_REDIRECT, a redirect loop), and a client can send the header itself",
                    site.name
                ),
                // $scheme is "https" on the TLS server's requests.
                Ok(Some(v)) if v == expected || (v == "$scheme" && expected == "https") => continue,
                Ok(Some(v)) => format!(
                    "nginx sends {name}: {v} to Django at {at} (site {}), which is not {expected:?} on HTTPS requests, so Django takes them for plain HTTP (or believes what a client sent)",
                    site.name
                ),
            };
            out.push(("certctl.D012", Severity::Error, problem, fix));
        }
    }
    out
}

/// The request header behind a `META` key's rest: `X_FORWARDED_PROTO` → `X-Forwarded-Proto`.
fn header_name(meta: &str) -> String {
    meta.split('_')
        .map(|part| {
            let lower = part.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars.next().map_or(String::new(), |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn session_cookie_checks(
    r: &Reader<'_>,
    emit: &mut impl FnMut(&'static str, Severity, &'static str, Decided<bool>, &str, &str),
) {
    for (setting, ids, what) in [
        (
            "SESSION_COOKIE_SECURE",
            ["security.W010", "security.W011", "security.W012"],
            "the session cookie also travels over plain HTTP",
        ),
        (
            "SESSION_COOKIE_HTTPONLY",
            ["security.W013", "security.W014", "security.W015"],
            "scripts can read the session cookie",
        ),
    ] {
        let decided = (|| -> Decided<Option<&'static str>> {
            if r.is_true(setting)? {
                return Ok(None);
            }
            let app = r.contains("INSTALLED_APPS", SESSION_APP)?;
            let mw = r.contains("MIDDLEWARE", SESSION_MW)?;
            Ok(match (app, mw) {
                (true, true) => Some(ids[2]),
                (true, false) => Some(ids[0]),
                (false, true) => Some(ids[1]),
                (false, false) => None,
            })
        })();
        let fix = format!("{setting} = True");
        let message = format!("{setting} is not True: {what}");
        match decided {
            Ok(None) => {}
            Ok(Some(id)) => emit(id, Severity::Warning, setting, Ok(true), &message, &fix),
            Err(why) => emit(ids[2], Severity::Warning, setting, Err(why), &message, &fix),
        }
    }
}

/// Django's `_check_secret_key`: at least 50 characters, 5 distinct ones, and not
/// `django-insecure-…`. A non-string (or empty) key fails, as Django's check does.
pub fn strong_secret(key: &Value) -> bool {
    let Some(key) = key.as_str() else {
        return false;
    };
    let mut distinct: Vec<char> = key.chars().collect();
    let length = distinct.len();
    distinct.sort_unstable();
    distinct.dedup();
    distinct.len() >= 5 && length >= 50 && !key.starts_with("django-insecure-")
}

/// The Django version whose checks these are (named in `--json`).
pub const DJANGO_VERSION: &str = "5.2";

/// The IDs of Django's own checks among the findings (what `manage.py check --deploy` prints).
pub fn django_ids(findings: &[Finding]) -> Vec<&'static str> {
    let mut ids: Vec<&str> = findings
        .iter()
        .map(|f| &f.finding)
        .filter(|f| !f.id.starts_with("certctl.") && f.severity != Severity::Unknown)
        .map(|f| f.id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Where `admin.site.urls` is mounted at `admin/` in a urls.py text: `path("admin/", …)`, or
/// `path(settings.ADMIN_URL, …)` with that setting `admin/` (the cookiecutter-django layout).
pub fn default_admin_line(path: &Path, text: &str, settings: &Settings) -> Option<usize> {
    use rustpython_parser::ast::{Expr, Ranged, Stmt};
    let body = super::settings::parse(path, text).ok()?;
    let url = |e: &Expr| -> Option<String> {
        match e {
            Expr::Constant(c) => c.value.as_str().cloned(),
            Expr::Attribute(a) if matches!(&*a.value, Expr::Name(n) if n.id.as_str() == "settings") => {
                settings
                    .get(a.attr.as_str())?
                    .value
                    .as_str()
                    .map(str::to_owned)
            }
            _ => None,
        }
    };
    let mut found = None;
    let mut visit = |e: &Expr| {
        if let Expr::Call(call) = e
            && let [first, second, ..] = call.args.as_slice()
            && url(first).is_some_and(|u| u == "admin/" || u == "^admin/")
            && matches!(second, Expr::Attribute(a) if a.attr.as_str() == "urls")
        {
            found.get_or_insert(super::settings::line_of(text, call.start().to_usize()));
        }
    };
    for stmt in &body {
        if let Stmt::Assign(a) = stmt
            && let Expr::List(list) = &*a.value
        {
            list.elts.iter().for_each(&mut visit);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::settings::{Origin, Setting};
    use super::*;

    fn settings(pairs: &[(&str, Value)]) -> Settings {
        let values: BTreeMap<String, Setting> = pairs
            .iter()
            .map(|(k, v)| {
                let origin = Origin {
                    file: PathBuf::from("/p/settings.py"),
                    line: 1,
                    literal: true,
                    env_var: None,
                };
                (
                    k.to_string(),
                    Setting {
                        value: v.clone(),
                        origin,
                    },
                )
            })
            .collect();
        Settings {
            values,
            files: vec![PathBuf::from("/p/settings.py")],
        }
    }

    fn strs(items: &[&str]) -> Value {
        Value::List(items.iter().map(|s| Value::Str(s.to_string())).collect())
    }

    fn secure() -> Vec<(&'static str, Value)> {
        vec![
            ("DEBUG", Value::Bool(false)),
            ("SECRET_KEY", Value::Str("x".repeat(40) + "abcdefghijk")),
            ("ALLOWED_HOSTS", strs(&["site.test"])),
            (
                "MIDDLEWARE",
                strs(&[SECURITY_MW, SESSION_MW, CSRF_MW, XFRAME_MW]),
            ),
            ("INSTALLED_APPS", strs(&[SESSION_APP])),
            ("SECURE_SSL_REDIRECT", Value::Bool(true)),
            (
                "SECURE_PROXY_SSL_HEADER",
                strs(&["HTTP_X_FORWARDED_PROTO", "https"]),
            ),
            ("SECURE_HSTS_SECONDS", Value::Int(31_536_000)),
            ("SECURE_HSTS_INCLUDE_SUBDOMAINS", Value::Bool(true)),
            ("SECURE_HSTS_PRELOAD", Value::Bool(true)),
            ("SESSION_COOKIE_SECURE", Value::Bool(true)),
            ("CSRF_COOKIE_SECURE", Value::Bool(true)),
        ]
    }

    fn ids_with(change: &[(&'static str, Value)]) -> Vec<&'static str> {
        let mut pairs = secure();
        for (k, v) in change {
            pairs.retain(|(name, _)| name != k);
            pairs.push((k, v.clone()));
        }
        let findings = check(&settings(&pairs), &Context::default());
        let mut ids: Vec<&str> = findings.iter().map(|f| f.finding.id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    #[test]
    fn a_secure_project_passes_every_check() {
        assert!(ids_with(&[]).is_empty(), "{:?}", ids_with(&[]));
    }

    #[test]
    fn each_condition_gives_its_id() {
        type Change = Vec<(&'static str, Value)>;
        let table: Vec<(Change, &[&str])> = vec![
            (vec![("DEBUG", Value::Bool(true))], &["security.W018"]),
            (vec![("ALLOWED_HOSTS", strs(&[]))], &["security.W020"]),
            (vec![("ALLOWED_HOSTS", strs(&["*"]))], &["certctl.D006"]),
            (
                vec![(
                    "SECRET_KEY",
                    Value::Str("django-insecure-".to_owned() + &"k".repeat(50)),
                )],
                &["security.W009"],
            ),
            (
                vec![("MIDDLEWARE", strs(&[SESSION_MW, CSRF_MW, XFRAME_MW]))],
                &["security.W001"],
            ),
            (
                vec![("SECURE_HSTS_SECONDS", Value::Int(0))],
                &["security.W004"],
            ),
            (
                vec![("SECURE_HSTS_SECONDS", Value::Int(3600))],
                &["certctl.D008"],
            ),
            (
                vec![("SECURE_HSTS_INCLUDE_SUBDOMAINS", Value::Int(1))],
                &["security.W005"],
            ),
            (
                vec![("SESSION_COOKIE_SECURE", Value::Bool(false))],
                &["security.W012"],
            ),
            (
                vec![
                    ("SESSION_COOKIE_HTTPONLY", Value::Bool(false)),
                    ("INSTALLED_APPS", strs(&[])),
                ],
                &["security.W014"],
            ),
            (
                vec![("CSRF_COOKIE_SECURE", Value::Bool(false))],
                &["security.W016"],
            ),
            (
                vec![("X_FRAME_OPTIONS", Value::Str("SAMEORIGIN".into()))],
                &["security.W019"],
            ),
            (
                vec![("SECURE_REFERRER_POLICY", Value::None)],
                &["security.W022"],
            ),
            (
                vec![(
                    "SECURE_REFERRER_POLICY",
                    Value::Str("same-origin, bogus".into()),
                )],
                &["security.E023"],
            ),
            (
                vec![("SECURE_PROXY_SSL_HEADER", Value::None)],
                &["certctl.D001"],
            ),
            (
                vec![("CSRF_TRUSTED_ORIGINS", strs(&["http://site.test"]))],
                &["certctl.D003"],
            ),
            (
                vec![("SESSION_COOKIE_SAMESITE", Value::Str("None".into()))],
                &["certctl.D004"],
            ),
            (
                vec![("SECRET_KEY_FALLBACKS", strs(&["short"]))],
                &["security.W025"],
            ),
        ];
        for (change, want) in table {
            assert_eq!(ids_with(&change), want, "{change:?}");
        }
        // Without SecurityMiddleware, its settings are not checked, as in Django.
        let no_mw = ids_with(&[
            ("MIDDLEWARE", strs(&[SESSION_MW, CSRF_MW, XFRAME_MW])),
            ("SECURE_HSTS_SECONDS", Value::Int(0)),
            ("SECURE_SSL_REDIRECT", Value::Bool(false)),
        ]);
        assert_eq!(no_mw, ["security.W001"]);
    }

    #[test]
    fn an_unknown_value_is_reported_not_guessed() {
        let findings = check(
            &settings(&[
                (
                    "DEBUG",
                    Value::Unknown("the environment variable X is not set".into()),
                ),
                ("MIDDLEWARE", strs(&[])),
            ]),
            &Context::default(),
        );
        let debug = findings.iter().find(|f| f.setting == "DEBUG").unwrap();
        assert_eq!(debug.finding.severity, Severity::Unknown);
        assert!(debug.finding.message.contains("X is not set"), "{debug:?}");
        assert!(!django_ids(&findings).contains(&"security.W018"));
    }

    #[test]
    fn a_committed_literal_secret_and_the_default_admin_url() {
        let pairs = secure();
        let s = settings(&pairs);
        let context = Context {
            tracked: vec![PathBuf::from("/p/settings.py")],
            ..Context::default()
        };
        let ids: Vec<&str> = check(&s, &context).iter().map(|f| f.finding.id).collect();
        assert_eq!(ids, ["certctl.D007"]);

        let urls = "from django.contrib import admin\nfrom django.urls import path\n\nurlpatterns = [\n    path('admin/', admin.site.urls),\n]\n";
        assert_eq!(default_admin_line(Path::new("urls.py"), urls, &s), Some(5));
        let hidden = urls.replace("'admin/'", "'staff-7f3a/'");
        assert_eq!(default_admin_line(Path::new("urls.py"), &hidden, &s), None);
        let from_setting = urls.replace("'admin/'", "settings.ADMIN_URL");
        let admin_url = settings(&[("ADMIN_URL", Value::Str("admin/".into()))]);
        assert_eq!(
            default_admin_line(Path::new("urls.py"), &from_setting, &admin_url),
            Some(5)
        );
    }

    #[test]
    fn reports_list_errors_then_warnings_then_info_then_unknowns() {
        let mut order = [
            Severity::Unknown,
            Severity::Info,
            Severity::Warning,
            Severity::Error,
        ];
        order.sort_by_key(|s| report_rank(*s));
        assert_eq!(
            order,
            [
                Severity::Error,
                Severity::Warning,
                Severity::Info,
                Severity::Unknown
            ]
        );
    }

    #[test]
    fn json_keeps_the_flat_keys() {
        let f = Finding {
            finding: finding::Finding {
                id: "certctl.D009",
                severity: Severity::Info,
                message: "m".into(),
                fix: "f".into(),
            },
            setting: "ROOT_URLCONF",
            file: None,
            line: None,
        };
        assert_eq!(
            serde_json::to_value(&f).unwrap(),
            serde_json::json!({
                "id": "certctl.D009", "severity": "info", "setting": "ROOT_URLCONF",
                "file": null, "line": null, "message": "m", "fix": "f",
            })
        );
    }

    #[test]
    fn plain_http_url_settings_and_template_resources() {
        let s = settings(&[
            ("STATIC_URL", Value::Str("http://cdn.test/static/".into())),
            ("MEDIA_URL", Value::Str("https://media.test/".into())),
            ("LOGIN_URL", Value::Str("/login/".into())),
        ]);
        let context = Context {
            templates: vec![(
                PathBuf::from("/p/templates/map.html"),
                "{% load static %}\n<link rel=\"stylesheet\" href=\"http://cdn.test/ol.css\">\n<a href=\"http://docs.test/\">docs</a>\n<img src=\"http://tiles.test/0.png\">\n".into(),
            )],
            ..Context::default()
        };
        let found = check(&s, &context);
        let of = |id: &str| {
            found
                .iter()
                .filter(|f| f.finding.id == id)
                .collect::<Vec<_>>()
        };
        let d010 = of("certctl.D010");
        assert_eq!(d010.len(), 1, "{found:#?}");
        assert_eq!(d010[0].setting, "STATIC_URL");
        assert_eq!(d010[0].finding.severity, Severity::Error);
        let d011 = of("certctl.D011");
        assert_eq!(d011.len(), 2, "links are navigation: {found:#?}");
        assert_eq!(d011[0].line, Some(2));
        assert_eq!(d011[0].finding.severity, Severity::Error);
        assert_eq!(d011[1].line, Some(4));
        assert_eq!(d011[1].finding.severity, Severity::Warning);
    }

    fn site(headers: Result<Vec<(&str, &str)>, &str>) -> ProxySite {
        ProxySite {
            name: "app.test".into(),
            proxying: vec![Proxying {
                file: PathBuf::from("/etc/nginx/sites-available/app"),
                line: 9,
                target: "http://127.0.0.1:8000".into(),
                headers: headers
                    .map(|h| {
                        h.iter()
                            .map(|(n, v)| (n.to_string(), v.to_string()))
                            .collect()
                    })
                    .map_err(str::to_owned),
            }],
        }
    }

    fn proxy_ids(header: Value, site: ProxySite) -> Vec<(&'static str, Severity)> {
        let s = settings(&[("SECURE_PROXY_SSL_HEADER", header)]);
        let context = Context {
            sites: vec![site],
            ..Context::default()
        };
        check(&s, &context)
            .into_iter()
            .filter(|f| f.setting == "SECURE_PROXY_SSL_HEADER")
            .map(|f| (f.finding.id, f.finding.severity))
            .collect()
    }

    #[test]
    fn the_proxy_header_is_held_to_what_the_managed_site_sends() {
        let trusted = || {
            Value::List(vec![
                Value::Str("HTTP_X_FORWARDED_PROTO".into()),
                Value::Str("https".into()),
            ])
        };
        let forwards = || {
            site(Ok(vec![
                ("Host", "$host"),
                ("X-Forwarded-Proto", "$scheme"),
            ]))
        };
        // Django trusts what nginx sends: nothing to say.
        assert_eq!(proxy_ids(trusted(), forwards()), []);
        assert_eq!(
            proxy_ids(trusted(), site(Ok(vec![("x-forwarded-proto", "https")]))),
            []
        );
        // Django trusts a header nginx does not set, or sets to the client's value.
        assert_eq!(
            proxy_ids(trusted(), site(Ok(vec![("Host", "$host")]))),
            [("certctl.D012", Severity::Error)]
        );
        assert_eq!(
            proxy_ids(
                trusted(),
                site(Ok(vec![("X-Forwarded-Proto", "$http_x_forwarded_proto")]))
            ),
            [("certctl.D012", Severity::Error)]
        );
        // Another header name than nginx's: held to that name.
        let other = Value::List(vec![
            Value::Str("HTTP_X_FORWARDED_PROTOCOL".into()),
            Value::Str("ssl".into()),
        ]);
        assert_eq!(
            proxy_ids(other, forwards()),
            [("certctl.D012", Severity::Error)]
        );
        // Django trusts nothing while nginx proxies HTTPS to it.
        assert_eq!(
            proxy_ids(Value::None, forwards()),
            [("certctl.D013", Severity::Warning)]
        );
        // What cannot be known is said.
        assert_eq!(
            proxy_ids(
                trusted(),
                site(Err("includes /x, which nginx -T did not show"))
            ),
            [("certctl.D012", Severity::Unknown)]
        );
        assert_eq!(
            proxy_ids(Value::Unknown("from the environment".into()), forwards()),
            [("certctl.D012", Severity::Unknown)]
        );
    }

    #[test]
    fn allowed_hosts_match_as_django_matches_them() {
        let hosts = |list: &[&str]| {
            settings(&[(
                "ALLOWED_HOSTS",
                Value::List(list.iter().map(|h| Value::Str(h.to_string())).collect()),
            )])
        };
        assert_eq!(allows_host(&hosts(&["*"]), "a.test"), Some(true));
        assert_eq!(allows_host(&hosts(&[".a.test"]), "a.test"), Some(true));
        assert_eq!(allows_host(&hosts(&[".a.test"]), "www.A.test"), Some(true));
        assert_eq!(allows_host(&hosts(&[".a.test"]), "ba.test"), Some(false));
        assert_eq!(allows_host(&hosts(&["a.test"]), "www.a.test"), Some(false));
        let unknown = settings(&[("ALLOWED_HOSTS", Value::Unknown("env".into()))]);
        assert_eq!(allows_host(&unknown, "a.test"), None);
    }
}
