//! Reading `nginx -T`: which server blocks nginx actually loads, where they are, what they
//! listen on and whether they serve ACME challenges. Pure: the dump text comes in as a string.
//!
//! nginx itself decides which files are loaded (includes, globs, order); this module only splits
//! the dump into files and tokenizes them, so it cannot disagree with nginx about what is loaded.
//! It never rewrites anything.

use std::path::{Path, PathBuf};

/// A `server { … }` block nginx loads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerBlock {
    /// The file it is in.
    pub file: PathBuf,
    /// Line of `server {` in that file (1-based).
    pub line: usize,
    /// Line of its `server_name` directive, if any.
    pub server_name_line: Option<usize>,
    /// server_name values.
    pub names: Vec<String>,
    /// (port, ssl) per listen directive; no listen means port 80.
    pub listens: Vec<(u16, bool)>,
    /// Where a client on this machine reaches each TLS listen: the address it names, or the
    /// loopback address for a wildcard or a host name (`[::]` → `[::1]`).
    pub tls_targets: Vec<std::net::SocketAddr>,
    /// Paths of the files it includes directly.
    pub includes: Vec<String>,
    /// It has a location for /.well-known/acme-challenge/.
    pub has_acme_location: bool,
}

impl ServerBlock {
    /// `file:line`, for messages.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }

    /// Whether it answers for `host` (exact names and `*.`/`.` wildcards; regexes are ignored).
    pub fn serves(&self, host: &str) -> bool {
        self.names.iter().any(|n| {
            n.eq_ignore_ascii_case(host)
                || n.strip_prefix("*.")
                    .is_some_and(|suffix| host.ends_with(&format!(".{suffix}")))
                || n.strip_prefix('.').is_some_and(|suffix| {
                    host.eq_ignore_ascii_case(suffix) || host.ends_with(&format!(".{suffix}"))
                })
        })
    }

    /// Whether it listens on `port`, and whether with TLS.
    pub fn listens_on(&self, port: u16) -> Option<bool> {
        self.listens
            .iter()
            .find(|(p, _)| *p == port)
            .map(|(_, ssl)| *ssl)
    }

    /// Whether it serves challenges: its own location, or an include of `acme_snippet`.
    pub fn serves_challenges(&self, acme_snippet: &Path) -> bool {
        self.has_acme_location || self.includes.iter().any(|i| Path::new(i) == acme_snippet)
    }
}

/// Every server block in a `nginx -T` dump.
pub fn server_blocks(dump: &str) -> Vec<ServerBlock> {
    let mut blocks = Vec::new();
    for (file, text) in split_files(dump) {
        let tokens = tokenize(text);
        let mut pos = 0;
        collect_servers(&tokens, &mut pos, &file, &mut blocks, 0);
    }
    blocks
}

/// Splits the dump at its `# configuration file PATH:` markers.
fn split_files(dump: &str) -> Vec<(PathBuf, &str)> {
    const MARK: &str = "# configuration file ";
    let mut files = Vec::new();
    let mut starts: Vec<(usize, PathBuf, usize)> = Vec::new();
    let mut offset = 0;
    for line in dump.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if let Some(rest) = trimmed.strip_prefix(MARK)
            && let Some(path) = rest.strip_suffix(':')
        {
            starts.push((offset, PathBuf::from(path), offset + line.len()));
        }
        offset += line.len();
    }
    for (i, (_, path, body_start)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(dump.len(), |s| s.0);
        files.push((path.clone(), &dump[*body_start..end]));
    }
    files
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String, usize),
    Open(usize),
    Close,
    Semi,
}

