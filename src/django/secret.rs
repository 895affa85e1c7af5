//! `certctl django secret-key`: a strong SECRET_KEY from the OS CSPRNG, and writing it into an
//! env file that git will not commit.

use std::path::{Path, PathBuf};

use super::DjangoError;
use super::checks;
use super::project::git;
use super::settings::Value;

/// A SECRET_KEY from the OS CSPRNG: 64 characters from Django's own alphabet (50 is Django's
/// minimum), so it passes security.W009.
pub fn secret_key() -> Result<String, DjangoError> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789!@#%^&*(-_=+)";
    let mut key = String::with_capacity(64);
    let mut bytes = [0u8; 1];
    while key.len() < 64 {
        getrandom::fill(&mut bytes).map_err(|e| DjangoError::Random(e.to_string()))?;
        // Reject the top of the range so every character is equally likely.
        let limit = 256 - 256 % ALPHABET.len();
        if usize::from(bytes[0]) < limit {
            key.push(char::from(ALPHABET[usize::from(bytes[0]) % ALPHABET.len()]));
        }
    }
    debug_assert!(checks::strong_secret(&Value::Str(key.clone())));
    Ok(key)
}

/// Writes or replaces DJANGO_SECRET_KEY in an env file, 0600, atomically. Refuses a file inside a
/// git work tree unless git ignores it.
pub fn write_secret_env(path: &Path, key: &str) -> Result<(), DjangoError> {
    let fail = |why: String| DjangoError::SecretFile {
        path: path.to_owned(),
        why,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(fail("its directory does not exist".into()));
    }
    let in_work_tree = git(&dir, &["rev-parse", "--is-inside-work-tree"])
        .is_some_and(|out| out.starts_with(b"true"));
    if in_work_tree {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let ignored = git(&dir, &["check-ignore", "-q", "--no-index", &name]).is_some();
        if !ignored {
            return Err(fail(
                "is inside a git work tree and not git-ignored; add it to .gitignore first".into(),
            ));
        }
    }
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(fail(e.to_string())),
    };
    let text = with_secret_line(&old, key);
    Ok(crate::fsio::write_atomic(path, text.as_bytes(), 0o600)?)
}

/// The env file's text with its DJANGO_SECRET_KEY line (bare or `export`ed) replaced by one
/// holding `key`, or that line appended.
fn with_secret_line(old: &str, key: &str) -> String {
    let line = format!("DJANGO_SECRET_KEY='{key}'");
    let mut replaced = false;
    let mut lines: Vec<String> = old
        .lines()
        .map(|l| {
            let bare = l.trim_start().trim_start_matches("export ").trim_start();
            if bare.starts_with("DJANGO_SECRET_KEY=") {
                replaced = true;
                line.clone()
            } else {
                l.to_owned()
            }
        })
        .collect();
    if !replaced {
        lines.push(line);
    }
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_line_is_replaced_in_place_or_appended() {
        let old = "DEBUG=0\nexport DJANGO_SECRET_KEY=old\nALLOWED_HOSTS=a.test";
        assert_eq!(
            with_secret_line(old, "k"),
            "DEBUG=0\nDJANGO_SECRET_KEY='k'\nALLOWED_HOSTS=a.test\n"
        );
        assert_eq!(with_secret_line("", "k"), "DJANGO_SECRET_KEY='k'\n");
        assert_eq!(
            with_secret_line("A=1\n", "k"),
            "A=1\nDJANGO_SECRET_KEY='k'\n"
        );
    }

    #[test]
    fn secret_keys_pass_djangos_check() {
        let key = secret_key().unwrap();
        assert_eq!(key.len(), 64);
        assert!(checks::strong_secret(&Value::Str(key)));
    }
}
