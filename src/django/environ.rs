//! The environment a settings module reads, and django-environ's rules for reading it, as
//! django-environ 0.14's source defines them (`Env.get_value`, `Env.parse_value`,
//! `Env.read_env`): a default is returned as written, not cast; `cast` comes from the call, then
//! the `Env(VAR=…)` scheme, then the default's type ("smart cast"); `bool` is `int(x) != 0`, else
//! one of the truthy strings; `read_env` never overrides a variable already set unless
//! `overwrite=True`. Pure.

use std::collections::BTreeMap;

use super::python::{Exception, Value, python_int};

/// What is known about one environment variable.
#[derive(Clone, Debug, PartialEq)]
pub enum EnvVar {
    /// Set, to this.
    Set(String),
    /// Set on some paths through the settings and not others, or to different values: why.
    Unknown(String),
    /// Certainly unset (recorded only where an unlisted variable would read as unknown).
    Unset,
}

/// The process environment as the settings see it while they run (`os.environ`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Environ {
    vars: BTreeMap<String, EnvVar>,
    /// Some(why): a variable not in `vars` may be set, for this reason (after
    /// `os.environ.update(<unknown>)` or `read_env(<a file certctl cannot read>)`).
    others: Option<String>,
}

impl Environ {
    /// An environment of known variables.
    pub fn new(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            vars: vars.into_iter().map(|(k, v)| (k, EnvVar::Set(v))).collect(),
            others: None,
        }
    }

    fn lookup(&self, name: &str) -> Option<Result<&str, &str>> {
        match self.vars.get(name) {
            Some(EnvVar::Set(s)) => Some(Ok(s.as_str())),
            Some(EnvVar::Unknown(why)) => Some(Err(why.as_str())),
            Some(EnvVar::Unset) => None,
            None => self.others.as_deref().map(Err),
        }
    }

    /// The variable: Some(Ok(value)) when set, Some(Err(why)) when unknowable, None when unset.
    pub fn get(&self, name: &str) -> Option<Result<&str, &str>> {
        self.lookup(name)
    }

    /// `name in os.environ`: None when unknowable.
    pub fn contains(&self, name: &str) -> Option<bool> {
        match self.lookup(name) {
            Some(Ok(_)) => Some(true),
            Some(Err(_)) => None,
            None => Some(false),
        }
    }

    /// `os.environ[name] = value`.
    pub fn set(&mut self, name: &str, value: EnvVar) {
        self.vars.insert(name.to_owned(), value);
    }

    /// `os.environ.setdefault(name, value)`: sets it only when unset.
    pub fn set_default(&mut self, name: &str, value: EnvVar) {
        let now = match self.lookup(name) {
            Some(Ok(_)) => return,
            // Maybe set already, maybe not: the old value or this one.
            Some(Err(why)) => EnvVar::Unknown(why.to_owned()),
            None => value,
        };
        self.vars.insert(name.to_owned(), now);
    }

    /// `del os.environ[name]` / `os.environ.pop(name)`.
    pub fn remove(&mut self, name: &str) {
        match self.others {
            Some(_) => self.vars.insert(name.to_owned(), EnvVar::Unset),
            None => self.vars.remove(name),
        };
    }

    /// After two possible paths through the settings: what both agree on stays known, the
    /// rest is unknown for `why`.
    pub fn merge(&mut self, other: &Environ, why: &str) {
        let names: Vec<String> = self.vars.keys().chain(other.vars.keys()).cloned().collect();
        for name in names {
            if self.lookup(&name) != other.lookup(&name) {
                self.vars
                    .insert(name, EnvVar::Unknown(format!("set {why}")));
            }
        }
        if self.others.is_none() {
            self.others = other.others.clone();
        }
    }

    /// After something certctl cannot read set variables only where they were unset
    /// (`read_env` of an unknown file): the set ones stay, any other may now be set, for `why`.
    pub fn may_set_unset(&mut self, why: &str) {
        for value in self.vars.values_mut() {
            if *value == EnvVar::Unset {
                *value = EnvVar::Unknown(why.to_owned());
            }
        }
        self.others = Some(why.to_owned());
    }

    /// After code certctl cannot follow changed the environment: every variable may be set,
    /// to anything, for `why`.
    pub fn forget(&mut self, why: &str) {
        for value in self.vars.values_mut() {
            *value = EnvVar::Unknown(why.to_owned());
        }
        self.others = Some(why.to_owned());
    }
}

