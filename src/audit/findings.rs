//! The audit's findings catalogue: every cap, warning, named weakness and certificate override
//! the grade can report, each with a stable ID (documented in the README's audit section), a
//! severity, a message and a one-line fix. Pure data; [`super::grade`] decides which apply.
//!
//! IDs are `audit.` plus a name that says what was found, never a number, and never change:
//! - `audit.CAP_*` caps the grade at a letter (F, C or B; the grade code names the letter),
//! - `audit.WARN_*` keeps an A at A-,
//! - `audit.WEAK_*` names a known attack the findings expose (no grade effect of its own),
//! - `audit.CERT_*` replaces the grade with T (not trusted) or M (names do not match).
//! - `audit.X509_*` reports a certificate detail (key usage, EKU, SCTs, Must-Staple, validity,
//!   weak signatures, CAA not checked): no grade effect of its own.
//! - `audit.UNTESTED_*` says a probe did not apply or could not run against this server (no RSA
//!   key exchange for ROBOT, no CBC suite the padding probe speaks): information, not graded.
//! - `audit.UNKNOWN_*` says what could not be tested (a probe that timed out, was cut by the
//!   audit's deadline, or got no usable answer). The grade then assumes the worst answer to that
//!   question ([`super::grade::Question`]): it may cap the grade, and never improves it.

use crate::finding::{Finding, Severity};

/// One kind of finding: what the report says when it applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The stable ID scripts match on.
    pub id: &'static str,
    /// How bad.
    pub severity: Severity,
    /// What was found, one line (the caps', warnings' and weaknesses' text in the report).
    pub message: &'static str,
    /// How to fix it, one line.
    pub fix: &'static str,
}

impl Rule {
    /// The finding, with the rule's own message.
    pub fn finding(&self) -> Finding {
        self.finding_with(self.message.to_owned())
    }

    /// The finding, with a message that carries detail (why a certificate is not trusted).
    pub fn finding_with(&self, message: String) -> Finding {
        Finding {
            id: self.id,
            severity: self.severity,
            message,
            fix: self.fix.to_owned(),
        }
    }
}

/// Caps the grade at F.
pub const CAP_SSL2: Rule = Rule {
    id: "audit.CAP_SSL2",
    severity: Severity::Error,
    message: "SSL 2.0 is supported",
    fix: "disable SSL 2.0 (nginx: ssl_protocols TLSv1.2 TLSv1.3)",
};

/// Caps the grade at F.
pub const CAP_SSL3_BEST: Rule = Rule {
    id: "audit.CAP_SSL3_BEST",
    severity: Severity::Error,
    message: "SSL 3.0 is the best protocol offered",
    fix: "enable TLS 1.2 and TLS 1.3, and disable SSL 3.0",
};

/// Caps the grade at F.
pub const CAP_EXPORT: Rule = Rule {
    id: "audit.CAP_EXPORT",
    severity: Severity::Error,
    message: "export cipher suites are accepted (FREAK, LOGJAM)",
    fix: "remove the export suites (Mozilla's intermediate ssl_ciphers)",
};

/// Caps the grade at F.
pub const CAP_ANONYMOUS: Rule = Rule {
    id: "audit.CAP_ANONYMOUS",
    severity: Severity::Error,
    message: "anonymous key exchange is accepted (no authentication)",
    fix: "remove the anonymous (aNULL) suites",
};

/// Caps the grade at F.
pub const CAP_WEAK_CIPHER: Rule = Rule {
    id: "audit.CAP_WEAK_CIPHER",
    severity: Severity::Error,
    message: "cipher suites weaker than 112 bits are accepted (NULL, DES, 40/56-bit)",
    fix: "remove the NULL, DES and 40/56-bit suites",
};

/// Caps the grade at F.
pub const CAP_KEY_1024: Rule = Rule {
    id: "audit.CAP_KEY_1024",
    severity: Severity::Error,
    message: "the certificate key is weaker than RSA 1024",
    fix: "issue a new certificate with an ECDSA P-256 or RSA 2048+ key",
};

