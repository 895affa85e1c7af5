//! Processes the tests start: a guard that stops and reaps its child on drop, readiness by port
//! polling (never a fixed sleep), and free loopback ports from the kernel.

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process that is stopped and reaped on drop, its stdout and stderr in a log file
/// that failures quote.
pub struct Subprocess {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Subprocess {
    /// Starts `cmd` with stdin closed and its output in `log`; panics with the apt-get line
    /// when the program is missing.
    pub fn spawn(name: &'static str, mut cmd: Command, log: PathBuf) -> Self {
        let out = fs::File::create(&log).expect("create log file");
        let err = out.try_clone().expect("clone log handle");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {name}: {e}. Install the lab with: apt-get install -y pebble nginx openssl curl"
            )
        });
        Self { name, child, log }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What the process is (`pebble`, `nginx` …).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Polls `addr` with growing sleeps until it accepts, or panics with the process log.
    pub fn wait_for_port(&mut self, addr: SocketAddr) {
        if let Err(e) = self.try_wait_for_port(addr) {
            panic!("{e}");
        }
    }

    /// Like [`Subprocess::wait_for_port`], with the failure as a message.
    pub fn try_wait_for_port(&mut self, addr: SocketAddr) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut pause = Duration::from_millis(5);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}) before listening on {addr}; log {}:\n{}",
                    self.name,
                    self.log.display(),
                    fs::read_to_string(&self.log).unwrap_or_default()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not listen on {addr} within 20 s; log {}:\n{}",
                    self.name,
                    self.log.display(),
                    fs::read_to_string(&self.log).unwrap_or_default()
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// Waits up to `timeout` for the process to exit on its own, polling every `pause`; true
    /// when it has.
    pub fn wait_for_exit(&mut self, timeout: Duration, pause: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while matches!(self.child.try_wait(), Ok(None)) {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(pause);
        }
        true
    }
}

impl Drop for Subprocess {
    /// SIGTERM first, so nginx's master stops its workers (SIGKILL would orphan them, still
    /// listening); SIGKILL after two seconds.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        self.wait_for_exit(Duration::from_secs(2), Duration::from_millis(5));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 that this test process never handed out before, taken below the
/// kernel's ephemeral range (`ip_local_port_range`, 32768 and up by default): the port is
/// released before pebble or nginx binds it, and a port in the ephemeral range can be taken in
/// between as the local end of any outgoing connection (a flake seen under load).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    // Start from a spot that differs per process, so parallel test binaries rarely meet.
    let seed = (std::process::id() as u64).wrapping_mul(2_654_435_761);
    let (low, span) = (15_000u64, 17_000u64);
    for i in 0..span {
        let port = (low + (seed + i * 7_919) % span) as u16;
        if given.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
    panic!("no free port between {low} and {}", low + span);
}

/// 127.0.0.1:`port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
