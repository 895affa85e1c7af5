//! The machine's settings: `/etc/certctl/certctl.toml` (`--config`, `CERTCTL_CONFIG`), the
//! environment and the flags, and where each effective value comes from.
//!
//! One resolution for every command: a flag beats the environment, which beats the file, which
//! beats the built-in default ([`resolve`]). Each setting is one [`Key`] with its TOML name, its
//! environment variable, the flag and the commands that take that flag ([`Spec`]). A file is
//! parsed with serde (`deny_unknown_fields`): an unknown key or a bad value is an error naming
//! the key and its line, and the CLI runs nothing then. Pure: the CLI reads the file and the
//! environment and hands them over.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::keys::KeyType;

/// Where the file is read from when neither `--config` nor `CERTCTL_CONFIG` names one (a
/// missing file there is no error).
pub const DEFAULT_PATH: &str = "/etc/certctl/certctl.toml";

/// Where an effective value comes from, strongest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A flag on the command line.
    Flag,
    /// An environment variable.
    Env,
    /// The config file.
    File,
    /// certctl's built-in default (possibly "not set").
    Default,
}

/// Every setting the config file can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// `acme.server`: the ACME directory URL.
    Server,
    /// `acme.email`: the account contact.
    Email,
    /// `acme.ca_bundle`: extra roots for the CA's HTTPS API.
    CaBundle,
    /// `acme.key_type`: the key type of new certificates.
    KeyType,
    /// `nginx.bin`: the nginx binary.
    NginxBin,
    /// `nginx.prefix`: nginx -p.
    NginxPrefix,
    /// `nginx.conf`: nginx -c.
    NginxConf,
    /// `nginx.reload_cmd`: the command that reloads nginx.
    ReloadCmd,
    /// `nginx.sites_dir`: where site files go.
    SitesDir,
    /// `nginx.enabled_dir`: where enabling symlinks go.
    EnabledDir,
    /// `nginx.snippets_dir`: where certctl's snippets go.
    SnippetsDir,
    /// `nginx.acme_webroot`: the web root nginx serves challenges from.
    AcmeWebroot,
    /// `hooks.deploy`: run by renew after each successful deploy.
    DeployHook,
    /// `hooks.on_failure`: run by renew once per failed certificate.
    OnFailureHook,
    /// `renew.metrics_file`: the Prometheus textfile renew writes.
    MetricsFile,
    /// `renew.concurrency`: how many certificates renew at once.
    Concurrency,
    /// `store.state_dir`: the state directory.
    StateDir,
    /// `store.url`: the fleet's shared PostgreSQL store.
    StoreUrl,
    /// `store.fleet_key`: the key file that seals private keys in the shared store.
    FleetKey,
    /// `store.node`: this node's name in the fleet.
    Node,
}

/// What values a setting takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Url,
    Email,
    Path,
    KeyType,
    Command,
    Count {
        max: i64,
    },
    /// A `postgres://` URL; its password is never shown.
    PostgresUrl,
    /// A name: one word.
    Word,
}

/// One setting's names in each layer.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// The setting.
    pub key: Key,
    /// `section.name` in the file.
    pub name: &'static str,
    /// The environment variable.
    pub env: &'static str,
    /// The flag (`--server`).
    pub flag: &'static str,
    /// The clap argument id behind the flag.
    pub arg: &'static str,
    /// The commands taking the flag (space-separated paths; `*`: every command).
    pub commands: &'static [&'static str],
    /// The built-in value, if there is one.
    pub default: Option<&'static str>,
    /// What no value means, when there is no built-in value.
    pub unset: &'static str,
    /// Only the first word is ever shown (a hook command may carry a token).
    pub secret: bool,
    kind: Kind,
}

const fn spec(
    key: Key,
    name: &'static str,
    env: &'static str,
    flag: &'static str,
    arg: &'static str,
    commands: &'static [&'static str],
    kind: Kind,
) -> Spec {
    Spec {
        key,
        name,
        env,
        flag,
        arg,
        commands,
        default: None,
        unset: "not set",
        secret: false,
        kind,
    }
}