/// Caps the grade at F.
pub const CAP_HEARTBLEED: Rule = Rule {
    id: "audit.CAP_HEARTBLEED",
    severity: Severity::Error,
    message: "vulnerable to Heartbleed (CVE-2014-0160)",
    fix: "upgrade OpenSSL, then replace the key and the certificate",
};

/// Caps the grade at F.
pub const CAP_ROBOT: Rule = Rule {
    id: "audit.CAP_ROBOT",
    severity: Severity::Error,
    message: "vulnerable to ROBOT (a Bleichenbacher oracle on RSA key exchange)",
    fix: "upgrade the TLS library (or the load balancer's firmware), or remove the RSA key exchange suites",
};

/// Caps the grade at F.
pub const CAP_PADDING_ORACLE: Rule = Rule {
    id: "audit.CAP_PADDING_ORACLE",
    severity: Severity::Error,
    message: "a CBC padding oracle (POODLE against TLS, Zombie POODLE, GOLDENDOODLE)",
    fix: "upgrade the TLS library (or the load balancer's firmware), or remove the CBC suites",
};

/// Caps the grade at F.
pub const CAP_MD5: Rule = Rule {
    id: "audit.CAP_MD5",
    severity: Severity::Error,
    message: "the certificate is signed with MD5",
    fix: "issue a new certificate (CAs sign with SHA-256)",
};

/// Caps the grade at C.
pub const CAP_NO_TLS12: Rule = Rule {
    id: "audit.CAP_NO_TLS12",
    severity: Severity::Warning,
    message: "neither TLS 1.2 nor TLS 1.3 is supported",
    fix: "enable TLS 1.2 and TLS 1.3 (nginx: ssl_protocols TLSv1.2 TLSv1.3)",
};

/// Caps the grade at C.
pub const CAP_RC4_MODERN: Rule = Rule {
    id: "audit.CAP_RC4_MODERN",
    severity: Severity::Warning,
    message: "RC4 is negotiated with TLS 1.1 or newer",
    fix: "remove the RC4 suites",
};

/// Caps the grade at C.
pub const CAP_SWEET32: Rule = Rule {
    id: "audit.CAP_SWEET32",
    severity: Severity::Warning,
    message: "64-bit block ciphers (3DES) are accepted with TLS 1.1 or newer (SWEET32)",
    fix: "remove the 3DES suites, or order suites on the server with 3DES last",
};

/// Caps the grade at C.
pub const CAP_COMPRESSION: Rule = Rule {
    id: "audit.CAP_COMPRESSION",
    severity: Severity::Warning,
    message: "TLS compression is enabled (CRIME)",
    fix: "disable TLS compression",
};

/// Caps the grade at C.
pub const CAP_POODLE: Rule = Rule {
    id: "audit.CAP_POODLE",
    severity: Severity::Warning,
    message: "SSL 3.0 with CBC suites (POODLE)",
    fix: "disable SSL 3.0",
};

/// Caps the grade at B.
pub const CAP_SSL3: Rule = Rule {
    id: "audit.CAP_SSL3",
    severity: Severity::Warning,
    message: "SSL 3.0 is supported",
    fix: "disable SSL 3.0",
};

/// Caps the grade at B.
pub const CAP_TLS10_11: Rule = Rule {
    id: "audit.CAP_TLS10_11",
    severity: Severity::Warning,
    message: "TLS 1.0 or TLS 1.1 is supported",
    fix: "disable TLS 1.0 and TLS 1.1 (nginx: ssl_protocols TLSv1.2 TLSv1.3)",
};

/// Caps the grade at B.
pub const CAP_NO_FS: Rule = Rule {
    id: "audit.CAP_NO_FS",
    severity: Severity::Warning,
    message: "no forward secrecy for reference clients that could have it",
    fix: "prefer ECDHE suites (Mozilla's intermediate ssl_ciphers)",
};

/// Caps the grade at B.
pub const CAP_NO_AEAD: Rule = Rule {
    id: "audit.CAP_NO_AEAD",
    severity: Severity::Warning,
    message: "no authenticated encryption (AEAD) suites",
    fix: "offer AES-GCM or ChaCha20-Poly1305 suites",
};

/// Caps the grade at B.
pub const CAP_KEY_2048: Rule = Rule {
    id: "audit.CAP_KEY_2048",
    severity: Severity::Warning,
    message: "the certificate key is weaker than RSA 2048",
    fix: "issue a new certificate with an ECDSA P-256 or RSA 2048+ key",
};

