//! End to end: emulated loggerator sources feed the service; what the API counts must equal
//! what the emulators sent.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use awc::Client;
use common::{breaking_proxy, eventually, service_config, start_service, temp_db};
use loggerator::emulator::{self, LineGenerator};
use loggerator::ingest::SourceState;
use loggerator::parse::parse_line;
use serde_json::Value;
use tokio::net::TcpListener;

const LINES: u64 = 3_000;

async fn count(base: &str, query: &str) -> i64 {
    let mut response = Client::default()
        .get(format!("{base}/logs/count?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{query}");
    let body: Value = response.json().await.unwrap();
    body["count"].as_i64().unwrap()
}

#[actix_rt::test]
async fn counts_by_code_method_and_user_equal_what_the_emulators_sent() {
    let mut sources = Vec::new();
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for seed in [1, 2] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        sources.push(listener.local_addr().unwrap().to_string());
        actix_rt::spawn(emulator::serve(listener, LINES, seed));
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

    let db = temp_db();
    let service = start_service(service_config(&db, sources.clone())).await;
    eventually("both sources finished", Duration::from_secs(60), || async {
        service
            .sources
            .iter()
            .all(|s| s.state() == SourceState::Finished)
            .then_some(())
    })
    .await;

    for status in &service.sources {
        let s = status.snapshot();
        assert_eq!(
            (s.lines_received, s.lines_stored, s.lines_rejected),
            (LINES, LINES, 0),
            "{s:?}"
        );
        assert_eq!(s.connection_attempts, 1);
    }
    let base = format!("http://{}", service.http_addr);
    assert_eq!(count(&base, "").await, 2 * LINES as i64);
    for (query, n) in &expected {
        assert_eq!(count(&base, query).await, *n, "{query}");
    }

    let mut response = Client::default()
        .get(format!("{base}/sources"))
        .send()
        .await
        .unwrap();
    let listed: Value = response.json().await.unwrap();
    let listed = listed.as_array().unwrap();
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
    service.shutdown().await;
}

#[actix_rt::test]
async fn a_restart_keeps_what_was_stored() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let source = listener.local_addr().unwrap().to_string();
    actix_rt::spawn(emulator::serve(listener, 500, 1));
    let db = temp_db();

    let service = start_service(service_config(&db, vec![source.clone()])).await;
    eventually("source finished", Duration::from_secs(30), || async {
        (service.sources[0].state() == SourceState::Finished).then_some(())
    })
    .await;
    service.shutdown().await;

    // The old app dropped its table on start; this one must not.
    let service = start_service(service_config(&db, vec![])).await;
    assert_eq!(
        count(&format!("http://{}", service.http_addr), "").await,
        500
    );
    service.shutdown().await;
}

#[actix_rt::test]
async fn a_connection_broken_midway_is_resumed_without_duplicates() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let emulator = listener.local_addr().unwrap().to_string();
    actix_rt::spawn(emulator::serve(listener, LINES, 1));
    // About a third of the stream, cut in the middle of a line.
    let proxy = breaking_proxy(emulator, 100_003).await;

    let db = temp_db();
    let service = start_service(service_config(&db, vec![proxy])).await;
    eventually("source finished", Duration::from_secs(60), || async {
        (service.sources[0].state() == SourceState::Finished).then_some(())
    })
    .await;

    let s = service.sources[0].snapshot();
    assert_eq!(s.connection_attempts, 2, "{s:?}");
    assert!(s.last_error.is_some(), "{s:?}");
    assert!(s.lines_replayed > 500, "{s:?}");
    assert_eq!((s.lines_stored, s.lines_rejected), (LINES, 0), "{s:?}");

    // Exactly the emulator's lines, each once, in the order it sent them.
    let mut generator = LineGenerator::new(1);
    let sent: Vec<String> = (0..LINES).map(|_| generator.next_line()).collect();
    let mut conn = loggerator::db::connection::open_reader(&db.path).unwrap();
    use diesel::prelude::*;
    use loggerator::db::schema::log_lines;
    let stored: Vec<String> = log_lines::table
        .order(log_lines::id)
        .select(log_lines::line)
        .load(&mut conn)
        .unwrap();
    assert_eq!(stored, sent);
    service.shutdown().await;
}
