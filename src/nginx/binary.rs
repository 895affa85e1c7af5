//! The nginx binary: version, `-t`, `-T`, reload. `-p`/`-c` are configurable so tests drive a
//! private instance the same way production drives the system one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::NginxError;

/// How to run nginx.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nginx {
    /// The binary (`nginx`).
    pub bin: PathBuf,
    /// `-p PREFIX`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<PathBuf>,
    /// `-c CONF`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conf: Option<PathBuf>,
    /// A shell command that reloads nginx; default `nginx -s reload` with the same -p/-c.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload_cmd: Option<String>,
}

/// An nginx version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// Parses `nginx version: nginx/1.22.1` (what `nginx -v` prints).
    pub fn parse(text: &str) -> Option<Self> {
        let v = text.split("nginx/").nth(1)?.split_whitespace().next()?;
        let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
        Some(Self(
            parts.next()??,
            parts.next()??,
            parts.next().flatten().unwrap_or(0),
        ))
    }

    /// nginx 1.25.1 moved HTTP/2 from `listen … http2` to `http2 on;`.
    pub fn has_http2_directive(self) -> bool {
        self >= Self(1, 25, 1)
    }
}

/// Where a bare `nginx` is looked for besides `$PATH`: cron's PATH (`/usr/bin:/bin`) lacks the
/// sbin directories Debian installs nginx into.
const SBIN: [&str; 3] = ["/usr/sbin", "/usr/local/sbin", "/sbin"];

/// The absolute path of `bin`: as given when it names a path, else the first executable file
/// of that name in `$PATH` or the sbin directories; the bare name when none is found (the error
/// then comes from running it). Records store the absolute path, so a renewal under cron or
/// systemd runs the same nginx the user's shell found.
pub fn resolve(bin: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    if bin.components().count() != 1 {
        return bin.to_owned();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(bin))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .unwrap_or_else(|| bin.to_owned())
}

impl Nginx {
    fn command(&self) -> Command {
        let mut cmd = Command::new(resolve(&self.bin));
        if let Some(p) = &self.prefix {
            cmd.arg("-p").arg(p);
        }
        if let Some(c) = &self.conf {
            cmd.arg("-c").arg(c);
        }
        cmd
    }

    fn run(&self, mut cmd: Command) -> Result<(bool, String, String), NginxError> {
        let out = cmd.output().map_err(|e| NginxError::Run {
            bin: self.bin.clone(),
            reason: e.to_string(),
        })?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// `nginx -v`.
    pub fn version(&self) -> Result<Version, NginxError> {
        Ok(self.build()?.version)
    }

    /// `nginx -V`: the version and the paths compiled in. Asked once per binary (and its
    /// modification time, so an upgrade is seen) per process: an `issue --nginx` renders the
    /// site twice and reloads twice.
    fn build(&self) -> Result<Build, NginxError> {
        type Seen = Vec<((PathBuf, Option<std::time::SystemTime>), Build)>;
        static SEEN: std::sync::Mutex<Seen> = std::sync::Mutex::new(Vec::new());
        let bin = resolve(&self.bin);
        let key = (
            bin.clone(),
            std::fs::metadata(&bin).and_then(|m| m.modified()).ok(),
        );
        let seen = |list: &Seen| list.iter().find(|(k, _)| *k == key).map(|(_, b)| b.clone());
        if let Some(b) = seen(&SEEN.lock().unwrap_or_else(|p| p.into_inner())) {
            return Ok(b);
        }
        let mut cmd = Command::new(&bin);
        cmd.arg("-V");
        let (_, out, err) = self.run(cmd)?;
        let build = Build::parse(&format!("{out}{err}")).ok_or_else(|| NginxError::Run {
            bin: self.bin.clone(),
            reason: format!(
                "unexpected `nginx -V` output: {}",
                err.lines().next().unwrap_or_default()
            ),
        })?;
        SEEN.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((key, build.clone()));
        Ok(build)
    }

    /// The pid file of the master this configuration runs: the main file's `pid` directive, else
    /// the compiled-in path; relative paths are under the prefix.
    fn pid_file(&self) -> Option<PathBuf> {
        let build = self.build().ok()?;
        let prefix = self.prefix.clone().unwrap_or_else(|| build.prefix.clone());
        let conf = prefix.join(self.conf.as_ref().unwrap_or(&build.conf_path));
        let text = std::fs::read_to_string(conf).ok()?;
        let main = super::lex::parse(&text).ok()?;
        let pid = main
            .iter()
            .find(|d| d.name() == "pid" && d.block.is_none())
            .and_then(|d| d.args().next().map(PathBuf::from))
            .unwrap_or(build.pid_path);
        Some(prefix.join(pid))
    }

    /// `nginx -t`: Ok, or the rejection with nginx's own message.
    pub fn test(&self) -> Result<(), NginxError> {
        let mut cmd = self.command();
        cmd.arg("-t");
        match self.run(cmd)? {
            (true, _, _) => Ok(()),
            (false, _, stderr) => Err(NginxError::TestFailed { stderr }),
        }
    }

    /// `nginx -T`: the whole configuration nginx loads, every included file inlined. A failure
    /// is the configuration as it stands (certctl changed nothing yet).
    pub fn dump(&self) -> Result<String, NginxError> {
        self.dump_as(|stderr| NginxError::Broken { stderr })
    }

    /// `nginx -T` as the test of files certctl just wrote (it tests as `-t` does): a failure
    /// is a rejection of those files, which the caller restores.
    pub fn test_and_dump(&self) -> Result<String, NginxError> {
        self.dump_as(|stderr| NginxError::TestFailed { stderr })
    }

    fn dump_as(&self, failed: fn(String) -> NginxError) -> Result<String, NginxError> {
        let mut cmd = self.command();
        cmd.arg("-T");
        match self.run(cmd)? {
            (true, stdout, _) => Ok(stdout),
            (false, _, stderr) => Err(failed(stderr)),
        }
    }

    /// Reloads nginx (the configured command, else `nginx -s reload`) and returns once new
    /// connections reach the new workers only: when the master's workers can be watched, as soon
    /// as every old one has stopped accepting (see [`super::workers`]); otherwise after the
    /// master's fixed overlap.
    pub fn reload(&self) -> Result<(), NginxError> {
        self.reload_then(true)
    }

    /// Reloads nginx and returns at once, for changes nothing checks right away (an import's
    /// repointed paths name the same certificate): with many sites, the master may take a
    /// second to load them all before its old workers stop.
    pub fn reload_without_waiting(&self) -> Result<(), NginxError> {
        self.reload_then(false)
    }

    fn reload_then(&self, wait: bool) -> Result<(), NginxError> {
        let workers = match wait {
            true => self
                .pid_file()
                .and_then(|p| super::workers::Workers::before_reload(&p)),
            false => None,
        };
        let master = match &self.reload_cmd {
            None => self
                .pid_file()
                .and_then(|p| super::workers::running_master(&p)),
            Some(_) => None,
        };
        // The master signalled directly; `nginx -s reload` (or the user's command) otherwise.
        if !master.is_some_and(super::workers::signal_reload) {
            let cmd = match &self.reload_cmd {
                Some(shell) => crate::hooks::shell(shell),
                None => {
                    let mut c = self.command();
                    c.args(["-s", "reload"]);
                    c
                }
            };
            match self.run(cmd)? {
                (true, _, _) => {}
                (false, out, err) => {
                    return Err(NginxError::ReloadFailed {
                        stderr: format!("{out}{err}"),
                    });
                }
            }
        }
        if wait && !workers.is_some_and(|w| w.wait_settled(SETTLE_LIMIT)) {
            std::thread::sleep(WORKER_OVERLAP);
        }
        Ok(())
    }
}

/// How long nginx's old workers keep accepting after a reload starts the new ones: its master
/// sleeps 100 ms between the two, plus margin for the signal. The wait when the workers cannot
/// be watched.
const WORKER_OVERLAP: Duration = Duration::from_millis(200);

/// How long a reload may take to show in the master's workers before the fixed wait is used.
const SETTLE_LIMIT: Duration = Duration::from_secs(2);

/// What `nginx -V` says: the version and the compiled-in paths.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Build {
    version: Version,
    prefix: PathBuf,
    conf_path: PathBuf,
    pid_path: PathBuf,
}