/// A cast django-environ applies to a raw string.
#[derive(Clone, Debug, PartialEq)]
pub enum Cast {
    /// No cast: the string as it is.
    None,
    /// `bool`.
    Bool,
    /// `int`.
    Int,
    /// `float`.
    Float,
    /// `str`.
    Str,
    /// `list`, or `[cast]` (each item cast).
    List(Option<Box<Cast>>),
    /// `tuple`, or `(cast,)`.
    Tuple(Option<Box<Cast>>),
    /// `dict`.
    Dict,
    /// `json.loads` (env.json).
    Json,
    /// Something certctl does not model (`url`, `db`, a callable): the result is unknown.
    Other(String),
}

impl Cast {
    /// The cast a Python value names: `bool`, `int`, `[int]`, `(str,)` …
    pub fn of(value: &Value) -> Cast {
        match value {
            Value::Object(super::python::Object::Builtin(name)) => match name.as_str() {
                "bool" => Cast::Bool,
                "int" => Cast::Int,
                "float" => Cast::Float,
                "str" => Cast::Str,
                "list" => Cast::List(None),
                "tuple" => Cast::Tuple(None),
                "dict" => Cast::Dict,
                other => Cast::Other(other.to_owned()),
            },
            Value::List(items) if items.len() == 1 => {
                Cast::List(Some(Box::new(Cast::of(&items[0]))))
            }
            Value::None => Cast::None,
            other => Cast::Other(other.display()),
        }
    }

    /// The cast `env.NAME(...)` applies.
    pub fn of_method(method: &str) -> Option<Cast> {
        Some(match method {
            "bool" => Cast::Bool,
            "int" => Cast::Int,
            "float" => Cast::Float,
            "str" | "bytes" => Cast::Str,
            "list" => Cast::List(None),
            "tuple" => Cast::Tuple(None),
            "dict" => Cast::Dict,
            "json" => Cast::Json,
            "url" | "db" | "db_url" | "cache" | "cache_url" | "email" | "email_url"
            | "search_url" | "path" => Cast::Other(method.to_owned()),
            _ => return None,
        })
    }

    /// Smart cast: the type of a default.
    fn of_default(default: &Value) -> Cast {
        match default {
            Value::Bool(_) => Cast::Bool,
            Value::Int(_) => Cast::Int,
            Value::Float(_) => Cast::Float,
            Value::Str(_) => Cast::Str,
            Value::List(_) => Cast::List(None),
            Value::Dict(_) => Cast::Dict,
            _ => Cast::None,
        }
    }
}

/// django-environ's truthy strings (`Env.BOOLEAN_TRUE_STRINGS`).
pub const TRUE_STRINGS: &[&str] = &["true", "on", "ok", "y", "yes", "1"];

/// `Env.parse_value(value, cast)` of a raw string.
pub fn parse_value(raw: &str, cast: &Cast) -> Result<Value, Exception> {
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let items = |parts: Vec<String>, each: &Option<Box<Cast>>| -> Result<Value, Exception> {
        parts
            .iter()
            .map(|p| match each {
                Some(c) => parse_value(p, c),
                None => Ok(Value::Str(p.clone())),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::List)
    };
    Ok(match cast {
        Cast::None | Cast::Str => Value::Str(raw.to_owned()),
        Cast::Bool => Value::Bool(match python_int(raw) {
            Some(i) => i != 0,
            None => TRUE_STRINGS.contains(&raw.trim().to_lowercase().as_str()),
        }),
        Cast::Int => Value::Int(python_int(raw).ok_or(Exception::ValueError)?),
        Cast::Float => Value::Float(environ_float(raw).ok_or(Exception::ValueError)?),
        Cast::List(each) => items(split(raw), each)?,
        Cast::Tuple(each) => {
            let inner = raw.trim_start_matches('(').trim_end_matches(')');
            items(split(inner), each)?
        }
        Cast::Dict => {
            let mut pairs = Vec::new();
            for item in raw.split(',').filter(|x| !x.is_empty()) {
                let (k, v) = item.split_once('=').ok_or(Exception::ValueError)?;
                pairs.push((Value::Str(k.to_owned()), Value::Str(v.to_owned())));
            }
            Value::Dict(pairs)
        }
        Cast::Json => match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(v) => from_json(&v),
            Err(_) => return Err(Exception::ValueError),
        },
        Cast::Other(name) => Value::Unknown(format!("env.{name}() of a variable")),
    })
}

/// django-environ's float cleaning: drop everything but digits, `,`, `.` and `-`; the last
/// `,`/`.` is the decimal point, earlier ones are thousands separators.
fn environ_float(raw: &str) -> Option<f64> {
    let kept: String = raw
        .chars()
        .filter(|c| c.is_ascii_digit() || matches!(c, ',' | '.' | '-'))
        .collect();
    let parts: Vec<&str> = kept.split([',', '.']).collect();
    let text = match parts.as_slice() {
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{}.{last}", init.concat()),
        [] => return None,
    };
    text.parse().ok()
}

