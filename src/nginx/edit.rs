//! Structural edits of a user's nginx file, and copies of what a user's server serves. Pure:
//! file text in, file text out, every position from [`super::lex`].
//!
//! certctl changes a user's port-80 server in one way only: a marked region just inside its `{`
//! (the ACME challenge include, then the redirect to HTTPS). Every other byte of the file stays
//! as it was, so a revert (or the user) can see exactly what certctl added. A user's TLS server
//! that certctl takes over gets the same kind of region, and its certificate lines commented
//! out in place.

use std::path::Path;

use super::lex::{self, Directive};

/// First line of certctl's region.
pub const BEGIN: &str = "    # >>> added by certctl (`certctl nginx NAME --revert` takes it out)\n";
/// First line of certctl's region in a block written on one line: it follows the `{`.
pub const BEGIN_INLINE: &str =
    " # >>> added by certctl (`certctl nginx NAME --revert` takes it out)\n";
/// Last line of certctl's region.
pub const END: &str = "    # <<< certctl\n";

/// The path ACME tokens live under; never redirected.
const ACME_PREFIX: &str = "^/\\.well-known/acme-challenge/";

/// How a user's port-80 server redirects.
#[derive(Clone, Copy, Debug)]
pub struct Redirect<'a> {
    /// `https://$host$request_uri` (with the port when not 443).
    pub target: &'a str,
    /// Only these hosts (the server answers others too); None: all of its names.
    pub hosts: Option<&'a [String]>,
    /// The server answers HTTPS too (a TLS server taken over): redirect plain HTTP only.
    pub http_only: bool,
}

/// The lines certctl puts in a user's port-80 server: the challenge location and, once the
/// certificate exists, the redirect to HTTPS. Challenges are never redirected: `^~` in the
/// snippet wins the location match, and the redirect skips their path before locations are
/// even looked at.
pub fn port80_lines(acme_snippet: &Path, redirect: Option<Redirect<'_>>) -> String {
    // `break` ends the server-level rewrite directives for challenges, so a server-level
    // `return` or `rewrite` of the user's further down cannot catch them (certbot does the same).
    let mut out = format!(
        "    include {};\n    rewrite \"^({}.*)$\" $1 break;\n",
        acme_snippet.display(),
        &ACME_PREFIX[1..]
    );
    let Some(r) = redirect else { return out };
    let target = r.target;
    if r.hosts.is_none() && !r.http_only {
        out.push_str(&format!(
            "    if ($uri !~ \"{ACME_PREFIX}\") {{ return 301 {target}; }}\n"
        ));
        return out;
    }
    // One `if` tests one variable: scheme, host and path go into one, tested by one regex.
    let scheme = if r.http_only { "http" } else { "[a-z]+" };
    let hosts = match r.hosts {
        Some(hosts) => {
            let alternatives: Vec<String> = hosts.iter().map(|h| host_regex(h)).collect();
            format!("({})", alternatives.join("|"))
        }
        None => "[^ ]+".to_owned(),
    };
    let not_acme = &ACME_PREFIX[1..];
    out.push_str(&format!(
        "    set $certctl_redirect \"$scheme $host $uri\";\n    if ($certctl_redirect ~* \"^{scheme} {hosts} (?!{not_acme})\") {{ return 301 {target}; }}\n"
    ));
    out
}

/// The lines certctl puts in a user's TLS server it takes over: its TLS snippet and HSTS.
///
/// A server for both schemes sends HSTS over HTTPS only: the header's value is a variable that
/// stays empty over plain HTTP, and nginx sends no header with an empty value.
pub fn tls_lines(
    certs: &[super::render::CertPaths],
    tls_snippet: &Path,
    hsts: Option<&str>,
    both_schemes: bool,
) -> String {
    let mut out = String::new();
    for cert in certs {
        out.push_str(&format!(
            "    ssl_certificate {};\n    ssl_certificate_key {};\n",
            cert.fullchain.display(),
            cert.privkey.display()
        ));
    }
    out.push_str(&format!("    include {};\n", tls_snippet.display()));
    match hsts {
        Some(value) if both_schemes => out.push_str(&format!(
            "    set $certctl_hsts \"\";\n    if ($scheme = https) {{ set $certctl_hsts \"{value}\"; }}\n    add_header Strict-Transport-Security $certctl_hsts always;\n"
        )),
        Some(value) => out.push_str(&format!(
            "    add_header Strict-Transport-Security \"{value}\" always;\n"
        )),
        None => {}
    }
    out
}

