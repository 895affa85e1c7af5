//! A tokenizer and tree builder for nginx's configuration language, following nginx's own
//! `ngx_conf_read_token`: words end at whitespace, `;` or `{` (never at `}`, so `${var}` and
//! `a}` are words), `#` starts a comment only where a word could start, `"…"`/`'…'` quote with
//! backslash escapes, and a backslash outside quotes takes the next character literally.
//!
//! Every directive and block carries byte offsets into the text it came from, so certctl can
//! insert text at a structural position (just inside a server block's `{`, say) and leave every
//! other byte of a user's file as it was. Pure: text in, tree out; never panics on any input.

/// One word of a directive: its value (quotes removed, escapes resolved as nginx does) and
/// where it sits in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// The value nginx sees.
    pub value: String,
    /// Byte offset of the word's first character (the opening quote of a quoted word).
    pub start: usize,
    /// Byte offset just past the word (past the closing quote).
    pub end: usize,
}

/// A simple directive (`listen 80;`) or a block directive (`server { … }`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive {
    /// The name and the arguments; `words[0]` is the name.
    pub words: Vec<Word>,
    /// Byte offset of the name.
    pub start: usize,
    /// Byte offset just past the terminating `;` or the block's closing `}`.
    pub end: usize,
    /// The block, for block directives.
    pub block: Option<Block>,
}

/// The `{ … }` of a block directive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Byte offset of `{`.
    pub open: usize,
    /// Byte offset of the matching `}`.
    pub close: usize,
    /// The directives inside.
    pub children: Vec<Directive>,
}

impl Directive {
    /// The directive's name.
    pub fn name(&self) -> &str {
        self.words.first().map_or("", |w| w.value.as_str())
    }

    /// The argument values (everything after the name).
    pub fn args(&self) -> impl Iterator<Item = &str> {
        self.words.iter().skip(1).map(|w| w.value.as_str())
    }

    /// The children of a block directive (none for a simple one).
    pub fn children(&self) -> &[Directive] {
        self.block.as_ref().map_or(&[], |b| b.children.as_slice())
    }
}

/// Text nginx would refuse, with the byte offset where it went wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at}")]
pub struct SyntaxError {
    /// What is wrong ("unexpected }", "unexpected end of file", …).
    pub what: &'static str,
    /// Where.
    pub at: usize,
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(Word),
    Semi(usize),
    Open(usize),
    Close(usize),
}

/// Splits `text` into words and `;`, `{`, `}` the way nginx does.
fn tokens(text: &str) -> Result<Vec<Token>, SyntaxError> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b';' => {
                out.push(Token::Semi(i));
                i += 1;
            }
            b'{' => {
                out.push(Token::Open(i));
                i += 1;
            }
            b'}' => {
                out.push(Token::Close(i));
                i += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' => {
                let start = i;
                let quote = c;
                i += 1;
                let mut value = Vec::new();
                loop {
                    let Some(&ch) = b.get(i) else {
                        return Err(SyntaxError {
                            what: "unterminated quoted string",
                            at: start,
                        });
                    };
                    i += 1;
                    if ch == b'\\' {
                        let Some(&next) = b.get(i) else { continue };
                        i += 1;
                        match next {
                            b'"' | b'\'' | b'\\' => value.push(next),
                            b't' => value.push(b'\t'),
                            b'r' => value.push(b'\r'),
                            b'n' => value.push(b'\n'),
                            other => value.extend_from_slice(&[b'\\', other]),
                        }
                    } else if ch == quote {
                        break;
                    } else {
                        value.push(ch);
                    }
                }
                // nginx wants a separator after a closing quote.
                if let Some(&next) = b.get(i)
                    && !matches!(next, b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' | b')')
                {
                    return Err(SyntaxError {
                        what: "unexpected character after a quoted string",
                        at: i,
                    });
                }
                out.push(Token::Word(Word {
                    value: String::from_utf8_lossy(&value).into_owned(),
                    start,
                    end: i,
                }));
            }
            _ => {
                let start = i;
                let mut value = Vec::new();
                let mut variable = false;
                while i < b.len() {
                    let ch = b[i];
                    if ch == b'{' && variable {
                        value.push(ch);
                        i += 1;
                        continue;
                    }
                    variable = false;
                    match ch {
                        b'\\' => {
                            // The next byte is taken as it is (nginx keeps the backslash).
                            value.push(ch);
                            i += 1;
                            if let Some(&next) = b.get(i) {
                                value.push(next);
                                i += 1;
                            }
                            continue;
                        }
                        b'$' => variable = true,
                        b' ' | b'\t' | b'\r' | b'\n' | b';' | b'{' => break,
                        _ => {}
                    }
                    value.push(ch);
                    i += 1;
                }
                out.push(Token::Word(Word {
                    value: String::from_utf8_lossy(&value).into_owned(),
                    start,
                    end: i,
                }));
            }
        }
    }
    Ok(out)
}

