//! The Python values a settings module computes and the operations on them, with Python's own
//! semantics (list methods, `str.split` with maxsplit, `%` and `.format`, `int()`), or
//! [`Value::Unknown`] where certctl cannot be sure. Pure.

use std::path::{Path, PathBuf};

use rustpython_parser::ast::{self, Constant};
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
    /// An `environ.Env(...)` instance, with its per-variable scheme: (name, cast as written,
    /// default when the entry is a `(cast, default)` pair).
    Env(Vec<(String, Value, Option<Box<Value>>)>),
    /// `pathlib.Path`.
    PathClass,
    /// A bound method or function: (receiver, name).
    Method(Box<Value>, String),
    /// A builtin: `bool`, `int`, `float`, `str`, `list`, `tuple`, `dict`, `globals` …
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

    /// `str(value)` as Python gives it, for the values where that is certain.
    pub fn py_str(&self) -> Option<String> {
        Some(match self {
            Value::None => "None".into(),
            Value::Bool(b) => if *b { "True" } else { "False" }.into(),
            Value::Int(i) => i.to_string(),
            Value::Str(s) => s.clone(),
            Value::Path(p) => p.display().to_string(),
            _ => return None,
        })
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

/// An exception the evaluated code raises for certain (inside a `try`, it picks the handler).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exception {
    /// A project module that does not exist (ModuleNotFoundError, an ImportError).
    ModuleNotFound,
    /// `os.environ[...]` of an unset variable, a missing dict key.
    KeyError,
    /// django-environ: a variable with no default is unset.
    ImproperlyConfigured,
    /// `int("x")`, `list.remove(absent)`.
    ValueError,
}

impl Exception {
    /// The names an `except` clause may give that catch it (its class and its bases).
    pub fn caught_by(self) -> &'static [&'static str] {
        match self {
            Exception::ModuleNotFound => &[
                "ModuleNotFoundError",
                "ImportError",
                "Exception",
                "BaseException",
            ],
            Exception::KeyError => &["KeyError", "LookupError", "Exception", "BaseException"],
            Exception::ImproperlyConfigured => {
                &["ImproperlyConfigured", "Exception", "BaseException"]
            }
            Exception::ValueError => &["ValueError", "Exception", "BaseException"],
        }
    }

    /// The exception a `raise NAME(...)` statement names, when certctl models it.
    pub fn named(name: &str) -> Option<Self> {
        Some(match name {
            "ImportError" | "ModuleNotFoundError" => Exception::ModuleNotFound,
            "KeyError" => Exception::KeyError,
            "ImproperlyConfigured" => Exception::ImproperlyConfigured,
            "ValueError" => Exception::ValueError,
            _ => return None,
        })
    }
}

