//! The systemd timer that runs `certctl renew` (`certctl schedule`).
//!
//! The unit templates live in systemd/ and are compiled in; `install` fills in the binary and the
//! state directory, writes them under `ROOT/etc/systemd/system/` and, on the live system (root
//! `/`) with systemctl present, reloads systemd and enables the timer.

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

const TIMER: &str = "certctl-renew.timer";
const MARK: &str = "# certctl-managed";

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

/// The unit files with the binary, the state directory and the extra writable paths (webroots
/// and nginx directories from the renewal records) filled in.
pub fn render_units(
    binary: &Path,
    state_dir: &Path,
    writable: &[PathBuf],
) -> Result<Vec<(&'static str, String)>, SchedulerError> {
    for (what, path) in [("binary", binary), ("state directory", state_dir)] {
        if !unit_safe(path) {
            return Err(SchedulerError::UnsafePath {
                what,
                path: path.to_owned(),
            });
        }
    }
    let extra: Vec<String> = writable
        .iter()
        .filter(|p| unit_safe(p) && !p.starts_with(state_dir))
        .map(|p| format!("-{}", p.display()))
        .collect();
    let extra = match extra.is_empty() {
        true => "# (none)".to_owned(),
        false => format!("ReadWritePaths={}", extra.join(" ")),
    };
    Ok(UNITS
        .iter()
        .map(|(name, text)| {
            let text = text
                .replace("@CERTCTL@", &binary.display().to_string())
                .replace("@STATE_DIR@", &state_dir.display().to_string())
                .replace("@EXTRA_RW@", &extra);
            (*name, text)
        })
        .collect())
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

/// Writes the units (replacing only files certctl wrote) and enables the timer when it can.
pub fn install(
    root: &Path,
    binary: &Path,
    state_dir: &Path,
    writable: &[PathBuf],
) -> Result<Installed, SchedulerError> {
    let units = render_units(binary, state_dir, writable)?;
    let dir = unit_dir(root);
    for (name, _) in &units {
        let path = dir.join(name);
        if let Ok(existing) = std::fs::read_to_string(&path)
            && !existing.starts_with(MARK)
        {
            return Err(SchedulerError::InTheWay(path));
        }
    }
    std::fs::create_dir_all(&dir).map_err(fsio::io("cannot create", &dir))?;
    let mut files = Vec::new();
    for (name, text) in &units {
        let path = dir.join(name);
        fsio::write_atomic(&path, text.as_bytes(), 0o644)?;
        files.push(path);
    }
    let enabled = systemctl_usable(root);
    if enabled {
        systemctl(&["daemon-reload"])?;
        systemctl(&["enable", "--now", TIMER])?;
    }
    Ok(Installed { files, enabled })
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
    if systemctl_usable(root) {
        let _ = systemctl(&["daemon-reload"]);
    }
    Ok(removed)
}

/// One line on the timer: installed or not, and its next run when systemd knows it.
pub fn status(root: &Path) -> Result<String, SchedulerError> {
    let timer = unit_dir(root).join(TIMER);
    if !timer.exists() {
        return Ok(format!(
            "not installed ({} is missing); run `certctl schedule install`",
            timer.display()
        ));
    }
    if !systemctl_usable(root) {
        return Ok(format!(
            "installed at {}; systemd is not running here, so no next run is known",
            timer.display()
        ));
    }
    let show = systemctl(&[
        "show",
        TIMER,
        "--property=ActiveState,UnitFileState,NextElapseUSecRealtime,LastTriggerUSec",
    ])?;
    let value = |key: &str| {
        show.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .filter(|v| !v.is_empty())
            .unwrap_or("n/a")
            .to_owned()
    };
    Ok(format!(
        "{TIMER}: {} ({}), next run {}, last run {}",
        value("ActiveState"),
        value("UnitFileState"),
        value("NextElapseUSecRealtime"),
        value("LastTriggerUSec")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_get_the_binary_and_state_dir() {
        let writable = [
            PathBuf::from("/srv/www/acme"),
            PathBuf::from("/srv/certctl/inside"),
            PathBuf::from("/bad path"),
        ];
        let units = render_units(
            Path::new("/usr/local/bin/certctl"),
            Path::new("/srv/certctl"),
            &writable,
        )
        .unwrap();
        let service = &units[0].1;
        assert!(
            service.contains(
                "ExecStart=/usr/local/bin/certctl --quiet --state-dir /srv/certctl renew"
            )
        );
        assert!(service.contains("ReadWritePaths=/srv/certctl -/etc/nginx "));
        // Record paths are writable too, optional ("-"), minus what is inside the state dir or
        // would not survive systemd's parsing.
        assert!(
            service.contains("\nReadWritePaths=-/srv/www/acme\n"),
            "{service}"
        );
        assert!(!service.contains("@EXTRA_RW@") && !service.contains("bad path"));
        assert!(
            !service.contains("@CERTCTL@") && !service.contains("@STATE_DIR@"),
            "{service}"
        );
        assert!(units[1].1.contains("Persistent=true"));
        assert!(render_units(Path::new("/opt/my certctl"), Path::new("/x"), &[]).is_err());
        assert!(render_units(Path::new("certctl"), Path::new("/x"), &[]).is_err());
        assert!(render_units(Path::new("/bin/certctl"), Path::new("/var/%h"), &[]).is_err());
    }
}