const ISSUE: &[&str] = &["issue"];
/// A fleet node's daemon deploys to its nginx and places the fleet's sites there too.
const NGINX: &[&str] = &["issue", "nginx", "import certbot", "doctor", "daemon"];
const RENEW: &[&str] = &["renew", "daemon"];

/// Every setting, in the order `config show` prints them.
pub const SPECS: [Spec; 20] = [
    Spec {
        default: Some(crate::acme::directory::LETS_ENCRYPT),
        ..spec(
            Key::Server,
            "acme.server",
            "CERTCTL_SERVER",
            "--server",
            "server",
            &["issue", "doctor"],
            Kind::Url,
        )
    },
    spec(
        Key::Email,
        "acme.email",
        "CERTCTL_EMAIL",
        "--email",
        "email",
        ISSUE,
        Kind::Email,
    ),
    Spec {
        unset: "not set: the system's roots only",
        ..spec(
            Key::CaBundle,
            "acme.ca_bundle",
            "CERTCTL_CA_BUNDLE",
            "--ca-bundle",
            "ca_bundle",
            &["issue", "import certbot", "doctor"],
            Kind::Path,
        )
    },
    Spec {
        default: Some("ecdsa-p256"),
        ..spec(
            Key::KeyType,
            "acme.key_type",
            "CERTCTL_KEY_TYPE",
            "--key-type",
            "key_type",
            &["issue", "csr"],
            Kind::KeyType,
        )
    },
    Spec {
        default: Some("nginx"),
        ..spec(
            Key::NginxBin,
            "nginx.bin",
            "CERTCTL_NGINX_BIN",
            "--nginx-bin",
            "nginx_bin",
            NGINX,
            Kind::Path,
        )
    },
    Spec {
        unset: "not set: nginx's built-in prefix",
        ..spec(
            Key::NginxPrefix,
            "nginx.prefix",
            "CERTCTL_NGINX_PREFIX",
            "--nginx-prefix",
            "nginx_prefix",
            NGINX,
            Kind::Path,
        )
    },
    Spec {
        unset: "not set: nginx's built-in nginx.conf",
        ..spec(
            Key::NginxConf,
            "nginx.conf",
            "CERTCTL_NGINX_CONF",
            "--nginx-conf",
            "nginx_conf",
            NGINX,
            Kind::Path,
        )
    },
    Spec {
        unset: "not set: nginx -s reload",
        ..spec(
            Key::ReloadCmd,
            "nginx.reload_cmd",
            "CERTCTL_RELOAD_CMD",
            "--reload-cmd",
            "reload_cmd",
            NGINX,
            Kind::Command,
        )
    },
    Spec {
        default: Some("/etc/nginx/sites-available"),
        ..spec(
            Key::SitesDir,
            "nginx.sites_dir",
            "CERTCTL_NGINX_SITES",
            "--nginx-sites",
            "nginx_sites",
            NGINX,
            Kind::Path,
        )
    },
    Spec {
        default: Some("/etc/nginx/sites-enabled"),
        ..spec(
            Key::EnabledDir,
            "nginx.enabled_dir",
            "CERTCTL_NGINX_ENABLED",
            "--nginx-enabled",
            "nginx_enabled",
            NGINX,
            Kind::Path,
        )
    },
    Spec {
        default: Some("/etc/nginx/snippets/certctl"),
        ..spec(
            Key::SnippetsDir,
            "nginx.snippets_dir",
            "CERTCTL_NGINX_SNIPPETS",
            "--nginx-snippets",
            "nginx_snippets",
            NGINX,
            Kind::Path,
        )
    },
    Spec {
        default: Some("/var/www/certctl-acme"),
        ..spec(
            Key::AcmeWebroot,
            "nginx.acme_webroot",
            "CERTCTL_ACME_WEBROOT",
            "--acme-webroot",
            "acme_webroot",
            NGINX,
            Kind::Path,
        )
    },
    Spec {
        secret: true,
        ..spec(
            Key::DeployHook,
            "hooks.deploy",
            "CERTCTL_DEPLOY_HOOK",
            "--deploy-hook",
            "deploy_hook",
            RENEW,
            Kind::Command,
        )
    },
    Spec {
        secret: true,
        ..spec(
            Key::OnFailureHook,
            "hooks.on_failure",
            "CERTCTL_ON_FAILURE_HOOK",
            "--on-failure-hook",
            "on_failure_hook",
            RENEW,
            Kind::Command,
        )
    },
    spec(
        Key::MetricsFile,
        "renew.metrics_file",
        "CERTCTL_METRICS_FILE",
        "--metrics-file",
        "metrics_file",
        RENEW,
        Kind::Path,
    ),
    Spec {
        default: Some("4"),
        ..spec(
            Key::Concurrency,
            "renew.concurrency",
            "CERTCTL_CONCURRENCY",
            "--concurrency",
            "concurrency",
            RENEW,
            Kind::Count { max: 64 },
        )
    },
    Spec {
        default: Some("/var/lib/certctl"),
        ..spec(
            Key::StateDir,
            "store.state_dir",
            "CERTCTL_STATE_DIR",
            "--state-dir",
            "state_dir",
            &["*"],
            Kind::Path,
        )
    },
    Spec {
        unset: "not set: the state directory alone",
        ..spec(
            Key::StoreUrl,
            "store.url",
            "CERTCTL_STORE",
            "--store",
            "store",
            &["*"],
            Kind::PostgresUrl,
        )
    },
    Spec {
        default: Some("/etc/certctl/fleet.key"),
        ..spec(
            Key::FleetKey,
            "store.fleet_key",
            "CERTCTL_FLEET_KEY",
            "--fleet-key",
            "fleet_key",
            &["*"],
            Kind::Path,
        )
    },
    Spec {
        unset: "not set: the host name",
        ..spec(
            Key::Node,
            "store.node",
            "CERTCTL_NODE",
            "--node",
            "node",
            &["*"],
            Kind::Word,
        )
    },
];

