//! Child processes of the `loggerator` binary (`emulate`, `serve`), each logging to its own
//! file, and the guard that kills them whatever way the bench ends.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::BenchError;

const POLL: Duration = Duration::from_millis(50);
/// Start-up is a few milliseconds; this only bounds a child that never gets going.
const STARTUP: Duration = Duration::from_secs(30);

struct Running {
    name: String,
    child: Child,
    log: PathBuf,
}

#[derive(Debug, Clone, Copy)]
pub struct ChildId(usize);

/// Every child started. Whatever still runs when this is dropped is killed, so no exit path of
/// the bench (an error, Ctrl-C) leaves a process behind.
pub struct Children {
    /// The `loggerator` executable that every child runs.
    program: PathBuf,
    running: Vec<Running>,
}

impl Children {
    pub fn new(program: &Path) -> Self {
        Self {
            program: program.to_owned(),
            running: Vec::new(),
        }
    }

    pub fn spawn(
        &mut self,
        name: &str,
        args: Vec<OsString>,
        log_dir: &Path,
    ) -> Result<ChildId, BenchError> {
        let log = log_dir.join(format!("{name}.log"));
        let file = File::create(&log)
            .map_err(|e| BenchError::io(format!("cannot create {}", log.display()), e))?;
        let stdout = file
            .try_clone()
            .map_err(|e| BenchError::io(format!("cannot share {}", log.display()), e))?;
        let child = Command::new(&self.program)
            .args(&args)
            // Children announce their addresses at info, which is also the level operators run.
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(file)
            .spawn()
            .map_err(|e| {
                BenchError::io(
                    format!("cannot start {name} ({})", self.program.display()),
                    e,
                )
            })?;
        self.running.push(Running {
            name: name.to_owned(),
            child,
            log,
        });
        Ok(ChildId(self.running.len() - 1))
    }

    pub fn pid(&self, id: ChildId) -> u32 {
        self.running[id.0].child.id()
    }

    /// None while the child runs.
    pub fn exited(&mut self, id: ChildId) -> Option<ExitStatus> {
        self.running[id.0].child.try_wait().ok().flatten()
    }

    /// The error for a child that exited when it should not have, with the end of its log.
    pub fn exit_error(&self, id: ChildId, status: ExitStatus) -> BenchError {
        let running = &self.running[id.0];
        BenchError::ChildExited {
            name: running.name.clone(),
            status: status.to_string(),
            log: log_tail(&running.log, 20),
        }
    }

    /// Waits for the child to log the address it listens on, right after `marker`: children
    /// listen on port 0, so the log is the only place the port is known.
    pub async fn address(&mut self, id: ChildId, marker: &str) -> Result<String, BenchError> {
        let start = Instant::now();
        loop {
            let bytes = std::fs::read(&self.running[id.0].log).unwrap_or_default();
            if let Some(address) = address_after(&String::from_utf8_lossy(&bytes), marker) {
                return Ok(address);
            }
            if let Some(status) = self.exited(id) {
                return Err(self.exit_error(id, status));
            }
            if start.elapsed() > STARTUP {
                let running = &self.running[id.0];
                return Err(BenchError::NoAddress {
                    name: running.name.clone(),
                    secs: STARTUP.as_secs(),
                    log: log_tail(&running.log, 20),
                });
            }
            actix_rt::time::sleep(POLL).await;
        }
    }

    /// Stops the child as an operator would, with SIGTERM (std only has SIGKILL, and the
    /// service must shut down cleanly to checkpoint), and waits for it to exit.
    pub async fn terminate(
        &mut self,
        id: ChildId,
        timeout: Duration,
    ) -> Result<ExitStatus, BenchError> {
        let pid = self.pid(id).to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .map_err(|e| BenchError::io("cannot run kill", e))?;
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited(id) {
                return Ok(status);
            }
            if !sent.success() || start.elapsed() > timeout {
                return Err(BenchError::Stuck {
                    name: self.running[id.0].name.clone(),
                    secs: timeout.as_secs(),
                });
            }
            actix_rt::time::sleep(POLL).await;
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for running in &mut self.running {
            if let Ok(None) = running.child.try_wait() {
                let _ = running.child.kill();
                let _ = running.child.wait();
            }
        }
    }
}

/// Every this many lines of each emulated source come from `rareuser`.
pub const RARE_USER_EVERY: &str = "10000";

/// Starts one emulator per count (seeds 1, 2, ...) and returns their addresses.
pub async fn start_emulators(
    children: &mut Children,
    counts: &[u64],
    log_dir: &Path,
) -> Result<Vec<String>, BenchError> {
    let mut addresses = Vec::with_capacity(counts.len());
    for (i, count) in counts.iter().enumerate() {
        let seed = i as u64 + 1;
        let args = [
            "emulate",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--count",
            &count.to_string(),
            "--seed",
            &seed.to_string(),
            // A user with 0.01 % of the lines, for the `rare-user` query.
            "--rare-user-every",
            RARE_USER_EVERY,
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        let id = children.spawn(&format!("emulator-{seed}"), args, log_dir)?;
        // The emulator logs "emulating a loggerator source on ADDR (...)".
        addresses.push(children.address(id, "source on ").await?);
    }
    Ok(addresses)
}

/// Starts `serve` on `db`, ingesting from `sources`, with the API on a free port; returns the
/// child and the API's base URL.
pub async fn start_serve(
    children: &mut Children,
    sources: &[String],
    db: &Path,
    log_dir: &Path,
) -> Result<(ChildId, String), BenchError> {
    let mut args: Vec<OsString> = vec!["serve".into()];
    if sources.is_empty() {
        // No sources: an empty value, which serve must take as "none" rather than an address.
        args.push("--source=".into());
    } else {
        args.push("--source".into());
        args.push(sources.join(",").into());
    }
    args.push("--db".into());
    args.push(db.as_os_str().to_owned());
    args.push("--listen".into());
    args.push("127.0.0.1:0".into());
    let id = children.spawn("serve", args, log_dir)?;
    // The service logs "serving the API on http://ADDR".
    let address = children.address(id, "http://").await?;
    Ok((id, format!("http://{address}")))
}

/// The first complete `HOST:PORT` (IPv4) after `marker`. An address still being written (at the
/// very end of the text) is not complete yet.
fn address_after(text: &str, marker: &str) -> Option<String> {
    text.match_indices(marker).find_map(|(at, _)| {
        let rest = &text[at + marker.len()..];
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))?;
        let address = &rest[..end];
        let (host, port) = address.rsplit_once(':')?;
        (!host.is_empty() && !port.is_empty()).then(|| address.to_owned())
    })
}

fn log_tail(log: &Path, lines: usize) -> String {
    let bytes = std::fs::read(log).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_addresses_children_log() {
        let emulator = "[2026-01-01T00:00:00Z INFO  loggerator::emulator] emulating a loggerator \
                        source on 127.0.0.1:40123 (800000 lines per connection, seed 1)\n";
        assert_eq!(
            address_after(emulator, "source on ").as_deref(),
            Some("127.0.0.1:40123")
        );
        let serve = "[x INFO  loggerator::service] serving the API on http://127.0.0.1:8000\n";
        assert_eq!(
            address_after(serve, "http://").as_deref(),
            Some("127.0.0.1:8000")
        );
    }

    #[test]
    fn waits_for_an_address_written_whole() {
        assert_eq!(
            address_after("serving the API on http://127.0.0.1:80", "http://"),
            None
        );
        assert_eq!(
            address_after("serving the API on http://127.0.0.1", "http://"),
            None
        );
        assert_eq!(address_after("nothing yet", "http://"), None);
    }
}
