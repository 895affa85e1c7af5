//! `certctl nginx` and the nginx half of `issue --nginx`: read what nginx really loads
//! (`nginx -T`, then the files themselves), decide per name who answers it on port 80, and write
//! certctl's site plus the marked regions in the user's servers; validate, reload, roll back;
//! and `--revert`, which puts every file back as it was before certctl first touched it.
//!
//! Per name: a user's port-80 server that answers it by name gets certctl's region (the ACME
//! include, then the redirect); a name no user server answers by name gets certctl's own port-80
//! server. Over HTTPS, each name serves what its port-80 server served (copied from that server,
//! see `nginx::edit::mirror`), or `--root`/`--proxy-pass` when given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Error;
use crate::acme::challenge::{self, Http01Responder, PublishedToken, Webroot};
use crate::error::{InputError, UnknownCertHint};
use crate::fsio;
use crate::names::Identifier;
use crate::nginx::NginxError;
use crate::nginx::NginxSite;
use crate::nginx::apply::{self, Applied, Change, Reload};
use crate::nginx::dump::{self, ServerBlock};
use crate::nginx::edit;
use crate::nginx::render::{self, CertPaths, Content, Serve, SiteSpec, TlsServer};
use crate::store::{CertStore, KeySlot};
use crate::verify;

/// What a run did (or, with `dry_run`, would do).
#[derive(Debug, Default, serde::Serialize)]
pub struct NginxOutcome {
    /// The unified diff, for `--dry-run`.
    pub diff: Option<String>,
    /// What was written.
    pub applied: Applied,
    /// Things the user should know.
    pub notes: Vec<String>,
}

/// A user's server block, found again in the file nginx loads (symlinks followed).
#[derive(Clone, Debug)]
struct UserServer {
    /// What `nginx -T` said about it.
    block: ServerBlock,
    /// The real file (a sites-enabled symlink resolved); this is what certctl edits.
    real: PathBuf,
    /// The names of the certificate it answers on port 80.
    hosts: Vec<String>,
    /// The names of certctl's other certificates it answers on port 80: its region redirects
    /// them too.
    others: Vec<String>,
}

impl UserServer {
    fn origin(&self) -> String {
        format!("{}:{}", self.real.display(), self.block.line)
    }
}

/// Who answers each name, from `nginx -T`.
struct Served {
    /// User port-80 servers that answer some of the names by name.
    http: Vec<UserServer>,
    /// Names no user port-80 server answers by name (certctl's own port-80 server takes them).
    uncovered: Vec<String>,
    /// nginx's default port-80 server, when it is a user's: it answers the uncovered names today.
    default_http: Option<UserServer>,
    /// User TLS servers that answer some of the names, taken over (`--take-over`, or certctl's
    /// region shows an earlier take-over).
    tls: Vec<UserServer>,
    /// Where certctl's port-80 server listens (see [`listen_addresses`]).
    http_listen: Vec<String>,
    /// Where certctl's HTTPS servers listen.
    https_listen: Vec<String>,
    /// What the user should know about them.
    listen_notes: Vec<String>,
}

/// Adds `host` to the user server `block` in `list` (once per block).
fn add_host(list: &mut Vec<UserServer>, block: &ServerBlock, host: &str) -> Result<(), Error> {
    match list
        .iter_mut()
        .find(|u| u.block.file == block.file && u.block.index == block.index)
    {
        Some(u) => u.hosts.push(host.to_owned()),
        None => list.push(UserServer {
            real: real_path(&block.file)?,
            block: block.clone(),
            hosts: vec![host.to_owned()],
            others: Vec::new(),
        }),
    }
    Ok(())
}

/// The files certctl owns for `name` (nginx -T names a site by the path it was included through).
fn our_files(site: &NginxSite, name: &str) -> Vec<PathBuf> {
    let mut ours = vec![site.layout.site_file(name)];
    ours.extend(site.layout.enabled_link(name));
    ours
}

fn real_path(path: &Path) -> Result<PathBuf, NginxError> {
    Ok(std::fs::canonicalize(path).map_err(fsio::io("cannot resolve", path))?)
}

