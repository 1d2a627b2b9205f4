//! The `loggerator` binary as an operator runs it: signals, the demo, the emulator, --help.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::app::get;
use common::{eventually, fixture_lines, temp_db};
use diesel::prelude::*;
use loggerator::db::connection::open_reader;
use loggerator::db::schema::log_lines;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(60);

struct Running {
    child: Child,
    /// Every line the child prints, on stdout or stderr.
    output: mpsc::Receiver<String>,
}

fn spawn(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loggerator"))
        .args(args)
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
    Running { child, output }
}

impl Running {
    /// The first word starting with `prefix` in the output, waiting up to [`WAIT`] for it.
    fn find(&self, prefix: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .output
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {prefix:?} in the output within {WAIT:?}"));
            if let Some(word) = line.split_whitespace().find(|w| w.starts_with(prefix)) {
                return word.trim_end_matches([',', ')']).to_owned();
            }
        }
    }

    fn terminate(mut self) -> std::process::ExitStatus {
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
}

async fn get_json(url: &str) -> Value {
    let reply = get(url).await;
    assert_eq!(reply.status, 200, "{url}: {}", reply.body);
    reply.body
}

#[actix_rt::test]
async fn sigterm_stores_every_line_received_and_exits_0() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let source = listener.local_addr().unwrap().to_string();
    let lines = fixture_lines();
    let payload = lines.join("\n") + "\n";
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        socket.write_all(payload.as_bytes()).await.unwrap();
        // Hold the connection open: the lines are received but not yet committed.
        let mut sink = Vec::new();
        let _ = socket.read_to_end(&mut sink).await;
    });

    let db = temp_db();
    let running = spawn(&[
        "serve",
        "--source",
        &source,
        "--db",
        db.path.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--flush-interval-ms",
        "3600000",
    ]);
    let base = running.find("http://");
    eventually("all lines received", WAIT, || async {
        let sources = get_json(&format!("{base}/sources")).await;
        (sources[0]["lines_received"] == lines.len() as u64).then_some(())
    })
    .await;
    let sources = get_json(&format!("{base}/sources")).await;
    assert_eq!(
        sources[0]["lines_stored"], 0,
        "nothing committed before the signal"
    );

    let status = running.terminate();
    assert!(status.success(), "{status:?}");
    let mut conn = open_reader(&db.path).unwrap();
    let stored: Vec<String> = log_lines::table
        .order(log_lines::id)
        .select(log_lines::line)
        .load(&mut conn)
        .unwrap();
    assert_eq!(stored, lines);
}

#[actix_rt::test]
async fn the_demo_ingests_its_emulated_sources_and_serves_them() {
    let running = spawn(&[
        "demo",
        "--sources",
        "2",
        "--count",
        "400",
        "--listen",
        "127.0.0.1:0",
    ]);
    let base = running.find("http://");
    let base = base
        .split("/sources")
        .next()
        .unwrap()
        .trim_matches('\'')
        .to_owned();
    eventually("800 lines stored", WAIT, || async {
        (get_json(&format!("{base}/logs/count")).await["count"] == 800).then_some(())
    })
    .await;
    let page = get_json(&format!("{base}/logs?limit=3&format=lines")).await;
    assert_eq!(page.as_array().unwrap().len(), 3);
    assert!(running.terminate().success());
}

#[actix_rt::test]
async fn emulate_streams_count_lines_then_closes() {
    let running = spawn(&["emulate", "--port", "0", "--count", "250", "--seed", "1"]);
    let address = running.find("127.0.0.1:");
    let mut text = String::new();
    TcpStream::connect(address.as_str())
        .await
        .unwrap()
        .read_to_string(&mut text)
        .await
        .unwrap();
    let received: Vec<&str> = text.lines().collect();
    assert_eq!(received.len(), 250);
    assert!(received
        .iter()
        .all(|l| loggerator::parse::parse_line(l).is_ok()));
    assert!(running.terminate().success());
}

#[test]
fn every_serve_flag_has_an_environment_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_loggerator"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    let flags = help
        .lines()
        .filter(|l| l.trim_start().starts_with("--") && !l.contains("--help"))
        .count();
    let with_env = help.matches("[env: LOGGERATOR_").count();
    assert!(flags >= 10, "{help}");
    assert_eq!(flags, with_env, "{help}");
}

#[test]
fn start_up_errors_are_reported_with_exit_code_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let db = temp_db();
    let db_path = db.path.to_str().unwrap();
    let missing_dir = db.dir.path().join("no/such/dir/x.db");
    for (args, expected) in [
        (
            vec!["serve", "--db", db_path, "--listen", &taken],
            "cannot listen on",
        ),
        (
            vec![
                "serve",
                "--db",
                missing_dir.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ],
            "cannot open database",
        ),
        (vec!["serve", "--readers", "many"], "invalid value"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_loggerator"))
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
