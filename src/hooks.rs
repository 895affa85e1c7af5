//! The one way certctl runs a user's command: deploy hooks (issue and renew), the on-failure
//! hook, and a configured nginx reload command all go through `/bin/sh -c`, with what they need
//! in `CERTCTL_*` variables.
//!
//! A deploy hook runs once per certificate version: [`run_marked`] runs it inside a wrapper
//! shell that, once the hook exits 0, creates a mark file before exiting itself. The mark is on
//! disk as soon as the hook is done, written by a process that outlives certctl, so a certctl
//! killed the moment after a hook finished does not make the next run repeat it. A hook that is
//! itself killed before it exits has no mark and runs again.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

/// A hook that could not run or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The shell could not be started.
    #[error("cannot run /bin/sh: {0}")]
    Spawn(#[source] std::io::Error),
    /// The command ran and failed.
    #[error("{command:?} exited with {status}")]
    Failed {
        /// The command as the user wrote it.
        command: String,
        /// How it ended.
        status: ExitStatus,
    },
}

/// `/bin/sh -c COMMAND`, ready for more environment or I/O settings.
pub fn shell(command: &str) -> Command {
    let mut shell = Command::new("/bin/sh");
    shell.arg("-c").arg(command);
    shell
}

/// What a hook reads on standard input.
pub enum Stdin<'a> {
    /// Inherited from certctl (an interactive `issue`).
    Inherit,
    /// Nothing (a scheduled renewal has no terminal).
    Null,
    /// These bytes, then end of file (the on-failure hook gets the report as JSON).
    Bytes(&'a [u8]),
}

/// Runs `command` under `/bin/sh -c` with `env`; its output goes where certctl's does.
pub fn run(
    command: &str,
    env: &[(&'static str, OsString)],
    stdin: Stdin<'_>,
) -> Result<(), HookError> {
    wait_for(shell(command), command, env, stdin)
}

/// The wrapper of [`run_marked`]: `$1` is the hook, `$2` the mark. It runs the hook in a shell
/// of its own (the hook's `exit` ends that shell, not the wrapper), creates the mark when the
/// hook succeeded (an empty file: its creation is atomic), and exits with the hook's status.
const MARK_WRAPPER: &str =
    r#"/bin/sh -c "$1"; s=$?; if [ "$s" -eq 0 ]; then : >"$2"; fi; exit "$s""#;

/// Runs a deploy hook like [`run`], and when it exits 0 creates `mark` from the wrapper shell
/// that ran it (see the module docs). The caller makes the mark durable if it is still alive.
pub fn run_marked(
    command: &str,
    env: &[(&'static str, OsString)],
    stdin: Stdin<'_>,
    mark: &Path,
) -> Result<(), HookError> {
    let mut wrapper = Command::new("/bin/sh");
    wrapper
        .arg("-c")
        .arg(MARK_WRAPPER)
        .arg("certctl-hook")
        .arg(command)
        .arg(mark);
    wait_for(wrapper, command, env, stdin)
}

/// Starts `shell` (which runs `command`) with `env` and `stdin`, and waits for it.
fn wait_for(
    mut shell: Command,
    command: &str,
    env: &[(&'static str, OsString)],
    stdin: Stdin<'_>,
) -> Result<(), HookError> {
    shell.envs(env.iter().map(|(k, v)| (k, v)));
    match stdin {
        Stdin::Inherit => {}
        Stdin::Null => {
            shell.stdin(Stdio::null());
        }
        Stdin::Bytes(_) => {
            shell.stdin(Stdio::piped());
        }
    }
    let mut child = shell.spawn().map_err(HookError::Spawn)?;
    if let (Stdin::Bytes(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A hook that does not read its input is not a failure.
        let _ = pipe.write_all(bytes);
    }
    let status = child.wait().map_err(HookError::Spawn)?;
    match status.success() {
        true => Ok(()),
        false => Err(HookError::Failed {
            command: command.to_owned(),
            status,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_variables_and_input_and_reports_the_exit_status() {
        let env = [("CERTCTL_NAME", OsString::from("a.test"))];
        run(
            r#"test "$CERTCTL_NAME" = a.test && test "$(cat)" = '{"x":1}'"#,
            &env,
            Stdin::Bytes(br#"{"x":1}"#),
        )
        .unwrap();
        let err = run("exit 3", &env, Stdin::Null).unwrap_err();
        assert_eq!(err.to_string(), "\"exit 3\" exited with exit status: 3");
    }

    #[test]
    fn a_marked_hook_leaves_its_mark_only_when_it_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("hook-x");
        let env = [("CERTCTL_NAME", OsString::from("a.test"))];
        let err = run_marked(
            r#"test "$CERTCTL_NAME" = a.test && exit 4"#,
            &env,
            Stdin::Null,
            &mark,
        )
        .unwrap_err();
        assert!(err.to_string().ends_with("exit status: 4"), "{err}");
        assert!(!mark.exists());
        // The hook's own `exit` and its input are its own; the mark follows its success.
        run_marked(
            r#"test "$(cat)" = in && exit 0; exit 1"#,
            &env,
            Stdin::Bytes(b"in"),
            &mark,
        )
        .unwrap();
        assert!(mark.exists());
    }
}
