//! The nginx half of `import certbot`: every certificate directive in the files nginx loads
//! (`nginx -T`) that reads a lineage certctl now has is pointed at certctl's live files
//! (`nginx::repoint`), then applied the way every nginx edit is (`nginx::apply`: backups,
//! `nginx -t`, reload, full restore on failure, and a journal per certificate so
//! `certctl nginx NAME --revert` puts its files back). Each repointed certificate's record
//! remembers that nginx, so renewals reload it and check what it serves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::Error;
use crate::fsio;
use crate::nginx::NginxError;
use crate::nginx::apply::{self, Change};
use crate::nginx::binary::Nginx;
use crate::nginx::{dump, render, repoint};
use crate::store::{CertStore, KeySlot};

/// One directive that now reads certctl's file (or, in a dry run, would).
#[derive(Clone, Debug, Serialize)]
pub struct Moved {
    /// `file:line` of the directive, in the file as it was.
    pub at: String,
    /// `ssl_certificate`, `ssl_certificate_key` or `ssl_trusted_certificate`.
    pub directive: String,
    /// certbot's path it read.
    pub from: String,
    /// certctl's path it reads.
    pub to: PathBuf,
}

/// What happened to nginx's files.
#[derive(Debug, Default, Serialize)]
pub struct NginxReport {
    /// The nginx whose configuration was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nginx: Option<Nginx>,
    /// Why nginx was not looked at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Why repointing failed (every file was restored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `--dry-run`: the unified diff of every file it would change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// Files changed.
    pub changed: Vec<PathBuf>,
    /// Where their previous versions are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_dir: Option<PathBuf>,
    /// nginx was tested and reloaded.
    pub reloaded: bool,
    /// Directives under certbot's live/ whose path uses a variable (`file:line directive path`):
    /// left as they are.
    pub variable: Vec<String>,
}

/// What [`repoint_nginx`] found per lineage.
#[derive(Debug, Default)]
pub struct Repointing {
    /// Everything about nginx.
    pub report: NginxReport,
    /// Lineage → its directives now reading certctl's files.
    pub moved: BTreeMap<String, Vec<Moved>>,
    /// Lineage certctl does not have → `file:line` of the directives that keep reading certbot's.
    pub kept: BTreeMap<String, Vec<String>>,
}

/// Points nginx at certctl's files for `lineages` (certificates certctl has, or in a dry run
/// would have, under the same names), reading certbot's paths under each of `certbot_dirs`.
/// `dump` is `nginx -T`'s output, when the caller already has it: it only says which files
/// nginx loads; what is edited is read from the files under the lock.
pub fn repoint_nginx(
    store: &dyn CertStore,
    nginx: &Nginx,
    dump: Option<String>,
    certbot_dirs: &[PathBuf],
    lineages: &[String],
    dry_run: bool,
    backup_root: &Path,
) -> Result<Repointing, Error> {
    let mut out = Repointing::default();
    out.report.nginx = Some(nginx.clone());
    let _edits = match dry_run {
        true => None,
        false => Some(super::locks::nginx_edits(
            backup_root,
            super::locks::DEFAULT_WAIT,
        )?),
    };
    let certctl = |name: &str, file: &str| -> Option<PathBuf> {
        if !lineages.iter().any(|l| l == name) {
            return None;
        }
        let live = store.live_paths(name, KeySlot::Primary);
        Some(match file {
            "cert.pem" => live.cert,
            "chain.pem" => live.chain,
            "fullchain.pem" => live.fullchain,
            _ => live.privkey,
        })
    };
    for name in lineages {
        let live = store.live_paths(name, KeySlot::Primary);
        for path in [live.cert, live.chain, live.fullchain, live.privkey] {
            render::check_value("certctl's certificate path", &path.display().to_string())?;
        }
    }
    let dump = match dump {
        Some(text) => text,
        None => nginx.dump()?,
    };
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut changes = Vec::new();
    // Lineage → the files changed for it (its journal).
    let mut touched: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for (loaded, dumped) in dump::files(&dump) {
        if !certbot_dirs
            .iter()
            .any(|d| dumped.contains(&*d.join("live").to_string_lossy()))
        {
            continue;
        }
        // A sites-enabled symlink: the file it points to is the one edited.
        let real = std::fs::canonicalize(&loaded)
            .map_err(|e| NginxError::from(fsio::io("cannot resolve", &loaded)(e)))?;
        if seen.contains(&real) {
            continue;
        }
        seen.push(real.clone());
        let text = std::fs::read_to_string(&real)
            .map_err(|e| NginxError::from(fsio::io("cannot read", &real)(e)))?;
        let result = repoint::repoint(&text, certbot_dirs, &certctl).map_err(|e| {
            NginxError::Unparsable {
                path: real.clone(),
                reason: e.to_string(),
            }
        })?;
        let at = |line: usize| format!("{}:{line}", real.display());
        for f in &result.variable {
            out.report
                .variable
                .push(format!("{} {} {}", at(f.line), f.directive, f.path));
        }
        for f in &result.kept {
            out.kept
                .entry(f.lineage.clone())
                .or_default()
                .push(at(f.line));
        }
        for (f, to) in &result.moved {
            out.moved.entry(f.lineage.clone()).or_default().push(Moved {
                at: at(f.line),
                directive: f.directive.clone(),
                from: f.path.clone(),
                to: to.clone(),
            });
            let files = touched.entry(f.lineage.clone()).or_default();
            if !files.contains(&real) {
                files.push(real.clone());
            }
        }
        if result.text != text {
            changes.push(Change::UserFile {
                path: real,
                content: result.text,
            });
        }
    }
    if dry_run {
        out.report.diff = Some(apply::diff(&changes)?);
        return Ok(out);
    }
    if changes.is_empty() {
        return Ok(out);
    }
    let journals: Vec<(PathBuf, Vec<PathBuf>)> = touched
        .iter()
        .map(|(name, files)| (super::nginx::journal_dir(backup_root, name), files.clone()))
        .collect();
    let applied = apply::apply_for_each(&changes, nginx, backup_root, &journals)?;
    out.report.changed = applied.changed;
    out.report.backup_dir = applied.backup_dir;
    out.report.reloaded = applied.reloaded;
    let names: Vec<&String> = touched.keys().collect();
    crate::parallel::map(&names, 8, |name| remember(store, name, nginx))
        .into_iter()
        .collect::<Result<(), Error>>()?;
    Ok(out)
}

/// The record of a repointed certificate names the nginx that reads it, for renewals.
fn remember(store: &dyn CertStore, name: &str, nginx: &Nginx) -> Result<(), Error> {
    let _lock = super::locks::cert_blocking(store, name, super::locks::DEFAULT_WAIT)?;
    if let Some(mut record) = store.load_record(name)?
        && record.reload_nginx.as_ref() != Some(nginx)
    {
        record.reload_nginx = Some(nginx.clone());
        store.save_record(&record)?;
    }
    Ok(())
}

/// certbot's directory as given and as the filesystem resolves it: nginx may name either.
pub fn certbot_dirs(config_dir: &Path) -> Vec<PathBuf> {
    let given = std::path::absolute(config_dir).unwrap_or_else(|_| config_dir.to_owned());
    let mut dirs = vec![given.clone()];
    if let Ok(real) = std::fs::canonicalize(&given)
        && real != given
    {
        dirs.push(real);
    }
    dirs
}