/// nginx's lexical rules: `#` comments, quoted strings, `{`, `}`, `;`, whitespace.
fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut word = String::new();
    let mut word_line = 1;
    let flush = |word: &mut String, tokens: &mut Vec<Token>, at: usize| {
        if !word.is_empty() {
            tokens.push(Token::Word(std::mem::take(word), at));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                flush(&mut word, &mut tokens, word_line);
                line += 1;
            }
            c if c.is_whitespace() => flush(&mut word, &mut tokens, word_line),
            '#' if word.is_empty() => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '"' | '\'' if word.is_empty() => {
                word_line = line;
                let quote = c;
                let mut value = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(next) = chars.next() {
                                value.push(next);
                            }
                        }
                        c if c == quote => break,
                        '\n' => {
                            line += 1;
                            value.push(c);
                        }
                        c => value.push(c),
                    }
                }
                tokens.push(Token::Word(value, word_line));
            }
            '{' => {
                flush(&mut word, &mut tokens, word_line);
                tokens.push(Token::Open(line));
            }
            '}' => {
                flush(&mut word, &mut tokens, word_line);
                tokens.push(Token::Close);
            }
            ';' => {
                flush(&mut word, &mut tokens, word_line);
                tokens.push(Token::Semi);
            }
            c => {
                if word.is_empty() {
                    word_line = line;
                }
                word.push(c);
            }
        }
    }
    flush(&mut word, &mut tokens, word_line);
    tokens
}

/// Walks statements until the matching `}` (or the end), recording server blocks.
fn collect_servers(
    tokens: &[Token],
    pos: &mut usize,
    file: &Path,
    out: &mut Vec<ServerBlock>,
    depth: usize,
) {
    let mut words: Vec<(String, usize)> = Vec::new();
    while *pos < tokens.len() {
        let token = &tokens[*pos];
        *pos += 1;
        match token {
            Token::Word(w, line) => words.push((w.clone(), *line)),
            Token::Semi => words.clear(),
            Token::Close => {
                if depth > 0 {
                    return;
                }
                words.clear();
            }
            Token::Open(line) => {
                let is_server = words.len() == 1 && words[0].0 == "server";
                words.clear();
                if is_server && depth < 8 {
                    out.push(parse_server(tokens, pos, file, *line));
                } else {
                    collect_servers(tokens, pos, file, out, depth + 1);
                }
            }
        }
    }
}

fn parse_server(tokens: &[Token], pos: &mut usize, file: &Path, line: usize) -> ServerBlock {
    let mut block = ServerBlock {
        file: file.to_owned(),
        line,
        server_name_line: None,
        names: Vec::new(),
        listens: Vec::new(),
        tls_targets: Vec::new(),
        includes: Vec::new(),
        has_acme_location: false,
    };
    let mut saw_listen = false;
    let mut words: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    while *pos < tokens.len() {
        let token = &tokens[*pos];
        *pos += 1;
        match token {
            Token::Word(w, l) => words.push((w.clone(), *l)),
            Token::Semi => {
                if depth == 0 {
                    match words.first().map(|w| w.0.as_str()) {
                        Some("server_name") => {
                            block.server_name_line = Some(words[0].1);
                            block.names.extend(words[1..].iter().map(|w| w.0.clone()));
                        }
                        Some("listen") if words.len() > 1 => {
                            saw_listen = true;
                            if let Some(port) = listen_port(&words[1].0) {
                                let ssl = words[2..].iter().any(|w| w.0 == "ssl");
                                block.listens.push((port, ssl));
                                if ssl {
                                    let ip = listen_ip(&words[1].0);
                                    block.tls_targets.push(std::net::SocketAddr::new(ip, port));
                                }
                            }
                        }
                        Some("include") if words.len() > 1 => {
                            block.includes.push(words[1].0.clone())
                        }
                        _ => {}
                    }
                }
                words.clear();
            }
            Token::Open(_) => {
                if words.first().is_some_and(|w| w.0 == "location")
                    && words
                        .iter()
                        .any(|w| w.0.contains("/.well-known/acme-challenge"))
                {
                    block.has_acme_location = true;
                }
                words.clear();
                depth += 1;
            }
            Token::Close => {
                words.clear();
                if depth == 0 {
                    break;
                }
                depth -= 1;
            }
        }
    }
    if !saw_listen {
        block.listens.push((80, false));
    }
    block
}

