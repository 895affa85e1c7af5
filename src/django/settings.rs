//! Static evaluation of a Django settings module: parse it with a real Python parser
//! (rustpython-parser), then run the small subset of Python that settings files use (literals,
//! names, `+`, `os.environ`/`os.getenv`, django-environ's `env(...)`, `from .base import *`,
//! `if` on known values, list appends) and record, for every name, its value and where it came
//! from. Anything else is [`Value::Unknown`] with the reason; nothing is guessed.
//!
//! Pure: files come through a [`Loader`], the environment as a map.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rustpython_parser::ast::{self, Constant, Expr, Ranged, Stmt};
use serde::Serialize;

/// A Python value, as far as it can be known without running Python.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// None.
    None,
    /// True / False.
    Bool(bool),
    /// An int.
    Int(i64),
    /// A float.
    Float(f64),
    /// A str.
    Str(String),
    /// A list or tuple.
    List(Vec<Value>),
    /// A dict.
    Dict(Vec<(Value, Value)>),
    /// A filesystem path (`pathlib.Path` or an `os.path` result).
    Path(PathBuf),
    /// A module or object the evaluator knows by name (`os`, `os.environ`, an `environ.Env`).
    #[serde(skip)]
    Object(Object),
    /// Not knowable statically; says why.
    Unknown(String),
}

/// Objects with behaviour the evaluator models.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    /// The `os` module.
    Os,
    /// `os.path`.
    OsPath,
    /// `os.environ`.
    Environ,
    /// The `environ` (django-environ) module, or its `Env` class.
    EnvironModule,
    /// An `environ.Env(...)` instance, with its per-variable (cast, default) scheme.
    Env(Vec<(String, String, Option<Box<Value>>)>),
    /// `pathlib.Path`.
    PathClass,
    /// A bound method or function: (receiver, name).
    Method(Box<Value>, String),
    /// A builtin conversion: `bool`, `int`, `float`, `str`, `list`, `tuple`.
    Builtin(String),
}

impl Value {
    /// Python truthiness; None when unknown.
    pub fn truthy(&self) -> Option<bool> {
        Some(match self {
            Value::None => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(v) => !v.is_empty(),
            Value::Dict(v) => !v.is_empty(),
            Value::Path(_) | Value::Object(_) => true,
            Value::Unknown(_) => return None,
        })
    }

    /// The reason, when unknown.
    pub fn unknown(&self) -> Option<&str> {
        match self {
            Value::Unknown(why) => Some(why),
            _ => None,
        }
    }

    /// The string, when it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Python `x in self` for lists, tuples, dict keys and substrings; None when unknown.
    pub fn contains(&self, item: &Value) -> Option<bool> {
        match (self, item) {
            (Value::Unknown(_), _) | (_, Value::Unknown(_)) => None,
            (Value::List(items), _) => {
                let mut unknown = false;
                for v in items {
                    match v.equals(item) {
                        Some(true) => return Some(true),
                        None => unknown = true,
                        Some(false) => {}
                    }
                }
                (!unknown).then_some(false)
            }
            (Value::Dict(pairs), _) => Some(pairs.iter().any(|(k, _)| k == item)),
            (Value::Str(s), Value::Str(sub)) => Some(s.contains(sub.as_str())),
            _ => Some(false),
        }
    }

    /// Python `==`; None when unknown.
    pub fn equals(&self, other: &Value) -> Option<bool> {
        match (self, other) {
            (Value::Unknown(_), _) | (_, Value::Unknown(_)) => None,
            (Value::Int(a), Value::Float(b)) | (Value::Float(b), Value::Int(a)) => {
                Some(*a as f64 == *b)
            }
            (Value::Bool(a), Value::Int(b)) | (Value::Int(b), Value::Bool(a)) => {
                Some(i64::from(*a) == *b)
            }
            _ => Some(self == other),
        }
    }

    /// How Python would show it, shortened for reports.
    pub fn display(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(b) => if *b { "True" } else { "False" }.into(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str(s) => format!("{s:?}"),
            Value::List(v) => format!(
                "[{}]",
                v.iter().map(Value::display).collect::<Vec<_>>().join(", ")
            ),
            Value::Dict(_) => "{…}".into(),
            Value::Path(p) => format!("Path({:?})", p.display().to_string()),
            Value::Object(_) => "<object>".into(),
            Value::Unknown(why) => format!("unknown ({why})"),
        }
    }
}

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
}

