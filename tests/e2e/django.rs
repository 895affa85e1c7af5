//! `certctl django check` against real Django: the fixture projects under tests/fixtures/django
//! are checked by certctl and by Django's own `manage.py check --deploy` (from the virtualenv
//! scripts/lab-deps.sh makes), and the security IDs must be the same.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::{Subprocess, assert_ok, loopback, mode, stderr};

const KEY: &str = "Zq3vN8mR2tW6yB1cE5gH9jK4lP7sU0xA3dF6hJ9kL2nQ5rT8vY1zC4eG7iM0oS3u";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/django")
}

/// The virtualenv's python (scripts/test.sh sets CERTCTL_DJANGO_PYTHON).
pub fn django_python() -> PathBuf {
    let python = std::env::var_os("CERTCTL_DJANGO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/django-venv/bin/python")
        });
    assert!(
        python.exists(),
        "{} missing: run `. scripts/lab-deps.sh && django_venv` (scripts/test.sh does)",
        python.display()
    );
    python
}

/// A command with no DJANGO_* or CERTCTL_* variables from the caller's environment.
fn clean(mut cmd: Command) -> Command {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("DJANGO_") || key.starts_with("CERTCTL_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("NO_COLOR", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null());
    cmd
}

fn certctl(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = clean(Command::new(env!("CARGO_BIN_EXE_certctl")));
    cmd.args(args).envs(env.iter().copied());
    cmd.output().unwrap()
}

fn env_file(path: &Path) -> Vec<(String, String)> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The security IDs `manage.py check --deploy` prints.
fn django_ids(project: &Path, module: &str, env: &[(String, String)]) -> BTreeSet<String> {
    let mut cmd = clean(Command::new(django_python()));
    cmd.current_dir(project)
        .args(["manage.py", "check", "--deploy"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("DJANGO_SETTINGS_MODULE", module);
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("System check identified"),
        "manage.py check --deploy did not run for {module}: {text}"
    );
    text.split(['(', ')'])
        .filter(|part| is_django_id(part))
        .map(str::to_owned)
        .collect()
}

/// Django's own IDs the parity table compares: the security checks and the HTTPS-related
/// compatibility check (4_0.E001) Django runs on every check.
fn is_django_id(id: &str) -> bool {
    id.starts_with("security.") || id.starts_with("4_0.")
}

fn certctl_report(
    project: &Path,
    module: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> serde_json::Value {
    let project = project.to_str().unwrap();
    let mut args = vec![
        "django",
        "check",
        "--json",
        "--project",
        project,
        "--settings",
        module,
    ];
    args.extend_from_slice(extra);
    let out = certctl(&args, env);
    assert_ok(&out);
    let report = serde_json::from_slice(&out.stdout).unwrap();
    crate::common::assert_schema("django-check", &report);
    report
}

fn ids(report: &serde_json::Value, prefix: &str) -> BTreeSet<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "unknown")
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .filter(|id| id.starts_with(prefix))
        .collect()
}

fn unknowns(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "unknown")
        .map(|f| f["message"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn certctl_finds_the_same_security_ids_as_manage_py_check_deploy() {
    let root = fixtures();
    let split = root.join("split");
    let cookiecutter = root.join("cookiecutter");
    let envs = cookiecutter.join(".envs/.production");
    // (project, module, env file, extra env, certctl's own IDs expected)
    type Case = (
        PathBuf,
        String,
        Option<PathBuf>,
        Vec<(&'static str, &'static str)>,
        Vec<&'static str>,
    );
    let mut cases: Vec<Case> = vec![
        (
            root.join("plain"),
            "plain.settings".into(),
            None,
            vec![],
            vec!["certctl.D009"],
        ),
        (
            cookiecutter.clone(),
            "config.settings.local".into(),
            None,
            vec![],
            vec!["certctl.D009"],
        ),
        (
            cookiecutter.clone(),
            "config.settings.production".into(),
            Some(envs.join(".django")),
            vec![],
            vec!["certctl.D008"],
        ),
        (
            cookiecutter.clone(),
            "config.settings.production".into(),
            Some(envs.join(".django-weak")),
            vec![],
            vec!["certctl.D008", "certctl.D009"],
        ),
        // cookiecutter's read-env switch on: .env adds DEBUG and turns the redirect off, but
        // never overrides the HSTS seconds the environment already has.
        (
            cookiecutter.clone(),
            "config.settings.production".into(),
            Some(envs.join(".django")),
            vec![("DJANGO_READ_DOT_ENV_FILE", "True")],
            vec!["certctl.D008"],
        ),
        (
            cookiecutter.clone(),
            "config.settings.local".into(),
            None,
            vec![("DJANGO_READ_DOT_ENV_FILE", "1"), ("DJANGO_DEBUG", "0")],
            vec!["certctl.D009"],
        ),
        // A list changed by a module imported later, try/except ImportError, `in os.environ`.
        (
            split.clone(),
            "shop.settings.tricky".into(),
            None,
            vec![("DJANGO_SECRET_KEY", KEY)],
            vec![],
        ),
        (
            split.clone(),
            "shop.settings.tricky".into(),
            None,
            vec![("DJANGO_SECRET_KEY", KEY), ("DJANGO_DEV", "")],
            vec![],
        ),
    ];
    for (module, own) in [
        ("secure", vec![]),
        ("debug_on", vec![]),
        ("weak_key", vec![]),
        ("no_security_mw", vec![]),
        ("insecure_cookies", vec!["certctl.D004"]),
        ("no_redirect", vec![]),
        ("redirect_loop", vec!["certctl.D001"]),
        ("hsts_off", vec![]),
        ("hsts_short", vec!["certctl.D008"]),
        ("hosts_star", vec!["certctl.D003", "certctl.D006"]),
        ("hosts_empty", vec![]),
    ] {
        cases.push((
            split.clone(),
            format!("shop.settings.{module}"),
            None,
            vec![("DJANGO_SECRET_KEY", KEY)],
            own,
        ));
    }
    // Django is slow to start: run its side for every case at once.
    let django: Vec<_> = cases
        .iter()
        .map(|(project, module, file, extra, _)| {
            let mut env: Vec<(String, String)> = file.as_deref().map(env_file).unwrap_or_default();
            env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            let (project, module) = (project.clone(), module.clone());
            std::thread::spawn(move || django_ids(&project, &module, &env))
        })
        .collect();
    let mut secure_seen = false;
    for ((project, module, file, extra, own), django) in cases.iter().zip(django) {
        let want = django.join().unwrap();
        let file_arg = file.as_ref().map(|f| f.to_str().unwrap().to_owned());
        let extra_args: Vec<&str> = match &file_arg {
            Some(f) => vec!["--env-file", f],
            None => vec![],
        };
        let report = certctl_report(project, module, &extra_args, extra);
        let got: BTreeSet<String> = ids(&report, "")
            .into_iter()
            .filter(|id| is_django_id(id))
            .collect();
        assert_eq!(got, want, "{module} ({file:?}, {extra:?})");
        let own: BTreeSet<String> = own.iter().map(|s| s.to_string()).collect();
        let mut got_own = ids(&report, "certctl.");
        got_own.remove("certctl.D007"); // depends on git; tested on its own below
        assert_eq!(got_own, own, "{module}: certctl's own findings");
        assert!(
            unknowns(&report).is_empty(),
            "{module}: {:?}",
            unknowns(&report)
        );
        secure_seen |= want.is_empty() && module.ends_with("secure");
        if module.ends_with("tricky") {
            // What the evaluator used to get wrong: the list change and the scheme-less origin.
            assert!(
                want.contains("security.W002") && want.contains("4_0.E001"),
                "{want:?}"
            );
            let dev = extra.iter().any(|(k, _)| *k == "DJANGO_DEV");
            assert_eq!(want.contains("security.W018"), dev, "{want:?}");
        }
    }
    assert!(secure_seen, "the secure fixture passes both");
}

#[test]
fn values_that_cannot_be_known_are_reported_with_their_source() {
    let report = certctl_report(&fixtures().join("split"), "shop.settings.secure", &[], &[]);
    let unknown = unknowns(&report);
    assert!(
        unknown
            .iter()
            .any(|m| m.contains("SECRET_KEY") && m.contains("DJANGO_SECRET_KEY is not set")),
        "{unknown:?}"
    );
    assert!(
        !ids(&report, "security.").contains("security.W009"),
        "not guessed"
    );
    // Django itself cannot even start without it.
    let mut cmd = clean(Command::new(django_python()));
    let out = cmd
        .current_dir(fixtures().join("split"))
        .args(["manage.py", "check", "--deploy"])
        .env("DJANGO_SETTINGS_MODULE", "shop.settings.secure")
        .output()
        .unwrap();
    assert!(!out.status.success() && stderr(&out).contains("DJANGO_SECRET_KEY"));
}

/// Copies a fixture project into a fresh directory.
fn copy_project(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("cp")
        .arg("-r")
        .arg(fixtures().join(name).join("."))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
}

#[test]
fn a_literal_secret_key_is_flagged_once_git_tracks_the_file() {
    let dir = copy_project("plain");
    let committed = |dir: &Path| {
        let report = certctl_report(dir, "plain.settings", &[], &[]);
        ids(&report, "certctl.").contains("certctl.D007")
    };
    git(dir.path(), &["init", "-q"]);
    assert!(!committed(dir.path()), "not tracked yet");
    git(dir.path(), &["add", "."]);
    assert!(committed(dir.path()), "tracked");
    let text = String::from_utf8(
        certctl(
            &["django", "check", "--project", dir.path().to_str().unwrap()],
            &[],
        )
        .stdout,
    )
    .unwrap();
    assert!(
        text.contains("plain/settings.py:6"),
        "the file and line: {text}"
    );
}

#[test]
fn strict_mode_and_bad_input() {
    let split = fixtures().join("split");
    let split = split.to_str().unwrap();
    let key = [("DJANGO_SECRET_KEY", KEY)];
    let strict = |module: &str| {
        certctl(
            &[
                "django",
                "check",
                "--strict",
                "--project",
                split,
                "--settings",
                module,
            ],
            &key,
        )
        .status
        .code()
    };
    assert_eq!(strict("shop.settings.secure"), Some(0));
    assert_eq!(strict("shop.settings.debug_on"), Some(1));

    // manage.py names the settings module when --settings is not given.
    let out = certctl(&["django", "check", "--project", split], &key);
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("shop.settings.secure"));

    let empty = tempfile::tempdir().unwrap();
    let out = certctl(
        &[
            "django",
            "check",
            "--project",
            empty.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no Django project found"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1);

    let broken = copy_project("plain");
    let settings = broken.path().join("plain/settings.py");
    let text = fs::read_to_string(&settings).unwrap();
    fs::write(&settings, text.replace("DEBUG = True", "DEBUG = (True")).unwrap();
    let out = certctl(
        &[
            "django",
            "check",
            "--project",
            broken.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("settings.py:") && err.contains("syntax error"),
        "{err}"
    );

    let out = certctl(
        &[
            "django",
            "check",
            "--project",
            split,
            "--env-file",
            "/nonexistent/.env",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/nonexistent/.env"),
        "{}",
        stderr(&out)
    );

    let out = certctl(
        &[
            "django",
            "check",
            "--project",
            split,
            "--settings",
            "shop.nope",
        ],
        &key,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("shop.nope"));
}

#[test]
fn secret_key_passes_djangos_own_check_and_lands_in_a_private_env_file() {
    let out = certctl(&["django", "secret-key"], &[]);
    assert_ok(&out);
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let other = String::from_utf8(certctl(&["django", "secret-key"], &[]).stdout).unwrap();
    assert_ne!(key, other.trim(), "random");
    let check = Command::new(django_python())
        .args([
            "-c",
            "import sys; from django.core.checks.security.base import _check_secret_key as c; sys.exit(0 if c(sys.argv[1]) else 1)",
            &key,
        ])
        .status()
        .unwrap();
    assert!(check.success(), "Django rejects {key:?}");

    // Inside a git work tree, only a git-ignored file is written.
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    let env = dir.path().join(".env");
    let env_arg = env.to_str().unwrap();
    fs::write(&env, "DEBUG=off\nDJANGO_SECRET_KEY=old\nOTHER=1\n").unwrap();
    let out = certctl(&["django", "secret-key", "--env-file", env_arg], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("git"), "{}", stderr(&out));
    assert!(
        fs::read_to_string(&env).unwrap().contains("=old"),
        "untouched"
    );

    fs::write(dir.path().join(".gitignore"), ".env\n").unwrap();
    let out = certctl(&["django", "secret-key", "--env-file", env_arg], &[]);
    assert_ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "the key is not printed"
    );
    let text = fs::read_to_string(&env).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], "DEBUG=off");
    assert!(lines[1].starts_with("DJANGO_SECRET_KEY='") && !text.contains("=old"));
    assert_eq!(mode(&env) & 0o777, 0o600);
}

/// gunicorn serving the split fixture with a settings module; stopped on drop.
struct Gunicorn {
    // Declared first: stopped before its directory goes.
    _process: Subprocess,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Gunicorn {
    fn start(module: &str) -> Self {
        let dir = copy_project("split");
        let port = crate::common::free_port();
        let mut cmd = clean(Command::new(django_python()));
        cmd.current_dir(dir.path())
            .args(["-m", "gunicorn", "--workers", "1", "--bind"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("shop.wsgi")
            .env("DJANGO_SETTINGS_MODULE", module)
            .env("DJANGO_SECRET_KEY", KEY)
            .env("DJANGO_ALLOWED_HOSTS", "live.test");
        let mut process = Subprocess::spawn("gunicorn", cmd, dir.path().join("gunicorn.log"));
        process.wait_for_port(loopback(port));
        Gunicorn {
            _process: process,
            port,
            _dir: dir,
        }
    }
}

/// The live check of `https://live.test:PORT/` with the project's settings `module` (None: no
/// project, the live site only), trusting pebble's root.
fn live_check(
    lab: &crate::common::Lab,
    https_port: u16,
    http_port: u16,
    module: Option<&str>,
) -> serde_json::Value {
    let split = fixtures().join("split");
    let url = format!("https://live.test:{https_port}/");
    let http = format!("http://live.test:{http_port}/");
    let root = lab.write_pebble_root();
    let mut args = vec![
        "django",
        "check",
        "--json",
        "--url",
        &url,
        "--connect",
        "127.0.0.1",
        "--http-url",
        &http,
        "--path",
        "/visit/",
        "--ca-bundle",
        root.to_str().unwrap(),
    ];
    if let Some(module) = module {
        args.extend(["--project", split.to_str().unwrap(), "--settings", module]);
    }
    let out = certctl(&args, &[("DJANGO_SECRET_KEY", KEY)]);
    assert_ok(&out);
    let report = serde_json::from_slice(&out.stdout).unwrap();
    crate::common::assert_schema("django-check", &report);
    report
}

fn live_ids(report: &serde_json::Value) -> BTreeSet<String> {
    report["live"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn live_check_of_django_under_gunicorn_behind_nginx_tls() {
    let lab = crate::common::Lab::managed_nginx();

    // Secure: certctl's own nginx site (redirect, HSTS, X-Forwarded-Proto) in front of the
    // secure settings.
    let secure = Gunicorn::start("shop.settings.secure");
    let upstream = format!("http://127.0.0.1:{}", secure.port);
    assert_ok(&lab.issue_nginx(&["live.test"], &["--proxy-pass", &upstream]));
    let report = crate::common::eventually(|| {
        let r = live_check(
            &lab,
            lab.https_port,
            lab.http_port,
            Some("shop.settings.secure"),
        );
        (r["live"]["https_chain"][0]["status"] == 200).then_some(r)
    });
    let live = &report["live"];
    assert!(live_ids(&report).is_empty(), "{live:#}");
    assert_eq!(live["http_chain"][0]["status"], 301);
    let to = live["http_chain"][0]["location"].as_str().unwrap();
    assert_eq!(to, format!("https://live.test:{}/", lab.https_port));
    let cookies: Vec<&str> = live["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        cookies.contains(&"sessionid") && cookies.contains(&"csrftoken"),
        "{cookies:?}"
    );
    assert!(
        live["cookies"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["secure"] == true)
    );
    assert_eq!(
        live["hsts"].as_array().unwrap().len(),
        1,
        "nginx owns HSTS: one header"
    );
    assert_eq!(live["tls_verified"], true);
    // The certificate is verified by default: without the lab's root the check refuses.
    let out = certctl(
        &[
            "django",
            "check",
            "--url",
            &format!("https://live.test:{}/", lab.https_port),
            "--connect",
            "127.0.0.1",
            "--http-port",
            &lab.http_port.to_string(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("live.test"), "{}", stderr(&out));

    // Insecure: a hand-written nginx that proxies plain HTTP too and sends no X-Forwarded-Proto,
    // in front of settings with insecure cookies and an http:// script.
    let insecure = Gunicorn::start("shop.settings.live_insecure");
    let (https, http) = (crate::common::free_port(), crate::common::free_port());
    let live_dir = lab.live("live.test");
    fs::write(
        lab.nginx_prefix.join("sites-enabled/insecure.conf"),
        format!(
            "server {{ listen 127.0.0.1:{http}; server_name live.test; location / {{ proxy_pass http://127.0.0.1:{up}; proxy_set_header Host $host; }} }}\n\
             server {{ listen 127.0.0.1:{https} ssl; server_name live.test; ssl_certificate {d}/fullchain.pem; ssl_certificate_key {d}/privkey.pem;\n\
             location / {{ proxy_pass http://127.0.0.1:{up}; proxy_set_header Host $host; }} }}\n",
            up = insecure.port,
            d = live_dir.display(),
        ),
    )
    .unwrap();
    lab.reload_nginx();
    let report = crate::common::eventually(|| {
        let r = live_check(&lab, https, http, Some("shop.settings.live_insecure"));
        (r["live"]["https_chain"][0]["status"] == 200).then_some(r)
    });
    let found = live_ids(&report);
    for id in [
        "live.L001",
        "live.L010",
        "live.L020",
        "live.L021",
        "live.L022",
        "live.L030",
        // No X-Forwarded-Proto and no SECURE_PROXY_SSL_HEADER: Django refuses its own forms.
        "live.L060",
    ] {
        assert!(found.contains(id), "{id} missing: {:#}", report["live"]);
    }
    // With the project, each live finding says which setting causes it and where it is set.
    let l020 = report["live"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "live.L060")
        .unwrap();
    assert_eq!(l020["setting"], "SECURE_PROXY_SSL_HEADER");
    assert!(
        l020["set_at"]
            .as_str()
            .is_some_and(|at| at.ends_with("live_insecure.py:5")),
        "{l020}"
    );
    // Without any project checkout the live site alone is checked, and finds the same.
    let alone = live_check(&lab, https, http, None);
    assert!(alone.get("findings").is_none(), "no static part");
    for id in ["live.L001", "live.L020", "live.L060"] {
        assert!(live_ids(&alone).contains(id), "{id}: {:#}", alone["live"]);
    }
    let mixed: Vec<&str> = report["live"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "live.L030")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        mixed
            .iter()
            .any(|m| m.contains("http://cdn.shop.test/app.js")),
        "{mixed:?}"
    );
    // The static side agrees: the same project's settings give Django's cookie warnings.
    assert!(ids(&report, "security.").contains("security.W012"));

    // DEBUG on behind a correct proxy, and a redirect loop: SSL redirect behind an nginx that
    // does not send X-Forwarded-Proto.
    let debug = Gunicorn::start("shop.settings.debug_on");
    let looping = Gunicorn::start("shop.settings.redirect_loop");
    let ports: Vec<(u16, u16)> = (0..2)
        .map(|_| (crate::common::free_port(), crate::common::free_port()))
        .collect();
    let mut conf = String::new();
    let forwarded = ["proxy_set_header X-Forwarded-Proto $scheme;", ""];
    for (((https, http), up), header) in ports.iter().zip([debug.port, looping.port]).zip(forwarded)
    {
        conf.push_str(&format!(
            "server {{ listen 127.0.0.1:{http}; server_name live.test; return 301 https://$host:{https}$request_uri; }}\n\
             server {{ listen 127.0.0.1:{https} ssl; server_name live.test; ssl_certificate {d}/fullchain.pem; ssl_certificate_key {d}/privkey.pem;\n\
             location / {{ proxy_pass http://127.0.0.1:{up}; proxy_set_header Host $http_host; {header} }} }}\n",
            d = live_dir.display(),
        ));
    }
    fs::write(lab.nginx_prefix.join("sites-enabled/more.conf"), conf).unwrap();
    lab.reload_nginx();
    let (https, http) = ports[0];
    let report = crate::common::eventually(|| {
        let r = live_check(&lab, https, http, None);
        live_ids(&r).contains("live.L050").then_some(r)
    });
    assert!(
        !live_ids(&report).contains("live.L003"),
        "{:#}",
        report["live"]
    );
    let (https, http) = ports[1];
    let report = crate::common::eventually(|| {
        let r = live_check(&lab, https, http, None);
        live_ids(&r).contains("live.L003").then_some(r)
    });
    let findings = report["live"]["findings"].as_array().unwrap();
    assert_eq!(
        findings.iter().filter(|f| f["id"] == "live.L003").count(),
        1,
        "the loop is reported once: {findings:#?}"
    );
    assert!(
        findings
            .iter()
            .all(|f| !["live.L010", "live.L020", "live.L051"].contains(&f["id"].as_str().unwrap())),
        "what the loop hides is not reported as causes: {findings:#?}"
    );
    assert!(report["live"]["https_chain"].as_array().unwrap().len() <= 6);
}

/// The static check knows the nginx sites certctl manages for the project (certificates whose
/// names ALLOWED_HOSTS allows) and holds SECURE_PROXY_SSL_HEADER to what their TLS servers
/// really send: certctl's own proxy site sends X-Forwarded-Proto; a user's site that it took
/// to HTTPS as it was sends only Host, so Django would trust a header nobody sets.
#[test]
fn the_proxy_header_agrees_with_the_nginx_sites_certctl_manages() {
    let lab = crate::common::Lab::managed_nginx();
    assert_ok(&lab.issue_nginx(&["app.test"], &["--proxy-pass", "http://127.0.0.1:9"]));
    fs::write(
        lab.nginx_prefix.join("sites-enabled/user.conf"),
        format!(
            "server {{\n    listen 127.0.0.1:{};\n    server_name user.test;\n    location / {{\n        proxy_pass http://127.0.0.1:9;\n        proxy_set_header Host $host;\n    }}\n}}\n",
            lab.http_port
        ),
    )
    .unwrap();
    lab.reload_nginx();
    assert_ok(&lab.issue_nginx(&["user.test"], &[]));

    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    fs::write(
        p.join("manage.py"),
        "import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site_.trusts')\n",
    )
    .unwrap();
    fs::create_dir(p.join("site_")).unwrap();
    fs::write(p.join("site_/__init__.py"), "").unwrap();
    let base = "DEBUG = False\nSECRET_KEY = 'x' * 60\n";
    fs::write(
        p.join("site_/trusts.py"),
        format!("{base}ALLOWED_HOSTS = ['app.test', 'user.test']\nSECURE_PROXY_SSL_HEADER = ('HTTP_X_FORWARDED_PROTO', 'https')\n"),
    )
    .unwrap();
    fs::write(
        p.join("site_/none.py"),
        format!("{base}ALLOWED_HOSTS = ['.app.test']\n"),
    )
    .unwrap();
    let check = |module: &str| {
        let out = lab
            .certctl([
                "django",
                "check",
                "--json",
                "--project",
                p.to_str().unwrap(),
                "--settings",
                module,
            ])
            .output()
            .unwrap();
        assert_ok(&out);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["setting"] == "SECURE_PROXY_SSL_HEADER")
            .map(|f| {
                (
                    f["id"].as_str().unwrap().to_owned(),
                    f["message"].as_str().unwrap().to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };
    // Django trusts X-Forwarded-Proto: certctl's site sends it, the user's does not.
    let found = check("site_.trusts");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "certctl.D012");
    assert!(
        found[0].1.contains("X-Forwarded-Proto") && found[0].1.contains("(site user.test)"),
        "{found:?}"
    );
    // Django trusts nothing, while nginx proxies app.test's HTTPS to it.
    let found = check("site_.none");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "certctl.D013");
    assert!(found[0].1.contains("app.test"), "{found:?}");
}
