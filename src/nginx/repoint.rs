//! Pointing a user's nginx files at certctl's copy of a certificate that certbot kept in its
//! `live/NAME/*.pem`. Pure: file text in, file text out, every position from [`super::lex`].
//!
//! Only the path word of `ssl_certificate`, `ssl_certificate_key` and `ssl_trusted_certificate`
//! changes, in place (so one-line servers and directives spread over lines stay valid), and a
//! marked comment line above the directive says what it read before. Every other byte stays, so
//! the user sees exactly what moved and `certctl nginx NAME --revert` can put it back.

use std::path::{Path, PathBuf};

use super::lex::{self, Directive, SyntaxError};

/// The directives whose first argument names a certificate or key file.
const FILE_DIRECTIVES: [&str; 3] = [
    "ssl_certificate",
    "ssl_certificate_key",
    "ssl_trusted_certificate",
];

/// The files certbot keeps in each `live/NAME/`.
const LIVE_FILES: [&str; 4] = ["cert.pem", "chain.pem", "fullchain.pem", "privkey.pem"];

/// Start of the comment certctl puts above a repointed directive.
pub const MARK: &str = "# certctl: was ";

/// A directive that reads one of certbot's live files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The lineage (the NAME of `live/NAME/`).
    pub lineage: String,
    /// 1-based line of the directive in the file as it was.
    pub line: usize,
    /// The directive (`ssl_certificate`, …).
    pub directive: String,
    /// The path it read.
    pub path: String,
}

/// The result of [`repoint`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Repointed {
    /// The new text (the same text when nothing was repointed).
    pub text: String,
    /// Directives now reading certctl's files, with the new path.
    pub moved: Vec<(Found, PathBuf)>,
    /// Directives reading the files of a lineage certctl does not have: left as they are.
    pub kept: Vec<Found>,
    /// Directives whose path under certbot's `live/` uses a variable: nobody can tell which
    /// lineage they read, so they are left as they are.
    pub variable: Vec<Found>,
}

/// Points every certificate directive of `text` that reads `DIR/live/NAME/FILE` (DIR one of
/// `certbot_dirs`, FILE one of certbot's four) at `certctl(NAME, FILE)`; None leaves it. The
/// new paths must be plain words (no whitespace, quotes, `;`, `{`, `}`, `#` or `$`).
pub fn repoint(
    text: &str,
    certbot_dirs: &[PathBuf],
    certctl: &dyn Fn(&str, &str) -> Option<PathBuf>,
) -> Result<Repointed, SyntaxError> {
    let list = lex::parse(text)?;
    let mut directives = Vec::new();
    walk(&list, &mut directives);
    let mut out = Repointed::default();
    // (position, bytes replaced, replacement), applied from the end.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut words = Vec::new();
    word_ranges(&list, &mut words);
    for d in directives {
        let Some(word) = d.words.get(1) else { continue };
        let Some((lineage, file)) = certbot_dirs
            .iter()
            .find_map(|dir| live_file(Path::new(&word.value), dir))
        else {
            continue;
        };
        let found = Found {
            lineage: lineage.clone(),
            line: lex::line_of(text, d.start),
            directive: d.name().to_owned(),
            path: word.value.clone(),
        };
        if lineage.contains('$') {
            out.variable.push(found);
            continue;
        }
        let Some(new) = certctl(&lineage, &file) else {
            out.kept.push(found);
            continue;
        };
        edits.push((word.start, word.end - word.start, new.display().to_string()));
        let line_start = text[..d.start].rfind('\n').map_or(0, |i| i + 1);
        // A line that starts inside a quoted word (one holding a newline) takes no comment.
        if !words.iter().any(|&(s, e)| s < line_start && line_start < e) {
            let indent: String = text[line_start..]
                .chars()
                .take_while(|c| *c == ' ' || *c == '\t')
                .collect();
            edits.push((
                line_start,
                0,
                format!(
                    "{indent}{MARK}{} {} (certbot's; `certctl nginx {lineage} --revert` puts it back)\n",
                    d.name(),
                    &text[word.start..word.end]
                ),
            ));
        }
        out.moved.push((found, new));
    }
    // Descending by position; at one position the later directive's comment goes in first, so
    // the comments end up in file order.
    let mut edits: Vec<(usize, (usize, usize, String))> = edits.into_iter().enumerate().collect();
    edits.sort_by(|(i, a), (j, b)| (b.0, j).cmp(&(a.0, i)));
    let mut new = text.to_owned();
    for (_, (at, len, with)) in edits {
        new.replace_range(at..at + len, &with);
    }
    out.text = new;
    Ok(out)
}

