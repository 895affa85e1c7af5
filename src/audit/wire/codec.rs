//! TLS framing, both directions: records, handshake messages, length-prefixed vectors and
//! extensions, and a bounds-checked [`Reader`]. The ClientHello builder and the flight parser use
//! it, and so do the unit tests and the fake servers in `tests/e2e` (which build ServerHello
//! flights and read ClientHellos), so the byte layout is written once. Pure.

use super::WireError;
use super::enums::{CipherSuite, ContentType, ExtensionType, HandshakeType};

/// The bytes before a record's fragment: type, version, length.
pub const RECORD_HEADER_LEN: usize = 5;
/// The bytes before a handshake message's body: type, 24-bit length.
pub const HANDSHAKE_HEADER_LEN: usize = 4;

/// A TLS record carrying `fragment` (at most 2^14 bytes by the RFC; not checked here).
pub fn record(kind: ContentType, version: u16, fragment: &[u8]) -> Vec<u8> {
    let mut out = vec![kind.0];
    out.extend_from_slice(&version.to_be_bytes());
    put_u16_prefixed(&mut out, fragment);
    out
}

/// The first whole record in `buf`: its type, version, fragment and the bytes it took. None
/// while the record is still incomplete.
pub fn split_record(buf: &[u8]) -> Option<(ContentType, u16, &[u8], usize)> {
    if buf.len() < RECORD_HEADER_LEN {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
    let end = RECORD_HEADER_LEN + len;
    let fragment = buf.get(RECORD_HEADER_LEN..end)?;
    Some((
        ContentType(buf[0]),
        u16::from_be_bytes([buf[1], buf[2]]),
        fragment,
        end,
    ))
}

/// A handshake message: type, 24-bit length, body.
pub fn handshake(kind: HandshakeType, body: &[u8]) -> Vec<u8> {
    let mut out = vec![kind.0];
    put_u24_prefixed(&mut out, body);
    out
}

/// Appends `data` after its length in one byte.
pub fn put_u8_prefixed(out: &mut Vec<u8>, data: &[u8]) {
    out.push(data.len() as u8);
    out.extend_from_slice(data);
}

/// Appends `data` after its length in two bytes.
pub fn put_u16_prefixed(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
}

/// Appends `data` after its length in three bytes.
pub fn put_u24_prefixed(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(data);
}

/// Appends one extension: type, then `data` with a two-byte length.
pub fn put_extension(out: &mut Vec<u8>, kind: ExtensionType, data: &[u8]) {
    out.extend_from_slice(&kind.0.to_be_bytes());
    put_u16_prefixed(out, data);
}

/// A ServerHello handshake message (no session id, null compression); the extensions block
/// (already encoded with [`put_extension`]) is left out entirely when empty, as SSL 3.0 servers do.
pub fn server_hello(
    version: u16,
    random: [u8; 32],
    suite: CipherSuite,
    extensions: &[u8],
) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    body.extend_from_slice(&random);
    put_u8_prefixed(&mut body, &[]); // session id
    body.extend_from_slice(&suite.0.to_be_bytes());
    body.push(0); // compression: null
    if !extensions.is_empty() {
        put_u16_prefixed(&mut body, extensions);
    }
    handshake(HandshakeType::SERVER_HELLO, &body)
}

/// The body of a TLS 1.2 Certificate message: the DER certificates, leaf first, each with a
/// 24-bit length, in one list with a 24-bit length.
pub fn certificate_list<C: AsRef<[u8]>>(chain: &[C]) -> Vec<u8> {
    let mut list = Vec::new();
    for der in chain {
        put_u24_prefixed(&mut list, der.as_ref());
    }
    let mut body = Vec::new();
    put_u24_prefixed(&mut body, &list);
    body
}

/// The parts of a ClientHello a server looks at (the fake servers in the tests; the unit tests
/// read back what [`super::client_hello`] built).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHello {
    /// legacy_version (TLS 1.2 for a TLS 1.3 hello).
    pub version: u16,
    /// Offered cipher suites, in the client's order.
    pub suites: Vec<CipherSuite>,
    /// Offered compression methods.
    pub compression: Vec<u8>,
    /// Extensions in order, with their data.
    pub extensions: Vec<(ExtensionType, Vec<u8>)>,
}