/// A server name as a case-insensitive regex alternative (`*.a.test` matches one label or more).
fn host_regex(host: &str) -> String {
    let (prefix, rest) = match host.strip_prefix("*.") {
        Some(rest) => ("[^.]+(\\.[^.]+)*\\.", rest),
        None => ("", host),
    };
    let escaped: String = rest
        .chars()
        .map(|c| match c {
            '.' => "\\.".to_owned(),
            c => c.to_string(),
        })
        .collect();
    format!("{prefix}{escaped}")
}

/// Byte range of certctl's region in the block whose `{` is at `open`, if it has one. The region
/// is whole lines on the line after the `{` when the rest of that line is blank; in a block written
/// on one line it starts just after the `{` with a comment that ends that line.
pub fn our_region(text: &str, open: usize) -> Option<(usize, usize)> {
    let at = open + 1;
    let rest = text.get(at..)?;
    let start = if rest.starts_with(BEGIN_INLINE) {
        at
    } else {
        let eol = rest.find('\n')?;
        let blank = rest[..eol]
            .bytes()
            .all(|b| b == b' ' || b == b'\t' || b == b'\r');
        if !(blank && rest[eol + 1..].starts_with(BEGIN)) {
            return None;
        }
        at + eol + 1
    };
    let end = start + text[start..].find(END)? + END.len();
    Some((start, end))
}

/// `text` with certctl's region of the block at `open` holding `lines`: inserted just inside the
/// `{`, or replacing what the region held. Nothing else changes.
pub fn set_region(text: &str, open: usize, lines: &str) -> String {
    let inner = format!("{BEGIN}{lines}{END}");
    if let Some((start, end)) = our_region(text, open) {
        let inner = match text[start..].starts_with(BEGIN_INLINE) {
            true => format!("{BEGIN_INLINE}{lines}{END}"),
            false => inner,
        };
        return format!("{}{inner}{}", &text[..start], &text[end..]);
    }
    let at = open + 1;
    let rest = &text[at..];
    match rest.find('\n') {
        Some(eol)
            if rest[..eol]
                .bytes()
                .all(|b| b == b' ' || b == b'\t' || b == b'\r') =>
        {
            let line = at + eol + 1;
            format!("{}{inner}{}", &text[..line], &text[line..])
        }
        _ => format!("{}{BEGIN_INLINE}{lines}{END}{}", &text[..at], &text[at..]),
    }
}

/// `text` without certctl's region in the block at `open`: byte for byte what it was before.
pub fn remove_region(text: &str, open: usize) -> String {
    match our_region(text, open) {
        None => text.to_owned(),
        Some((start, end)) => format!("{}{}", &text[..start], &text[end..]),
    }
}

/// What a user's server serves, as directive texts for certctl's HTTPS server: every directive
/// but those that say where and how it listens (`listen`, `server_name`, `ssl_*`, `http2`) and
/// certctl's own region. A location that sets its own `add_header` gets `hsts_line` too, since
/// it would not inherit the server's.
pub fn mirror(text: &str, server: &Directive, hsts_line: Option<&str>) -> Vec<String> {
    let region = server.block.as_ref().and_then(|b| our_region(text, b.open));
    server
        .children()
        .iter()
        .filter(|d| !region.is_some_and(|(s, e)| d.start >= s && d.end <= e))
        .filter(|d| {
            let name = d.name();
            !(matches!(name, "listen" | "server_name" | "http2") || name.starts_with("ssl_"))
        })
        .map(|d| with_hsts(text, d, hsts_line))
        .collect()
}

