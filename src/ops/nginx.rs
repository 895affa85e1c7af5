//! `certctl nginx` and the nginx half of `issue --nginx`: decide which files to write from what
//! nginx really loads (`nginx -T`), write them safely, validate, reload, roll back.

use std::path::PathBuf;
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
use crate::nginx::render::{self, CertPaths, SiteSpec};
use crate::store::{CertStore, KeySlot};
use crate::verify;

/// What a run did (or, with `dry_run`, would do).
#[derive(Debug, Default, serde::Serialize)]
pub struct NginxOutcome {
    /// The unified diff, for `--dry-run`.
    pub diff: Option<String>,
    /// What was written.
    pub applied: Applied,
    /// Things the user should know (a port-80 server certctl does not own, …).
    pub notes: Vec<String>,
}

/// How the names are served now, from `nginx -T`.
struct Served {
    /// Port-80 servers certctl does not own that answer for at least one of the names (each once).
    foreign_http: Vec<ServerBlock>,
}

impl Served {
    /// Whether a foreign port-80 server answers for `host`.
    fn covers(&self, host: &str) -> bool {
        self.foreign_http.iter().any(|b| b.serves(host))
    }
}

fn inspect(
    site: &NginxSite,
    name: &str,
    hosts: &[String],
    http_port: u16,
) -> Result<Served, Error> {
    // nginx -T names a site by the path it was included through (sites-enabled/…).
    let ours = [
        Some(site.layout.site_file(name)),
        site.layout.enabled_link(name),
    ];
    let mut foreign_http = Vec::new();
    for block in dump::server_blocks(&site.nginx.dump()?) {
        if ours.contains(&Some(block.file.clone())) {
            continue;
        }
        let Some(host) = hosts.iter().find(|h| block.serves(h)) else {
            continue;
        };
        if block.listens_on(site.https_port) == Some(true) {
            return Err(NginxError::AlreadyServed {
                name: host.clone(),
                location: block.location(),
            }
            .into());
        }
        if block.listens_on(http_port).is_some() {
            foreign_http.push(block);
        }
    }
    Ok(Served { foreign_http })
}

/// One include line in each user port-80 server that does not serve challenges yet. Lines going
/// into the same file are inserted together, from the bottom up, so each lands where nginx said.
fn include_changes(site: &NginxSite, served: &Served) -> Result<Vec<Change>, Error> {
    let snippet = site.layout.acme_snippet();
    let line = format!(
        "include {};  # added by certctl: ACME HTTP-01 challenges",
        snippet.display()
    );
    let mut by_file: Vec<(PathBuf, Vec<usize>)> = Vec::new();
    for block in served
        .foreign_http
        .iter()
        .filter(|b| !b.serves_challenges(&snippet))
    {
        let after = block.server_name_line.unwrap_or(block.line);
        match by_file.iter_mut().find(|(file, _)| *file == block.file) {
            Some((_, lines)) => lines.push(after),
            None => by_file.push((block.file.clone(), vec![after])),
        }
    }
    by_file
        .into_iter()
        .map(|(path, mut lines)| {
            let mut content = std::fs::read_to_string(&path)
                .map_err(|e| NginxError::from(fsio::io("cannot read", &path)(e)))?;
            lines.sort_unstable_by(|a, b| b.cmp(a));
            for after in lines {
                content = apply::insert_line_after(&content, after, &line);
            }
            Ok(Change::UserFile { path, content })
        })
        .collect()
}

