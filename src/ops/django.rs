//! `certctl django check` (static part) and `certctl django secret-key`: find the project and its
//! settings module, build the environment it runs with, evaluate the settings, run the checks.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::django::checks::{self, Context, Finding};
use crate::django::settings::{self, Loader, Settings, SettingsError, Value};

/// What went wrong before any check could run (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum DjangoError {
    /// No manage.py here or above.
    #[error("no Django project found at {} (no manage.py here, above, or one level below; pass --project)", .0.display())]
    NoProject(PathBuf),
    /// The settings module is not named anywhere.
    #[error("{0}")]
    NoSettings(String),
    /// A settings file is unreadable or not Python.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The --env-file could not be read.
    #[error("cannot read the env file {}: {why}", path.display())]
    EnvFile {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// `secret-key --env-file` refused or failed.
    #[error("{0}")]
    SecretFile(String),
    /// `--url` is not a usable https:// URL.
    #[error("--url {url}: {why}")]
    BadUrl {
        /// As given.
        url: String,
        /// Why.
        why: String,
    },
    /// The live site could not be fetched.
    #[error("cannot check the live site: {0}")]
    Live(String),
}

impl DjangoError {
    /// Bad input (exit 2), as opposed to a site that did not answer (exit 1).
    pub fn is_usage(&self) -> bool {
        !matches!(self, Self::Live(_))
    }
}

/// What to check.
#[derive(Clone, Debug, Default)]
pub struct CheckRequest {
    /// Where to look for manage.py (the current directory by default).
    pub start: PathBuf,
    /// `--settings config.settings.production` (else DJANGO_SETTINGS_MODULE, else manage.py's).
    pub settings_module: Option<String>,
    /// `--env-file`: its variables win over the process environment.
    pub env_file: Option<PathBuf>,
    /// The process environment.
    pub process_env: HashMap<String, String>,
}

/// The static report.
#[derive(Clone, Debug, Serialize)]
pub struct StaticReport {
    /// The directory with manage.py.
    pub project: PathBuf,
    /// The settings module checked.
    pub settings_module: String,
    /// Every settings file read.
    pub files: Vec<PathBuf>,
    /// Findings, worst first.
    pub findings: Vec<Finding>,
    /// The evaluated settings the checks read (for --json and debugging).
    #[serde(skip)]
    pub settings: Settings,
}

struct Disk;

impl Loader for Disk {
    fn load(&self, path: &Path) -> Result<Option<String>, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The directory holding manage.py: `start`, an ancestor, or a direct subdirectory.
pub fn find_project(start: &Path) -> Result<PathBuf, DjangoError> {
    if let Some(dir) = start.ancestors().find(|d| d.join("manage.py").is_file()) {
        return Ok(dir.to_owned());
    }
    let mut below: Vec<PathBuf> = std::fs::read_dir(start)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|d| d.join("manage.py").is_file())
        .collect();
    below.sort();
    below
        .into_iter()
        .next()
        .ok_or_else(|| DjangoError::NoProject(start.to_owned()))
}

