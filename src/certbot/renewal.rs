//! certbot's `renewal/NAME.conf`, parsed, and what certctl would make of it. Pure: text in,
//! values out; no file is read here.
//!
//! certbot writes these files with configobj: `key = value` lines at the top (version,
//! archive_dir and the four live paths), a `[renewalparams]` section, and a `[[webroot_map]]`
//! subsection under it. Values are unquoted (a `#` starts a comment, a `,` makes a list),
//! or quoted with `'`, `"` or their triple forms; configobj applies no escapes. The file is
//! untrusted input: anything this parser does not understand is an error naming the line,
//! never a panic.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::config::Responder;
use crate::keys::KeyType;

/// A configobj value: one string, or a comma-separated list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `key = text`
    Str(String),
    /// `key = a, b` (a trailing comma makes a one-element list: `webroot_path = /var/www,`).
    List(Vec<String>),
}

impl Value {
    /// The value as one string (a list's items joined with ", ", as configobj would show them).
    pub fn as_text(&self) -> String {
        match self {
            Self::Str(s) => s.clone(),
            Self::List(items) => items.join(", "),
        }
    }

    /// The value as a list (a single string is a list of one).
    pub fn items(&self) -> Vec<String> {
        match self {
            Self::Str(s) => vec![s.clone()],
            Self::List(items) => items.clone(),
        }
    }
}

/// A parsed renewal configuration file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RenewalConf {
    /// The top-level keys (version, archive_dir, cert, privkey, chain, fullchain, …).
    pub top: BTreeMap<String, Value>,
    /// `[renewalparams]`.
    pub params: BTreeMap<String, Value>,
    /// `[[webroot_map]]` under `[renewalparams]`: name → web root, in file order.
    pub webroot_map: Vec<(String, String)>,
}

/// Why a renewal file does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong there.
    pub reason: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Top,
    Params,
    WebrootMap,
    /// A section certctl does not read; its keys are skipped.
    Other,
}

impl RenewalConf {
    /// Parses the text of a renewal file.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut conf = RenewalConf::default();
        let mut section = Section::Top;
        let mut parent_is_params = false;
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let err = |reason: &str| ParseError {
                line: line_no,
                reason: reason.to_owned(),
            };
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('[') {
                let (depth, name) =
                    section_header(line).ok_or_else(|| err("bad section header"))?;
                section = match (depth, name) {
                    (1, "renewalparams") => {
                        parent_is_params = true;
                        Section::Params
                    }
                    (1, _) => {
                        parent_is_params = false;
                        Section::Other
                    }
                    (2, "webroot_map") if parent_is_params => Section::WebrootMap,
                    (2, _) if section != Section::Top => Section::Other,
                    _ => return Err(err("a subsection outside any section")),
                };
                continue;
            }
            let (key, rest) = split_key(line).ok_or_else(|| err("expected `key = value`"))?;
            if key.is_empty() {
                return Err(err("empty key"));
            }
            let value = parse_value(rest).map_err(err)?;
            let duplicate = match section {
                Section::Top => conf.top.insert(key.clone(), value).is_some(),
                Section::Params => conf.params.insert(key.clone(), value).is_some(),
                Section::WebrootMap => {
                    let Value::Str(path) = value else {
                        return Err(err("a webroot_map entry must be one path"));
                    };
                    let seen = conf.webroot_map.iter().any(|(k, _)| *k == key);
                    conf.webroot_map.push((key.clone(), path));
                    seen
                }
                Section::Other => false,
            };
            if duplicate {
                return Err(err(&format!("duplicate key {key:?}")));
            }
        }
        Ok(conf)
    }

    /// A `[renewalparams]` value as text, if set (configobj's `None` counts as unset).
    pub fn param(&self, key: &str) -> Option<String> {
        self.params
            .get(key)
            .map(Value::as_text)
            .filter(|v| !v.is_empty() && v != "None")
    }

    /// A top-level value as a path, if set.
    fn top_path(&self, key: &str) -> Option<PathBuf> {
        self.top
            .get(key)
            .map(Value::as_text)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }
}

