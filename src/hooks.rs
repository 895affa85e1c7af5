//! The one way certctl runs a user's command: deploy hooks (issue and renew), the on-failure
//! hook, and a configured nginx reload command all go through `/bin/sh -c`, with what they need
//! in `CERTCTL_*` variables.

use std::ffi::OsString;
use std::io::Write;
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
    let mut shell = shell(command);
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
}
