//! Everything a client can make the service hold is capped: a page of rejected lines in bytes,
//! live tails open at once, pushed bodies read at once, distinct pushed sources; `/sources`
//! pages. Each refusal is immediate, with its reason code (and `Retry-After` when it passes).

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use awc::Client;
use common::app::{get, TestApp};
use common::{eventually, service_config, store_entries, temp_db};
use loggerator::batch::Entry;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The status, `Retry-After` and JSON body of `GET path`.
async fn get_with_retry(app: &TestApp, path: &str) -> (u16, Option<String>, Value) {
    let client = Client::builder().timeout(Duration::from_secs(30)).finish();
    let mut response = client.get(app.url(path)).send().await.unwrap();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = response.status().as_u16();
    if status == 200 {
        return (status, retry, Value::Null);
    }
    let body = response.body().await.unwrap();
    (status, retry, serde_json::from_slice(&body).unwrap())
}

async fn push(app: &TestApp, query: &str, body: &str) -> (u16, Option<String>, Value) {
    let mut response = Client::default()
        .post(app.url(&format!("/ingest{query}")))
        .send_body(body.to_owned())
        .await
        .unwrap();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.body().await.unwrap();
    let status = response.status().as_u16();
    (status, retry, serde_json::from_slice(&body).unwrap())
}

#[actix_rt::test]
async fn a_page_of_rejected_lines_stops_at_its_byte_budget_and_links_to_the_rest() {
    let db = temp_db();
    // 300 rejected lines of 60 KB: 18 MB, where a page holds 8 MiB of lines.
    let entries: Vec<Entry> = (0..300)
        .map(|i| {
            Entry::rejected(
                format!("{i:05} {}", "x".repeat(60_000)).into_bytes(),
                "junk",
            )
        })
        .collect();
    store_entries(&db, "src:1", &entries);
    let app = TestApp::spawn_on(db, vec![]).await;
    let first = app.get("/rejected?limit=300").await;
    assert_eq!(first.status, 200);
    let rows = first.body.as_array().unwrap();
    let bytes: usize = rows.iter().map(|r| r["line"].as_str().unwrap().len()).sum();
    assert!(
        rows.len() < 300 && bytes <= 8 * 1024 * 1024 + 61_000,
        "{} rows",
        rows.len()
    );
    assert!(first.next.is_some(), "a link to the rest");
    // Following the links gives every line once.
    let (rows, pages) = app.all_pages("/rejected?limit=300").await;
    let ids: HashSet<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!((ids.len(), rows.len()), (300, 300));
    assert!(pages >= 3, "{pages}");
    app.stop().await;
}

#[actix_rt::test]
async fn live_tails_past_the_cap_get_503_until_one_closes() {
    let db = temp_db();
    let mut config = service_config(&db, vec![]);
    config.caps.max_tail_followers = 3;
    let app = TestApp::spawn_with(db, config).await;
    let client = Client::builder().timeout(Duration::from_secs(600)).finish();
    let mut open = Vec::new();
    for _ in 0..3 {
        let response = client.get(app.url("/logs/stream")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        open.push(response);
    }
    let (status, retry, body) = get_with_retry(&app, "/logs/stream").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("too_many_followers"))
    );
    assert!(retry.is_some(), "Retry-After");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("--max-tail-followers"));
    // Pages are not live tails: they go on.
    assert_eq!(app.get("/logs").await.status, 200);
    drop(open.pop());
    eventually(
        "a place once a tail closed",
        Duration::from_secs(20),
        || async {
            let (status, _, _) = get_with_retry(&app, "/logs/stream").await;
            (status == 200).then_some(())
        },
    )
    .await;
    app.stop().await;
}

#[actix_rt::test]
async fn pushed_bodies_past_the_cap_get_503_while_one_is_read() {
    let db = temp_db();
    let mut config = service_config(&db, vec![]);
    config.caps.max_pushes_in_flight = 1;
    let app = TestApp::spawn_with(db, config).await;
    let line = format!("{}\n", common::fixture_lines()[0]);
    // A client that has sent the head and a line, and is still sending.
    let mut slow = TcpStream::connect(app.service.http_addr).await.unwrap();
    let head = "POST /ingest?source=slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    let chunk = format!("{:x}\r\n{line}\r\n", line.len());
    slow.write_all(format!("{head}{chunk}").as_bytes())
        .await
        .unwrap();
    let refused = eventually(
        "503 while the first body is read",
        Duration::from_secs(10),
        || async {
            let (status, retry, body) = push(&app, "?source=other", &line).await;
            (status == 503).then_some((retry, body))
        },
    )
    .await;
    assert_eq!(refused.1["code"], "too_many_pushes", "{}", refused.1);
    assert!(refused.0.is_some(), "Retry-After");
    slow.write_all(b"0\r\n\r\n").await.unwrap();
    let answer = common::read_until(&mut slow, "\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (status, _, body) = push(&app, "?source=other", &line).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

#[actix_rt::test]
async fn a_push_past_the_pushed_sources_cap_gets_422_and_stores_nothing() {
    let db = temp_db();
    let mut config = service_config(&db, vec![]);
    config.caps.max_pushed_sources = 2;
    let app = TestApp::spawn_with(db, config).await;
    let line = format!("{}\n", common::fixture_lines()[0]);
    for name in ["a", "b", "a"] {
        let (status, _, body) = push(&app, &format!("?source={name}"), &line).await;
        assert_eq!(status, 200, "{name}: {body}");
    }
    let (status, _, body) = push(&app, "?source=c", &line).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("too_many_pushed_sources"))
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("--max-pushed-sources"),
        "{body}"
    );
    // Nothing half-stored: no line, no source row.
    assert_eq!(app.count("").await, 3);
    let sources = app.sources().await;
    assert!(
        !sources.iter().any(|s| s["address"] == "push:c"),
        "{sources:?}"
    );
    // Known sources still take pushes, after a restart too (the count comes from the database).
    let (db, _) = app.stop().await;
    let mut config = service_config(&db, vec![]);
    config.caps.max_pushed_sources = 2;
    let app = TestApp::spawn_with(db, config).await;
    let (status, _, _) = push(&app, "?source=b", &line).await;
    assert_eq!(status, 200);
    let (status, _, _) = push(&app, "?source=d", &line).await;
    assert_eq!(status, 422);
    app.stop().await;
}

