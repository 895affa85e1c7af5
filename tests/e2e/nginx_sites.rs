//! `issue --nginx` on sites written the way real servers have them (Debian's layout, a Django
//! site behind an upstream, uWSGI and PHP-FPM sites, one-line servers, several servers per file,
//! a server in nginx.conf, a snakeoil TLS server, certbot's layout), then the re-run and
//! `certctl nginx NAME --revert`. The lab's nginx is laid out as Debian's; the sites use
//! `listen PORT; listen [::]:PORT;` as Debian's use 80. Each layout is a test of its own on free
//! ports, and [`CORPUS`] runs them all again on the real ports 80 and 443 in a private network
//! namespace (`the_layouts_on_the_real_ports_80_and_443`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{
    Lab, LabOptions, assert_ok, eventually, http_get, http_get_at, https_get, https_get_at, stderr,
};

/// Every file and symlink nginx could load, byte for byte (logs, temp files and ACME tokens aside).
fn snapshot(prefix: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![prefix.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if dir == prefix && matches!(name.as_str(), "logs" | "tmp" | "acme" | "nginx.pid") {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).unwrap();
                out.insert(path, format!("-> {}", target.display()).into_bytes());
            } else if meta.is_dir() {
                dirs.push(path);
            } else {
                let bytes = fs::read(&path).unwrap();
                out.insert(path, bytes);
            }
        }
    }
    out
}