/// `[name]` → (1, name), `[[name]]` → (2, name); quotes around the name are allowed.
fn section_header(line: &str) -> Option<(usize, &str)> {
    let line = strip_comment_after_brackets(line);
    let depth = line.bytes().take_while(|&b| b == b'[').count();
    let close = line.bytes().rev().take_while(|&b| b == b']').count();
    if depth == 0 || depth != close || depth > 2 || line.len() < 2 * depth {
        return None;
    }
    let name = line[depth..line.len() - depth].trim();
    let name = unquote_simple(name).unwrap_or(name);
    (!name.is_empty() && !name.contains(['[', ']'])).then_some((depth, name))
}

fn strip_comment_after_brackets(line: &str) -> &str {
    match line.rfind(']') {
        Some(end) => &line[..=end],
        None => line,
    }
}

fn unquote_simple(s: &str) -> Option<&str> {
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return Some(&s[1..s.len() - 1]);
        }
    }
    None
}

/// Splits `key = rest`; the key may be quoted.
fn split_key(line: &str) -> Option<(String, &str)> {
    if let Some(q) = line.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let end = line[1..].find(q)? + 1;
        let key = line[1..end].to_owned();
        let rest = line[end + 1..].trim_start().strip_prefix('=')?;
        return Some((key, rest));
    }
    let (key, rest) = line.split_once('=')?;
    Some((key.trim().to_owned(), rest))
}

/// Parses what follows `=`: a quoted string, an unquoted string, or a comma-separated list of
/// either, with an optional `# comment` at the end.
fn parse_value(rest: &str) -> Result<Value, &'static str> {
    let mut s = rest.trim();
    // Triple quotes: one string, no list.
    for q in ["'''", "\"\"\""] {
        if let Some(body) = s.strip_prefix(q) {
            let end = body
                .find(q)
                .ok_or("a triple-quoted value spread over several lines")?;
            let after = body[end + 3..].trim();
            if !(after.is_empty() || after.starts_with('#')) {
                return Err("text after a triple-quoted value");
            }
            return Ok(Value::Str(body[..end].to_owned()));
        }
    }
    let mut items = Vec::new();
    let mut saw_comma = false;
    loop {
        s = s.trim_start();
        if s.is_empty() || s.starts_with('#') {
            break;
        }
        let (item, after) = if let Some(q) = s.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let end = s[1..].find(q).ok_or("an unterminated quoted value")? + 1;
            (s[1..end].to_owned(), &s[end + 1..])
        } else {
            let end = s.find([',', '#']).unwrap_or(s.len());
            (s[..end].trim_end().to_owned(), &s[end..])
        };
        items.push(item);
        let after = after.trim_start();
        if let Some(more) = after.strip_prefix(',') {
            saw_comma = true;
            s = more;
        } else if after.is_empty() || after.starts_with('#') {
            break;
        } else {
            return Err("text after a quoted value");
        }
    }
    Ok(if saw_comma {
        Value::List(items.into_iter().filter(|i| !i.is_empty()).collect())
    } else {
        Value::Str(items.pop().unwrap_or_default())
    })
}

/// The default ACME server of certbot (and certctl): Let's Encrypt production.
pub const CERTBOT_DEFAULT_SERVER: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// What certctl would make of one lineage's renewal settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// How challenges would be answered (certbot's authenticator); `None` for certbot's nginx
    /// authenticator, whose challenges certctl's nginx site answers once the import has taken
    /// that site over (its ACME include in the port-80 server, as `certctl nginx --take-over`).
    pub responder: Option<Responder>,
    /// The HTTP-01 port (`http01_port`, which the standalone and nginx authenticators honour;
    /// 80 otherwise).
    pub http_port: u16,
    /// ACME directory URL.
    pub server: String,
    /// Key type for new keys, when the file says (certbot ≥ 1.10 always does).
    pub key_type: Option<KeyType>,
    /// certbot's `reuse_key`.
    pub reuse_key: bool,
    /// certbot's deploy hook (`renew_hook`), with `post_hook` after it.
    pub deploy_hook: Option<String>,
    /// certbot's `preferred_chain`.
    pub preferred_chain: Option<String>,
    /// certbot's `renew_before_expiry`, in days.
    pub renew_before_days: Option<u32>,
    /// The certbot account id (the directory under accounts/SERVER/).
    pub account: Option<String>,
    /// The live files the file names.
    pub files: LiveFiles,
    /// certbot's nginx installer pointed nginx at the lineage (certctl repoints it).
    pub installer_nginx: bool,
    /// Settings certctl does not carry over, each a sentence for the user.
    pub notes: Vec<String>,
}