impl Traced {
    fn computed(value: Value) -> Self {
        Traced {
            value,
            literal: false,
            env_var: None,
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
        env: env.clone(),
        loader,
        files: Vec::new(),
        depth: 0,
    };
    let names = eval.module(file)?;
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

struct Evaluator<'l> {
    root: PathBuf,
    env: HashMap<String, String>,
    loader: &'l dyn Loader,
    files: Vec<PathBuf>,
    depth: usize,
}

/// One module's evaluation: its names and where it is.
struct Frame<'t> {
    file: PathBuf,
    text: &'t str,
    names: Names,
}

impl Frame<'_> {
    fn set(&mut self, name: &str, traced: Traced, at: &impl Ranged) {
        let origin = Origin {
            file: self.file.clone(),
            line: line_of(self.text, at.start().to_usize()),
            literal: traced.literal,
            env_var: traced.env_var,
        };
        self.names.insert(
            name.to_owned(),
            Setting {
                value: traced.value,
                origin,
            },
        );
    }

    fn lookup(&self, name: &str) -> Traced {
        match self.names.get(name) {
            Some(s) => Traced {
                value: s.value.clone(),
                literal: s.origin.literal,
                env_var: s.origin.env_var.clone(),
            },
            None => Traced::computed(builtin(name)),
        }
    }
}

fn builtin(name: &str) -> Value {
    match name {
        "True" => Value::Bool(true),
        "False" => Value::Bool(false),
        "None" => Value::None,
        "bool" | "int" | "float" | "str" | "list" | "tuple" => {
            Value::Object(Object::Builtin(name.to_owned()))
        }
        _ => Value::Unknown(format!("`{name}` is not defined in the settings")),
    }
}

