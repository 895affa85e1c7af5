//! The Strict-Transport-Security header (RFC 6797), read the same way by `audit` and
//! `django check --url`. Pure.

use serde::Serialize;

/// What a Strict-Transport-Security header says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Hsts {
    /// max-age, when it parses.
    pub max_age: Option<u64>,
    /// includeSubDomains.
    pub include_subdomains: bool,
    /// preload.
    pub preload: bool,
}

/// Parses a Strict-Transport-Security value (RFC 6797 directives, case-insensitive).
pub fn parse_hsts(value: &str) -> Hsts {
    let mut hsts = Hsts::default();
    for directive in value.split(';').map(str::trim) {
        let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "max-age" => hsts.max_age = arg.trim().trim_matches('"').parse().ok(),
            "includesubdomains" => hsts.include_subdomains = true,
            "preload" => hsts.preload = true,
            _ => {}
        }
    }
    hsts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_are_case_insensitive() {
        assert_eq!(
            parse_hsts("max-age=63072000; includeSubDomains; preload"),
            Hsts {
                max_age: Some(63_072_000),
                include_subdomains: true,
                preload: true
            }
        );
        assert_eq!(parse_hsts("MAX-AGE=\"60\"").max_age, Some(60));
    }
}