/// A `renew_before_expiry` interval in whole days ("30 days", "2 weeks", "10d", "30"), or None
/// for what certctl does not read that way (hours, months, garbage).
fn interval_days(text: &str) -> Option<u32> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u32 = number.parse().ok()?;
    let per = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "d" | "day" | "days" => 1,
        "w" | "week" | "weeks" => 7,
        _ => return None,
    };
    number.checked_mul(per).filter(|&days| days > 0)
}

/// The four live paths of a lineage, as its renewal file names them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveFiles {
    /// `cert`
    pub cert: Option<PathBuf>,
    /// `chain`
    pub chain: Option<PathBuf>,
    /// `fullchain`
    pub fullchain: Option<PathBuf>,
    /// `privkey`
    pub privkey: Option<PathBuf>,
}

/// Why certctl leaves a lineage to certbot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A DNS-01 plugin (`dns-cloudflare`, `dns-route53`, …).
    DnsPlugin(String),
    /// `--manual`.
    Manual,
    /// An authenticator certctl does not know.
    UnknownAuthenticator(String),
    /// No authenticator recorded.
    NoAuthenticator,
    /// An installer edits a web server's files to point at certbot's live paths.
    Installer(String),
    /// A pre-hook certctl would not run.
    PreHook(String),
    /// A webroot lineage whose names use different web roots.
    SeveralWebroots(Vec<String>),
    /// A webroot lineage with no web root.
    NoWebroot,
    /// A key type certctl does not issue.
    KeyType(String),
    /// `autorenew = False`.
    AutorenewOff,
    /// Only challenge types certctl does not answer.
    Challenges(String),
    /// A value that does not parse.
    BadValue {
        /// The key.
        key: String,
        /// Its value.
        value: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DnsPlugin(p) => write!(
                f,
                "authenticator {p} answers DNS-01 challenges; certctl answers HTTP-01 only"
            ),
            Self::Manual => f.write_str(
                "authenticator manual needs a person or a script for every challenge; certctl has no manual mode",
            ),
            Self::UnknownAuthenticator(a) => write!(f, "unknown authenticator {a}"),
            Self::NoAuthenticator => f.write_str("the renewal file names no authenticator"),
            Self::Installer(i) => write!(
                f,
                "installer {i}: its configuration reads certbot's live/ paths, and certctl repoints only nginx's"
            ),
            Self::PreHook(h) => write!(
                f,
                "pre_hook {h:?}: certctl runs no hook before a renewal, so what it stops or prepares would not be"
            ),
            Self::SeveralWebroots(roots) => write!(
                f,
                "the names use different web roots ({}); certctl uses one per certificate",
                roots.join(", ")
            ),
            Self::NoWebroot => f.write_str("authenticator webroot without a web root"),
            Self::KeyType(k) => write!(
                f,
                "key type {k}: certctl issues ECDSA P-256/P-384 and RSA 2048/3072/4096"
            ),
            Self::AutorenewOff => {
                f.write_str("autorenew is off: certbot does not renew it unattended either")
            }
            Self::Challenges(c) => write!(
                f,
                "preferred challenges {c}: certctl answers HTTP-01 only"
            ),
            Self::BadValue { key, value } => write!(f, "{key} = {value:?} does not parse"),
        }
    }
}

fn bool_param(conf: &RenewalConf, key: &str) -> Result<bool, Refusal> {
    match conf.param(key) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(value) => Err(Refusal::BadValue {
            key: key.to_owned(),
            value,
        }),
    }
}

/// certbot's `key_type`, `rsa_key_size` and `elliptic_curve` as a certctl key type.
fn key_type(conf: &RenewalConf) -> Result<Option<KeyType>, Refusal> {
    let Some(kind) = conf.param("key_type") else {
        return Ok(None);
    };
    match kind.to_ascii_lowercase().as_str() {
        "rsa" => match conf.param("rsa_key_size").as_deref().unwrap_or("2048") {
            "2048" => Ok(Some(KeyType::Rsa2048)),
            "3072" => Ok(Some(KeyType::Rsa3072)),
            "4096" => Ok(Some(KeyType::Rsa4096)),
            other => Err(Refusal::KeyType(format!("rsa {other}"))),
        },
        "ecdsa" => match conf
            .param("elliptic_curve")
            .as_deref()
            .unwrap_or("secp256r1")
        {
            "secp256r1" | "prime256v1" | "P-256" => Ok(Some(KeyType::EcdsaP256)),
            "secp384r1" | "P-384" => Ok(Some(KeyType::EcdsaP384)),
            other => Err(Refusal::KeyType(format!("ecdsa {other}"))),
        },
        other => Err(Refusal::KeyType(other.to_owned())),
    }
}

