//! Progress reporting: the library says which step it is on; the CLI decides how to show it.

use std::fmt;

/// A step of issuance, in the order they happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Loading or creating the ACME account.
    Account,
    /// Creating the order.
    Order,
    /// Publishing challenge responses (and the self-check).
    Challenge,
    /// Waiting for the CA to validate.
    Validation,
    /// Sending the CSR and downloading the certificate.
    Finalize,
    /// Checking the chain, key and names.
    Verify,
    /// Writing the new version and swapping live/.
    Install,
    /// Running the deploy hook.
    Deploy,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Account => "account",
            Self::Order => "order",
            Self::Challenge => "challenge",
            Self::Validation => "validation",
            Self::Finalize => "finalize",
            Self::Verify => "verify",
            Self::Install => "install",
            Self::Deploy => "deploy",
        })
    }
}

/// Receives progress. Implemented by the CLI; `()` ignores everything.
pub trait Progress: Sync {
    /// A step started or finished with something worth saying.
    fn step(&self, step: Step, detail: &str);
}

impl Progress for () {
    fn step(&self, _: Step, _: &str) {}
}

/// Counted work (targets audited, lineages imported, certificates synced): the library says how
/// many there are and each one as it is done; the CLI decides how to show it (a bar on a
/// terminal, see [`show_bar`]). `()` ignores everything.
pub trait Tally: Sync {
    /// There are `n` items in all.
    fn total(&self, n: u64);
    /// One more is done (`item` names it).
    fn done(&self, item: &str);
}

impl Tally for () {
    fn total(&self, _: u64) {}
    fn done(&self, _: &str) {}
}

/// Whether the CLI draws a progress bar or spinner: only for a person watching, so only when
/// stderr is a terminal, and never with `-q` or `--json` (a script reads those runs).
pub fn show_bar(stderr_tty: bool, quiet: bool, json: bool) -> bool {
    stderr_tty && !quiet && !json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_only_for_a_person_at_a_terminal() {
        // (stderr a terminal, -q, --json) → shown
        let table = [
            ((true, false, false), true),
            ((true, true, false), false),
            ((true, false, true), false),
            ((true, true, true), false),
            ((false, false, false), false),
            ((false, false, true), false),
            ((false, true, false), false),
        ];
        for ((tty, quiet, json), shown) in table {
            assert_eq!(
                show_bar(tty, quiet, json),
                shown,
                "tty {tty} -q {quiet} --json {json}"
            );
        }
    }
}
