//! Checks on certificate chains before they go live, and facts about a certificate for `list`.
//!
//! A new chain is only installed when [`check_issued`] passes: the PEM parses, each certificate is
//! signed by the next (no pinned intermediates, so cross-signs and long chains work), the leaf
//! carries the private key's public key, its SANs are exactly the names asked for, and it is valid
//! now. Pure: PEM text, key bytes and the current time come in as arguments.

use std::collections::BTreeSet;
use std::net::IpAddr;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::Serialize;
use x509_parser::prelude::*;

use crate::names::Identifier;

pub mod expiry;
pub mod report;

/// Why a chain was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// No certificate found in the PEM text.
    #[error("no certificate found in the PEM data")]
    Empty,
    /// The PEM or DER does not parse.
    #[error("certificate {index} in the chain does not parse: {reason}")]
    Parse {
        /// Position in the chain, 0 = leaf.
        index: usize,
        /// Parser message.
        reason: String,
    },
    /// A certificate is not signed by the one after it.
    #[error("certificate {index} in the chain is not signed by the next one ({reason})")]
    BrokenChain {
        /// Position of the certificate whose signature failed.
        index: usize,
        /// What went wrong.
        reason: String,
    },
    /// The leaf's public key is not the private key's.
    #[error("the certificate does not match the private key")]
    KeyMismatch,
    /// The SANs differ from what was asked for.
    #[error("the certificate names {found:?} differ from the names asked for {wanted:?}")]
    NamesDiffer {
        /// Names requested.
        wanted: Vec<String>,
        /// Names on the certificate.
        found: Vec<String>,
    },
    /// No path from the leaf to a trusted root.
    #[error("the chain does not lead to a trusted root ({0})")]
    Untrusted(String),
    /// The certificate does not cover the name a client asked for.
    #[error("the certificate is not valid for {0}")]
    WrongName(String),
    /// Outside its validity period.
    #[error("the certificate is not valid now (valid from {not_before} to {not_after})")]
    NotValidNow {
        /// RFC 3339 start.
        not_before: String,
        /// RFC 3339 end.
        not_after: String,
    },
}

/// What `list` and the issue summary show about a certificate.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct CertInfo {
    /// Serial number, lower-case hex.
    pub serial: String,
    /// The SANs (DNS names and IP addresses) in certificate order.
    pub names: Vec<String>,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// The issuer's Common Name (or the whole DN when it has none).
    pub issuer: String,
    /// The leaf's DER SubjectPublicKeyInfo.
    #[serde(skip)]
    pub spki: Vec<u8>,
    /// OCSP responder URLs from the Authority Information Access extension (Let's Encrypt
    /// certificates have none since 2025, so nginx must not be told to staple them).
    pub ocsp_urls: Vec<String>,
}

/// The certificates of a PEM chain, each re-encoded as one canonical PEM block (LF line
/// ends, 64 columns), so what certctl writes never carries the CA's stray text or CRLFs.
pub fn pem_blocks(chain_pem: &[u8]) -> Result<Vec<String>, VerifyError> {
    let config = ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF);
    Ok(parse_pem_chain(chain_pem)?
        .iter()
        .map(|der| ::pem::encode_config(&::pem::Pem::new("CERTIFICATE", der.as_ref()), config))
        .collect())
}

/// Splits PEM text into DER certificates, leaf first.
pub fn parse_pem_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, VerifyError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .enumerate()
        .map(|(index, c)| {
            c.map_err(|e| VerifyError::Parse {
                index,
                reason: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if certs.is_empty() {
        return Err(VerifyError::Empty);
    }
    Ok(certs)
}

/// Reads the facts about a single DER certificate.
pub fn cert_info(der: &[u8]) -> Result<CertInfo, VerifyError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| VerifyError::Parse {
        index: 0,
        reason: e.to_string(),
    })?;
    Ok(CertInfo {
        serial: cert.raw_serial_as_string().replace(':', ""),
        names: san_strings(&cert),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        issuer: cert
            .issuer()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| cert.issuer().to_string()),
        spki: cert.public_key().raw.to_vec(),
        ocsp_urls: ocsp_urls(&cert),
    })
}