/// The port of a listen address: `443`, `127.0.0.1:8443`, `[::]:80`, `localhost` (80).
fn listen_port(addr: &str) -> Option<u16> {
    if addr.starts_with("unix:") {
        return None;
    }
    if let Ok(port) = addr.parse() {
        return Some(port);
    }
    let tail = match addr.rsplit_once("]:") {
        Some((_, port)) => Some(port),
        None if addr.starts_with('[') => None,
        None => addr.rsplit_once(':').map(|(_, p)| p),
    };
    match tail {
        Some(port) => port.parse().ok(),
        None => Some(80),
    }
}

/// The address to connect to for a listen address (see [`ServerBlock::tls_targets`]).
fn listen_ip(addr: &str) -> std::net::IpAddr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let host = match addr.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or(rest, |(h, _)| h),
        None => addr.rsplit_once(':').map_or(addr, |(h, _)| h),
    };
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        Ok(ip) if !ip.is_unspecified() => ip,
        _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "# configuration file /etc/nginx/nginx.conf:\n\
http {\n\
    include /etc/nginx/sites-enabled/*;\n\
}\n\
\n\
# configuration file /etc/nginx/sites-enabled/default:\n\
# a comment with { braces }\n\
server {\n\
    listen 80 default_server;\n\
    listen [::]:80 default_server;\n\
    server_name example.com www.example.com;\n\
    location / { proxy_pass http://127.0.0.1:8000; }\n\
}\n\
server {\n\
    listen 127.0.0.1:8443 ssl http2;\n\
    server_name \"tls.example.com\";\n\
    include /etc/nginx/snippets/certctl/acme-challenge.conf;\n\
}\n\
server { server_name *.wild.example; location ^~ /.well-known/acme-challenge/ { root /x; } }\n";

    #[test]
    fn tls_targets_are_reachable_addresses() {
        for (listen, want) in [
            ("443", "127.0.0.1"),
            ("*:443", "127.0.0.1"),
            ("0.0.0.0:443", "127.0.0.1"),
            ("[::]:443", "::1"),
            ("127.0.0.2:443", "127.0.0.2"),
            ("[::1]:443", "::1"),
            ("localhost:443", "127.0.0.1"),
        ] {
            assert_eq!(listen_ip(listen).to_string(), want, "{listen}");
        }
    }

    #[test]
    fn finds_server_blocks_with_files_and_lines() {
        let blocks = server_blocks(DUMP);
        assert_eq!(blocks.len(), 3);
        let first = &blocks[0];
        assert_eq!(
            first.file,
            PathBuf::from("/etc/nginx/sites-enabled/default")
        );
        assert_eq!(first.line, 2);
        assert_eq!(first.server_name_line, Some(5));
        assert_eq!(first.names, ["example.com", "www.example.com"]);
        assert_eq!(first.listens, [(80, false), (80, false)]);
        assert!(!first.has_acme_location);
        assert_eq!(first.location(), "/etc/nginx/sites-enabled/default:2");

        let tls = &blocks[1];
        assert_eq!(tls.listens, [(8443, true)]);
        assert_eq!(tls.tls_targets, ["127.0.0.1:8443".parse().unwrap()]);
        assert_eq!(tls.names, ["tls.example.com"]);
        assert!(
            tls.serves_challenges(Path::new("/etc/nginx/snippets/certctl/acme-challenge.conf"))
        );

        let wild = &blocks[2];
        assert_eq!(wild.listens, [(80, false)], "no listen means port 80");
        assert!(wild.has_acme_location);
        assert!(wild.serves("a.wild.example"));
        assert!(!wild.serves("wild.example"));
    }

    #[test]
    fn reads_listen_ports() {
        assert_eq!(listen_port("443"), Some(443));
        assert_eq!(listen_port("127.0.0.1:8443"), Some(8443));
        assert_eq!(listen_port("[::]:80"), Some(80));
        assert_eq!(listen_port("[::1]"), Some(80));
        assert_eq!(listen_port("localhost"), Some(80));
        assert_eq!(listen_port("unix:/run/x.sock"), None);
    }

    #[test]
    fn survives_garbage_without_panicking() {
        for text in [
            "",
            "}}}}",
            "server {",
            "# configuration file x:\nserver { listen \"unterminated",
            "# configuration file y:\n{{{{ server { } } ;;;",
        ] {
            let _ = server_blocks(text);
        }
    }
}