#[actix_rt::test]
async fn sources_come_in_pages() {
    let app = TestApp::spawn(vec![]).await;
    let line = format!("{}\n", common::fixture_lines()[0]);
    for i in 0..5 {
        let (status, _, _) = push(&app, &format!("?source=s{i}"), &line).await;
        assert_eq!(status, 200);
    }
    let first = get(&app.url("/sources?limit=2")).await;
    assert_eq!(first.body.as_array().unwrap().len(), 2);
    assert!(first.next.is_some());
    let (rows, pages) = app.all_pages("/sources?limit=2").await;
    let addresses: Vec<&str> = rows
        .iter()
        .map(|r| r["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        addresses,
        ["push:s0", "push:s1", "push:s2", "push:s3", "push:s4"]
    );
    assert_eq!(pages, 3);
    // Without a limit, one page holds them all.
    assert!(get(&app.url("/sources")).await.next.is_none());
    app.stop().await;
}

#[actix_rt::test]
async fn a_live_tail_resumed_while_the_queries_are_full_gets_503_like_a_page() {
    let db = temp_db();
    let mut generator = loggerator::emulator::LineGenerator::new(3);
    let lines: Vec<String> = (0..60_000).map(|_| generator.next_line()).collect();
    common::store_lines(&db, "src:1", &lines);
    let mut config = service_config(&db, vec![]);
    config.max_queries_in_flight = 1;
    let app = TestApp::spawn_with(db, config).await;
    // Counts of a word no line holds read every line, one after another: the one query place
    // is taken most of the time.
    let busy = app.url("/logs/count?q=no-such-word-anywhere");
    let hog = actix_rt::spawn(async move {
        let client = Client::builder().timeout(Duration::from_secs(60)).finish();
        loop {
            let _ = client.get(&busy).send().await;
        }
    });
    let refused = eventually(
        "a resume refused with 503",
        Duration::from_secs(60),
        || async {
            let response = Client::default()
                .get(app.url("/logs/stream"))
                .insert_header(("Last-Event-ID", "1"))
                .send()
                .await
                .unwrap();
            let mut response = response;
            (response.status().as_u16() == 503).then_some(())?;
            let retry = response.headers().get("retry-after").is_some();
            let body: Value = serde_json::from_slice(&response.body().await.unwrap()).unwrap();
            Some((retry, body))
        },
    )
    .await;
    assert!(refused.0, "Retry-After");
    assert_eq!(refused.1["code"], "busy", "{}", refused.1);
    hog.abort();
    app.stop().await;
}

#[actix_rt::test]
async fn a_pushed_body_that_sends_nothing_for_the_idle_timeout_gets_408_and_frees_its_place() {
    let db = temp_db();
    let mut config = service_config(&db, vec![]);
    config.caps.max_pushes_in_flight = 1;
    config.caps.push_idle_timeout = Duration::from_millis(300);
    let app = TestApp::spawn_with(db, config).await;
    let line = format!("{}\n", common::fixture_lines()[0]);
    let mut silent = TcpStream::connect(app.service.http_addr).await.unwrap();
    let head = "POST /ingest?source=silent HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    let chunk = format!("{:x}\r\n{line}\r\n", line.len());
    silent
        .write_all(format!("{head}{chunk}").as_bytes())
        .await
        .unwrap();
    // Then nothing: the answer comes without the client doing anything more.
    let answer = common::read_until(&mut silent, "}").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"body_timeout\""), "{answer}");
    // It says what was stored before (a batch not yet full is not: the body was cut off, and a
    // retry with an Idempotency-Key stores the rest), and the place is free again.
    let stored = app.count("source=push:silent").await;
    assert!(
        answer.contains(&format!("{stored} lines before that point were stored")),
        "{answer}"
    );
    let (status, _, body) = push(&app, "?source=other", &line).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}