/// The deploy hook certctl runs: certbot's `renew_hook` (where it keeps `--deploy-hook`), then
/// its `post_hook`. A hook that reads certbot's `RENEWED_LINEAGE`/`RENEWED_DOMAINS` gets them
/// from certctl's variables.
fn deploy_hook(conf: &RenewalConf, notes: &mut Vec<String>) -> Option<String> {
    let deploy = conf
        .param("renew_hook")
        .or_else(|| conf.param("deploy_hook"));
    let post = conf.param("post_hook");
    if post.is_some() {
        notes.push(
            "post_hook runs after each successful renewal (certbot also ran it after failed ones)"
                .into(),
        );
    }
    let hook = match (deploy, post) {
        (None, None) => return None,
        (Some(d), None) => d,
        (None, Some(p)) => p,
        (Some(d), Some(p)) => format!("{d}; {p}"),
    };
    Some(if hook.contains("RENEWED_") {
        format!(
            "RENEWED_LINEAGE=\"$(dirname \"$CERTCTL_FULLCHAIN\")\" RENEWED_DOMAINS=\"$CERTCTL_DOMAINS\"; export RENEWED_LINEAGE RENEWED_DOMAINS; {hook}"
        )
    } else {
        hook
    })
}

/// The ACME server and the certbot account a renewal file names, whatever else it says (for a
/// lineage left to certbot: the account certbot keeps renewing it with).
pub fn account_of(conf: &RenewalConf) -> (String, Option<String>) {
    (
        conf.param("server")
            .unwrap_or_else(|| CERTBOT_DEFAULT_SERVER.to_owned()),
        conf.param("account"),
    )
}

/// Decides whether certctl can renew a lineage the way certbot did, and how.
pub fn plan(conf: &RenewalConf) -> Result<Plan, Refusal> {
    let mut notes = Vec::new();
    if conf.param("autorenew").is_some() && !bool_param(conf, "autorenew")? {
        return Err(Refusal::AutorenewOff);
    }
    let authenticator = conf
        .param("authenticator")
        .ok_or(Refusal::NoAuthenticator)?;
    // Old certbot wrote plugin names with a prefix ("certbot-dns-route53:dns-route53").
    let short = authenticator
        .rsplit(':')
        .next()
        .unwrap_or(&authenticator)
        .to_owned();
    let installer = conf
        .param("installer")
        .filter(|i| !matches!(i.as_str(), "null" | "None" | ""));
    if let Some(installer) = installer.as_ref().filter(|i| *i != "nginx") {
        return Err(Refusal::Installer(installer.clone()));
    }
    if let Some(challs) = conf.param("pref_challs") {
        let items = conf.params["pref_challs"].items();
        if !items
            .iter()
            .any(|c| matches!(c.trim(), "http-01" | "http01" | "http"))
        {
            return Err(Refusal::Challenges(challs));
        }
    }
    let http_port = match conf.param("http01_port") {
        Some(port) => port.parse().map_err(|_| Refusal::BadValue {
            key: "http01_port".into(),
            value: port,
        })?,
        None => 80,
    };
    let responder = match short.as_str() {
        "webroot" => Some(Responder::Webroot {
            path: webroot(conf)?,
        }),
        "standalone" => {
            if let Some(address) = conf.param("http01_address") {
                notes.push(format!(
                    "http01_address {address} is not kept: certctl's standalone server listens on every address"
                ));
            }
            Some(Responder::Standalone)
        }
        "nginx" => None,
        "manual" => return Err(Refusal::Manual),
        a if a.starts_with("dns-") || a.starts_with("dns_") => {
            return Err(Refusal::DnsPlugin(authenticator));
        }
        _ => return Err(Refusal::UnknownAuthenticator(authenticator)),
    };
    if let Some(pre) = conf.param("pre_hook") {
        return Err(Refusal::PreHook(pre));
    }
    let key_type = key_type(conf)?;
    let reuse_key = bool_param(conf, "reuse_key")?;
    if bool_param(conf, "must_staple")? {
        notes.push(
            "must_staple is dropped: Let's Encrypt no longer signs Must-Staple certificates".into(),
        );
    }
    let mut renew_before_days = None;
    if let Some(before) = conf
        .top
        .get("renew_before_expiry")
        .map(Value::as_text)
        .filter(|v| !v.is_empty())
    {
        match interval_days(&before) {
            Some(days) => renew_before_days = Some(days),
            None => notes.push(format!(
                "renew_before_expiry = {before} is not understood and not kept: certctl renews when the CA's renewal info (ARI) says, or at 2/3 of the lifetime"
            )),
        }
    }
    let deploy_hook = deploy_hook(conf, &mut notes);
    Ok(Plan {
        responder,
        http_port,
        server: account_of(conf).0,
        key_type,
        reuse_key,
        deploy_hook,
        preferred_chain: conf.param("preferred_chain"),
        renew_before_days,
        account: account_of(conf).1,
        files: LiveFiles {
            cert: conf.top_path("cert"),
            chain: conf.top_path("chain"),
            fullchain: conf.top_path("fullchain"),
            privkey: conf.top_path("privkey"),
        },
        installer_nginx: installer.is_some(),
        notes,
    })
}

