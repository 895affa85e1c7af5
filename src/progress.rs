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
