//! The grade, after the SSL Labs rating guide (2009r): a score from protocol support (30 %),
//! key exchange (30 %) and cipher strength (40 %); then the caps, lowest wins; then A+ or A-;
//! T (untrusted) and M (name mismatch) override everything. Pure: findings in, grade out, with
//! every cap and warning named so the report can say why.
//!
//! Forward secrecy and RC4 with modern protocols are judged on what the reference clients
//! negotiate ([`super::clients`]), as SSL Labs does; the AEAD cap on what the server accepts at
//! all; the 3DES cap spares a server that orders its suites and keeps 3DES last.
//!
//! What could not be tested ([`Unknown`]) never improves the grade: each undecided question is
//! graded as its worst answer ([`Question`] says which, and the cap it brings), and any graded
//! unknown keeps an A at A-. The scores use only what was decided.

use serde::Serialize;

use super::findings::{self, Rule};
use super::oracle::Verdict;
use super::wire::{CipherSuite, Version};
use super::{clients, suites};
use crate::finding::Finding;

/// A letter, worst first, so the lowest cap is the minimum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Letter {
    /// Failing.
    F,
    /// 20..35.
    E,
    /// 35..50.
    D,
    /// 50..65.
    C,
    /// 65..80.
    B,
    /// A with warnings.
    #[serde(rename = "A-")]
    AMinus,
    /// 80 and up.
    A,
    /// A, no warnings, long HSTS.
    #[serde(rename = "A+")]
    APlus,
}

impl Letter {
    /// How reports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::F => "F",
            Self::E => "E",
            Self::D => "D",
            Self::C => "C",
            Self::B => "B",
            Self::AMinus => "A-",
            Self::A => "A",
            Self::APlus => "A+",
        }
    }

    /// Every letter, worst first.
    pub const ALL: [Letter; 8] = [
        Self::F,
        Self::E,
        Self::D,
        Self::C,
        Self::B,
        Self::AMinus,
        Self::A,
        Self::APlus,
    ];

    fn from_score(score: u32) -> Self {
        match score {
            80.. => Self::A,
            65.. => Self::B,
            50.. => Self::C,
            35.. => Self::D,
            20.. => Self::E,
            _ => Self::F,
        }
    }
}

impl std::fmt::Display for Letter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The overall grade: the scored letter, unless the certificate overrides it with T (not
/// trusted) or M (names do not match). Ordered worst first, M < T < F < … < A+, so
/// `--min-grade` compares grades, not strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grade {
    /// The certificate does not cover the host name.
    M,
    /// The certificate is not trusted.
    T,
    /// The letter the scores and caps give.
    Scored(Letter),
}

impl Grade {
    /// Every grade, worst first.
    pub const ALL: [Grade; 10] = [
        Self::M,
        Self::T,
        Self::Scored(Letter::F),
        Self::Scored(Letter::E),
        Self::Scored(Letter::D),
        Self::Scored(Letter::C),
        Self::Scored(Letter::B),
        Self::Scored(Letter::AMinus),
        Self::Scored(Letter::A),
        Self::Scored(Letter::APlus),
    ];

    /// How reports write it: "A+", "T", "M".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::M => "M",
            Self::T => "T",
            Self::Scored(letter) => letter.as_str(),
        }
    }
}

impl std::fmt::Display for Grade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Grade {
    type Err = String;

    /// Any grade, case-insensitively ("a+").
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|g| g.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("{s:?} is not a grade (A+, A, A-, B, C, D, E, F)"))
    }
}

impl Serialize for Grade {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl PartialEq<&str> for Grade {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The server key's algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum KeyKind {
    /// RSA (and DSA: same scale).
    Rsa,
    /// Elliptic curve.
    Ec,
}

/// What the probes found, as the grade needs it.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Protocols the server speaks (SSL 3.0 and up).
    pub protocols: Vec<Version>,
    /// SSL 2.0 is spoken.
    pub sslv2: bool,
    /// Accepted suites per version.
    pub suites: Vec<(Version, CipherSuite)>,
    /// The certificate key.
    pub key: Option<(KeyKind, u32)>,
    /// The smallest DH group a DHE suite used, in bits.
    pub dh_bits: Option<u32>,
    /// The chain leads to a trusted root, is valid now, and no certificate below the root is
    /// signed with SHA-1.
    pub trusted: bool,
    /// Why it is not trusted, for the report.
    pub untrusted_because: Option<String>,
    /// The certificate's names, for the report when they do not cover the host.
    pub names: Vec<String>,
    /// The certificate covers the host name.
    pub name_matches: bool,
    /// The name it was checked against (the host name, or the IP address audited).
    pub checked_name: String,
    /// The server sent an incomplete chain (an intermediate missing) that could still be built.
    pub chain_incomplete: bool,
    /// Where the missing certificates came from ("--ca-bundle", or AIA URLs), for the report.
    pub chain_completed_from: Vec<String>,
    /// An MD5-signed certificate.
    pub md5: bool,
    /// TLS compression accepted (CRIME).
    pub compression: bool,
    /// RFC 5746 secure renegotiation.
    pub secure_renegotiation: bool,
    /// The HSTS max-age sent on HTTPS (None: no header).
    pub hsts_max_age: Option<u64>,
    /// Heartbleed (CVE-2014-0160).
    pub heartbleed: bool,
    /// ROBOT (None: not probed). An unknown verdict comes in `unknowns` too.
    pub robot: Option<Verdict>,
    /// The CBC padding oracles (None: not probed).
    pub padding_oracle: Option<Verdict>,
    /// Versions whose suite order the server decides (`suites` is then in its order).
    pub server_ordered: Vec<Version>,
    /// The questions the probes could not decide.
    pub unknowns: Vec<Unknown>,
}