/// Caps the grade at B.
pub const CAP_WEAK_DH: Rule = Rule {
    id: "audit.CAP_WEAK_DH",
    severity: Severity::Warning,
    message: "weak Diffie-Hellman parameters (under 2048 bits, LOGJAM)",
    fix: "use a DH group of 2048 bits or more (certctl dhparam), or drop the DHE suites",
};

/// Caps the grade at B.
pub const CAP_RC4: Rule = Rule {
    id: "audit.CAP_RC4",
    severity: Severity::Warning,
    message: "RC4 is accepted",
    fix: "remove the RC4 suites",
};

/// Caps the grade at B.
pub const CAP_CHAIN_INCOMPLETE: Rule = Rule {
    id: "audit.CAP_CHAIN_INCOMPLETE",
    severity: Severity::Warning,
    message: "the certificate chain is incomplete",
    fix: "serve the full chain (fullchain.pem as ssl_certificate)",
};

/// Keeps an A at A-.
pub const WARN_NO_TLS13: Rule = Rule {
    id: "audit.WARN_NO_TLS13",
    severity: Severity::Warning,
    message: "TLS 1.3 is not supported",
    fix: "enable TLS 1.3 (nginx: ssl_protocols TLSv1.2 TLSv1.3)",
};

/// Keeps an A at A-.
pub const WARN_HSTS_DISABLED: Rule = Rule {
    id: "audit.WARN_HSTS_DISABLED",
    severity: Severity::Warning,
    message: "HSTS is disabled (max-age=0)",
    fix: "send Strict-Transport-Security with a max-age of six months or more",
};

/// Keeps an A at A-.
pub const WARN_NO_SECURE_RENEGOTIATION: Rule = Rule {
    id: "audit.WARN_NO_SECURE_RENEGOTIATION",
    severity: Severity::Warning,
    message: "no secure renegotiation (RFC 5746)",
    fix: "upgrade the TLS library to one with RFC 5746",
};

/// A named weakness.
pub const WEAK_DROWN: Rule = Rule {
    id: "audit.WEAK_DROWN",
    severity: Severity::Error,
    message: "DROWN (SSL 2.0 is spoken)",
    fix: "disable SSL 2.0 on every server that uses this key",
};

/// A named weakness.
pub const WEAK_POODLE: Rule = Rule {
    id: "audit.WEAK_POODLE",
    severity: Severity::Warning,
    message: "POODLE (SSL 3.0 with CBC suites)",
    fix: "disable SSL 3.0",
};

/// A named weakness.
pub const WEAK_BEAST: Rule = Rule {
    id: "audit.WEAK_BEAST",
    severity: Severity::Info,
    message: "BEAST (TLS 1.0 with CBC suites; modern clients mitigate it)",
    fix: "disable TLS 1.0",
};

/// A named weakness.
pub const WEAK_SWEET32: Rule = Rule {
    id: "audit.WEAK_SWEET32",
    severity: Severity::Warning,
    message: "SWEET32 (64-bit block ciphers)",
    fix: "remove the 3DES and other 64-bit block cipher suites",
};

/// A named weakness.
pub const WEAK_FREAK: Rule = Rule {
    id: "audit.WEAK_FREAK",
    severity: Severity::Error,
    message: "FREAK (export RSA suites)",
    fix: "remove the export suites",
};

/// A named weakness.
pub const WEAK_LOGJAM: Rule = Rule {
    id: "audit.WEAK_LOGJAM",
    severity: Severity::Warning,
    message: "LOGJAM (Diffie-Hellman of 1024 bits or fewer)",
    fix: "use a DH group of 2048 bits or more and remove the export suites",
};

/// A named weakness.
pub const WEAK_RC4: Rule = Rule {
    id: "audit.WEAK_RC4",
    severity: Severity::Warning,
    message: "RC4 biases",
    fix: "remove the RC4 suites",
};

/// A named weakness.
pub const WEAK_CRIME: Rule = Rule {
    id: "audit.WEAK_CRIME",
    severity: Severity::Warning,
    message: "CRIME (TLS compression)",
    fix: "disable TLS compression",
};