/// Whether a user's server sends its requests to https instead of serving them: a server-level
/// `return` or `rewrite` to an `https://` URL, also inside a server-level `if` (as certbot writes
/// its redirect servers) or in its `location /`. Copied to HTTPS, such a server would redirect
/// HTTPS to itself. certctl's own region does not count.
pub fn redirects_to_https(text: &str, server: &Directive) -> bool {
    let region = server.block.as_ref().and_then(|b| our_region(text, b.open));
    server
        .children()
        .iter()
        .filter(|d| !region.is_some_and(|(s, e)| d.start >= s && d.end <= e))
        .any(|d| match d.name() {
            "return" | "rewrite" => to_https(d),
            "if" => d.children().iter().any(to_https),
            "location" => {
                d.args().collect::<Vec<_>>() == ["/"]
                    && d.children().iter().any(|c| {
                        to_https(c) || (c.name() == "if" && c.children().iter().any(to_https))
                    })
            }
            _ => false,
        })
}

/// A `return` or `rewrite` whose target is an `https://` URL (nginx redirects to it).
fn to_https(d: &Directive) -> bool {
    let https = |url: &&str| {
        url.get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    };
    let args: Vec<&str> = d.args().collect();
    match (d.name(), args.as_slice()) {
        ("return", [code, url]) => {
            matches!(*code, "301" | "302" | "303" | "307" | "308") && https(url)
        }
        ("return", [url]) => https(url),
        ("rewrite", [_, url, ..]) => https(url),
        _ => false,
    }
}

/// The text of `d`, with `hsts_line` added just inside every block below it that has an
/// `add_header` of its own and no HSTS yet.
fn with_hsts(text: &str, d: &Directive, hsts_line: Option<&str>) -> String {
    let mut at = Vec::new();
    let Some(line) = hsts_line else {
        return text[d.start..d.end].to_owned();
    };
    blocks_needing_hsts(d, &mut at);
    let mut out = String::new();
    let mut from = d.start;
    for pos in at {
        out.push_str(&text[from..=pos]);
        out.push_str(&format!(
            " {line} # certctl: HSTS, since add_header here hides the server's\n"
        ));
        from = pos + 1;
    }
    out.push_str(&text[from..d.end]);
    out
}

fn blocks_needing_hsts(d: &Directive, out: &mut Vec<usize>) {
    let Some(block) = &d.block else { return };
    let headers: Vec<&Directive> = block
        .children
        .iter()
        .filter(|c| c.name() == "add_header")
        .collect();
    let has_hsts = headers.iter().any(|h| {
        h.args()
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case("strict-transport-security"))
    });
    if !headers.is_empty() && !has_hsts {
        out.push(block.open);
    }
    for child in &block.children {
        blocks_needing_hsts(child, out);
    }
}

/// Directives of a TLS server certctl takes over that would fight certctl's own: certificate
/// lines and TLS settings its snippet sets, and an HSTS header.
pub fn takes_over(d: &Directive) -> bool {
    matches!(
        d.name(),
        "ssl_certificate"
            | "ssl_certificate_key"
            | "ssl_protocols"
            | "ssl_ciphers"
            | "ssl_prefer_server_ciphers"
            | "ssl_session_cache"
            | "ssl_session_timeout"
            | "ssl_session_tickets"
            | "ssl_ecdh_curve"
            | "ssl_stapling"
            | "ssl_stapling_verify"
    ) || (d.name() == "add_header"
        && d.args()
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case("strict-transport-security")))
}

/// The mark certctl puts in front of each line of a directive it turns off.
pub const OFF: &str = "# certctl: ";

/// `text` with each directive starting at one of `starts` (and ending at the matching end)
/// commented out by [`OFF`] at the start of each of its lines: only insertions. When more
/// configuration follows a directive on its line (a one-line server's `… ssl_certificate x; }`),
/// a line break is inserted after it too, so the comment ends with the directive.
pub fn comment_out(text: &str, ranges: &[(usize, usize)]) -> String {
    let mut at: Vec<(usize, &str)> = Vec::new();
    for &(start, end) in ranges {
        at.push((start, OFF));
        at.extend(
            text[start..end]
                .match_indices('\n')
                .map(|(i, _)| (start + i + 1, OFF)),
        );
        let rest = text[end..]
            .split('\n')
            .next()
            .unwrap_or_default()
            .trim_start();
        if !rest.is_empty() && !rest.starts_with('#') {
            at.push((end, "\n"));
        }
    }
    at.sort_unstable();
    at.dedup();
    let mut out = String::with_capacity(text.len() + at.len() * OFF.len());
    let mut from = 0;
    for (pos, insert) in at {
        out.push_str(&text[from..pos]);
        out.push_str(insert);
        from = pos;
    }
    out.push_str(&text[from..]);
    out
}

