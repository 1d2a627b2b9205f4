//! The real `loggerator` binary as a child process, for signals, crashes and the CLI.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest a test waits for the binary to say or do something.
pub const WAIT: Duration = Duration::from_secs(60);

/// A running `loggerator` child and what it prints.
pub struct Running {
    pub child: Child,
    /// Every line the child prints, on stdout or stderr.
    output: mpsc::Receiver<String>,
    /// The lines read from `output` so far.
    seen: std::cell::RefCell<Vec<String>>,
}

/// The `loggerator` binary under test.
pub const LOGGERATOR: &str = env!("CARGO_BIN_EXE_loggerator");

/// Runs the `loggerator` binary with `args`, collecting its output.
pub fn spawn(args: &[&str]) -> Running {
    spawn_program(LOGGERATOR, args)
}

/// Runs `program` with `args` (one that runs `loggerator` in turn), collecting its output.
pub fn spawn_program(program: &str, args: &[&str]) -> Running {
    spawn_command(Command::new(program).args(args))
}

/// Runs the `loggerator` binary with `args` and only the environment `env` (and `RUST_LOG`).
pub fn spawn_with_env(args: &[&str], env: &std::collections::BTreeMap<String, String>) -> Running {
    spawn_command(Command::new(LOGGERATOR).args(args).env_clear().envs(env))
}

fn spawn_command(command: &mut Command) -> Running {
    let mut child = command
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start loggerator");
    let (tx, output) = mpsc::channel();
    // Drain both pipes for the child's whole life, or it would block once one fills up.
    for pipe in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    Running {
        child,
        output,
        seen: Default::default(),
    }
}

impl Running {
    /// The first word starting with `prefix` in the output, waiting up to [`WAIT`] for it.
    pub fn find(&self, prefix: &str) -> String {
        self.first(prefix, |line| {
            line.split_whitespace()
                .find(|w| w.starts_with(prefix))
                .map(|word| word.trim_end_matches([',', ')']).to_owned())
        })
    }

    /// The first line of the output holding `text`, waiting up to [`WAIT`] for it.
    pub fn line_with(&self, text: &str) -> String {
        self.first(text, |line| line.contains(text).then(|| line.to_owned()))
    }

    /// What `pick` takes from the first output line it takes anything from.
    fn first(&self, what: &str, pick: impl Fn(&str) -> Option<String>) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .output
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {what:?} in the output within {WAIT:?}"));
            self.seen.borrow_mut().push(line.clone());
            if let Some(picked) = pick(&line) {
                return picked;
            }
        }
    }

    /// [`Running::terminate`], and every line it printed.
    pub fn terminate_with_output(mut self) -> (ExitStatus, Vec<String>) {
        let output = std::mem::replace(&mut self.output, mpsc::channel().1);
        let mut lines = self.seen.take();
        let status = self.terminate();
        while let Ok(line) = output.recv_timeout(Duration::from_secs(2)) {
            lines.push(line);
        }
        (status, lines)
    }

    /// Stops it as an operator would (SIGTERM) and waits up to [`WAIT`] for it to exit.
    pub fn terminate(mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("loggerator did not exit within {WAIT:?} of SIGTERM");
    }

    /// Kills it as a crash or a power cut would (SIGKILL: nothing runs on the way out).
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}