impl Key {
    /// This setting's names and default.
    pub fn spec(self) -> &'static Spec {
        SPECS
            .iter()
            .find(|s| s.key == self)
            .expect("every key has a spec")
    }
}

impl Spec {
    /// Whether `command` (a subcommand path, `"import certbot"`) takes this setting's flag.
    pub fn taken_by(&self, command: &str) -> bool {
        self.commands.iter().any(|c| *c == "*" || *c == command)
    }

    /// Checks a value from the file or the environment the way the flag's parser would.
    fn check(&self, value: &str) -> Result<(), String> {
        match self.kind {
            Kind::Url => crate::acme::directory::directory_url(Some(value), false)
                .map(drop)
                .map_err(|e| e.replace("--server ", "")),
            Kind::Email => crate::acme::account::check_email(value),
            Kind::KeyType => value
                .parse::<KeyType>()
                .map(drop)
                .map_err(|e| e.to_string()),
            Kind::PostgresUrl => match value.split_once("://") {
                Some(("postgres" | "postgresql", rest)) if !rest.is_empty() => Ok(()),
                _ => Err(format!(
                    "{:?} is not a postgres:// URL",
                    hide_password(value)
                )),
            },
            Kind::Word if value.is_empty() || value.contains(char::is_whitespace) => {
                Err(format!("{value:?} is not one word"))
            }
            Kind::Word => Ok(()),
            Kind::Path | Kind::Command if value.trim().is_empty() => Err("is empty".into()),
            Kind::Path | Kind::Command => Ok(()),
            Kind::Count { max } => match value.parse::<i64>() {
                Ok(n) if (1..=max).contains(&n) => Ok(()),
                _ => Err(format!("{value:?} is not a whole number from 1 to {max}")),
            },
        }
    }
}

