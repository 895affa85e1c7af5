//! Certificate identifiers: the names and IP addresses a user asks for.
//!
//! Everything a user types as a domain passes through [`parse_identifier`] before any network
//! traffic or file write. The names later end up in ACME orders, file paths and nginx config, so
//! this module is strict: it refuses anything that is not a plain DNS name (converted to A-labels)
//! or an IP address. Pure: no I/O.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// One identifier on a certificate: a DNS name in A-label form, or an IP address (RFC 8738).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum Identifier {
    /// A DNS name, lower case, in A-label (punycode) form, without a trailing dot.
    Dns(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
}

impl Identifier {
    /// The identifier as it appears in a SAN, a file name or a Host header (IPv6 without brackets).
    pub fn as_string(&self) -> String {
        match self {
            Self::Dns(name) => name.clone(),
            Self::Ip(ip) => ip.to_string(),
        }
    }

    /// The value for an HTTP `Host` header (IPv6 in brackets, as RFC 3986 wants).
    pub fn host_header(&self) -> String {
        match self {
            Self::Dns(name) => name.clone(),
            Self::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
            Self::Ip(ip) => ip.to_string(),
        }
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

/// Why a name was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    /// Nothing was given.
    #[error("empty domain name")]
    Empty,
    /// A wildcard needs DNS-01, which certctl does not do.
    #[error(
        "wildcard names such as {0:?} need the DNS-01 challenge, and certctl only validates over HTTP-01; list each name instead"
    )]
    Wildcard(String),
    /// A character that could break out of nginx config or a shell.
    #[error("domain name {name:?} contains {what}, which is never valid in a domain name")]
    ForbiddenCharacter {
        /// The name as given.
        name: String,
        /// A description of the offending character.
        what: &'static str,
    },
    /// IDNA conversion failed.
    #[error("domain name {0:?} is not a valid internationalized domain name")]
    Idna(String),
    /// A label is empty (two dots in a row, or a leading dot).
    #[error("domain name {0:?} has an empty label")]
    EmptyLabel(String),
    /// A label is longer than 63 octets.
    #[error("domain name {name:?} has a label of {len} characters; the DNS limit is 63")]
    LabelTooLong {
        /// The name as given.
        name: String,
        /// The label's length.
        len: usize,
    },
    /// The whole name is longer than 253 octets.
    #[error("domain name {name:?} is {len} characters long; the DNS limit is 253")]
    NameTooLong {
        /// The name as given.
        name: String,
        /// Its length in A-label form.
        len: usize,
    },
    /// A label with characters outside letters, digits and hyphens, or a hyphen at an end.
    #[error(
        "domain name {name:?} has an invalid label {label:?}: labels use letters, digits and inner hyphens"
    )]
    BadLabel {
        /// The name as given.
        name: String,
        /// The offending label (A-label form).
        label: String,
    },
    /// The last label is all digits, so this is neither a name nor a valid IP address.
    #[error("{0:?} is neither a valid domain name nor an IP address")]
    NumericTld(String),
}

/// Parses one user-supplied name or IP address into an [`Identifier`].
///
/// IDNs become A-labels (`bücher.example` → `xn--bcher-kva.example`); names are lower-cased; one
/// trailing dot is dropped.
pub fn parse_identifier(input: &str) -> Result<Identifier, NameError> {
    if input.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(what) = forbidden_character(input) {
        return Err(NameError::ForbiddenCharacter {
            name: input.to_owned(),
            what,
        });
    }
    if input.contains('*') {
        return Err(NameError::Wildcard(input.to_owned()));
    }
    let bare = input.strip_prefix('[').and_then(|s| s.strip_suffix(']'));
    if let Ok(ip) = bare.unwrap_or(input).parse::<IpAddr>() {
        return Ok(Identifier::Ip(ip));
    }

    let trimmed = input.strip_suffix('.').unwrap_or(input);
    if trimmed.is_empty() {
        return Err(NameError::Empty);
    }
    if trimmed.split('.').any(str::is_empty) {
        return Err(NameError::EmptyLabel(input.to_owned()));
    }
    let ascii = if trimmed.is_ascii() {
        trimmed.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(trimmed).map_err(|_| NameError::Idna(input.to_owned()))?
    };
    if ascii.len() > 253 {
        return Err(NameError::NameTooLong {
            name: input.to_owned(),
            len: ascii.len(),
        });
    }
    for label in ascii.split('.') {
        if label.is_empty() {
            return Err(NameError::EmptyLabel(input.to_owned()));
        }
        if label.len() > 63 {
            return Err(NameError::LabelTooLong {
                name: input.to_owned(),
                len: label.len(),
            });
        }
        let ldh = label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ldh || label.starts_with('-') || label.ends_with('-') {
            return Err(NameError::BadLabel {
                name: input.to_owned(),
                label: label.to_owned(),
            });
        }
    }
    if ascii
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(NameError::NumericTld(input.to_owned()));
    }
    Ok(Identifier::Dns(ascii))
}