/// Checks a freshly issued chain (PEM, leaf first) before it goes live. See the module docs.
pub fn check_issued(
    chain_pem: &[u8],
    key_spki: &[u8],
    wanted: &[Identifier],
    now_unix: i64,
) -> Result<CertInfo, VerifyError> {
    let chain = parse_pem_chain(chain_pem)?;
    check_links(&chain)?;
    let info = cert_info(&chain[0])?;
    if info.spki != key_spki {
        return Err(VerifyError::KeyMismatch);
    }
    check_names(&info, wanted)?;
    if now_unix < info.not_before || now_unix > info.not_after {
        return Err(VerifyError::NotValidNow {
            not_before: rfc3339(info.not_before),
            not_after: rfc3339(info.not_after),
        });
    }
    Ok(info)
}

/// Checks that a certificate names exactly `wanted`, in any order.
pub fn check_names(info: &CertInfo, wanted: &[Identifier]) -> Result<(), VerifyError> {
    let wanted_set: BTreeSet<String> = wanted.iter().map(Identifier::as_string).collect();
    let found_set: BTreeSet<String> = info.names.iter().cloned().collect();
    if wanted_set != found_set {
        return Err(VerifyError::NamesDiffer {
            wanted: wanted_set.into_iter().collect(),
            found: found_set.into_iter().collect(),
        });
    }
    Ok(())
}

/// True when a chain (PEM, leaf first) leads to the issuer named `common_name`: the topmost
/// certificate is issued by it, or one of the certificates is it. What `--preferred-chain` matches.
pub fn chain_leads_to(chain_pem: &[u8], common_name: &str) -> bool {
    let Ok(chain) = parse_pem_chain(chain_pem) else {
        return false;
    };
    let cn = |name: &X509Name<'_>| {
        name.iter_common_name()
            .next()
            .and_then(|c| c.as_str().ok())
            .map(str::to_owned)
    };
    let parsed: Vec<X509Certificate<'_>> = chain
        .iter()
        .filter_map(|der| X509Certificate::from_der(der).ok().map(|(_, c)| c))
        .collect();
    parsed
        .iter()
        .skip(1)
        .any(|c| cn(c.subject()).as_deref() == Some(common_name))
        || parsed
            .last()
            .is_some_and(|top| cn(top.issuer()).as_deref() == Some(common_name))
}

/// Checks that a chain (leaf first, intermediates in any order) leads to one of `roots`, for TLS
/// server use, at `now_unix`, and when `name` is given, that the leaf covers it. Paths are built
/// by rustls-webpki, so cross-signed roots and long chains work and no intermediate is pinned.
pub fn check_trusted(
    chain: &[CertificateDer<'_>],
    roots: &[CertificateDer<'_>],
    name: Option<&str>,
    now_unix: i64,
) -> Result<(), VerifyError> {
    check_anchored(chain, &Anchors::new(roots), name, now_unix)
}

/// Roots made ready for path building once, for many checks against the same roots (a root that
/// does not parse is left out).
pub struct Anchors<'a>(Vec<rustls_pki_types::TrustAnchor<'a>>);

impl<'a> Anchors<'a> {
    /// The anchors of `roots`.
    pub fn new(roots: &'a [CertificateDer<'a>]) -> Self {
        Self(
            roots
                .iter()
                .filter_map(|root| webpki::anchor_from_trusted_cert(root).ok())
                .collect(),
        )
    }
}

/// [`check_trusted`] against roots already made [`Anchors`].
pub fn check_anchored(
    chain: &[CertificateDer<'_>],
    anchors: &Anchors<'_>,
    name: Option<&str>,
    now_unix: i64,
) -> Result<(), VerifyError> {
    let (leaf, intermediates) = chain.split_first().ok_or(VerifyError::Empty)?;
    let anchors = &anchors.0;
    let end_entity = webpki::EndEntityCert::try_from(leaf).map_err(|e| VerifyError::Parse {
        index: 0,
        reason: format!("{e:?}"),
    })?;
    let now = rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(now_unix).unwrap_or_default(),
    ));
    end_entity
        .verify_for_usage(
            rustls::crypto::aws_lc_rs::default_provider()
                .signature_verification_algorithms
                .all,
            anchors,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(|e| match e {
            webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. } => {
                let info = cert_info(leaf).ok();
                VerifyError::NotValidNow {
                    not_before: info
                        .as_ref()
                        .map_or_else(String::new, |i| rfc3339(i.not_before)),
                    not_after: info
                        .as_ref()
                        .map_or_else(String::new, |i| rfc3339(i.not_after)),
                }
            }
            other => VerifyError::Untrusted(webpki_reason(&other, chain)),
        })?;
    if let Some(name) = name {
        let server_name = rustls_pki_types::ServerName::try_from(name)
            .map_err(|_| VerifyError::WrongName(name.to_owned()))?;
        end_entity
            .verify_is_valid_for_subject_name(&server_name)
            .map_err(|_| VerifyError::WrongName(name.to_owned()))?;
    }
    Ok(())
}

