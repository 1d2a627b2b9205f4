//! End to end: emulated loggerator sources feed the service; what the API counts must equal
//! what the emulators sent.

use crate::common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::app::TestApp;
use common::proxy::breaking_proxy;
use common::{eventually, stored_lines};
use loggerator::emulator::{self, LineGenerator};
use loggerator::ingest::SourceState;
use loggerator::parse::parse_line;
use serde_json::Value;
use tokio::net::TcpListener;

const LINES: u64 = 3_000;

/// Starts an emulated source of `count` lines of `seed`; returns its address.
async fn emulated_source(count: u64, seed: u64) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    actix_rt::spawn(emulator::serve(listener, count, seed));
    address
}

/// Waits until every source of `app` has finished its stream.
async fn all_finished(app: &TestApp) {
    eventually("every source finished", Duration::from_secs(60), || async {
        app.service
            .sources
            .iter()
            .all(|s| s.state() == SourceState::Finished)
            .then_some(())
    })
    .await;
}

#[actix_rt::test]
async fn counts_by_code_method_and_user_equal_what_the_emulators_sent() {
    let mut sources = Vec::new();
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for seed in [1, 2] {
        sources.push(emulated_source(LINES, seed).await);
        let mut generator = LineGenerator::new(seed);
        for _ in 0..LINES {
            let line = generator.next_line();
            let record = parse_line(&line).unwrap();
            *expected.entry(format!("code={}", record.code)).or_default() += 1;
            *expected
                .entry(format!("method={}", record.method))
                .or_default() += 1;
            *expected
                .entry(format!("user={}", record.user.unwrap()))
                .or_default() += 1;
            *expected
                .entry(format!("code={}&method={}", record.code, record.method))
                .or_default() += 1;
        }
    }

    let app = TestApp::spawn(sources.clone()).await;
    all_finished(&app).await;

    for status in &app.service.sources {
        let s = status.snapshot();
        assert_eq!(
            (s.lines_received, s.lines_stored, s.lines_rejected),
            (LINES, LINES, 0),
            "{s:?}"
        );
        assert_eq!(s.connection_attempts, 1);
    }
    assert_eq!(app.count("").await, 2 * LINES as i64);
    for (query, n) in &expected {
        assert_eq!(app.count(query).await, *n, "{query}");
    }

    let listed = app.sources().await;
    assert_eq!(listed.len(), 2);
    for (entry, address) in listed.iter().zip(&sources) {
        assert_eq!(entry["address"], address.as_str());
        assert_eq!(entry["state"], "finished");
        assert_eq!(entry["lines_received"], LINES);
        assert_eq!(entry["lines_stored"], LINES);
        assert_eq!(entry["lines_rejected"], 0);
        assert_eq!(entry["lines_replayed"], 0);
        assert_eq!(entry["lines_lost"], 0);
        assert_eq!(entry["connection_attempts"], 1);
        assert_eq!(entry["last_error"], Value::Null);
    }
    assert_eq!(app.stop().await.1, 0, "no line lost");
}

#[actix_rt::test]
async fn a_restart_keeps_what_was_stored() {
    let source = emulated_source(500, 1).await;
    let app = TestApp::spawn(vec![source]).await;
    all_finished(&app).await;
    let (db, _) = app.stop().await;

    // The old app dropped its table on start; this one must not.
    let app = TestApp::spawn_on(db, vec![]).await;
    assert_eq!(app.count("").await, 500);
    app.stop().await;
}

#[actix_rt::test]
async fn a_connection_broken_midway_is_resumed_without_duplicates() {
    let emulator = emulated_source(LINES, 1).await;
    // About a third of the stream, cut in the middle of a line.
    let proxy = breaking_proxy(emulator, 100_003).await;

    let app = TestApp::spawn(vec![proxy]).await;
    all_finished(&app).await;

    let s = app.service.sources[0].snapshot();
    assert_eq!(s.connection_attempts, 2, "{s:?}");
    assert!(s.last_error.is_some(), "{s:?}");
    assert!(s.lines_replayed > 500, "{s:?}");
    assert_eq!((s.lines_stored, s.lines_rejected), (LINES, 0), "{s:?}");

    // Exactly the emulator's lines, each once, in the order it sent them.
    let mut generator = LineGenerator::new(1);
    let sent: Vec<String> = (0..LINES).map(|_| generator.next_line()).collect();
    assert_eq!(stored_lines(&app.db.path), sent);
    app.stop().await;
}