/// A named weakness.
pub const WEAK_HEARTBLEED: Rule = Rule {
    id: "audit.WEAK_HEARTBLEED",
    severity: Severity::Error,
    message: "Heartbleed (CVE-2014-0160)",
    fix: "upgrade OpenSSL, then replace the key and the certificate",
};

/// A named weakness.
pub const WEAK_ROBOT: Rule = Rule {
    id: "audit.WEAK_ROBOT",
    severity: Severity::Error,
    message: "ROBOT (RSA key exchange decrypts as an oracle)",
    fix: "upgrade the TLS library, or remove the RSA key exchange suites",
};

/// A named weakness.
pub const WEAK_PADDING_ORACLE: Rule = Rule {
    id: "audit.WEAK_PADDING_ORACLE",
    severity: Severity::Error,
    message: "CBC padding oracle (POODLE TLS, Zombie POODLE, GOLDENDOODLE)",
    fix: "upgrade the TLS library, or remove the CBC suites",
};

/// ROBOT did not apply or could not run (not graded).
pub const UNTESTED_ROBOT: Rule = Rule {
    id: "audit.UNTESTED_ROBOT",
    severity: Severity::Info,
    message: "ROBOT was not tested",
    fix: "nothing to do when the server accepts no RSA key exchange",
};

/// The CBC padding probe did not apply or could not run (not graded).
pub const UNTESTED_PADDING_ORACLE: Rule = Rule {
    id: "audit.UNTESTED_PADDING_ORACLE",
    severity: Severity::Info,
    message: "the CBC padding oracles were not tested",
    fix: "nothing to do when the server accepts no CBC suite; else check with testssl.sh",
};

/// A certificate detail.
pub const X509_KEY_USAGE: Rule = Rule {
    id: "audit.X509_KEY_USAGE",
    severity: Severity::Warning,
    message: "the certificate's key usage does not allow how the server uses its key",
    fix: "issue a certificate with digitalSignature (and keyEncipherment for RSA key exchange)",
};

/// A certificate detail.
pub const X509_NO_SERVER_AUTH: Rule = Rule {
    id: "audit.X509_NO_SERVER_AUTH",
    severity: Severity::Error,
    message: "the certificate's extended key usage does not include TLS server authentication",
    fix: "issue a certificate with the serverAuth extended key usage",
};

/// A certificate detail.
pub const X509_NO_SCTS: Rule = Rule {
    id: "audit.X509_NO_SCTS",
    severity: Severity::Info,
    message: "the certificate embeds no SCTs (Certificate Transparency); public CAs embed them, Chrome and Safari require them",
    fix: "nothing to do for a private CA; a public CA's certificate should carry SCTs",
};

/// A certificate detail.
pub const X509_MUST_STAPLE_UNSTAPLED: Rule = Rule {
    id: "audit.X509_MUST_STAPLE_UNSTAPLED",
    severity: Severity::Error,
    message: "the certificate requires OCSP stapling (Must-Staple) and the server staples nothing",
    fix: "turn stapling on (nginx: ssl_stapling on; ssl_stapling_verify on;) or issue without Must-Staple",
};

/// A certificate detail.
pub const X509_VALIDITY_TOO_LONG: Rule = Rule {
    id: "audit.X509_VALIDITY_TOO_LONG",
    severity: Severity::Warning,
    message: "the certificate is valid for longer than the CA/Browser Forum allows",
    fix: "issue a shorter-lived certificate (certctl issue; ACME CAs issue 90 days or less)",
};

/// A certificate detail.
pub const X509_WEAK_SIGNATURE: Rule = Rule {
    id: "audit.X509_WEAK_SIGNATURE",
    severity: Severity::Error,
    message: "a certificate in the chain is signed with a weak algorithm",
    fix: "issue a new certificate; serve a chain signed with SHA-256 or better",
};

/// A certificate detail.
pub const X509_CAA_NOT_CHECKED: Rule = Rule {
    id: "audit.X509_CAA_NOT_CHECKED",
    severity: Severity::Info,
    message: "CAA records were not checked: that needs DNS, which the audit does not query",
    fix: "check the domain's CAA records with dig CAA NAME if a CA restriction matters",
};