/// Parses a list of names, keeping the first occurrence of each and the order given.
pub fn parse_identifiers<'a>(
    inputs: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Identifier>, NameError> {
    let mut out: Vec<Identifier> = Vec::new();
    for input in inputs {
        let id = parse_identifier(input)?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    if out.is_empty() {
        return Err(NameError::Empty);
    }
    Ok(out)
}

/// Characters that are never part of a name and would be dangerous in nginx config or a shell.
fn forbidden_character(input: &str) -> Option<&'static str> {
    input.chars().find_map(|c| match c {
        ' ' | '\t' => Some("whitespace"),
        '\n' | '\r' => Some("a line break"),
        ';' => Some("a semicolon"),
        '{' | '}' => Some("a brace"),
        '"' | '\'' | '`' => Some("a quote"),
        '/' | '\\' => Some("a slash"),
        '$' => Some("a dollar sign"),
        c if c.is_control() => Some("a control character"),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns(s: &str) -> Identifier {
        Identifier::Dns(s.to_owned())
    }

    #[test]
    fn accepts_and_normalizes_plain_names() {
        assert_eq!(parse_identifier("Example.COM"), Ok(dns("example.com")));
        assert_eq!(
            parse_identifier("www.example.com."),
            Ok(dns("www.example.com"))
        );
        assert_eq!(parse_identifier("a-b.c1.test"), Ok(dns("a-b.c1.test")));
    }

    #[test]
    fn converts_idn_to_a_labels() {
        assert_eq!(
            parse_identifier("bücher.example"),
            Ok(dns("xn--bcher-kva.example"))
        );
    }

    #[test]
    fn accepts_ip_addresses() {
        assert_eq!(
            parse_identifier("127.0.0.1"),
            Ok(Identifier::Ip("127.0.0.1".parse().unwrap()))
        );
        assert_eq!(
            parse_identifier("[::1]"),
            Ok(Identifier::Ip("::1".parse().unwrap()))
        );
        assert_eq!(
            Identifier::Ip("::1".parse().unwrap()).host_header(),
            "[::1]"
        );
    }

    #[test]
    fn refuses_wildcards_with_dns01_hint() {
        let err = parse_identifier("*.example.com").unwrap_err();
        assert!(matches!(err, NameError::Wildcard(_)));
        assert!(err.to_string().contains("DNS-01"));
    }

    #[test]
    fn refuses_characters_that_break_config() {
        for bad in [
            "a b.com", "a;b.com", "a{.com", "a}.com", "a\".com", "a'.com", "a\n.com", "a/b.com",
        ] {
            assert!(
                matches!(
                    parse_identifier(bad),
                    Err(NameError::ForbiddenCharacter { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn refuses_bad_labels_and_lengths() {
        assert_eq!(parse_identifier(""), Err(NameError::Empty));
        assert!(matches!(
            parse_identifier("a..com"),
            Err(NameError::EmptyLabel(_))
        ));
        assert!(matches!(
            parse_identifier(".a.com"),
            Err(NameError::EmptyLabel(_))
        ));
        assert!(matches!(
            parse_identifier("-a.com"),
            Err(NameError::BadLabel { .. })
        ));
        assert!(matches!(
            parse_identifier("a_b.com"),
            Err(NameError::BadLabel { .. })
        ));
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(matches!(
            parse_identifier(&long_label),
            Err(NameError::LabelTooLong { len: 64, .. })
        ));
        let ok_label = format!("{}.com", "a".repeat(63));
        assert!(parse_identifier(&ok_label).is_ok());
        let long_name = vec!["a".repeat(60); 5].join(".");
        assert!(matches!(
            parse_identifier(&long_name),
            Err(NameError::NameTooLong { .. })
        ));
        assert!(matches!(
            parse_identifier("1.2.3.999"),
            Err(NameError::NumericTld(_))
        ));
    }

    #[test]
    fn deduplicates_in_order() {
        let ids = parse_identifiers(["b.test", "a.test", "B.test"]).unwrap();
        assert_eq!(ids, vec![dns("b.test"), dns("a.test")]);
    }
}
