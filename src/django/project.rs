//! The static half of `certctl django check`: find the project (manage.py) and its settings
//! module, build the environment it runs with (process env + `--env-file`), read the settings
//! files, urls.py and git's tracked files from disk, then run the pure [`settings`] evaluation
//! and [`checks`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::DjangoError;
use super::checks::{self, Context, Finding};
use super::settings::{self, Loader, Settings};

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
