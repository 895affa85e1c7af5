//! Reading `nginx -T`: which server blocks nginx actually loads, where they are, what they
//! listen on and whether they serve ACME challenges. Pure: the dump text comes in as a string.
//!
//! nginx itself decides which files are loaded (includes, globs, order); this module only splits
//! the dump into files and tokenizes them, so it cannot disagree with nginx about what is loaded.
//! It never rewrites anything.

use std::path::{Path, PathBuf};

use super::lex::{self, Directive};

/// A `server { … }` block nginx loads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerBlock {
    /// The file it is in.
    pub file: PathBuf,
    /// Line of `server {` in that file (1-based).
    pub line: usize,
    /// Its place among the file's server blocks (0-based), to find it again in the file.
    pub index: usize,
    /// Byte offset of its `{` in the file.
    pub open: usize,
    /// Byte offset of its `}` in the file.
    pub close: usize,
    /// Line of its `server_name` directive, if any.
    pub server_name_line: Option<usize>,
    /// server_name values.
    pub names: Vec<String>,
    /// (port, ssl) per listen directive; no listen means port 80.
    pub listens: Vec<(u16, bool)>,
    /// (address, port) per listen directive, the address as nginx groups servers by it: empty
    /// for all IPv4 addresses (`80`, `*:80`, `0.0.0.0:80`), `[::]` for all IPv6 ones, else as
    /// written (`127.0.0.1`, `[::1]`, `localhost`).
    pub addresses: Vec<(String, u16)>,
    /// It holds certctl's marked region (a user's server certctl edited or took over).
    pub certctl_region: bool,
    /// Ports it is the `default_server` of.
    pub default_ports: Vec<u16>,
    /// Its `ssl_certificate` and `ssl_certificate_key` lines: (line, path).
    pub certificates: Vec<(usize, String)>,
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

    /// Whether it answers for `host` (exact names and wildcards; regexes are ignored).
    pub fn serves(&self, host: &str) -> bool {
        self.match_rank(host).is_some()
    }

    /// How well a name of it matches `host`, in nginx's order: 0 exact, 1 leading wildcard
    /// (`*.a.test`, `.a.test`), 2 trailing wildcard (`www.a.*`); None when none does.
    pub fn match_rank(&self, host: &str) -> Option<u8> {
        let host = host.to_ascii_lowercase();
        self.names
            .iter()
            .filter_map(|n| {
                let n = n.to_ascii_lowercase();
                if n == host {
                    Some(0)
                } else if n
                    .strip_prefix("*.")
                    .is_some_and(|suffix| host.ends_with(&format!(".{suffix}")))
                    || n.strip_prefix('.').is_some_and(|suffix| {
                        host == suffix || host.ends_with(&format!(".{suffix}"))
                    })
                {
                    Some(1)
                } else if n
                    .strip_suffix(".*")
                    .is_some_and(|prefix| host.starts_with(&format!("{prefix}.")))
                {
                    Some(2)
                } else {
                    None
                }
            })
            .min()
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
        blocks.extend(servers_in(&file, text));
    }
    blocks
}

/// The server blocks of one file's text, in file order (nothing when nginx would not parse it).
pub fn servers_in(file: &Path, text: &str) -> Vec<ServerBlock> {
    let Ok(list) = lex::parse(text) else {
        return Vec::new();
    };
    let mut servers = Vec::new();
    http_servers(&list, &mut servers);
    servers
        .into_iter()
        .enumerate()
        .map(|(index, d)| parse_server(d, file, text, index))
        .collect()
}

/// `server { … }` blocks at any depth, except the TCP/UDP and mail ones (`stream`, `mail`);
/// `server` inside `upstream` is a simple directive, never a block.
fn http_servers<'a>(list: &'a [Directive], out: &mut Vec<&'a Directive>) {
    for d in list.iter().filter(|d| d.block.is_some()) {
        match d.name() {
            "server" => out.push(d),
            "stream" | "mail" => {}
            _ => http_servers(d.children(), out),
        }
    }
}