/// (status, body) of a plain HTTP GET.
fn plain(lab: &Lab, host: &str, path: &str) -> (u16, String) {
    let r = http_get(lab.http_port, host, path).unwrap();
    (r.status, r.body)
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// `issue NAMES --nginx` with the Debian lab's flags, plus `extra`.
fn issue(lab: &Lab, names: &[&str], extra: &[&str]) -> std::process::Output {
    let flags = lab.debian_nginx_flags();
    let mut args: Vec<&str> = vec!["--nginx"];
    args.extend(flags.iter().map(String::as_str));
    args.extend_from_slice(extra);
    lab.issue(names, &args)
}

/// `certctl nginx NAME` with the Debian lab's flags, plus `extra`.
fn nginx(lab: &Lab, name: &str, extra: &[&str]) -> std::process::Output {
    let flags = lab.debian_nginx_flags();
    let mut args: Vec<&str> = vec!["nginx", name];
    args.extend(flags.iter().map(String::as_str));
    args.extend_from_slice(extra);
    lab.certctl(&args).output().unwrap()
}

/// Waits until `check` holds five times in a row: nginx's old workers keep answering for a
/// moment after a reload.
fn steadily(mut check: impl FnMut() -> bool) {
    let mut in_a_row = 0;
    eventually(|| {
        in_a_row = if check() { in_a_row + 1 } else { 0 };
        (in_a_row == 5).then_some(())
    });
}

/// Reloads and waits until `host` answers `path` with a body containing `body` over plain HTTP.
fn reload_until(lab: &Lab, host: &str, path: &str, body: &str) {
    lab.reload_nginx();
    steadily(|| http_get(lab.http_port, host, path).is_ok_and(|r| r.body.contains(body)));
}

/// The whole cycle on a layout already written and loaded: what plain HTTP served for `probes`
/// is what HTTPS serves after `issue --nginx` (without --root), port 80 redirects every name
/// but the ACME path, HSTS, no TLS 1.0/1.1, a re-run changes nothing, and `--revert` brings
/// every file back byte for byte and plain HTTP serves as before.
fn full_cycle(lab: &Lab, names: &[&str], probes: &[(&str, &str)]) {
    let files_before = snapshot(&lab.nginx_prefix);
    let before: Vec<(u16, String)> = probes.iter().map(|(h, p)| plain(lab, h, p)).collect();

    let out = issue(lab, names, &[]);
    assert_ok(&out);
    let (root, _) = lab.pebble_roots();
    for ((host, path), (status, body)) in probes.iter().zip(&before) {
        let page = eventually(|| https_get(lab.https_port, host, path, &root).ok());
        assert_eq!(
            (page.status, &page.body),
            (*status, body),
            "https://{host}{path} serves what http:// served"
        );
        assert_eq!(
            page.header("strict-transport-security"),
            Some("max-age=63072000"),
            "{host}{path}"
        );
        assert_eq!(page.header_count("strict-transport-security"), 1);
    }
    let acme = lab.nginx_prefix.join("acme/.well-known/acme-challenge");
    fs::create_dir_all(&acme).unwrap();
    fs::write(acme.join("tok"), "tok.thumb").unwrap();
    for name in names {
        let r = eventually(|| {
            http_get(lab.http_port, name, "/a/b?c=1")
                .ok()
                .filter(|r| r.status == 301)
        });
        assert_eq!(
            r.header("location"),
            Some(https_url(lab, name, "/a/b?c=1").as_str())
        );
        assert_eq!(
            r.header("strict-transport-security"),
            None,
            "no HSTS on http"
        );
        assert_eq!(
            plain(lab, name, "/.well-known/acme-challenge/tok"),
            (200, "tok.thumb".to_owned()),
            "{name}: challenges are not redirected"
        );
        assert_refuses_old_tls(lab, name);
        assert_a_plus(lab, name);
    }

    // The re-run changes no file.
    let files_issued = snapshot(&lab.nginx_prefix);
    let again = nginx(lab, names[0], &[]);
    assert_ok(&again);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing to change"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert_ok(&issue(lab, names, &[]));
    assert_eq!(
        snapshot(&lab.nginx_prefix),
        files_issued,
        "a re-issue changes no file"
    );

    // --dry-run of the revert shows the diff, writes nothing; the revert restores every byte.
    let dry = nginx(lab, names[0], &["--revert", "--dry-run"]);
    assert_ok(&dry);
    assert!(
        String::from_utf8_lossy(&dry.stdout).contains("-    # >>> added by certctl")
            || String::from_utf8_lossy(&dry.stdout).contains("certctl-managed"),
        "{}",
        String::from_utf8_lossy(&dry.stdout)
    );
    assert_eq!(snapshot(&lab.nginx_prefix), files_issued);
    assert_ok(&nginx(lab, names[0], &["--revert"]));
    let mut after = snapshot(&lab.nginx_prefix);
    // The snippets directory certctl made stays, empty.
    after.retain(|p, _| !p.starts_with(lab.nginx_prefix.join("snippets/certctl")));
    assert_eq!(after, files_before, "--revert restores every file");
    for ((host, path), was) in probes.iter().zip(&before) {
        eventually(|| (plain(lab, host, path) == *was).then_some(()));
    }
    assert!(
        lab.live(names[0]).join("fullchain.pem").exists(),
        "the certificate stays"
    );
}

/// `https://HOST[:PORT]PATH`, the port only when it is not 443.
fn https_url(lab: &Lab, host: &str, path: &str) -> String {
    match lab.https_port {
        443 => format!("https://{host}{path}"),
        port => format!("https://{host}:{port}{path}"),
    }
}

/// `certctl audit` grades the HTTPS site of `host` A+: TLS 1.2 and 1.3 only, HSTS, port 80
/// redirecting.
fn assert_a_plus(lab: &Lab, host: &str) {
    let target = format!("127.0.0.1:{}", lab.https_port);
    let http_port = lab.http_port.to_string();
    let args = [
        "audit",
        &target,
        "--sni",
        host,
        "--ca-bundle",
        lab.ca_bundle.to_str().unwrap(),
        "--http-port",
        &http_port,
        "--json",
    ];
    // nginx's old workers answer for a moment after a reload: the grade settles.
    let mut last = serde_json::Value::Null;
    let settled = (0..20).find_map(|_| {
        let out = lab.certctl(args).output().unwrap();
        assert_ok(&out);
        last = serde_json::from_slice(&out.stdout).unwrap();
        if last["grade"] == "A+" {
            return Some(last.clone());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        None
    });
    let report = settled.unwrap_or_else(|| panic!("{host} is not graded A+: {last:#}"));
    for old in ["TLS 1.0", "TLS 1.1"] {
        let p = report["protocols"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["protocol"] == old);
        assert!(
            p.is_none_or(|p| p["supported"] == false),
            "{host} speaks {old}: {report:#}"
        );
    }
    assert!(
        report["http_redirect"]["Ok"]
            .as_str()
            .is_some_and(|r| r.starts_with("301")),
        "{host}: {report:#}"
    );
}

/// TLS 1.0 and 1.1 are refused even with Debian's http-level `ssl_protocols TLSv1 TLSv1.1 …`.
fn assert_refuses_old_tls(lab: &Lab, host: &str) {
    for flag in ["-tls1", "-tls1_1"] {
        let out = Command::new("openssl")
            .args([
                "s_client",
                flag,
                "-cipher",
                "DEFAULT@SECLEVEL=0",
                "-servername",
                host,
            ])
            .arg("-connect")
            .arg(format!("127.0.0.1:{}", lab.https_port))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{host} accepted {flag}");
    }
}

fn debian_site(lab: &Lab) {
    let p = &lab.nginx_prefix;
    let www = p.join("www-site");
    write(&www.join("index.html"), "site home\n");
    write(&www.join("about/index.html"), "about us\n");
    let available = p.join("sites-available/site.test");
    write(
        &available,
        &format!(
            "server {{\n\tlisten {port};\n\tlisten [::]:{port};\n\n\tserver_name site.test www.site.test;\n\n\troot {www};\n\tindex index.html;\n\tcharset utf-8;\n\n\tlocation / {{\n\t\ttry_files $uri $uri/ =404;\n\t}}\n\terror_page 404 /404.html;\n}}\n",
            port = lab.http_port,
            www = www.display()
        ),
    );
    std::os::unix::fs::symlink(
        "../sites-available/site.test",
        p.join("sites-enabled/site.test"),
    )
    .unwrap();
    reload_until(lab, "site.test", "/", "site home");
    full_cycle(
        lab,
        &["site.test", "www.site.test"],
        &[
            ("site.test", "/"),
            ("www.site.test", "/about/"),
            ("site.test", "/missing"),
        ],
    );
    // The symlink was left alone all along.
    assert_eq!(
        fs::read_link(p.join("sites-enabled/site.test")).unwrap(),
        Path::new("../sites-available/site.test")
    );
}

#[test]
fn debian_site_enabled_by_a_symlink_next_to_the_default_site() {
    debian_site(&Lab::debian_nginx());
}

fn django_site(lab: &Lab) {
    let p = &lab.nginx_prefix;
    let backend = crate::common::free_port();
    let static_dir = p.join("srv/static");
    let media_dir = p.join("srv/media");
    write(&static_dir.join("app.css"), "body{}\n");
    write(&media_dir.join("up.txt"), "uploaded\n");
    // The "gunicorn" is a server of the same nginx, answering with what it was sent.
    write(
        &p.join("conf.d/app.conf"),
        &format!(
            "upstream app_server {{\n    server 127.0.0.1:{backend} fail_timeout=0;\n}}\nserver {{\n    listen 127.0.0.1:{backend};\n    location / {{ return 200 \"app $request_uri host=$host\\n\"; }}\n}}\n"
        ),
    );
    write(
        &p.join("sites-available/django"),
        &format!(
            "server {{\n    listen {port};\n    server_name app.test;\n    client_max_body_size 20M;\n\n    location /static/ {{\n        alias {st}/;\n    }}\n    location /media/ {{\n        alias {md}/;\n        add_header Cache-Control \"public\";\n    }}\n    location / {{\n        proxy_set_header Host $host;\n        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n        proxy_set_header X-Forwarded-Proto $scheme;\n        proxy_redirect off;\n        proxy_pass http://app_server;\n    }}\n}}\n",
            port = lab.http_port,
            st = static_dir.display(),
            md = media_dir.display()
        ),
    );
    std::os::unix::fs::symlink(
        p.join("sites-available/django"),
        p.join("sites-enabled/django"),
    )
    .unwrap();
    reload_until(lab, "app.test", "/", "app /");
    full_cycle(
        lab,
        &["app.test"],
        &[
            ("app.test", "/"),
            ("app.test", "/accounts/login/?next=/"),
            ("app.test", "/static/app.css"),
            ("app.test", "/media/up.txt"),
        ],
    );
}

#[test]
fn django_site_behind_an_upstream_with_static_and_media_aliases() {
    django_site(&Lab::debian_nginx());
}

fn one_line_and_multi_line_servers(lab: &Lab) {
    let p = &lab.nginx_prefix;
    let file = p.join("sites-enabled/two");
    write(
        &file,
        &format!(
            "server {{ listen {port}; server_name one.test; location / {{ return 200 \"one\\n\"; }} }}\nserver {{\n    listen {port};\n    server_name\n        two.test\n        www.two.test;\n    location / {{ return 200 \"two $host\\n\"; }}\n}}\n",
            port = lab.http_port
        ),
    );
    reload_until(lab, "one.test", "/", "one");
    let before = fs::read_to_string(&file).unwrap();
    // Only the one-line server's name: the other server is left as it was.
    full_cycle(lab, &["one.test"], &[("one.test", "/")]);
    assert_eq!(fs::read_to_string(&file).unwrap(), before);
    full_cycle(
        lab,
        &["two.test", "www.two.test"],
        &[("two.test", "/"), ("www.two.test", "/x")],
    );
    assert_eq!(
        plain(lab, "one.test", "/").0,
        200,
        "one.test is not redirected"
    );
}

#[test]
fn one_line_server_and_multi_line_server_name_in_one_file_only_one_issued() {
    one_line_and_multi_line_servers(&Lab::debian_nginx());
}

fn user_and_default_server(lab: &Lab) {
    let p = &lab.nginx_prefix;
    write(
        &p.join("sites-enabled/mixed.conf"),
        &format!(
            "server {{\n    listen {port};\n    listen [::]:{port};\n    server_name mixed.test other.test;\n    location / {{ return 200 \"mixed $host\\n\"; }}\n}}\n",
            port = lab.http_port
        ),
    );
    reload_until(lab, "mixed.test", "/", "mixed");
    // www.mixed.test only reaches Debian's default server (its welcome page) today.
    full_cycle(
        lab,
        &["mixed.test", "www.mixed.test"],
        &[("mixed.test", "/"), ("www.mixed.test", "/")],
    );
    // other.test shares the user's server but is not issued: never redirected.
    assert_eq!(
        plain(lab, "other.test", "/"),
        (200, "mixed other.test\n".into())
    );
}

#[test]
fn a_name_of_the_users_server_and_one_only_the_default_server_answers() {
    user_and_default_server(&Lab::debian_nginx());
}

fn uwsgi_site(lab: &Lab) {
    let p = &lab.nginx_prefix;
    let backend = crate::common::backends::uwsgi();
    write(&p.join("srv/uw-static/site.css"), "p{}\n");
    // A Django project under uWSGI, as its documentation has the nginx side.
    write(
        &p.join("sites-available/uwsgi-app"),
        &format!(
            "upstream django_uwsgi {{\n    server 127.0.0.1:{backend};\n}}\n\nserver {{\n    listen {port};\n    listen [::]:{port};\n    server_name uw.test;\n    charset utf-8;\n    client_max_body_size 75M;\n\n    location /static {{\n        alias {st};\n    }}\n    location / {{\n        uwsgi_pass django_uwsgi;\n        include {p}/uwsgi_params;\n    }}\n}}\n",
            port = lab.http_port,
            st = p.join("srv/uw-static").display(),
            p = p.display()
        ),
    );
    std::os::unix::fs::symlink(
        "../sites-available/uwsgi-app",
        p.join("sites-enabled/uwsgi-app"),
    )
    .unwrap();
    reload_until(lab, "uw.test", "/", "uwsgi GET / host=uw.test");
    full_cycle(
        lab,
        &["uw.test"],
        &[
            ("uw.test", "/"),
            ("uw.test", "/admin/login/?next=/admin/"),
            ("uw.test", "/static/site.css"),
        ],
    );
}

#[test]
fn uwsgi_site_with_debians_uwsgi_params() {
    uwsgi_site(&Lab::debian_nginx());
}

fn php_fastcgi_site(lab: &Lab) {
    let p = &lab.nginx_prefix;
    let socket = lab.dir.path().join("php-fpm.sock");
    crate::common::backends::fastcgi(&socket);
    let www = p.join("srv/php");
    write(&www.join("index.php"), "<?php echo 'never run here';\n");
    write(&www.join("info.php"), "<?php phpinfo();\n");
    write(&www.join("robots.txt"), "User-agent: *\n");
    // Debian's PHP site: its default server's commented PHP block, enabled, with php-fpm.
    write(
        &p.join("conf.d/php.conf"),
        &format!(
            "server {{\n\tlisten {port};\n\tlisten [::]:{port};\n\troot {www};\n\tindex index.php index.html;\n\tserver_name php.test;\n\n\tlocation / {{\n\t\ttry_files $uri $uri/ =404;\n\t}}\n\n\t# pass PHP scripts to FastCGI server\n\tlocation ~ \\.php$ {{\n\t\tinclude {p}/snippets/fastcgi-php.conf;\n\t\tfastcgi_pass unix:{sock};\n\t}}\n}}\n",
            port = lab.http_port,
            www = www.display(),
            p = p.display(),
            sock = socket.display()
        ),
    );
    reload_until(lab, "php.test", "/", "fastcgi GET / host=php.test");
    full_cycle(
        lab,
        &["php.test"],
        &[
            ("php.test", "/"),
            ("php.test", "/info.php?x=1"),
            ("php.test", "/robots.txt"),
            ("php.test", "/missing.php"),
        ],
    );
}

#[test]
fn php_site_through_fastcgi_on_a_unix_socket() {
    php_fastcgi_site(&Lab::debian_nginx());
}

fn server_in_nginx_conf(lab: &Lab) {
    let p = &lab.nginx_prefix;
    let conf = p.join("nginx.conf");
    let text = fs::read_to_string(&conf).unwrap();
    let server = format!(
        "    gzip on;\n\n    server {{\n        listen {port};\n        listen [::]:{port};\n        server_name conf.test;\n        location / {{ return 200 \"in nginx.conf $uri\\n\"; }}\n    }}\n",
        port = lab.http_port
    );
    fs::write(&conf, text.replacen("    gzip on;\n", &server, 1)).unwrap();
    reload_until(lab, "conf.test", "/", "in nginx.conf /");
    full_cycle(
        lab,
        &["conf.test"],
        &[("conf.test", "/"), ("conf.test", "/x/y")],
    );
}

#[test]
fn server_written_directly_in_nginx_conf() {
    server_in_nginx_conf(&Lab::debian_nginx());
}

fn snakeoil_server(lab: &Lab) {
    let p = &lab.nginx_prefix;
    // A self-signed certificate, as Debian's ssl-cert package makes for snippets/snakeoil.conf.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["snake.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    write(&p.join("ssl/snakeoil.pem"), &cert.pem());
    write(&p.join("ssl/snakeoil.key"), &key.serialize_pem());
    write(
        &p.join("snippets/snakeoil.conf"),
        &format!(
            "ssl_certificate {}/ssl/snakeoil.pem;\nssl_certificate_key {}/ssl/snakeoil.key;\n",
            p.display(),
            p.display()
        ),
    );
    write(
        &p.join("sites-enabled/snake"),
        &format!(
            "server {{\n    listen {port};\n    server_name snake.test;\n    return 200 \"plain\\n\";\n}}\nserver {{\n    listen {tls} ssl;\n    server_name snake.test;\n    include {p}/snippets/snakeoil.conf;\n    return 200 \"snakeoil\\n\";\n}}\n",
            port = lab.http_port,
            tls = lab.https_port,
            p = p.display()
        ),
    );
    reload_until(lab, "snake.test", "/", "plain");
    let files = snapshot(p);
    let out = issue(lab, &["snake.test"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("sites-enabled/snake:6") && err.contains("--take-over"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(snapshot(p), files, "nothing changed");
    assert!(!lab.live("snake.test").exists(), "nothing issued");

    // --take-over: the same server now serves certctl's certificate, TLS settings and HSTS.
    assert_ok(&issue(lab, &["snake.test"], &["--take-over"]));
    let (root, _) = lab.pebble_roots();
    let page = eventually(|| https_get(lab.https_port, "snake.test", "/", &root).ok());
    assert_eq!((page.status, page.body.as_str()), (200, "snakeoil\n"));
    assert_eq!(
        page.header("strict-transport-security"),
        Some("max-age=63072000")
    );
    eventually(|| (plain(lab, "snake.test", "/x").0 == 301).then_some(()));
    assert_refuses_old_tls(lab, "snake.test");
    assert_a_plus(lab, "snake.test");
    let text = fs::read_to_string(p.join("sites-enabled/snake")).unwrap();
    assert!(text.contains("# certctl: include"), "{text}");
    // A re-run recognises the server it took over; the revert gives the snakeoil server back.
    let again = snapshot(p);
    assert_ok(&issue(lab, &["snake.test"], &[]));
    assert_eq!(snapshot(p), again);
    assert_ok(&nginx(lab, "snake.test", &["--revert"]));
    let mut after = snapshot(p);
    after.retain(|f, _| !f.starts_with(p.join("snippets/certctl")));
    assert_eq!(after, files);
}

#[test]
fn an_existing_snakeoil_tls_server_is_refused_naming_it_and_nothing_changes() {
    snakeoil_server(&Lab::debian_nginx());
}

#[test]
fn issue_dry_run_prints_the_diff_of_every_file_and_writes_nothing() {
    let lab = Lab::debian_nginx();
    let p = &lab.nginx_prefix;
    write(
        &p.join("sites-enabled/dry.conf"),
        &format!(
            "server {{ listen {port}; server_name dry.test; return 200 \"dry\\n\"; }}\n",
            port = lab.http_port
        ),
    );
    reload_until(&lab, "dry.test", "/", "dry");
    let files = snapshot(p);
    let out = issue(&lab, &["dry.test", "www.dry.test"], &["--dry-run"]);
    assert_ok(&out);
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(diff.contains("+server { # >>> added by certctl"), "{diff}");
    assert!(diff.contains("certctl-dry.test.conf"), "{diff}");
    assert!(diff.contains("+    server_name www.dry.test;"), "{diff}");
    assert_eq!(snapshot(p), files, "--dry-run writes nothing");
    assert!(!lab.live("dry.test").exists(), "nothing issued");
}

#[test]
fn two_certificates_for_names_of_one_server_each_keep_their_redirect() {
    let lab = Lab::debian_nginx();
    let p = &lab.nginx_prefix;
    let file = p.join("sites-available/shared");
    write(
        &file,
        &format!(
            "server {{\n    listen {port};\n    listen [::]:{port};\n    server_name a.test b.test c.test;\n    location / {{ return 200 \"shared $host\\n\"; }}\n}}\n",
            port = lab.http_port
        ),
    );
    std::os::unix::fs::symlink(&file, p.join("sites-enabled/shared")).unwrap();
    reload_until(&lab, "a.test", "/", "shared a.test");
    let files_before = snapshot(p);
    let acme = p.join("acme/.well-known/acme-challenge");
    let redirected = |host: &str| {
        http_get(lab.http_port, host, "/x").is_ok_and(|r| {
            r.status == 301
                && r.header("location")
                    == Some(format!("https://{host}:{}/x", lab.https_port).as_str())
        })
    };
    let plain_again = |host: &str| plain(&lab, host, "/") == (200, format!("shared {host}\n"));
    let (root, _) = lab.pebble_roots();

    assert_ok(&issue(&lab, &["a.test"], &[]));
    assert_ok(&issue(&lab, &["b.test"], &[]));
    fs::create_dir_all(&acme).unwrap();
    fs::write(acme.join("tok"), "tok.thumb").unwrap();
    for host in ["a.test", "b.test"] {
        steadily(|| redirected(host));
        assert_eq!(
            plain(&lab, host, "/.well-known/acme-challenge/tok"),
            (200, "tok.thumb".to_owned()),
            "{host}"
        );
        let page = eventually(|| https_get(lab.https_port, host, "/", &root).ok());
        assert_eq!(page.body, format!("shared {host}\n"));
    }
    assert!(
        plain_again("c.test"),
        "c.test is not issued: never redirected"
    );
    // Re-running either changes nothing.
    let issued = snapshot(p);
    assert_ok(&nginx(&lab, "a.test", &[]));
    assert_ok(&issue(&lab, &["b.test"], &[]));
    assert_eq!(snapshot(p), issued, "re-runs change no file");

    // Reverting one certificate leaves the other's name handled, and its own served as before.
    assert_ok(&nginx(&lab, "a.test", &["--revert"]));
    steadily(|| plain_again("a.test"));
    assert!(redirected("b.test"), "b.test keeps its redirect");
    assert_eq!(
        plain(&lab, "b.test", "/.well-known/acme-challenge/tok"),
        (200, "tok.thumb".to_owned())
    );
    assert_eq!(
        eventually(|| https_get(lab.https_port, "b.test", "/", &root).ok()).body,
        "shared b.test\n"
    );
    // And the last one gives every file back byte for byte.
    assert_ok(&nginx(&lab, "b.test", &["--revert"]));
    let mut after = snapshot(p);
    after.retain(|f, _| !f.starts_with(p.join("snippets/certctl")));
    assert_eq!(after, files_before, "--revert restores every file");
    steadily(|| plain_again("b.test"));
}

#[test]
fn certctls_servers_listen_as_the_users_do_and_hide_none_of_theirs() {
    let lab = Lab::debian_nginx();
    let p = &lab.nginx_prefix;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["tlsother.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    write(&p.join("ssl/other.pem"), &cert.pem());
    write(&p.join("ssl/other.key"), &key.serialize_pem());
    // A plain site and a TLS site of the user's for other names, on every address as Debian's.
    write(
        &p.join("sites-enabled/others"),
        &format!(
            "server {{\n    listen {port};\n    listen [::]:{port};\n    server_name other.test;\n    return 200 \"other\\n\";\n}}\nserver {{\n    listen {tls} ssl;\n    listen [::]:{tls} ssl;\n    server_name tlsother.test;\n    ssl_certificate {p}/ssl/other.pem;\n    ssl_certificate_key {p}/ssl/other.key;\n    return 200 \"tls other\\n\";\n}}\n",
            port = lab.http_port,
            tls = lab.https_port,
            p = p.display()
        ),
    );
    reload_until(&lab, "other.test", "/", "other");
    let site = lab.site_dir();
    fs::write(site.join("index.html"), "new site\n").unwrap();
    // No server answers new.test: certctl's own servers do. With --listen 127.0.0.1 taken as
    // written they would be alone on 127.0.0.1, and take other.test and tlsother.test there.
    let out = issue(
        &lab,
        &["new.test"],
        &["--root", site.to_str().unwrap(), "--listen", "127.0.0.1"],
    );
    assert_ok(&out);
    assert!(
        stderr(&out).contains(&format!(
            "--listen 127.0.0.1 is not used for port {}",
            lab.http_port
        )),
        "{}",
        stderr(&out)
    );
    let text = fs::read_to_string(p.join("sites-available/certctl-new.test.conf")).unwrap();
    for line in [
        format!("listen {} ssl", lab.https_port),
        format!("listen [::]:{} ssl", lab.https_port),
        format!("listen {};", lab.http_port),
        format!("listen [::]:{};", lab.http_port),
    ] {
        assert!(text.contains(&line), "{line}: {text}");
    }
    let v4 = |port| std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let v6 = |port| std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
    let (root, _) = lab.pebble_roots();
    for (http, https) in [
        (v4(lab.http_port), v4(lab.https_port)),
        (v6(lab.http_port), v6(lab.https_port)),
    ] {
        steadily(|| {
            http_get_at(http, "other.test", "/").is_ok_and(|r| r.body == "other\n")
                && http_get_at(http, "new.test", "/").is_ok_and(|r| r.status == 301)
        });
        let page = https_get_at(https, "tlsother.test", "/", &cert.pem()).unwrap();
        assert_eq!(page.body, "tls other\n", "{https}");
        let page = https_get_at(https, "new.test", "/", &root).unwrap();
        assert_eq!(page.body, "new site\n", "{https}");
    }
}

#[test]
fn a_port_80_server_that_already_redirects_is_not_copied_to_https() {
    let lab = Lab::debian_nginx();
    let p = &lab.nginx_prefix;
    write(
        &p.join("sites-enabled/redirect"),
        &format!(
            "server {{\n    listen {port};\n    listen [::]:{port};\n    server_name r.test;\n    return 301 https://$host$request_uri;\n}}\n",
            port = lab.http_port
        ),
    );
    lab.reload_nginx();
    steadily(|| plain(&lab, "r.test", "/").0 == 301);
    let files = snapshot(p);
    let out = issue(&lab, &["r.test"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("sites-enabled/redirect:1")
            && err.contains("redirect to https")
            && err.contains("--root DIR or --proxy-pass URL"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(snapshot(p), files, "nothing changed");
    assert!(!lab.live("r.test").exists(), "nothing issued");

    // Told what to serve: HTTPS serves it, port 80 keeps redirecting and serving challenges.
    let site = lab.site_dir();
    fs::write(site.join("index.html"), "the https site\n").unwrap();
    assert_ok(&issue(
        &lab,
        &["r.test"],
        &["--root", site.to_str().unwrap()],
    ));
    let (root, _) = lab.pebble_roots();
    let page = eventually(|| https_get(lab.https_port, "r.test", "/", &root).ok());
    assert_eq!((page.status, page.body.as_str()), (200, "the https site\n"));
    // certctl's redirect (to the HTTPS port) comes before the user's (to 443).
    steadily(|| {
        http_get(lab.http_port, "r.test", "/a?b").is_ok_and(|r| {
            r.status == 301
                && r.header("location")
                    == Some(format!("https://r.test:{}/a?b", lab.https_port).as_str())
        })
    });
    let acme = p.join("acme/.well-known/acme-challenge");
    fs::create_dir_all(&acme).unwrap();
    fs::write(acme.join("tok"), "tok.thumb").unwrap();
    assert_eq!(
        plain(&lab, "r.test", "/.well-known/acme-challenge/tok"),
        (200, "tok.thumb".to_owned())
    );
}

fn certbot_layout(lab: &Lab) {
    let p = &lab.nginx_prefix;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["cb.test".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    write(&p.join("ssl/cb.pem"), &cert.pem());
    write(&p.join("ssl/cb.key"), &key.serialize_pem());
    // What `certbot --nginx --redirect` leaves: the site on 443, a redirect server on 80.
    write(
        &p.join("sites-enabled/cb"),
        &format!(
            "server {{\n    server_name cb.test;\n    location / {{ return 200 \"cb site\\n\"; }}\n\n    listen {tls} ssl; # managed by Certbot\n    ssl_certificate {p}/ssl/cb.pem; # managed by Certbot\n    ssl_certificate_key {p}/ssl/cb.key; # managed by Certbot\n}}\nserver {{\n    if ($host = cb.test) {{\n        return 301 https://$host$request_uri;\n    }} # managed by Certbot\n\n    listen {port};\n    server_name cb.test;\n    return 404; # managed by Certbot\n}}\n",
            port = lab.http_port,
            tls = lab.https_port,
            p = p.display()
        ),
    );
    lab.reload_nginx();
    steadily(|| plain(lab, "cb.test", "/").0 == 301);
    let files = snapshot(p);
    let out = issue(lab, &["cb.test"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sites-enabled/cb:1") && stderr(&out).contains("--take-over"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot(p), files, "nothing changed");
    // --take-over: the 443 server serves its site with certctl's certificate; nothing copied.
    assert_ok(&issue(lab, &["cb.test"], &["--take-over"]));
    let (root, _) = lab.pebble_roots();
    let page = eventually(|| https_get(lab.https_port, "cb.test", "/", &root).ok());
    assert_eq!((page.status, page.body.as_str()), (200, "cb site\n"));
    assert_eq!(
        page.header("strict-transport-security"),
        Some("max-age=63072000")
    );
    let ours = p.join("sites-available/certctl-cb.test.conf");
    assert!(
        fs::read_to_string(&ours).map_or(true, |t| !t.contains("server_name cb.test")),
        "no second HTTPS server for cb.test"
    );
    assert_refuses_old_tls(lab, "cb.test");
    assert_a_plus(lab, "cb.test");
    assert_ok(&nginx(lab, "cb.test", &["--revert"]));
    let mut after = snapshot(p);
    after.retain(|f, _| !f.starts_with(p.join("snippets/certctl")));
    assert_eq!(after, files);
}

#[test]
fn certbots_layout_redirect_on_80_and_the_site_on_443_is_served_by_the_443_server() {
    certbot_layout(&Lab::debian_nginx());
}

#[test]
fn a_changed_port_80_server_is_copied_again_by_the_next_run_never_by_a_renewal() {
    let lab = Lab::debian_nginx();
    let p = &lab.nginx_prefix;
    let file = p.join("sites-available/fresh");
    let original = format!(
        "server {{\n    listen {port};\n    listen [::]:{port};\n    server_name f.test;\n    location / {{ return 200 \"version 1\\n\"; }}\n}}\n",
        port = lab.http_port
    );
    write(&file, &original);
    std::os::unix::fs::symlink("../sites-available/fresh", p.join("sites-enabled/fresh")).unwrap();
    reload_until(&lab, "f.test", "/", "version 1");
    assert_ok(&issue(&lab, &["f.test"], &[]));
    let (root, _) = lab.pebble_roots();
    let https =
        |body: &str| https_get(lab.https_port, "f.test", "/", &root).is_ok_and(|r| r.body == body);
    steadily(|| https("version 1\n"));

    // The user changes what their port-80 server serves.
    let edited = fs::read_to_string(&file)
        .unwrap()
        .replace("version 1", "version 2");
    fs::write(&file, &edited).unwrap();
    lab.reload_nginx();
    let ours = p.join("sites-available/certctl-f.test.conf");
    let copy = fs::read_to_string(&ours).unwrap();

    // A renewal renews and reloads; it rewrites no file, so HTTPS keeps the copy it had.
    let out = lab.certctl(["renew", "--force"]).output().unwrap();
    assert_ok(&out);
    assert_eq!(
        fs::read_to_string(&ours).unwrap(),
        copy,
        "renew rewrites nothing"
    );
    assert_eq!(fs::read_to_string(&file).unwrap(), edited);
    steadily(|| https("version 1\n"));

    // The next `certctl nginx` (or `issue --nginx`) copies it again and says so.
    let out = nginx(&lab, "f.test", &[]);
    assert_ok(&out);
    let err = stderr(&out);
    assert!(
        err.contains("https://f.test serves a new copy") && err.contains("sites-available/fresh:1"),
        "{err}"
    );
    steadily(|| https("version 2\n"));
    let again = nginx(&lab, "f.test", &[]);
    assert!(!stderr(&again).contains("new copy"), "{}", stderr(&again));

    // The user's file was edited after certctl changed it: --revert refuses, naming it, and
    // changes nothing; --force puts back the file as it was before certctl.
    let files = snapshot(p);
    let out = nginx(&lab, "f.test", &["--revert"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{} was edited after certctl changed it",
            file.display()
        )) && err.contains("--force"),
        "{err}"
    );
    assert_eq!(snapshot(p), files, "nothing changed");
    assert_ok(&nginx(&lab, "f.test", &["--revert", "--force"]));
    assert_eq!(fs::read_to_string(&file).unwrap(), original);
    assert!(!ours.exists());
}

/// A layout of the corpus: writes its site into the lab's nginx and takes it through issue,
/// re-run and revert.
type Layout = fn(&Lab);

/// The layouts that end in an HTTPS site, each graded A+ with TLS 1.0/1.1 refused.
const CORPUS: &[(&str, Layout)] = &[
    (
        "Debian's default site and a site enabled by a symlink",
        debian_site,
    ),
    ("a Django site behind an upstream", django_site),
    (
        "a one-line server and a multi-line server_name",
        one_line_and_multi_line_servers,
    ),
    (
        "a user's server and the default server",
        user_and_default_server,
    ),
    ("a uWSGI site", uwsgi_site),
    ("a PHP site through FastCGI", php_fastcgi_site),
    ("a server in nginx.conf", server_in_nginx_conf),
    ("a snakeoil TLS server, taken over", snakeoil_server),
    (
        "certbot's redirect and TLS servers, taken over",
        certbot_layout,
    ),
];

/// The corpus on the real ports 80 and 443, as users have them, in a private network namespace
/// with only loopback (see `common::netns`): pebble validates on port 80, the redirects carry no
/// port, and `certctl audit` grades each site A+.
#[test]
fn the_layouts_on_the_real_ports_80_and_443() {
    if !crate::common::netns::enter("nginx_sites::the_layouts_on_the_real_ports_80_and_443") {
        return;
    }
    for (what, layout) in CORPUS {
        eprintln!("nginx_sites: {what}, on ports 80 and 443");
        let lab = Lab::with(LabOptions {
            debian_nginx: true,
            real_ports: true,
            ..LabOptions::default()
        });
        assert_eq!((lab.http_port, lab.https_port), (80, 443));
        layout(&lab);
    }
}