/// Parses a whole configuration file into its top-level directives.
pub fn parse(text: &str) -> Result<Vec<Directive>, SyntaxError> {
    let tokens = tokens(text)?;
    let mut pos = 0;
    let list = parse_list(&tokens, &mut pos, None, 0)?;
    Ok(list)
}

/// Deeper than this is not a configuration anyone wrote; refuse instead of recursing on.
const MAX_DEPTH: usize = 64;

fn parse_list(
    tokens: &[Token],
    pos: &mut usize,
    open: Option<usize>,
    depth: usize,
) -> Result<Vec<Directive>, SyntaxError> {
    if depth > MAX_DEPTH {
        return Err(SyntaxError {
            what: "blocks nested too deep",
            at: open.unwrap_or(0),
        });
    }
    let mut out = Vec::new();
    let mut words: Vec<Word> = Vec::new();
    while let Some(token) = tokens.get(*pos) {
        *pos += 1;
        match token {
            Token::Word(w) => words.push(w.clone()),
            Token::Semi(at) => {
                if words.is_empty() {
                    return Err(SyntaxError {
                        what: "unexpected ;",
                        at: *at,
                    });
                }
                let words = std::mem::take(&mut words);
                out.push(Directive {
                    start: words[0].start,
                    end: at + 1,
                    words,
                    block: None,
                });
            }
            Token::Open(at) => {
                if words.is_empty() {
                    return Err(SyntaxError {
                        what: "unexpected {",
                        at: *at,
                    });
                }
                let words = std::mem::take(&mut words);
                let children = parse_list(tokens, pos, Some(*at), depth + 1)?;
                let close = match tokens.get(*pos - 1) {
                    Some(Token::Close(c)) => *c,
                    _ => unreachable!("parse_list of a block returns after its }}"),
                };
                out.push(Directive {
                    start: words[0].start,
                    end: close + 1,
                    words,
                    block: Some(Block {
                        open: *at,
                        close,
                        children,
                    }),
                });
            }
            Token::Close(at) => {
                if !words.is_empty() || open.is_none() {
                    return Err(SyntaxError {
                        what: "unexpected }",
                        at: *at,
                    });
                }
                return Ok(out);
            }
        }
    }
    if let Some(w) = words.first() {
        return Err(SyntaxError {
            what: "unexpected end of file, expecting ; or }",
            at: w.start,
        });
    }
    match open {
        Some(at) => Err(SyntaxError {
            what: "unexpected end of file, expecting }",
            at,
        }),
        None => Ok(out),
    }
}

/// Every block directive named `name` at any depth, outermost first, in file order.
pub fn find_blocks<'a>(list: &'a [Directive], name: &str, out: &mut Vec<&'a Directive>) {
    for d in list {
        if d.block.is_some() {
            if d.name() == name {
                out.push(d);
            } else {
                find_blocks(d.children(), name, out);
            }
        }
    }
}