fn from_json(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::None,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .or_else(|| n.as_f64().map(Value::Float))
            .unwrap_or(Value::Unknown("a JSON number".into())),
        J::String(s) => Value::Str(s.clone()),
        J::Array(items) => Value::List(items.iter().map(from_json).collect()),
        J::Object(map) => Value::Dict(
            map.iter()
                .map(|(k, v)| (Value::Str(k.clone()), from_json(v)))
                .collect(),
        ),
    }
}

/// One `env(...)` / `env.bool(...)` … read, as `Env.get_value` does it.
pub struct Read<'a> {
    /// The variable.
    pub var: &'a str,
    /// The cast the call names (`env.bool`, `cast=`), if any.
    pub cast: Option<Cast>,
    /// `default=` (or the second positional argument), if given.
    pub default: Option<Value>,
    /// The `Env(VAR=…)` scheme entry: (cast, default when the entry is a pair).
    pub scheme: Option<(Cast, Option<Value>)>,
    /// `parse_default=True`.
    pub parse_default: bool,
}

/// The value `Env.get_value` returns, or the exception it raises (ImproperlyConfigured when
/// the variable is unset with no default); a variable set on some paths only is unknown.
pub fn get_value(env: &Environ, read: Read<'_>) -> Result<Value, Exception> {
    let mut cast = read.cast;
    let mut default = read.default;
    if let Some((scheme_cast, scheme_default)) = read.scheme {
        if cast.is_none() {
            cast = Some(scheme_cast);
        }
        if default.is_none() {
            default = scheme_default;
        }
    }
    let raw = match env.get(read.var) {
        Some(Ok(raw)) => Some(raw.to_owned()),
        Some(Err(why)) => return Ok(Value::Unknown(format!("{} is {why}", read.var))),
        None => None,
    };
    let value = match (&raw, &default) {
        (Some(raw), _) => Value::Str(raw.clone()),
        (None, Some(d)) => d.clone(),
        (None, None) => return Err(Exception::ImproperlyConfigured),
    };
    // A value "$OTHER" is a proxy for another variable.
    if let Value::Str(s) = &value
        && let Some(other) = s.strip_prefix('$')
    {
        return get_value(
            env,
            Read {
                var: other,
                cast,
                default,
                scheme: None,
                parse_default: read.parse_default,
            },
        );
    }
    if cast.is_none()
        && let Some(d) = &default
        && *d != Value::None
    {
        cast = Some(Cast::of_default(d));
    }
    if default == Some(Value::None) && value == Value::Str(String::new()) {
        return Ok(Value::None);
    }
    let differs = default.as_ref() != Some(&value);
    match &value {
        Value::Str(s) if differs || read.parse_default => {
            parse_value(s, cast.as_ref().unwrap_or(&Cast::None))
        }
        // A default that is not a string is returned as written.
        _ => Ok(value),
    }
}

/// The variables a `.env` file sets, as `Env.read_env` parses it (default `parse_comments=False`):
/// `KEY=value` with nothing around `=`, an optional `export `, single quotes stripped, double
/// quotes stripped with their escapes; anything else on a line is part of the value.
pub fn parse_dotenv(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, mut value)) = line.split_once('=') else {
            continue;
        };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let single;
        if value.len() >= 2 && value.starts_with('\'') && value.ends_with('\'') {
            single = &value[1..value.len() - 1];
            value = single;
        }
        let value = if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            unescape_double_quoted(&value[1..value.len() - 1])
        } else {
            value.to_owned()
        };
        out.push((key.to_owned(), value));
    }
    out
}

/// `\X` becomes X, except `\n`, `\r` and `\t`, which stay as written.
fn unescape_double_quoted(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some(next)) => {
                chars.next();
                if matches!(next, 'n' | 'r' | 't') {
                    out.push('\\');
                }
                out.push(next);
            }
            _ => out.push(c),
        }
    }
    out
}

