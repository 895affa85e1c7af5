//! A private PostgreSQL cluster for the fleet tests: Debian's server binaries (initdb, pg_ctl)
//! on a free loopback port, data and socket directory in a temporary directory, trust
//! authentication for a superuser `certctl` on 127.0.0.1 only. As root (CI), the cluster runs as
//! the `postgres` user, since the server refuses to run as root. Stopped on drop.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::process::free_port;

/// A running cluster.
pub struct Postgres {
    _dir: tempfile::TempDir,
    root: PathBuf,
    bin: PathBuf,
    port: u16,
    owner: Option<(u32, u32)>,
}

impl Postgres {
    /// initdb + pg_ctl start; panics with the apt-get line when the server is not installed.
    pub fn start() -> Self {
        let bin = server_bin();
        let dir = tempfile::tempdir().expect("temp dir");
        // The server's user must reach its directories inside root's temporary directory.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path().join("pg");
        std::fs::create_dir(&root).unwrap();
        let owner = running_as_root().then(postgres_user);
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&root, Some(uid), Some(gid)).unwrap();
        }
        let pg = Self {
            _dir: dir,
            root,
            bin,
            port: free_port(),
            owner,
        };
        let init = pg
            .server_cmd("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "certctl",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(pg.data())
            .output()
            .expect("initdb");
        assert_ok("initdb", &init);
        std::fs::create_dir(pg.root.join("sock")).unwrap();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(pg.root.join("sock"), Some(uid), Some(gid)).unwrap();
        }
        pg.start_server();
        pg
    }

    /// `postgres://certctl@127.0.0.1:PORT/postgres`
    pub fn url(&self) -> String {
        format!("postgres://certctl@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast shutdown): clients see the database go away.
    pub fn stop(&self) {
        let out = self
            .server_cmd("pg_ctl")
            .args(["stop", "-w", "-m", "fast", "-D"])
            .arg(self.data())
            .output()
            .expect("pg_ctl stop");
        assert_ok("pg_ctl stop", &out);
    }

    /// Starts it again on the same port, waiting until it accepts connections.
    pub fn start_server(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            self.root.join("sock").display()
        );
        let out = self
            .server_cmd("pg_ctl")
            .args(["start", "-w", "-t", "60", "-o", &options, "-l"])
            .arg(self.root.join("server.log"))
            .arg("-D")
            .arg(self.data())
            .output()
            .expect("pg_ctl start");
        if !out.status.success() {
            panic!(
                "pg_ctl start failed: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
            );
        }
    }

    /// Runs SQL through psql and returns the unaligned, tuples-only output.
    pub fn psql(&self, sql: &str) -> String {
        self.try_psql(sql)
            .unwrap_or_else(|e| panic!("psql failed: {e}"))
    }

    /// As [`Postgres::psql`], the failure as a message.
    pub fn try_psql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.url(),
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("psql");
        match out.status.success() {
            true => Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned()),
            false => Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )),
        }
    }

    /// From now on the server speaks TLS with `cert_pem`/`key_pem` and refuses TCP clients
    /// that do not (pg_hba `hostssl` only); reloads and waits until it does.
    pub fn require_tls(&self, cert_pem: &str, key_pem: &str) {
        for (file, text, mode) in [
            ("server.crt", cert_pem, 0o644),
            ("server.key", key_pem, 0o600),
            (
                "pg_hba.conf",
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
                0o600,
            ),
        ] {
            let path = self.data().join(file);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            if let Some((uid, gid)) = self.owner {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
            }
        }
        let conf = self.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        if !text.contains("\nssl = on\n") {
            text.push_str("\nssl = on\n");
            std::fs::write(&conf, text).unwrap();
        }
        let out = self
            .server_cmd("pg_ctl")
            .args(["reload", "-D"])
            .arg(self.data())
            .output()
            .expect("pg_ctl reload");
        assert_ok("pg_ctl reload", &out);
        // The reload is asynchronous: wait until a TLS session is what the server gives.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while self
            .try_psql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .ok()
            .as_deref()
            != Some("t")
        {
            assert!(
                std::time::Instant::now() < deadline,
                "PostgreSQL never spoke TLS"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn server_cmd(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.stdin(Stdio::null()).env("LC_ALL", "C.UTF-8");
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid).current_dir("/");
        }
        cmd
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .server_cmd("pg_ctl")
            .args(["stop", "-w", "-m", "immediate", "-D"])
            .arg(self.data())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn assert_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Debian's server binaries (the newest installed major version).
fn server_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str()?.parse::<u32>().ok())
    });
    found
        .pop()
        .expect("PostgreSQL's server is not installed: apt-get install -y postgresql")
}

fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The uid and gid of the `postgres` user the Debian package creates.
fn postgres_user() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                ["postgres", _, uid, gid, ..] => Some((uid.parse().ok()?, gid.parse().ok()?)),
                _ => None,
            }
        })
        .expect("no postgres user: apt-get install -y postgresql")
}
