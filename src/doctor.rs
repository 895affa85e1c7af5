//! What `certctl doctor` makes of the facts it gathered before an issue: CAA records (RFC 8659,
//! with RFC 8657's `accounturi` and `validationmethods`) against the CA's CAA identities and the
//! account, a name's A/AAAA records against this machine's addresses, the clock against the
//! CA's, and the store's renewal history; each answer a [`Finding`] with a stable `doctor.*` ID
//! and a fix. Pure: `ops::doctor` asks DNS, the CA, nginx and the store, and hands the answers
//! here.

use std::net::IpAddr;

use serde::Serialize;

use crate::finding::{Finding, Severity};
use crate::renewal::due::FailureKind;
use crate::renewal::state::RenewalState;

/// The validation method certctl uses (RFC 8555 §8.3), as RFC 8657's `validationmethods` names it.
pub const METHOD: &str = "http-01";

/// The CAA tags a CA must understand (RFC 8659 §4): a critical record with any other tag
/// forbids issuance.
const KNOWN_TAGS: [&str; 3] = ["issue", "issuewild", "iodef"];

/// One CAA record as DNS returned it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CaaRecord {
    /// The issuer-critical flag (bit 0 of the flags, 128).
    pub critical: bool,
    /// The property tag (`issue`, `issuewild`, `iodef`, …), as written.
    pub tag: String,
    /// The property value, as text.
    pub value: String,
}

/// The relevant CAA record set: the first non-empty one climbing from the name to the root
/// (RFC 8659 §3), and where it was found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CaaSet {
    /// The domain whose records these are (the name itself or a parent).
    pub domain: String,
    /// Its records.
    pub records: Vec<CaaRecord>,
}

/// The domains whose CAA records are looked up for `name`, in order: the name, then each
/// parent up to the top-level domain (RFC 8659 §3; the root holds no CAA records).
pub fn caa_lookup_names(name: &str) -> Vec<String> {
    let name = name.trim_end_matches('.');
    let mut out = vec![name.to_owned()];
    let mut rest = name;
    while let Some((_, parent)) = rest.split_once('.') {
        out.push(parent.to_owned());
        rest = parent;
    }
    out
}

/// An `issue`/`issuewild` value (RFC 8659 §4.2): the CA's domain, if any, and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueValue {
    /// The issuer domain name, lower case; None for `;` (nobody may issue).
    pub issuer: Option<String>,
    /// `tag=value` pairs in order.
    pub parameters: Vec<(String, String)>,
}

fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// Parses an `issue`/`issuewild` value. A malformed one is an error: a CA treats it as naming
/// no issuer (RFC 8659 §4.2), so it authorizes nobody.
pub fn parse_issue_value(value: &str) -> Result<IssueValue, String> {
    let wsp = |c: char| c == ' ' || c == '\t';
    let (name, params) = match value.split_once(';') {
        Some((n, p)) => (n, Some(p)),
        None => (value, None),
    };
    let name = name.trim_matches(wsp);
    let issuer = match name {
        "" => None,
        n if n.split('.').all(is_label) => Some(n.to_ascii_lowercase()),
        n => return Err(format!("{n:?} is not a domain name")),
    };
    let mut parameters = Vec::new();
    for param in params
        .into_iter()
        .flat_map(|p| p.split(';'))
        .map(|p| p.trim_matches(wsp))
        .filter(|p| !p.is_empty())
    {
        let (tag, val) = param
            .split_once('=')
            .ok_or_else(|| format!("parameter {param:?} has no '='"))?;
        let (tag, val) = (tag.trim_matches(wsp), val.trim_matches(wsp));
        let tag_ok = is_label(tag);
        if !tag_ok {
            return Err(format!("parameter tag {tag:?} is malformed"));
        }
        if val
            .bytes()
            .any(|c| !(0x21..=0x7e).contains(&c) || c == b';')
        {
            return Err(format!("parameter {tag}'s value {val:?} is malformed"));
        }
        parameters.push((tag.to_ascii_lowercase(), val.to_owned()));
    }
    Ok(IssueValue { issuer, parameters })
}

