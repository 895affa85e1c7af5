//! The audit report: what the scan found and the grade, as the CLI prints it and `--json`
//! serializes it. Data only: the scan ([`super::scan`]) fills it in.

use serde::Serialize;

use super::clients;
use super::grade::{Grade, Rating};
use super::oracle::Verdict;

/// One protocol version's findings.
#[derive(Clone, Debug, Serialize)]
pub struct ProtocolReport {
    /// "TLS 1.2".
    pub protocol: &'static str,
    /// Spoken.
    pub supported: bool,
    /// Accepted suites, in the order the server picked them.
    pub suites: Vec<SuiteReport>,
    /// The server's order decides.
    pub server_order: Option<bool>,
}

/// One accepted suite.
#[derive(Clone, Debug, Serialize)]
pub struct SuiteReport {
    /// IANA value.
    pub id: String,
    /// IANA name.
    pub name: String,
    /// Strength in bits.
    pub bits: u16,
    /// Forward secrecy.
    pub forward_secrecy: bool,
    /// AEAD.
    pub aead: bool,
}

/// The certificate as served.
#[derive(Clone, Debug, Serialize)]
pub struct CertReport {
    /// Names on the leaf.
    pub names: Vec<String>,
    /// Issuer CN.
    pub issuer: String,
    /// Expiry (RFC 3339).
    pub not_after: String,
    /// "EC 256" or "RSA 2048".
    pub key: String,
    /// Certificates sent.
    pub chain_length: usize,
    /// Trusted (chain to a root, valid now, no SHA-1).
    pub trusted: bool,
    /// Why not.
    pub problem: Option<String>,
    /// Covers the name checked.
    pub name_matches: bool,
    /// What the certificate was checked against: the host name (or --sni), else the IP address.
    pub checked_name: String,
    /// An intermediate is missing from what the server sends (found in --ca-bundle or at the
    /// certificate's AIA caIssuers URL).
    pub incomplete: bool,
    /// Where the missing certificates came from: "--ca-bundle", or the AIA URLs, in order.
    pub completed_from: Vec<String>,
    /// The chain: the certificates sent, then those an AIA URL supplied.
    pub chain: Vec<super::cert::ChainCert>,
    /// Key usage, EKU, SCTs, Must-Staple, validity, weak signatures, and their findings.
    pub details: super::cert::Details,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    /// The grade, first.
    pub grade: Grade,
    /// The details of the grade.
    pub rating: Rating,
    /// Where.
    pub target: String,
    /// Per protocol.
    pub protocols: Vec<ProtocolReport>,
    /// The certificate.
    pub certificate: Option<CertReport>,
    /// HSTS max-age on the HTTPS response (None: no header).
    pub hsts_max_age: Option<u64>,
    /// The HSTS header as sent.
    pub hsts_header: Option<String>,
    /// Plain HTTP redirects to HTTPS on the same host.
    pub http_redirect: Option<Result<String, String>>,
    /// SSL 2.0 is spoken (DROWN).
    pub sslv2: bool,
    /// Heartbleed: None when the server does no heartbeats at all.
    pub heartbleed: Option<bool>,
    /// ROBOT (a Bleichenbacher oracle on RSA key exchange): `{"status": "not_vulnerable" |
    /// "vulnerable" | "untested" | "unknown", "detail": …}`.
    pub robot: Verdict,
    /// The CBC padding oracles (POODLE TLS, Zombie POODLE, GOLDENDOODLE), as `robot`.
    pub cbc_padding_oracle: Verdict,
    /// RFC 5746 secure renegotiation.
    pub secure_renegotiation: bool,
    /// The DH prime of the DHE suites, in bits (None: no DHE suite).
    pub dh_bits: Option<u32>,
    /// TLS compression accepted (CRIME).
    pub compression: bool,
    /// Named groups accepted for key exchange (TLS 1.3, else TLS 1.2 ECDHE).
    pub groups: Vec<String>,
    /// TLS_FALLBACK_SCSV honoured (a downgraded hello is refused); None when only one version.
    pub fallback_scsv: Option<bool>,
    /// A second connection resumes the first one's session (IDs or tickets).
    pub resumption: Option<bool>,
    /// ALPN h2 offered.
    pub h2: bool,
    /// An OCSP response is stapled to the TLS 1.2 handshake (None: no TLS 1.2 to ask over).
    pub ocsp_stapling: Option<bool>,
    /// What each reference client would negotiate.
    pub clients: Vec<clients::Handshake>,
    /// Connections made.
    pub connections: usize,
    /// Everything was tested: no probe timed out, was cut by the deadline or got no usable
    /// answer (else `rating.unknowns` says what is missing).
    pub complete: bool,
    /// How long it took, ms.
    pub elapsed_ms: u128,
}
