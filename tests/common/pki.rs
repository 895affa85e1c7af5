//! Test certificate authorities made with rcgen: a self-signed root, intermediates under it, and
//! leaves signed by either. The one place tests build a CA (pebble's HTTPS API, the audit's
//! battery and legacy servers, `install-cert`'s bring-your-own PKI).

use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls_pki_types::CertificateDer;

/// A CA: its certificate and the issuer that signs with its key.
pub struct TestCa {
    cert: Certificate,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    /// A self-signed root CA named `common_name`, with a fresh ECDSA P-256 key.
    pub fn root(common_name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let params = ca_params(common_name);
        let cert = params.self_signed(&key).unwrap();
        Self {
            cert,
            issuer: Issuer::new(params, key),
        }
    }

    /// An intermediate CA named `common_name`, signed by this CA.
    pub fn intermediate(&self, common_name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let params = ca_params(common_name);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Self {
            cert,
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `names` (DNS names or IP addresses), signed by this CA, for `key`.
    pub fn leaf(&self, names: &[&str], key: &KeyPair) -> Certificate {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        self.sign(CertificateParams::new(names).unwrap(), key)
    }

    /// A certificate made from `params` (validity, extra SANs …), signed by this CA, for `key`.
    pub fn sign(&self, params: CertificateParams, key: &KeyPair) -> Certificate {
        params.signed_by(key, &self.issuer).unwrap()
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// The CA certificate, DER.
    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }
}

/// A CA's parameters: its common name, and no limit on the path below it.
fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
}

/// An Authority Information Access extension naming `urls` as caIssuers (RFC 5280 4.2.2.1):
/// where a client that lacks a certificate's issuer may fetch it.
pub fn aia_ca_issuers(urls: &[&str]) -> rcgen::CustomExtension {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match content.len() {
            n @ 0..=127 => out.push(n as u8),
            n => out.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(content);
        out
    }
    // id-ad-caIssuers, 1.3.6.1.5.5.7.48.2.
    let method = [0x06, 0x08, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
    let descriptions: Vec<u8> = urls
        .iter()
        .flat_map(|url| tlv(0x30, &[&method[..], &tlv(0x86, url.as_bytes())].concat()))
        .collect();
    rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], tlv(0x30, &descriptions))
}

/// A bring-your-own PKI in `dir`: `ca.pem` (a root, "BYO CA"), `cert.pem` for `names` valid from
/// `valid_since_days` ago until `not_after_days` from now (negative: already expired), `key.pem`.
pub fn byo_pki(dir: &std::path::Path, names: &[&str], valid_since_days: i64, not_after_days: i64) {
    let ca = TestCa::root("BYO CA");
    let key = KeyPair::generate().unwrap();
    let mut leaf =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let now = time::OffsetDateTime::now_utc();
    leaf.not_before = now - time::Duration::days(valid_since_days);
    leaf.not_after = now + time::Duration::days(not_after_days);
    let cert = ca.sign(leaf, &key);
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

/// `install-cert NAME --cert … --chain … --key …` for a [`byo_pki`] made in `dir` (created) for
/// `name`: the arguments of a certificate brought by hand.
pub fn byo_install_args(
    dir: &std::path::Path,
    name: &str,
    valid_since_days: i64,
    not_after_days: i64,
) -> Vec<String> {
    std::fs::create_dir_all(dir).unwrap();
    byo_pki(dir, &[name], valid_since_days, not_after_days);
    let p = |f: &str| dir.join(f).display().to_string();
    vec![
        "install-cert".into(),
        name.into(),
        "--cert".into(),
        p("cert.pem"),
        "--chain".into(),
        p("ca.pem"),
        "--key".into(),
        p("key.pem"),
    ]
}