/// What a person needs to know about a failed path: which issuer is missing, or why a
/// certificate cannot be the server's own.
fn webpki_reason(e: &webpki::Error, chain: &[CertificateDer<'_>]) -> String {
    match e {
        webpki::Error::UnknownIssuer => {
            let top = chain
                .last()
                .and_then(|der| X509Certificate::from_der(der).ok())
                .map(|(_, c)| c.issuer().to_string());
            match top {
                Some(issuer) => format!(
                    "issuer unknown: no trusted root or known intermediate for \"{issuer}\", the issuer of the last certificate sent; add its root with --ca-bundle, or send the missing intermediate"
                ),
                None => "issuer unknown: an intermediate is missing or the root is not trusted".into(),
            }
        }
        webpki::Error::CaUsedAsEndEntity => "the server's own certificate is a CA certificate (basicConstraints CA:TRUE, as `openssl req -x509` makes): issue a leaf certificate (CA:FALSE) from that CA for the server, and keep the CA certificate in --ca-bundle".into(),
        webpki::Error::InvalidSignatureForPublicKey => "a signature does not verify".into(),
        other => format!("{other:?}"),
    }
}

/// Each certificate must name the next as issuer and carry a signature the next one's key verifies.
pub(crate) fn check_links(chain: &[CertificateDer<'_>]) -> Result<(), VerifyError> {
    let parsed = chain
        .iter()
        .enumerate()
        .map(|(index, der)| {
            X509Certificate::from_der(der)
                .map(|(_, c)| c)
                .map_err(|e| VerifyError::Parse {
                    index,
                    reason: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (index, pair) in parsed.windows(2).enumerate() {
        let (child, parent) = (&pair[0], &pair[1]);
        if child.issuer() != parent.subject() {
            return Err(VerifyError::BrokenChain {
                index,
                reason: format!(
                    "issuer {} is not the next subject {}",
                    child.issuer(),
                    parent.subject()
                ),
            });
        }
        child
            .verify_signature(Some(parent.public_key()))
            .map_err(|e| VerifyError::BrokenChain {
                index,
                reason: e.to_string(),
            })?;
    }
    Ok(())
}

fn san_strings(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(dns.to_ascii_lowercase()),
            GeneralName::IPAddress(bytes) => ip_from_bytes(bytes).map(|ip| ip.to_string()),
            _ => None,
        })
        .collect()
}

fn ocsp_urls(cert: &X509Certificate<'_>) -> Vec<String> {
    access_locations(cert, "1.3.6.1.5.5.7.48.1")
}

/// The URIs an Authority Information Access extension gives for `method` (an access method
/// OID: OCSP, caIssuers).
pub fn access_locations(cert: &X509Certificate<'_>, method: &str) -> Vec<String> {
    cert.extensions()
        .iter()
        .filter_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(aia) => Some(aia),
            _ => None,
        })
        .flat_map(|aia| aia.accessdescs.iter())
        .filter(|desc| desc.access_method.to_id_string() == method)
        .filter_map(|desc| match &desc.access_location {
            GeneralName::URI(uri) => Some((*uri).to_owned()),
            _ => None,
        })
        .collect()
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

/// Formats Unix seconds as RFC 3339 UTC, for messages and tables.
pub fn rfc3339(unix: i64) -> String {
    ::time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&::time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyType, PrivateKey};
    use rcgen::{CertificateParams, DnType, IsCa, Issuer, KeyPair};

    /// A tiny CA: root → intermediate → leaf, all made with rcgen.
    struct TestPki {
        root_pem: String,
        chain_pem: String,
        leaf_key: PrivateKey,
        now: i64,
    }

    fn pki(names: &[&str]) -> TestPki {
        let root_key = KeyPair::generate().unwrap();
        let mut root_params = CertificateParams::default();
        root_params
            .distinguished_name
            .push(DnType::CommonName, "Test Root");
        root_params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let root_pem = root_params.self_signed(&root_key).unwrap().pem();
        let root_issuer = Issuer::new(root_params.clone(), &root_key);

        let int_key = KeyPair::generate().unwrap();
        let mut int_params = CertificateParams::default();
        int_params
            .distinguished_name
            .push(DnType::CommonName, "Test Intermediate");
        int_params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let int_cert = int_params.signed_by(&int_key, &root_issuer).unwrap();
        let int_issuer = Issuer::new(int_params, &int_key);

        let leaf_key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let leaf_pair = KeyPair::from_pem(&leaf_key.to_pem()).unwrap();
        let leaf_params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let now = leaf_params.not_before.unix_timestamp() + 60;
        let leaf = leaf_params.signed_by(&leaf_pair, &int_issuer).unwrap();
        TestPki {
            root_pem,
            chain_pem: format!("{}{}", leaf.pem(), int_cert.pem()),
            leaf_key,
            now,
        }
    }

    fn ids(names: &[&str]) -> Vec<Identifier> {
        names
            .iter()
            .map(|n| crate::names::parse_identifier(n).unwrap())
            .collect()
    }

    #[test]
    fn accepts_a_good_chain() {
        let p = pki(&["a.test", "b.test"]);
        let info = check_issued(
            p.chain_pem.as_bytes(),
            &p.leaf_key.public_key_spki(),
            &ids(&["b.test", "a.test"]),
            p.now,
        )
        .unwrap();
        assert_eq!(info.names, vec!["a.test", "b.test"]);
        assert_eq!(info.issuer, "Test Intermediate");
    }

    #[test]
    fn trusts_a_chain_only_up_to_a_given_root() {
        let p = pki(&["a.test", "www.a.test"]);
        let chain = parse_pem_chain(p.chain_pem.as_bytes()).unwrap();
        let root = parse_pem_chain(p.root_pem.as_bytes()).unwrap();
        assert_eq!(
            check_trusted(&chain, &root, Some("www.a.test"), p.now),
            Ok(())
        );
        assert_eq!(check_trusted(&chain, &root, None, p.now), Ok(()));
        assert_eq!(
            check_trusted(&chain, &root, Some("b.test"), p.now),
            Err(VerifyError::WrongName("b.test".into()))
        );
        // Another CA's root, or a missing intermediate: no path.
        let other = pki(&["a.test"]);
        let other_root = parse_pem_chain(other.root_pem.as_bytes()).unwrap();
        assert!(matches!(
            check_trusted(&chain, &other_root, None, p.now),
            Err(VerifyError::Untrusted(_))
        ));
        assert!(matches!(
            check_trusted(&chain[..1], &root, None, p.now),
            Err(VerifyError::Untrusted(_))
        ));
        assert!(matches!(
            check_trusted(&chain, &root, None, 0),
            Err(VerifyError::NotValidNow { .. })
        ));
    }

    #[test]
    fn untrusted_chains_say_what_a_person_can_fix() {
        let p = pki(&["a.test"]);
        let chain = parse_pem_chain(p.chain_pem.as_bytes()).unwrap();
        // The leaf alone: its intermediate is missing, and the message names that issuer.
        let root = parse_pem_chain(p.root_pem.as_bytes()).unwrap();
        let err = check_trusted(&chain[..1], &root, None, p.now).unwrap_err();
        assert!(err.to_string().contains("--ca-bundle"), "{err}");

        // A CA certificate used as the server's own (what `openssl req -x509` makes).
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["ca.test".to_owned()]).unwrap();
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        let der = vec![ca.der().clone()];
        let err = check_trusted(&der, &der, None, p.now).unwrap_err();
        assert!(err.to_string().contains("CA:TRUE"), "{err}");
    }

    #[test]
    fn report_grades_like_a_monitoring_check() {
        use crate::finding::Severity as Status;
        use report::{Inputs, report, worst};
        let p = pki(&["a.test"]);
        let root = parse_pem_chain(p.root_pem.as_bytes()).unwrap();
        let spki = p.leaf_key.public_key_spki();
        let names = vec!["a.test".to_owned()];
        let base = Inputs {
            chain_pem: p.chain_pem.as_bytes(),
            key_spki: Some(&spki),
            roots: &root,
            names: Some(&names),
            hostname: Some("a.test"),
            now: p.now,
            warn_days: Some(30),
            ari_end: None,
        };
        let (findings, info) = report(&base);
        assert_eq!(worst(&findings), Status::Ok, "{findings:?}");
        assert_eq!(findings.len(), 6);
        let not_after = info.unwrap().not_after;

        let status_of = |inputs: &Inputs<'_>, check: &str| {
            let (findings, _) = report(inputs);
            findings
                .iter()
                .find(|f| f.check == check)
                .map(|f| f.severity())
        };
        let soon = Inputs {
            now: not_after - 5 * 86_400,
            ..base
        };
        assert_eq!(status_of(&soon, "validity"), Some(Status::Warning));
        let expired = Inputs {
            now: not_after + 1,
            ..base
        };
        assert_eq!(status_of(&expired, "validity"), Some(Status::Error));
        let other = PrivateKey::generate(KeyType::EcdsaP256)
            .unwrap()
            .public_key_spki();
        let wrong_key = Inputs {
            key_spki: Some(&other),
            ..base
        };
        assert_eq!(status_of(&wrong_key, "key"), Some(Status::Error));
        let wrong_host = Inputs {
            hostname: Some("b.test"),
            ..base
        };
        assert_eq!(status_of(&wrong_host, "hostname"), Some(Status::Error));
        let untrusted = Inputs { roots: &[], ..base };
        assert_eq!(status_of(&untrusted, "trust"), Some(Status::Error));

        // A bundle with the intermediate first: out of order, and said so.
        let blocks: Vec<&str> = p
            .chain_pem
            .split_inclusive("-----END CERTIFICATE-----\n")
            .collect();
        let swapped = format!("{}{}", blocks[1], blocks[0]);
        let misordered = Inputs {
            chain_pem: swapped.as_bytes(),
            ..base
        };
        let (findings, _) = report(&misordered);
        let order = findings.iter().find(|f| f.check == "order").unwrap();
        assert_eq!(order.severity(), Status::Error);
        assert!(
            order.detail().contains("out of order"),
            "{}",
            order.detail()
        );
        let garbage = Inputs {
            chain_pem: b"nope",
            ..base
        };
        assert_eq!(status_of(&garbage, "parse"), Some(Status::Error));
    }

    #[test]
    fn knows_which_issuer_a_chain_leads_to() {
        let p = pki(&["a.test"]);
        assert!(chain_leads_to(p.chain_pem.as_bytes(), "Test Root"));
        assert!(chain_leads_to(p.chain_pem.as_bytes(), "Test Intermediate"));
        assert!(!chain_leads_to(p.chain_pem.as_bytes(), "Other Root"));
        assert!(!chain_leads_to(b"garbage", "Test Root"));
    }

    #[test]
    fn refuses_wrong_key() {
        let p = pki(&["a.test"]);
        let other = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        assert_eq!(
            check_issued(
                p.chain_pem.as_bytes(),
                &other.public_key_spki(),
                &ids(&["a.test"]),
                p.now
            ),
            Err(VerifyError::KeyMismatch)
        );
    }

    #[test]
    fn refuses_different_names() {
        let p = pki(&["a.test"]);
        let err = check_issued(
            p.chain_pem.as_bytes(),
            &p.leaf_key.public_key_spki(),
            &ids(&["a.test", "b.test"]),
            p.now,
        )
        .unwrap_err();
        assert!(matches!(err, VerifyError::NamesDiffer { .. }));
    }

    #[test]
    fn refuses_expired_or_not_yet_valid() {
        let p = pki(&["a.test"]);
        let spki = p.leaf_key.public_key_spki();
        let info = cert_info(&parse_pem_chain(p.chain_pem.as_bytes()).unwrap()[0]).unwrap();
        for t in [info.not_before - 1, info.not_after + 1] {
            assert!(matches!(
                check_issued(p.chain_pem.as_bytes(), &spki, &ids(&["a.test"]), t),
                Err(VerifyError::NotValidNow { .. })
            ));
        }
    }

    #[test]
    fn refuses_a_chain_whose_intermediate_did_not_sign_the_leaf() {
        let a = pki(&["a.test"]);
        let b = pki(&["a.test"]);
        let a_leaf = a
            .chain_pem
            .split_inclusive("-----END CERTIFICATE-----\n")
            .next()
            .unwrap();
        let b_int = b
            .chain_pem
            .split_inclusive("-----END CERTIFICATE-----\n")
            .nth(1)
            .unwrap();
        let mixed = format!("{a_leaf}{b_int}");
        assert!(matches!(
            check_issued(
                mixed.as_bytes(),
                &a.leaf_key.public_key_spki(),
                &ids(&["a.test"]),
                a.now
            ),
            Err(VerifyError::BrokenChain { index: 0, .. })
        ));
    }

    #[test]
    fn refuses_garbage() {
        assert_eq!(parse_pem_chain(b"hello"), Err(VerifyError::Empty));
    }
}