/// Every file in a `nginx -T` dump with its text, in the order nginx read them.
pub fn files(dump: &str) -> Vec<(PathBuf, &str)> {
    split_files(dump)
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
        // nginx -T prints each file followed by one newline of its own.
        let body = &dump[*body_start..end];
        let body = body.strip_suffix('\n').unwrap_or(body);
        files.push((path.clone(), body));
    }
    files
}

fn parse_server(server: &Directive, file: &Path, text: &str, index: usize) -> ServerBlock {
    let block = server.block.as_ref().expect("find_blocks returns blocks");
    let mut out = ServerBlock {
        file: file.to_owned(),
        line: lex::line_of(text, server.start),
        index,
        open: block.open,
        close: block.close,
        server_name_line: None,
        names: Vec::new(),
        listens: Vec::new(),
        addresses: Vec::new(),
        default_ports: Vec::new(),
        tls_targets: Vec::new(),
        includes: Vec::new(),
        has_acme_location: false,
        certificates: Vec::new(),
        certctl_region: super::edit::our_region(text, block.open).is_some(),
    };
    let mut saw_listen = false;
    for d in &block.children {
        let args: Vec<&str> = d.args().collect();
        match d.name() {
            "server_name" => {
                out.server_name_line
                    .get_or_insert(lex::line_of(text, d.start));
                out.names.extend(args.iter().map(|a| (*a).to_owned()));
            }
            "listen" if !args.is_empty() => {
                saw_listen = true;
                if let Some(port) = listen_port(args[0]) {
                    let ssl = args[1..].contains(&"ssl");
                    out.listens.push((port, ssl));
                    out.addresses.push((listen_address(args[0]), port));
                    if args[1..].contains(&"default_server") || args[1..].contains(&"default") {
                        out.default_ports.push(port);
                    }
                    if ssl {
                        out.tls_targets
                            .push(std::net::SocketAddr::new(listen_ip(args[0]), port));
                    }
                }
            }
            "include" if !args.is_empty() => out.includes.push(args[0].to_owned()),
            "ssl_certificate" | "ssl_certificate_key" if !args.is_empty() => out
                .certificates
                .push((lex::line_of(text, d.start), args[0].to_owned())),
            "location"
                if d.block.is_some()
                    && args
                        .iter()
                        .any(|a| a.contains("/.well-known/acme-challenge")) =>
            {
                out.has_acme_location = true;
            }
            _ => {}
        }
    }
    if !saw_listen {
        out.listens.push((80, false));
        out.addresses.push((String::new(), 80));
    }
    out
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

/// The address part of a listen address, as [`ServerBlock::addresses`] has it.
fn listen_address(addr: &str) -> String {
    let host = if let Some(rest) = addr.strip_prefix('[') {
        return match rest.split_once(']') {
            Some(("::" | "0:0:0:0:0:0:0:0", _)) => "[::]".to_owned(),
            Some((ip, _)) => format!("[{ip}]"),
            None => addr.to_owned(),
        };
    } else if addr.parse::<u16>().is_ok() {
        ""
    } else {
        addr.rsplit_once(':').map_or(addr, |(h, _)| h)
    };
    match host {
        "*" | "0.0.0.0" => String::new(),
        other => other.to_owned(),
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
    fn reads_listen_addresses_as_nginx_groups_them() {
        for (listen, want) in [
            ("80", ""),
            ("*:80", ""),
            ("0.0.0.0:8080", ""),
            ("*", ""),
            ("[::]:80", "[::]"),
            ("[::]", "[::]"),
            ("[::1]:443", "[::1]"),
            ("127.0.0.1:80", "127.0.0.1"),
            ("127.0.0.1", "127.0.0.1"),
            ("localhost:80", "localhost"),
        ] {
            assert_eq!(listen_address(listen), want, "{listen}");
        }
        let blocks = server_blocks(DUMP);
        assert_eq!(
            blocks[0].addresses,
            [(String::new(), 80), ("[::]".to_owned(), 80)]
        );
        assert_eq!(blocks[2].addresses, [(String::new(), 80)]);
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