/// `Env.read_env(...)`: the file's variables (and keyword overrides) into the environment,
/// never replacing one already set unless `overwrite`.
pub fn read_env(env: &mut Environ, text: &str, overrides: Vec<(String, String)>, overwrite: bool) {
    let mut values: Vec<(String, String)> = overrides;
    for (k, v) in parse_dotenv(text) {
        match values.iter_mut().find(|(name, _)| *name == k) {
            Some(slot) => slot.1 = v,
            None => values.push((k, v)),
        }
    }
    for (k, v) in values {
        if overwrite {
            env.set(&k, EnvVar::Set(v));
        } else {
            env.set_default(&k, EnvVar::Set(v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environ {
        Environ::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn read<'a>(var: &'a str, cast: Option<Cast>, default: Option<Value>) -> Read<'a> {
        Read {
            var,
            cast,
            default,
            scheme: None,
            parse_default: false,
        }
    }

    #[test]
    fn bool_is_int_first_then_the_truthy_strings() {
        for (raw, want) in [
            ("1", true),
            ("2", true),
            ("-1", true),
            (" 0 ", false),
            ("1_0", true),
            ("yes", true),
            ("On", true),
            ("ok", true),
            ("y", true),
            ("t", false),
            ("enabled", false),
            ("", false),
        ] {
            assert_eq!(
                parse_value(raw, &Cast::Bool).unwrap(),
                Value::Bool(want),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn defaults_are_returned_as_written_and_set_the_cast() {
        let e = env(&[("DEBUG", "false"), ("N", "12"), ("EMPTY", "")]);
        // Smart cast: the default's type casts the variable.
        assert_eq!(
            get_value(&e, read("DEBUG", None, Some(Value::Bool(true)))).unwrap(),
            Value::Bool(false)
        );
        assert_eq!(
            get_value(&e, read("N", None, Some(Value::Int(3)))).unwrap(),
            Value::Int(12)
        );
        // An unset variable gives the default, not cast: "False" stays a (truthy) string.
        assert_eq!(
            get_value(
                &e,
                read("UNSET", Some(Cast::Bool), Some(Value::Str("False".into())))
            )
            .unwrap(),
            Value::Str("False".into())
        );
        assert_eq!(
            get_value(&e, read("EMPTY", None, Some(Value::None))).unwrap(),
            Value::None
        );
        assert_eq!(
            get_value(&e, read("UNSET", None, None)),
            Err(Exception::ImproperlyConfigured)
        );
        assert_eq!(
            get_value(
                &e,
                read("N", Some(Cast::List(Some(Box::new(Cast::Int)))), None)
            )
            .unwrap(),
            Value::List(vec![Value::Int(12)])
        );
    }

    #[test]
    fn a_dollar_value_reads_the_other_variable() {
        let e = env(&[("A", "$B"), ("B", "yes")]);
        assert_eq!(
            get_value(&e, read("A", Some(Cast::Bool), None)).unwrap(),
            Value::Bool(true)
        );
    }

    #[test]
    fn casts_follow_django_environ() {
        assert_eq!(
            parse_value("a,,b", &Cast::List(None)).unwrap(),
            Value::List(vec![Value::Str("a".into()), Value::Str("b".into())])
        );
        assert_eq!(
            parse_value("(a,b)", &Cast::Tuple(None)).unwrap(),
            Value::List(vec![Value::Str("a".into()), Value::Str("b".into())])
        );
        assert_eq!(
            parse_value("1.234,5", &Cast::Float).unwrap(),
            Value::Float(1234.5)
        );
        assert_eq!(parse_value("x", &Cast::Int), Err(Exception::ValueError));
        assert_eq!(
            parse_value("k=v,x=y", &Cast::Dict).unwrap(),
            Value::Dict(vec![
                (Value::Str("k".into()), Value::Str("v".into())),
                (Value::Str("x".into()), Value::Str("y".into()))
            ])
        );
        assert_eq!(
            parse_value("[\"a\", 1]", &Cast::Json).unwrap(),
            Value::List(vec![Value::Str("a".into()), Value::Int(1)])
        );
    }

    #[test]
    fn dotenv_lines_parse_as_read_env_does() {
        let parsed = parse_dotenv(
            "# c\nA=1\nexport B='two words'\nC=\"q\\\"x\\n\"\nD=plain # not a comment\nE = spaced\n\nbad line\n",
        );
        assert_eq!(
            parsed,
            [
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "q\"x\\n".into()),
                ("D".into(), "plain # not a comment".into()),
            ]
        );
    }

    #[test]
    fn read_env_never_overrides_unless_asked() {
        let mut e = env(&[("DEBUG", "False")]);
        read_env(&mut e, "DEBUG=True\nNEW=1\n", vec![], false);
        assert_eq!(e.get("DEBUG"), Some(Ok("False")));
        assert_eq!(e.get("NEW"), Some(Ok("1")));
        read_env(&mut e, "DEBUG=True\n", vec![], true);
        assert_eq!(e.get("DEBUG"), Some(Ok("True")));
    }
}