/// The one web root of a webroot lineage: every `webroot_map` entry must agree (or, without a
/// map, `webroot_path` must hold one path).
fn webroot(conf: &RenewalConf) -> Result<PathBuf, Refusal> {
    let mut roots: Vec<String> = conf.webroot_map.iter().map(|(_, p)| p.clone()).collect();
    if roots.is_empty() {
        roots = conf
            .params
            .get("webroot_path")
            .map(Value::items)
            .unwrap_or_default();
    }
    roots.retain(|r| !r.is_empty());
    roots.dedup();
    roots.sort();
    roots.dedup();
    match roots.as_slice() {
        [] => Err(Refusal::NoWebroot),
        [one] => Ok(PathBuf::from(one)),
        _ => Err(Refusal::SeveralWebroots(roots)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What certbot 2.1 wrote for `certonly --webroot -w /var/www/b -d b.test --deploy-hook …`.
    const WEBROOT: &str = "# renew_before_expiry = 30 days
version = 2.1.0
archive_dir = /etc/letsencrypt/archive/b.test
cert = /etc/letsencrypt/live/b.test/cert.pem
privkey = /etc/letsencrypt/live/b.test/privkey.pem
chain = /etc/letsencrypt/live/b.test/chain.pem
fullchain = /etc/letsencrypt/live/b.test/fullchain.pem

# Options used in the renewal process
[renewalparams]
account = f44ff8c865d60ea60b8ae0abf34f3684
renew_hook = echo $RENEWED_LINEAGE
config_dir = /etc/letsencrypt
server = https://127.0.0.1:24000/dir
authenticator = webroot
webroot_path = /var/www/b,
key_type = ecdsa
[[webroot_map]]
b.test = /var/www/b
www.b.test = /var/www/b
";

    const STANDALONE: &str = "version = 2.1.0
cert = /etc/letsencrypt/live/a.test/cert.pem
[renewalparams]
account = f44ff8c865d60ea60b8ae0abf34f3684
http01_port = 8080
server = https://acme-staging-v02.api.letsencrypt.org/directory
authenticator = standalone
key_type = rsa
rsa_key_size = 3072
reuse_key = True
";

    #[test]
    fn parses_what_certbot_writes() {
        let conf = RenewalConf::parse(WEBROOT).unwrap();
        assert_eq!(conf.top["version"], Value::Str("2.1.0".into()));
        assert_eq!(
            conf.params["webroot_path"],
            Value::List(vec!["/var/www/b".into()])
        );
        assert_eq!(conf.webroot_map.len(), 2);
        let plan = plan(&conf).unwrap();
        assert_eq!(
            plan.responder,
            Some(Responder::Webroot {
                path: "/var/www/b".into()
            })
        );
        assert_eq!(plan.key_type, Some(KeyType::EcdsaP256));
        assert_eq!(plan.server, "https://127.0.0.1:24000/dir");
        assert_eq!(
            plan.account.as_deref(),
            Some("f44ff8c865d60ea60b8ae0abf34f3684")
        );
        assert_eq!(
            plan.files.fullchain,
            Some("/etc/letsencrypt/live/b.test/fullchain.pem".into())
        );
        let hook = plan.deploy_hook.unwrap();
        assert!(hook.ends_with("; echo $RENEWED_LINEAGE"), "{hook}");
        assert!(hook.starts_with("RENEWED_LINEAGE="), "{hook}");

        let plan = super::plan(&RenewalConf::parse(STANDALONE).unwrap()).unwrap();
        assert_eq!(plan.responder, Some(Responder::Standalone));
        assert_eq!(plan.http_port, 8080);
        assert_eq!(plan.key_type, Some(KeyType::Rsa3072));
        assert!(plan.reuse_key);
        assert_eq!(plan.deploy_hook, None);
        // certbot writes the default commented out: nothing to keep.
        assert_eq!(plan.renew_before_days, None);
    }

    #[test]
    fn keeps_renew_before_expiry_in_days() {
        let with = |value: &str| {
            let text = STANDALONE.replacen(
                "[renewalparams]",
                &format!("renew_before_expiry = {value}\n[renewalparams]"),
                1,
            );
            super::plan(&RenewalConf::parse(&text).unwrap()).unwrap()
        };
        for (value, days) in [
            ("30 days", 30),
            ("45", 45),
            ("2 weeks", 14),
            ("10d", 10),
            ("1 day", 1),
        ] {
            let plan = with(value);
            assert_eq!(plan.renew_before_days, Some(days), "{value}");
            assert!(
                !plan.notes.iter().any(|n| n.contains("renew_before_expiry")),
                "{value}"
            );
        }
        for value in ["12 hours", "1 month", "soon", "0 days"] {
            let plan = with(value);
            assert_eq!(plan.renew_before_days, None, "{value}");
            assert!(
                plan.notes.iter().any(
                    |n| n.contains(&format!("renew_before_expiry = {value} is not understood"))
                ),
                "{value}: {:?}",
                plan.notes
            );
        }
    }

    #[test]
    fn values_quotes_lists_and_comments() {
        let cases: &[(&str, Value)] = &[
            ("a = b", Value::Str("b".into())),
            ("a = b # note", Value::Str("b".into())),
            ("a = 'x # y'", Value::Str("x # y".into())),
            ("a = \"it's\"", Value::Str("it's".into())),
            (
                "a = '''both ' and \"'''",
                Value::Str("both ' and \"".into()),
            ),
            ("a = x, y", Value::List(vec!["x".into(), "y".into()])),
            ("a = x,", Value::List(vec!["x".into()])),
            (
                "a = 'x, y', z",
                Value::List(vec!["x, y".into(), "z".into()]),
            ),
            ("a =", Value::Str(String::new())),
            ("'quoted key' = v", Value::Str("v".into())),
        ];
        for (line, want) in cases {
            let conf = RenewalConf::parse(line).unwrap();
            assert_eq!(conf.top.values().next(), Some(want), "{line}");
        }
        // Keys of sections certctl does not read are skipped; so are their subsections.
        let conf =
            RenewalConf::parse("[other]\nx = 1\n[[sub]]\ny = 2\n[renewalparams]\nz = 3").unwrap();
        assert_eq!(conf.params.len(), 1);
    }

    #[test]
    fn refuses_what_it_cannot_renew_the_same_way() {
        let with = |extra: &str| {
            let text = format!("[renewalparams]\nserver = https://ca.test/dir\n{extra}");
            plan(&RenewalConf::parse(&text).unwrap())
        };
        let cases: &[(&str, &str)] = &[
            ("authenticator = dns-cloudflare", "DNS-01"),
            ("authenticator = certbot-dns-route53:dns-route53", "DNS-01"),
            ("authenticator = manual", "no manual mode"),
            ("authenticator = apache", "unknown authenticator apache"),
            ("", "names no authenticator"),
            (
                "authenticator = webroot\ninstaller = apache",
                "installer apache",
            ),
            (
                "authenticator = standalone\npre_hook = systemctl stop nginx",
                "pre_hook",
            ),
            ("authenticator = webroot", "without a web root"),
            (
                "authenticator = webroot\n[[webroot_map]]\na.test = /a\nb.test = /b",
                "different web roots (/a, /b)",
            ),
            (
                "authenticator = standalone\nkey_type = ecdsa\nelliptic_curve = secp521r1",
                "ecdsa secp521r1",
            ),
            (
                "authenticator = standalone\nkey_type = rsa\nrsa_key_size = 1024",
                "rsa 1024",
            ),
            (
                "authenticator = standalone\nautorenew = False",
                "autorenew is off",
            ),
            (
                "authenticator = standalone\nhttp01_port = eighty",
                "http01_port",
            ),
            (
                "authenticator = standalone\npref_challs = dns-01,",
                "HTTP-01 only",
            ),
            ("authenticator = standalone\nreuse_key = maybe", "reuse_key"),
        ];
        for (extra, want) in cases {
            let refusal = with(extra).unwrap_err().to_string();
            assert!(refusal.contains(want), "{extra:?}: {refusal}");
        }
        let plan = with(
            "authenticator = standalone\ninstaller = None\nmust_staple = True\npost_hook = systemctl reload nginx",
        )
        .unwrap();
        assert_eq!(plan.deploy_hook.as_deref(), Some("systemctl reload nginx"));
        assert_eq!(plan.server, "https://ca.test/dir");
        assert_eq!(plan.notes.len(), 2, "{:?}", plan.notes);
        let plan = with("authenticator = webroot\nwebroot_path = /a, /a").unwrap();
        assert_eq!(
            plan.responder,
            Some(Responder::Webroot { path: "/a".into() })
        );
    }

    #[test]
    fn bad_lines_name_their_line() {
        for (text, line) in [
            ("version = 1\nno equals sign", 2),
            ("[renewalparams\n", 1),
            ("[[webroot_map]]\na = b", 1),
            ("a = 'unterminated", 1),
            ("a = '''spread\nover lines'''", 1),
            ("a = 'x' y", 1),
            ("a = 1\na = 2", 2),
            ("[renewalparams]\n[[webroot_map]]\na.test = /a, /b", 3),
            (" = x", 1),
        ] {
            let err = RenewalConf::parse(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
        }
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        // Every prefix of real files, and every byte flipped to a troublesome one.
        for text in [WEBROOT, STANDALONE] {
            for end in 0..=text.len() {
                if text.is_char_boundary(end) {
                    let _ = RenewalConf::parse(&text[..end]).map(|c| plan(&c));
                }
            }
            for (i, _) in text.char_indices() {
                for c in ['[', ']', '\'', '"', ',', '#', '=', '\n', 'é'] {
                    let mut s = text.to_owned();
                    s.replace_range(
                        i..i + s[i..].chars().next().unwrap().len_utf8(),
                        &c.to_string(),
                    );
                    let _ = RenewalConf::parse(&s).map(|c| plan(&c));
                }
            }
        }
        for text in [
            "[", "]", "[[]]", "[[[x]]]", "'", "\"\"\"", "=", "''=", "a='''", "[ ]",
        ] {
            let _ = RenewalConf::parse(text);
        }
    }

    #[test]
    fn fuzz_corpus_seeds_parse_without_panic() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/certbot_renewal");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            crate::certbot::fuzzing::renewal_conf(&bytes);
            seen += 1;
        }
        assert!(seen >= 4, "the corpus is in {}", dir.display());
    }

    #[test]
    fn takes_the_nginx_installer_with_an_http_authenticator() {
        let text = "[renewalparams]\nauthenticator = webroot\ninstaller = nginx\nwebroot_path = /var/www/html,\n";
        let taken = plan(&RenewalConf::parse(text).unwrap()).unwrap();
        assert!(taken.installer_nginx);
        assert_eq!(
            taken.responder,
            Some(Responder::Webroot {
                path: "/var/www/html".into()
            })
        );
        // certbot's nginx authenticator: certctl's nginx site answers, on certbot's port.
        let text =
            "[renewalparams]\nauthenticator = nginx\ninstaller = nginx\nhttp01_port = 8080\n";
        let taken = plan(&RenewalConf::parse(text).unwrap()).unwrap();
        assert_eq!((taken.responder, taken.http_port), (None, 8080));
        let text = "[renewalparams]\nauthenticator = standalone\ninstaller = None\n";
        assert!(
            !plan(&RenewalConf::parse(text).unwrap())
                .unwrap()
                .installer_nginx
        );
    }
}