/// A database that cannot take writes (here a trigger raising SQLite's "full" error, as a full
/// disk does; `tests/it/full_disk.rs` fills a real one): the service stays up, says so on
/// `/healthz`, holds the lines, and resumes by itself once writes go through again.
#[actix_rt::test]
async fn a_database_that_cannot_commit_is_unhealthy_and_ingest_resumes_once_it_can() {
    let db = common::temp_db();
    let full = "CREATE TRIGGER full BEFORE INSERT ON log_lines \
                BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END;";
    {
        use diesel::connection::SimpleConnection;
        let mut conn = loggerator::db::connection::open_writer(&db.path).unwrap();
        conn.batch_execute(full).unwrap();
    }
    let source = emulated_source(LINES, 1).await;
    let app = TestApp::spawn_on(db, vec![source]).await;
    assert_eq!(app.get("/healthz").await.status, 200, "nothing failed yet");

    let unhealthy = eventually("/healthz says 503", Duration::from_secs(30), || async {
        let reply = app.get("/healthz").await;
        (reply.status == 503).then_some(reply.body)
    })
    .await;
    assert_eq!(unhealthy["status"], "unhealthy");
    assert!(
        unhealthy["reason"].as_str().unwrap().contains("full"),
        "{unhealthy}"
    );
    let entry = &app.sources().await[0];
    assert_eq!(
        (entry["lines_stored"].as_u64(), entry["lines_lost"].as_u64()),
        (Some(0), Some(0))
    );

    {
        use diesel::connection::SimpleConnection;
        let mut conn = loggerator::db::connection::open_writer(&app.db.path).unwrap();
        conn.batch_execute("DROP TRIGGER full;").unwrap();
    }
    all_finished(&app).await;
    assert_eq!(app.get("/healthz").await.status, 200);
    let mut generator = LineGenerator::new(1);
    let sent: Vec<String> = (0..LINES).map(|_| generator.next_line()).collect();
    assert_eq!(stored_lines(&app.db.path), sent, "each line once, in order");
    let entry = &app.sources().await[0];
    assert_eq!(entry["lines_lost"], 0);
    app.stop().await;
}

/// A source that sends `payload` to its first client, then closes; returns its address.
async fn raw_source(payload: Vec<u8>) -> String {
    use tokio::io::AsyncWriteExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    actix_rt::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let _ = socket.write_all(&payload).await;
        let _ = socket.shutdown().await;
    });
    address
}

#[actix_rt::test]
async fn bad_bytes_are_kept_as_rejected_and_the_good_lines_around_them_stored() {
    use rand::{Rng, SeedableRng};
    let good = common::fixture_lines();
    // A NUL byte inside a quoted field: the line parses, and is stored byte for byte.
    let with_nul = "1.2.3.4 - bob [12/Jul/2000 05:11:41 +0000] \"GET /a\0b HTTP/1.0\" 200 1";
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let noise: Vec<u8> = (0..4_000)
        .map(|_| rng.gen::<u8>())
        .map(|b| if b == b'\n' { b'x' } else { b })
        .collect();
    let mut payload = Vec::new();
    let mut line = |bytes: &[u8]| {
        payload.extend_from_slice(bytes);
        payload.push(b'\n');
    };
    line(good[0].as_bytes());
    line(b"\0\0\0 nothing but NUL \0");
    line(with_nul.as_bytes());
    line(b"caf\xe9 is not UTF-8");
    line(good[1].as_bytes());
    line(&noise);
    line(&vec![b'a'; 10 * 1024 * 1024]);
    for text in &good[2..] {
        line(text.as_bytes());
    }

    let app = TestApp::spawn(vec![raw_source(payload).await]).await;
    all_finished(&app).await;
    let mut expected: Vec<String> = good.iter().map(|l| l.to_string()).collect();
    expected.insert(1, with_nul.to_owned());
    assert_eq!(stored_lines(&app.db.path), expected);

    let (rejected, _) = app.all_pages("/rejected?limit=100").await;
    let reasons: Vec<&str> = rejected
        .iter()
        .rev()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons[0].contains("does not match"), "{}", reasons[0]);
    assert!(reasons[1].contains("UTF-8"), "{}", reasons[1]);
    assert!(reasons[2].contains("UTF-8"), "{}", reasons[2]);
    assert!(reasons[3].contains("too long"), "{}", reasons[3]);
    let entry = &app.sources().await[0];
    assert_eq!(entry["lines_received"], 65, "{entry}");
    assert_eq!(entry["lines_stored"], 61, "{entry}");
    assert_eq!(entry["lines_rejected"], 4, "{entry}");
    app.stop().await;
}