/// A question the audit could not decide: a probe timed out, was cut by the audit's deadline,
/// or got no usable answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unknown {
    /// What was asked.
    pub question: Question,
    /// Why there is no answer, one line ("no answer within 5000 ms").
    pub why: String,
}

/// What an [`Unknown`] leaves open, and so the worst answer the grade assumes for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Question {
    /// Is SSL 2.0 spoken? Worst: yes, F.
    Ssl2,
    /// Is this version spoken? Worst: SSL 3.0 yes (with CBC suites, POODLE), C; TLS 1.0 or
    /// 1.1 yes, B; TLS 1.2 or 1.3 no (the caps and warnings for a missing version apply).
    Protocol(Version),
    /// Which other suites does this spoken version accept? Worst: a NULL or export suite, F
    /// (TLS 1.3 has no weak suites: no cap).
    Suites(Version),
    /// Whose order decides for this version? Assumed the client's (no 3DES exemption).
    Order(Version),
    /// Heartbleed? Worst: vulnerable, F.
    Heartbleed,
    /// ROBOT? Worst: vulnerable, F.
    Robot,
    /// A CBC padding oracle? Worst: vulnerable, F.
    PaddingOracle,
    /// The full TLS 1.2 handshake (compression, secure renegotiation). Worst: compression on
    /// (CRIME), C.
    Handshake,
    /// The DH group of the DHE suites. Worst: weak, B.
    DhParams,
    /// The HSTS header. Worst: max-age=0, which keeps an A at A-.
    Hsts,
    /// The plain-HTTP redirect. Not graded.
    Redirect,
    /// The chain by a full handshake. Not graded: the chain sent in the clear stands in, or
    /// without any chain the grade is T.
    Chain,
    /// Groups, fallback SCSV, resumption. Reported, not graded.
    Detail(&'static str),
}

impl Question {
    /// The finding, the cap of the worst answer (None: none beyond the A- that every graded
    /// unknown brings), and whether the grade depends on the answer at all.
    fn worst(self) -> (&'static Rule, Option<Letter>, bool) {
        match self {
            Self::Ssl2 => (&findings::UNKNOWN_PROTOCOL, Some(Letter::F), true),
            Self::Protocol(Version::Ssl3) => (&findings::UNKNOWN_PROTOCOL, Some(Letter::C), true),
            Self::Protocol(Version::Tls10 | Version::Tls11) => {
                (&findings::UNKNOWN_PROTOCOL, Some(Letter::B), true)
            }
            Self::Protocol(_) => (&findings::UNKNOWN_PROTOCOL, None, true),
            Self::Suites(Version::Tls13) => (&findings::UNKNOWN_SUITES, None, true),
            Self::Suites(_) => (&findings::UNKNOWN_SUITES, Some(Letter::F), true),
            Self::Order(_) => (&findings::UNKNOWN_SUITES, None, true),
            Self::Heartbleed => (&findings::UNKNOWN_HEARTBLEED, Some(Letter::F), true),
            Self::Robot => (&findings::UNKNOWN_ROBOT, Some(Letter::F), true),
            Self::PaddingOracle => (&findings::UNKNOWN_PADDING_ORACLE, Some(Letter::F), true),
            Self::Handshake => (&findings::UNKNOWN_HANDSHAKE, Some(Letter::C), true),
            Self::DhParams => (&findings::UNKNOWN_DH, Some(Letter::B), true),
            Self::Hsts => (&findings::UNKNOWN_HSTS, None, true),
            Self::Redirect => (&findings::UNKNOWN_REDIRECT, None, false),
            Self::Chain => (&findings::UNKNOWN_CHAIN, None, false),
            Self::Detail(_) => (&findings::UNKNOWN_DETAIL, None, false),
        }
    }

    /// What could not be tested, for the message.
    fn what(self) -> String {
        match self {
            Self::Ssl2 => "SSL 2.0".into(),
            Self::Protocol(v) => v.name().into(),
            Self::Suites(v) => format!("every {} cipher suite", v.name()),
            Self::Order(v) => format!("whose {} suite order decides", v.name()),
            Self::Heartbleed => "Heartbleed".into(),
            Self::Robot => "ROBOT".into(),
            Self::PaddingOracle => "the CBC padding oracles".into(),
            Self::Handshake => "compression and secure renegotiation".into(),
            Self::DhParams => "the DH parameters".into(),
            Self::Hsts => "the HSTS header".into(),
            Self::Redirect => "the plain-HTTP redirect".into(),
            Self::Chain => "the served chain by a full handshake".into(),
            Self::Detail(what) => what.into(),
        }
    }
}