/// Replaces the grade with T.
pub const CERT_UNTRUSTED: Rule = Rule {
    id: "audit.CERT_UNTRUSTED",
    severity: Severity::Error,
    message: "certificate not trusted",
    fix: "serve a certificate from a trusted CA with its whole chain (certctl issue)",
};

/// Replaces the grade with M.
pub const CERT_NAME_MISMATCH: Rule = Rule {
    id: "audit.CERT_NAME_MISMATCH",
    severity: Severity::Error,
    message: "certificate names do not cover the host",
    fix: "issue a certificate that names this host (certctl issue HOST)",
};

/// Could not decide whether a protocol version is spoken (the grade assumes the worst).
pub const UNKNOWN_PROTOCOL: Rule = Rule {
    id: "audit.UNKNOWN_PROTOCOL",
    severity: Severity::Warning,
    message: "could not test a protocol version",
    fix: "make sure the server answers every ClientHello promptly, or raise --timeout/--deadline",
};

/// Could not finish listing a version's cipher suites or their order.
pub const UNKNOWN_SUITES: Rule = Rule {
    id: "audit.UNKNOWN_SUITES",
    severity: Severity::Warning,
    message: "could not list every accepted cipher suite",
    fix: "make sure the server answers every ClientHello promptly, or raise --timeout/--deadline",
};

/// Could not test for Heartbleed.
pub const UNKNOWN_HEARTBLEED: Rule = Rule {
    id: "audit.UNKNOWN_HEARTBLEED",
    severity: Severity::Warning,
    message: "could not test for Heartbleed",
    fix: "make sure the server answers a TLS 1.2 ClientHello promptly, or raise --timeout/--deadline",
};

/// Could not test for ROBOT (the grade assumes the worst).
pub const UNKNOWN_ROBOT: Rule = Rule {
    id: "audit.UNKNOWN_ROBOT",
    severity: Severity::Warning,
    message: "could not test for ROBOT",
    fix: "make sure the server answers RSA key exchange handshakes promptly, or raise --timeout/--deadline",
};

/// Could not test for a CBC padding oracle (the grade assumes the worst).
pub const UNKNOWN_PADDING_ORACLE: Rule = Rule {
    id: "audit.UNKNOWN_PADDING_ORACLE",
    severity: Severity::Warning,
    message: "could not test for a CBC padding oracle",
    fix: "make sure the server completes a TLS 1.2 CBC handshake promptly, or raise --timeout/--deadline",
};

/// Could not read a full TLS 1.2 handshake (compression, renegotiation, ALPN, OCSP stapling).
pub const UNKNOWN_HANDSHAKE: Rule = Rule {
    id: "audit.UNKNOWN_HANDSHAKE",
    severity: Severity::Warning,
    message: "could not test compression and secure renegotiation",
    fix: "make sure the server answers a TLS 1.2 ClientHello promptly, or raise --timeout/--deadline",
};

/// Could not read the DH parameters of the DHE suites.
pub const UNKNOWN_DH: Rule = Rule {
    id: "audit.UNKNOWN_DH",
    severity: Severity::Warning,
    message: "could not read the Diffie-Hellman parameters",
    fix: "make sure the server answers a DHE ClientHello promptly, or raise --timeout/--deadline",
};

/// The HTTPS request for the HSTS header failed.
pub const UNKNOWN_HSTS: Rule = Rule {
    id: "audit.UNKNOWN_HSTS",
    severity: Severity::Warning,
    message: "could not fetch the HSTS header",
    fix: "make sure the server answers GET / over HTTPS, or raise --timeout/--deadline",
};

/// The plain-HTTP request for the redirect failed (not graded).
pub const UNKNOWN_REDIRECT: Rule = Rule {
    id: "audit.UNKNOWN_REDIRECT",
    severity: Severity::Info,
    message: "could not test the plain-HTTP redirect",
    fix: "check --http-port, or pass --http-port 0 when there is no plain-HTTP listener",
};

