//! The systemd timer that runs `certctl renew` (`certctl schedule`).
//!
//! The unit templates live in systemd/ and are compiled in; `install` fills in the binary and the
//! state directory, writes them under `ROOT/etc/systemd/system/` and, on the live system (root
//! `/`) with systemctl present, reloads systemd and enables the timer.
//!
//! The service runs with `ProtectSystem=strict`, so every directory a renewal writes must be in
//! its `ReadWritePaths`, and those come from the renewal records: a webroot or nginx site added
//! after `schedule install` would get EROFS under the timer. So the record-derived paths live in
//! a drop-in of their own, `certctl-renew.service.d/certctl-paths.conf`, which [`refresh`]
//! rewrites (and systemd reloads) whenever a command that adds or changes a record succeeds
//! (`issue`, `nginx`, `install-cert`). The renewal run itself cannot do it: under the sandbox
//! /etc is read-only. `install` remembers the roots it wrote to in the state directory
//! (`schedule-roots`), so a refresh reaches units installed under `--root` too.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::SchedulerError;
use crate::fsio;

/// The service and the timer, as shipped.
const UNITS: [(&str, &str); 2] = [
    (
        "certctl-renew.service",
        include_str!("../../systemd/certctl-renew.service"),
    ),
    (
        "certctl-renew.timer",
        include_str!("../../systemd/certctl-renew.timer"),
    ),
];

const SERVICE: &str = "certctl-renew.service";
const TIMER: &str = "certctl-renew.timer";
const MARK: &str = "# certctl-managed";
/// The drop-in directory and file holding the record-derived writable paths.
const DROPIN_DIR: &str = "certctl-renew.service.d";
const DROPIN: &str = "certctl-paths.conf";
/// In the state directory: the roots `install` wrote units under, one per line.
const ROOTS_FILE: &str = "schedule-roots";

/// True for a path systemd takes as it is in ExecStart and ReadWritePaths (it splits on
/// whitespace and expands % and $).
fn unit_safe(path: &Path) -> bool {
    let text = path.to_str().unwrap_or_default();
    path.is_absolute()
        && !text.is_empty()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "%$\\\"'".contains(c))
}

/// The unit files with the binary and the state directory filled in.
pub fn render_units(
    binary: &Path,
    state_dir: &Path,
) -> Result<Vec<(&'static str, String)>, SchedulerError> {
    for (what, path) in [("binary", binary), ("state directory", state_dir)] {
        if !unit_safe(path) {
            return Err(SchedulerError::UnsafePath {
                what,
                path: path.to_owned(),
            });
        }
    }
    Ok(UNITS
        .iter()
        .map(|(name, text)| {
            let text = text
                .replace("@CERTCTL@", &binary.display().to_string())
                .replace("@STATE_DIR@", &state_dir.display().to_string());
            (*name, text)
        })
        .collect())
}

/// The drop-in that makes the record-derived paths writable: each optional ("-": a path this
/// host lacks is skipped), minus those inside the state directory (writable already) and those
/// systemd would split or expand.
pub fn render_dropin(state_dir: &Path, writable: &[PathBuf]) -> String {
    let extra: Vec<String> = writable
        .iter()
        .filter(|p| unit_safe(p) && !p.starts_with(state_dir))
        .map(|p| format!("-{}", p.display()))
        .collect();
    let mut text = format!(
        "{MARK}: the webroots and nginx directories of certctl's renewal records, rewritten by\n\
         # certctl after every `issue`, `nginx` and `install-cert`; `schedule uninstall` removes it.\n\
         [Service]\n"
    );
    match extra.is_empty() {
        true => text.push_str("# (no webroot or nginx directory outside the defaults yet)\n"),
        false => text.push_str(&format!("ReadWritePaths={}\n", extra.join(" "))),
    }
    text
}

