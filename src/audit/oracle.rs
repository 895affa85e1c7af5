//! Oracles judged from the outside: ROBOT (a Bleichenbacher oracle on RSA key exchange) and the
//! CBC padding oracles (POODLE against TLS, Zombie POODLE, GOLDENDOODLE). Each probe sends
//! variants that a correct server must treat alike, one connection each, and notes how the server
//! reacted ([`Reaction`]); a server that tells them apart has an oracle. A difference is asked a
//! second time before it counts, as the ROBOT authors' test does, so one dropped connection is not
//! a verdict. Pure: reactions in, [`Verdict`] out; the connections are in `oracle_probe`.

use serde::Serialize;

use super::wire::AlertDescription;

/// How the server reacted to one variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reaction {
    /// An alert with this description.
    Alert(u8),
    /// A record that is not an alert (after a bad record: the server took it as valid).
    Data,
    /// The server closed or reset the connection without an alert.
    Closed,
    /// Nothing within the wait.
    Silent,
}

impl std::fmt::Display for Reaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Alert(d) => write!(
                f,
                "alert {}",
                AlertDescription(*d).to_string().to_lowercase()
            ),
            Self::Data => f.write_str("a data record"),
            Self::Closed => f.write_str("a closed connection"),
            Self::Silent => f.write_str("silence"),
        }
    }
}

/// What a probe concluded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "snake_case")]
pub enum Verdict {
    /// The oracle is there; how it shows.
    Vulnerable(String),
    /// Every variant got the same reaction.
    NotVulnerable(String),
    /// The probe does not apply or cannot run here (no RSA key exchange, no CBC suite the probe
    /// speaks, a handshake the server refused); not graded.
    Untested(String),
    /// No usable answer (a timeout, the audit's deadline): graded as vulnerable.
    Unknown(String),
}

/// After one run of the variants: a verdict, or ask again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Done.
    Verdict(Verdict),
    /// The reactions differ: run the variants once more before calling it an oracle.
    AskAgain,
}

fn describe(names: &[&str], reactions: &[Reaction]) -> String {
    names
        .iter()
        .zip(reactions)
        .map(|(n, r)| format!("{n}: {r}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Compares the reactions to variants a correct server cannot tell apart (`names` labels them);
/// `again` is the second run, once [`Step::AskAgain`] asked for it.
pub fn compare(names: &[&str], first: &[Reaction], again: Option<&[Reaction]>) -> Step {
    let Some(reaction) = first.first() else {
        return Step::Verdict(Verdict::Untested("no variant was sent".into()));
    };
    if first.iter().all(|r| r == reaction) {
        return Step::Verdict(Verdict::NotVulnerable(format!(
            "every variant got {reaction}"
        )));
    }
    match again {
        None => Step::AskAgain,
        Some(again) if again == first => Step::Verdict(Verdict::Vulnerable(format!(
            "the server answers differently ({})",
            describe(names, first)
        ))),
        Some(again) => Step::Verdict(Verdict::NotVulnerable(format!(
            "the differences did not repeat ({} at first, then {})",
            describe(names, first),
            describe(names, again)
        ))),
    }
}

/// The CBC probe's three records, in the order `oracle_probe` sends them: a bad MAC, bad padding
/// bytes, a padding length beyond the record.
pub const CBC_VARIANTS: [&str; 3] = [
    "bad MAC",
    "bad padding bytes",
    "padding length beyond the record",
];

/// The CBC verdict: a record with bad padding bytes taken as valid is POODLE against TLS at
/// once; otherwise any difference between the three (asked twice) is a padding oracle.
pub fn cbc(first: &[Reaction], again: Option<&[Reaction]>) -> Step {
    if first.get(1) == Some(&Reaction::Data) {
        return Step::Verdict(Verdict::Vulnerable(
            "a record with wrong padding bytes is accepted (POODLE against TLS)".into(),
        ));
    }
    compare(&CBC_VARIANTS, first, again)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Reaction::*;

    const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];

    #[test]
    fn alike_is_not_vulnerable_and_a_repeated_difference_is() {
        let same = [Alert(20); 5];
        assert!(matches!(
            compare(&NAMES, &same, None),
            Step::Verdict(Verdict::NotVulnerable(_))
        ));
        let oracle = [Alert(20), Alert(40), Alert(40), Alert(40), Alert(20)];
        assert_eq!(compare(&NAMES, &oracle, None), Step::AskAgain);
        let Step::Verdict(Verdict::Vulnerable(why)) = compare(&NAMES, &oracle, Some(&oracle))
        else {
            panic!()
        };
        assert!(
            why.contains("a: alert bad_record_mac") && why.contains("b: alert handshake_failure"),
            "{why}"
        );
        let flaky = [Alert(20), Closed, Alert(20), Alert(20), Alert(20)];
        assert!(matches!(
            compare(&NAMES, &flaky, Some(&same)),
            Step::Verdict(Verdict::NotVulnerable(_))
        ));
    }

    #[test]
    fn cbc_acceptance_is_poodle_and_differences_are_an_oracle() {
        let Step::Verdict(Verdict::Vulnerable(why)) = cbc(&[Alert(20), Data, Alert(20)], None)
        else {
            panic!()
        };
        assert!(why.contains("POODLE"));
        let oracle = [Alert(20), Alert(21), Alert(21)];
        assert_eq!(cbc(&oracle, None), Step::AskAgain);
        assert!(matches!(
            cbc(&oracle, Some(&oracle)),
            Step::Verdict(Verdict::Vulnerable(_))
        ));
        assert!(matches!(
            cbc(&[Alert(20); 3], None),
            Step::Verdict(Verdict::NotVulnerable(_))
        ));
    }
}