/// The full (rustls) handshake that reads the served chain failed (not graded).
pub const UNKNOWN_CHAIN: Rule = Rule {
    id: "audit.UNKNOWN_CHAIN",
    severity: Severity::Info,
    message: "could not complete a TLS 1.2/1.3 handshake to read the served chain",
    fix: "check that the server completes a modern handshake (openssl s_client -connect HOST:PORT)",
};

/// A probe whose answer is reported but not graded (groups, fallback SCSV, resumption) failed.
pub const UNKNOWN_DETAIL: Rule = Rule {
    id: "audit.UNKNOWN_DETAIL",
    severity: Severity::Info,
    message: "could not test a detail of the report",
    fix: "raise --timeout/--deadline for a complete report",
};

/// Every rule, in report order: caps worst first, warnings, weaknesses, certificate overrides,
/// then what could not be tested.
pub const ALL: [&Rule; 59] = [
    &CAP_SSL2,
    &CAP_SSL3_BEST,
    &CAP_EXPORT,
    &CAP_ANONYMOUS,
    &CAP_WEAK_CIPHER,
    &CAP_KEY_1024,
    &CAP_HEARTBLEED,
    &CAP_ROBOT,
    &CAP_PADDING_ORACLE,
    &CAP_MD5,
    &CAP_NO_TLS12,
    &CAP_RC4_MODERN,
    &CAP_SWEET32,
    &CAP_COMPRESSION,
    &CAP_POODLE,
    &CAP_SSL3,
    &CAP_TLS10_11,
    &CAP_NO_FS,
    &CAP_NO_AEAD,
    &CAP_KEY_2048,
    &CAP_WEAK_DH,
    &CAP_RC4,
    &CAP_CHAIN_INCOMPLETE,
    &WARN_NO_TLS13,
    &WARN_HSTS_DISABLED,
    &WARN_NO_SECURE_RENEGOTIATION,
    &WEAK_DROWN,
    &WEAK_POODLE,
    &WEAK_BEAST,
    &WEAK_SWEET32,
    &WEAK_FREAK,
    &WEAK_LOGJAM,
    &WEAK_RC4,
    &WEAK_CRIME,
    &WEAK_HEARTBLEED,
    &WEAK_ROBOT,
    &WEAK_PADDING_ORACLE,
    &UNTESTED_ROBOT,
    &UNTESTED_PADDING_ORACLE,
    &X509_KEY_USAGE,
    &X509_NO_SERVER_AUTH,
    &X509_NO_SCTS,
    &X509_MUST_STAPLE_UNSTAPLED,
    &X509_VALIDITY_TOO_LONG,
    &X509_WEAK_SIGNATURE,
    &X509_CAA_NOT_CHECKED,
    &CERT_UNTRUSTED,
    &CERT_NAME_MISMATCH,
    &UNKNOWN_PROTOCOL,
    &UNKNOWN_SUITES,
    &UNKNOWN_HEARTBLEED,
    &UNKNOWN_ROBOT,
    &UNKNOWN_PADDING_ORACLE,
    &UNKNOWN_HANDSHAKE,
    &UNKNOWN_DH,
    &UNKNOWN_HSTS,
    &UNKNOWN_REDIRECT,
    &UNKNOWN_CHAIN,
    &UNKNOWN_DETAIL,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut ids: Vec<&str> = ALL.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), before, "a duplicate ID");
        for rule in ALL {
            let name = rule.id.strip_prefix("audit.").expect("audit. prefix");
            assert!(
                [
                    "CAP_",
                    "WARN_",
                    "WEAK_",
                    "CERT_",
                    "UNKNOWN_",
                    "UNTESTED_",
                    "X509_"
                ]
                .iter()
                .any(|kind| name.starts_with(kind)),
                "{name}"
            );
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
            assert!(!rule.message.is_empty() && !rule.fix.is_empty(), "{name}");
        }
    }

    #[test]
    fn every_id_is_documented_in_the_readme_and_only_those() {
        let readme = include_str!("../../README.md");
        for rule in ALL {
            assert!(
                readme.contains(&format!("| {} |", rule.id)),
                "{} not in README.md",
                rule.id
            );
        }
        let documented = readme.lines().filter(|l| l.starts_with("| audit.")).count();
        assert_eq!(
            documented,
            ALL.len(),
            "README.md documents an audit ID that does not exist"
        );
    }
}