impl ClientHello {
    /// Whether the extension is offered.
    pub fn has_extension(&self, kind: ExtensionType) -> bool {
        self.extensions.iter().any(|(k, _)| *k == kind)
    }
}

/// Reads a ClientHello handshake message (type and length included).
pub fn parse_client_hello(message: &[u8]) -> Result<ClientHello, WireError> {
    let mut r = Reader::new(message);
    if HandshakeType(r.u8()?) != HandshakeType::CLIENT_HELLO {
        return Err(WireError::Malformed("not a ClientHello".into()));
    }
    let mut body = Reader::new(r.u24_prefixed()?);
    let version = body.u16()?;
    body.take(32)?; // random
    body.u8_prefixed()?; // session id
    let suites = body
        .u16_prefixed()?
        .chunks_exact(2)
        .map(|c| CipherSuite(u16::from_be_bytes([c[0], c[1]])))
        .collect();
    let compression = body.u8_prefixed()?.to_vec();
    let mut extensions = Vec::new();
    if !body.is_empty() {
        let mut ext = Reader::new(body.u16_prefixed()?);
        while !ext.is_empty() {
            let kind = ExtensionType(ext.u16()?);
            extensions.push((kind, ext.u16_prefixed()?.to_vec()));
        }
    }
    Ok(ClientHello {
        version,
        suites,
        compression,
        extensions,
    })
}

/// A cursor over a byte slice: every read is bounds-checked, and a short input is
/// [`WireError::Malformed`], never a panic.
#[derive(Clone, Debug)]
pub struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self(bytes)
    }

    /// Nothing left.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError::Malformed(
                "a message shorter than its lengths".into(),
            ));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    /// A big-endian u16.
    pub fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A big-endian 24-bit length.
    pub fn u24(&mut self) -> Result<usize, WireError> {
        let b = self.take(3)?;
        Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]) as usize)
    }

    /// A vector with a one-byte length.
    pub fn u8_prefixed(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u8()? as usize;
        self.take(n)
    }

    /// A vector with a two-byte length.
    pub fn u16_prefixed(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u16()? as usize;
        self.take(n)
    }

    /// A vector with a three-byte length.
    pub fn u24_prefixed(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u24()?;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_records_and_handshake_messages() {
        let msg = handshake(HandshakeType::SERVER_HELLO_DONE, &[]);
        assert_eq!(msg, [14, 0, 0, 0]);
        assert_eq!(
            record(ContentType::HANDSHAKE, 0x0303, &msg),
            [22, 3, 3, 0, 4, 14, 0, 0, 0]
        );
        let mut ext = Vec::new();
        put_extension(&mut ext, ExtensionType::RENEGOTIATION_INFO, &[0]);
        assert_eq!(ext, [0xFF, 0x01, 0x00, 0x01, 0x00]);
        let two = [record(ContentType::ALERT, 0x0303, &[2, 20]), vec![23, 3]].concat();
        assert_eq!(
            split_record(&two),
            Some((ContentType::ALERT, 0x0303, &[2u8, 20][..], 7))
        );
        assert_eq!(split_record(&two[7..]), None);
        assert_eq!(split_record(&two[..6]), None);
        assert_eq!(
            certificate_list(&[vec![0xAA; 2]]),
            [0, 0, 5, 0, 0, 2, 0xAA, 0xAA]
        );
    }

    #[test]
    fn short_input_is_malformed_not_a_panic() {
        let mut r = Reader::new(&[0, 5, 1]);
        assert!(matches!(r.u16_prefixed(), Err(WireError::Malformed(_))));
        assert!(parse_client_hello(&[1, 0, 0, 9, 3]).is_err());
        assert!(parse_client_hello(&[2, 0, 0, 0]).is_err());
    }
}