/// Python's `int(text)`: surrounding whitespace, a sign, digits with single underscores
/// between them.
pub fn python_int(text: &str) -> Option<i64> {
    let t = text.trim();
    let (negative, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let n: i64 = digits.replace('_', "").parse().ok()?;
    Some(if negative { -n } else { n })
}

/// A method of a str, as Python defines it.
pub fn str_method(s: &str, name: &str, args: &[Value], kwargs: &[(String, Value)]) -> Value {
    let kw = |k: &str| kwargs.iter().find(|(n, _)| n == k).map(|(_, v)| v);
    let arg = |i: usize, k: &str| args.get(i).or_else(|| kw(k));
    let strs =
        |v: Vec<&str>| Value::List(v.into_iter().map(|p| Value::Str(p.to_owned())).collect());
    match name {
        "lower" => Value::Str(s.to_lowercase()),
        "upper" => Value::Str(s.to_uppercase()),
        "strip" | "lstrip" | "rstrip" => {
            let chars: Option<Vec<char>> = match arg(0, "chars") {
                None | Some(Value::None) => None,
                Some(Value::Str(c)) => Some(c.chars().collect()),
                Some(_) => return Value::Unknown(format!("str.{name}() of a non-string")),
            };
            let matches = |c: char| match &chars {
                None => c.is_whitespace(),
                Some(set) => set.contains(&c),
            };
            Value::Str(
                match name {
                    "strip" => s.trim_matches(matches),
                    "lstrip" => s.trim_start_matches(matches),
                    _ => s.trim_end_matches(matches),
                }
                .to_owned(),
            )
        }
        "split" | "rsplit" => {
            let max = match arg(1, "maxsplit") {
                None => None,
                Some(Value::Int(n)) if *n < 0 => None,
                Some(Value::Int(n)) => Some(*n as usize),
                Some(_) => return Value::Unknown(format!("str.{name}() with an unknown maxsplit")),
            };
            match arg(0, "sep") {
                None | Some(Value::None) => {
                    // Runs of whitespace; maxsplit counts splits, the rest is kept as it is.
                    let words: Vec<&str> = s.split_whitespace().collect();
                    match max {
                        Some(n) if n < words.len() => {
                            if name == "split" {
                                let mut out: Vec<&str> = words[..n].to_vec();
                                let mut rest = s.trim_start();
                                for _ in 0..n {
                                    rest = rest
                                        .trim_start()
                                        .split_once(char::is_whitespace)
                                        .map_or("", |(_, r)| r);
                                }
                                out.push(rest.trim_start());
                                strs(out)
                            } else {
                                let mut out: Vec<&str> = words[words.len() - n..].to_vec();
                                let mut rest = s.trim_end();
                                for _ in 0..n {
                                    rest = rest
                                        .trim_end()
                                        .rsplit_once(char::is_whitespace)
                                        .map_or("", |(r, _)| r);
                                }
                                out.insert(0, rest.trim_end());
                                strs(out)
                            }
                        }
                        _ => strs(words),
                    }
                }
                Some(Value::Str(sep)) if !sep.is_empty() => match (name, max) {
                    ("split", Some(n)) => strs(s.splitn(n + 1, sep.as_str()).collect()),
                    ("rsplit", Some(n)) => {
                        let mut parts: Vec<&str> = s.rsplitn(n + 1, sep.as_str()).collect();
                        parts.reverse();
                        strs(parts)
                    }
                    _ => strs(s.split(sep.as_str()).collect()),
                },
                Some(Value::Str(_)) => Value::Unknown("str.split('') raises ValueError".into()),
                Some(_) => Value::Unknown(format!("str.{name}() of a non-string")),
            }
        }
        "startswith" | "endswith" => {
            let test = |p: &str| {
                if name == "startswith" {
                    s.starts_with(p)
                } else {
                    s.ends_with(p)
                }
            };
            match arg(0, "prefix") {
                Some(Value::Str(p)) => Value::Bool(test(p)),
                Some(Value::List(items)) => {
                    match items.iter().map(Value::as_str).collect::<Option<Vec<_>>>() {
                        Some(ps) => Value::Bool(ps.into_iter().any(test)),
                        None => Value::Unknown(format!("str.{name}() of unknown values")),
                    }
                }
                _ => Value::Unknown(format!("str.{name}() of an unknown value")),
            }
        }
        "replace" => match (args.first(), args.get(1), args.get(2)) {
            (Some(Value::Str(from)), Some(Value::Str(to)), None) if !from.is_empty() => {
                Value::Str(s.replace(from.as_str(), to))
            }
            _ => Value::Unknown("str.replace()".into()),
        },
        "join" => match args.first() {
            Some(Value::List(items)) => {
                match items.iter().map(Value::as_str).collect::<Option<Vec<_>>>() {
                    Some(parts) => Value::Str(parts.join(s)),
                    None => Value::Unknown("str.join() of unknown or non-string items".into()),
                }
            }
            _ => Value::Unknown("str.join() of an unknown value".into()),
        },
        "format" => brace_format(s, args, kwargs),
        _ => Value::Unknown(format!("str.{name}()")),
    }
}

/// `"…{}…{0}…{name}…".format(...)` with plain fields only (no conversions or specs).
fn brace_format(template: &str, args: &[Value], kwargs: &[(String, Value)]) -> Value {
    let mut out = String::new();
    let mut auto = 0;
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        let Some(end) = tail.find('}').filter(|_| tail.starts_with('{')) else {
            return Value::Unknown("str.format() of a malformed template".into());
        };
        let field = &tail[1..end];
        let value = if field.is_empty() {
            auto += 1;
            args.get(auto - 1)
        } else if let Ok(n) = field.parse::<usize>() {
            args.get(n)
        } else if field.chars().all(|c| c.is_alphanumeric() || c == '_') {
            kwargs.iter().find(|(k, _)| k == field).map(|(_, v)| v)
        } else {
            None
        };
        match value.and_then(Value::py_str) {
            Some(text) => out.push_str(&text),
            None => return Value::Unknown("str.format() of an unknown value".into()),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Value::Str(out)
}

/// `"…%s…%d…" % args` with `%s`, `%d`, `%i` and `%%` only.
fn percent_format(template: &str, args: &Value) -> Value {
    let args: Vec<&Value> = match args {
        Value::List(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut out = String::new();
    let mut next = args.into_iter();
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let text = match chars.next() {
            Some('%') => Some("%".to_owned()),
            Some('s') => next.next().and_then(Value::py_str),
            Some('d' | 'i') => match next.next() {
                Some(Value::Int(i)) => Some(i.to_string()),
                Some(Value::Bool(b)) => Some(i64::from(*b).to_string()),
                _ => None,
            },
            _ => None,
        };
        match text {
            Some(t) => out.push_str(&t),
            None => return Value::Unknown("%-formatting certctl does not evaluate".into()),
        }
    }
    if next.next().is_some() {
        return Value::Unknown("%-formatting with too many arguments raises TypeError".into());
    }
    Value::Str(out)
}

/// A list method called for its effect, with Python's semantics: the list after it, or the
/// exception it raises; None when certctl does not model the method.
pub fn list_method(
    items: &[Value],
    method: &str,
    args: &[Value],
) -> Option<Result<Vec<Value>, Exception>> {
    let mut items = items.to_vec();
    match (method, args) {
        ("append", [v]) => items.push(v.clone()),
        ("insert", [Value::Int(i), v]) => {
            let len = items.len() as i64;
            let at = if *i < 0 {
                (len + i).max(0)
            } else {
                (*i).min(len)
            };
            items.insert(at as usize, v.clone());
        }
        ("extend", [Value::List(more)]) => items.extend(more.iter().cloned()),
        ("remove", [v]) => {
            let mut unknown = false;
            let found = items.iter().position(|x| match x.equals(v) {
                Some(eq) => eq,
                None => {
                    unknown = true;
                    false
                }
            });
            match (found, unknown) {
                (Some(at), _) if !items[..at].iter().any(|x| x.equals(v).is_none()) => {
                    items.remove(at);
                }
                (None, false) => return Some(Err(Exception::ValueError)),
                _ => return None,
            }
        }
        ("pop", []) => {
            items.pop()?;
        }
        ("pop", [Value::Int(i)]) => {
            let len = items.len() as i64;
            let at = if *i < 0 { len + i } else { *i };
            if at < 0 || at >= len {
                return None;
            }
            items.remove(at as usize);
        }
        ("clear", []) => items.clear(),
        ("reverse", []) => items.reverse(),
        _ => return None,
    }
    Some(Ok(items))
}

/// A dict method called for its effect: the dict after it; None when not modelled.
pub fn dict_method(
    pairs: &[(Value, Value)],
    method: &str,
    args: &[Value],
    kwargs: &[(String, Value)],
) -> Option<Vec<(Value, Value)>> {
    let mut pairs = pairs.to_vec();
    let mut put = |k: Value, v: Value, replace: bool| {
        if k.unknown().is_some() {
            return false;
        }
        match pairs.iter_mut().find(|(key, _)| *key == k) {
            Some(slot) if replace => slot.1 = v,
            Some(_) => {}
            None => pairs.push((k, v)),
        }
        true
    };
    let ok = match (method, args) {
        ("update", [Value::Dict(more)]) | ("update", [Value::Dict(more), ..]) => {
            more.iter().all(|(k, v)| put(k.clone(), v.clone(), true))
        }
        ("update", []) => true,
        ("setdefault", [k, v]) => put(k.clone(), v.clone(), false),
        ("setdefault", [k]) => put(k.clone(), Value::None, false),
        _ => false,
    };
    let ok = ok
        && (method != "update"
            || kwargs
                .iter()
                .all(|(k, v)| put(Value::Str(k.clone()), v.clone(), true)));
    ok.then_some(pairs)
}

/// A literal's value.
pub fn constant(c: &Constant) -> Value {
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

/// `left OP right`.
pub fn binop(op: &ast::Operator, left: &Value, right: &Value) -> Value {
    use ast::Operator::*;
    match (op, left, right) {
        (_, Value::Unknown(w), _) | (_, _, Value::Unknown(w)) => Value::Unknown(w.clone()),
        (Add, Value::Str(a), Value::Str(b)) => Value::Str(format!("{a}{b}")),
        (Add, Value::List(a), Value::List(b)) => Value::List([a.clone(), b.clone()].concat()),
        (Add, Value::Int(a), Value::Int(b)) => Value::Int(a.saturating_add(*b)),
        (Sub, Value::Int(a), Value::Int(b)) => Value::Int(a.saturating_sub(*b)),
        (Mult, Value::Int(a), Value::Int(b)) => Value::Int(a.saturating_mul(*b)),
        (Div, Value::Path(p), Value::Str(s)) => Value::Path(p.join(s)),
        (Mod, Value::Str(f), args) => percent_format(f, args),
        (Add, Value::Float(a), Value::Float(b)) => Value::Float(a + b),
        (FloorDiv, Value::Int(a), Value::Int(b)) if *b != 0 => Value::Int(a.div_euclid(*b)),
        _ => Value::Unknown("an operator on these values".into()),
    }
}

/// `base.name`: a known object's attribute, or a bound method to call.
pub fn attribute(base: Value, name: &str) -> Value {
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

/// `base[key]`.
pub fn subscript(base: &Value, key: &Value) -> Value {
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

/// `os.path.NAME(args)`.
pub fn os_path(name: &str, args: &[Value]) -> Value {
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

/// `bool(x)`, `int(x)`, `str(x)`, … of a known value.
pub fn convert(name: &str, v: &Value) -> Value {
    match (name, v) {
        (_, Value::Unknown(_)) => v.clone(),
        ("bool", _) => v.truthy().map_or_else(|| v.clone(), Value::Bool),
        ("int", Value::Str(s)) => python_int(s)
            .map(Value::Int)
            .unwrap_or(Value::Unknown(format!("int({s:?}) raises ValueError"))),
        ("str", v) if v.py_str().is_some() => Value::Str(v.py_str().unwrap_or_default()),
        ("float", Value::Int(i)) => Value::Float(*i as f64),
        ("float", Value::Float(_)) => v.clone(),
        ("int", Value::Int(i)) => Value::Int(*i),
        ("int", Value::Bool(b)) => Value::Int(i64::from(*b)),
        ("str", Value::Path(p)) => Value::Str(p.display().to_string()),
        ("str", Value::Str(_)) | ("list" | "tuple", Value::List(_)) => v.clone(),
        ("str", Value::Int(i)) => Value::Str(i.to_string()),
        _ => Value::Unknown(format!("{name}() of {}", v.display())),
    }
}