impl Unknown {
    /// The report's line: "could not test TLS 1.0: no answer within 5000 ms".
    pub fn message(&self) -> String {
        format!("could not test {}: {}", self.question.what(), self.why)
    }
}

/// A cap and its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cap {
    /// The stable ID of the finding ([`findings`]).
    pub id: &'static str,
    /// The best grade possible with it.
    pub cap: Letter,
    /// Why, one line.
    pub why: String,
}

/// The result: the grade, its scores and everything that lowered it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rating {
    /// A+, A, A-, B, C, D, E, F, T or M.
    pub grade: Grade,
    /// The grade if trust issues were ignored (as SSL Labs reports it).
    pub grade_trust_ignored: Letter,
    /// The combined score, 0..100.
    pub score: u32,
    /// Protocol support score.
    pub protocol_score: u32,
    /// Key exchange score.
    pub key_exchange_score: u32,
    /// Cipher strength score.
    pub cipher_score: u32,
    /// Every cap that applied, worst first.
    pub caps: Vec<Cap>,
    /// Every warning (each keeps an A at A-).
    pub warnings: Vec<String>,
    /// What could not be tested ("could not test TLS 1.0: …"); each one the grade depends on
    /// keeps an A at A- and may cap it (see [`Question`]).
    pub unknowns: Vec<String>,
    /// Named weaknesses that follow from the findings (POODLE, BEAST, SWEET32, …).
    pub weaknesses: Vec<&'static str>,
    /// The same with stable IDs, severities and fixes: the certificate overrides (T, M), then
    /// the caps (unknowns that cap included), the warnings, the unknowns that do not cap, and the
    /// weaknesses, in that order.
    pub findings: Vec<Finding>,
}

/// Six months: the HSTS max-age A+ needs.
pub const HSTS_A_PLUS: u64 = 15_552_000;

fn protocol_points(v: Version) -> u32 {
    match v {
        Version::Ssl3 => 80,
        Version::Tls10 => 90,
        Version::Tls11 => 95,
        Version::Tls12 | Version::Tls13 => 100,
    }
}

fn key_points(kind: KeyKind, bits: u32) -> u32 {
    let thresholds: [(u32, u32); 4] = match kind {
        KeyKind::Rsa => [(512, 20), (1024, 40), (2048, 80), (4096, 90)],
        KeyKind::Ec => [(110, 20), (123, 40), (163, 80), (225, 90)],
    };
    thresholds
        .iter()
        .find(|(limit, _)| bits < *limit)
        .map_or(100, |(_, points)| *points)
}

fn cipher_points(bits: u16) -> u32 {
    match bits {
        0 => 0,
        1..=127 => 20,
        128..=255 => 80,
        _ => 100,
    }
}

/// Grades the findings. See the module docs.
pub fn grade(inputs: &Inputs) -> Rating {
    grade_with(
        inputs,
        &clients::simulate(&inputs.suites, &inputs.server_ordered),
    )
}

