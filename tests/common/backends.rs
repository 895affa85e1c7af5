//! Application servers behind the lab's nginx, as small as the protocols allow: a uWSGI server
//! (what `uwsgi_pass` speaks) and a FastCGI responder (what `fastcgi_pass` speaks, as php-fpm on
//! a unix socket). Each answers every request with a line naming the protocol and the request's
//! URI and Host, so a test sees that nginx passed the request through and what it passed.
//! They run on threads for the rest of the test process.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;

/// A uWSGI server on a free loopback port; returns the port.
pub fn uwsgi() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let _ = uwsgi_answer(&mut conn);
        }
    });
    port
}

/// One request: the 4-byte header (modifier1, size as u16 LE, modifier2), then `size` bytes of
/// (u16 LE length, key, u16 LE length, value) pairs; the answer is a plain HTTP response.
fn uwsgi_answer(conn: &mut std::net::TcpStream) -> std::io::Result<()> {
    let mut head = [0u8; 4];
    conn.read_exact(&mut head)?;
    let mut vars = vec![0u8; usize::from(u16::from_le_bytes([head[1], head[2]]))];
    conn.read_exact(&mut vars)?;
    let mut params = BTreeMap::new();
    let mut at = 0;
    let take = |at: &mut usize| -> Option<String> {
        let len = usize::from(u16::from_le_bytes([*vars.get(*at)?, *vars.get(*at + 1)?]));
        let text = String::from_utf8_lossy(vars.get(*at + 2..*at + 2 + len)?).into_owned();
        *at += 2 + len;
        Some(text)
    };
    while let (Some(k), Some(v)) = (take(&mut at), take(&mut at)) {
        params.insert(k, v);
    }
    let body = echo("uwsgi", &params);
    write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn echo(protocol: &str, params: &BTreeMap<String, String>) -> String {
    let get = |k: &str| params.get(k).map_or("-", String::as_str);
    format!(
        "{protocol} {} {} host={}\n",
        get("REQUEST_METHOD"),
        get("REQUEST_URI"),
        get("HTTP_HOST")
    )
}

/// A FastCGI responder on the unix socket `path` (mode 0666, as php-fpm's for nginx's workers).
pub fn fastcgi(path: &Path) {
    let listener = UnixListener::bind(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let _ = fastcgi_answer(&mut conn);
        }
    });
}

/// One FastCGI record: (type, request id, content).
fn record(conn: &mut impl Read) -> std::io::Result<(u8, u16, Vec<u8>)> {
    let mut head = [0u8; 8];
    conn.read_exact(&mut head)?;
    let len = usize::from(u16::from_be_bytes([head[4], head[5]]));
    let mut content = vec![0u8; len + usize::from(head[6])];
    conn.read_exact(&mut content)?;
    content.truncate(len);
    Ok((head[1], u16::from_be_bytes([head[2], head[3]]), content))
}

fn write_record(conn: &mut impl Write, kind: u8, id: u16, content: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(content.len()).expect("one record");
    let [l0, l1] = len.to_be_bytes();
    let [i0, i1] = id.to_be_bytes();
    conn.write_all(&[1, kind, i0, i1, l0, l1, 0, 0])?;
    conn.write_all(content)
}

/// A name-value pair length: one byte below 128, else four with the top bit set.
fn nv_len(bytes: &[u8], at: &mut usize) -> Option<usize> {
    let first = *bytes.get(*at)?;
    if first < 0x80 {
        *at += 1;
        return Some(usize::from(first));
    }
    let four = bytes.get(*at..*at + 4)?;
    *at += 4;
    Some((u32::from_be_bytes([four[0] & 0x7f, four[1], four[2], four[3]])) as usize)
}

/// BEGIN_REQUEST (1), PARAMS (4) up to an empty one, STDIN (5) up to an empty one; then STDOUT
/// (6) with a CGI response, an empty STDOUT and END_REQUEST (3); the connection closes.
fn fastcgi_answer(conn: &mut std::os::unix::net::UnixStream) -> std::io::Result<()> {
    let mut raw = Vec::new();
    let mut id;
    loop {
        let (kind, rid, content) = record(conn)?;
        id = rid;
        match kind {
            4 => raw.extend_from_slice(&content),
            5 if content.is_empty() => break,
            _ => {}
        }
    }
    let mut params = BTreeMap::new();
    let mut at = 0;
    while let (Some(k), Some(v)) = (nv_len(&raw, &mut at), nv_len(&raw, &mut at)) {
        let (Some(key), Some(value)) = (raw.get(at..at + k), raw.get(at + k..at + k + v)) else {
            break;
        };
        params.insert(
            String::from_utf8_lossy(key).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        );
        at += k + v;
    }
    let body = format!(
        "{}script={}\n",
        echo("fastcgi", &params),
        params.get("SCRIPT_FILENAME").map_or("-", String::as_str)
    );
    let response = format!("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n{body}");
    write_record(conn, 6, id, response.as_bytes())?;
    write_record(conn, 6, id, &[])?;
    write_record(conn, 3, id, &[0, 0, 0, 0, 0, 0, 0, 0])
}
