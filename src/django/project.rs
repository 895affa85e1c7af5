//! The static half of `certctl django check`: find the project (manage.py) and its settings
//! module, build the environment it runs with (process env + `--env-file`), read the settings
//! files, urls.py and git's tracked files from disk, then run the pure [`settings`] evaluation
//! and [`checks`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::DjangoError;
use super::checks::{self, Context, Finding, ProxySite};
use super::settings::{self, Loader, Settings, Value};

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
    /// The Django version whose checks (IDs and conditions) the findings follow.
    pub django_checks: &'static str,
    /// Findings, worst first.
    pub findings: Vec<Finding>,
    /// The evaluated settings the checks read (for --json and debugging).
    #[serde(skip)]
    pub settings: Settings,
}

/// Reads settings files from disk; a missing file is `None` (the import fails as in Python).
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
pub(super) fn git(dir: &Path, args: &[&str]) -> Option<Vec<u8>> {
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

/// The most template files read, and the largest read (a project's own templates are far
/// below both; a vendored tree is not read whole).
const MAX_TEMPLATES: usize = 2_000;
const MAX_TEMPLATE_BYTES: u64 = 1024 * 1024;

/// The project's template files: every `templates` directory under the project (not inside
/// hidden directories, virtualenvs or node_modules) and the TEMPLATES DIRS the settings name.
fn templates(root: &Path, settings: &Settings) -> Vec<(PathBuf, String)> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(Value::List(engines)) = settings.get("TEMPLATES").map(|s| &s.value) {
        for engine in engines {
            if let Value::Dict(pairs) = engine
                && let Some((_, Value::List(listed))) =
                    pairs.iter().find(|(k, _)| k.as_str() == Some("DIRS"))
            {
                for d in listed {
                    match d {
                        Value::Str(p) => dirs.push(PathBuf::from(p)),
                        Value::Path(p) => dirs.push(p.clone()),
                        _ => {}
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut stack = vec![(root.to_owned(), false)];
    stack.extend(dirs.into_iter().map(|d| (d, true)));
    let mut seen = std::collections::HashSet::new();
    while let Some((dir, inside_templates)) = stack.pop() {
        if out.len() >= MAX_TEMPLATES || !seen.insert(dir.clone()) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                let skip = name.starts_with('.')
                    || matches!(
                        name.as_str(),
                        "node_modules" | "site-packages" | "venv" | "__pycache__"
                    );
                if !skip {
                    stack.push((path, inside_templates || name == "templates"));
                }
            } else if kind.is_file()
                && inside_templates
                && (name.ends_with(".html") || name.ends_with(".htm") || name.ends_with(".txt"))
                && entry
                    .metadata()
                    .is_ok_and(|m| m.len() <= MAX_TEMPLATE_BYTES)
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                out.push((path, text));
            }
        }
    }
    out.sort();
    out
}

/// The static check.
pub fn check(req: &CheckRequest) -> Result<StaticReport, DjangoError> {
    check_with_sites(req, &|_| Vec::new())
}

/// The static check, with the nginx sites `sites` finds for the evaluated settings (the ones
/// certctl manages for this project) checked against them.
pub fn check_with_sites(
    req: &CheckRequest,
    sites: &dyn Fn(&Settings) -> Vec<ProxySite>,
) -> Result<StaticReport, DjangoError> {
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
        .ok_or_else(|| DjangoError::NoSettingsModule {
            manage_py: root.join("manage.py"),
        })?;
    let file = module_file(&root, &module).ok_or_else(|| DjangoError::SettingsModuleNotFound {
        module: module.clone(),
        root: root.clone(),
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
        templates: templates(&root, &settings),
        sites: sites(&settings),
    };
    let findings = checks::check(&settings, &context);
    Ok(StaticReport {
        project: root,
        settings_module: module,
        files: settings.files.clone(),
        django_checks: checks::DJANGO_VERSION,
        findings,
        settings,
    })
}