/// `(NAME, FILE)` when `path` is `dir/live/NAME/FILE` with FILE one of certbot's live files.
fn live_file(path: &Path, dir: &Path) -> Option<(String, String)> {
    let rest = path.strip_prefix(dir.join("live")).ok()?;
    let mut parts = rest.iter();
    let name = parts.next()?.to_str()?.to_owned();
    let file = parts.next()?.to_str()?.to_owned();
    (parts.next().is_none() && LIVE_FILES.contains(&file.as_str())).then_some((name, file))
}

/// Every certificate directive, at any depth, in file order.
fn walk<'a>(list: &'a [Directive], out: &mut Vec<&'a Directive>) {
    for d in list {
        if FILE_DIRECTIVES.contains(&d.name()) && d.block.is_none() {
            out.push(d);
        }
        walk(d.children(), out);
    }
}

fn word_ranges(list: &[Directive], out: &mut Vec<(usize, usize)>) {
    for d in list {
        out.extend(d.words.iter().map(|w| (w.start, w.end)));
        word_ranges(d.children(), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERTBOT: &str = "/etc/letsencrypt";

    fn certctl(name: &str, file: &str) -> Option<PathBuf> {
        (name != "left.test").then(|| PathBuf::from(format!("/var/lib/certctl/live/{name}/{file}")))
    }

    fn run(text: &str) -> Repointed {
        repoint(text, &[PathBuf::from(CERTBOT)], &certctl).unwrap()
    }

    /// The text with certctl's comment lines taken out and its paths put back: the input.
    fn undo(text: &str) -> String {
        text.split_inclusive('\n')
            .filter(|l| !l.trim_start().starts_with(MARK))
            .collect::<String>()
            .replace("/var/lib/certctl/live/", "/etc/letsencrypt/live/")
    }

    #[test]
    fn repoints_the_server_certbot_wrote_and_marks_each_line() {
        let text = "server {\n    listen 443 ssl; # managed by Certbot\n    server_name a.test;\n    ssl_certificate /etc/letsencrypt/live/a.test/fullchain.pem; # managed by Certbot\n    ssl_certificate_key /etc/letsencrypt/live/a.test/privkey.pem; # managed by Certbot\n    ssl_trusted_certificate /etc/letsencrypt/live/a.test/chain.pem;\n    include /etc/letsencrypt/options-ssl-nginx.conf; # managed by Certbot\n}\n";
        let r = run(text);
        assert_eq!(
            r.text,
            "server {\n    listen 443 ssl; # managed by Certbot\n    server_name a.test;\n    # certctl: was ssl_certificate /etc/letsencrypt/live/a.test/fullchain.pem (certbot's; `certctl nginx a.test --revert` puts it back)\n    ssl_certificate /var/lib/certctl/live/a.test/fullchain.pem; # managed by Certbot\n    # certctl: was ssl_certificate_key /etc/letsencrypt/live/a.test/privkey.pem (certbot's; `certctl nginx a.test --revert` puts it back)\n    ssl_certificate_key /var/lib/certctl/live/a.test/privkey.pem; # managed by Certbot\n    # certctl: was ssl_trusted_certificate /etc/letsencrypt/live/a.test/chain.pem (certbot's; `certctl nginx a.test --revert` puts it back)\n    ssl_trusted_certificate /var/lib/certctl/live/a.test/chain.pem;\n    include /etc/letsencrypt/options-ssl-nginx.conf; # managed by Certbot\n}\n"
        );
        let lines: Vec<(usize, &str)> = r
            .moved
            .iter()
            .map(|(f, _)| (f.line, f.directive.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (4, "ssl_certificate"),
                (5, "ssl_certificate_key"),
                (6, "ssl_trusted_certificate")
            ]
        );
        assert_eq!(undo(&r.text), text);
        assert_eq!(run(&r.text).text, r.text, "a second run changes nothing");
    }

    #[test]
    fn one_line_servers_quoted_and_spread_directives_stay_valid() {
        let text = "http { server { listen 443 ssl; ssl_certificate /etc/letsencrypt/live/b.test/cert.pem; ssl_certificate_key \"/etc/letsencrypt/live/b.test/privkey.pem\"; } }\nserver {\n\tssl_certificate\n\t\t/etc/letsencrypt//live/c.test/fullchain.pem;\n}\n";
        let r = run(text);
        assert_eq!(r.moved.len(), 3, "{r:?}");
        let parsed = lex::parse(&r.text).expect("still nginx's language");
        let mut ds = Vec::new();
        walk(&parsed, &mut ds);
        let paths: Vec<String> = ds.iter().map(|d| d.words[1].value.clone()).collect();
        assert_eq!(
            paths,
            [
                "/var/lib/certctl/live/b.test/cert.pem",
                "/var/lib/certctl/live/b.test/privkey.pem",
                "/var/lib/certctl/live/c.test/fullchain.pem"
            ]
        );
        // The one-line server keeps its `}` on its line; a comment goes above it.
        assert!(r.text.starts_with("# certctl: was ssl_certificate /etc"));
        assert!(
            r.text
                .contains("\t# certctl: was ssl_certificate /etc/letsencrypt//live/c.test")
        );
    }

    #[test]
    fn leaves_other_lineages_variables_and_other_paths() {
        let text = "server {\n  ssl_certificate /etc/letsencrypt/live/left.test/fullchain.pem;\n  ssl_certificate_key /etc/letsencrypt/live/$ssl_server_name/privkey.pem;\n  ssl_certificate /etc/letsencrypt/archive/a.test/cert1.pem;\n  ssl_certificate /etc/letsencrypt/live/a.test/README;\n  ssl_dhparam /etc/letsencrypt/live/a.test/chain.pem;\n  # ssl_certificate /etc/letsencrypt/live/a.test/fullchain.pem;\n  ssl_certificate /etc/ssl/live/a.test/fullchain.pem;\n}\n";
        let r = run(text);
        assert_eq!(r.text, text);
        assert!(r.moved.is_empty());
        assert_eq!(r.kept.len(), 1);
        assert_eq!(r.kept[0].lineage, "left.test");
        assert_eq!(r.kept[0].line, 2);
        assert_eq!(r.variable.len(), 1);
        assert_eq!(r.variable[0].directive, "ssl_certificate_key");
    }

    #[test]
    fn any_spelling_of_the_config_dir_given_counts() {
        let text = "ssl_certificate /srv/le/live/a.test/fullchain.pem;\nssl_certificate /etc/letsencrypt/live/a.test/fullchain.pem;\n";
        let r = repoint(
            text,
            &[PathBuf::from("/srv/le/"), PathBuf::from("/etc/letsencrypt")],
            &certctl,
        )
        .unwrap();
        assert_eq!(r.moved.len(), 2);
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        for text in [
            "server {",
            "ssl_certificate \"/etc/letsencrypt/live/a/fullchain.pem",
            "}",
            "ssl_certificate",
            "\u{feff}ssl_certificate /etc/letsencrypt/live/é/fullchain.pem;",
        ] {
            let _ = repoint(text, &[PathBuf::from(CERTBOT)], &certctl);
        }
        assert!(repoint("server {", &[PathBuf::from(CERTBOT)], &certctl).is_err());
    }
}