impl Evaluator<'_> {
    fn module(&mut self, file: &Path) -> Result<Names, SettingsError> {
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
        Ok(frame.names)
    }

    fn block(&mut self, f: &mut Frame<'_>, body: &[Stmt]) -> Result<(), SettingsError> {
        for stmt in body {
            self.statement(f, stmt)?;
        }
        Ok(())
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
                    let left = f.lookup(n.id.as_str());
                    let right = self.expr(f, &a.value);
                    let value = binop(&a.op, &left.value, &right.value);
                    f.set(n.id.as_str(), Traced::computed(value), stmt);
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
                        _ => continue,
                    };
                    let bound = bound.split('.').next().unwrap_or(bound);
                    f.set(bound, Traced::computed(value), stmt);
                }
            }
            Stmt::ImportFrom(i) => self.import_from(f, i, stmt)?,
            Stmt::If(s) => self.branch(f, &s.test, &s.body, &s.orelse, stmt)?,
            Stmt::Try(t) => {
                self.block(f, &t.body)?;
                self.block(f, &t.orelse)?;
                self.block(f, &t.finalbody)?;
            }
            // Calls for their effect: MIDDLEWARE.append(...), env.read_env(...).
            Stmt::Expr(e) => self.effect_call(f, &e.value, stmt),
            _ => {}
        }
        Ok(())
    }

    fn assign(&mut self, f: &mut Frame<'_>, target: &Expr, value: Traced, at: &Stmt) {
        match target {
            Expr::Name(n) => f.set(n.id.as_str(), value, at),
            Expr::Tuple(t) => {
                let items = match &value.value {
                    Value::List(items) if items.len() == t.elts.len() => items.clone(),
                    _ => vec![Value::Unknown("tuple unpacking".into()); t.elts.len()],
                };
                for (elt, item) in t.elts.iter().zip(items) {
                    self.assign(f, elt, Traced::computed(item), at);
                }
            }
            // DATABASES["default"] = …: a key of a dict, not a security setting.
            _ => {}
        }
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
                // Either branch may run: a name the branches leave different is unknown.
                let line = line_of(f.text, at.start().to_usize());
                let why = format!(
                    "set under a condition that cannot be known statically ({}:{line})",
                    f.file.display()
                );
                let before = f.names.clone();
                self.block(f, body)?;
                let taken = std::mem::replace(&mut f.names, before);
                self.block(f, orelse)?;
                let names: Vec<String> = taken.keys().chain(f.names.keys()).cloned().collect();
                for name in names {
                    let (a, b) = (taken.get(&name), f.names.get(&name));
                    if a.map(|s| &s.value) != b.map(|s| &s.value) {
                        let origin = a.or(b).map(|s| s.origin.clone()).unwrap();
                        f.names.insert(
                            name,
                            Setting {
                                value: Value::Unknown(why.clone()),
                                origin,
                            },
                        );
                    }
                }
                Ok(())
            }
        }
    }

    fn import_from(
        &mut self,
        f: &mut Frame<'_>,
        i: &ast::StmtImportFrom,
        at: &Stmt,
    ) -> Result<(), SettingsError> {
        let level = i.level.map_or(0, |l| l.to_u32()) as usize;
        let module = i.module.as_ref().map_or("", |m| m.as_str());
        match (level, module) {
            (0, "os") => {
                for alias in &i.names {
                    let bound = alias.asname.as_ref().unwrap_or(&alias.name).as_str();
                    let value = match alias.name.as_str() {
                        "environ" => Value::Object(Object::Environ),
                        "getenv" => Value::Object(Object::Method(
                            Box::new(Value::Object(Object::Os)),
                            "getenv".into(),
                        )),
                        "path" => Value::Object(Object::OsPath),
                        _ => continue,
                    };
                    f.set(bound, Traced::computed(value), at);
                }
                return Ok(());
            }
            (0, "pathlib") => {
                for alias in &i.names {
                    if alias.name.as_str() == "Path" {
                        let bound = alias.asname.as_ref().unwrap_or(&alias.name).as_str();
                        f.set(
                            bound,
                            Traced::computed(Value::Object(Object::PathClass)),
                            at,
                        );
                    }
                }
                return Ok(());
            }
            (0, "environ") => {
                for alias in &i.names {
                    if alias.name.as_str() == "Env" {
                        let bound = alias.asname.as_ref().unwrap_or(&alias.name).as_str();
                        let value = Value::Object(Object::EnvironModule);
                        f.set(bound, Traced::computed(value), at);
                    }
                }
                return Ok(());
            }
            _ => {}
        }
        // A module of the project: evaluate it and bring its names in.
        let Some(path) = self.resolve(&f.file, level, module) else {
            return Ok(()); // a third-party module: nothing the settings can be read from
        };
        if self.depth > 16 || self.files.contains(&path) {
            return Ok(());
        }
        self.depth += 1;
        let names = self.module(&path);
        self.depth -= 1;
        let names = names?;
        for alias in &i.names {
            let name = alias.name.as_str();
            if name == "*" {
                for (k, v) in names.iter().filter(|(k, _)| !k.starts_with('_')) {
                    f.names.insert(k.clone(), v.clone());
                }
            } else if let Some(v) = names.get(name) {
                let bound = alias.asname.as_ref().map_or(name, |a| a.as_str());
                f.names.insert(bound.to_owned(), v.clone());
            }
        }
        Ok(())
    }

    /// The file of `from <dots><module> import …`, if it is inside the project and exists.
    fn resolve(&self, from: &Path, level: usize, module: &str) -> Option<PathBuf> {
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

    /// An expression statement: a list method changes the list it is called on; anything else
    /// is evaluated for what it does (`read_env`).
    fn effect_call(&mut self, f: &mut Frame<'_>, e: &Expr, at: &Stmt) {
        if let Expr::Call(call) = e
            && let Expr::Attribute(attr) = &*call.func
            && let Expr::Name(n) = &*attr.value
            && let Value::List(mut items) = f.lookup(n.id.as_str()).value
        {
            let method = attr.attr.as_str();
            let args: Vec<Value> = call.args.iter().map(|a| self.expr(f, a).value).collect();
            let changed = match (method, args.as_slice()) {
                ("append", [v]) => {
                    items.push(v.clone());
                    true
                }
                ("insert", [Value::Int(i), v]) => {
                    let at = usize::try_from(*i).unwrap_or(0).min(items.len());
                    items.insert(at, v.clone());
                    true
                }
                ("extend", [Value::List(more)]) => {
                    items.extend(more.iter().cloned());
                    true
                }
                ("remove", [v]) => {
                    items.retain(|x| x != v);
                    true
                }
                _ => false,
            };
            let value = match changed {
                true => Value::List(items),
                false => Value::Unknown(format!("changed by `.{method}(…)`")),
            };
            f.set(n.id.as_str(), Traced::computed(value), at);
            return;
        }
        let _ = self.expr(f, e);
    }

    fn expr(&mut self, f: &mut Frame<'_>, e: &Expr) -> Traced {
        let literal = |value| Traced {
            value,
            literal: true,
            env_var: None,
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
            Expr::Name(n) => f.lookup(n.id.as_str()),
            Expr::BinOp(b) => {
                let left = self.expr(f, &b.left);
                let right = self.expr(f, &b.right);
                Traced {
                    value: binop(&b.op, &left.value, &right.value),
                    literal: left.literal && right.literal,
                    env_var: left.env_var.or(right.env_var),
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
                    Value::Object(Object::Environ) => self.env_lookup(&key, None, "os.environ[…]"),
                    other => Traced::computed(subscript(&other, &key)),
                }
            }
            Expr::Call(call) => self.call(f, call),
            Expr::JoinedStr(_) => Traced::computed(Value::Unknown("an f-string".into())),
            _ => Traced::computed(Value::Unknown(
                "an expression certctl does not evaluate".into(),
            )),
        }
    }

    fn compare(&mut self, f: &mut Frame<'_>, c: &ast::ExprCompare) -> Value {
        let mut left = self.expr(f, &c.left).value;
        for (op, right) in c.ops.iter().zip(&c.comparators) {
            let right = self.expr(f, right).value;
            let result = match op {
                ast::CmpOp::Eq => left.equals(&right),
                ast::CmpOp::NotEq => left.equals(&right).map(|b| !b),
                ast::CmpOp::In => right.contains(&left),
                ast::CmpOp::NotIn => right.contains(&left).map(|b| !b),
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
                        self.env_lookup(
                            &key,
                            Some(default.unwrap_or(Traced::computed(Value::None))),
                            "os.getenv",
                        )
                    }
                    (Value::Object(Object::EnvironModule), "read_env")
                    | (Value::Object(Object::Env(_)), "read_env") => {
                        self.read_env(arg(0));
                        Traced::computed(Value::None)
                    }
                    (Value::Object(Object::Env(scheme)), cast) => {
                        let scheme = scheme.clone();
                        self.env_call(&scheme, cast, &args, &kwargs)
                    }
                    (Value::Object(Object::OsPath), name) => {
                        let values: Vec<Value> = args.iter().map(|t| t.value.clone()).collect();
                        Traced::computed(os_path(name, &values))
                    }
                    (Value::Path(p), "resolve" | "absolute") => {
                        Traced::computed(Value::Path(p.clone()))
                    }
                    (Value::Str(s), name) => {
                        Traced::computed(str_method(s, name, &arg(0), &arg(1)))
                    }
                    (Value::Unknown(_), _) => Traced::computed(receiver),
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
                            cast_name(&pair[0]),
                            Some(Box::new(pair[1].clone())),
                        ),
                        other => (name.clone(), cast_name(other), None),
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
            Value::Object(Object::Builtin(name)) => match args.into_iter().next() {
                Some(t) => {
                    let converted = convert(&name, &t.value);
                    Traced {
                        value: converted,
                        ..t
                    }
                }
                None => Traced::computed(convert(&name, &Value::List(Vec::new()))),
            },
            Value::Unknown(why) => Traced::computed(Value::Unknown(why)),
            _ => Traced::computed(Value::Unknown("a function call".into())),
        }
    }

    /// A variable from the environment, else its default, else unknown (Django would not start).
    fn env_lookup(&self, key: &Value, default: Option<Traced>, how: &str) -> Traced {
        let Value::Str(name) = key else {
            return Traced::computed(Value::Unknown(format!("{how} with an unknown name")));
        };
        let value = match (self.env.get(name), default) {
            (Some(v), _) => Value::Str(v.clone()),
            (None, Some(d)) => {
                return Traced {
                    value: d.value,
                    literal: d.literal,
                    env_var: Some(name.clone()),
                };
            }
            (None, None) => Value::Unknown(format!(
                "the environment variable {name} is not set (pass --env-file)"
            )),
        };
        Traced {
            value,
            literal: false,
            env_var: Some(name.clone()),
        }
    }

    /// django-environ: `env("X", default=…)`, `env.bool(…)`, `env.int`, `env.list`, `env.str`, …
    fn env_call(
        &self,
        scheme: &[(String, String, Option<Box<Value>>)],
        method: &str,
        args: &[Traced],
        kwargs: &[(String, Traced)],
    ) -> Traced {
        let Some(Value::Str(name)) = args.first().map(|a| a.value.clone()) else {
            return Traced::computed(Value::Unknown("env() with an unknown name".into()));
        };
        let declared = scheme.iter().find(|(n, _, _)| *n == name);
        let kw = |k: &str| kwargs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let cast = match method {
            "__call__" => kw("cast")
                .map(|c| cast_name(&c.value))
                .or_else(|| declared.map(|(_, c, _)| c.clone()))
                .unwrap_or_else(|| "str".into()),
            other => other.to_owned(),
        };
        let default = kw("default").or_else(|| args.get(1).cloned()).or_else(|| {
            declared.and_then(|(_, _, d)| d.as_ref().map(|d| Traced::computed((**d).clone())))
        });
        match self.env.get(&name) {
            Some(raw) => Traced {
                value: env_cast(&cast, raw),
                literal: false,
                env_var: Some(name),
            },
            None => match default {
                Some(d) => Traced {
                    value: d.value,
                    literal: d.literal,
                    env_var: Some(name),
                },
                None => Traced {
                    value: Value::Unknown(format!(
                        "the environment variable {name} is not set and has no default (pass --env-file)"
                    )),
                    literal: false,
                    env_var: Some(name),
                },
            },
        }
    }

    /// `environ.Env.read_env(path)`: adds a .env file's variables without overriding set ones.
    fn read_env(&mut self, path: Option<Value>) {
        let path = match path {
            Some(Value::Str(s)) => PathBuf::from(s),
            Some(Value::Path(p)) => p,
            _ => return,
        };
        if let Ok(Some(text)) = self.loader.load(&path) {
            for (k, v) in parse_env_file(&text) {
                self.env.entry(k).or_insert(v);
            }
        }
    }
}