/// Who answers `hosts` (the names of certificate `name`) in what nginx loads; `others` are the
/// names of certctl's other certificates on the same nginx, noted on the user servers that
/// answer them.
fn inspect(
    site: &NginxSite,
    name: &str,
    hosts: &[String],
    others: &[String],
    http_port: u16,
) -> Result<Served, Error> {
    let ours = our_files(site, name);
    let loaded: Vec<ServerBlock> = dump::server_blocks(&site.nginx.dump()?)
        .into_iter()
        .filter(|b| !ours.contains(&b.file))
        .collect();
    let blocks: Vec<ServerBlock> = loaded
        .iter()
        .filter(|b| !is_certctl_site(site, &b.file))
        .cloned()
        .collect();
    let mut tls = Vec::new();
    for host in hosts {
        for block in blocks
            .iter()
            .filter(|b| b.listens_on(site.https_port) == Some(true) && b.serves(host))
        {
            if !(site.take_over || block.certctl_region) {
                return Err(NginxError::AlreadyServed {
                    name: host.clone(),
                    location: block.location(),
                }
                .into());
            }
            add_host(&mut tls, block, host)?;
        }
    }
    let on_http: Vec<&ServerBlock> = blocks
        .iter()
        .filter(|b| b.listens_on(http_port) == Some(false))
        .collect();
    let best = |host: &str| {
        on_http
            .iter()
            .filter_map(|b| b.match_rank(host).map(|r| (r, *b)))
            .min_by_key(|(r, _)| *r)
            .map(|(_, b)| b)
    };
    let mut http: Vec<UserServer> = Vec::new();
    let mut uncovered = Vec::new();
    for host in hosts {
        match best(host) {
            None => uncovered.push(host.clone()),
            Some(block) => add_host(&mut http, block, host)?,
        }
    }
    for host in others.iter().filter(|h| !hosts.contains(h)) {
        if let Some(block) = best(host)
            && let Some(u) = http
                .iter_mut()
                .find(|u| u.block.file == block.file && u.block.index == block.index)
        {
            u.others.push(host.clone());
        }
    }
    let default_http = match on_http
        .iter()
        .find(|b| b.default_ports.contains(&http_port))
        .or_else(|| on_http.first())
    {
        Some(b) => Some(UserServer {
            real: real_path(&b.file)?,
            block: (*b).clone(),
            hosts: Vec::new(),
            others: Vec::new(),
        }),
        None => None,
    };
    let listen = listen_addresses(site, &loaded, &http, !uncovered.is_empty(), http_port);
    Ok(Served {
        http,
        uncovered,
        default_http,
        tls,
        http_listen: listen.http,
        https_listen: listen.https,
        listen_notes: listen.notes,
    })
}

/// Where certctl's servers listen, and why.
struct Listen {
    http: Vec<String>,
    https: Vec<String>,
    notes: Vec<String>,
}

/// The addresses of every server nginx loads on `port`, in order, each once.
fn addresses_on(blocks: &[ServerBlock], port: u16) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (addr, _) in blocks
        .iter()
        .flat_map(|b| &b.addresses)
        .filter(|(_, p)| *p == port)
    {
        if !out.contains(addr) {
            out.push(addr.clone());
        }
    }
    out
}

/// Where certctl's servers listen, so that nginx picks for every address the servers it picked
/// before. nginx first narrows the servers to those listening on the address a connection came
/// in on, a specific address (`127.0.0.1:80`) hiding the wildcard ones (`80`) from it; a server
/// of certctl's on an address no server listened on before would take every name there.
///
/// - Port 80: the addresses the servers already there listen on, all of them (certctl's server
///   then answers its names on every address and is never alone on one); `--listen` or all
///   IPv4 and IPv6 addresses when nothing listens on port 80.
/// - HTTPS: the addresses of the servers already on the HTTPS port, plus those of the port-80
///   servers the names come from where that hides nothing (an address already there, a
///   wildcard, or no wildcard of its family there); when nothing listens on the HTTPS port,
///   the port-80 servers' addresses; when nothing listens anywhere yet, `--listen`, else all
///   IPv4 and IPv6 addresses.
fn listen_addresses(
    site: &NginxSite,
    blocks: &[ServerBlock],
    http: &[UserServer],
    uncovered: bool,
    http_port: u16,
) -> Listen {
    let mut notes = Vec::new();
    let given = site.listen.join(" ");
    let on_http = addresses_on(blocks, http_port);
    let http_listen = if on_http.is_empty() {
        site.listen.clone()
    } else {
        if !site.listen.is_empty() && site.listen != on_http {
            notes.push(format!(
                "--listen {given} is not used for port {http_port}: nginx listens there already, and certctl's server listens as the servers there do ({}), so it hides none of them",
                shown(&on_http, http_port)
            ));
        }
        on_http
    };
    // The port-80 addresses the names come from.
    let mut from: Vec<String> = Vec::new();
    let sources = http
        .iter()
        .flat_map(|u| u.block.addresses.iter())
        .filter(|(_, p)| *p == http_port)
        .map(|(a, _)| a.clone());
    // certctl's own port-80 server, for the names no server of the user's answers (empty: all
    // IPv4 and IPv6 addresses, which the HTTPS side gets as well).
    let certctls = http_listen.iter().filter(|_| uncovered).cloned();
    for addr in sources.chain(certctls) {
        if !from.contains(&addr) {
            from.push(addr);
        }
    }
    let on_https = addresses_on(blocks, site.https_port);
    let https_listen = if on_https.is_empty() {
        if from.is_empty() {
            site.listen.clone()
        } else {
            from
        }
    } else {
        let wildcard = |a: &str| a.is_empty() || a == "[::]";
        let v6 = |a: &str| a.starts_with('[');
        let mut out = on_https.clone();
        for addr in from {
            let hides =
                !wildcard(&addr) && on_https.iter().any(|o| wildcard(o) && v6(o) == v6(&addr));
            if !out.contains(&addr) && !hides {
                out.push(addr);
            }
        }
        out
    };
    if !site.listen.is_empty() && !https_listen.is_empty() && site.listen != https_listen {
        notes.push(format!(
            "--listen {given} is not used for port {}: certctl's HTTPS servers listen as the servers of these names and those already on that port do ({}), so they hide none of them",
            site.https_port,
            shown(&https_listen, site.https_port)
        ));
    }
    Listen {
        http: http_listen,
        https: https_listen,
        notes,
    }
}

