//! `loggerator-bench`: measurements of ingest and query speed, run against child processes of
//! the `loggerator` binary, so the figures are those of the `serve` an operator runs and the
//! bench's own work (polling, HTTP clients) does not share the service's runtime. A package of
//! its own: its HTTP client and that client's dependencies stay out of the service's build.

mod api;
mod ceiling;
mod cli;
mod ingest;
mod process;
mod query;
mod stats;
mod tail;

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use loggerator::service::ShutdownSignals;

use crate::cli::{BenchArgs, BenchCommand};

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = BenchArgs::parse();
    let system = actix_rt::System::new();
    let result = system.block_on(async move {
        let signals =
            ShutdownSignals::new().map_err(|e| BenchError::io("cannot catch signals", e))?;
        run(args, signals).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Usage(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("{name} did not log its address within {secs} s; its log ends with:\n{log}")]
    NoAddress {
        name: String,
        secs: u64,
        log: String,
    },
    #[error("{name} exited ({status}); its log ends with:\n{log}")]
    ChildExited {
        name: String,
        status: String,
        log: String,
    },
    #[error("{name} did not exit within {secs} s of SIGTERM")]
    Stuck { name: String, secs: u64 },
    #[error("GET {url}: {message}")]
    Http { url: String, message: String },
    #[error("ingest did not finish within {secs} s: {detail}")]
    Timeout { secs: u64, detail: String },
    #[error("every source finished with {got} lines stored or rejected, not the {expected} sent")]
    Incomplete { got: u64, expected: u64 },
    #[error("{0} has no rows to query")]
    NoData(String),
    #[error("interrupted")]
    Interrupted,
}

impl BenchError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }
}

/// Runs until the bench ends or a signal arrives. On a signal the bench future is dropped, and
/// with it the guard that kills every child process.
async fn run(args: BenchArgs, mut signals: ShutdownSignals) -> Result<(), BenchError> {
    let program = loggerator_program(args.loggerator)?;
    let work = async move {
        match args.command {
            BenchCommand::Ingest(args) => ingest::run(args, &program).await,
            BenchCommand::Query(args) => query::run(args, &program).await,
        }
    };
    tokio::select! {
        result = work => result,
        _ = signals.recv() => Err(BenchError::Interrupted),
    }
}

/// The `loggerator` binary to measure: the one given, or the one built next to this program
/// (`cargo build --release --workspace` puts both in `target/release/`).
fn loggerator_program(given: Option<PathBuf>) -> Result<PathBuf, BenchError> {
    if let Some(path) = given {
        return Ok(path);
    }
    let exe = std::env::current_exe()
        .map_err(|e| BenchError::io("cannot find this program's executable", e))?;
    let beside = exe
        .parent()
        .unwrap_or(Path::new("."))
        .join(format!("loggerator{}", std::env::consts::EXE_SUFFIX));
    if beside.is_file() {
        Ok(beside)
    } else {
        Err(BenchError::usage(format!(
            "no loggerator binary at {}: build it (cargo build --release --workspace) or pass --loggerator PATH",
            beside.display()
        )))
    }
}

/// The first lines of every report: what a reader needs to reproduce the figures, including the
/// service's tuning, which children take from the inherited environment.
pub(crate) fn preamble(title: &str) -> String {
    let mut out = format!("loggerator-bench {title}\n");
    let _ = writeln!(out, "command: {} (on {})", command_line(), machine());
    let mut env: Vec<String> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .filter(|(k, _)| k.starts_with("LOGGERATOR_"))
        .map(|(k, v)| format!("{k}={}", shell_quote(&v)))
        .collect();
    env.sort();
    if !env.is_empty() {
        let _ = writeln!(out, "environment: {}", env.join(" "));
    }
    out
}

fn command_line() -> String {
    std::env::args_os()
        .map(|arg| shell_quote(&arg.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn machine() -> String {
    let arch = std::process::Command::new("uname")
        .arg("-m")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|arch| !arch.is_empty())
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{arch}, {cpus} CPUs available")
}

fn shell_quote(arg: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&b);
    if !arg.is_empty() && arg.bytes().all(plain) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_the_shell_would_split_or_expand() {
        assert_eq!(shell_quote("--lines"), "--lines");
        assert_eq!(
            shell_quote("http://127.0.0.1:8000"),
            "http://127.0.0.1:8000"
        );
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