/// The directories renewals write to, from every renewal record: webroots, and the nginx
/// directories and ACME webroot of managed sites.
pub fn writable_paths(store: &dyn crate::store::CertStore) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for name in store.cert_names().unwrap_or_default() {
        let Ok(Some(record)) = store.load_record(&name) else {
            continue;
        };
        if let crate::config::Responder::Webroot { path } = &record.responder {
            paths.push(path.clone());
        }
        if let Some(site) = &record.nginx {
            paths.push(site.layout.sites_dir.clone());
            paths.push(site.layout.snippets_dir.clone());
            paths.push(site.layout.acme_webroot.clone());
            paths.extend(site.layout.enabled_dir.clone());
        }
    }
    paths.sort();
    paths.dedup();
    paths
}

/// Where units go under `root`.
pub fn unit_dir(root: &Path) -> PathBuf {
    root.join("etc/systemd/system")
}

/// What `install` did.
#[derive(Debug, serde::Serialize)]
pub struct Installed {
    /// The unit files written.
    pub files: Vec<PathBuf>,
    /// The timer was enabled and started with systemctl.
    pub enabled: bool,
}

fn systemctl_usable(root: &Path) -> bool {
    root == Path::new("/")
        && Path::new("/run/systemd/system").is_dir()
        && Command::new("systemctl")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

fn systemctl(args: &[&str]) -> Result<String, SchedulerError> {
    let out = Command::new("systemctl")
        .args(args)
        .output()
        .map_err(SchedulerError::NoSystemctl)?;
    if !out.status.success() {
        return Err(SchedulerError::Systemctl {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The drop-in's path under `root`.
fn dropin_path(root: &Path) -> PathBuf {
    unit_dir(root).join(DROPIN_DIR).join(DROPIN)
}

/// Writes the units and the paths drop-in (replacing only files certctl wrote), remembers
/// `root` for [`refresh`], and enables the timer when it can.
pub fn install(
    root: &Path,
    binary: &Path,
    state_dir: &Path,
    writable: &[PathBuf],
) -> Result<Installed, SchedulerError> {
    let units = render_units(binary, state_dir)?;
    let dir = unit_dir(root);
    let dropin = dropin_path(root);
    for path in units
        .iter()
        .map(|(name, _)| dir.join(name))
        .chain([dropin.clone()])
    {
        if let Ok(existing) = std::fs::read_to_string(&path)
            && !existing.starts_with(MARK)
        {
            return Err(SchedulerError::InTheWay(path));
        }
    }
    let dropin_dir = dir.join(DROPIN_DIR);
    std::fs::create_dir_all(&dropin_dir).map_err(fsio::io("cannot create", &dropin_dir))?;
    let mut files = Vec::new();
    for (name, text) in &units {
        let path = dir.join(name);
        fsio::write_atomic(&path, text.as_bytes(), 0o644)?;
        files.push(path);
    }
    fsio::write_atomic(
        &dropin,
        render_dropin(state_dir, writable).as_bytes(),
        0o644,
    )?;
    files.push(dropin);
    remember_root(state_dir, root)?;
    let enabled = systemctl_usable(root);
    if enabled {
        systemctl(&["daemon-reload"])?;
        systemctl(&["enable", "--now", TIMER])?;
    }
    Ok(Installed { files, enabled })
}

/// The roots to refresh: the live system's, and those `install` wrote units under, as
/// remembered in the state directory.
fn remembered_roots(state_dir: &Path) -> Vec<PathBuf> {
    let mut roots = vec![PathBuf::from("/")];
    for line in std::fs::read_to_string(state_dir.join(ROOTS_FILE))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        if !roots.iter().any(|r| r.as_os_str() == line) {
            roots.push(PathBuf::from(line));
        }
    }
    roots
}

fn remember_root(state_dir: &Path, root: &Path) -> Result<(), SchedulerError> {
    use std::os::unix::fs::DirBuilderExt;
    let root = std::path::absolute(root).map_err(fsio::io("cannot resolve", root))?;
    let mut roots = remembered_roots(state_dir);
    if !roots.contains(&root) {
        roots.push(root);
        // Installed before the first certificate: the state directory may not exist yet.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)
            .map_err(fsio::io("cannot create", state_dir))?;
        let text: String = roots.iter().map(|r| format!("{}\n", r.display())).collect();
        fsio::write_atomic(&state_dir.join(ROOTS_FILE), text.as_bytes(), 0o644)?;
    }
    Ok(())
}

/// Rewrites the paths drop-in under every root `install` wrote units to (where certctl's
/// service is still installed) when the records' paths changed, and reloads systemd on the live
/// system. Returns the drop-ins rewritten. See the module docs.
pub fn refresh(state_dir: &Path, writable: &[PathBuf]) -> Result<Vec<PathBuf>, SchedulerError> {
    let text = render_dropin(state_dir, writable);
    let mut changed = Vec::new();
    for root in remembered_roots(state_dir) {
        let service = unit_dir(&root).join(SERVICE);
        if !std::fs::read_to_string(&service).is_ok_and(|t| t.starts_with(MARK)) {
            continue;
        }
        let dropin = dropin_path(&root);
        match std::fs::read_to_string(&dropin) {
            Ok(old) if old == text => continue,
            Ok(old) if !old.starts_with(MARK) => return Err(SchedulerError::InTheWay(dropin)),
            _ => {}
        }
        let dir = unit_dir(&root).join(DROPIN_DIR);
        std::fs::create_dir_all(&dir).map_err(fsio::io("cannot create", &dir))?;
        fsio::write_atomic(&dropin, text.as_bytes(), 0o644)?;
        if systemctl_usable(&root) {
            systemctl(&["daemon-reload"])?;
        }
        changed.push(dropin);
    }
    Ok(changed)
}

/// Disables the timer (when it can) and removes the unit files certctl wrote.
pub fn uninstall(root: &Path) -> Result<Vec<PathBuf>, SchedulerError> {
    if systemctl_usable(root) {
        let _ = systemctl(&["disable", "--now", TIMER]);
    }
    let dir = unit_dir(root);
    let mut removed = Vec::new();
    for (name, _) in UNITS {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) if text.starts_with(MARK) => {
                std::fs::remove_file(&path).map_err(fsio::io("cannot remove", &path))?;
                removed.push(path);
            }
            Ok(_) => {
                return Err(SchedulerError::NotOurs(path));
            }
            Err(_) => {}
        }
    }
    let dropin = dropin_path(root);
    match std::fs::read_to_string(&dropin) {
        Ok(text) if text.starts_with(MARK) => {
            std::fs::remove_file(&dropin).map_err(fsio::io("cannot remove", &dropin))?;
            // Only when empty: someone else's drop-ins stay.
            let _ = std::fs::remove_dir(unit_dir(root).join(DROPIN_DIR));
            removed.push(dropin);
        }
        Ok(_) => return Err(SchedulerError::NotOurs(dropin)),
        Err(_) => {}
    }
    if systemctl_usable(root) {
        let _ = systemctl(&["daemon-reload"]);
    }
    Ok(removed)
}

/// What systemd says about certctl's timer.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TimerState {
    /// The timer unit file.
    pub unit: PathBuf,
    /// The unit file exists.
    pub installed: bool,
    /// systemd runs here (so the fields below could be asked).
    pub systemd: bool,
    /// ActiveState (`active`, `inactive`).
    pub active: Option<String>,
    /// UnitFileState (`enabled`, `disabled`).
    pub enabled: Option<String>,
    /// NextElapseUSecRealtime, as systemd prints it.
    pub next_run: Option<String>,
    /// LastTriggerUSec, as systemd prints it.
    pub last_run: Option<String>,
}

/// The timer: installed or not, and its state and runs when systemd knows them.
pub fn timer_state(root: &Path) -> Result<TimerState, SchedulerError> {
    // `schedule install`'s unit, else the package's (shipped in /usr/lib, enabled by hand).
    let candidates = [
        unit_dir(root).join(TIMER),
        root.join("usr/lib/systemd/system").join(TIMER),
        root.join("lib/systemd/system").join(TIMER),
    ];
    let found = candidates.iter().find(|p| p.exists());
    let mut state = TimerState {
        installed: found.is_some(),
        unit: found.unwrap_or(&candidates[0]).clone(),
        ..TimerState::default()
    };
    if !state.installed || !systemctl_usable(root) {
        return Ok(state);
    }
    state.systemd = true;
    let show = systemctl(&[
        "show",
        TIMER,
        "--property=ActiveState,UnitFileState,NextElapseUSecRealtime,LastTriggerUSec",
    ])?;
    let value = |key: &str| {
        show.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    state.active = value("ActiveState");
    state.enabled = value("UnitFileState");
    state.next_run = value("NextElapseUSecRealtime");
    state.last_run = value("LastTriggerUSec");
    Ok(state)
}

/// One line on the timer: installed or not, and its next run when systemd knows it.
pub fn status(root: &Path) -> Result<String, SchedulerError> {
    let state = timer_state(root)?;
    if !state.installed {
        return Ok(format!(
            "not installed ({} is missing); run `certctl schedule install`",
            state.unit.display()
        ));
    }
    if !state.systemd {
        return Ok(format!(
            "installed at {}; systemd is not running here, so no next run is known",
            state.unit.display()
        ));
    }
    let or_na = |v: &Option<String>| v.clone().unwrap_or_else(|| "n/a".into());
    Ok(format!(
        "{TIMER}: {} ({}), next run {}, last run {}",
        or_na(&state.active),
        or_na(&state.enabled),
        or_na(&state.next_run),
        or_na(&state.last_run)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_get_the_binary_and_state_dir() {
        let units = render_units(
            Path::new("/usr/local/bin/certctl"),
            Path::new("/srv/certctl"),
        )
        .unwrap();
        let service = &units[0].1;
        assert!(
            service.contains(
                "ExecStart=/usr/local/bin/certctl --quiet --state-dir /srv/certctl renew"
            )
        );
        assert!(service.contains("ReadWritePaths=/srv/certctl -/etc/nginx "));
        assert!(service.contains("\nUMask=0022\n"), "{service}");
        assert!(
            !service.contains("@CERTCTL@") && !service.contains("@STATE_DIR@"),
            "{service}"
        );
        assert!(units[1].1.contains("Persistent=true"));
        assert!(render_units(Path::new("/opt/my certctl"), Path::new("/x")).is_err());
        assert!(render_units(Path::new("certctl"), Path::new("/x")).is_err());
        assert!(render_units(Path::new("/bin/certctl"), Path::new("/var/%h")).is_err());
    }

    #[test]
    fn the_dropin_lists_record_paths_outside_the_state_dir() {
        let writable = [
            PathBuf::from("/srv/www/acme"),
            PathBuf::from("/srv/certctl/inside"),
            PathBuf::from("/bad path"),
            PathBuf::from("/home/%u/www"),
        ];
        let text = render_dropin(Path::new("/srv/certctl"), &writable);
        assert!(text.starts_with(MARK));
        assert!(
            text.ends_with("[Service]\nReadWritePaths=-/srv/www/acme\n"),
            "{text}"
        );
        let none = render_dropin(Path::new("/srv/certctl"), &[]);
        assert!(!none.contains("ReadWritePaths"), "{none}");
    }

    #[test]
    fn refresh_rewrites_only_remembered_installed_roots_when_paths_change() {
        let state = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let bin = Path::new("/usr/bin/certctl");
        assert!(
            refresh(state.path(), &[]).unwrap().is_empty(),
            "nothing installed"
        );
        install(root.path(), bin, state.path(), &[]).unwrap();
        let dropin = dropin_path(root.path());
        assert!(refresh(state.path(), &[]).unwrap().is_empty(), "unchanged");
        let new = [PathBuf::from("/srv/new-webroot")];
        assert_eq!(refresh(state.path(), &new).unwrap(), vec![dropin.clone()]);
        assert!(
            std::fs::read_to_string(&dropin)
                .unwrap()
                .contains("ReadWritePaths=-/srv/new-webroot\n")
        );
        let removed = uninstall(root.path()).unwrap();
        assert!(removed.contains(&dropin) && !dropin.exists());
        assert!(
            refresh(state.path(), &new).unwrap().is_empty(),
            "uninstalled"
        );
    }
}