fn spec_for(
    site: &NginxSite,
    name: &str,
    hosts: Vec<String>,
    http_port: u16,
    certs: Vec<CertPaths>,
    stapling: bool,
    redirect: bool,
) -> Result<SiteSpec, Error> {
    let version = site.nginx.version()?;
    Ok(SiteSpec {
        name: name.to_owned(),
        server_names: hosts,
        certs,
        profile: site.profile,
        hsts: site.hsts,
        content: site.content.clone(),
        https_port: site.https_port,
        http_port,
        listen: site.listen.clone(),
        redirect,
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

/// Before the first certificate: make sure nginx serves ACME challenges for every name on the
/// HTTP port (the shared snippet, plus either certctl's port-80 site or one include line in the
/// user's port-80 server), reload if anything changed, and check through nginx that a probe
/// token is served.
pub fn prepare_challenges(
    site: &NginxSite,
    name: &str,
    identifiers: &[Identifier],
    http_port: u16,
    backup_root: &std::path::Path,
) -> Result<NginxOutcome, Error> {
    std::fs::create_dir_all(&site.layout.acme_webroot)
        .map_err(|e| NginxError::from(fsio::io("cannot create", &site.layout.acme_webroot)(e)))?;
    let hosts: Vec<String> = identifiers.iter().map(Identifier::as_string).collect();
    let served = inspect(site, name, &hosts, http_port)?;
    let mut changes = vec![Change::Owned {
        path: site.layout.acme_snippet(),
        content: render::acme_snippet(&site.layout.acme_webroot),
    }];
    changes.extend(include_changes(site, &served)?);
    let uncovered: Vec<String> = hosts
        .iter()
        .filter(|h| !served.covers(h))
        .cloned()
        .collect();
    let site_file = site.layout.site_file(name);
    let ours_exists = apply::owned_file_exists(&site_file)?;
    if !uncovered.is_empty() && !ours_exists {
        let spec = spec_for(site, name, uncovered, http_port, Vec::new(), false, true)?;
        changes.extend(site_changes(
            site,
            name,
            render::http_only_site(&spec, &site.layout),
        ));
    }
    let applied = apply::apply(&changes, &site.nginx, backup_root, Reload::IfChanged)?;
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
    // Old workers keep accepting for a moment after a reload: ask for several answers in a row.
    let mut last = None;
    let mut in_a_row = 0;
    for _ in 0..60 {
        match challenge::self_check(http_port, &tokens).await {
            Ok(()) => {
                in_a_row += 1;
                if in_a_row == 3 {
                    return Ok(());
                }
            }
            Err(e) => {
                in_a_row = 0;
                last = Some(e);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(last.map_or_else(|| NginxError::ProbeNeverServed.into(), Into::into))
}

/// Writes the full TLS site for a certificate that is live, with the options in `site`.
pub fn configure_site(
    store: &dyn CertStore,
    name: &str,
    site: &NginxSite,
    http_port: u16,
    dry_run: bool,
    backup_root: &std::path::Path,
    reload: Reload,
) -> Result<NginxOutcome, Error> {
    let record = super::record_of(store, name, UnknownCertHint::Issue)?;
    let pem = store
        .live_fullchain(name)?
        .ok_or_else(|| InputError::NotLive(name.to_owned()))?;
    let info = verify::cert_info(&verify::parse_pem_chain(&pem)?[0])?;
    let hosts = record.domains.clone();
    let served = inspect(site, name, &hosts, http_port)?;
    let slots: &[KeySlot] = match record.dual {
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
    let mut notes = Vec::new();
    let redirect = served.foreign_http.is_empty();
    if !redirect {
        for block in &served.foreign_http {
            let host = block.names.join(" ");
            notes.push(format!(
                "port {http_port} for {host} is served by {}, which certctl does not manage: it gets the ACME challenge include but no redirect; add `return 301 https://$host$request_uri;` there yourself",
                block.location()
            ));
        }
    }
    let spec = spec_for(
        site,
        name,
        hosts,
        http_port,
        certs,
        !info.ocsp_urls.is_empty(),
        redirect,
    )?;
    let mut changes = vec![
        Change::Owned {
            path: site.layout.tls_snippet(site.profile),
            content: render::tls_snippet(site.profile),
        },
        Change::Owned {
            path: site.layout.acme_snippet(),
            content: render::acme_snippet(&site.layout.acme_webroot),
        },
    ];
    changes.extend(include_changes(site, &served)?);
    changes.extend(site_changes(site, name, render::site(&spec, &site.layout)));
    if dry_run {
        return Ok(NginxOutcome {
            diff: Some(apply::diff(&changes)?),
            applied: Applied::default(),
            notes,
        });
    }
    let applied = apply::apply(&changes, &site.nginx, backup_root, reload)?;
    let mut record = record;
    record.nginx = Some(site.clone());
    store.save_record(&record)?;
    Ok(NginxOutcome {
        diff: None,
        applied,
        notes,
    })
}

/// Where previous versions of nginx files are kept: inside the state directory, never where
/// nginx could load them.
pub fn backup_root(state_dir: &std::path::Path) -> PathBuf {
    state_dir.join("nginx-backups")
}
