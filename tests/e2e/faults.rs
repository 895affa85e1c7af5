//! The fault matrix: certctl killed at every step of `issue` and `renew` (a failpoint compiled
//! into debug builds aborts the process there, as SIGKILL would), concurrent renewals, nginx
//! failing for another site, and the account lock under concurrency. After each fault the next
//! ordinary run must leave a complete live set that nginx serves, with every version deployed
//! once. `bench/faults.sh` runs the same matrix with more trials (`CERTCTL_FAULT_TRIALS`).

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::{Lab, assert_ok, stderr, stdout};

/// What one row of the matrix counts.
#[derive(Debug, Default)]
struct Row {
    trials: u32,
    torn: u32,
    lost: u32,
    duplicate_deploys: u32,
    hangs: u32,
    longest: Duration,
}

impl Row {
    fn print(&self, fault: &str) {
        eprintln!(
            "| {fault} | {} | {} | {} | {} | {} | {:.1} s |",
            self.trials,
            self.torn,
            self.lost,
            self.duplicate_deploys,
            self.hangs,
            self.longest.as_secs_f64()
        );
    }
}

fn trials() -> u32 {
    std::env::var("CERTCTL_FAULT_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Runs a command with a bound; a run that does not end by then is a hang (and is killed).
fn run_bounded(mut cmd: Command, row: &mut Row) -> Option<Output> {
    let started = Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let bound = Duration::from_secs(90);
    loop {
        if child.try_wait().unwrap().is_some() {
            row.longest = row.longest.max(started.elapsed());
            return Some(child.wait_with_output().unwrap());
        }
        if started.elapsed() > bound {
            let _ = child.kill();
            let _ = child.wait();
            row.hangs += 1;
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The deploy hook appends "NAME SERIAL" to this file for every deploy.
fn hook_log(lab: &Lab) -> std::path::PathBuf {
    lab.dir.path().join("deploys.log")
}

fn hook(lab: &Lab) -> String {
    format!(
        "echo \"$CERTCTL_NAME $(openssl x509 -noout -serial -in \"$CERTCTL_CERT\")\" >> {}",
        hook_log(lab).display()
    )
}

/// How many times each (name, serial) was deployed.
fn deploys(lab: &Lab) -> HashMap<String, u32> {
    let mut count = HashMap::new();
    for line in fs::read_to_string(hook_log(lab))
        .unwrap_or_default()
        .lines()
    {
        *count.entry(line.to_owned()).or_insert(0) += 1;
    }
    count
}

/// The live set is complete and consistent: the fullchain is the leaf plus the chain, and
/// `certctl verify` finds the key matching and the chain leading to pebble's root.
fn live_set_intact(lab: &Lab, name: &str) -> bool {
    let live = lab.live(name);
    let read = |f: &str| fs::read_to_string(live.join(f)).unwrap_or_default();
    if read("fullchain.pem") != read("cert.pem") + &read("chain.pem") {
        return false;
    }
    let out = lab.certctl(["verify", name]).output().unwrap();
    out.status.code() != Some(2)
}

/// The serial of the live certificate, as `openssl x509 -serial` prints it.
fn live_serial(lab: &Lab, name: &str) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(lab.live(name).join("cert.pem"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// nginx serves exactly the live leaf for `name`.
fn served_is_live(lab: &Lab, name: &str) -> bool {
    let live = fs::read_to_string(lab.live(name).join("cert.pem")).unwrap_or_default();
    crate::common::eventually(|| {
        let served = lab.served_leaf(name, None);
        (served.trim() == live.trim()).then_some(())
    });
    true
}

/// After a fault and the healing run: the live set is whole, nginx serves it, the live version
/// was deployed, and no version was deployed twice.
fn judge(lab: &Lab, name: &str, row: &mut Row) {
    if !lab.live(name).exists() {
        row.lost += 1;
        return;
    }
    if !live_set_intact(lab, name) {
        row.torn += 1;
    }
    served_is_live(lab, name);
    let counts = deploys(lab);
    let key = format!("{name} {}", live_serial(lab, name));
    if counts.get(&key).copied().unwrap_or(0) == 0 {
        row.lost += 1;
    }
    row.duplicate_deploys += counts.values().filter(|&&n| n > 1).count() as u32;
}

fn with_failpoint(mut cmd: Command, step: &str) -> Command {
    cmd.env("CERTCTL_FAILPOINT", step);
    cmd
}

/// Points the site at copies of the live files, so nginx goes on serving the old certificate.
fn serve_copies(lab: &Lab, name: &str, site_file: &Path) {
    let copies = lab.dir.path().join("copies");
    fs::create_dir_all(&copies).unwrap();
    let live = lab.live(name);
    for f in ["fullchain.pem", "privkey.pem"] {
        fs::copy(live.join(f), copies.join(f)).unwrap();
    }
    let text = fs::read_to_string(site_file)
        .unwrap()
        .replace(&live.display().to_string(), &copies.display().to_string());
    fs::write(site_file, text).unwrap();
}

/// `issue NAME --nginx --root <site>` on the lab's managed nginx, with the counting hook.
fn issue_command(lab: &Lab, name: &str) -> Command {
    let site = lab.site_dir();
    let flags = lab.nginx_flags();
    let hook = hook(lab);
    let mut args: Vec<&str> = vec!["--nginx", "--root", site.to_str().unwrap()];
    args.extend(flags.iter().map(String::as_str));
    args.extend(["--deploy-hook", &hook]);
    lab.issue_command(&[name], &args)
}

#[test]
fn killed_at_every_step_nothing_is_lost_or_torn() {
    let mut table = Vec::new();
    for &step in certctl::failpoint::STEPS {
        let mut row = Row::default();
        for _ in 0..trials() {
            row.trials += 1;
            let lab = Lab::managed_nginx();
            let name = "fault.test";
            let first = run_bounded(issue_command(&lab, name), &mut row).unwrap();
            assert_ok(&first);
            // A rollback happens only when nginx serves the wrong certificate: make it so.
            let rollback = step == "renew.after_rollback";
            let site_file = lab
                .nginx_prefix
                .join(format!("sites-available/certctl-{name}.conf"));
            let original = fs::read_to_string(&site_file).unwrap();
            if rollback {
                serve_copies(&lab, name, &site_file);
            }
            // The fault: a re-issue (issue.* and store.* steps) or a forced renewal, killed.
            let faulty = match step.starts_with("renew.") {
                true => with_failpoint(lab.certctl(["renew", "--force"]), step),
                false => with_failpoint(issue_command(&lab, name), step),
            };
            if let Some(out) = run_bounded(faulty, &mut row) {
                assert!(
                    stderr(&out).contains("failpoint"),
                    "{step}: the failpoint did not fire: {}",
                    stderr(&out)
                );
            }
            if rollback {
                fs::write(&site_file, &original).unwrap();
                lab.reload_nginx();
            }
            if !live_set_intact(&lab, name) {
                row.torn += 1;
            }
            // The healing run: an ordinary renew.
            if let Some(out) = run_bounded(lab.certctl(["renew"]), &mut row) {
                assert_ok(&out);
            }
            judge(&lab, name, &mut row);
        }
        row.print(&format!("SIGKILL at {step}"));
        table.push((step, row));
    }
    for (step, row) in &table {
        assert_eq!(
            (row.torn, row.lost, row.duplicate_deploys, row.hangs),
            (0, 0, 0, 0),
            "{step}: {row:?}"
        );
    }
}

#[test]
fn concurrent_renewals_deploy_each_version_once() {
    let mut row = Row::default();
    for _ in 0..trials() {
        row.trials += 1;
        let lab = Lab::managed_nginx();
        let names = ["c1.test", "c2.test", "c3.test", "c4.test"];
        for name in names {
            assert_ok(&run_bounded(issue_command(&lab, name), &mut row).unwrap());
        }
        // Three runs at once, the timer and two humans; `--days` makes every certificate due.
        let started = Instant::now();
        let runs: Vec<_> = (0..3)
            .map(|_| {
                lab.certctl(["renew", "--days", "3650"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // Each run's output is read as it comes (one thread each): a run blocked writing to a
        // full pipe while it holds a lock would stall the others until their lock wait ends.
        let outs: Vec<Output> = runs
            .into_iter()
            .map(|run| std::thread::spawn(move || run.wait_with_output().unwrap()))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        row.longest = row.longest.max(started.elapsed());
        for out in &outs {
            assert_ok(out);
        }
        let before = (row.torn, row.lost, row.duplicate_deploys);
        for name in names {
            judge(&lab, name, &mut row);
        }
        if (row.torn, row.lost, row.duplicate_deploys) != before {
            // What a failure needs explained: each run's account of itself, and the deploys.
            for out in &outs {
                eprintln!("--- a run:\n{}{}", stdout(out), stderr(out));
            }
            eprintln!("--- deploys:\n{:?}", deploys(&lab));
        }
    }
    row.print("three concurrent renews, 4 due certificates");
    assert_eq!(
        (row.torn, row.lost, row.duplicate_deploys, row.hangs),
        (0, 0, 0, 0),
        "{row:?}"
    );
}

#[test]
fn nginx_failing_for_another_site_rolls_nothing_back() {
    let lab = Lab::managed_nginx();
    let name = "mine.test";
    assert_ok(&issue_command(&lab, name).output().unwrap());
    let before = fs::read_link(lab.live(name)).unwrap();

    // Someone else's site breaks `nginx -t`.
    let broken = lab.nginx_prefix.join("sites-enabled/zz-broken.conf");
    fs::write(&broken, "server { listen 8; bogus_directive on; }\n").unwrap();
    let out = lab.certctl(["renew", "--force"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("other than the new certificate") && err.contains("bogus_directive"),
        "{err}"
    );
    let after = fs::read_link(lab.live(name)).unwrap();
    assert_ne!(after, before, "the new certificate stays live");

    // Once the other site is fixed, the next run deploys the installed version, once.
    fs::remove_file(&broken).unwrap();
    assert_ok(&lab.certctl(["renew"]).output().unwrap());
    assert_eq!(
        fs::read_link(lab.live(name)).unwrap(),
        after,
        "no new order"
    );
    let mut row = Row {
        trials: 1,
        ..Row::default()
    };
    judge(&lab, name, &mut row);
    row.print("nginx -t failing for another site");
    assert_eq!((row.torn, row.lost, row.duplicate_deploys), (0, 0, 0));
}

/// nginx cannot be reloaded (its reload command fails, as when nginx is down): the renewed
/// certificate stays live, nothing is rolled back, the run says why and fails; once reloads work
/// again the next run deploys that version, once, without ordering again.
#[test]
fn a_failing_reload_rolls_nothing_back_and_the_next_run_deploys_once() {
    let lab = Lab::managed_nginx();
    let name = "reload.test";
    let broken = lab.dir.path().join("reload-is-broken");
    let p = &lab.nginx_prefix;
    let reload = format!(
        "test ! -e {} && nginx -p {} -c {} -s reload",
        broken.display(),
        p.display(),
        p.join("nginx.conf").display()
    );
    let mut issue = issue_command(&lab, name);
    issue.args(["--reload-cmd", &reload]);
    assert_ok(&issue.output().unwrap());
    let before = fs::read_link(lab.live(name)).unwrap();

    let mut row = Row {
        trials: 1,
        ..Row::default()
    };
    fs::write(&broken, "").unwrap();
    let out = run_bounded(lab.certctl(["renew", "--force"]), &mut row).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing was rolled back"),
        "{}",
        stderr(&out)
    );
    let after = fs::read_link(lab.live(name)).unwrap();
    assert_ne!(after, before, "the new certificate stays live");

    fs::remove_file(&broken).unwrap();
    let out = run_bounded(lab.certctl(["renew"]), &mut row).unwrap();
    assert_ok(&out);
    assert_eq!(
        fs::read_link(lab.live(name)).unwrap(),
        after,
        "no new order"
    );
    judge(&lab, name, &mut row);
    row.print("nginx reload failing, then working again");
    assert_eq!(
        (row.torn, row.lost, row.duplicate_deploys, row.hangs),
        (0, 0, 0, 0),
        "{row:?}"
    );
}

/// pebble's defaults (5% of nonces rejected, half the authorizations reused) over many
/// issuances: every one succeeds and is whole.
#[test]
fn many_issuances_against_pebbles_defaults_all_succeed() {
    let lab = Lab::start();
    let mut row = Row::default();
    for i in 0..20 * trials() {
        let name = format!("many{i}.test");
        row.trials += 1;
        let port = lab.http_port.to_string();
        let www = format!("www.{name}");
        let cmd = lab.issue_command(&[&name, &www], &["--standalone", "--http-port", &port]);
        match run_bounded(cmd, &mut row) {
            Some(out) if out.status.success() && !live_set_intact(&lab, &name) => row.torn += 1,
            Some(out) if !out.status.success() => {
                eprintln!("{name}: {}", stderr(&out));
                row.lost += 1;
            }
            _ => {}
        }
    }
    row.print("issuances against pebble's defaults (5% badNonce, 50% authz reuse)");
    assert_eq!((row.torn, row.lost, row.hangs), (0, 0, 0), "{row:?}");
}

#[test]
fn dry_runs_of_several_certificates_without_a_stored_account_do_not_hang() {
    let lab = Lab::start();
    for name in ["d1.test", "d2.test", "d3.test"] {
        assert_ok(&lab.issue_standalone(&[name], &[]));
    }
    // A CA this state directory has no account for: every certificate wants to create it.
    let accounts = lab.state_dir.join("accounts");
    fs::remove_dir_all(&accounts).unwrap();
    let url = lab.directory_url();
    let mut row = Row::default();
    let out = run_bounded(
        lab.certctl(["renew", "--dry-run", "--server", &url, "--concurrency", "3"]),
        &mut row,
    );
    row.trials = 1;
    row.print("renew --dry-run of 3 certificates, no stored account");
    assert_eq!(row.hangs, 0, "renew --dry-run hung on the account lock");
    let out = out.unwrap();
    assert_ok(&out);
    let created = fs::read_dir(&accounts).map(|d| d.count()).unwrap_or(0);
    assert_eq!(created, 1, "one account for the CA, created once");
    assert!(!Path::new(&accounts).join("missing").exists());
}

/// The names in the live certificate, as openssl prints them.
fn live_names(lab: &Lab, name: &str) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(lab.live(name).join("cert.pem"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn the_record_matches_the_live_certificate_whenever_an_install_is_killed() {
    for step in ["store.before_swap", "store.after_swap"] {
        let lab = Lab::start();
        let name = "rec.test";
        assert_ok(&lab.issue_standalone(&[name], &[]));
        // A reissue that adds a name, killed just before or just after its version goes live.
        let port = lab.http_port.to_string();
        let reissue = lab.issue_command(
            &[name, "www.rec.test"],
            &["--standalone", "--http-port", &port],
        );
        let out = with_failpoint(reissue, step).output().unwrap();
        assert!(
            stderr(&out).contains("failpoint"),
            "{step}: {}",
            stderr(&out)
        );
        let live = live_names(&lab, name);
        // The next renewal orders what the live certificate holds, from the record.
        assert_ok(&lab.certctl(["renew", "--force"]).output().unwrap());
        Row {
            trials: 1,
            lost: u32::from(live_names(&lab, name) != live),
            torn: u32::from(!live_set_intact(&lab, name)),
            ..Row::default()
        }
        .print(&format!("record and version, killed at {step}"));
        assert_eq!(
            live_names(&lab, name),
            live,
            "{step}: the record matched the live certificate"
        );
    }
}

#[test]
fn a_corrupt_renewal_record_fails_that_certificate_alone_naming_the_file() {
    let lab = Lab::start();
    for name in ["bad.test", "good.test"] {
        assert_ok(&lab.issue_standalone(&[name], &[]));
    }
    let record = lab.state_dir.join("certs/bad.test/renewal.toml");
    fs::write(&record, "format = 1\nname = [\n").unwrap();
    let bad_live = fs::read_link(lab.live("bad.test")).unwrap();
    let good_live = fs::read_link(lab.live("good.test")).unwrap();

    let out = lab.certctl(["renew", "--force"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("bad.test") && err.contains(&record.display().to_string()),
        "{err}"
    );
    assert!(!err.contains("good.test"), "{err}");
    Row {
        trials: 1,
        lost: u32::from(fs::read_link(lab.live("bad.test")).unwrap() != bad_live),
        ..Row::default()
    }
    .print("a corrupt renewal record, 2 certificates");
    assert_eq!(fs::read_link(lab.live("bad.test")).unwrap(), bad_live);
    assert_ne!(
        fs::read_link(lab.live("good.test")).unwrap(),
        good_live,
        "the other certificate renewed"
    );
}

#[test]
fn the_daemon_and_the_timer_together_deploy_each_version_once() {
    let mut row = Row::default();
    for _ in 0..trials() {
        row.trials += 1;
        let lab = Lab::managed_nginx();
        let names = ["d1.test", "d2.test", "d3.test"];
        for name in names {
            assert_ok(&run_bounded(issue_command(&lab, name), &mut row).unwrap());
        }
        // The daemon renews every due certificate each second; `--days` makes all of them due.
        // (The counting hook is in each record, so it runs for the daemon's renewals too.)
        let mut daemon = lab
            .certctl(["daemon", "--cron", "* * * * * *", "--days", "3650"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Meanwhile the timer's runs, one after another.
        let started = Instant::now();
        for _ in 0..3 {
            if let Some(out) = run_bounded(lab.certctl(["renew", "--days", "3650"]), &mut row) {
                assert_ok(&out);
            }
        }
        row.longest = row.longest.max(started.elapsed());
        let stopped = Command::new("kill")
            .arg(daemon.id().to_string())
            .status()
            .unwrap();
        assert!(stopped.success());
        daemon.wait().unwrap();
        // Whatever a stopped daemon run left installed, an ordinary run deploys.
        assert_ok(&run_bounded(lab.certctl(["renew"]), &mut row).unwrap());
        for name in names {
            judge(&lab, name, &mut row);
        }
        // Every certificate was renewed at least once, by the daemon or a timer run (which of
        // them got each certificate depends on timing; that each version deployed once is the
        // point, judged above).
        let deployed = deploys(&lab);
        for name in names {
            let versions = deployed
                .keys()
                .filter(|k| k.starts_with(&format!("{name} ")))
                .count();
            assert!(versions >= 2, "{name}: issued, then renewed: {deployed:?}");
        }
    }
    row.print("the daemon and the timer, 3 due certificates");
    assert_eq!(
        (row.torn, row.lost, row.duplicate_deploys, row.hangs),
        (0, 0, 0, 0),
        "{row:?}"
    );
}

#[test]
fn a_full_disk_during_renew_leaves_the_live_set_and_says_why() {
    let lab = Lab::start();
    let name = "full.test";
    assert_ok(&lab.issue_standalone(&[name], &[]));
    // The state directory becomes a small tmpfs, filled up, in a mount namespace of its own
    // (nothing outside this test sees the mount). Everything is observed from inside it.
    let script = r#"
        set -u
        S="$1"; C="$2"; N="$3"; B="$(mktemp -d)"
        cp -a "$S/." "$B/" && mount -t tmpfs -o size=4m tmpfs "$S" && cp -a "$B/." "$S/" || exit 99
        before="$(readlink "$S/live/$N")"
        dd if=/dev/zero of="$S/fill" bs=4k >/dev/null 2>&1
        "$C" --state-dir "$S" renew --force 2>"$B/err"
        echo "renew=$?"
        echo "error=$(head -c 2000 "$B/err" | tr '\n' ' ')"
        [ "$(readlink "$S/live/$N")" = "$before" ] && echo live=kept
        "$C" --state-dir "$S" verify "$N" >/dev/null 2>&1; echo "verify=$?"
        rm -f "$S/fill"
        "$C" --state-dir "$S" renew --force >/dev/null 2>&1; echo "after=$?"
        [ "$(readlink "$S/live/$N")" != "$before" ] && echo live=renewed
        ls -a "$S/certs/$N/archive" | grep -c '^\.tmp' | sed 's/^/leftovers=/'
    "#;
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh"])
        .arg(&lab.state_dir)
        .arg(env!("CARGO_BIN_EXE_certctl"))
        .arg(name)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let has = |l: &str| lines.contains(&l);
    Row {
        trials: 1,
        torn: u32::from(!has("verify=0")),
        lost: u32::from(!has("live=kept")),
        ..Row::default()
    }
    .print("a full disk (tmpfs state directory) during renew");
    assert!(has("renew=1"), "{text}");
    assert!(text.contains("No space left on device"), "{text}");
    assert!(has("live=kept"), "{text}");
    assert!(has("verify=0"), "the live set is whole: {text}");
    // Space again: the next run renews, and left nothing half-written behind.
    assert!(has("after=0") && has("live=renewed"), "{text}");
    assert!(has("leftovers=0"), "{text}");
}

/// The pids of nginx's worker processes (a reload replaces them all).
fn nginx_workers(lab: &Lab) -> Vec<u32> {
    let master = fs::read_to_string(lab.nginx_prefix.join("nginx.pid")).unwrap();
    let master = master.trim();
    let mut workers: Vec<u32> = fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // /proc/PID/stat: "pid (comm) state ppid …"; comm is nginx's, without spaces.
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.split_whitespace().nth(3) == Some(master))
        })
        .collect();
    workers.sort_unstable();
    workers
}

#[test]
fn a_hook_that_completes_after_certctl_died_is_not_run_again_and_the_rest_run_once() {
    let lab = Lab::managed_nginx();
    let name = "once.test";
    let log = hook_log(&lab);
    let armed = lab.dir.path().join("armed");
    // The certificate's own hook: when armed, it kills the certctl that runs it (SIGKILL, its
    // nearest certctl ancestor) and then completes; either way it logs "A NAME SERIAL".
    let a = format!(
        r#"if [ -e {armed} ]; then rm {armed}; p=$PPID; while [ "$p" -gt 1 ] && [ "$(cat /proc/$p/comm)" != certctl ]; do p=$(cut -d' ' -f4 /proc/$p/stat); done; kill -9 "$p"; sleep 0.2; fi; echo "A $CERTCTL_NAME $(openssl x509 -noout -serial -in "$CERTCTL_CERT")" >> {log}"#,
        armed = armed.display(),
        log = log.display()
    );
    // A second hook, given to renew on the command line: it runs after the certificate's own.
    let b = format!(
        r#"echo "B $CERTCTL_NAME $(openssl x509 -noout -serial -in "$CERTCTL_CERT")" >> {}"#,
        log.display()
    );
    let site = lab.site_dir();
    let flags = lab.nginx_flags();
    let mut args: Vec<&str> = vec!["--nginx", "--root", site.to_str().unwrap()];
    args.extend(flags.iter().map(String::as_str));
    args.extend(["--deploy-hook", &a]);
    assert_ok(&lab.issue_command(&[name], &args).output().unwrap());

    // A renewal whose first hook kills certctl: the new version is live and served, hook A
    // finished after certctl died, hook B never ran.
    fs::write(&armed, "").unwrap();
    let out = lab
        .certctl(["renew", "--force", "--deploy-hook", &b])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "killed: {}", stderr(&out));
    let serial = live_serial(&lab, name);
    crate::common::eventually(|| {
        fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(&format!("A {name} {serial}"))
            .then_some(())
    });
    let workers = nginx_workers(&lab);

    // The next run finishes that deploy: B once, A not again, nginx not reloaded again (it was
    // already confirmed to serve this version).
    assert_ok(
        &lab.certctl(["renew", "--deploy-hook", &b])
            .output()
            .unwrap(),
    );
    assert_eq!(live_serial(&lab, name), serial, "no new order");
    let runs = fs::read_to_string(&log).unwrap();
    for hook in ["A", "B"] {
        let line = format!("{hook} {name} {serial}");
        assert_eq!(
            runs.lines().filter(|l| *l == line).count(),
            1,
            "hook {hook} ran once for the new version: {runs}"
        );
    }
    assert_eq!(nginx_workers(&lab), workers, "nginx was not reloaded again");
    // And a later run leaves the deployed version alone.
    assert_ok(&lab.certctl(["renew"]).output().unwrap());
    assert_eq!(fs::read_to_string(&log).unwrap(), runs);
}

#[test]
fn a_held_certificate_lock_is_waited_for_boundedly_and_sigterm_ends_the_wait() {
    let lab = Lab::start();
    let name = "lock.test";
    assert_ok(&lab.issue_standalone(&[name], &[]));
    let before = fs::read_link(lab.live(name)).unwrap();
    // Another certctl (this test) holds the certificate's lock.
    let lock = fs::File::open(lab.state_dir.join("certs").join(name).join(".lock")).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();

    // renew waits as long as --lock-wait says, then says who holds it up.
    let mut row = Row::default();
    let out = run_bounded(
        lab.certctl(["renew", "--force", "--lock-wait", "1"]),
        &mut row,
    )
    .expect("renew ends after its lock wait");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "another certctl has been working on {name} for over 1 s"
        )),
        "{}",
        stderr(&out)
    );

    // issue waits longer (120 s), and SIGTERM ends the wait with a clear message.
    let port = lab.http_port.to_string();
    let mut issue = lab
        .issue_command(&[name], &["--standalone", "--http-port", &port])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        issue.try_wait().unwrap().is_none(),
        "issue waits for the lock"
    );
    let term = Command::new("kill")
        .args(["-TERM", &issue.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let started = Instant::now();
    let out = loop {
        if issue.try_wait().unwrap().is_some() {
            break issue.wait_with_output().unwrap();
        }
        // A hang guard, not a timing: the wait would otherwise last 120 s.
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "SIGTERM did not end the lock wait"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("interrupted; the live certificate was not changed"),
        "{}",
        stderr(&out)
    );
    drop(lock);
    assert_eq!(fs::read_link(lab.live(name)).unwrap(), before);
    Row {
        trials: 1,
        lost: u32::from(fs::read_link(lab.live(name)).unwrap() != before),
        torn: u32::from(!live_set_intact(&lab, name)),
        hangs: row.hangs,
        longest: row.longest,
        ..Row::default()
    }
    .print("a held certificate lock (renew --lock-wait, issue and SIGTERM)");
}