impl Build {
    /// Parses `nginx -V` (version line, then `configure arguments: --prefix=… --conf-path=…`);
    /// nginx's own defaults for the paths not configured.
    fn parse(text: &str) -> Option<Self> {
        let version = Version::parse(text)?;
        let arg = |name: &str| {
            text.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .map(PathBuf::from)
        };
        Some(Self {
            version,
            prefix: arg("--prefix=").unwrap_or_else(|| PathBuf::from("/usr/local/nginx")),
            conf_path: arg("--conf-path=").unwrap_or_else(|| PathBuf::from("conf/nginx.conf")),
            pid_path: arg("--pid-path=").unwrap_or_else(|| PathBuf::from("logs/nginx.pid")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_name_resolves_to_an_absolute_path_even_outside_path() {
        // sh is in /bin or /usr/bin everywhere; a path is kept as given.
        assert!(resolve(Path::new("sh")).is_absolute());
        assert_eq!(resolve(Path::new("./x/nginx")), PathBuf::from("./x/nginx"));
        assert_eq!(
            resolve(Path::new("no-such-binary-here")),
            PathBuf::from("no-such-binary-here")
        );
    }

    #[test]
    fn reads_the_compiled_in_paths() {
        let debian = "nginx version: nginx/1.22.1\nbuilt with OpenSSL 3.0.15\nconfigure arguments: --with-cc-opt='-g -O2' --prefix=/usr/share/nginx --conf-path=/etc/nginx/nginx.conf --pid-path=/run/nginx.pid --with-http_ssl_module\n";
        let b = Build::parse(debian).unwrap();
        assert_eq!(b.version, Version(1, 22, 1));
        assert_eq!(b.prefix, PathBuf::from("/usr/share/nginx"));
        assert_eq!(b.conf_path, PathBuf::from("/etc/nginx/nginx.conf"));
        assert_eq!(b.pid_path, PathBuf::from("/run/nginx.pid"));
        // A build configured with nothing: nginx's own defaults, under the prefix.
        let plain = Build::parse("nginx version: nginx/1.27.0\n").unwrap();
        assert_eq!(
            plain.prefix.join(&plain.pid_path),
            PathBuf::from("/usr/local/nginx/logs/nginx.pid")
        );
    }

    #[test]
    fn parses_versions() {
        assert_eq!(
            Version::parse("nginx version: nginx/1.22.1\n"),
            Some(Version(1, 22, 1))
        );
        assert_eq!(
            Version::parse("nginx version: nginx/1.27.3 (Ubuntu)"),
            Some(Version(1, 27, 3))
        );
        assert_eq!(Version::parse("garbage"), None);
        assert!(!Version(1, 22, 1).has_http2_directive());
        assert!(Version(1, 25, 1).has_http2_directive());
    }
}
