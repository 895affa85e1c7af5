//! Knowing when a reload has taken effect. `nginx -s reload` only signals the master, which
//! starts new workers, sleeps 100 ms and only then tells the old workers to quit
//! (ngx_master_process_cycle); until an old worker sees that, it keeps accepting connections and
//! answers them with the old configuration: the old certificate, or a 404 for a challenge the new
//! configuration serves. Watching the master's children in /proc shows when every old worker has
//! stopped accepting, usually about 110 ms after the signal, instead of sleeping for a guess.

use std::path::Path;
use std::time::{Duration, Instant};

/// The master and the workers it had before a reload.
#[derive(Debug)]
pub struct Workers {
    master: u32,
    old: Vec<u32>,
}

/// What `/proc` says of one child of the master.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Child {
    pid: u32,
    title: String,
}

impl Child {
    /// A worker that still accepts connections (not the cache manager or loader, and not an old
    /// worker that has closed its listening sockets and is finishing its requests).
    fn accepts(&self) -> bool {
        self.title.contains("worker process") && !self.title.contains("shutting down")
    }
}

impl Workers {
    /// The running master (from its pid file) and its workers now; `None` when no master is
    /// found there (nginx not running, another pid namespace, no /proc).
    pub fn before_reload(pid_file: &Path) -> Option<Self> {
        let master: u32 = std::fs::read_to_string(pid_file)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let old = children(master)?.into_iter().map(|c| c.pid).collect();
        Some(Self { master, old })
    }

    /// Waits until the master runs a worker it did not have before and no old worker accepts
    /// connections any more. False when that was not seen within `limit` (a reload the master
    /// refused, or workers that never change title); the caller then falls back to a fixed wait.
    pub fn wait_settled(&self, limit: Duration) -> bool {
        let start = Instant::now();
        loop {
            if let Some(now) = children(self.master)
                && settled(&self.old, &now)
            {
                // The title changes just before the old worker closes its listening
                // sockets: a moment more so that close has surely happened.
                std::thread::sleep(Duration::from_millis(5));
                return true;
            }
            if start.elapsed() >= limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The running nginx master named by `pid_file`: its pid when /proc shows an nginx master
/// process there (a stale pid file may name another process by now).
pub fn running_master(pid_file: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    title(&raw)
        .starts_with("nginx: master process")
        .then_some(pid)
}

/// Tells the master to reload: SIGHUP, what `nginx -s reload` sends once it has parsed the
/// whole configuration again (loading every certificate) only to find the pid. False when the
/// signal could not be sent.
pub fn signal_reload(master: u32) -> bool {
    let Some(pid) = i32::try_from(master)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).is_ok()
}

/// True when some worker is new and no old one still accepts.
fn settled(old: &[u32], now: &[Child]) -> bool {
    let fresh = now.iter().any(|c| !old.contains(&c.pid) && c.accepts());
    let stale = now.iter().any(|c| old.contains(&c.pid) && c.accepts());
    fresh && !stale
}

/// The master's children with their process titles; `None` when the master is gone.
fn children(master: u32) -> Option<Vec<Child>> {
    // Each thread's own children (a master is single-threaded; a test process is not).
    let pids: Vec<u32> = match std::fs::read_dir(format!("/proc/{master}/task")) {
        Ok(tasks)
            if std::fs::metadata(format!("/proc/{master}/task/{master}/children")).is_ok() =>
        {
            tasks
                .flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
                .flat_map(|list| {
                    list.split_whitespace()
                        .filter_map(|p| p.parse().ok())
                        .collect::<Vec<u32>>()
                })
                .collect()
        }
        Ok(_) => {
            // Kernels without CONFIG_PROC_CHILDREN: every process's parent, from its stat line.
            std::fs::read_dir("/proc")
                .ok()?
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| {
                    std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .ok()
                        .and_then(|stat| parent_of(&stat))
                        == Some(master)
                })
                .collect()
        }
        Err(_) => return None,
    };
    Some(
        pids.into_iter()
            .filter_map(|pid| {
                let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                Some(Child {
                    pid,
                    title: title(&raw),
                })
            })
            .collect(),
    )
}

/// The parent pid from a `/proc/PID/stat` line: the fourth field, counted after the command
/// name's closing parenthesis (the name itself may hold spaces and parentheses).
fn parent_of(stat: &str) -> Option<u32> {
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A process title from `/proc/PID/cmdline`: nginx overwrites its argv, padding with NULs.
fn title(cmdline: &[u8]) -> String {
    String::from_utf8_lossy(cmdline)
        .split('\0')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(pid: u32, title: &str) -> Child {
        Child {
            pid,
            title: title.into(),
        }
    }

    #[test]
    fn settled_once_new_workers_accept_and_old_ones_shut_down() {
        let old = [10, 11, 12];
        // Just signalled: only the old workers (and the cache manager).
        let before = [
            child(10, "nginx: worker process"),
            child(11, "nginx: worker process"),
            child(12, "nginx: cache manager process"),
        ];
        assert!(!settled(&old, &before));
        // New workers started, old ones still accepting (the master's 100 ms sleep).
        let overlap = [
            child(10, "nginx: worker process"),
            child(11, "nginx: worker process"),
            child(20, "nginx: worker process"),
        ];
        assert!(!settled(&old, &overlap));
        // One old worker finishing a request, the other gone.
        let after = [
            child(10, "nginx: worker process is shutting down"),
            child(20, "nginx: worker process"),
            child(21, "nginx: worker process"),
        ];
        assert!(settled(&old, &after));
        // A master that has not started its new workers yet is not settled, even with no old
        // worker left.
        assert!(!settled(&old, &[child(12, "nginx: cache manager process")]));
    }

    #[test]
    fn reads_proc_lines() {
        assert_eq!(
            parent_of("4242 (nginx: worker) S 4200 4200 4200 0 -1 4194624"),
            Some(4200)
        );
        assert_eq!(parent_of("7 (a) b) R 1 7 7"), Some(1));
        assert_eq!(parent_of("garbage"), None);
        assert_eq!(
            title(b"nginx: worker process\0\0\0\0"),
            "nginx: worker process"
        );
        assert_eq!(
            title(b"nginx: master process nginx\0-p\0/tmp/x\0"),
            "nginx: master process nginx -p /tmp/x"
        );
    }

    #[test]
    fn finds_this_process_children() {
        // A real child of this test process, found through /proc as the master's would be.
        let mut sleeper = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        // spawn may return before the child has exec'd: look until its title shows.
        let mut found = Vec::new();
        for _ in 0..200 {
            found = children(std::process::id()).unwrap();
            if found.iter().any(|c| c.title.contains("sleep")) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        assert!(
            found
                .iter()
                .any(|c| c.pid == sleeper.id() && c.title.contains("sleep 5")),
            "{found:?} (sleeper {})",
            sleeper.id()
        );
    }
}
