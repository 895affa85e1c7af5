//! The one shape every check reports in: a stable ID, a [`Severity`], a message and a fix.
//! Audit, Django and verify findings embed a [`Finding`] and add their own context (the setting
//! and file, the URL, the certificate check), so scripts read `id` and `severity` the same way
//! everywhere.

use serde::Serialize;

/// How bad a finding is, least bad first, so the worst of a list is its maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Checked and fine.
    Ok,
    /// Worth knowing; nothing to fix.
    Info,
    /// Could not be decided (a value certctl cannot know, a probe that could not run).
    Unknown,
    /// Needs attention: weaker than it should be, or soon broken.
    Warning,
    /// Broken or dangerous now.
    Error,
}

impl Severity {
    /// How reports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Info => "info",
            Self::Unknown => "unknown",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// One finding: what every report shares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable across releases, documented in the README (`security.W004`, `certctl.D001`,
    /// `live.L001`, `audit.CAP_RC4` …): scripts match on it, never on the message.
    pub id: &'static str,
    /// How bad.
    pub severity: Severity,
    /// What is wrong (or what was found), one line.
    pub message: String,
    /// How to fix it, one line; empty when there is nothing to do.
    pub fix: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_of_a_list_is_its_maximum() {
        let list = [Severity::Info, Severity::Error, Severity::Warning];
        assert_eq!(list.iter().max(), Some(&Severity::Error));
        assert!(Severity::Ok < Severity::Info && Severity::Unknown < Severity::Warning);
    }

    #[test]
    fn serializes_lowercase() {
        let json = serde_json::to_string(&Severity::Warning).unwrap();
        assert_eq!(json, "\"warning\"");
        assert_eq!(Severity::Unknown.as_str(), "unknown");
    }
}