/// The 1-based line of byte offset `at` in `text`.
pub fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, args) of each directive, nested blocks as "name{…}".
    fn shape(list: &[Directive]) -> Vec<String> {
        list.iter()
            .map(|d| {
                let mut s = d
                    .words
                    .iter()
                    .map(|w| w.value.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                if let Some(b) = &d.block {
                    s.push_str(&format!("{{{}}}", shape(&b.children).join("|")));
                }
                s
            })
            .collect()
    }

    #[test]
    fn parses_the_forms_people_write() {
        for (text, want) in [
            ("listen 80;", vec!["listen 80"]),
            (
                "server { listen 80; server_name a; }",
                vec!["server{listen 80|server_name a}"],
            ),
            (
                "server {\n  listen 80;\n  listen [::]:80 default_server;\n}\n",
                vec!["server{listen 80|listen [::]:80 default_server}"],
            ),
            (
                "server_name\n    a.test\n    www.a.test\n    ;",
                vec!["server_name a.test www.a.test"],
            ),
            (
                "# { a comment with braces ; }\nserver{listen 80;}# trailing",
                vec!["server{listen 80}"],
            ),
            (
                "return 200 \"a;b{c}#d\\\"e\";",
                vec!["return 200 a;b{c}#d\"e"],
            ),
            ("return 200 'it\\'s';", vec!["return 200 it's"]),
            ("set $a \"x\\ty\";", vec!["set $a x\ty"]),
            ("set $a \"x\\.y\";", vec!["set $a x\\.y"]),
            ("rewrite ^/a\\;b /c;", vec!["rewrite ^/a\\;b /c"]),
            ("return 200 ${host}x;", vec!["return 200 ${host}x"]),
            ("return 200 a}b;", vec!["return 200 a}b"]),
            ("a#b c;", vec!["a#b c"]),
            (
                "location ~ \\.php$ { fastcgi_pass unix:/run/php.sock; }",
                vec!["location ~ \\.php${fastcgi_pass unix:/run/php.sock}"],
            ),
            (
                "http{upstream app{server 127.0.0.1:8000;}server{location /{proxy_pass http://app;}}}",
                vec![
                    "http{upstream app{server 127.0.0.1:8000}|server{location /{proxy_pass http://app}}}",
                ],
            ),
            (
                "if ($host = a) { return 301 x; }",
                vec!["if ($host = a){return 301 x}"],
            ),
            ("", vec![]),
            ("   \n# only a comment\n", vec![]),
        ] {
            let list = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(shape(&list), want, "{text:?}");
        }
    }

    #[test]
    fn gives_byte_positions_of_directives_and_blocks() {
        let text = "http {\n  server { listen 80; server_name a; }\n  server {\n    server_name\n      b c;\n  }\n}\n";
        let list = parse(text).unwrap();
        let mut servers = Vec::new();
        find_blocks(&list, "server", &mut servers);
        assert_eq!(servers.len(), 2);
        let one = servers[0];
        assert_eq!(
            &text[one.start..one.end],
            "server { listen 80; server_name a; }"
        );
        let b = one.block.as_ref().unwrap();
        assert_eq!(&text[b.open..=b.open], "{");
        assert_eq!(&text[b.close..=b.close], "}");
        let name = &one.children()[1];
        assert_eq!(&text[name.start..name.end], "server_name a;");
        let two = servers[1];
        let names = &two.children()[0];
        assert_eq!(&text[names.start..names.end], "server_name\n      b c;");
        assert_eq!(names.args().collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(line_of(text, two.start), 3);
        assert_eq!(line_of(text, names.words[2].start), 5);
        let quoted = parse("a \"q r\";").unwrap();
        assert_eq!((quoted[0].words[1].start, quoted[0].words[1].end), (2, 7));
    }

    #[test]
    fn refuses_what_nginx_refuses() {
        for (text, what) in [
            ("server {", "unexpected end of file, expecting }"),
            ("listen 80", "unexpected end of file, expecting ; or }"),
            ("}", "unexpected }"),
            ("server { listen 80 }", "unexpected }"),
            (";", "unexpected ;"),
            ("{ }", "unexpected {"),
            ("a \"open;", "unterminated quoted string"),
            ("a \"q\"x;", "unexpected character after a quoted string"),
        ] {
            assert_eq!(parse(text).unwrap_err().what, what, "{text:?}");
        }
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        let mut seed = 0x2545_f491_u32;
        let alphabet = b"ab {};#\"'\\$\n \t";
        for _ in 0..5000 {
            let len = (seed % 40) as usize;
            let mut s = Vec::new();
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                s.push(alphabet[(seed as usize) % alphabet.len()]);
            }
            let text = String::from_utf8(s).unwrap();
            if let Ok(list) = parse(&text) {
                for d in &list {
                    assert!(d.start < d.end && d.end <= text.len(), "{text:?}");
                }
            }
        }
        let deep = "a{".repeat(200) + &"}".repeat(200);
        assert!(parse(&deep).is_err());
        let _ = parse("é ü;\u{0}{}");
    }
}