fn sequence(items: Vec<Traced>) -> Traced {
    Traced {
        literal: items.iter().all(|t| t.literal),
        env_var: items.iter().find_map(|t| t.env_var.clone()),
        value: Value::List(items.into_iter().map(|t| t.value).collect()),
    }
}

fn constant(c: &Constant) -> Value {
    match c {
        Constant::None => Value::None,
        Constant::Bool(b) => Value::Bool(*b),
        Constant::Str(s) => Value::Str(s.clone()),
        Constant::Int(i) => i
            .to_string()
            .parse()
            .map(Value::Int)
            .unwrap_or(Value::Unknown("a very large int".into())),
        Constant::Float(x) => Value::Float(*x),
        Constant::Tuple(items) => Value::List(items.iter().map(constant).collect()),
        _ => Value::Unknown("a bytes or complex literal".into()),
    }
}

fn binop(op: &ast::Operator, left: &Value, right: &Value) -> Value {
    use ast::Operator::*;
    match (op, left, right) {
        (_, Value::Unknown(w), _) | (_, _, Value::Unknown(w)) => Value::Unknown(w.clone()),
        (Add, Value::Str(a), Value::Str(b)) => Value::Str(format!("{a}{b}")),
        (Add, Value::List(a), Value::List(b)) => Value::List([a.clone(), b.clone()].concat()),
        (Add, Value::Int(a), Value::Int(b)) => Value::Int(a.saturating_add(*b)),
        (Sub, Value::Int(a), Value::Int(b)) => Value::Int(a.saturating_sub(*b)),
        (Mult, Value::Int(a), Value::Int(b)) => Value::Int(a.saturating_mul(*b)),
        (Div, Value::Path(p), Value::Str(s)) => Value::Path(p.join(s)),
        (Mod, Value::Str(_), _) => Value::Unknown("%-formatting".into()),
        _ => Value::Unknown("an operator on these values".into()),
    }
}

