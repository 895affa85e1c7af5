//! Stopping certbot's own schedule once certctl renews what it renewed: the systemd timer
//! (Debian's `certbot.timer`, the snap's `snap.certbot.renew.timer`) and Debian's
//! `/etc/cron.d/certbot`. Everything happens under a root directory (`/` for the real system,
//! any other directory for tests and images), and only `/` with systemd running gets systemctl.
//! The cron entry is commented out with a marker, never deleted, so it can be put back.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use super::CertbotError;
use crate::fsio;

/// The timers certbot's packages install.
const TIMERS: [&str; 2] = ["certbot.timer", "snap.certbot.renew.timer"];
/// What a cron line certctl disabled starts with.
pub const CRON_MARK: &str = "#disabled by certctl import: ";

/// Disables certbot's timer and cron entry under `root`; with `dry_run`, only says what it
/// would do. Returns one sentence per thing done (empty: nothing of certbot's was scheduled).
pub fn disable(root: &Path, dry_run: bool) -> Result<Vec<String>, CertbotError> {
    let mut done = Vec::new();
    let would = if dry_run { "would " } else { "" };
    let live = root == Path::new("/") && Path::new("/run/systemd/system").is_dir();
    for timer in TIMERS {
        if live {
            if systemctl(&["is-enabled", "--quiet", timer]).is_ok()
                || systemctl(&["is-active", "--quiet", timer]).is_ok()
            {
                if !dry_run {
                    systemctl(&["disable", "--now", timer])?;
                }
                done.push(format!("{would}disable and stop {timer}"));
            }
            continue;
        }
        let wants = root
            .join("etc/systemd/system/timers.target.wants")
            .join(timer);
        if fs::symlink_metadata(&wants).is_ok_and(|m| m.file_type().is_symlink()) {
            if !dry_run {
                fs::remove_file(&wants).map_err(fsio::io("cannot remove", &wants))?;
                fsio::sync_dir(wants.parent().unwrap_or(root))?;
            }
            done.push(format!(
                "{would}disable {timer} (remove {})",
                wants.display()
            ));
        }
    }
    let cron = root.join("etc/cron.d/certbot");
    if let Ok(text) = fs::read_to_string(&cron) {
        let (disabled, n) = comment_out_certbot(&text);
        if n > 0 {
            if !dry_run {
                let mode = fs::metadata(&cron)
                    .map(|m| m.permissions().mode() & 0o7777)
                    .unwrap_or(0o644);
                fsio::write_atomic(&cron, disabled.as_bytes(), mode)?;
            }
            done.push(format!(
                "{would}comment out {n} line{} of {}",
                if n == 1 { "" } else { "s" },
                cron.display()
            ));
        }
    }
    Ok(done)
}

fn systemctl(args: &[&str]) -> Result<(), CertbotError> {
    let out =
        Command::new("systemctl")
            .args(args)
            .output()
            .map_err(|e| CertbotError::Systemctl {
                args: args.join(" "),
                stderr: e.to_string(),
            })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(CertbotError::Systemctl {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// Comments out every active cron line that runs certbot; returns the new text and how many
/// lines changed. Variables, comments and other jobs are left as they are.
pub fn comment_out_certbot(text: &str) -> (String, usize) {
    let mut n = 0;
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let body = line.trim_start();
        let is_job = !body.is_empty()
            && !body.starts_with('#')
            && !body
                .split_whitespace()
                .next()
                .is_some_and(|w| w.contains('='));
        if is_job && body.contains("certbot") {
            out.push_str(CRON_MARK);
            n += 1;
        }
        out.push_str(line);
    }
    (out, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian's /etc/cron.d/certbot (certbot 2.1.0-2).
    const DEBIAN_CRON: &str = "# /etc/cron.d/certbot: crontab entries for the certbot package
#
# Upstream recommends attempting renewal twice a day
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin

0 */12 * * * root test -x /usr/bin/certbot -a \\! -d /run/systemd/system && perl -e 'sleep int(rand(43200))' && certbot -q renew
";

    #[test]
    fn comments_out_only_certbot_jobs() {
        let (text, n) = comment_out_certbot(DEBIAN_CRON);
        assert_eq!(n, 1);
        assert!(text.contains(&format!("\n{CRON_MARK}0 */12 * * * root test")));
        assert!(text.contains("\nSHELL=/bin/sh\n"));
        // Twice is once.
        assert_eq!(comment_out_certbot(&text), (text.clone(), 0));
        let (other, n) = comment_out_certbot("5 4 * * * root /usr/bin/backup\n");
        assert_eq!((other.as_str(), n), ("5 4 * * * root /usr/bin/backup\n", 0));
    }

    #[test]
    fn disables_under_a_root_and_dry_run_changes_nothing() {
        let root = tempfile::tempdir().unwrap();
        let wants = root.path().join("etc/systemd/system/timers.target.wants");
        fs::create_dir_all(&wants).unwrap();
        std::os::unix::fs::symlink(
            "/lib/systemd/system/certbot.timer",
            wants.join("certbot.timer"),
        )
        .unwrap();
        fs::create_dir_all(root.path().join("etc/cron.d")).unwrap();
        let cron = root.path().join("etc/cron.d/certbot");
        fs::write(&cron, DEBIAN_CRON).unwrap();

        let planned = disable(root.path(), true).unwrap();
        assert_eq!(planned.len(), 2, "{planned:?}");
        assert!(planned.iter().all(|p| p.starts_with("would ")));
        assert!(wants.join("certbot.timer").is_symlink());
        assert_eq!(fs::read_to_string(&cron).unwrap(), DEBIAN_CRON);

        let done = disable(root.path(), false).unwrap();
        assert_eq!(done.len(), 2, "{done:?}");
        assert!(!wants.join("certbot.timer").is_symlink());
        assert!(fs::read_to_string(&cron).unwrap().contains(CRON_MARK));
        assert!(disable(root.path(), false).unwrap().is_empty());
    }
}