/// `80, [::]:80` for messages.
fn shown(addresses: &[String], port: u16) -> String {
    addresses
        .iter()
        .map(|a| match a.as_str() {
            "" => port.to_string(),
            a => format!("{a}:{port}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Another certificate's site file of certctl's (its port-80 server is not a user's).
fn is_certctl_site(site: &NginxSite, file: &Path) -> bool {
    let in_dir = |dir: &Path| file.parent() == Some(dir);
    file.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("certctl-") && n.ends_with(".conf"))
        && (in_dir(&site.layout.sites_dir)
            || site.layout.enabled_dir.as_deref().is_some_and(in_dir))
}

/// A user's file, read and parsed: the text and its server blocks.
fn read_user_file(path: &Path) -> Result<(String, Vec<crate::nginx::lex::Directive>), Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| NginxError::from(fsio::io("cannot read", path)(e)))?;
    parse_user_file(path, text)
}

/// A user's file's text, parsed.
fn parse_user_file(
    path: &Path,
    text: String,
) -> Result<(String, Vec<crate::nginx::lex::Directive>), Error> {
    let servers = edit::servers(&text).map_err(|e| NginxError::Unparsable {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    Ok((text, servers))
}

/// The server block `u` in its parsed file, checked to be the one nginx described.
fn find_in<'a>(
    u: &UserServer,
    servers: &'a [crate::nginx::lex::Directive],
) -> Result<&'a crate::nginx::lex::Directive, Error> {
    servers
        .get(u.block.index)
        .filter(|d| {
            let names: Vec<&str> = d
                .children()
                .iter()
                .filter(|c| c.name() == "server_name")
                .flat_map(|c| c.args())
                .collect();
            names == u.block.names.iter().map(String::as_str).collect::<Vec<_>>()
        })
        .ok_or_else(|| {
            NginxError::Unparsable {
                path: u.real.clone(),
                reason: format!(
                    "the server at line {} changed since nginx loaded it; reload nginx and try again",
                    u.block.line
                ),
            }
            .into()
        })
}

/// One server's edit: the byte of its `{`, the lines of certctl's region, the directives to turn
/// off (byte ranges).
type RegionEdit = (usize, String, Vec<(usize, usize)>);

/// The TLS part of a run: what a taken-over TLS server gets in its region.
struct TlsPart<'a> {
    certs: &'a [CertPaths],
}

/// The user's files certctl changes: its region in each user port-80 server (the challenge
/// include, and the redirect once `tls` is set), and in each TLS server taken over (certificate,
/// TLS snippet, HSTS; the directives they replace commented out). All edits of one file are made
/// from the bottom up, so every position stays true.
fn user_file_changes(
    site: &NginxSite,
    served: &Served,
    tls: Option<&TlsPart<'_>>,
    keep_existing: bool,
    bases: &BTreeMap<PathBuf, String>,
) -> Result<Vec<Change>, Error> {
    let snippet = site.layout.acme_snippet();
    let target = render::redirect_target(site.https_port);
    let mut files: Vec<PathBuf> = Vec::new();
    let tls_servers: &[UserServer] = if tls.is_some() { &served.tls } else { &[] };
    for u in served.http.iter().chain(tls_servers) {
        if !files.contains(&u.real) {
            files.push(u.real.clone());
        }
    }
    let mut changes = Vec::new();
    for path in files {
        let (mut text, servers) = match bases.get(&path) {
            Some(base) => parse_user_file(&path, base.clone())?,
            None => read_user_file(&path)?,
        };
        let mut edits: Vec<RegionEdit> = Vec::new();
        for u in served.http.iter().filter(|u| u.real == path) {
            let d = find_in(u, &servers)?;
            let open = d.block.as_ref().map_or(0, |b| b.open);
            if keep_existing && edit::our_region(&text, open).is_some() {
                continue;
            }
            // Every certificate's names this server answers, in one order whichever
            // certificate's run writes the region.
            let mut redirected: Vec<String> = u.hosts.iter().chain(&u.others).cloned().collect();
            redirected.sort();
            redirected.dedup();
            let only_some = u.block.names.iter().any(|n| !redirected.contains(n));
            let http_only = served
                .tls
                .iter()
                .any(|t| t.block.file == u.block.file && t.block.index == u.block.index);
            let redirect = edit::Redirect {
                target: &target,
                hosts: only_some.then_some(redirected.as_slice()),
                http_only,
            };
            let mut lines = edit::port80_lines(&snippet, tls.is_some().then_some(redirect));
            if u.block.has_acme_location {
                // The user serves challenges already; a second location would clash.
                lines = lines
                    .lines()
                    .filter(|l| !l.contains("include "))
                    .map(|l| format!("{l}\n"))
                    .collect();
            }
            edits.push((open, lines, Vec::new()));
        }
        if let Some(part) = tls {
            for u in served.tls.iter().filter(|u| u.real == path) {
                let d = find_in(u, &servers)?;
                let open = d.block.as_ref().map_or(0, |b| b.open);
                let ours = edit::our_region(&text, open);
                let off: Vec<(usize, usize)> = d
                    .children()
                    .iter()
                    .filter(|c| !ours.is_some_and(|(s, e)| c.start >= s && c.end <= e))
                    .filter(|c| edit::takes_over(c) || includes_only_tls(site, c))
                    .map(|c| (c.start, c.end))
                    .collect();
                let hsts = site.hsts.as_ref().map(render::Hsts::value);
                let both = served
                    .http
                    .iter()
                    .any(|h| h.block.file == u.block.file && h.block.index == u.block.index);
                let lines = edit::tls_lines(
                    part.certs,
                    &site.layout.tls_snippet(site.profile),
                    hsts.as_deref(),
                    both,
                );
                // A server for both schemes gets one region holding both parts.
                match edits.iter_mut().find(|e| e.0 == open) {
                    Some(e) => {
                        e.1.push_str(&lines);
                        e.2 = off;
                    }
                    None => edits.push((open, lines, off)),
                }
            }
        }
        edits.sort_by_key(|e| std::cmp::Reverse(e.0));
        for (open, lines, off) in edits {
            text = edit::comment_out(&text, &off);
            text = edit::set_region(&text, open, &lines);
        }
        changes.push(Change::UserFile {
            path,
            content: text,
        });
    }
    Ok(changes)
}