fn attribute(base: Value, name: &str) -> Value {
    match (&base, name) {
        (Value::Unknown(_), _) => base,
        (Value::Object(Object::Os), "environ") => Value::Object(Object::Environ),
        (Value::Object(Object::Os), "path") => Value::Object(Object::OsPath),
        (Value::Object(Object::EnvironModule), "Env") => Value::Object(Object::EnvironModule),
        (Value::Path(p), "parent") => {
            Value::Path(p.parent().map(Path::to_owned).unwrap_or_default())
        }
        _ => Value::Object(Object::Method(Box::new(base), name.to_owned())),
    }
}

fn subscript(base: &Value, key: &Value) -> Value {
    match (base, key) {
        (Value::Unknown(_), _) => base.clone(),
        (_, Value::Unknown(_)) => key.clone(),
        (Value::List(items), Value::Int(i)) => {
            let i = if *i < 0 { items.len() as i64 + i } else { *i };
            usize::try_from(i)
                .ok()
                .and_then(|i| items.get(i).cloned())
                .unwrap_or(Value::Unknown("an index out of range".into()))
        }
        (Value::Dict(pairs), k) => pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Unknown("a missing dict key".into())),
        _ => Value::Unknown("a subscript".into()),
    }
}

fn str_method(s: &str, name: &str, a: &Option<Value>, b: &Option<Value>) -> Value {
    match (name, a, b) {
        ("lower", None, _) => Value::Str(s.to_lowercase()),
        ("upper", None, _) => Value::Str(s.to_uppercase()),
        ("strip", None, _) => Value::Str(s.trim().to_owned()),
        ("split", None, _) => Value::List(
            s.split_whitespace()
                .map(|p| Value::Str(p.to_owned()))
                .collect(),
        ),
        ("split", Some(Value::Str(sep)), _) if !sep.is_empty() => Value::List(
            s.split(sep.as_str())
                .map(|p| Value::Str(p.to_owned()))
                .collect(),
        ),
        ("startswith", Some(Value::Str(p)), _) => Value::Bool(s.starts_with(p.as_str())),
        ("replace", Some(Value::Str(from)), Some(Value::Str(to))) if !from.is_empty() => {
            Value::Str(s.replace(from.as_str(), to))
        }
        _ => Value::Unknown(format!("str.{name}()")),
    }
}

