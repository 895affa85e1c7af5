//! What a server passes to the application it proxies to: for each `proxy_pass`, the request
//! headers nginx sets toward the application. nginx takes `proxy_set_header` from the innermost
//! level that has any (the location, enclosing locations, the server, then `http`); a level with
//! none inherits them all. `include`s are read from the same `nginx -T` dump, so Debian's
//! `include proxy_params;` counts. Pure.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::dump::{self, ServerBlock};
use super::lex::{self, Directive};

/// One `proxy_pass` and what goes with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxying {
    /// The file of the `proxy_pass` directive.
    pub file: PathBuf,
    /// Its line.
    pub line: usize,
    /// Where it proxies to (`http://app`).
    pub target: String,
    /// The headers nginx sets toward the application (name as written, value), or why they
    /// cannot be known (an include that is not in the dump).
    pub headers: Result<Vec<(String, String)>, String>,
}

impl Proxying {
    /// The value nginx sends in header `name` (case-insensitive): Ok(None) when it sets none.
    pub fn header(&self, name: &str) -> Result<Option<&str>, &str> {
        match &self.headers {
            Ok(headers) => Ok(headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())),
            Err(why) => Err(why),
        }
    }
}

/// Every `proxy_pass` of `server` (a block of the same dump), in file order.
pub fn proxying(dump: &str, server: &ServerBlock) -> Vec<Proxying> {
    let files: Vec<(PathBuf, &str)> = dump::files(dump);
    let texts: HashMap<&Path, &str> = files.iter().map(|(p, t)| (p.as_path(), *t)).collect();
    let Some((main, _)) = files.first() else {
        return Vec::new();
    };
    let reader = Reader {
        texts: &texts,
        conf_dir: main.parent().unwrap_or(Path::new("/")).to_owned(),
    };
    // The http level: its own proxy_set_header lines (includes read), none of its servers'.
    let http = reader
        .parse(main)
        .and_then(|list| list.into_iter().find(|d| d.name() == "http"))
        .map(|http| reader.expand(main, http.children(), 0));
    let inherited = match http {
        Some(items) => own_headers(&reader, &items).unwrap_or(Ok(Vec::new())),
        None => Ok(Vec::new()),
    };
    let Some(list) = reader.parse(&server.file) else {
        return Vec::new();
    };
    let mut servers = Vec::new();
    lex::find_blocks(&list, "server", &mut servers);
    let Some(found) = servers
        .into_iter()
        .find(|d| d.block.as_ref().is_some_and(|b| b.open == server.open))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let items = reader.expand(&server.file, found.children(), 0);
    walk(&reader, &items, inherited, &mut out);
    out
}

/// A directive with the file it came from (includes bring in other files).
struct Item {
    file: PathBuf,
    directive: Directive,
}

struct Reader<'a> {
    texts: &'a HashMap<&'a Path, &'a str>,
    /// Where relative include paths start (the main configuration file's directory).
    conf_dir: PathBuf,
}

/// nginx's own limit on nested includes is far higher; a loop must end somewhere.
const MAX_INCLUDE_DEPTH: usize = 16;

impl Reader<'_> {
    fn parse(&self, file: &Path) -> Option<Vec<Directive>> {
        lex::parse(self.texts.get(file)?).ok()
    }

    /// The directives of one level with each `include` replaced by the directives of the
    /// files it names (in the dump's order, which is nginx's). An include not in the dump
    /// becomes an `include` item left in place, for [`own_headers`] to report.
    fn expand(&self, file: &Path, list: &[Directive], depth: usize) -> Vec<Item> {
        let mut out = Vec::new();
        for d in list {
            let pattern = d.args().next().filter(|_| d.name() == "include");
            let Some(pattern) = pattern.filter(|_| depth < MAX_INCLUDE_DEPTH) else {
                out.push(Item {
                    file: file.to_owned(),
                    directive: d.clone(),
                });
                continue;
            };
            let full = self.conf_dir.join(pattern);
            let mut matched: Vec<&Path> = self
                .texts
                .keys()
                .copied()
                .filter(|p| glob_match(&full.to_string_lossy(), &p.to_string_lossy()))
                .collect();
            matched.sort();
            if matched.is_empty() && !pattern.contains(['*', '?', '[']) {
                out.push(Item {
                    file: file.to_owned(),
                    directive: d.clone(),
                });
            }
            for path in matched {
                if let Some(list) = self.parse(path) {
                    out.extend(self.expand(path, &list, depth + 1));
                }
            }
        }
        out
    }
}

