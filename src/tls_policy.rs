//! TLS server policies as data: Mozilla's Server Side TLS guideline 6.0 profiles.
//!
//! One table for everything that needs to know what "good TLS" means: the nginx renderer writes it
//! and (later) the audit compares a server against it. Pure data, no I/O.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A Mozilla profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// TLS 1.2 and 1.3, ECDHE + AEAD suites only (the recommended default).
    #[default]
    Intermediate,
    /// TLS 1.3 only.
    Modern,
}

/// The parameters of one profile.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// The profile.
    pub profile: Profile,
    /// nginx `ssl_protocols`.
    pub protocols: &'static [&'static str],
    /// OpenSSL names of the TLS 1.2 suites (empty for TLS 1.3 only).
    pub tls12_ciphers: &'static [&'static str],
    /// TLS 1.3 suites (OpenSSL's defaults; nginx cannot set them without `ssl_conf_command`).
    pub tls13_ciphersuites: &'static [&'static str],
    /// nginx `ssl_ecdh_curve`, in preference order.
    pub curves: &'static [&'static str],
    /// nginx `ssl_prefer_server_ciphers`.
    pub prefer_server_ciphers: bool,
    /// Minimum HSTS max-age the guideline asks for (two years).
    pub hsts_min_age: u64,
}

const TLS13_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Guideline 6.0 intermediate (DHE suites were dropped in 5.8, so no dhparam is needed).
pub const INTERMEDIATE: Policy = Policy {
    profile: Profile::Intermediate,
    protocols: &["TLSv1.2", "TLSv1.3"],
    tls12_ciphers: &[
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ],
    tls13_ciphersuites: TLS13_SUITES,
    curves: &["X25519", "prime256v1", "secp384r1"],
    prefer_server_ciphers: false,
    hsts_min_age: 63_072_000,
};

/// Guideline 6.0 modern.
pub const MODERN: Policy = Policy {
    profile: Profile::Modern,
    protocols: &["TLSv1.3"],
    tls12_ciphers: &[],
    tls13_ciphersuites: TLS13_SUITES,
    curves: &["X25519", "prime256v1", "secp384r1"],
    prefer_server_ciphers: false,
    hsts_min_age: 63_072_000,
};

impl Profile {
    /// The profile's parameters.
    pub fn policy(self) -> &'static Policy {
        match self {
            Self::Intermediate => &INTERMEDIATE,
            Self::Modern => &MODERN,
        }
    }

    /// The name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Intermediate => "intermediate",
            Self::Modern => "modern",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "intermediate" => Ok(Self::Intermediate),
            "modern" => Ok(Self::Modern),
            other => Err(format!(
                "unknown TLS profile {other:?}; choose intermediate or modern"
            )),
        }
    }
}