/// What certctl's issue will present to the CA: its CAA identities, the account URL (None when
/// no account is stored yet), the validation method, and whether the name is a wildcard.
#[derive(Clone, Debug)]
pub struct Applicant<'a> {
    /// The CA's CAA identities (`letsencrypt.org`); empty when the CA names none.
    pub identities: &'a [String],
    /// The stored account's URL at that CA.
    pub account: Option<&'a str>,
    /// The name is `*.…`.
    pub wildcard: bool,
}

/// Why one record does not let the applicant issue.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    Malformed(String),
    Nobody,
    OtherCa(String),
    Account(String),
    Method(String),
}

fn check_record(value: &str, who: &Applicant<'_>) -> Result<(), Refusal> {
    let parsed = parse_issue_value(value).map_err(Refusal::Malformed)?;
    let issuer = parsed.issuer.ok_or(Refusal::Nobody)?;
    if !who
        .identities
        .iter()
        .any(|i| i.eq_ignore_ascii_case(&issuer))
    {
        return Err(Refusal::OtherCa(issuer));
    }
    for (tag, val) in &parsed.parameters {
        match tag.as_str() {
            // RFC 8657 §3: an exact match of the account URI.
            "accounturi" if who.account != Some(val.as_str()) => {
                return Err(Refusal::Account(val.clone()));
            }
            // RFC 8657 §4: a comma-separated list of method labels.
            "validationmethods" if !val.split(',').any(|m| m.trim() == METHOD) => {
                return Err(Refusal::Method(val.clone()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The finding for `name` given its relevant CAA set (None: no CAA records up to the TLD).
pub fn evaluate_caa(name: &str, set: Option<&CaaSet>, who: &Applicant<'_>) -> Finding {
    let Some(set) = set.filter(|s| !s.records.is_empty()) else {
        return finding(
            CAA_NONE,
            Severity::Ok,
            format!("{name}: no CAA records up to the top-level domain: any CA may issue"),
            "",
        );
    };
    let at = &set.domain;
    if let Some(r) = set
        .records
        .iter()
        .find(|r| r.critical && !KNOWN_TAGS.iter().any(|t| t.eq_ignore_ascii_case(&r.tag)))
    {
        return finding(
            CAA_CRITICAL,
            Severity::Error,
            format!(
                "{name}: CAA at {at} has a critical `{}` record that CAs do not understand, so none may issue (RFC 8659 §4.1)",
                r.tag
            ),
            format!(
                "remove the issuer-critical flag (128) from {at}'s CAA {} record, or the record",
                r.tag
            ),
        );
    }
    let tag_is = |r: &&CaaRecord, t: &str| r.tag.eq_ignore_ascii_case(t);
    let wild: Vec<&CaaRecord> = set
        .records
        .iter()
        .filter(|r| tag_is(r, "issuewild"))
        .collect();
    let relevant: Vec<&CaaRecord> = if who.wildcard && !wild.is_empty() {
        wild
    } else {
        set.records.iter().filter(|r| tag_is(r, "issue")).collect()
    };
    if relevant.is_empty() {
        return finding(
            CAA_ALLOWS,
            Severity::Ok,
            format!("{name}: CAA at {at} restricts no issuer (no issue records)"),
            "",
        );
    }
    let shown = |r: &CaaRecord| {
        format!(
            "{} {} \"{}\"",
            if r.critical { 128 } else { 0 },
            r.tag,
            r.value
        )
    };
    if who.identities.is_empty() {
        return finding(
            CAA_IDENTITY_UNKNOWN,
            Severity::Unknown,
            format!(
                "{name}: CAA at {at} names issuers ({}), and this CA publishes no CAA identity to match them against",
                relevant
                    .iter()
                    .map(|r| shown(r))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "pass --caa-identity DOMAIN (the domain the CA's documentation gives for CAA)",
        );
    }
    let mut refusals = Vec::new();
    for r in &relevant {
        match check_record(&r.value, who) {
            Ok(()) => {
                return finding(
                    CAA_ALLOWS,
                    Severity::Ok,
                    format!("{name}: CAA at {at} allows this CA: {}", shown(r)),
                    "",
                );
            }
            Err(why) => refusals.push((*r, why)),
        }
    }
    // The refusal closest to a match explains it best: a record for this CA first.
    refusals.sort_by_key(|(_, why)| match why {
        Refusal::Account(_) | Refusal::Method(_) => 0,
        Refusal::OtherCa(_) => 1,
        Refusal::Nobody => 2,
        Refusal::Malformed(_) => 3,
    });
    let (r, why) = &refusals[0];
    let ca = who.identities.join(" or ");
    let add = format!(
        "add `{at}. CAA 0 {} \"{}\"`",
        if who.wildcard { "issuewild" } else { "issue" },
        who.identities[0]
    );
    match why {
        Refusal::Account(uri) => finding(
            CAA_ACCOUNT,
            Severity::Error,
            format!(
                "{name}: CAA at {at} lets {ca} issue only to account {uri} ({}), and certctl's account is {}",
                shown(r),
                who.account.unwrap_or("not created yet (a new one gets a new URL)")
            ),
            match who.account {
                Some(own) => format!("set accounturi={own} in {at}'s CAA record, or drop accounturi"),
                None => "create the account first (issue once for a name without this CAA record), then put its URL in accounturi".into(),
            },
        ),
        Refusal::Method(methods) => finding(
            CAA_METHOD,
            Severity::Error,
            format!(
                "{name}: CAA at {at} lets {ca} validate only by {methods} ({}); certctl validates by {METHOD}",
                shown(r)
            ),
            format!("add {METHOD} to validationmethods in {at}'s CAA record"),
        ),
        Refusal::OtherCa(_) | Refusal::Nobody | Refusal::Malformed(_) => {
            let detail = match why {
                Refusal::Nobody => " (an empty issuer: nobody may issue)".to_owned(),
                Refusal::Malformed(e) => format!(" (malformed: {e}; it authorizes nobody)"),
                _ => String::new(),
            };
            finding(
                if matches!(why, Refusal::OtherCa(_)) {
                    CAA_OTHER_CA
                } else {
                    CAA_FORBIDS
                },
                Severity::Error,
                format!(
                    "{name}: CAA at {at} does not allow {ca}: {}{detail}",
                    relevant.iter().map(|r| shown(r)).collect::<Vec<_>>().join(", ")
                ),
                add,
            )
        }
    }
}

/// The finding for a name's addresses: `records` from DNS (or `--resolve`), each with whether
/// it is one of this machine's.
pub fn evaluate_addresses(
    name: &str,
    records: &[(IpAddr, bool)],
    overridden: bool,
) -> Vec<Finding> {
    let source = if overridden { "--resolve" } else { "DNS" };
    if records.is_empty() {
        return vec![finding(
            DNS_NO_ADDRESS,
            Severity::Error,
            format!("{name} has no A or AAAA record: the CA cannot reach it"),
            format!("add an A (and AAAA) record for {name} with this machine's public address"),
        )];
    }
    let mut out: Vec<Finding> = records
        .iter()
        .filter(|(_, here)| !here)
        .map(|(ip, _)| {
            let kind = if ip.is_ipv6() { "AAAA" } else { "A" };
            let fix = if ip.is_ipv6() {
                format!("point {name}'s AAAA record at this machine, or remove it: the CA tries IPv6 first")
            } else {
                format!("point {name}'s A record at this machine (behind NAT: forward port 80 here, the port-80 probe tells)")
            };
            finding(
                DNS_NOT_HERE,
                Severity::Warning,
                format!("{name} has {kind} {ip} ({source}), which is not an address of this machine"),
                fix,
            )
        })
        .collect();
    if out.is_empty() {
        let list: Vec<String> = records.iter().map(|(ip, _)| ip.to_string()).collect();
        out.push(finding(
            DNS_ADDRESSES,
            Severity::Ok,
            format!(
                "{name} resolves to {} ({source}): this machine",
                list.join(", ")
            ),
            "",
        ));
    }
    out
}

/// Parses an HTTP `Date` header (IMF-fixdate and its obsolete forms) into Unix seconds.
pub fn parse_http_date(value: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(value.trim()).ok()?;
    t.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs() as i64)
}

/// The finding for this machine's clock against the CA's `Date` (one-second resolution).
pub fn evaluate_clock(local: i64, ca: i64) -> Finding {
    let skew = local - ca;
    let (severity, id) = match skew.abs() {
        0..=5 => (Severity::Ok, CLOCK_OK),
        6..=300 => (Severity::Warning, CLOCK_SKEW),
        _ => (Severity::Error, CLOCK_SKEW),
    };
    let how = match skew {
        0 => "agrees with".to_owned(),
        s if s > 0 => format!("is {s} s ahead of"),
        s => format!("is {} s behind", -s),
    };
    finding(
        id,
        severity,
        format!("this machine's clock {how} the CA's"),
        if severity == Severity::Ok {
            ""
        } else {
            "synchronize the clock: systemctl enable --now systemd-timesyncd (or chrony)"
        },
    )
}

/// The finding for the account certctl would use at this CA (its URL, or none yet).
pub fn evaluate_account(directory_url: &str, account: Option<&str>) -> Finding {
    match account {
        Some(url) => finding(
            ACCOUNT,
            Severity::Ok,
            format!("an account at {directory_url} is stored: {url}"),
            "",
        ),
        None => finding(
            NO_ACCOUNT,
            Severity::Info,
            format!("no account at {directory_url} is stored yet: issue creates one"),
            "pass --agree-tos (and --email) to the first issue",
        ),
    }
}

/// The findings from a stored certificate's renewal history (`cert` is its name).
pub fn evaluate_history(cert: &str, state: &RenewalState, now: i64) -> Vec<Finding> {
    let mut out = Vec::new();
    if state.failures == 0 {
        return out;
    }
    let error = state.last_error.as_deref().unwrap_or("no reason recorded");
    let retry = state.next_retry.filter(|&t| t > now);
    if state.failure_kind == Some(FailureKind::RateLimited) {
        out.push(finding(
            RATE_LIMITED,
            if retry.is_some() {
                Severity::Error
            } else {
                Severity::Warning
            },
            match retry {
                Some(t) => format!(
                    "certificate {cert}: the CA rate-limited its last renewal; no new order before {} ({error})",
                    crate::verify::rfc3339(t)
                ),
                None => format!("certificate {cert}: the CA rate-limited its last renewal ({error})"),
            },
            "wait for the rate limit to pass; do not retry in a loop (certctl renew backs off by itself)",
        ));
    } else {
        out.push(finding(
            RENEWAL_FAILING,
            Severity::Warning,
            format!(
                "certificate {cert}: {} renewal attempt(s) failed in a row, last: {error}",
                state.failures
            ),
            "fix the cause above, then run certctl renew --cert-name NAME --force",
        ));
    }
    out
}

/// The exit code for a list of findings: 0 nothing wrong, 1 warnings (or unknowns), 2 an issue
/// would fail.
pub fn exit_code<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> u8 {
    match findings.into_iter().map(|f| f.severity).max() {
        Some(Severity::Error) => 2,
        Some(Severity::Warning | Severity::Unknown) => 1,
        _ => 0,
    }
}

/// A finding.
pub fn finding(
    id: &'static str,
    severity: Severity,
    message: impl Into<String>,
    fix: impl Into<String>,
) -> Finding {
    Finding {
        id,
        severity,
        message: message.into(),
        fix: fix.into(),
    }
}

/// The name's A/AAAA records are this machine's addresses.
pub const DNS_ADDRESSES: &str = "doctor.DNS_ADDRESSES";
/// The name has no A or AAAA record.
pub const DNS_NO_ADDRESS: &str = "doctor.DNS_NO_ADDRESS";
/// An A or AAAA record is not an address of this machine.
pub const DNS_NOT_HERE: &str = "doctor.DNS_NOT_HERE";
/// A DNS lookup failed (timeout, SERVFAIL, refused).
pub const DNS_FAILED: &str = "doctor.DNS_FAILED";
/// The probe token came back through the name's address on port 80.
pub const HTTP_PROBE_OK: &str = "doctor.HTTP_PROBE_OK";
/// The probe token did not come back.
pub const HTTP_PROBE_FAILED: &str = "doctor.HTTP_PROBE_FAILED";
/// certctl could not serve the probe token (port taken, webroot unwritable).
pub const HTTP_RESPONDER: &str = "doctor.HTTP_RESPONDER";
/// No CAA records anywhere up the tree.
pub const CAA_NONE: &str = "doctor.CAA_NONE";
/// A CAA record allows this CA (and account, and http-01).
pub const CAA_ALLOWS: &str = "doctor.CAA_ALLOWS";
/// CAA names other CAs only.
pub const CAA_OTHER_CA: &str = "doctor.CAA_OTHER_CA";
/// CAA allows nobody (`issue ";"`, or malformed values only).
pub const CAA_FORBIDS: &str = "doctor.CAA_FORBIDS";
/// CAA's accounturi names another account.
pub const CAA_ACCOUNT: &str = "doctor.CAA_ACCOUNT";
/// CAA's validationmethods excludes http-01.
pub const CAA_METHOD: &str = "doctor.CAA_METHOD";
/// A critical CAA record with a tag CAs do not know.
pub const CAA_CRITICAL: &str = "doctor.CAA_CRITICAL";
/// The CA publishes no CAA identity to compare with.
pub const CAA_IDENTITY_UNKNOWN: &str = "doctor.CAA_IDENTITY_UNKNOWN";
/// What `issue --nginx` would change.
pub const NGINX_PLAN: &str = "doctor.NGINX_PLAN";
/// Which server of nginx answers the name on port 80 today.
pub const NGINX_SERVER: &str = "doctor.NGINX_SERVER";
/// `issue --nginx` would refuse (a TLS server of the user's serves the name, a bad config …).
pub const NGINX_REFUSED: &str = "doctor.NGINX_REFUSED";
/// The clock agrees with the CA's.
pub const CLOCK_OK: &str = "doctor.CLOCK_OK";
/// The clock is off.
pub const CLOCK_SKEW: &str = "doctor.CLOCK_SKEW";
/// The CA's directory could not be fetched.
pub const CA_UNREACHABLE: &str = "doctor.CA_UNREACHABLE";
/// An account is stored for the CA.
pub const ACCOUNT: &str = "doctor.ACCOUNT";
/// No account is stored for the CA yet.
pub const NO_ACCOUNT: &str = "doctor.NO_ACCOUNT";
/// A stored certificate for the name keeps failing to renew.
pub const RENEWAL_FAILING: &str = "doctor.RENEWAL_FAILING";
/// The CA rate-limited a stored certificate's renewal.
pub const RATE_LIMITED: &str = "doctor.RATE_LIMITED";

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(critical: bool, tag: &str, value: &str) -> CaaRecord {
        CaaRecord {
            critical,
            tag: tag.into(),
            value: value.into(),
        }
    }

    fn set(records: Vec<CaaRecord>) -> CaaSet {
        CaaSet {
            domain: "example.com".into(),
            records,
        }
    }

    #[test]
    fn climbs_from_the_name_to_the_top_level_domain() {
        assert_eq!(
            caa_lookup_names("a.b.example.com."),
            ["a.b.example.com", "b.example.com", "example.com", "com"]
        );
        assert_eq!(caa_lookup_names("localhost"), ["localhost"]);
    }

    #[test]
    fn parses_issue_values_as_rfc_8659_writes_them() {
        let v = parse_issue_value(
            " LetsEncrypt.org ;  accounturi=https://ca/acct/1 ; validationmethods=http-01,dns-01",
        )
        .unwrap();
        assert_eq!(v.issuer.as_deref(), Some("letsencrypt.org"));
        assert_eq!(
            v.parameters,
            [
                ("accounturi".to_owned(), "https://ca/acct/1".to_owned()),
                ("validationmethods".to_owned(), "http-01,dns-01".to_owned())
            ]
        );
        assert_eq!(parse_issue_value(";").unwrap().issuer, None);
        assert_eq!(parse_issue_value("").unwrap().issuer, None);
        assert!(parse_issue_value("not a domain").is_err());
        assert!(parse_issue_value("ca.test; novalue").is_err());
        assert!(parse_issue_value("-ca.test").is_err());
    }

    /// The table: records → the finding's ID and severity, for an applicant that is Let's
    /// Encrypt with account …/acct/1.
    #[test]
    fn caa_table() {
        let ids = ["letsencrypt.org".to_owned()];
        let who = Applicant {
            identities: &ids,
            account: Some("https://ca/acct/1"),
            wildcard: false,
        };
        let cases: Vec<(Vec<CaaRecord>, &str, Severity)> = vec![
            (vec![], CAA_NONE, Severity::Ok),
            (
                vec![rec(false, "issue", "letsencrypt.org")],
                CAA_ALLOWS,
                Severity::Ok,
            ),
            (
                vec![rec(false, "ISSUE", "LetsEncrypt.org")],
                CAA_ALLOWS,
                Severity::Ok,
            ),
            (
                vec![rec(false, "issue", "other.example")],
                CAA_OTHER_CA,
                Severity::Error,
            ),
            // One CA among several is enough.
            (
                vec![
                    rec(false, "issue", "other.example"),
                    rec(false, "issue", "letsencrypt.org"),
                ],
                CAA_ALLOWS,
                Severity::Ok,
            ),
            (vec![rec(false, "issue", ";")], CAA_FORBIDS, Severity::Error),
            (
                vec![rec(false, "issue", "bad value!")],
                CAA_FORBIDS,
                Severity::Error,
            ),
            // issuewild only matters for wildcards; iodef restricts nothing.
            (
                vec![rec(false, "issuewild", "other.example")],
                CAA_ALLOWS,
                Severity::Ok,
            ),
            (
                vec![rec(false, "iodef", "mailto:a@b")],
                CAA_ALLOWS,
                Severity::Ok,
            ),
            // RFC 8657.
            (
                vec![rec(
                    false,
                    "issue",
                    "letsencrypt.org; accounturi=https://ca/acct/1",
                )],
                CAA_ALLOWS,
                Severity::Ok,
            ),
            (
                vec![rec(
                    false,
                    "issue",
                    "letsencrypt.org; accounturi=https://ca/acct/2",
                )],
                CAA_ACCOUNT,
                Severity::Error,
            ),
            (
                vec![rec(
                    false,
                    "issue",
                    "letsencrypt.org; validationmethods=dns-01",
                )],
                CAA_METHOD,
                Severity::Error,
            ),
            (
                vec![rec(
                    false,
                    "issue",
                    "letsencrypt.org; validationmethods=dns-01,http-01",
                )],
                CAA_ALLOWS,
                Severity::Ok,
            ),
            // Unknown parameters are ignored.
            (
                vec![rec(false, "issue", "letsencrypt.org; policy=ev")],
                CAA_ALLOWS,
                Severity::Ok,
            ),
            // Critical unknown tags forbid; non-critical ones are ignored.
            (
                vec![
                    rec(true, "tbs", "x"),
                    rec(false, "issue", "letsencrypt.org"),
                ],
                CAA_CRITICAL,
                Severity::Error,
            ),
            (
                vec![
                    rec(false, "tbs", "x"),
                    rec(false, "issue", "letsencrypt.org"),
                ],
                CAA_ALLOWS,
                Severity::Ok,
            ),
            (
                vec![rec(true, "issue", "letsencrypt.org")],
                CAA_ALLOWS,
                Severity::Ok,
            ),
        ];
        for (records, id, severity) in cases {
            let s = set(records.clone());
            let f = evaluate_caa("www.example.com", Some(&s), &who);
            assert_eq!((f.id, f.severity), (id, severity), "{records:?}: {f:?}");
            assert!(f.severity == Severity::Ok || !f.fix.is_empty(), "{f:?}");
        }
    }

    #[test]
    fn wildcards_look_at_issuewild_first_and_no_account_matches_no_accounturi() {
        let ids = ["letsencrypt.org".to_owned()];
        let wild = Applicant {
            identities: &ids,
            account: None,
            wildcard: true,
        };
        let s = set(vec![
            rec(false, "issue", "letsencrypt.org"),
            rec(false, "issuewild", ";"),
        ]);
        assert_eq!(
            evaluate_caa("*.example.com", Some(&s), &wild).id,
            CAA_FORBIDS
        );
        let s = set(vec![rec(
            false,
            "issue",
            "letsencrypt.org; accounturi=https://ca/acct/1",
        )]);
        let f = evaluate_caa("example.com", Some(&s), &wild);
        assert_eq!(f.id, CAA_ACCOUNT);
        assert!(f.message.contains("not created yet"), "{f:?}");
        let none = Applicant {
            identities: &[],
            account: None,
            wildcard: false,
        };
        let s = set(vec![rec(false, "issue", "letsencrypt.org")]);
        assert_eq!(
            evaluate_caa("example.com", Some(&s), &none).severity,
            Severity::Unknown
        );
    }

    #[test]
    fn addresses_of_this_machine_or_not() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let far: IpAddr = "192.0.2.7".parse().unwrap();
        let far6: IpAddr = "2001:db8::7".parse().unwrap();
        let ids = |f: Vec<Finding>| f.iter().map(|f| (f.id, f.severity)).collect::<Vec<_>>();
        assert_eq!(
            ids(evaluate_addresses("a.test", &[(lo, true)], false)),
            [(DNS_ADDRESSES, Severity::Ok)]
        );
        assert_eq!(
            ids(evaluate_addresses("a.test", &[], false)),
            [(DNS_NO_ADDRESS, Severity::Error)]
        );
        let f = evaluate_addresses("a.test", &[(lo, true), (far, false), (far6, false)], false);
        assert_eq!(
            ids(f.clone()),
            [
                (DNS_NOT_HERE, Severity::Warning),
                (DNS_NOT_HERE, Severity::Warning)
            ]
        );
        assert!(f[1].message.contains("AAAA 2001:db8::7"), "{f:?}");
        assert!(
            evaluate_addresses("a.test", &[(far, false)], true)[0]
                .message
                .contains("--resolve")
        );
    }

    #[test]
    fn the_clock_against_the_cas_date() {
        let ca = parse_http_date("Wed, 02 Dec 2026 19:54:23 GMT").unwrap();
        assert_eq!(ca, 1_796_241_263);
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(evaluate_clock(ca + 1, ca).id, CLOCK_OK);
        let f = evaluate_clock(ca - 120, ca);
        assert_eq!((f.id, f.severity), (CLOCK_SKEW, Severity::Warning));
        assert!(f.message.contains("120 s behind"), "{f:?}");
        assert_eq!(evaluate_clock(ca + 3600, ca).severity, Severity::Error);
    }

    #[test]
    fn history_tells_rate_limits_from_other_failures() {
        let now = 1_000_000;
        assert!(evaluate_history("a", &RenewalState::default(), now).is_empty());
        let mut s = RenewalState::default();
        s.failed(
            now - 10,
            "too many certificates (rateLimited)".into(),
            FailureKind::RateLimited,
            Some(now + 3600),
        );
        let f = evaluate_history("a", &s, now);
        assert_eq!((f[0].id, f[0].severity), (RATE_LIMITED, Severity::Error));
        let f = evaluate_history("a", &s, now + 7200 * 24);
        assert_eq!(f[0].severity, Severity::Warning);
        let mut s = RenewalState::default();
        s.failed(
            now,
            "connection refused".into(),
            FailureKind::Transient,
            None,
        );
        let f = evaluate_history("a", &s, now);
        assert_eq!(
            (f[0].id, f[0].severity),
            (RENEWAL_FAILING, Severity::Warning)
        );
        assert_eq!(exit_code(&f), 1);
        assert_eq!(exit_code(&[]), 0);
    }
}
