//! Static evaluation of a Django settings module: parse it with a real Python parser
//! (rustpython-parser), then run the subset of Python that settings files use and record, for
//! every name, its value and where it came from. Python's semantics are kept where they matter:
//! lists and dicts are shared objects (a module that mutates an imported list changes it for
//! every module holding it), imported modules are evaluated once, `try`/`except` picks the
//! handler for exceptions certctl knows are raised (a missing project module, an unset
//! variable), and the environment (`os.environ`, django-environ's `read_env`) changes as the
//! code runs. Where a value depends on what cannot be known (a third-party import, a condition
//! on an unknown value, `globals()`), it is [`Value::Unknown`] with the reason; nothing is
//! guessed.
//!
//! Pure: files come through a [`Loader`], the environment as a map.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rustpython_parser::ast::{self, Expr, Ranged, Stmt};
use serde::Serialize;

use super::environ::{self, Cast, EnvVar, Environ};
use super::python::{
    Exception, attribute, binop, constant, convert, dict_method, list_method, os_path, str_method,
    subscript,
};
pub use super::python::{Object, Value};

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Origin {
    /// The file that assigned it last.
    pub file: PathBuf,
    /// Its line (1-based).
    pub line: usize,
    /// Written as a literal in the source (a secret in the repository, for SECRET_KEY).
    pub literal: bool,
    /// Read from this environment variable (the value may be its default).
    pub env_var: Option<String>,
}

/// One name in the settings module.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Setting {
    /// Its value.
    pub value: Value,
    /// Where it was set.
    pub origin: Origin,
}

/// A value with what is known about its source, while evaluating.
#[derive(Clone, Debug)]
struct Traced {
    value: Value,
    literal: bool,
    env_var: Option<String>,
    /// The list or dict object it is (a name bound to it shares it, as in Python).
    object: Option<usize>,
}

impl Traced {
    fn computed(value: Value) -> Self {
        Traced {
            value,
            literal: false,
            env_var: None,
            object: None,
        }
    }
}

/// The evaluated settings: upper-case names only, as Django reads them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Settings {
    /// Name to setting.
    pub values: BTreeMap<String, Setting>,
    /// Every settings file read, the entry module first.
    pub files: Vec<PathBuf>,
}

impl Settings {
    /// The setting, if the project sets it.
    pub fn get(&self, name: &str) -> Option<&Setting> {
        self.values.get(name)
    }
}

/// Why a settings module could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A file could not be read.
    #[error("cannot read {}: {why}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// Python syntax error.
    #[error("{}:{line}: Python syntax error: {why}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The line.
        line: usize,
        /// The parser's message.
        why: String,
    },
}

/// Reads source files (the filesystem in the CLI, a map in tests).
pub trait Loader {
    /// The file's text, or None when it does not exist.
    fn load(&self, path: &Path) -> Result<Option<String>, String>;
}

/// Evaluates the settings module in `file` (inside `root`, the directory that holds manage.py,
/// which is where absolute imports such as `config.settings.base` resolve). `env` is the
/// environment the site runs with.
pub fn evaluate(
    root: &Path,
    file: &Path,
    env: &HashMap<String, String>,
    loader: &dyn Loader,
) -> Result<Settings, SettingsError> {
    let mut eval = Evaluator {
        root: root.to_owned(),
        env: Environ::new(env.iter().map(|(k, v)| (k.clone(), v.clone()))),
        loader,
        files: Vec::new(),
        depth: 0,
        modules: HashMap::new(),
        heap: Vec::new(),
        raised: None,
        try_depth: 0,
    };
    let (names, _) = eval.module(file)?;
    let values = names
        .into_iter()
        .filter(|(name, _)| is_setting_name(name))
        .collect();
    Ok(Settings {
        values,
        files: eval.files,
    })
}

/// Django reads only upper-case module attributes as settings.
fn is_setting_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Parses a file's text into statements; the error carries the line.
pub fn parse(path: &Path, text: &str) -> Result<Vec<Stmt>, SettingsError> {
    use rustpython_parser::Parse;
    ast::Suite::parse(text, &path.display().to_string()).map_err(|e| SettingsError::Syntax {
        path: path.to_owned(),
        line: line_of(text, e.offset.to_usize()),
        why: e.error.to_string(),
    })
}

/// The 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

type Names = BTreeMap<String, Setting>;
/// Names bound to a shared list or dict: name to object.
type Refs = HashMap<String, usize>;

/// Standard-library and always-present modules: importing them cannot fail.
const IMPORTABLE: &[&str] = &[
    "os",
    "sys",
    "pathlib",
    "environ",
    "django",
    "json",
    "logging",
    "re",
    "socket",
    "datetime",
    "typing",
    "urllib",
    "warnings",
    "collections",
    "base64",
    "string",
    "io",
    "platform",
    "tempfile",
    "glob",
    "math",
    "random",
    "secrets",
    "uuid",
    "decimal",
    "functools",
    "itertools",
    "email",
    "ssl",
    "subprocess",
    "importlib",
    "contextlib",
    "ast",
    "copy",
    "enum",
];

struct Evaluator<'l> {
    root: PathBuf,
    env: Environ,
    loader: &'l dyn Loader,
    files: Vec<PathBuf>,
    depth: usize,
    /// Modules already evaluated (Python imports a module once): their names and objects.
    modules: HashMap<PathBuf, (Names, Refs)>,
    /// Every list and dict the code made, by object number.
    heap: Vec<Value>,
    /// An exception raised for certain inside a `try` body, not yet handled.
    raised: Option<Exception>,
    /// How many `try` bodies are being evaluated (outside one, certctl does not stop at an
    /// exception: it reports the value as unknown, as before).
    try_depth: usize,
}

/// One module's evaluation: its names and where it is.
struct Frame<'t> {
    file: PathBuf,
    text: &'t str,
    names: Names,
    refs: Refs,
}

impl Frame<'_> {
    fn origin(&self, traced: &Traced, at: &impl Ranged) -> Origin {
        Origin {
            file: self.file.clone(),
            line: line_of(self.text, at.start().to_usize()),
            literal: traced.literal,
            env_var: traced.env_var.clone(),
        }
    }
}

/// The parts of a `try` statement.
#[derive(Clone, Copy)]
struct Try<'a> {
    body: &'a [Stmt],
    handlers: &'a [ast::ExceptHandler],
    orelse: &'a [Stmt],
    finalbody: &'a [Stmt],
}

/// Everything a path through the code can change: restored and merged around a fork.
struct Snapshot {
    names: Names,
    refs: Refs,
    heap: Vec<Value>,
    env: Environ,
    raised: Option<Exception>,
}

fn builtin(name: &str) -> Value {
    match name {
        "True" => Value::Bool(true),
        "False" => Value::Bool(false),
        "None" => Value::None,
        "bool" | "int" | "float" | "str" | "list" | "tuple" | "dict" | "globals" | "vars"
        | "locals" | "setattr" | "exec" | "getattr" => {
            Value::Object(Object::Builtin(name.to_owned()))
        }
        _ => Value::Unknown(format!("`{name}` is not defined in the settings")),
    }
}