/// An `include` of a file that only sets what certctl's TLS lines set (Debian's
/// snippets/snakeoil.conf): turned off with the lines it stands for.
fn includes_only_tls(site: &NginxSite, d: &crate::nginx::lex::Directive) -> bool {
    let Some(arg) = d.args().next().filter(|_| d.name() == "include") else {
        return false;
    };
    let conf_dir = site
        .nginx
        .conf
        .as_ref()
        .and_then(|c| c.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("/etc/nginx"));
    let path = conf_dir.join(arg);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return false;
    };
    crate::nginx::lex::parse(&text)
        .is_ok_and(|list| !list.is_empty() && list.iter().all(edit::takes_over))
}

/// The HTTPS servers: per user port-80 server, its names with a copy of what it serves; the
/// uncovered names with what the default server serves (or `--root`/`--proxy-pass`). Names a
/// user's TLS server keeps serving (taken over) get no second server from certctl. A port-80
/// server that only redirects to https has nothing to copy (its copy would redirect HTTPS to
/// itself): its names need `--root`/`--proxy-pass`, or the TLS server that serves them.
fn tls_servers(site: &NginxSite, served: &Served, http_port: u16) -> Result<Vec<TlsServer>, Error> {
    let taken: Vec<&String> = served.tls.iter().flat_map(|u| &u.hosts).collect();
    let keep = |names: &[String]| -> Vec<String> {
        names
            .iter()
            .filter(|n| !taken.contains(n))
            .cloned()
            .collect()
    };
    let uncovered = keep(&served.uncovered);
    let mut all: Vec<String> = Vec::new();
    for u in &served.http {
        all.extend(keep(&u.hosts));
    }
    all.extend(uncovered.iter().cloned());
    let explicit = match &site.content {
        Content::Root(dir) => Some(Serve::Root(dir.clone())),
        Content::ProxyPass(url) => Some(Serve::ProxyPass(url.clone())),
        Content::Site => None,
    };
    if let Some(serve) = explicit {
        return Ok(match all.is_empty() {
            true => Vec::new(),
            false => vec![TlsServer { names: all, serve }],
        });
    }
    let hsts = site.hsts.as_ref().map(render::hsts_line);
    let mirror = |u: &UserServer, names: &[String]| -> Result<Serve, Error> {
        let (text, servers) = read_user_file(&u.real)?;
        let d = find_in(u, &servers)?;
        if edit::redirects_to_https(&text, d) {
            return Err(NginxError::OnlyRedirects {
                name: names[0].clone(),
                origin: u.origin(),
            }
            .into());
        }
        Ok(Serve::Mirror {
            origin: u.origin(),
            directives: edit::mirror(&text, d, hsts.as_deref()),
        })
    };
    let mut out: Vec<(TlsServer, &UserServer)> = Vec::new();
    for u in &served.http {
        let names = keep(&u.hosts);
        if !names.is_empty() {
            out.push((
                TlsServer {
                    serve: mirror(u, &names)?,
                    names,
                },
                u,
            ));
        }
    }
    if let Some(first) = uncovered.first() {
        let Some(default) = &served.default_http else {
            return Err(NginxError::NothingServed {
                name: first.clone(),
                port: http_port,
            }
            .into());
        };
        match out.iter_mut().find(|(_, u)| {
            u.block.file == default.block.file && u.block.index == default.block.index
        }) {
            Some((server, _)) => server.names.extend(uncovered.iter().cloned()),
            None => out.push((
                TlsServer {
                    serve: mirror(default, &uncovered)?,
                    names: uncovered.clone(),
                },
                default,
            )),
        }
    }
    Ok(out.into_iter().map(|(server, _)| server).collect())
}