/// A value as the file holds it: TOML of any type, and where.
type FileField = Option<Spanned<toml::Value>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    acme: AcmeSection,
    #[serde(default)]
    nginx: NginxSection,
    #[serde(default)]
    hooks: HooksSection,
    #[serde(default)]
    renew: RenewSection,
    #[serde(default)]
    store: StoreSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AcmeSection {
    server: FileField,
    email: FileField,
    ca_bundle: FileField,
    key_type: FileField,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NginxSection {
    bin: FileField,
    prefix: FileField,
    conf: FileField,
    reload_cmd: FileField,
    sites_dir: FileField,
    enabled_dir: FileField,
    snippets_dir: FileField,
    acme_webroot: FileField,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HooksSection {
    deploy: FileField,
    on_failure: FileField,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RenewSection {
    metrics_file: FileField,
    concurrency: FileField,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreSection {
    state_dir: FileField,
    url: FileField,
    fleet_key: FileField,
    node: FileField,
}

impl FileDoc {
    fn take(&mut self, key: Key) -> FileField {
        match key {
            Key::Server => self.acme.server.take(),
            Key::Email => self.acme.email.take(),
            Key::CaBundle => self.acme.ca_bundle.take(),
            Key::KeyType => self.acme.key_type.take(),
            Key::NginxBin => self.nginx.bin.take(),
            Key::NginxPrefix => self.nginx.prefix.take(),
            Key::NginxConf => self.nginx.conf.take(),
            Key::ReloadCmd => self.nginx.reload_cmd.take(),
            Key::SitesDir => self.nginx.sites_dir.take(),
            Key::EnabledDir => self.nginx.enabled_dir.take(),
            Key::SnippetsDir => self.nginx.snippets_dir.take(),
            Key::AcmeWebroot => self.nginx.acme_webroot.take(),
            Key::DeployHook => self.hooks.deploy.take(),
            Key::OnFailureHook => self.hooks.on_failure.take(),
            Key::MetricsFile => self.renew.metrics_file.take(),
            Key::Concurrency => self.renew.concurrency.take(),
            Key::StateDir => self.store.state_dir.take(),
            Key::StoreUrl => self.store.url.take(),
            Key::FleetKey => self.store.fleet_key.take(),
            Key::Node => self.store.node.take(),
        }
    }
}

/// A bad config file or environment variable: the CLI runs nothing (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// TOML that does not parse, or a key certctl does not know.
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// toml's message (an unknown key names the keys there are).
        message: String,
    },
    /// A known key with a value it cannot take.
    #[error("{}:{line}: {key}: {message}", path.display())]
    BadValue {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// `section.name`.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// An environment variable with a value its setting cannot take.
    #[error("environment variable {var} ({key}): {message}")]
    BadEnv {
        /// The variable.
        var: &'static str,
        /// `section.name`.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A value the file sets, and its line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileValue {
    /// The value as text (integers written in decimal).
    pub value: String,
    /// 1-based line.
    pub line: usize,
}

/// A parsed, checked config file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigFile {
    /// Where it was read.
    pub path: PathBuf,
    values: BTreeMap<Key, FileValue>,
}

fn line_of(text: &str, span: &Range<usize>) -> usize {
    text[..span.start.min(text.len())].matches('\n').count() + 1
}

/// Parses and checks a config file's text.
pub fn parse_file(path: &Path, text: &str) -> Result<ConfigFile, SettingsError> {
    let mut doc: FileDoc = toml::from_str(text).map_err(|e| SettingsError::Syntax {
        path: path.to_owned(),
        line: e.span().map(|s| line_of(text, &s)).unwrap_or(1),
        message: e.message().trim().to_owned(),
    })?;
    let mut values = BTreeMap::new();
    for spec in &SPECS {
        let Some(field) = doc.take(spec.key) else {
            continue;
        };
        let line = line_of(text, &field.span());
        let bad = |message: String| SettingsError::BadValue {
            path: path.to_owned(),
            line,
            key: spec.name,
            message,
        };
        let value = match (field.into_inner(), spec.kind) {
            (toml::Value::Integer(n), Kind::Count { .. }) => n.to_string(),
            (toml::Value::String(s), Kind::Count { .. }) => {
                return Err(bad(format!(
                    "{s:?} is a string; write a number without quotes"
                )));
            }
            (toml::Value::String(s), _) => s,
            (other, Kind::Count { .. }) => {
                return Err(bad(format!(
                    "a {} where a number belongs",
                    other.type_str()
                )));
            }
            (other, _) => {
                return Err(bad(format!(
                    "a {} where a string belongs (quote it)",
                    other.type_str()
                )));
            }
        };
        spec.check(&value).map_err(bad)?;
        if spec.kind == Kind::Path && !Path::new(&value).is_absolute() {
            return Err(bad(format!("{value:?} is not an absolute path")));
        }
        values.insert(spec.key, FileValue { value, line });
    }
    Ok(ConfigFile {
        path: path.to_owned(),
        values,
    })
}

impl ConfigFile {
    /// The value the file sets for `key`.
    pub fn get(&self, key: Key) -> Option<&FileValue> {
        self.values.get(&key)
    }
}

/// One effective value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The value; `None` when nothing sets it and there is no built-in value.
    pub value: Option<String>,
    /// Where it comes from.
    pub source: Source,
    /// The file's line, when it comes from the file.
    pub line: Option<usize>,
}

/// Every effective value, and the file they were read with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The config file read, if one was.
    pub file: Option<PathBuf>,
    values: BTreeMap<Key, Resolved>,
}

/// Flag over environment over file over default, for every key. `flag` gives what the command
/// line set (already checked by its parser), `env` looks a variable up (an empty one counts as
/// unset).
pub fn resolve(
    flag: &dyn Fn(&Spec) -> Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
    file: Option<&ConfigFile>,
) -> Result<Settings, SettingsError> {
    let mut values = BTreeMap::new();
    for spec in &SPECS {
        let resolved = if let Some(value) = flag(spec) {
            Resolved {
                value: Some(value),
                source: Source::Flag,
                line: None,
            }
        } else if let Some(value) = env(spec.env).filter(|v| !v.is_empty()) {
            spec.check(&value)
                .map_err(|message| SettingsError::BadEnv {
                    var: spec.env,
                    key: spec.name,
                    message,
                })?;
            Resolved {
                value: Some(value),
                source: Source::Env,
                line: None,
            }
        } else if let Some(v) = file.and_then(|f| f.get(spec.key)) {
            Resolved {
                value: Some(v.value.clone()),
                source: Source::File,
                line: Some(v.line),
            }
        } else {
            Resolved {
                value: spec.default.map(str::to_owned),
                source: Source::Default,
                line: None,
            }
        };
        values.insert(spec.key, resolved);
    }
    Ok(Settings {
        file: file.map(|f| f.path.clone()),
        values,
    })
}

/// A URL with the password of its user information (`user:PASSWORD@`) replaced by `***`.
pub fn hide_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// One line of `config show --json`.
#[derive(Clone, Debug, Serialize)]
pub struct Shown {
    /// `section.name`.
    pub key: &'static str,
    /// The value, or `null` when unset; a secret shows only its first word and `…`.
    pub value: Option<String>,
    /// Where it comes from.
    pub source: Source,
    /// The flag, the variable, `FILE:LINE`, or what the default means.
    pub origin: String,
    /// The environment variable for this setting.
    pub env: &'static str,
    /// The flag for this setting.
    pub flag: &'static str,
}

impl Settings {
    /// The effective value and its source.
    pub fn get(&self, key: Key) -> &Resolved {
        &self.values[&key]
    }

    /// The effective value.
    pub fn value(&self, key: Key) -> Option<&str> {
        self.get(key).value.as_deref()
    }

    /// The effective value as a path.
    pub fn path(&self, key: Key) -> Option<PathBuf> {
        self.value(key).map(PathBuf::from)
    }

    /// The value a flag or variable set for this run, if one did.
    pub fn explicit(&self, key: Key) -> Option<&str> {
        let r = self.get(key);
        matches!(r.source, Source::Flag | Source::Env)
            .then_some(r.value.as_deref())
            .flatten()
    }

    /// The value the file or a built-in default gives, if neither a flag nor a variable set one.
    pub fn configured(&self, key: Key) -> Option<&str> {
        let r = self.get(key);
        matches!(r.source, Source::File | Source::Default)
            .then_some(r.value.as_deref())
            .flatten()
    }

    /// A setting that something the certificate remembers (its record) overrides unless this run
    /// set it: flag and environment, then what is remembered, then the file and the default.
    pub fn over_remembered<T>(
        &self,
        key: Key,
        remembered: Option<T>,
        from: impl Fn(&str) -> T,
    ) -> Option<T> {
        self.explicit(key)
            .map(&from)
            .or(remembered)
            .or_else(|| self.configured(key).map(from))
    }

    /// The key type for new keys.
    pub fn key_type(&self) -> KeyType {
        self.value(Key::KeyType)
            .and_then(|v| v.parse().ok())
            .unwrap_or_default()
    }

    /// How many certificates renew at once.
    pub fn concurrency(&self) -> u16 {
        self.value(Key::Concurrency)
            .and_then(|v| v.parse().ok())
            .unwrap_or(4)
    }

    /// Every setting as `config show` prints it; secrets show their first word only.
    pub fn show(&self) -> Vec<Shown> {
        SPECS
            .iter()
            .map(|spec| {
                let r = self.get(spec.key);
                let value = r.value.as_deref().map(|v| match spec.secret {
                    true => format!(
                        "{} … (the rest not shown)",
                        v.split_whitespace().next().unwrap_or("")
                    ),
                    false if spec.kind == Kind::PostgresUrl => hide_password(v),
                    false => v.to_owned(),
                });
                let origin = match r.source {
                    Source::Flag => spec.flag.to_owned(),
                    Source::Env => spec.env.to_owned(),
                    Source::File => format!(
                        "{}:{}",
                        self.file.as_deref().unwrap_or(Path::new("?")).display(),
                        r.line.unwrap_or(0)
                    ),
                    Source::Default if r.value.is_some() => "built in".to_owned(),
                    Source::Default => spec.unset.to_owned(),
                };
                Shown {
                    key: spec.name,
                    value,
                    source: r.source,
                    origin,
                    env: spec.env,
                    flag: spec.flag,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Result<ConfigFile, SettingsError> {
        parse_file(Path::new("/etc/certctl/certctl.toml"), text)
    }

    /// flag, environment, whether the file sets it, the value that wins, its source.
    type Row = (
        Option<&'static str>,
        Option<&'static str>,
        bool,
        &'static str,
        Source,
    );

    /// The precedence table: for each combination of layers that set a value, the layer that
    /// wins and the value it gives.
    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let cfg = file("[acme]\nserver = \"https://file.test/dir\"\n").unwrap();
        let table: [Row; 8] = [
            (
                None,
                None,
                false,
                crate::acme::directory::LETS_ENCRYPT,
                Source::Default,
            ),
            (None, None, true, "https://file.test/dir", Source::File),
            (
                None,
                Some("https://env.test/dir"),
                false,
                "https://env.test/dir",
                Source::Env,
            ),
            (
                None,
                Some("https://env.test/dir"),
                true,
                "https://env.test/dir",
                Source::Env,
            ),
            (
                Some("https://flag.test/dir"),
                None,
                false,
                "https://flag.test/dir",
                Source::Flag,
            ),
            (
                Some("https://flag.test/dir"),
                None,
                true,
                "https://flag.test/dir",
                Source::Flag,
            ),
            (
                Some("https://flag.test/dir"),
                Some("https://env.test/dir"),
                false,
                "https://flag.test/dir",
                Source::Flag,
            ),
            (
                Some("https://flag.test/dir"),
                Some("https://env.test/dir"),
                true,
                "https://flag.test/dir",
                Source::Flag,
            ),
        ];
        for (flag, env, with_file, want, source) in table {
            let s = resolve(
                &|spec| {
                    (spec.key == Key::Server)
                        .then(|| flag.map(str::to_owned))
                        .flatten()
                },
                &|var| {
                    (var == "CERTCTL_SERVER")
                        .then(|| env.map(str::to_owned))
                        .flatten()
                },
                with_file.then_some(&cfg),
            )
            .unwrap();
            let got = s.get(Key::Server);
            assert_eq!(
                (got.value.as_deref(), got.source),
                (Some(want), source),
                "flag {flag:?} env {env:?} file {with_file}"
            );
            assert_eq!(
                got.line,
                with_file.then_some(2).filter(|_| source == Source::File)
            );
            // Every other key is untouched by these layers.
            assert_eq!(s.get(Key::Email).source, Source::Default);
            assert_eq!(s.get(Key::Email).value, None);
        }
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        let cfg = file("[renew]\nconcurrency = 9\n").unwrap();
        let s = resolve(&|_| None, &|_| Some(String::new()), Some(&cfg)).unwrap();
        assert_eq!(s.get(Key::Concurrency).source, Source::File);
        assert_eq!(s.concurrency(), 9);
    }

    #[test]
    fn a_remembered_value_sits_between_the_run_and_the_file() {
        let cfg = file("[nginx]\nbin = \"/file/nginx\"\n").unwrap();
        let pick = |env: Option<&str>, remembered: Option<&str>| {
            let env = env.map(str::to_owned);
            let s = resolve(
                &|_| None,
                &|v| (v == "CERTCTL_NGINX_BIN").then(|| env.clone()).flatten(),
                Some(&cfg),
            )
            .unwrap();
            s.over_remembered(Key::NginxBin, remembered.map(str::to_owned), str::to_owned)
        };
        assert_eq!(pick(None, None).as_deref(), Some("/file/nginx"));
        assert_eq!(
            pick(None, Some("/kept/nginx")).as_deref(),
            Some("/kept/nginx")
        );
        assert_eq!(
            pick(Some("/env/nginx"), Some("/kept/nginx")).as_deref(),
            Some("/env/nginx")
        );
    }

    #[test]
    fn an_unknown_key_names_itself_and_its_line() {
        let err =
            file("[acme]\nemail = \"ops@example.com\"\n\n[renew]\nconcurency = 3\n").unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, SettingsError::Syntax { line: 5, .. }),
            "{text}"
        );
        assert!(text.starts_with("/etc/certctl/certctl.toml:5: "), "{text}");
        assert!(text.contains("concurency"), "{text}");
        let err = file("[acmee]\nserver = \"https://x.test/\"\n").unwrap_err();
        assert!(
            err.to_string().contains(":1: ") && err.to_string().contains("acmee"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_value_names_its_key_and_line() {
        let cases = [
            (
                "[acme]\nkey_type = \"dsa-1024\"\n",
                2,
                "acme.key_type",
                "dsa-1024",
            ),
            (
                "\n[renew]\nconcurrency = 0\n",
                3,
                "renew.concurrency",
                "1 to 64",
            ),
            (
                "[renew]\nconcurrency = \"4\"\n",
                2,
                "renew.concurrency",
                "without quotes",
            ),
            (
                "[acme]\nserver = \"http://x.test/dir\"\n",
                2,
                "acme.server",
                "https://",
            ),
            ("[acme]\nemail = \"nobody\"\n", 2, "acme.email", "nobody"),
            (
                "[store]\nstate_dir = \"var/lib\"\n",
                2,
                "store.state_dir",
                "absolute",
            ),
            (
                "[nginx]\nreload_cmd = 5\n",
                2,
                "nginx.reload_cmd",
                "integer",
            ),
        ];
        for (text, line, key, says) in cases {
            let err = file(text).unwrap_err();
            let msg = err.to_string();
            assert!(
                matches!(&err, SettingsError::BadValue { line: l, key: k, .. } if *l == line && *k == key),
                "{text:?}: {msg}"
            );
            assert!(
                msg.contains(&format!(":{line}: {key}: ")) && msg.contains(says),
                "{msg}"
            );
        }
    }

    #[test]
    fn a_bad_variable_is_refused_with_its_name() {
        let err = resolve(
            &|_| None,
            &|v| (v == "CERTCTL_KEY_TYPE").then(|| "dsa".into()),
            None,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("environment variable CERTCTL_KEY_TYPE (acme.key_type): "),
            "{err}"
        );
    }

    #[test]
    fn hooks_are_never_shown_whole() {
        let cfg = file("[hooks]\ndeploy = \"curl -fsS https://hc.test/secret-token\"\n").unwrap();
        let s = resolve(&|_| None, &|_| None, Some(&cfg)).unwrap();
        let shown = s.show();
        let deploy = shown.iter().find(|s| s.key == "hooks.deploy").unwrap();
        assert_eq!(deploy.value.as_deref(), Some("curl … (the rest not shown)"));
        assert_eq!(deploy.origin, "/etc/certctl/certctl.toml:2");
        assert!(!format!("{shown:?}").contains("secret-token"));
    }

    #[test]
    fn a_store_urls_password_is_never_shown_and_a_bad_scheme_is_refused() {
        let cfg =
            file("[store]\nurl = \"postgres://certctl:hunter2@db.internal/certctl\"\n").unwrap();
        let s = resolve(&|_| None, &|_| None, Some(&cfg)).unwrap();
        assert_eq!(
            s.value(Key::StoreUrl),
            Some("postgres://certctl:hunter2@db.internal/certctl")
        );
        let shown = s.show();
        let url = shown.iter().find(|s| s.key == "store.url").unwrap();
        assert_eq!(
            url.value.as_deref(),
            Some("postgres://certctl:***@db.internal/certctl")
        );
        assert!(!format!("{shown:?}").contains("hunter2"));
        let err = file("[store]\nurl = \"mysql://u:pw@db/x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("store.url") && err.contains("not a postgres:// URL"),
            "{err}"
        );
        assert!(!err.contains("pw@"), "{err}");
        assert!(file("[store]\nnode = \"web 1\"\n").is_err());
    }

    /// The example shipped in the package: every key it shows, uncommented, is accepted, and it
    /// shows every key.
    #[test]
    fn the_shipped_example_names_every_key_and_parses() {
        let example = include_str!("../packaging/certctl.toml");
        let uncommented: String = example
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest)
                    if rest.split_once(" = ").is_some_and(|(k, _)| {
                        k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    }) =>
                {
                    rest
                }
                _ => l,
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let cfg = file(&uncommented).unwrap();
        for spec in &SPECS {
            assert!(
                cfg.get(spec.key).is_some(),
                "the example lacks {}",
                spec.name
            );
        }
    }

    #[test]
    fn every_key_has_one_spec_and_the_file_names_every_key() {
        let mut doc = FileDoc::default();
        for spec in &SPECS {
            assert_eq!(spec.key.spec().name, spec.name);
            assert!(doc.take(spec.key).is_none());
        }
        // Every key can be written in a file, at the name `config show` prints.
        for spec in &SPECS {
            let (section, name) = spec.name.split_once('.').unwrap();
            let value = match spec.kind {
                Kind::Count { .. } => "2".to_owned(),
                Kind::Url => "\"https://ca.test/dir\"".into(),
                Kind::Email => "\"ops@example.com\"".into(),
                Kind::KeyType => "\"rsa-2048\"".into(),
                Kind::PostgresUrl => "\"postgres://db.test/certctl\"".into(),
                _ => "\"/x\"".into(),
            };
            let cfg = file(&format!("[{section}]\n{name} = {value}\n")).unwrap();
            assert_eq!(cfg.get(spec.key).map(|v| v.line), Some(2), "{}", spec.name);
        }
    }
}