impl Evaluator<'_> {
    fn module(&mut self, file: &Path) -> Result<(Names, Refs), SettingsError> {
        let text = match self.loader.load(file) {
            Ok(Some(text)) => text,
            Ok(None) => {
                return Err(SettingsError::Read {
                    path: file.to_owned(),
                    why: "no such file".into(),
                });
            }
            Err(why) => {
                return Err(SettingsError::Read {
                    path: file.to_owned(),
                    why,
                });
            }
        };
        self.files.push(file.to_owned());
        let body = parse(file, &text)?;
        let mut frame = Frame {
            file: file.to_owned(),
            text: &text,
            names: Names::new(),
            refs: Refs::new(),
        };
        frame.names.insert(
            "__file__".into(),
            Setting {
                value: Value::Str(file.display().to_string()),
                origin: Origin {
                    file: file.to_owned(),
                    line: 1,
                    literal: false,
                    env_var: None,
                },
            },
        );
        self.block(&mut frame, &body)?;
        self.resolve(&mut frame.names, &frame.refs);
        Ok((frame.names, frame.refs))
    }

    /// Names bound to shared objects take the objects' current values.
    fn resolve(&self, names: &mut Names, refs: &Refs) {
        for (name, id) in refs {
            if let (Some(s), Some(v)) = (names.get_mut(name), self.heap.get(*id)) {
                s.value = v.clone();
            }
        }
    }

    /// Statements in order; an exception raised inside a `try` stops the block.
    fn block(&mut self, f: &mut Frame<'_>, body: &[Stmt]) -> Result<(), SettingsError> {
        for stmt in body {
            self.statement(f, stmt)?;
            if self.raised.is_some() {
                break;
            }
        }
        Ok(())
    }

    /// Raises `e` when inside a `try` (outside one the value is reported as unknown instead).
    fn raise(&mut self, e: Exception) {
        if self.try_depth > 0 {
            self.raised = Some(e);
        }
    }

    fn lookup(&self, f: &Frame<'_>, name: &str) -> Traced {
        match f.names.get(name) {
            Some(s) => {
                let object = f.refs.get(name).copied();
                Traced {
                    value: object
                        .and_then(|id| self.heap.get(id).cloned())
                        .unwrap_or_else(|| s.value.clone()),
                    literal: s.origin.literal,
                    env_var: s.origin.env_var.clone(),
                    object,
                }
            }
            None => Traced::computed(builtin(name)),
        }
    }

    /// `name = value`: a new list or dict becomes an object; an existing one is shared.
    fn bind(&mut self, f: &mut Frame<'_>, name: &str, traced: Traced, at: &impl Ranged) {
        let object = match (&traced.value, traced.object) {
            (_, Some(id)) => Some(id),
            (Value::List(_) | Value::Dict(_), None) => {
                self.heap.push(traced.value.clone());
                Some(self.heap.len() - 1)
            }
            _ => None,
        };
        match object {
            Some(id) => f.refs.insert(name.to_owned(), id),
            None => f.refs.remove(name),
        };
        let origin = f.origin(&traced, at);
        f.names.insert(
            name.to_owned(),
            Setting {
                value: traced.value,
                origin,
            },
        );
    }

    /// An in-place change of the object `name` is bound to (or of its value, when it is none).
    fn mutate(&mut self, f: &mut Frame<'_>, name: &str, value: Value, at: &impl Ranged) {
        match f.refs.get(name).copied() {
            Some(id) => {
                self.heap[id] = value.clone();
                let origin = f.origin(&Traced::computed(Value::None), at);
                f.names.insert(name.to_owned(), Setting { value, origin });
            }
            None => self.bind(f, name, Traced::computed(value), at),
        }
    }

    fn snapshot(&self, f: &Frame<'_>) -> Snapshot {
        Snapshot {
            names: f.names.clone(),
            refs: f.refs.clone(),
            heap: self.heap.clone(),
            env: self.env.clone(),
            raised: self.raised,
        }
    }

    fn restore(&mut self, f: &mut Frame<'_>, s: Snapshot) {
        f.names = s.names;
        f.refs = s.refs;
        self.heap = s.heap;
        self.env = s.env;
        self.raised = s.raised;
    }

    /// Either `first` or `second` runs, and certctl cannot know which: what they leave the
    /// same stays known, everything else (names, objects, environment variables) is unknown
    /// for `why`.
    fn fork(
        &mut self,
        f: &mut Frame<'_>,
        why: &str,
        first: &mut dyn FnMut(&mut Self, &mut Frame<'_>) -> Result<(), SettingsError>,
        second: &mut dyn FnMut(&mut Self, &mut Frame<'_>) -> Result<(), SettingsError>,
    ) -> Result<(), SettingsError> {
        let before = self.snapshot(f);
        let common = before.heap.len();
        first(self, f)?;
        let mut a = self.snapshot(f);
        self.resolve(&mut a.names, &a.refs);
        // The second path's new objects are numbered after the first path's.
        let mut heap = before.heap.clone();
        heap.resize(a.heap.len(), Value::Unknown(why.to_owned()));
        self.restore(f, Snapshot { heap, ..before });
        second(self, f)?;
        let mut names_b = f.names.clone();
        self.resolve(&mut names_b, &f.refs);
        for id in 0..self.heap.len() {
            match a.heap.get(id) {
                Some(va) if id < common && *va != self.heap[id] => {
                    self.heap[id] = Value::Unknown(why.to_owned());
                }
                Some(va) if id >= common && id < a.heap.len() => self.heap[id] = va.clone(),
                _ => {}
            }
        }
        let names: Vec<String> = a.names.keys().chain(names_b.keys()).cloned().collect();
        for name in names {
            let (va, vb) = (a.names.get(&name), names_b.get(&name));
            if va.map(|s| &s.value) == vb.map(|s| &s.value) {
                if !f.refs.contains_key(&name)
                    && let Some(id) = a.refs.get(&name)
                {
                    f.refs.insert(name.clone(), *id);
                }
                continue;
            }
            let origin = va.or(vb).map(|s| s.origin.clone()).unwrap();
            f.refs.remove(&name);
            f.names.insert(
                name,
                Setting {
                    value: Value::Unknown(why.to_owned()),
                    origin,
                },
            );
        }
        self.env.merge(&a.env, why);
        if a.raised != self.raised {
            // One path raised and the other did not: the code after it may not run.
            self.raised = None;
        }
        Ok(())
    }

    fn why_at(&self, f: &Frame<'_>, at: &impl Ranged, what: &str) -> String {
        format!(
            "{what} ({}:{})",
            f.file.display(),
            line_of(f.text, at.start().to_usize())
        )
    }

    fn statement(&mut self, f: &mut Frame<'_>, stmt: &Stmt) -> Result<(), SettingsError> {
        match stmt {
            Stmt::Assign(a) => {
                let value = self.expr(f, &a.value);
                for target in &a.targets {
                    self.assign(f, target, value.clone(), stmt);
                }
            }
            Stmt::AnnAssign(a) => {
                if let Some(v) = &a.value {
                    let value = self.expr(f, v);
                    self.assign(f, &a.target, value, stmt);
                }
            }
            Stmt::AugAssign(a) => {
                if let Expr::Name(n) = &*a.target {
                    let left = self.lookup(f, n.id.as_str());
                    let right = self.expr(f, &a.value);
                    match (&a.op, &left.value, left.object) {
                        // `+=` on a list extends it in place: every holder sees it.
                        (ast::Operator::Add, Value::List(items), Some(_)) => {
                            let value = match &right.value {
                                Value::List(more) => {
                                    Value::List([items.clone(), more.clone()].concat())
                                }
                                Value::Str(s) => Value::List(
                                    [
                                        items.clone(),
                                        s.chars().map(|c| Value::Str(c.to_string())).collect(),
                                    ]
                                    .concat(),
                                ),
                                other => Value::Unknown(format!("`+=` of {}", other.display())),
                            };
                            self.mutate(f, n.id.as_str(), value, stmt);
                        }
                        _ => {
                            let value = binop(&a.op, &left.value, &right.value);
                            self.bind(f, n.id.as_str(), Traced::computed(value), stmt);
                        }
                    }
                }
            }
            Stmt::Import(i) => {
                for alias in &i.names {
                    let module = alias.name.as_str();
                    let bound = alias.asname.as_ref().map_or(module, |a| a.as_str());
                    let value = match module {
                        "os" => Value::Object(Object::Os),
                        "os.path" if alias.asname.is_some() => Value::Object(Object::OsPath),
                        "environ" => Value::Object(Object::EnvironModule),
                        _ => {
                            if self.missing_project_module(0, module) {
                                self.raise(Exception::ModuleNotFound);
                            }
                            continue;
                        }
                    };
                    let bound = bound.split('.').next().unwrap_or(bound);
                    self.bind(f, bound, Traced::computed(value), stmt);
                }
            }
            Stmt::ImportFrom(i) => self.import_from(f, i, stmt)?,
            Stmt::If(s) => self.branch(f, &s.test, &s.body, &s.orelse, stmt)?,
            Stmt::Try(ast::StmtTry {
                body,
                handlers,
                orelse,
                finalbody,
                ..
            })
            | Stmt::TryStar(ast::StmtTryStar {
                body,
                handlers,
                orelse,
                finalbody,
                ..
            }) => {
                let parts = Try {
                    body,
                    handlers,
                    orelse,
                    finalbody,
                };
                self.try_statement(f, &parts, 0, None)?
            }
            Stmt::For(l) => self.for_loop(f, &l.target, &l.iter, &l.body, &l.orelse, stmt)?,
            Stmt::While(w) => {
                let why = self.why_at(f, stmt, "set in a `while` loop");
                self.fork(
                    f,
                    &why,
                    &mut |ev, f| {
                        ev.block(f, &w.body)?;
                        ev.block(f, &w.orelse)
                    },
                    &mut |ev, f| ev.block(f, &w.orelse),
                )?;
            }
            Stmt::With(w) => {
                for item in &w.items {
                    let _ = self.expr(f, &item.context_expr);
                    if let Some(target) = &item.optional_vars {
                        let why = self.why_at(f, stmt, "a `with` target");
                        self.assign(f, target, Traced::computed(Value::Unknown(why)), stmt);
                    }
                }
                self.block(f, &w.body)?;
            }
            Stmt::Delete(d) => {
                for target in &d.targets {
                    match target {
                        Expr::Name(n) => {
                            f.names.remove(n.id.as_str());
                            f.refs.remove(n.id.as_str());
                        }
                        Expr::Subscript(s) => {
                            let base = self.expr(f, &s.value).value;
                            let key = self.expr(f, &s.slice).value;
                            if base == Value::Object(Object::Environ)
                                && let Value::Str(k) = key
                            {
                                self.env.remove(&k);
                            }
                        }
                        _ => {}
                    }
                }
            }
            Stmt::Raise(r) => {
                let name = match r.exc.as_deref() {
                    Some(Expr::Call(c)) => dotted_tail(&c.func),
                    Some(e) => dotted_tail(e),
                    None => None,
                };
                if let Some(e) = name.and_then(Exception::named) {
                    self.raise(e);
                }
            }
            // Calls for their effect: MIDDLEWARE.append(...), env.read_env(...).
            Stmt::Expr(e) => self.effect_call(f, &e.value, stmt),
            _ => {}
        }
        Ok(())
    }

    fn assign(&mut self, f: &mut Frame<'_>, target: &Expr, value: Traced, at: &Stmt) {
        match target {
            Expr::Name(n) => self.bind(f, n.id.as_str(), value, at),
            Expr::Tuple(t) => {
                let items = match &value.value {
                    Value::List(items) if items.len() == t.elts.len() => items.clone(),
                    _ => vec![Value::Unknown("tuple unpacking".into()); t.elts.len()],
                };
                for (elt, item) in t.elts.iter().zip(items) {
                    self.assign(f, elt, Traced::computed(item), at);
                }
            }
            Expr::Subscript(s) => {
                let base = self.expr(f, &s.value);
                let key = self.expr(f, &s.slice).value;
                match (&base.value, &s.value.as_ref()) {
                    (Value::Object(Object::Environ), _) => match (&key, value.value.as_str()) {
                        (Value::Str(k), Some(v)) => self.env.set(k, EnvVar::Set(v.to_owned())),
                        (Value::Str(k), None) => self.env.set(
                            k,
                            EnvVar::Unknown(self.why_at(f, at, "set to an unknown value")),
                        ),
                        _ => self.all_unknown(f, at, "os.environ[...] with an unknown name"),
                    },
                    // globals()["NAME"] = value
                    (Value::Object(Object::Builtin(g)), _) if is_namespace(g) => match key {
                        Value::Str(k) => self.bind(f, &k, value, at),
                        _ => self.all_unknown(f, at, "globals() with an unknown name"),
                    },
                    (Value::Dict(pairs), Expr::Name(n)) => {
                        let changed = dict_method(
                            pairs,
                            "update",
                            &[Value::Dict(vec![(key, value.value)])],
                            &[],
                        )
                        .map_or(
                            Value::Unknown("a dict key that cannot be known".into()),
                            Value::Dict,
                        );
                        self.mutate(f, n.id.as_str(), changed, at);
                    }
                    (Value::List(items), Expr::Name(n)) => {
                        let len = items.len() as i64;
                        let changed = match key {
                            Value::Int(i) if (-len..len).contains(&i) => {
                                let mut items = items.clone();
                                items[(if i < 0 { len + i } else { i }) as usize] = value.value;
                                Value::List(items)
                            }
                            _ => Value::Unknown("a list item assignment".into()),
                        };
                        self.mutate(f, n.id.as_str(), changed, at);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// `globals()` or `setattr(module, …)` with what cannot be known: every name may change.
    fn all_unknown(&mut self, f: &mut Frame<'_>, at: &impl Ranged, what: &str) {
        let why = self.why_at(f, at, what);
        for s in f.names.values_mut() {
            s.value = Value::Unknown(why.clone());
        }
        f.refs.clear();
    }

    fn branch(
        &mut self,
        f: &mut Frame<'_>,
        test: &Expr,
        body: &[Stmt],
        orelse: &[Stmt],
        at: &Stmt,
    ) -> Result<(), SettingsError> {
        let condition = self.expr(f, test);
        match condition.value.truthy() {
            Some(true) => self.block(f, body),
            Some(false) => self.block(f, orelse),
            None => {
                let why = self.why_at(
                    f,
                    at,
                    "set under a condition that cannot be known statically",
                );
                self.fork(f, &why, &mut |ev, f| ev.block(f, body), &mut |ev, f| {
                    ev.block(f, orelse)
                })
            }
        }
    }

    /// `for target in iterable:` over a known list runs the body for each item; over anything
    /// else (or with `break`/`continue`, which certctl does not follow) it may run any number
    /// of times, so what it sets is unknown.
    fn for_loop(
        &mut self,
        f: &mut Frame<'_>,
        target: &Expr,
        iter: &Expr,
        body: &[Stmt],
        orelse: &[Stmt],
        at: &Stmt,
    ) -> Result<(), SettingsError> {
        let items = match self.expr(f, iter).value {
            Value::List(items) => Some(items),
            Value::Dict(pairs) => Some(pairs.into_iter().map(|(k, _)| k).collect()),
            Value::Str(s) => Some(s.chars().map(|c| Value::Str(c.to_string())).collect()),
            _ => None,
        };
        match items.filter(|items| !jumps(body) && items.len() <= 10_000) {
            Some(items) => {
                for item in items {
                    self.assign(f, target, Traced::computed(item), at);
                    self.block(f, body)?;
                    if self.raised.is_some() {
                        return Ok(());
                    }
                }
                self.block(f, orelse)
            }
            None => {
                let why = self.why_at(f, at, "set in a loop certctl cannot follow");
                self.fork(
                    f,
                    &why,
                    &mut |ev, f| {
                        let unknown = Value::Unknown(why.clone());
                        ev.assign(f, target, Traced::computed(unknown), at);
                        ev.block(f, body)?;
                        ev.block(f, orelse)
                    },
                    &mut |ev, f| ev.block(f, orelse),
                )
            }
        }
    }

    /// `try:` from statement `start` of the body: an import that may fail (a module outside
    /// the project) forks into "it imported" (`imports` names that statement) and "the
    /// ImportError handler ran"; an exception raised for certain runs the handler that catches it.
    fn try_statement(
        &mut self,
        f: &mut Frame<'_>,
        t: &Try<'_>,
        start: usize,
        imports: Option<usize>,
    ) -> Result<(), SettingsError> {
        let Try {
            body,
            handlers,
            orelse,
            finalbody,
        } = *t;
        for (i, stmt) in body.iter().enumerate().skip(start) {
            if imports != Some(i)
                && let Some(module) = self.may_fail_import(stmt)
            {
                let why = self.why_at(
                    f,
                    stmt,
                    &format!("set depending on whether `{module}` is installed"),
                );
                return self.fork(
                    f,
                    &why,
                    &mut |ev, f| ev.try_statement(f, t, i, Some(i)),
                    &mut |ev, f| {
                        ev.raised = Some(Exception::ModuleNotFound);
                        ev.handle(f, handlers, finalbody)
                    },
                );
            }
            self.try_depth += 1;
            let done = self.statement(f, stmt);
            self.try_depth -= 1;
            done?;
            if self.raised.is_some() {
                return self.handle(f, handlers, finalbody);
            }
        }
        self.block(f, orelse)?;
        self.finally(f, finalbody)
    }

    /// The raised exception meets the handlers: the first that catches it runs.
    fn handle(
        &mut self,
        f: &mut Frame<'_>,
        handlers: &[ast::ExceptHandler],
        finalbody: &[Stmt],
    ) -> Result<(), SettingsError> {
        let Some(exception) = self.raised else {
            return self.finally(f, finalbody);
        };
        for ast::ExceptHandler::ExceptHandler(h) in handlers {
            let catches = match h.type_.as_deref() {
                None => Some(true),
                Some(Expr::Tuple(t)) => {
                    let each: Vec<Option<bool>> =
                        t.elts.iter().map(|e| catches(e, exception)).collect();
                    if each.contains(&Some(true)) {
                        Some(true)
                    } else if each.contains(&None) {
                        None
                    } else {
                        Some(false)
                    }
                }
                Some(e) => catches(e, exception),
            };
            match catches {
                Some(false) => continue,
                Some(true) => {
                    self.raised = None;
                    if let Some(name) = &h.name {
                        let why = self.why_at(f, h, "the exception");
                        self.bind(f, name.as_str(), Traced::computed(Value::Unknown(why)), h);
                    }
                    self.block(f, &h.body)?;
                    return self.finally(f, finalbody);
                }
                None => {
                    let why = self.why_at(
                        f,
                        h,
                        "set in an `except` clause that may not catch the exception",
                    );
                    self.raised = None;
                    self.fork(f, &why, &mut |ev, f| ev.block(f, &h.body), &mut |_, _| {
                        Ok(())
                    })?;
                    return self.finally(f, finalbody);
                }
            }
        }
        // Nothing catches it: it goes on up, after `finally`.
        self.finally(f, finalbody)
    }

    fn finally(&mut self, f: &mut Frame<'_>, finalbody: &[Stmt]) -> Result<(), SettingsError> {
        let pending = self.raised.take();
        self.block(f, finalbody)?;
        if self.raised.is_none() {
            self.raised = pending;
        }
        Ok(())
    }

    /// The module an import statement names when it is neither in the project nor always
    /// importable: whether it imports depends on what is installed.
    fn may_fail_import(&self, stmt: &Stmt) -> Option<String> {
        let (level, module) = match stmt {
            Stmt::Import(i) => (0, i.names.first()?.name.to_string()),
            Stmt::ImportFrom(i) => (
                i.level.map_or(0, |l| l.to_u32()),
                i.module.as_ref().map_or(String::new(), |m| m.to_string()),
            ),
            _ => return None,
        };
        let top = module.split('.').next().unwrap_or_default();
        let certain = level > 0 || IMPORTABLE.contains(&top) || self.in_project(top);
        (!certain).then_some(module)
    }

    /// Whether `top` is a package or module of the project (next to manage.py).
    fn in_project(&self, top: &str) -> bool {
        !top.is_empty()
            && [
                self.root.join(top).join("__init__.py"),
                self.root.join(format!("{top}.py")),
            ]
            .iter()
            .any(|p| matches!(self.loader.load(p), Ok(Some(_))))
    }

    /// A project module (relative, or under a project package) that does not exist.
    fn missing_project_module(&self, level: usize, module: &str) -> bool {
        let top = module.split('.').next().unwrap_or_default();
        (level > 0 || self.in_project(top))
            && self.resolve_module(&self.root, level, module).is_none()
    }

    fn import_from(
        &mut self,
        f: &mut Frame<'_>,
        i: &ast::StmtImportFrom,
        at: &Stmt,
    ) -> Result<(), SettingsError> {
        let level = i.level.map_or(0, |l| l.to_u32()) as usize;
        let module = i.module.as_ref().map_or("", |m| m.as_str());
        let known = |name: &str| -> Option<Value> {
            Some(match (module, name) {
                ("os", "environ") => Value::Object(Object::Environ),
                ("os", "getenv") => Value::Object(Object::Method(
                    Box::new(Value::Object(Object::Os)),
                    "getenv".into(),
                )),
                ("os", "path") => Value::Object(Object::OsPath),
                ("pathlib", "Path") => Value::Object(Object::PathClass),
                ("environ", "Env") => Value::Object(Object::EnvironModule),
                _ => return None,
            })
        };
        if level == 0 && matches!(module, "os" | "pathlib" | "environ") {
            for alias in &i.names {
                if let Some(value) = known(alias.name.as_str()) {
                    let bound = alias.asname.as_ref().unwrap_or(&alias.name).as_str();
                    self.bind(f, bound, Traced::computed(value), at);
                }
            }
            return Ok(());
        }
        // A module of the project: evaluate it (once) and bring its names in.
        let Some(path) = self.resolve_module(&f.file, level, module) else {
            if self.missing_project_module(level, module) {
                self.raise(Exception::ModuleNotFound);
            }
            return Ok(()); // a third-party module: nothing the settings can be read from
        };
        let (names, refs) = match self.modules.get(&path) {
            Some(done) => done.clone(),
            None if self.depth > 16 || self.files.contains(&path) => return Ok(()), // a cycle
            None => {
                self.depth += 1;
                let evaluated = self.module(&path);
                self.depth -= 1;
                let evaluated = evaluated?;
                self.modules.insert(path.clone(), evaluated.clone());
                evaluated
            }
        };
        let take = |f: &mut Frame<'_>, from: &str, to: &str| {
            if let Some(v) = names.get(from) {
                let mut v = v.clone();
                if let Some(id) = refs.get(from) {
                    v.value = self.heap[*id].clone();
                    f.refs.insert(to.to_owned(), *id);
                } else {
                    f.refs.remove(to);
                }
                f.names.insert(to.to_owned(), v);
            }
        };
        for alias in &i.names {
            let name = alias.name.as_str();
            if name == "*" {
                for k in names.keys().filter(|k| !k.starts_with('_')) {
                    take(f, k, k);
                }
            } else {
                let bound = alias.asname.as_ref().map_or(name, |a| a.as_str());
                take(f, name, bound);
            }
        }
        Ok(())
    }

    /// The file of `from <dots><module> import …`, if it is inside the project and exists.
    fn resolve_module(&self, from: &Path, level: usize, module: &str) -> Option<PathBuf> {
        let mut base = match level {
            0 => self.root.clone(),
            n => {
                let mut dir = from.parent()?.to_owned();
                for _ in 1..n {
                    dir = dir.parent()?.to_owned();
                }
                dir
            }
        };
        for part in module.split('.').filter(|p| !p.is_empty()) {
            base.push(part);
        }
        let file = base.with_extension("py");
        let package = base.join("__init__.py");
        [file, package]
            .into_iter()
            .find(|p| matches!(self.loader.load(p), Ok(Some(_))))
    }

    /// An expression statement: a list or dict method changes the object it is called on;
    /// `os.environ.setdefault`, `read_env`, `globals().update` change the environment or the
    /// names; anything else is evaluated for what it does.
    fn effect_call(&mut self, f: &mut Frame<'_>, e: &Expr, at: &Stmt) {
        if let Expr::Call(call) = e
            && let Expr::Attribute(attr) = &*call.func
            && let Expr::Name(n) = &*attr.value
        {
            let receiver = self.lookup(f, n.id.as_str()).value;
            let method = attr.attr.as_str();
            if matches!(receiver, Value::List(_) | Value::Dict(_)) {
                let args: Vec<Value> = call.args.iter().map(|a| self.expr(f, a).value).collect();
                let kwargs = self.kwargs(f, call);
                let changed = match &receiver {
                    Value::List(items) => match list_method(items, method, &args) {
                        Some(Ok(items)) => Value::List(items),
                        Some(Err(e)) => {
                            self.raise(e);
                            return;
                        }
                        None => Value::Unknown(format!("changed by `.{method}(…)`")),
                    },
                    Value::Dict(pairs) => match method {
                        "get" | "copy" | "keys" | "values" | "items" => return,
                        _ => dict_method(pairs, method, &args, &kwargs).map_or(
                            Value::Unknown(format!("changed by `.{method}(…)`")),
                            Value::Dict,
                        ),
                    },
                    _ => unreachable!(),
                };
                self.mutate(f, n.id.as_str(), changed, at);
                return;
            }
        }
        let _ = self.expr(f, e);
    }

    fn kwargs(&mut self, f: &mut Frame<'_>, call: &ast::ExprCall) -> Vec<(String, Value)> {
        call.keywords
            .iter()
            .filter_map(|k| Some((k.arg.as_ref()?.to_string(), self.expr(f, &k.value).value)))
            .collect()
    }

    fn expr(&mut self, f: &mut Frame<'_>, e: &Expr) -> Traced {
        let literal = |value| Traced {
            value,
            literal: true,
            env_var: None,
            object: None,
        };
        match e {
            Expr::Constant(c) => literal(constant(&c.value)),
            Expr::List(l) => {
                let items: Vec<Traced> = l.elts.iter().map(|x| self.expr(f, x)).collect();
                sequence(items)
            }
            Expr::Tuple(t) => {
                let items: Vec<Traced> = t.elts.iter().map(|x| self.expr(f, x)).collect();
                sequence(items)
            }
            Expr::Set(s) => {
                let items: Vec<Traced> = s.elts.iter().map(|x| self.expr(f, x)).collect();
                sequence(items)
            }
            Expr::Dict(d) => {
                let mut pairs = Vec::new();
                for (k, v) in d.keys.iter().zip(&d.values) {
                    let Some(k) = k else {
                        return Traced::computed(Value::Unknown("a `**` dict merge".into()));
                    };
                    pairs.push((self.expr(f, k).value, self.expr(f, v).value));
                }
                Traced::computed(Value::Dict(pairs))
            }
            Expr::Name(n) => self.lookup(f, n.id.as_str()),
            Expr::BinOp(b) => {
                let left = self.expr(f, &b.left);
                let right = self.expr(f, &b.right);
                Traced {
                    value: binop(&b.op, &left.value, &right.value),
                    literal: left.literal && right.literal,
                    env_var: left.env_var.or(right.env_var),
                    object: None,
                }
            }
            Expr::UnaryOp(u) => {
                let v = self.expr(f, &u.operand).value;
                Traced::computed(match (&u.op, &v) {
                    (ast::UnaryOp::Not, _) => match v.truthy() {
                        Some(t) => Value::Bool(!t),
                        None => v,
                    },
                    (ast::UnaryOp::USub, Value::Int(i)) => Value::Int(-i),
                    (ast::UnaryOp::UAdd, Value::Int(_)) => v,
                    _ => Value::Unknown("a unary operator".into()),
                })
            }
            Expr::BoolOp(b) => {
                // `a or b` is the first truthy operand, `a and b` the first falsy one.
                let want = matches!(b.op, ast::BoolOp::Or);
                let mut last = Traced::computed(Value::None);
                for x in &b.values {
                    last = self.expr(f, x);
                    match last.value.truthy() {
                        Some(t) if t == want => return last,
                        Some(_) => {}
                        None => return last,
                    }
                }
                last
            }
            Expr::Compare(c) => Traced::computed(self.compare(f, c)),
            Expr::IfExp(i) => {
                let test = self.expr(f, &i.test);
                match test.value.truthy() {
                    Some(true) => self.expr(f, &i.body),
                    Some(false) => self.expr(f, &i.orelse),
                    None => test,
                }
            }
            Expr::Attribute(a) => {
                let base = self.expr(f, &a.value);
                Traced::computed(attribute(base.value, a.attr.as_str()))
            }
            Expr::Subscript(s) => {
                let base = self.expr(f, &s.value);
                let key = self.expr(f, &s.slice).value;
                match base.value {
                    Value::Object(Object::Environ) => self.env_item(&key),
                    other => {
                        let value = subscript(&other, &key);
                        if matches!(&other, Value::Dict(pairs) if key.unknown().is_none() && !pairs.iter().any(|(k, _)| *k == key))
                        {
                            self.raise(Exception::KeyError);
                        }
                        Traced::computed(value)
                    }
                }
            }
            Expr::Call(call) => self.call(f, call),
            Expr::JoinedStr(j) => {
                let mut text = String::new();
                for part in &j.values {
                    let piece = match part {
                        Expr::Constant(c) => constant(&c.value).py_str(),
                        Expr::FormattedValue(v)
                            if v.format_spec.is_none()
                                && matches!(
                                    v.conversion,
                                    ast::ConversionFlag::None | ast::ConversionFlag::Str
                                ) =>
                        {
                            self.expr(f, &v.value).value.py_str()
                        }
                        _ => None,
                    };
                    match piece {
                        Some(p) => text.push_str(p.as_str()),
                        None => {
                            return Traced::computed(Value::Unknown(
                                "an f-string of an unknown value".into(),
                            ));
                        }
                    }
                }
                Traced::computed(Value::Str(text))
            }
            _ => Traced::computed(Value::Unknown(
                "an expression certctl does not evaluate".into(),
            )),
        }
    }

    fn compare(&mut self, f: &mut Frame<'_>, c: &ast::ExprCompare) -> Value {
        let mut left = self.expr(f, &c.left).value;
        for (op, right) in c.ops.iter().zip(&c.comparators) {
            let right = self.expr(f, right).value;
            let contains = |container: &Value, item: &Value, env: &Environ| match (container, item)
            {
                (Value::Object(Object::Environ | Object::Env(_)), Value::Str(name)) => {
                    env.contains(name)
                }
                (Value::Object(Object::Environ | Object::Env(_)), _) => None,
                _ => container.contains(item),
            };
            let result = match op {
                ast::CmpOp::Eq => left.equals(&right),
                ast::CmpOp::NotEq => left.equals(&right).map(|b| !b),
                ast::CmpOp::In => contains(&right, &left, &self.env),
                ast::CmpOp::NotIn => contains(&right, &left, &self.env).map(|b| !b),
                ast::CmpOp::Is => left.unknown().or(right.unknown()).map_or(
                    Some(matches!((&left, &right), (Value::None, Value::None)) || left == right),
                    |_| None,
                ),
                ast::CmpOp::IsNot => left
                    .unknown()
                    .or(right.unknown())
                    .map_or(Some(left != right), |_| None),
                _ => match (&left, &right) {
                    (Value::Int(a), Value::Int(b)) => Some(match op {
                        ast::CmpOp::Lt => a < b,
                        ast::CmpOp::LtE => a <= b,
                        ast::CmpOp::Gt => a > b,
                        _ => a >= b,
                    }),
                    _ => None,
                },
            };
            match result {
                Some(true) => left = right,
                Some(false) => return Value::Bool(false),
                None => return Value::Unknown("a comparison with an unknown value".into()),
            }
        }
        Value::Bool(true)
    }

    fn call(&mut self, f: &mut Frame<'_>, call: &ast::ExprCall) -> Traced {
        let func = self.expr(f, &call.func).value;
        let args: Vec<Traced> = call.args.iter().map(|a| self.expr(f, a)).collect();
        let kwargs: Vec<(String, Traced)> = call
            .keywords
            .iter()
            .filter_map(|k| Some((k.arg.as_ref()?.to_string(), self.expr(f, &k.value))))
            .collect();
        let values: Vec<Value> = args.iter().map(|t| t.value.clone()).collect();
        let kw_values: Vec<(String, Value)> = kwargs
            .iter()
            .map(|(k, t)| (k.clone(), t.value.clone()))
            .collect();
        let kw = |name: &str| kwargs.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let arg = |i: usize| args.get(i).map(|t| t.value.clone());
        match func {
            Value::Object(Object::Method(receiver, method)) => {
                let receiver = *receiver;
                match (&receiver, method.as_str()) {
                    (Value::Object(Object::Os), "getenv")
                    | (Value::Object(Object::Environ), "get") => {
                        let default = args.get(1).cloned().or_else(|| kw("default").cloned());
                        let key = arg(0).unwrap_or(Value::None);
                        self.env_get(&key, default.unwrap_or(Traced::computed(Value::None)))
                    }
                    (Value::Object(Object::Environ), "setdefault") => {
                        let key = arg(0).unwrap_or(Value::None);
                        let value = arg(1).unwrap_or(Value::None);
                        match (&key, value.as_str()) {
                            (Value::Str(k), Some(v)) => {
                                self.env.set_default(k, EnvVar::Set(v.to_owned()))
                            }
                            (Value::Str(k), None) if self.env.contains(k) == Some(false) => {
                                let why = format!("{k} was given a value certctl cannot know");
                                self.env.set(k, EnvVar::Unknown(why));
                            }
                            (Value::Str(_), None) => {}
                            _ => self.all_env_unknown(f, call),
                        }
                        self.env_item(&key)
                    }
                    (Value::Object(Object::Environ), "pop") => {
                        let key = arg(0).unwrap_or(Value::None);
                        let value = self.env_get(
                            &key,
                            args.get(1)
                                .cloned()
                                .unwrap_or(Traced::computed(Value::None)),
                        );
                        if let Value::Str(k) = key {
                            self.env.remove(&k);
                        }
                        value
                    }
                    (Value::Object(Object::Environ), "update") => {
                        match arg(0) {
                            Some(Value::Dict(pairs)) => {
                                for (k, v) in pairs {
                                    match (k, v) {
                                        (Value::Str(k), Value::Str(v)) => {
                                            self.env.set(&k, EnvVar::Set(v))
                                        }
                                        _ => self.all_env_unknown(f, call),
                                    }
                                }
                            }
                            _ => self.all_env_unknown(f, call),
                        }
                        Traced::computed(Value::None)
                    }
                    (Value::Object(Object::EnvironModule), "read_env")
                    | (Value::Object(Object::Env(_)), "read_env") => {
                        self.read_env(f, arg(0), &kw_values);
                        Traced::computed(Value::None)
                    }
                    (Value::Object(Object::Env(scheme)), method) => {
                        let scheme = scheme.clone();
                        self.env_call(&scheme, method, &args, &kwargs)
                    }
                    (Value::Object(Object::OsPath), name) => {
                        Traced::computed(os_path(name, &values))
                    }
                    (Value::Path(p), "resolve" | "absolute") => {
                        Traced::computed(Value::Path(p.clone()))
                    }
                    (Value::Path(p), "joinpath") => {
                        let parts: Option<Vec<&str>> = values.iter().map(Value::as_str).collect();
                        Traced::computed(match parts {
                            Some(parts) => {
                                Value::Path(parts.iter().fold(p.clone(), |acc, s| acc.join(s)))
                            }
                            None => Value::Unknown("Path.joinpath() of an unknown value".into()),
                        })
                    }
                    (Value::Str(s), name) => {
                        Traced::computed(str_method(s, name, &values, &kw_values))
                    }
                    (Value::Dict(pairs), "get") => {
                        let key = arg(0).unwrap_or(Value::None);
                        Traced::computed(match key.unknown() {
                            Some(_) => key,
                            None => pairs
                                .iter()
                                .find(|(k, _)| *k == key)
                                .map(|(_, v)| v.clone())
                                .unwrap_or_else(|| arg(1).unwrap_or(Value::None)),
                        })
                    }
                    (Value::List(_) | Value::Dict(_), "copy") => Traced::computed(receiver.clone()),
                    (Value::Unknown(_), _) => Traced::computed(receiver),
                    (Value::Object(Object::Builtin(g)), "update") if is_namespace(g) => {
                        match arg(0) {
                            Some(Value::Dict(pairs))
                                if pairs.iter().all(|(k, _)| k.as_str().is_some()) =>
                            {
                                for (k, v) in pairs {
                                    let name = k.as_str().unwrap_or_default().to_owned();
                                    self.bind(f, &name, Traced::computed(v), call);
                                }
                            }
                            _ => self.all_unknown(
                                f,
                                call,
                                "globals().update() of what certctl cannot know",
                            ),
                        }
                        Traced::computed(Value::None)
                    }
                    _ => Traced::computed(Value::Unknown(format!("a call to `.{method}()`"))),
                }
            }
            Value::Object(Object::EnvironModule) => {
                // environ.Env(DEBUG=(bool, False), …): a reader with per-variable schemes.
                let scheme = kwargs
                    .iter()
                    .map(|(name, t)| match &t.value {
                        Value::List(pair) if pair.len() == 2 => (
                            name.clone(),
                            pair[0].clone(),
                            Some(Box::new(pair[1].clone())),
                        ),
                        other => (name.clone(), other.clone(), None),
                    })
                    .collect();
                Traced::computed(Value::Object(Object::Env(scheme)))
            }
            Value::Object(Object::Env(scheme)) => {
                self.env_call(&scheme, "__call__", &args, &kwargs)
            }
            Value::Object(Object::PathClass) => match arg(0) {
                Some(Value::Str(s)) => Traced::computed(Value::Path(PathBuf::from(s))),
                Some(Value::Path(p)) => Traced::computed(Value::Path(p)),
                _ => Traced::computed(Value::Unknown("a Path of an unknown value".into())),
            },
            Value::Object(Object::Builtin(name)) => match name.as_str() {
                g if is_namespace(g) => Traced::computed(Value::Object(Object::Builtin(name))),
                "setattr" | "exec" => {
                    self.all_unknown(f, call, &format!("{name}() may set any name"));
                    Traced::computed(Value::None)
                }
                "getattr" => Traced::computed(Value::Unknown("getattr()".into())),
                _ => match args.into_iter().next() {
                    Some(t) => {
                        let converted = convert(&name, &t.value);
                        if name == "int"
                            && matches!(&t.value, Value::Str(_))
                            && converted.unknown().is_some()
                        {
                            self.raise(Exception::ValueError);
                        }
                        Traced {
                            value: converted,
                            object: None,
                            ..t
                        }
                    }
                    None => Traced::computed(convert(&name, &Value::List(Vec::new()))),
                },
            },
            Value::Unknown(why) => Traced::computed(Value::Unknown(why)),
            _ => Traced::computed(Value::Unknown("a function call".into())),
        }
    }

    /// `os.environ.update(…)` / `setdefault` with what cannot be known: no variable is certain.
    fn all_env_unknown(&mut self, f: &Frame<'_>, at: &impl Ranged) {
        let why = self.why_at(f, at, "changed by code certctl cannot follow");
        self.forget_env(&why);
    }

    /// Every variable, set so far or not, may now be set, for `why`.
    fn forget_env(&mut self, why: &str) {
        self.env.forget(why);
    }

    /// `os.environ[name]`: the variable, or KeyError.
    fn env_item(&mut self, key: &Value) -> Traced {
        let Value::Str(name) = key else {
            return Traced::computed(Value::Unknown("os.environ[…] with an unknown name".into()));
        };
        let value = match self.env.get(name) {
            Some(Ok(v)) => Value::Str(v.to_owned()),
            Some(Err(why)) => Value::Unknown(format!("{name} is {why}")),
            None => {
                self.raise(Exception::KeyError);
                Value::Unknown(format!(
                    "the environment variable {name} is not set (pass --env-file)"
                ))
            }
        };
        Traced {
            value,
            literal: false,
            env_var: Some(name.clone()),
            object: None,
        }
    }

    /// `os.getenv(name, default)` / `os.environ.get(name, default)`.
    fn env_get(&self, key: &Value, default: Traced) -> Traced {
        let Value::Str(name) = key else {
            return Traced::computed(Value::Unknown("os.getenv with an unknown name".into()));
        };
        match self.env.get(name) {
            Some(Ok(v)) => Traced {
                value: Value::Str(v.to_owned()),
                literal: false,
                env_var: Some(name.clone()),
                object: None,
            },
            Some(Err(why)) => Traced {
                value: Value::Unknown(format!("{name} is {why}")),
                literal: false,
                env_var: Some(name.clone()),
                object: None,
            },
            None => Traced {
                env_var: Some(name.clone()),
                object: None,
                ..default
            },
        }
    }

    /// django-environ: `env("X", default=…)`, `env.bool(…)`, `env.int`, `env.list`, `env.str`, …
    fn env_call(
        &mut self,
        scheme: &[(String, Value, Option<Box<Value>>)],
        method: &str,
        args: &[Traced],
        kwargs: &[(String, Traced)],
    ) -> Traced {
        let kw = |k: &str| kwargs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let name = args.first().cloned().or_else(|| kw("var"));
        let Some(Value::Str(name)) = name.map(|t| t.value) else {
            return Traced::computed(Value::Unknown("env() with an unknown name".into()));
        };
        if method == "__contains__" {
            return Traced::computed(self.env.contains(&name).map_or(
                Value::Unknown(format!("whether {name} is set")),
                Value::Bool,
            ));
        }
        let call_cast = match method {
            "__call__" => kw("cast").map(|c| Cast::of(&c.value)).or_else(|| {
                args.get(1)
                    .filter(|_| kw("default").is_some())
                    .map(|c| Cast::of(&c.value))
            }),
            "list" | "tuple" => match kw("cast").or_else(|| args.get(1).cloned()) {
                Some(c) if c.value != Value::None => {
                    let each = Some(Box::new(Cast::of(&c.value)));
                    Some(if method == "list" {
                        Cast::List(each)
                    } else {
                        Cast::Tuple(each)
                    })
                }
                _ => Cast::of_method(method),
            },
            other => match Cast::of_method(other) {
                Some(cast) => Some(cast),
                None => {
                    return Traced::computed(Value::Unknown(format!("env.{other}()")));
                }
            },
        };
        // env(VAR, cast, default): the default is the third positional argument of a call,
        // the second of a typed method (env.bool(VAR, default)).
        let default_position = match method {
            "__call__" => 2,
            "list" | "tuple" => 2,
            _ => 1,
        };
        let default = kw("default").or_else(|| args.get(default_position).cloned());
        let declared = scheme.iter().find(|(n, _, _)| *n == name);
        let read = environ::Read {
            var: &name,
            cast: call_cast,
            default: default.as_ref().map(|d| d.value.clone()),
            scheme: declared.map(|(_, c, d)| (Cast::of(c), d.as_ref().map(|d| (**d).clone()))),
            parse_default: kw("parse_default").is_some_and(|p| p.value.truthy() == Some(true)),
        };
        let from_env = self.env.contains(&name) != Some(false);
        match environ::get_value(&self.env, read) {
            Ok(value) => Traced {
                literal: !from_env && default.as_ref().is_some_and(|d| d.literal),
                value,
                env_var: Some(name),
                object: None,
            },
            Err(e) => {
                self.raise(e);
                let why = match e {
                    Exception::ImproperlyConfigured => format!(
                        "the environment variable {name} is not set and has no default (pass --env-file)"
                    ),
                    _ => format!("the environment variable {name} cannot be cast (it raises)"),
                };
                Traced {
                    value: Value::Unknown(why),
                    literal: false,
                    env_var: Some(name),
                    object: None,
                }
            }
        }
    }

    /// `environ.Env.read_env(path=None, overwrite=False, **overrides)`: with no path, the
    /// `.env` beside the calling file.
    fn read_env(&mut self, f: &Frame<'_>, path: Option<Value>, kwargs: &[(String, Value)]) {
        let overwrite = kwargs
            .iter()
            .any(|(k, v)| k == "overwrite" && v.truthy() == Some(true));
        let path = match path.or_else(|| {
            kwargs
                .iter()
                .find(|(k, _)| k == "env_file")
                .map(|(_, v)| v.clone())
        }) {
            Some(Value::Str(s)) => PathBuf::from(s),
            Some(Value::Path(p)) => p,
            None => f.file.parent().map(|d| d.join(".env")).unwrap_or_default(),
            Some(_) => {
                let why = format!(
                    "read_env() of a file certctl cannot know ({})",
                    f.file.display()
                );
                match overwrite {
                    true => self.forget_env(&why),
                    // read_env never replaces a variable already set.
                    false => self.env.may_set_unset(&format!("set by {why}")),
                }
                return;
            }
        };
        let overrides: Vec<(String, String)> = kwargs
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "overwrite" | "parse_comments" | "encoding" | "env_file"
                )
            })
            .filter_map(|(k, v)| Some((k.clone(), v.py_str()?)))
            .collect();
        let text = match self.loader.load(&path) {
            Ok(Some(text)) => text,
            _ => String::new(),
        };
        environ::read_env(&mut self.env, &text, overrides, overwrite);
    }
}

/// The last name of `a.b.C` or `C`.
fn dotted_tail(e: &Expr) -> Option<&str> {
    match e {
        Expr::Name(n) => Some(n.id.as_str()),
        Expr::Attribute(a) => Some(a.attr.as_str()),
        _ => None,
    }
}

/// `globals()`, `vars()`, `locals()`: the module's own names at module level.
fn is_namespace(name: &str) -> bool {
    matches!(name, "globals" | "vars" | "locals")
}

/// Whether `except <e>` catches `exception`: None when the name is not one certctl knows.
fn catches(e: &Expr, exception: Exception) -> Option<bool> {
    const OTHERS: &[&str] = &[
        "OSError",
        "IOError",
        "FileNotFoundError",
        "TypeError",
        "AttributeError",
        "NameError",
        "IndexError",
        "LookupError",
        "RuntimeError",
        "PermissionError",
        "UnicodeDecodeError",
        "ImportError",
        "ModuleNotFoundError",
        "KeyError",
        "ValueError",
        "ImproperlyConfigured",
        "Exception",
        "BaseException",
    ];
    let name = dotted_tail(e)?;
    if exception.caught_by().contains(&name) {
        Some(true)
    } else if OTHERS.contains(&name) {
        Some(false)
    } else {
        None
    }
}

/// Whether a loop body has `break` or `continue` of its own (not of a nested loop).
fn jumps(body: &[Stmt]) -> bool {
    body.iter().any(|s| match s {
        Stmt::Break(_) | Stmt::Continue(_) => true,
        Stmt::If(i) => jumps(&i.body) || jumps(&i.orelse),
        Stmt::With(w) => jumps(&w.body),
        Stmt::Try(t) => {
            jumps(&t.body)
                || jumps(&t.orelse)
                || jumps(&t.finalbody)
                || t.handlers
                    .iter()
                    .any(|ast::ExceptHandler::ExceptHandler(h)| jumps(&h.body))
        }
        _ => false,
    })
}

fn sequence(items: Vec<Traced>) -> Traced {
    Traced {
        literal: items.iter().all(|t| t.literal),
        env_var: items.iter().find_map(|t| t.env_var.clone()),
        value: Value::List(items.into_iter().map(|t| t.value).collect()),
        object: None,
    }
}

/// A `--env-file`: `KEY=value` lines, `export` prefixes, quotes and ` #` comments, as systemd's
/// EnvironmentFile and docker's `--env-file` are usually written. (A `.env` the project reads
/// itself with django-environ's `read_env` is parsed by [`environ::parse_dotenv`], its rules.)
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..]
                .find(q)
                .map_or(&value[1..], |end| &value[1..=end]),
            _ => value.split(" #").next().unwrap_or(value).trim(),
        };
        out.push((key.trim().to_owned(), value.to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Files(Vec<(&'static str, &'static str)>);

    impl Loader for Files {
        fn load(&self, path: &Path) -> Result<Option<String>, String> {
            Ok(self
                .0
                .iter()
                .find(|(p, _)| Path::new(p) == path)
                .map(|(_, t)| t.to_string()))
        }
    }

    fn eval(files: Vec<(&'static str, &'static str)>, env: &[(&str, &str)]) -> Settings {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let entry = PathBuf::from(files[0].0);
        evaluate(Path::new("/p"), &entry, &env, &Files(files)).unwrap()
    }

    fn value<'s>(s: &'s Settings, name: &str) -> &'s Value {
        &s.get(name)
            .unwrap_or_else(|| panic!("{name} not set"))
            .value
    }

    #[test]
    fn literals_names_and_concatenation() {
        let s = eval(
            vec![(
                "/p/site/settings.py",
                "DEBUG = False\nHOSTS = ['a.test']\nALLOWED_HOSTS = HOSTS + ['b.test']\nX = 'ab' + 'cd'\nSECURE_HSTS_SECONDS = 60 * 60 * 24 * 365\nlower = 1\n",
            )],
            &[],
        );
        assert_eq!(value(&s, "DEBUG"), &Value::Bool(false));
        assert_eq!(
            value(&s, "ALLOWED_HOSTS"),
            &Value::List(vec![
                Value::Str("a.test".into()),
                Value::Str("b.test".into())
            ])
        );
        assert_eq!(value(&s, "X"), &Value::Str("abcd".into()));
        assert_eq!(value(&s, "SECURE_HSTS_SECONDS"), &Value::Int(31_536_000));
        assert!(
            s.get("lower").is_none(),
            "only upper-case names are settings"
        );
        let origin = &s.get("ALLOWED_HOSTS").unwrap().origin;
        assert_eq!(origin.line, 3);
        assert!(s.get("X").unwrap().origin.literal);
    }

    #[test]
    fn star_imports_and_overrides_follow_the_files() {
        let s = eval(
            vec![
                (
                    "/p/config/settings/production.py",
                    "from .base import *  # noqa\nDEBUG = False\nMIDDLEWARE.insert(0, 'x.First')\nINSTALLED_APPS += ['prod']\n",
                ),
                (
                    "/p/config/settings/base.py",
                    "DEBUG = True\nMIDDLEWARE = ['a', 'b']\nINSTALLED_APPS = ['django.contrib.sessions']\n_private = 1\n",
                ),
            ],
            &[],
        );
        assert_eq!(value(&s, "DEBUG"), &Value::Bool(false));
        assert_eq!(
            value(&s, "MIDDLEWARE"),
            &Value::List(vec![
                Value::Str("x.First".into()),
                Value::Str("a".into()),
                Value::Str("b".into())
            ])
        );
        assert_eq!(
            value(&s, "INSTALLED_APPS"),
            &Value::List(vec![
                Value::Str("django.contrib.sessions".into()),
                Value::Str("prod".into())
            ])
        );
        assert_eq!(s.files.len(), 2);
        assert_eq!(
            s.get("DEBUG").unwrap().origin.file,
            Path::new("/p/config/settings/production.py")
        );
    }

    #[test]
    fn os_environ_and_getenv_with_defaults() {
        let src = "import os\nSECRET_KEY = os.environ['SECRET']\nDEBUG = os.environ.get('DEBUG', 'False') == 'True'\nALLOWED_HOSTS = os.getenv('HOSTS', 'a.test').split(',')\nSECURE_SSL_REDIRECT = os.getenv('SSL', '1') == '1'\n";
        let s = eval(
            vec![("/p/s.py", src)],
            &[("SECRET", "k"), ("DEBUG", "True")],
        );
        assert_eq!(value(&s, "SECRET_KEY"), &Value::Str("k".into()));
        assert_eq!(
            s.get("SECRET_KEY").unwrap().origin.env_var.as_deref(),
            Some("SECRET")
        );
        assert_eq!(value(&s, "DEBUG"), &Value::Bool(true));
        assert_eq!(
            value(&s, "ALLOWED_HOSTS"),
            &Value::List(vec![Value::Str("a.test".into())])
        );
        assert_eq!(value(&s, "SECURE_SSL_REDIRECT"), &Value::Bool(true));

        let unset = eval(vec![("/p/s.py", src)], &[]);
        let why = value(&unset, "SECRET_KEY").unknown().unwrap();
        assert!(why.contains("SECRET is not set"), "{why}");
        assert_eq!(value(&unset, "DEBUG"), &Value::Bool(false));
    }

    #[test]
    fn django_environ_casts_defaults_and_schemes() {
        let src = r#"
import environ
from pathlib import Path
BASE_DIR = Path(__file__).resolve().parent
env = environ.Env(DEBUG=(bool, False))
environ.Env.read_env(BASE_DIR / ".env")
DEBUG = env("DEBUG")
SECRET_KEY = env("DJANGO_SECRET_KEY", default="django-insecure-abc")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["example.com"])
SECURE_HSTS_SECONDS = env.int("HSTS", default=60)
SESSION_COOKIE_SECURE = env.bool("COOKIE_SECURE", default=True)
"#;
        let s = eval(
            vec![
                ("/p/config/settings.py", src),
                (
                    "/p/config/.env",
                    "DEBUG=on\nHSTS=31536000\nexport DJANGO_ALLOWED_HOSTS=a.test,b.test # hosts\n",
                ),
            ],
            &[("COOKIE_SECURE", "no")],
        );
        assert_eq!(
            value(&s, "DEBUG"),
            &Value::Bool(true),
            "read_env + scheme cast"
        );
        assert_eq!(value(&s, "SECURE_HSTS_SECONDS"), &Value::Int(31_536_000));
        // read_env keeps what follows `#` (django-environ's parse_comments=False).
        assert_eq!(
            value(&s, "ALLOWED_HOSTS"),
            &Value::List(vec![
                Value::Str("a.test".into()),
                Value::Str("b.test # hosts".into())
            ])
        );
        assert_eq!(value(&s, "SESSION_COOKIE_SECURE"), &Value::Bool(false));
        let key = s.get("SECRET_KEY").unwrap();
        assert_eq!(key.value, Value::Str("django-insecure-abc".into()));
        assert!(key.origin.literal, "the default literal is in effect");
        assert_eq!(key.origin.env_var.as_deref(), Some("DJANGO_SECRET_KEY"));
    }

    #[test]
    fn unknown_conditions_make_differing_names_unknown() {
        let src = "import os\nDEBUG = False\nif os.environ.get('X') == os.environ.get('Y', 'z') + os.environ['Q']:\n    DEBUG = True\n    A = 1\nelse:\n    A = 1\nif DEBUG is False:\n    B = 2\n";
        let s = eval(vec![("/p/s.py", src)], &[]);
        assert!(value(&s, "DEBUG").unknown().is_some());
        assert_eq!(value(&s, "A"), &Value::Int(1), "the same in both branches");
        assert!(
            value(&s, "B").unknown().is_some(),
            "DEBUG is unknown, so whether B is set is too"
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = evaluate(
            Path::new("/p"),
            Path::new("/p/s.py"),
            &HashMap::new(),
            &Files(vec![("/p/s.py", "DEBUG = True\nALLOWED_HOSTS = [\n")]),
        )
        .unwrap_err();
        assert!(
            matches!(err, SettingsError::Syntax { line: 2..=3, .. }),
            "{err}"
        );
    }

    #[test]
    fn env_files_parse_like_django_environ() {
        let parsed = parse_env_file(
            "# c\nA=1\nexport B='two words'\nC=\"q#x\" # note\nD=plain # comment\n\nbad line\n",
        );
        assert_eq!(
            parsed,
            [
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "q#x".into()),
                ("D".into(), "plain".into())
            ]
        );
    }

    fn strs(items: &[&str]) -> Value {
        Value::List(items.iter().map(|s| Value::Str(s.to_string())).collect())
    }

    #[test]
    fn read_env_runs_only_when_the_project_calls_it_and_never_overrides() {
        // cookiecutter-django: .env is read only when DJANGO_READ_DOT_ENV_FILE is true.
        let src = r#"
import environ
from pathlib import Path
BASE_DIR = Path(__file__).resolve().parent
env = environ.Env()
READ_DOT_ENV_FILE = env.bool("DJANGO_READ_DOT_ENV_FILE", default=False)
if READ_DOT_ENV_FILE:
    env.read_env(str(BASE_DIR / ".env"))
DEBUG = env.bool("DJANGO_DEBUG", False)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
"#;
        let files = || {
            vec![
                ("/p/config/settings.py", src),
                (
                    "/p/config/.env",
                    "DJANGO_DEBUG=True\nDJANGO_SECURE_SSL_REDIRECT=False\n",
                ),
            ]
        };
        let off = eval(files(), &[]);
        assert_eq!(value(&off, "DEBUG"), &Value::Bool(false), ".env not read");
        let on = eval(files(), &[("DJANGO_READ_DOT_ENV_FILE", "yes")]);
        assert_eq!(value(&on, "DEBUG"), &Value::Bool(true));
        assert_eq!(value(&on, "SECURE_SSL_REDIRECT"), &Value::Bool(false));
        // The process environment wins over the file.
        let both = eval(
            files(),
            &[("DJANGO_READ_DOT_ENV_FILE", "1"), ("DJANGO_DEBUG", "0")],
        );
        assert_eq!(value(&both, "DEBUG"), &Value::Bool(false));
        // Unknown switch: the file's variables are unknown, not guessed either way.
        let unknown = eval(
            vec![
                (
                    "/p/config/settings.py",
                    "import environ, os\nenv = environ.Env()\nif os.environ.get('A') == os.environ['Q']:\n    env.read_env()\nDEBUG = env.bool('DJANGO_DEBUG', False)\n",
                ),
                ("/p/config/.env", "DJANGO_DEBUG=on\n"),
            ],
            &[("A", "1")],
        );
        assert!(value(&unknown, "DEBUG").unknown().is_some());
    }

    #[test]
    fn os_environ_membership_setdefault_and_assignment() {
        let src = "import os\nos.environ.setdefault('MODE', 'prod')\nos.environ['FORCED'] = 'x'\nDEBUG = 'DEV' in os.environ\nA = os.environ['MODE']\nB = os.environ.get('FORCED')\nC = 'MODE' not in os.environ\n";
        let s = eval(vec![("/p/s.py", src)], &[("DEV", "")]);
        assert_eq!(value(&s, "DEBUG"), &Value::Bool(true));
        assert_eq!(value(&s, "A"), &Value::Str("prod".into()));
        assert_eq!(value(&s, "B"), &Value::Str("x".into()));
        assert_eq!(value(&s, "C"), &Value::Bool(false));
        let s = eval(vec![("/p/s.py", src)], &[("MODE", "dev")]);
        assert_eq!(value(&s, "DEBUG"), &Value::Bool(false));
        assert_eq!(
            value(&s, "A"),
            &Value::Str("dev".into()),
            "setdefault keeps it"
        );
    }

    #[test]
    fn try_except_takes_the_path_python_takes() {
        let base = ("/p/site/base.py", "DEBUG = True\n");
        let src = "from .base import *\ntry:\n    from .local import *\nexcept ImportError:\n    DEBUG = False\n";
        // No local.py: the import fails for certain and the handler runs.
        let s = eval(vec![("/p/site/settings.py", src), base], &[]);
        assert_eq!(value(&s, "DEBUG"), &Value::Bool(false));
        // local.py present: it imports and the handler does not run.
        let s = eval(
            vec![
                ("/p/site/settings.py", src),
                base,
                ("/p/site/local.py", "X = 1\n"),
            ],
            &[],
        );
        assert_eq!(value(&s, "DEBUG"), &Value::Bool(true));
        // A module outside the project may or may not be installed.
        let s = eval(
            vec![(
                "/p/s.py",
                "DEBUG = False\ntry:\n    import debug_toolbar\n    DEBUG = True\nexcept ImportError:\n    pass\nX = 1\n",
            )],
            &[],
        );
        assert!(
            value(&s, "DEBUG")
                .unknown()
                .unwrap()
                .contains("debug_toolbar")
        );
        assert_eq!(value(&s, "X"), &Value::Int(1));
        // An unset variable raises KeyError; else and finally run as Python runs them.
        let s = eval(
            vec![(
                "/p/s.py",
                "import os\ntry:\n    SECRET_KEY = os.environ['KEY']\n    A = 1\nexcept KeyError:\n    SECRET_KEY = 'fallback'\n    A = 2\nelse:\n    A = 3\nfinally:\n    B = 4\n",
            )],
            &[],
        );
        assert_eq!(value(&s, "SECRET_KEY"), &Value::Str("fallback".into()));
        assert_eq!(value(&s, "A"), &Value::Int(2));
        assert_eq!(value(&s, "B"), &Value::Int(4));
    }

    #[test]
    fn loops_string_and_list_methods_follow_python() {
        let src = r#"
HOSTS = "a.test b.test c.test"
ALLOWED_HOSTS = []
for h in HOSTS.split(" ", 1):
    ALLOWED_HOSTS.append(h)
MIDDLEWARE = ["a", "b", "c"]
MIDDLEWARE.insert(-1, "x")
MIDDLEWARE.remove("a")
PARTS = "k=v=w".rsplit("=", 1)
URL = f"https://{ALLOWED_HOSTS[0]}/"
NAME = "%s-%d" % ("site", 2)
FMT = "{}://{host}".format("https", host="a.test")
"#;
        let s = eval(vec![("/p/s.py", src)], &[]);
        assert_eq!(
            value(&s, "ALLOWED_HOSTS"),
            &strs(&["a.test", "b.test c.test"])
        );
        assert_eq!(value(&s, "MIDDLEWARE"), &strs(&["b", "x", "c"]));
        assert_eq!(value(&s, "PARTS"), &strs(&["k=v", "w"]));
        assert_eq!(value(&s, "URL"), &Value::Str("https://a.test/".into()));
        assert_eq!(value(&s, "NAME"), &Value::Str("site-2".into()));
        assert_eq!(value(&s, "FMT"), &Value::Str("https://a.test".into()));
        // A loop over what cannot be known leaves what it changes unknown.
        let s = eval(
            vec![(
                "/p/s.py",
                "import os\nMIDDLEWARE = ['a']\nfor m in os.environ.get('EXTRA', '').split(','):\n    MIDDLEWARE.append(m)\n",
            )],
            &[],
        );
        assert_eq!(
            value(&s, "MIDDLEWARE"),
            &strs(&["a", ""]),
            "''.split(',') is ['']"
        );
    }

    #[test]
    fn a_list_mutated_by_a_later_module_is_the_same_list() {
        // settings.py imports base, then security, which mutates base's MIDDLEWARE: in Python
        // every module holds the one list.
        let s = eval(
            vec![
                (
                    "/p/site/settings.py",
                    "from .base import *\nfrom .security import *\n",
                ),
                (
                    "/p/site/base.py",
                    "MIDDLEWARE = ['a']\nINSTALLED_APPS = ['x']\n",
                ),
                (
                    "/p/site/security.py",
                    "from .base import MIDDLEWARE, INSTALLED_APPS\nMIDDLEWARE.insert(0, 'django.middleware.security.SecurityMiddleware')\nINSTALLED_APPS += ['y']\n",
                ),
            ],
            &[],
        );
        assert_eq!(
            value(&s, "MIDDLEWARE"),
            &strs(&["django.middleware.security.SecurityMiddleware", "a"])
        );
        assert_eq!(value(&s, "INSTALLED_APPS"), &strs(&["x", "y"]));
        // `X = X + [...]` makes a new list: the module that imported X first keeps the old one.
        let s = eval(
            vec![
                (
                    "/p/site/settings.py",
                    "from .base import *\nfrom .other import Y\n",
                ),
                ("/p/site/base.py", "MIDDLEWARE = ['a']\n"),
                (
                    "/p/site/other.py",
                    "from .base import MIDDLEWARE\nMIDDLEWARE = MIDDLEWARE + ['b']\nY = 1\n",
                ),
            ],
            &[],
        );
        assert_eq!(value(&s, "MIDDLEWARE"), &strs(&["a"]));
    }

    #[test]
    fn globals_and_exec_make_names_unknown() {
        let s = eval(
            vec![(
                "/p/s.py",
                "import os\nDEBUG = False\nglobals()['SECURE_SSL_REDIRECT'] = True\nglobals().update(os.environ.get('X'))\nLATER = 1\n",
            )],
            &[],
        );
        assert!(value(&s, "DEBUG").unknown().is_some());
        assert!(value(&s, "SECURE_SSL_REDIRECT").unknown().is_some());
        assert_eq!(value(&s, "LATER"), &Value::Int(1));
    }

    /// After `os.environ.update(<unknown>)` any variable may be set, not only the ones set
    /// before; after `read_env(<unknown file>)` (which never overwrites) the set ones stay and
    /// any unset one may be set; `del` makes one certain again.
    #[test]
    fn unknown_environment_updates_leave_unset_variables_unknown() {
        let s = eval(
            vec![(
                "/p/site/settings.py",
                "import os\nos.environ.update(load_secrets())\nDEBUG = 'DJANGO_DEBUG' in os.environ\nA = os.environ.get('HOST', 'x')\ndel os.environ['GONE']\nB = 'GONE' in os.environ\n",
            )],
            &[("KEPT", "1")],
        );
        assert!(
            matches!(value(&s, "DEBUG"), Value::Unknown(_)),
            "{:?}",
            value(&s, "DEBUG")
        );
        assert!(matches!(value(&s, "A"), Value::Unknown(_)));
        assert_eq!(value(&s, "B"), &Value::Bool(false));

        let s = eval(
            vec![(
                "/p/site/settings.py",
                "import environ, os\nenv = environ.Env()\nenv.read_env(os.environ.get('ENV_FILE_PATH_SET_BY_DEPLOY', find()))\nKEPT = os.environ['KEPT']\nDEBUG = env.bool('DJANGO_DEBUG', default=False)\n",
            )],
            &[("KEPT", "1")],
        );
        assert_eq!(value(&s, "KEPT"), &Value::Str("1".into()));
        assert!(
            matches!(value(&s, "DEBUG"), Value::Unknown(_)),
            "{:?}",
            value(&s, "DEBUG")
        );
    }
}