fn spec_for(
    site: &NginxSite,
    name: &str,
    served: &Served,
    http_port: u16,
    certs: Vec<CertPaths>,
    stapling: bool,
) -> Result<SiteSpec, Error> {
    let version = site.nginx.version()?;
    let tls_servers = if certs.is_empty() {
        Vec::new()
    } else {
        tls_servers(site, served, http_port)?
    };
    Ok(SiteSpec {
        name: name.to_owned(),
        tls_servers,
        redirect_names: served.uncovered.clone(),
        certs,
        profile: site.profile,
        hsts: site.hsts,
        https_port: site.https_port,
        http_port,
        https_listen: served.https_listen.clone(),
        http_listen: served.http_listen.clone(),
        stapling,
        http2_directive: version.has_http2_directive(),
    })
}

fn site_changes(site: &NginxSite, name: &str, content: String) -> Vec<Change> {
    let file = site.layout.site_file(name);
    let mut changes = vec![Change::Owned {
        path: file.clone(),
        content,
    }];
    if let Some(link) = site.layout.enabled_link(name) {
        changes.push(Change::Symlink { link, target: file });
    }
    changes
}

/// certctl's ACME webroot, readable by nginx's workers whatever the umask.
fn create_acme_webroot(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |e| NginxError::from(fsio::io("cannot create", dir)(e));
    std::fs::create_dir_all(dir).map_err(fail)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(fail)?;
    Ok(())
}

/// Where certctl remembers what it changed for a certificate, and what each file was before.
pub fn journal_dir(backup_root: &Path, name: &str) -> PathBuf {
    journal_root(backup_root).join(name)
}

/// The directory of every certificate's [`journal_dir`].
pub fn journal_root(backup_root: &Path) -> PathBuf {
    backup_root.with_file_name("nginx-journal")
}

/// certctl's other certificates set up on the same nginx (those with a journal and a site in
/// their record), but for `except`: (name, record).
fn other_certificates(
    store: &dyn CertStore,
    backup_root: &Path,
    site: &NginxSite,
    except: &[&str],
) -> Result<Vec<(String, crate::config::RenewalRecord)>, Error> {
    let root = backup_root.with_file_name("nginx-journal");
    let listing = match std::fs::read_dir(&root) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(NginxError::from(fsio::io("cannot read", &root)(e)).into()),
    };
    let mut names: Vec<String> = listing
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !except.contains(&n.as_str()))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        if crate::store::layout::check_cert_name(&name).is_err() {
            continue;
        }
        if let Some(record) = store.load_record(&name)?
            && record.nginx.as_ref().is_some_and(|s| s.nginx == site.nginx)
        {
            out.push((name, record));
        }
    }
    Ok(out)
}

/// The names of certctl's other certificates on the same nginx: a user server that answers one
/// of them keeps redirecting it whichever certificate's run rewrites the server's region.
fn other_names(
    store: &dyn CertStore,
    backup_root: &Path,
    site: &NginxSite,
    name: &str,
) -> Result<Vec<String>, Error> {
    Ok(other_certificates(store, backup_root, site, &[name])?
        .into_iter()
        .flat_map(|(_, r)| r.domains)
        .collect())
}

/// Before the first certificate: make sure nginx serves ACME challenges for every name on the
/// HTTP port (the shared snippet, plus certctl's port-80 site or its region in the user's
/// port-80 server), reload if anything changed. A certificate that is live already keeps its
/// whole site (the re-issue case), with any new names added.
pub fn prepare_challenges(
    store: &dyn CertStore,
    site: &NginxSite,
    name: &str,
    identifiers: &[Identifier],
    http_port: u16,
    backup_root: &Path,
) -> Result<NginxOutcome, Error> {
    let _edits = super::locks::nginx_edits(backup_root, super::locks::DEFAULT_WAIT)?;
    create_acme_webroot(&site.layout.acme_webroot)?;
    let hosts: Vec<String> = identifiers.iter().map(Identifier::as_string).collect();
    let live = store.live_fullchain(name)?.is_some() && store.load_record(name)?.is_some();
    let others = other_names(store, backup_root, site, name)?;
    let changes = if live {
        let (changes, _) = full_changes(store, name, site, &hosts, &others, http_port)?;
        changes
    } else {
        let served = inspect(site, name, &hosts, &others, http_port)?;
        // What HTTPS will serve is settled before anything is written or ordered.
        tls_servers(site, &served, http_port)?;
        let mut changes = vec![Change::Owned {
            path: site.layout.acme_snippet(),
            content: render::acme_snippet(
                &site.layout.acme_webroot,
                site.fleet_thumbprint.as_deref(),
            ),
        }];
        changes.extend(user_file_changes(
            site,
            &served,
            None,
            true,
            &BTreeMap::new(),
        )?);
        let site_file = site.layout.site_file(name);
        let ours_exists = apply::owned_file_exists(&site_file)?;
        if !served.uncovered.is_empty() && !ours_exists {
            let spec = spec_for(site, name, &served, http_port, Vec::new(), false)?;
            changes.extend(site_changes(
                site,
                name,
                render::http_only_site(&spec, &site.layout),
            ));
        }
        changes
    };
    let applied = apply::apply(
        &changes,
        &site.nginx,
        backup_root,
        Reload::IfChanged,
        Some(&journal_dir(backup_root, name)),
    )?;
    Ok(NginxOutcome {
        diff: None,
        applied,
        notes: Vec::new(),
    })
}