/// This level's own `proxy_set_header` lines: None when it has none (it inherits).
fn own_headers(
    reader: &Reader<'_>,
    items: &[Item],
) -> Option<Result<Vec<(String, String)>, String>> {
    let mut headers = Vec::new();
    for item in items {
        let d = &item.directive;
        match d.name() {
            "proxy_set_header" => {
                let mut args = d.args();
                if let (Some(name), Some(value)) = (args.next(), args.next()) {
                    headers.push((name.to_owned(), value.to_owned()));
                }
            }
            "include" => {
                let line = line_in(reader, &item.file, d.start);
                return Some(Err(format!(
                    "{}:{line} includes {}, which nginx -T did not show",
                    item.file.display(),
                    d.args().next().unwrap_or("")
                )));
            }
            _ => {}
        }
    }
    (!headers.is_empty()).then_some(Ok(headers))
}

fn walk(
    reader: &Reader<'_>,
    items: &[Item],
    inherited: Result<Vec<(String, String)>, String>,
    out: &mut Vec<Proxying>,
) {
    let effective = own_headers(reader, items).unwrap_or(inherited);
    for item in items {
        let d = &item.directive;
        match d.name() {
            "proxy_pass" => out.push(Proxying {
                file: item.file.clone(),
                line: line_in(reader, &item.file, d.start),
                target: d.args().next().unwrap_or("").to_owned(),
                headers: effective.clone(),
            }),
            "location" | "if" | "limit_except" if d.block.is_some() => {
                let inner = reader.expand(&item.file, d.children(), 0);
                walk(reader, &inner, effective.clone(), out);
            }
            _ => {}
        }
    }
}

fn line_in(reader: &Reader<'_>, file: &Path, at: usize) -> usize {
    reader.texts.get(file).map_or(0, |t| lex::line_of(t, at))
}

/// Shell-style matching as nginx's include uses it: `*` and `?` within one path (a `*` may not
/// cross a `/`), everything else literal.
fn glob_match(pattern: &str, path: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                go(&p[1..], s) || (s.first().is_some_and(|&c| c != b'/') && go(p, &s[1..]))
            }
            (Some(b'?'), Some(&c)) => c != b'/' && go(&p[1..], &s[1..]),
            (Some(a), Some(b)) => a == b && go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), path.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(files: &[(&str, &str)]) -> String {
        files
            .iter()
            .map(|(p, t)| format!("# configuration file {p}:\n{t}\n"))
            .collect()
    }

    fn headers(p: &Proxying) -> Vec<(&str, &str)> {
        p.headers
            .as_ref()
            .unwrap()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn the_innermost_level_with_headers_wins_and_includes_count() {
        let d = dump(&[
            (
                "/etc/nginx/nginx.conf",
                "http {\n    proxy_set_header X-From http;\n    include /etc/nginx/sites-enabled/*;\n}",
            ),
            (
                "/etc/nginx/sites-enabled/app",
                "server {\n    listen 443 ssl;\n    location / {\n        include proxy_params;\n        proxy_pass http://app;\n    }\n    location /bare/ { proxy_pass http://bare; }\n    location /api/ {\n        proxy_set_header Host $host;\n        location /api/v2/ { proxy_pass http://v2; }\n    }\n}",
            ),
            (
                "/etc/nginx/proxy_params",
                "proxy_set_header Host $http_host;\nproxy_set_header X-Forwarded-Proto $scheme;",
            ),
        ]);
        let server = &dump::server_blocks(&d)[0];
        let found = proxying(&d, server);
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].target, "http://app");
        assert_eq!(found[0].line, 5);
        assert_eq!(
            headers(&found[0]),
            [("Host", "$http_host"), ("X-Forwarded-Proto", "$scheme")]
        );
        assert_eq!(found[0].header("x-forwarded-proto"), Ok(Some("$scheme")));
        // No headers of its own or its server's: the http level's.
        assert_eq!(headers(&found[1]), [("X-From", "http")]);
        assert_eq!(found[1].header("X-Forwarded-Proto"), Ok(None));
        // Nested: the enclosing location's, which replace (not add to) the outer ones.
        assert_eq!(headers(&found[2]), [("Host", "$host")]);
    }

    #[test]
    fn an_include_nginx_did_not_show_makes_the_headers_unknown() {
        let d = dump(&[(
            "/etc/nginx/nginx.conf",
            "http {\n  server {\n    listen 443 ssl;\n    location / {\n      include /nowhere/params;\n      proxy_pass http://app;\n    }\n  }\n}",
        )]);
        let server = &dump::server_blocks(&d)[0];
        let found = proxying(&d, server);
        let why = found[0].header("X-Forwarded-Proto").unwrap_err();
        assert!(why.contains("/nowhere/params"), "{why}");
    }

    #[test]
    fn globs_stay_within_one_directory() {
        assert!(glob_match(
            "/etc/nginx/conf.d/*.conf",
            "/etc/nginx/conf.d/a.conf"
        ));
        assert!(!glob_match(
            "/etc/nginx/conf.d/*.conf",
            "/etc/nginx/conf.d/x/a.conf"
        ));
        assert!(glob_match("/a/?.conf", "/a/b.conf"));
        assert!(!glob_match("/a/b.conf", "/a/c.conf"));
    }
}
