//! The `loggerator` binary as an operator runs it: signals, the demo, the emulator, --help.

use crate::common;

use std::collections::BTreeMap;
use std::process::Command;

use common::app::{get, get_text};
use common::process::{spawn, WAIT};
use common::{eventually, fixture_lines, stored_lines, temp_db};
use regex::Regex;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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
    assert_eq!(stored_lines(&db.path), lines);
}

/// Runs `demo` with `args` until its sources have finished, checks that `expected` lines are
/// stored in all, stops it, and returns what `/sources` said at the end.
async fn demo_until(args: &[&str], expected: u64) -> Vec<Value> {
    let mut all = vec!["demo", "--count", "400", "--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let running = spawn(&all);
    // The first hint is the web page, then the API's documentation: both answer.
    let page = running.line_with("in a browser");
    let base = page
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .expect("the page's address")
        .trim_end_matches('/')
        .to_owned();
    assert!(running
        .line_with("/docs/")
        .contains(&format!("{base}/docs/")));
    for path in ["/", "/docs/"] {
        let (status, content_type, _) = get_text(&format!("{base}{path}"), &[]).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
    }
    let sources = eventually("every source finished", WAIT, || async {
        let sources = get_json(&format!("{base}/sources")).await;
        let sources = sources.as_array().unwrap().clone();
        sources
            .iter()
            .all(|s| s["state"] == "finished")
            .then_some(sources)
    })
    .await;
    assert_eq!(
        get_json(&format!("{base}/logs/count")).await["count"],
        expected
    );
    let page = get_json(&format!("{base}/logs?limit=3&format=lines")).await;
    assert_eq!(page.as_array().unwrap().len(), 3);
    assert!(running.terminate().success());
    sources
}

#[actix_rt::test]
async fn the_demo_ingests_its_emulated_sources_and_serves_them() {
    let sources = demo_until(&["--sources", "2", "--first-port", "0"], 800).await;
    assert_eq!(sources.len(), 2);
}

#[actix_rt::test]
async fn a_second_demo_on_the_same_database_stores_nothing_twice() {
    let db = temp_db();
    // One source, so one free port is enough; the same on both runs.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let args = [
        "--sources",
        "1",
        "--first-port",
        &port,
        "--db",
        db.path.to_str().unwrap(),
    ];
    let first = demo_until(&args, 400).await;
    assert_eq!(first[0]["lines_stored"], 400);
    let second = demo_until(&args, 400).await;
    assert_eq!(second[0]["lines_stored"], 0, "{}", second[0]);
    assert_eq!(second[0]["lines_replayed"], 400, "{}", second[0]);
    assert_eq!(second[0]["total_lines_stored"], 400, "{}", second[0]);
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

/// Each flag's environment variable and default, as `serve --help` prints them (a flag with
/// no default, a switch, maps to `None`).
fn flags_in_help() -> BTreeMap<String, (Option<String>, Option<String>)> {
    let output = Command::new(env!("CARGO_BIN_EXE_loggerator"))
        .args(["serve", "--help"])
        .env_clear()
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    let flag = Regex::new(r"(?m)^\s+(--[a-z-]+)").unwrap();
    let env = Regex::new(r"\[env: ([A-Z_]+)=[^\]]*\]").unwrap();
    let default = Regex::new(r"\[default: ([^\]]+)\]").unwrap();
    let starts: Vec<_> = flag.captures_iter(&help).collect();
    let mut flags = BTreeMap::new();
    for (i, found) in starts.iter().enumerate() {
        let name = found[1].to_owned();
        let start = found.get(0).unwrap().end();
        let end = starts
            .get(i + 1)
            .map_or(help.len(), |next| next.get(0).unwrap().start());
        let text = &help[start..end];
        if name != "--help" {
            flags.insert(
                name,
                (
                    env.captures(text).map(|c| c[1].to_owned()),
                    default.captures(text).map(|c| c[1].to_owned()),
                ),
            );
        }
    }
    flags
}

/// The rows of the README's configuration table, in the same terms (`off` is no default).
fn flags_in_readme() -> BTreeMap<String, (Option<String>, Option<String>)> {
    let readme = include_str!("../../README.md");
    let table = readme
        .split("\n## Configuration\n")
        .nth(1)
        .expect("a Configuration section")
        .split("\n## ")
        .next()
        .unwrap();
    let row = Regex::new(r"^\| `(--[a-z-]+)[^`]*` \| `([A-Z_]+)`[^|]*\| ([^|]+) \|").unwrap();
    table
        .lines()
        .filter_map(|line| row.captures(line))
        .map(|c| {
            let default = c[3].trim().trim_matches('`');
            (
                c[1].to_owned(),
                (
                    Some(c[2].to_owned()),
                    (default != "off").then(|| default.to_owned()),
                ),
            )
        })
        .collect()
}

#[test]
fn readme_configuration_table_matches_serve_help() {
    let help = flags_in_help();
    assert!(help.len() >= 10, "{help:?}");
    assert!(
        help.values().all(|(env, _)| env.is_some()),
        "every flag has an environment variable: {help:?}"
    );
    assert_eq!(flags_in_readme(), help);
}

#[test]
fn start_up_errors_exit_1_and_usage_errors_exit_2() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let db = temp_db();
    let db_path = db.path.to_str().unwrap();
    let missing_dir = db.dir.path().join("no/such/dir/x.db");
    for (args, code, expected) in [
        (
            vec!["serve", "--db", db_path, "--listen", &taken],
            1,
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
            1,
            "cannot open database",
        ),
        // A host named `push` would share its row with the pushed source named after its port.
        (
            vec![
                "serve",
                "--db",
                db_path,
                "--listen",
                "127.0.0.1:0",
                "--source",
                "push:80",
            ],
            1,
            "--source push:80: addresses starting with \"push:\" name pushed sources",
        ),
        // clap's convention for a command line it cannot take.
        (vec!["serve", "--readers", "many"], 2, "invalid value"),
        // Byte counts take units, and name the ones they take.
        (
            vec!["serve", "--max-push-bytes", "2X"],
            2,
            "unknown unit in \"2X\"; use K, M, G or T",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_loggerator"))
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[actix_rt::test]
async fn a_new_token_is_granted_by_its_line_and_never_written_to_the_log() {
    let out = Command::new(common::process::LOGGERATOR)
        .args(["token", "new", "alice", "--scope", "read"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let token = lines[1];
    let line = lines[3];
    assert!(token.starts_with("lgr_") && token.len() > 40, "{text}");
    assert!(
        line.starts_with("alice read ") && !line.contains(token),
        "{text}"
    );

    let db = temp_db();
    let tokens_file = db.dir.path().join("tokens.txt");
    std::fs::write(&tokens_file, format!("{line}\n")).unwrap();
    let running = spawn(&[
        "serve",
        "--source",
        "",
        "--db",
        db.path.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--tokens-file",
        tokens_file.to_str().unwrap(),
    ]);
    let base = running.find("http://");
    let client = awc::Client::default();
    let response = client
        .get(format!("{base}/logs"))
        .insert_header(("Authorization", format!("Bearer {token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let anonymous = client.get(format!("{base}/logs")).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let stream = client
        .get(format!("{base}/logs/stream?access_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    drop(stream);
    // Encoded names are still the token's: hidden too (the request log once wrote them).
    // (`/logs/count` takes no access_token: 400, but the line is logged all the same.)
    for (query, wanted) in [
        (format!("/logs/count?access%5Ftoken={token}"), 400),
        (format!("/logs/stream?%61ccess_token={token}&code=500"), 200),
    ] {
        let response = client
            .get(format!("{base}{query}"))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), wanted, "{query}");
    }

    // SIGHUP reads the tokens file again: a revoked token is refused without a restart.
    let (new_token, new_line) =
        loggerator::tokens::new_token("bob", &[loggerator::tokens::Scope::Read]);
    std::fs::write(&tokens_file, format!("{new_line}\n")).unwrap();
    let hangup = Command::new("kill")
        .args(["-HUP", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hangup.success());
    running.line_with("tokens file read again, 1 tokens");
    for (presented, wanted) in [(token, 401), (new_token.as_str(), 200)] {
        let response = client
            .get(format!("{base}/logs"))
            .insert_header(("Authorization", format!("Bearer {presented}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), wanted);
    }
    // A file others may write is refused at reload, and the tokens in force stay.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tokens_file, std::fs::Permissions::from_mode(0o666)).unwrap();
    Command::new("kill")
        .args(["-HUP", &running.child.id().to_string()])
        .status()
        .unwrap();
    running.line_with("the tokens in force stay");
    let response = client
        .get(format!("{base}/logs"))
        .insert_header(("Authorization", format!("Bearer {new_token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    let (status, output) = running.terminate_with_output();
    assert!(status.success());
    for secret in [token, new_token.as_str()] {
        assert!(
            output.iter().all(|l| !l.contains(secret)),
            "the token was logged: {output:?}"
        );
    }
    for hidden in [
        "access_token=REDACTED",
        "access%5Ftoken=REDACTED",
        "%61ccess_token=REDACTED",
    ] {
        assert!(
            output.iter().any(|l| l.contains(hidden)),
            "{hidden}: {output:?}"
        );
    }
    // Refused attempts name the caller's address.
    assert!(
        output
            .iter()
            .any(|l| l.contains("127.0.0.1") && l.contains(" 401 ")),
        "{output:?}"
    );

    // Scopes are checked: an unknown one is an error (1), none at all a usage error (2).
    let unknown = Command::new(common::process::LOGGERATOR)
        .args(["token", "new", "bob", "--scope", "write"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    let none = Command::new(common::process::LOGGERATOR)
        .args(["token", "new", "bob"])
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(2));
}

#[test]
fn log_format_json_writes_one_object_a_line() {
    let running = spawn(&[
        "--log-format",
        "json",
        "emulate",
        "--port",
        "0",
        "--count",
        "1",
    ]);
    let line = running.line_with("emulating");
    let object: Value = serde_json::from_str(&line).expect("a JSON object");
    assert_eq!(object["level"], "INFO");
    assert_eq!(object["target"], "loggerator::emulator");
    assert!(object["message"]
        .as_str()
        .unwrap()
        .starts_with("emulating a loggerator source on 127.0.0.1:"));
    assert!(object["time"].as_str().unwrap().ends_with('Z'));
    running.kill();
}
