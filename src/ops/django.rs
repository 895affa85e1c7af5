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

/// Files git tracks under `root` (empty when it is not a work tree or git is missing).
fn git_tracked(root: &Path) -> Vec<PathBuf> {
    let Ok(out) = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z", "--full-name"])
        .stderr(std::process::Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    let Ok(top) = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "--show-toplevel"])
        .stderr(std::process::Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    if !out.status.success() || !top.status.success() {
        return Vec::new();
    }
    let top = PathBuf::from(String::from_utf8_lossy(&top.stdout).trim());
    let top = top.canonicalize().unwrap_or(top);
    out.stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| top.join(String::from_utf8_lossy(p).as_ref()))
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
    let in_work_tree = std::process::Command::new("git")
        .arg("-C")
        .arg(&dir)
        .args(["rev-parse", "--is-inside-work-tree"])
        .stderr(std::process::Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"true"));
    if in_work_tree {
        let ignored = std::process::Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(["check-ignore", "-q", "--no-index"])
            .arg(path.file_name().unwrap_or_default())
            .status()
            .is_ok_and(|s| s.success());
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