/// The settings module manage.py names with `os.environ.setdefault("DJANGO_SETTINGS_MODULE", …)`.
fn manage_py_default(manage: &Path) -> Option<String> {
    use rustpython_parser::ast::{Expr, Stmt};
    let text = std::fs::read_to_string(manage).ok()?;
    let body = settings::parse(manage, &text).ok()?;
    fn find(stmts: &[Stmt]) -> Option<String> {
        for stmt in stmts {
            let found = match stmt {
                Stmt::Expr(e) => match &*e.value {
                    Expr::Call(call) => match (&*call.func, call.args.as_slice()) {
                        (Expr::Attribute(a), [Expr::Constant(k), Expr::Constant(v)])
                            if a.attr.as_str() == "setdefault"
                                && k.value.as_str().map(String::as_str)
                                    == Some("DJANGO_SETTINGS_MODULE") =>
                        {
                            v.value.as_str().cloned()
                        }
                        _ => None,
                    },
                    _ => None,
                },
                Stmt::FunctionDef(f) => find(&f.body),
                Stmt::If(i) => find(&i.body),
                _ => None,
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }
    find(&body)
}

/// The file of a dotted module inside the project.
fn module_file(root: &Path, module: &str) -> Option<PathBuf> {
    let base = module
        .split('.')
        .fold(root.to_owned(), |p, part| p.join(part));
    [base.with_extension("py"), base.join("__init__.py")]
        .into_iter()
        .find(|p| p.is_file())
}

/// `git -C dir ARGS`: its stdout when it succeeds (None: not a repository, a failed check, or
/// no git at all).
fn git(dir: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

/// Files git tracks under `root` (empty when it is not a work tree or git is missing). Without
/// --full-name the paths are relative to `root`.
fn git_tracked(root: &Path) -> Vec<PathBuf> {
    let listed = git(root, &["ls-files", "-z"]).unwrap_or_default();
    listed
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| root.join(String::from_utf8_lossy(p).as_ref()))
        .collect()
}

/// Reads an env file (exit 2 when unreadable).
pub fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, DjangoError> {
    let text = std::fs::read_to_string(path).map_err(|e| DjangoError::EnvFile {
        path: path.to_owned(),
        why: e.to_string(),
    })?;
    Ok(settings::parse_env_file(&text))
}

/// The static check.
pub fn check(req: &CheckRequest) -> Result<StaticReport, DjangoError> {
    let start = req
        .start
        .canonicalize()
        .unwrap_or_else(|_| req.start.clone());
    let root = find_project(&start)?;
    let mut env = req.process_env.clone();
    if let Some(path) = &req.env_file {
        env.extend(read_env_file(path)?);
    }
    let module = req
        .settings_module
        .clone()
        .or_else(|| env.get("DJANGO_SETTINGS_MODULE").cloned())
        .or_else(|| manage_py_default(&root.join("manage.py")))
        .ok_or_else(|| {
            DjangoError::NoSettings(format!(
                "{}: manage.py names no settings module; pass --settings",
                root.join("manage.py").display()
            ))
        })?;
    let file = module_file(&root, &module).ok_or_else(|| {
        DjangoError::NoSettings(format!(
            "settings module {module} not found under {}",
            root.display()
        ))
    })?;
    let settings = settings::evaluate(&root, &file, &env, &Disk)?;
    let default_admin = settings
        .get("ROOT_URLCONF")
        .and_then(|s| s.value.as_str())
        .and_then(|m| module_file(&root, m))
        .and_then(|urls| {
            let text = std::fs::read_to_string(&urls).ok()?;
            checks::default_admin_line(&urls, &text, &settings).map(|line| (urls, line))
        });
    let context = Context {
        tracked: git_tracked(&root),
        default_admin,
    };
    let findings = checks::check(&settings, &context);
    Ok(StaticReport {
        project: root,
        settings_module: module,
        files: settings.files.clone(),
        findings,
        settings,
    })
}

/// A SECRET_KEY from the OS CSPRNG: 64 characters from Django's own alphabet (50 is Django's
/// minimum), so it passes security.W009.
pub fn secret_key() -> Result<String, DjangoError> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789!@#%^&*(-_=+)";
    let mut key = String::with_capacity(64);
    let mut bytes = [0u8; 1];
    while key.len() < 64 {
        getrandom::fill(&mut bytes)
            .map_err(|e| DjangoError::SecretFile(format!("the OS random source failed: {e}")))?;
        // Reject the top of the range so every character is equally likely.
        let limit = 256 - 256 % ALPHABET.len();
        if usize::from(bytes[0]) < limit {
            key.push(char::from(ALPHABET[usize::from(bytes[0]) % ALPHABET.len()]));
        }
    }
    debug_assert!(checks::strong_secret(&Value::Str(key.clone())));
    Ok(key)
}

/// Writes or replaces DJANGO_SECRET_KEY in an env file, 0600, atomically. Refuses a file inside a
/// git work tree unless git ignores it.
pub fn write_secret_env(path: &Path, key: &str) -> Result<(), DjangoError> {
    let fail = |why: String| DjangoError::SecretFile(format!("{}: {why}", path.display()));
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(fail("its directory does not exist".into()));
    }
    let in_work_tree = git(&dir, &["rev-parse", "--is-inside-work-tree"])
        .is_some_and(|out| out.starts_with(b"true"));
    if in_work_tree {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let ignored = git(&dir, &["check-ignore", "-q", "--no-index", &name]).is_some();
        if !ignored {
            return Err(fail(
                "is inside a git work tree and not git-ignored; add it to .gitignore first".into(),
            ));
        }
    }
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(fail(e.to_string())),
    };
    let line = format!("DJANGO_SECRET_KEY='{key}'");
    let mut replaced = false;
    let mut lines: Vec<String> = old
        .lines()
        .map(|l| {
            let bare = l.trim_start().trim_start_matches("export ").trim_start();
            if bare.starts_with("DJANGO_SECRET_KEY=") {
                replaced = true;
                line.clone()
            } else {
                l.to_owned()
            }
        })
        .collect();
    if !replaced {
        lines.push(line);
    }
    let text = lines.join("\n") + "\n";
    let tmp = dir.join(format!(
        ".{}.certctl-tmp",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    let _ = std::fs::remove_file(&tmp);
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e.to_string())
    })
}

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
    /// Per request.
    pub timeout: std::time::Duration,
    /// SESSION_COOKIE_NAME (from the static check when there is one).
    pub session_cookie: String,
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
    /// Findings, worst first.
    pub findings: Vec<live::LiveFinding>,
}