/// The server blocks of a file, parsed, in file order.
pub fn servers(text: &str) -> Result<Vec<Directive>, lex::SyntaxError> {
    let list = lex::parse(text)?;
    let mut out = Vec::new();
    collect(&list, &mut out);
    Ok(out)
}

fn collect(list: &[Directive], out: &mut Vec<Directive>) {
    for d in list.iter().filter(|d| d.block.is_some()) {
        match d.name() {
            "server" => out.push(d.clone()),
            "stream" | "mail" => {}
            _ => collect(d.children(), out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNIPPET: &str = "/etc/nginx/snippets/certctl/acme-challenge.conf";

    fn lines(redirect: bool) -> String {
        port80_lines(
            Path::new(SNIPPET),
            redirect.then_some(Redirect {
                target: "https://$host$request_uri",
                hosts: None,
                http_only: false,
            }),
        )
    }

    #[test]
    fn inserts_just_inside_the_brace_and_changes_nothing_else() {
        for text in [
            "server {\n    listen 80;\n    server_name a.test;\n}\n",
            "server { listen 80; server_name a.test; }\n",
            "http {\n\tserver {   \n\t\tserver_name\n\t\t\ta.test\n\t\t\tb.test;\n\t}\n}",
            "server{listen 80;server_name a.test;}",
        ] {
            let list = servers(text).unwrap();
            let open = list[0].block.as_ref().unwrap().open;
            let edited = set_region(text, open, &lines(true));
            // The result parses, has the include and the redirect at server level, and removing
            // the region gives back the original byte for byte.
            let after = servers(&edited).unwrap_or_else(|e| panic!("{edited}\n{e}"));
            let names: Vec<&str> = after[0].children().iter().map(Directive::name).collect();
            assert_eq!(&names[..3], ["include", "rewrite", "if"], "{edited}");
            assert!(edited.starts_with(&text[..=open]));
            assert_eq!(remove_region(&edited, open), text, "{edited}");
            // Setting it again (the redirect after the challenge-only step) replaces the region.
            let first = set_region(text, open, &lines(false));
            assert_eq!(set_region(&first, open, &lines(true)), edited);
            assert_eq!(
                set_region(&edited, open, &lines(true)),
                edited,
                "idempotent"
            );
        }
    }

    #[test]
    fn redirects_only_the_named_hosts_and_only_plain_http_when_asked() {
        let hosts = vec!["a.test".to_owned(), "*.b.test".to_owned()];
        let text = port80_lines(
            Path::new(SNIPPET),
            Some(Redirect {
                target: "https://$host$request_uri",
                hosts: Some(&hosts),
                http_only: true,
            }),
        );
        assert!(
            text.contains(r#"if ($certctl_redirect ~* "^http (a\.test|[^.]+(\.[^.]+)*\.b\.test) (?!/\.well-known/acme-challenge/)") { return 301 https://$host$request_uri; }"#),
            "{text}"
        );
        assert!(lex::parse(&text).is_ok());
    }

    #[test]
    fn tells_a_server_that_only_redirects_to_https() {
        for (text, redirects) in [
            (
                "server { listen 80; return 301 https://$host$request_uri; }",
                true,
            ),
            ("server { return https://a.test$request_uri; }", true),
            (
                "server { rewrite ^ https://$host$request_uri permanent; }",
                true,
            ),
            // certbot's redirect server.
            (
                "server {\n    if ($host = a.test) {\n        return 301 https://$host$request_uri;\n    } # managed by Certbot\n    listen 80;\n    server_name a.test;\n    return 404; # managed by Certbot\n}",
                true,
            ),
            (
                "server { location / { return 308 HTTPS://a.test/; } }",
                true,
            ),
            ("server { location / { proxy_pass http://app; } }", false),
            (
                "server { location /old/ { return 301 https://b.test/; } root /srv; }",
                false,
            ),
            ("server { return 301 http://b.test$request_uri; }", false),
            ("server { return 200 \"https://x\"; }", false),
        ] {
            let list = servers(text).unwrap();
            assert_eq!(redirects_to_https(text, &list[0]), redirects, "{text}");
        }
        // certctl's own redirect (its region) is not the user's.
        let text = "server {\n    listen 80;\n    root /srv;\n}\n";
        let open = servers(text).unwrap()[0].block.as_ref().unwrap().open;
        let edited = set_region(text, open, &lines(true));
        assert!(!redirects_to_https(&edited, &servers(&edited).unwrap()[0]));
    }

    #[test]
    fn mirrors_what_the_server_serves_and_nothing_about_listening() {
        let text = "server {\n    listen 80;\n    listen [::]:80;\n    server_name a.test\n        www.a.test;\n    root /srv/a; # the root\n    client_max_body_size 20m;\n    location /static/ { alias /srv/static/; add_header Cache-Control public; }\n    location / {\n        proxy_pass http://app;\n        proxy_set_header Host $host;\n    }\n    ssl_certificate /x;\n}\n";
        let list = servers(text).unwrap();
        let got = mirror(
            text,
            &list[0],
            Some("add_header Strict-Transport-Security \"max-age=1\" always;"),
        );
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[0], "root /srv/a;");
        assert_eq!(got[1], "client_max_body_size 20m;");
        assert!(
            got[2].starts_with("location /static/ { add_header Strict-Transport-Security"),
            "{}",
            got[2]
        );
        assert!(got[2].ends_with("alias /srv/static/; add_header Cache-Control public; }"));
        assert_eq!(
            got[3],
            "location / {\n        proxy_pass http://app;\n        proxy_set_header Host $host;\n    }"
        );
        // certctl's own region is never copied.
        let open = list[0].block.as_ref().unwrap().open;
        let edited = set_region(text, open, &lines(true));
        let again = servers(&edited).unwrap();
        assert_eq!(mirror(&edited, &again[0], None).len(), 4);
    }

    #[test]
    fn turns_directives_off_by_inserting_comment_marks_only() {
        // The first server's directives a take-over turns off, turned off; and its directives
        // still in force after that.
        let take_over = |text: &str| {
            let ranges: Vec<(usize, usize)> = servers(text).unwrap()[0]
                .children()
                .iter()
                .filter(|d| takes_over(d))
                .map(|d| (d.start, d.end))
                .collect();
            comment_out(text, &ranges)
        };
        let names = |text: &str| -> Vec<String> {
            servers(text).unwrap()[0]
                .children()
                .iter()
                .map(|d| d.name().to_owned())
                .collect()
        };
        let text = "server {\n    listen 443 ssl;\n    ssl_certificate /a.pem;\n    ssl_ciphers\n        HIGH;\n    root /x;\n}\n";
        let out = take_over(text);
        assert_eq!(
            out,
            "server {\n    listen 443 ssl;\n    # certctl: ssl_certificate /a.pem;\n    # certctl: ssl_ciphers\n# certctl:         HIGH;\n    root /x;\n}\n"
        );
        assert_eq!(names(&out), ["listen", "root"]);
        assert_eq!(out.replace(OFF, ""), text);

        // A one-line server: the comment must not swallow the rest of the line.
        let one = "server { listen 443 ssl; ssl_certificate /a.pem; ssl_certificate_key /k.pem; root /x; }\n";
        let out = take_over(one);
        assert_eq!(names(&out), ["listen", "root"], "{out}");
        assert_eq!(
            out.replace(OFF, "")
                .replace('\n', " ")
                .split_whitespace()
                .collect::<Vec<_>>(),
            one.split_whitespace().collect::<Vec<_>>()
        );
    }

    #[test]
    fn finds_servers_but_not_upstream_or_stream_ones() {
        let text = "http { upstream app { server 127.0.0.1:8000; } server { listen 80; } }\nstream { server { listen 53; } }";
        assert_eq!(servers(text).unwrap().len(), 1);
    }
}