/// Waits (briefly) until nginx serves a probe token for every identifier: `nginx -s reload`
/// returns before the new workers answer.
pub async fn wait_until_challenges_served(
    site: &NginxSite,
    identifiers: &[Identifier],
    http_port: u16,
) -> Result<(), Error> {
    let mut probe = Webroot::new(&site.layout.acme_webroot)?;
    let token = format!("certctl-ready-{}", std::process::id());
    probe.publish(&token, "ready")?;
    let tokens: Vec<PublishedToken> = identifiers
        .iter()
        .map(|id| PublishedToken {
            identifier: id.clone(),
            token: token.clone(),
            key_authorization: "ready".into(),
        })
        .collect();
    // The reload returned once nginx's old workers stopped accepting (Nginx::reload): one
    // answer from the new configuration is what the CA will get too.
    let mut last = None;
    for _ in 0..80 {
        match challenge::self_check(http_port, &tokens).await {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(last.map_or_else(|| NginxError::ProbeNeverServed.into(), Into::into))
}

/// Every change of the full TLS setup for `name`: snippets, regions with redirects in the user's
/// port-80 servers, certctl's site (HTTPS servers + port-80 server for uncovered names).
fn full_changes(
    store: &dyn CertStore,
    name: &str,
    site: &NginxSite,
    hosts: &[String],
    others: &[String],
    http_port: u16,
) -> Result<(Vec<Change>, Vec<String>), Error> {
    let stapling = match store.live_fullchain(name)? {
        Some(pem) => !verify::cert_info(&verify::parse_pem_chain(&pem)?[0])?
            .ocsp_urls
            .is_empty(),
        None => false,
    };
    let served = inspect(site, name, hosts, others, http_port)?;
    let certs = cert_paths(store, name)?;
    let mut notes: Vec<String> = served
        .http
        .iter()
        .map(|u| {
            format!(
                "port {http_port} for {} is served by {}: certctl added its marked ACME include and redirect there",
                u.hosts.join(" "),
                u.origin()
            )
        })
        .collect();
    notes.extend(served.listen_notes.iter().cloned());
    let spec = spec_for(site, name, &served, http_port, certs, stapling)?;
    notes.extend(copied_again(&site.layout.site_file(name), &spec));
    let mut changes = vec![
        Change::Owned {
            path: site.layout.tls_snippet(site.profile),
            content: render::tls_snippet(site.profile),
        },
        Change::Owned {
            path: site.layout.acme_snippet(),
            content: render::acme_snippet(
                &site.layout.acme_webroot,
                site.fleet_thumbprint.as_deref(),
            ),
        },
    ];
    changes.extend(user_file_changes(
        site,
        &served,
        Some(&TlsPart { certs: &spec.certs }),
        false,
        &BTreeMap::new(),
    )?);
    changes.extend(site_changes(site, name, render::site(&spec, &site.layout)));
    Ok((changes, notes))
}

/// Notes for the HTTPS servers whose copy of a port-80 server differs from the one in certctl's
/// site file (the user changed that server since): the run copies it again, and says so.
fn copied_again(site_file: &Path, spec: &SiteSpec) -> Vec<String> {
    let Ok(old) = std::fs::read_to_string(site_file) else {
        return Vec::new();
    };
    if render::ownership(&old) != render::Ownership::Ours {
        return Vec::new();
    }
    spec.tls_servers
        .iter()
        .filter_map(|server| match &server.serve {
            Serve::Mirror { origin, directives } => {
                let copy: String = directives.iter().map(|d| format!("    {d}\n")).collect();
                let before = format!("server_name {};\n", server.names.join(" "));
                (old.contains(&before) && !old.contains(&copy)).then(|| {
                    format!(
                        "https://{} serves a new copy of what the port-80 server at {origin} serves: it changed since certctl copied it",
                        server.names.join(" https://")
                    )
                })
            }
            _ => None,
        })
        .collect()
}

/// The live certificate and key paths of `name` (two pairs for a dual certificate).
fn cert_paths(store: &dyn CertStore, name: &str) -> Result<Vec<CertPaths>, Error> {
    let dual = store.load_record(name)?.is_some_and(|r| r.dual);
    let slots: &[KeySlot] = match dual {
        true => &[KeySlot::Primary, KeySlot::Rsa],
        false => &[KeySlot::Primary],
    };
    let certs: Vec<CertPaths> = slots
        .iter()
        .map(|&slot| {
            let live = store.live_paths(name, slot);
            CertPaths {
                fullchain: live.fullchain,
                privkey: live.privkey,
                chain: live.chain,
            }
        })
        .collect();
    for cert in &certs {
        for path in [&cert.fullchain, &cert.privkey] {
            render::check_value("the certificate path", &path.display().to_string())?;
        }
    }
    Ok(certs)
}

/// Writes the full TLS site for a certificate that is live, with the options in `site`. With
/// `remember`, the record keeps them for re-runs and renewals; a fleet node placing the site
/// the fleet's record describes, with its own nginx and paths, leaves the record alone.
#[allow(clippy::too_many_arguments)]
pub fn configure_site(
    store: &dyn CertStore,
    name: &str,
    site: &NginxSite,
    http_port: u16,
    dry_run: bool,
    backup_root: &Path,
    reload: Reload,
    remember: bool,
) -> Result<NginxOutcome, Error> {
    let _edits = super::locks::nginx_edits(backup_root, super::locks::DEFAULT_WAIT)?;
    let record = super::record_of(store, name, UnknownCertHint::Issue)?;
    store
        .live_fullchain(name)?
        .ok_or_else(|| InputError::NotLive(name.to_owned()))?;
    let others = other_names(store, backup_root, site, name)?;
    let (changes, notes) = full_changes(store, name, site, &record.domains, &others, http_port)?;
    if dry_run {
        return Ok(NginxOutcome {
            diff: Some(apply::diff(&changes)?),
            applied: Applied::default(),
            notes,
        });
    }
    let applied = apply::apply(
        &changes,
        &site.nginx,
        backup_root,
        reload,
        Some(&journal_dir(backup_root, name)),
    )?;
    // The thumbprint is read again for each run, never remembered.
    let remembered = NginxSite {
        fleet_thumbprint: None,
        ..site.clone()
    };
    let mut record = record;
    if remember && record.nginx.as_ref() != Some(&remembered) {
        record.nginx = Some(remembered);
        store.save_record(&record)?;
    }
    Ok(NginxOutcome {
        diff: None,
        applied,
        notes,
    })
}

/// Who answers one name on port 80 today, as `certctl doctor` shows it.
#[derive(Debug, serde::Serialize)]
pub struct PortEightyServer {
    /// The name.
    pub name: String,
    /// The user's server that answers it by name (`FILE:LINE`); None: none does, and
    /// certctl's own port-80 server would take it.
    pub server: Option<String>,
    /// A TLS server of the user's already serves the name (`FILE:LINE`).
    pub tls_server: Option<String>,
}

/// What `issue --nginx` would find and do: `certctl doctor --nginx`. Nothing is written.
#[derive(Debug, serde::Serialize)]
pub struct NginxPreview {
    /// Per name, who answers it today.
    pub servers: Vec<PortEightyServer>,
    /// The files the issue would write or change.
    pub files: Vec<PathBuf>,
    /// Their unified diff.
    pub diff: String,
    /// Things the user should know.
    pub notes: Vec<String>,
}

/// See [`NginxPreview`]: `issue --nginx --dry-run` (its diff) and `doctor --nginx`; an error is
/// what the issue would refuse with.
pub fn preview(
    store: &dyn CertStore,
    name: &str,
    site: &NginxSite,
    identifiers: &[Identifier],
    http_port: u16,
    backup_root: &Path,
) -> Result<NginxPreview, Error> {
    let hosts: Vec<String> = identifiers.iter().map(Identifier::as_string).collect();
    let others = other_names(store, backup_root, site, name)?;
    // Seen as a take-over would see it, so a TLS server of the user's is named, not refused.
    let looking = NginxSite {
        take_over: true,
        ..site.clone()
    };
    let served = inspect(&looking, name, &hosts, &others, http_port)?;
    let servers = hosts
        .iter()
        .map(|host| {
            let find = |list: &[UserServer]| {
                list.iter()
                    .find(|u| u.hosts.contains(host))
                    .map(UserServer::origin)
            };
            PortEightyServer {
                name: host.clone(),
                server: find(&served.http),
                tls_server: find(&served.tls),
            }
        })
        .collect();
    let (changes, notes) = full_changes(store, name, site, &hosts, &others, http_port)?;
    let files = apply::pending(&changes)?
        .iter()
        .map(|c| c.path().to_owned())
        .collect();
    Ok(NginxPreview {
        servers,
        files,
        diff: apply::diff(&changes)?,
        notes,
    })
}

/// `certctl nginx NAME --revert`: every file certctl created or changed for NAME back as it was
/// before certctl first touched it, `nginx -t`, reload; the certificate stays in the store and
/// its record forgets the site. `dry_run` shows the diff instead.
pub fn revert(
    store: &dyn CertStore,
    name: &str,
    site: &NginxSite,
    backup_root: &Path,
    force: bool,
    dry_run: bool,
) -> Result<NginxOutcome, Error> {
    let _edits = super::locks::nginx_edits(backup_root, super::locks::DEFAULT_WAIT)?;
    let journal = journal_dir(backup_root, name);
    let mut plan = apply::revert_plan(&journal, force)?
        .ok_or_else(|| NginxError::NothingToRevert(name.to_owned()))?;
    // A user file another certificate changed too keeps what the others still need: its
    // original text with the regions their names call for, as if this certificate never was.
    if !plan.shared_user_files().is_empty() {
        let mut texts: BTreeMap<PathBuf, String> =
            plan.shared_user_files().iter().cloned().collect();
        let remaining = other_certificates(store, backup_root, site, &[name])?;
        for (other, record) in &remaining {
            let Some(other_site) = &record.nginx else {
                continue;
            };
            let names: Vec<String> = remaining
                .iter()
                .filter(|(n, _)| n != other)
                .flat_map(|(_, r)| r.domains.clone())
                .collect();
            let served = inspect(other_site, other, &record.domains, &names, record.http_port)?;
            let certs = cert_paths(store, other)?;
            let changes = user_file_changes(
                other_site,
                &served,
                Some(&TlsPart { certs: &certs }),
                false,
                &texts,
            )?;
            for change in changes {
                if let Change::UserFile { path, content } = change
                    && texts.contains_key(&path)
                {
                    texts.insert(path, content);
                }
            }
        }
        for (path, text) in texts {
            plan.set_text(&path, text);
        }
    }
    if dry_run {
        return Ok(NginxOutcome {
            diff: Some(apply::revert_diff(&plan)?),
            applied: Applied::default(),
            notes: Vec::new(),
        });
    }
    let applied = apply::revert(&plan, &site.nginx, &journal)?;
    if let Some(mut record) = store.load_record(name)? {
        record.nginx = None;
        record.reload_nginx = None;
        store.save_record(&record)?;
    }
    Ok(NginxOutcome {
        diff: None,
        applied,
        notes: Vec::new(),
    })
}

/// Where previous versions of nginx files are kept: inside the state directory, never where
/// nginx could load them.
pub fn backup_root(state_dir: &Path) -> PathBuf {
    state_dir.join("nginx-backups")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nginx::binary::Nginx;
    use crate::nginx::render::NginxLayout;

    fn site(listen: &[&str]) -> NginxSite {
        NginxSite {
            nginx: Nginx {
                bin: "nginx".into(),
                prefix: None,
                conf: None,
                reload_cmd: None,
            },
            layout: NginxLayout {
                snippets_dir: "/etc/nginx/snippets/certctl".into(),
                sites_dir: "/etc/nginx/sites-available".into(),
                enabled_dir: Some("/etc/nginx/sites-enabled".into()),
                acme_webroot: "/var/www/certctl-acme".into(),
            },
            profile: Default::default(),
            hsts: None,
            content: Content::Site,
            https_port: 443,
            listen: listen.iter().map(|s| s.to_string()).collect(),
            take_over: false,
            fleet_thumbprint: None,
        }
    }

    /// (port-80 addresses, HTTPS addresses) certctl picks for `a.test` among `servers`.
    fn pick(servers: &str, listen: &[&str]) -> (Vec<String>, Vec<String>) {
        let blocks = dump::servers_in(Path::new("/etc/nginx/sites-enabled/x"), servers);
        let http: Vec<UserServer> = blocks
            .iter()
            .filter(|b| b.serves("a.test") && b.listens_on(80) == Some(false))
            .map(|b| UserServer {
                block: b.clone(),
                real: b.file.clone(),
                hosts: vec!["a.test".into()],
                others: Vec::new(),
            })
            .collect();
        let l = listen_addresses(&site(listen), &blocks, &http, http.is_empty(), 80);
        (l.http, l.https)
    }

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn listens_where_the_users_servers_do_and_hides_none_of_them() {
        // Debian's: every IPv4 and IPv6 address; --listen does not narrow it.
        let debian = "server { listen 80 default_server; listen [::]:80 default_server; server_name _; }\nserver { listen 80; listen [::]:80; server_name a.test; }";
        assert_eq!(pick(debian, &[]), (v(&["", "[::]"]), v(&["", "[::]"])));
        assert_eq!(
            pick(debian, &["127.0.0.1"]),
            (v(&["", "[::]"]), v(&["", "[::]"]))
        );
        // A site on one address only: HTTPS there too.
        let local = "server { listen 127.0.0.1:80; server_name a.test; }";
        assert_eq!(pick(local, &[]), (v(&["127.0.0.1"]), v(&["127.0.0.1"])));
        // A TLS server on every IPv4 address: a specific IPv4 address would hide it there.
        let tls = "server { listen 10.0.0.5:80; server_name a.test; }\nserver { listen 443 ssl; server_name b.test; }";
        assert_eq!(pick(tls, &[]), (v(&["10.0.0.5"]), v(&[""])));
        // …but an IPv6 wildcard hides nothing.
        let tls6 = "server { listen 80; listen [::]:80; server_name a.test; }\nserver { listen 127.0.0.1:443 ssl; server_name b.test; }";
        assert_eq!(
            pick(tls6, &[]),
            (v(&["", "[::]"]), v(&["127.0.0.1", "", "[::]"]))
        );
        // Nothing listens anywhere yet: --listen, else all addresses (empty).
        assert_eq!(
            pick("", &["127.0.0.1"]),
            (v(&["127.0.0.1"]), v(&["127.0.0.1"]))
        );
        assert_eq!(pick("", &[]), (v(&[]), v(&[])));
        // A name only the default server answers: certctl's port-80 server joins every address.
        let default = "server { listen 127.0.0.1:80 default_server; listen [::1]:80; return 404; }";
        assert_eq!(
            pick(default, &[]),
            (v(&["127.0.0.1", "[::1]"]), v(&["127.0.0.1", "[::1]"]))
        );
    }
}