/// [`grade`] with the client simulation already run (the audit report shows it too).
pub fn grade_with(inputs: &Inputs, handshakes: &[clients::Handshake]) -> Rating {
    let mut caps: Vec<(Letter, &'static Rule, String)> = Vec::new();
    // Each unknown graded as its worst answer: its cap (if any), named with its detail.
    let mut uncapped: Vec<(&'static Rule, String)> = Vec::new();
    let mut graded_unknown = false;
    for unknown in &inputs.unknowns {
        let (rule, worst, graded) = unknown.question.worst();
        graded_unknown |= graded;
        match worst {
            Some(letter) => caps.push((letter, rule, unknown.message())),
            None => uncapped.push((rule, unknown.message())),
        }
    }
    let mut cap =
        |letter: Letter, rule: &'static Rule| caps.push((letter, rule, rule.message.to_owned()));
    let accepted: Vec<(Version, &suites::Suite)> = inputs
        .suites
        .iter()
        .filter_map(|(v, id)| suites::by_id(*id).map(|s| (*v, s)))
        .collect();
    let any = |f: &dyn Fn(&suites::Suite) -> bool| accepted.iter().any(|(_, s)| f(s));
    let modern = |v: Version| v >= Version::Tls11;

    // Scores.
    let mut protocols: Vec<u32> = inputs
        .protocols
        .iter()
        .map(|v| protocol_points(*v))
        .collect();
    if inputs.sslv2 {
        protocols.push(0);
    }
    let protocol_score = match (protocols.iter().max(), protocols.iter().min()) {
        (Some(best), Some(worst)) => (best + worst) / 2,
        _ => 0,
    };
    let mut key_exchange_score = inputs.key.map_or(0, |(k, b)| key_points(k, b));
    if let Some(dh) = inputs.dh_bits {
        key_exchange_score = key_exchange_score.min(key_points(KeyKind::Rsa, dh));
    }
    if any(&|s| s.export) {
        key_exchange_score = key_exchange_score.min(40);
    }
    if any(&|s| s.anonymous) {
        key_exchange_score = 0;
    }
    let bits: Vec<u16> = accepted.iter().map(|(_, s)| s.bits).collect();
    let cipher_score = match (bits.iter().max(), bits.iter().min()) {
        (Some(best), Some(worst)) => (cipher_points(*best) + cipher_points(*worst)) / 2,
        _ => 0,
    };
    let parts = [protocol_score, key_exchange_score, cipher_score];
    let score = match parts.contains(&0) {
        true => 0,
        false => (30 * protocol_score + 30 * key_exchange_score + 40 * cipher_score + 50) / 100,
    };

    // F.
    if inputs.sslv2 {
        cap(Letter::F, &findings::CAP_SSL2);
    }
    if inputs.protocols.iter().max() == Some(&Version::Ssl3) {
        cap(Letter::F, &findings::CAP_SSL3_BEST);
    }
    if any(&|s| s.export) {
        cap(Letter::F, &findings::CAP_EXPORT);
    }
    if any(&|s| s.anonymous) {
        cap(Letter::F, &findings::CAP_ANONYMOUS);
    }
    if any(&|s| s.bits < 112) {
        cap(Letter::F, &findings::CAP_WEAK_CIPHER);
    }
    if inputs.key.is_some_and(|(k, b)| key_points(k, b) <= 40) {
        cap(Letter::F, &findings::CAP_KEY_1024);
    }
    if inputs.heartbleed {
        cap(Letter::F, &findings::CAP_HEARTBLEED);
    }
    if inputs.md5 {
        cap(Letter::F, &findings::CAP_MD5);
    }
    // C.
    if !inputs.protocols.iter().any(|v| *v >= Version::Tls12) {
        cap(Letter::C, &findings::CAP_NO_TLS12);
    }
    let negotiated: Vec<(Version, &suites::Suite)> =
        handshakes.iter().filter_map(|h| h.suite()).collect();
    if negotiated.iter().any(|(v, s)| s.rc4 && modern(*v)) {
        cap(Letter::C, &findings::CAP_RC4_MODERN);
    }
    // SWEET32: a server that orders its suites and keeps 3DES last only hands it to clients that
    // can do nothing better, and SSL Labs does not cap it.
    let last_resort = |v: Version| {
        inputs.server_ordered.contains(&v) && {
            let order: Vec<bool> = accepted
                .iter()
                .filter(|(ver, _)| *ver == v)
                .map(|(_, s)| s.block64)
                .collect();
            // Once a 64-bit suite appears, only 64-bit suites follow.
            order.windows(2).all(|w| !w[0] || w[1])
        }
    };
    if accepted
        .iter()
        .any(|(v, s)| s.block64 && modern(*v) && !last_resort(*v))
    {
        cap(Letter::C, &findings::CAP_SWEET32);
    }
    if inputs.compression {
        cap(Letter::C, &findings::CAP_COMPRESSION);
    }
    if accepted.iter().any(|(v, s)| *v == Version::Ssl3 && s.cbc) {
        cap(Letter::C, &findings::CAP_POODLE);
    }
    // B.
    if inputs.protocols.contains(&Version::Ssl3) {
        cap(Letter::B, &findings::CAP_SSL3);
    }
    if inputs
        .protocols
        .iter()
        .any(|v| matches!(v, Version::Tls10 | Version::Tls11))
    {
        cap(Letter::B, &findings::CAP_TLS10_11);
    }
    // "Suites without forward secrecy are not penalized provided they are never negotiated
    // with clients that can do better" (SSL Labs, 2018), judged on its reference browsers (2014:
    // "Forward Secrecy with our reference browsers"): a reference client that gets one although
    // it shares a usable forward-secret suite with the server.
    let fs_passed_over = handshakes
        .iter()
        .any(|h| h.modern && h.forward_secrecy_passed_over);
    if !accepted.is_empty() && (!any(&|s| s.forward_secrecy) || fs_passed_over) {
        cap(Letter::B, &findings::CAP_NO_FS);
    }
    if !accepted.is_empty() && !any(&|s| s.aead) {
        cap(Letter::B, &findings::CAP_NO_AEAD);
    }
    if inputs.key.is_some_and(|(k, b)| key_points(k, b) < 90) {
        cap(Letter::B, &findings::CAP_KEY_2048);
    }
    if inputs.dh_bits.is_some_and(|b| b < 2048) {
        cap(Letter::B, &findings::CAP_WEAK_DH);
    }
    if any(&|s| s.rc4) {
        cap(Letter::B, &findings::CAP_RC4);
    }
    if inputs.chain_incomplete {
        let rule = &findings::CAP_CHAIN_INCOMPLETE;
        caps.push((
            Letter::B,
            rule,
            match inputs.chain_completed_from.is_empty() {
                true => rule.message.to_owned(),
                false => format!(
                    "{} (completed from {})",
                    rule.message,
                    inputs.chain_completed_from.join(", ")
                ),
            },
        ));
    }
    for (verdict, rule) in [
        (&inputs.robot, &findings::CAP_ROBOT),
        (&inputs.padding_oracle, &findings::CAP_PADDING_ORACLE),
    ] {
        if let Some(Verdict::Vulnerable(how)) = verdict {
            caps.push((Letter::F, rule, format!("{}: {how}", rule.message)));
        }
    }
    caps.sort_by_key(|(letter, _, _)| *letter);

    let mut warnings: Vec<&'static Rule> = Vec::new();
    if !inputs.protocols.contains(&Version::Tls13) {
        warnings.push(&findings::WARN_NO_TLS13);
    }
    if inputs.hsts_max_age == Some(0) {
        warnings.push(&findings::WARN_HSTS_DISABLED);
    }
    if !inputs.secure_renegotiation && !inputs.protocols.iter().all(|v| *v == Version::Tls13) {
        warnings.push(&findings::WARN_NO_SECURE_RENEGOTIATION);
    }

    let mut letter = Letter::from_score(score);
    if let Some((worst, _, _)) = caps.first() {
        letter = letter.min(*worst);
    }
    if letter == Letter::A {
        letter = match (warnings.is_empty() && !graded_unknown, inputs.hsts_max_age) {
            (false, _) => Letter::AMinus,
            (true, Some(age)) if age >= HSTS_A_PLUS => Letter::APlus,
            _ => Letter::A,
        };
    }
    let grade = if !inputs.trusted {
        Grade::T
    } else if !inputs.name_matches {
        Grade::M
    } else {
        Grade::Scored(letter)
    };
    let weaknesses = weaknesses(inputs, &accepted);

    // Everything that lowered the grade or is worth naming, with its ID: the certificate
    // overrides first (as the report prints them), then caps, warnings, weaknesses.
    let mut found = Vec::new();
    if !inputs.trusted {
        found.push(match &inputs.untrusted_because {
            Some(why) => {
                findings::CERT_UNTRUSTED.finding_with(format!("certificate not trusted: {why}"))
            }
            None => findings::CERT_UNTRUSTED.finding(),
        });
    }
    if !inputs.name_matches {
        found.push(match inputs.names.is_empty() {
            true => findings::CERT_NAME_MISMATCH.finding(),
            false => findings::CERT_NAME_MISMATCH.finding_with(format!(
                "certificate names {} do not cover {}",
                inputs.names.join(", "),
                match inputs.checked_name.is_empty() {
                    true => "the host",
                    false => &inputs.checked_name,
                }
            )),
        });
    }
    found.extend(
        caps.iter()
            .map(|(_, rule, message)| rule.finding_with(message.clone())),
    );
    found.extend(warnings.iter().map(|rule| rule.finding()));
    found.extend(
        uncapped
            .iter()
            .map(|(rule, message)| rule.finding_with(message.clone())),
    );
    for (verdict, rule) in [
        (&inputs.robot, &findings::UNTESTED_ROBOT),
        (&inputs.padding_oracle, &findings::UNTESTED_PADDING_ORACLE),
    ] {
        if let Some(Verdict::Untested(why)) = verdict {
            found.push(rule.finding_with(format!("{}: {why}", rule.message)));
        }
    }
    found.extend(weaknesses.iter().map(|rule| rule.finding()));

    Rating {
        grade,
        grade_trust_ignored: letter,
        score,
        protocol_score,
        key_exchange_score,
        cipher_score,
        caps: caps
            .iter()
            .map(|(letter, rule, message)| Cap {
                id: rule.id,
                cap: *letter,
                why: message.clone(),
            })
            .collect(),
        warnings: warnings
            .iter()
            .map(|rule| rule.message.to_owned())
            .collect(),
        unknowns: inputs.unknowns.iter().map(Unknown::message).collect(),
        weaknesses: weaknesses.iter().map(|rule| rule.message).collect(),
        findings: found,
    }
}

/// The well-known attacks the findings expose the server to, by name.
fn weaknesses(inputs: &Inputs, accepted: &[(Version, &suites::Suite)]) -> Vec<&'static Rule> {
    let any = |f: &dyn Fn(Version, &suites::Suite) -> bool| accepted.iter().any(|(v, s)| f(*v, s));
    let mut out = Vec::new();
    let mut name = |yes: bool, what: &'static Rule| {
        if yes {
            out.push(what);
        }
    };
    name(inputs.sslv2, &findings::WEAK_DROWN);
    name(
        any(&|v, s| v == Version::Ssl3 && s.cbc),
        &findings::WEAK_POODLE,
    );
    name(
        any(&|v, s| v == Version::Tls10 && s.cbc),
        &findings::WEAK_BEAST,
    );
    name(any(&|_, s| s.block64), &findings::WEAK_SWEET32);
    name(any(&|_, s| s.export && !s.dhe), &findings::WEAK_FREAK);
    name(
        any(&|_, s| s.export && s.dhe) || inputs.dh_bits.is_some_and(|b| b <= 1024),
        &findings::WEAK_LOGJAM,
    );
    name(any(&|_, s| s.rc4), &findings::WEAK_RC4);
    name(inputs.compression, &findings::WEAK_CRIME);
    name(inputs.heartbleed, &findings::WEAK_HEARTBLEED);
    let vulnerable = |v: &Option<Verdict>| matches!(v, Some(Verdict::Vulnerable(_)));
    name(vulnerable(&inputs.robot), &findings::WEAK_ROBOT);
    name(
        vulnerable(&inputs.padding_oracle),
        &findings::WEAK_PADDING_ORACLE,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use Version::*;

    /// Mozilla intermediate with an ECDSA P-256 key and two years of HSTS.
    fn intermediate() -> Inputs {
        Inputs {
            protocols: vec![Tls12, Tls13],
            suites: vec![
                (Tls12, CipherSuite(0xC02B)),
                (Tls12, CipherSuite(0xC02C)),
                (Tls12, CipherSuite(0xCCA9)),
                (Tls13, CipherSuite(0x1301)),
                (Tls13, CipherSuite(0x1302)),
                (Tls13, CipherSuite(0x1303)),
            ],
            key: Some((KeyKind::Ec, 256)),
            trusted: true,
            name_matches: true,
            secure_renegotiation: true,
            hsts_max_age: Some(63_072_000),
            ..Inputs::default()
        }
    }

    fn with(f: impl FnOnce(&mut Inputs)) -> Rating {
        let mut inputs = intermediate();
        f(&mut inputs);
        grade(&inputs)
    }

    #[test]
    fn the_rating_guide_table() {
        // (what changes, grade, a cap or warning that must be named)
        let table: Vec<(&str, Rating, &str)> = vec![
            ("mozilla intermediate + HSTS", with(|_| {}), ""),
            ("no HSTS", with(|i| i.hsts_max_age = None), ""),
            ("short HSTS", with(|i| i.hsts_max_age = Some(86_400)), ""),
            (
                "HSTS disabled",
                with(|i| i.hsts_max_age = Some(0)),
                "HSTS is disabled",
            ),
            (
                "no TLS 1.3",
                with(|i| {
                    i.protocols = vec![Tls12];
                    i.suites.retain(|(v, _)| *v == Tls12);
                }),
                "TLS 1.3 is not supported",
            ),
            (
                "TLS 1.0 on",
                with(|i| {
                    i.protocols.insert(0, Tls10);
                    i.suites.push((Tls10, CipherSuite(0xC009)));
                }),
                "TLS 1.0 or TLS 1.1",
            ),
            (
                "3DES with TLS 1.2",
                with(|i| i.suites.push((Tls12, CipherSuite(0x000A)))),
                "SWEET32",
            ),
            (
                "RSA key exchange only",
                with(|i| {
                    i.protocols = vec![Tls12];
                    i.suites = vec![(Tls12, CipherSuite(0x009C)), (Tls12, CipherSuite(0x009D))];
                }),
                "no forward secrecy",
            ),
            (
                "RSA key exchange preferred by the server",
                with(|i| {
                    i.suites.insert(0, (Tls12, CipherSuite(0x009C)));
                    i.server_ordered = vec![Tls12, Tls13];
                }),
                "no forward secrecy for reference clients that could have it",
            ),
            (
                // Only the clients that share no ECDHE suite with the server end up with it.
                "RSA key exchange kept last for old clients",
                with(|i| {
                    i.suites.push((Tls12, CipherSuite(0xC009)));
                    i.suites.push((Tls12, CipherSuite(0xC00A)));
                    i.suites.push((Tls12, CipherSuite(0x002F)));
                    i.server_ordered = vec![Tls12, Tls13];
                }),
                "",
            ),
            (
                // Safari 7 and 8 (no GCM, no ChaCha20) could have ECDHE-ECDSA with CBC, but the
                // server hands them RSA key exchange first.
                "RSA key exchange before what old clients could use",
                with(|i| {
                    i.suites.push((Tls12, CipherSuite(0x002F)));
                    i.suites.push((Tls12, CipherSuite(0xC009)));
                    i.server_ordered = vec![Tls12, Tls13];
                }),
                "no forward secrecy for reference clients that could have it",
            ),
            (
                "RC4 preferred with TLS 1.2",
                with(|i| {
                    i.protocols = vec![Tls12];
                    i.suites = vec![(Tls12, CipherSuite(0x0005)), (Tls12, CipherSuite(0xC02B))];
                    i.server_ordered = vec![Tls12];
                }),
                "RC4 is negotiated",
            ),
            (
                // ECDHE with CBC too, so that Safari 7 and 8 (reference clients without GCM)
                // do not end up with the RC4.
                "RC4 last with TLS 1.2",
                with(|i| {
                    i.protocols = vec![Tls12];
                    i.suites = vec![
                        (Tls12, CipherSuite(0xC02B)),
                        (Tls12, CipherSuite(0xC009)),
                        (Tls12, CipherSuite(0x0005)),
                    ];
                    i.server_ordered = vec![Tls12];
                }),
                "RC4 is accepted",
            ),
            (
                "CBC only",
                with(|i| {
                    i.protocols = vec![Tls12];
                    i.suites = vec![(Tls12, CipherSuite(0xC009)), (Tls12, CipherSuite(0xC00A))];
                }),
                "AEAD",
            ),
            (
                "1024-bit DH",
                with(|i| {
                    i.suites.push((Tls12, CipherSuite(0x009E)));
                    i.dh_bits = Some(1024);
                }),
                "LOGJAM",
            ),
            (
                "export suite",
                with(|i| i.suites.push((Tls12, CipherSuite(0x0003)))),
                "export",
            ),
            ("SSL 2.0", with(|i| i.sslv2 = true), "SSL 2.0"),
            (
                "RSA 1024 key",
                with(|i| i.key = Some((KeyKind::Rsa, 1024))),
                "weaker than RSA 2048",
            ),
            ("self-signed", with(|i| i.trusted = false), ""),
            ("wrong name", with(|i| i.name_matches = false), ""),
            (
                "incomplete chain",
                with(|i| i.chain_incomplete = true),
                "incomplete",
            ),
            ("compression", with(|i| i.compression = true), "CRIME"),
            ("heartbleed", with(|i| i.heartbleed = true), "Heartbleed"),
            (
                "3DES last, server order",
                with(|i| {
                    i.suites.push((Tls12, CipherSuite(0x000A)));
                    i.server_ordered = vec![Tls12, Tls13];
                }),
                "",
            ),
            (
                "3DES first, server order",
                with(|i| {
                    i.suites.insert(0, (Tls12, CipherSuite(0x000A)));
                    i.server_ordered = vec![Tls12, Tls13];
                }),
                "SWEET32",
            ),
        ];
        let expected = [
            "A+", "A", "A", "A-", "A-", "B", "C", "B", "B", "A+", "B", "C", "B", "B", "B", "F",
            "F", "B", "T", "M", "B", "C", "F", "A+", "C",
        ];
        for ((what, got, reason), want) in table.iter().zip(expected) {
            assert_eq!(got.grade, want, "{what}: {got:?}");
            if !reason.is_empty() {
                let named = got.caps.iter().any(|c| c.why.contains(reason))
                    || got.warnings.iter().any(|w| w.contains(reason));
                assert!(named, "{what}: {reason:?} not named in {got:?}");
            }
        }
    }

    #[test]
    fn weaknesses_are_named_from_the_findings() {
        assert!(with(|_| {}).weaknesses.is_empty());
        let old = with(|i| {
            i.protocols = vec![Ssl3, Tls10, Tls12];
            i.suites = vec![
                (Ssl3, CipherSuite(0x002F)),
                (Tls10, CipherSuite(0x002F)),
                (Tls12, CipherSuite(0x000A)),
                (Tls12, CipherSuite(0x0005)),
            ];
            i.dh_bits = Some(1024);
        });
        let names: Vec<&str> = old
            .weaknesses
            .iter()
            .map(|w| w.split(' ').next().unwrap())
            .collect();
        assert_eq!(names, ["POODLE", "BEAST", "SWEET32", "LOGJAM", "RC4"]);
    }

    #[test]
    fn grades_order_worst_first_and_parse_any_case() {
        let parsed: Vec<Grade> = ["m", "T", "f", "E", "d", "C", "b", "a-", "A", "a+"]
            .iter()
            .map(|g| g.parse().unwrap())
            .collect();
        assert_eq!(parsed, Grade::ALL);
        assert!(Grade::ALL.windows(2).all(|w| w[0] < w[1]));
        assert!("Z".parse::<Grade>().is_err());
        let json = serde_json::to_string(&Grade::Scored(Letter::APlus)).unwrap();
        assert_eq!(json, "\"A+\"");
        assert_eq!(Grade::T.to_string(), "T");
    }

    #[test]
    fn findings_carry_ids_and_f_caps_are_errors() {
        let bad = with(|i| {
            i.protocols = vec![Ssl3, Tls10];
            i.suites = vec![
                (Ssl3, CipherSuite(0x002F)),
                (Tls10, CipherSuite(0x0005)),
                (Tls10, CipherSuite(0x0003)),
            ];
            i.sslv2 = true;
            i.heartbleed = true;
            i.trusted = false;
            i.untrusted_because = Some("self-signed".into());
        });
        assert_eq!(bad.findings[0].id, "audit.CERT_UNTRUSTED");
        assert_eq!(
            bad.findings[0].message,
            "certificate not trusted: self-signed"
        );
        for cap in &bad.caps {
            let finding = bad.findings.iter().find(|f| f.id == cap.id).unwrap();
            assert_eq!(finding.message, cap.why);
            let error = finding.severity == crate::finding::Severity::Error;
            assert_eq!(error, cap.cap == Letter::F, "{cap:?}");
        }
        let listed = 1 + bad.caps.len() + bad.warnings.len() + bad.weaknesses.len();
        assert_eq!(bad.findings.len(), listed);
        assert!(with(|_| {}).findings.is_empty());
    }

    #[test]
    fn oracles_cap_at_f_and_untested_ones_are_said_without_a_cap() {
        let robot = with(|i| i.robot = Some(Verdict::Vulnerable("alert 40 vs 20".into())));
        assert_eq!(robot.grade, "F");
        assert_eq!(robot.caps[0].id, "audit.CAP_ROBOT");
        assert!(robot.caps[0].why.contains("alert 40 vs 20"));
        assert!(robot.findings.iter().any(|f| f.id == "audit.WEAK_ROBOT"));
        let cbc = with(|i| i.padding_oracle = Some(Verdict::Vulnerable("POODLE".into())));
        assert_eq!(cbc.grade, "F");
        assert_eq!(cbc.caps[0].id, "audit.CAP_PADDING_ORACLE");
        assert!(
            cbc.findings
                .iter()
                .any(|f| f.id == "audit.WEAK_PADDING_ORACLE")
        );
        let fine = with(|i| {
            i.robot = Some(Verdict::NotVulnerable("alike".into()));
            i.padding_oracle = Some(Verdict::Untested("no CBC suite is accepted".into()));
        });
        assert_eq!(fine.grade, "A+");
        let ids: Vec<&str> = fine.findings.iter().map(|f| f.id).collect();
        assert_eq!(ids, ["audit.UNTESTED_PADDING_ORACLE"]);
        assert!(
            fine.findings[0]
                .message
                .ends_with("no CBC suite is accepted")
        );
        assert_eq!(fine.findings[0].severity, crate::finding::Severity::Info);
    }

    #[test]
    fn what_could_not_be_tested_never_improves_the_grade() {
        let unknown = |question| Unknown {
            question,
            why: "no answer within 5000 ms".into(),
        };
        // (question, the grade of Mozilla intermediate + HSTS with it undecided)
        let table = [
            (Question::Ssl2, "F"),
            (Question::Protocol(Ssl3), "C"),
            (Question::Protocol(Tls10), "B"),
            (Question::Protocol(Tls11), "B"),
            (Question::Suites(Tls12), "F"),
            (Question::Suites(Tls13), "A-"),
            (Question::Order(Tls12), "A-"),
            (Question::Heartbleed, "F"),
            (Question::Robot, "F"),
            (Question::PaddingOracle, "F"),
            (Question::Handshake, "C"),
            (Question::DhParams, "B"),
            (Question::Hsts, "A-"),
            (Question::Redirect, "A+"),
            (Question::Chain, "A+"),
            (Question::Detail("session resumption"), "A+"),
        ];
        let best = with(|_| {});
        for (question, want) in table {
            let got = with(|i| i.unknowns.push(unknown(question)));
            assert_eq!(got.grade, want, "{question:?}: {got:?}");
            assert!(got.grade <= best.grade, "{question:?} improved the grade");
            assert_eq!(got.unknowns.len(), 1);
            let finding = got
                .findings
                .iter()
                .find(|f| f.id.starts_with("audit.UNKNOWN_"));
            let finding = finding.expect("an unknown finding");
            assert!(
                finding.message.starts_with("could not test ")
                    && finding.message.ends_with("no answer within 5000 ms"),
                "{finding:?}"
            );
            let capped = got.caps.iter().any(|c| c.id.starts_with("audit.UNKNOWN_"));
            assert_eq!(capped, !want.starts_with('A'), "{question:?}");
        }
        // A version that could not be tested counts as not spoken when that is worse.
        let tls13 = with(|i| {
            i.protocols = vec![Tls12];
            i.suites.retain(|(v, _)| *v == Tls12);
            i.unknowns.push(unknown(Question::Protocol(Tls13)));
        });
        assert_eq!(tls13.grade, "A-");
        assert!(tls13.warnings.iter().any(|w| w.contains("TLS 1.3")));
        // Already worse than the unknown's cap: unchanged.
        let sslv2 = with(|i| {
            i.sslv2 = true;
            i.unknowns.push(unknown(Question::Protocol(Tls10)));
        });
        assert_eq!(sslv2.grade, "F");
    }

    #[test]
    fn scores_follow_the_guide() {
        let g = with(|_| {});
        // Protocols 100, key exchange (P-256) 100, ciphers (128..256) (80+100)/2 = 90.
        assert_eq!(
            (g.protocol_score, g.key_exchange_score, g.cipher_score),
            (100, 100, 90)
        );
        assert_eq!(g.score, 96);
        let rsa = with(|i| i.key = Some((KeyKind::Rsa, 2048)));
        assert_eq!(rsa.key_exchange_score, 90);
        assert_eq!(rsa.score, 93, "the guide's own example: 30 + 27 + 36");
        // A zero in any category makes the whole score zero.
        let null = with(|i| i.suites = vec![(Tls12, CipherSuite(0x0002))]);
        assert_eq!(
            (null.cipher_score, null.score, null.grade.as_str()),
            (0, 0, "F")
        );
        let t = with(|i| i.trusted = false);
        assert_eq!(t.grade_trust_ignored, Letter::APlus);
    }
}