fn os_path(name: &str, args: &[Value]) -> Value {
    let as_path = |v: &Value| match v {
        Value::Str(s) => Some(PathBuf::from(s)),
        Value::Path(p) => Some(p.clone()),
        _ => None,
    };
    let paths: Option<Vec<PathBuf>> = args.iter().map(as_path).collect();
    let Some(paths) = paths else {
        return Value::Unknown(format!("os.path.{name}() of an unknown value"));
    };
    let text = |p: PathBuf| Value::Str(p.display().to_string());
    match (name, paths.as_slice()) {
        ("dirname", [p]) => text(p.parent().map(Path::to_owned).unwrap_or_default()),
        ("abspath" | "realpath" | "normpath", [p]) => text(p.clone()),
        ("join", [first, rest @ ..]) => text(rest.iter().fold(first.clone(), |acc, p| acc.join(p))),
        _ => Value::Unknown(format!("os.path.{name}()")),
    }
}

/// The cast a django-environ scheme names (`bool`, `int`, `list`, `str`, …).
fn cast_name(v: &Value) -> String {
    match v {
        Value::Object(Object::Builtin(name)) => name.clone(),
        Value::List(_) => "list".into(),
        _ => "str".into(),
    }
}

/// `bool(x)`, `int(x)`, `str(x)`, … of a known value.
fn convert(name: &str, v: &Value) -> Value {
    match (name, v) {
        (_, Value::Unknown(_)) => v.clone(),
        ("bool", _) => v.truthy().map_or_else(|| v.clone(), Value::Bool),
        ("int", Value::Str(s)) => s
            .trim()
            .parse()
            .map(Value::Int)
            .unwrap_or(Value::Unknown(format!("int({s:?}) fails"))),
        ("int", Value::Int(i)) => Value::Int(*i),
        ("int", Value::Bool(b)) => Value::Int(i64::from(*b)),
        ("str", Value::Path(p)) => Value::Str(p.display().to_string()),
        ("str", Value::Str(_)) | ("list" | "tuple", Value::List(_)) => v.clone(),
        ("str", Value::Int(i)) => Value::Str(i.to_string()),
        _ => Value::Unknown(format!("{name}() of {}", v.display())),
    }
}

/// django-environ's casts of a raw environment string.
fn env_cast(cast: &str, raw: &str) -> Value {
    match cast {
        "bool" => {
            let v = raw.trim().to_lowercase();
            Value::Bool(matches!(
                v.as_str(),
                "true" | "on" | "ok" | "y" | "yes" | "1"
            ))
        }
        "int" => raw
            .trim()
            .parse()
            .map(Value::Int)
            .unwrap_or(Value::Unknown(format!("{raw:?} is not an int"))),
        "float" => raw
            .trim()
            .parse()
            .map(Value::Float)
            .unwrap_or(Value::Unknown(format!("{raw:?} is not a float"))),
        "list" | "tuple" => Value::List(
            raw.split(',')
                .filter(|s| !s.is_empty())
                .map(|s| Value::Str(s.to_owned()))
                .collect(),
        ),
        "str" | "__call__" => Value::Str(raw.to_owned()),
        other => Value::Unknown(format!("env.{other}()")),
    }
}

/// A `.env` file: `KEY=value` lines, `export` prefixes, quotes and comments, as django-environ
/// and systemd's EnvironmentFile read them.
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
        assert_eq!(
            value(&s, "ALLOWED_HOSTS"),
            &Value::List(vec![
                Value::Str("a.test".into()),
                Value::Str("b.test".into())
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
}