use crate::django::live;

/// A response at the end of a redirect chain, with every Set-Cookie seen on the way.
#[derive(Clone)]
struct Fetched {
    chain: Vec<live::Hop>,
    hsts: Vec<String>,
    set_cookie: Vec<String>,
    status: u16,
    body: String,
}

async fn follow(client: &reqwest::Client, start: reqwest::Url) -> Result<Fetched, DjangoError> {
    let mut url = start;
    let mut fetched = Fetched {
        chain: Vec::new(),
        hsts: Vec::new(),
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
                    fetched.body = rsp.text().await.unwrap_or_default();
                }
                return Ok(fetched);
            }
        }
    }
}

/// The live check: redirects, HSTS, cookies, mixed content. Certificate trust is not judged here
/// (that is `certctl audit`'s job), so a lab certificate works.
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
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(ip) = req.connect {
        // The port is the URL's; only the address is replaced.
        builder = builder.resolve(&host, std::net::SocketAddr::new(ip, 0));
    }
    let client = builder
        .build()
        .map_err(|e| DjangoError::Live(e.to_string()))?;

    let mut plain = url.clone();
    plain
        .set_scheme("http")
        .map_err(|_| bad("cannot make its http:// form"))?;
    plain
        .set_port((req.http_port != 80).then_some(req.http_port))
        .map_err(|_| bad("cannot set the http port"))?;
    plain.set_path("/");
    plain.set_query(None);
    let (http, https) = tokio::join!(follow(&client, plain), follow(&client, url.clone()));
    let (http, https) = (http?, https?);

    let default_page = req.path.is_none();
    let page = url
        .join(req.path.as_deref().unwrap_or("/admin/login/"))
        .map_err(|e| bad(&e.to_string()))?;
    let mut cookie_page = follow(&client, page.clone()).await?;
    let mut page_url = page.to_string();
    let mut findings = Vec::new();
    if cookie_page.status == 404 && default_page {
        findings.push(live::LiveFinding {
            id: "live.L040",
            severity: crate::django::checks::Severity::Info,
            url: page_url.clone(),
            message: "no admin login page here; cookies were read from the URL itself".into(),
            fix: "pass --path with a page that sets the session and CSRF cookies".into(),
        });
        cookie_page = https.clone();
        page_url = url.to_string();
    }

    findings.extend(live::redirect_findings(&http.chain));
    findings.extend(live::redirect_findings(&https.chain));
    findings.extend(live::hsts_findings(url.as_str(), &https.hsts));
    let cookies = live::parse_cookies(&cookie_page.set_cookie);
    findings.extend(live::cookie_findings(
        &page_url,
        &cookies,
        &req.session_cookie,
    ));
    findings.extend(live::mixed_findings(url.as_str(), &https.body));
    if page_url != url.as_str() {
        findings.extend(live::mixed_findings(&page_url, &cookie_page.body));
    }
    findings.sort_by_key(|f| f.severity);
    Ok(LiveReport {
        url: url.to_string(),
        http_chain: http.chain,
        https_chain: https.chain,
        hsts: https.hsts,
        cookie_page: page_url,
        cookies,
        findings,
    })
}
