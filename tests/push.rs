//! `POST /ingest`: pushed lines, plain and gzip, stored under their source; bad lines kept;
//! 413 past the limit; the source named by the token.

mod common;

use std::io::Write as _;

use awc::Client;
use common::app::TestApp;
use common::{service_config, temp_db};
use flate2::write::GzEncoder;
use loggerator::emulator::LineGenerator;
use loggerator::tokens::{new_token, Scope};
use serde_json::Value;

fn body(lines: usize, seed: u64) -> String {
    let mut generator = LineGenerator::new(seed);
    (0..lines).map(|_| generator.next_line() + "\n").collect()
}

async fn push(app: &TestApp, query: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = Client::default().post(app.url(&format!("/ingest{query}")));
    for &(name, value) in headers {
        request = request.insert_header((name, value));
    }
    let mut response = request.send_body(body).await.unwrap();
    let status = response.status().as_u16();
    let body = response.body().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[actix_rt::test]
async fn pushed_lines_are_stored_under_their_source_plain_or_gzip() {
    let app = TestApp::spawn(vec![]).await;
    let mut text = body(3_000, 2);
    text.push_str("not a log line\n\u{0}binary\n");
    let (status, summary) = push(&app, "?source=web1", text.into_bytes(), &[]).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["source"], "push:web1");
    assert_eq!(summary["received"], 3_002);
    assert_eq!(summary["stored"], 3_000);
    assert_eq!(summary["rejected"], 2);
    assert_eq!(app.count("source=push:web1").await, 3_000);
    let rejected = app.get("/rejected").await;
    assert_eq!(rejected.body.as_array().unwrap().len(), 2);
    assert_eq!(rejected.body[0]["source"], "push:web1");

    // The same as gzip, under another name: every line, once per push (at least once).
    let mut gzip = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(body(2_000, 3).as_bytes()).unwrap();
    let (status, summary) = push(
        &app,
        "?source=web2",
        gzip.finish().unwrap(),
        &[("Content-Encoding", "gzip")],
    )
    .await;
    assert_eq!((status, summary["stored"].as_i64()), (200, Some(2_000)));
    assert_eq!(app.count("source=push:web2").await, 2_000);
    // Without a name and without tokens: `push`. A line without its newline is kept whole.
    let (_, summary) = push(
        &app,
        "",
        b"10.0.0.1 - - [01/Jul/2000:00:00:00 +0000] \"GET / HTTP/1.0\" 200 1".to_vec(),
        &[],
    )
    .await;
    assert_eq!(
        (summary["source"].as_str(), summary["rejected"].as_i64()),
        (Some("push:push"), Some(1))
    );

    // Bad names are refused before anything is read.
    let (status, error) = push(&app, "?source=a%20b", b"x\n".to_vec(), &[]).await;
    assert_eq!((status, error["parameter"].as_str()), (400, Some("source")));
    app.stop().await;
}

#[actix_rt::test]
async fn a_body_past_the_limit_gets_413_and_what_came_before_is_stored() {
    // The tests' limit is 1 MiB: about 10,000 lines.
    let app = TestApp::spawn(vec![]).await;
    let text = body(30_000, 4);
    // Announced too large: refused before reading.
    let (status, error) = push(&app, "?source=big", text.clone().into_bytes(), &[]).await;
    assert_eq!(status, 413, "{error}");
    assert!(error["error"]
        .as_str()
        .unwrap()
        .contains("--max-push-bytes"));
    assert_eq!(app.count("source=push:big").await, 0);
    // Compressed small, large once decompressed: the batches before the limit are stored.
    let mut gzip = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(text.as_bytes()).unwrap();
    let (status, error) = push(
        &app,
        "?source=big",
        gzip.finish().unwrap(),
        &[("Content-Encoding", "gzip")],
    )
    .await;
    assert_eq!(status, 413, "{error}");
    let stored = app.count("source=push:big").await;
    assert!(stored > 0 && stored < 30_000, "{stored}");
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains(&format!("{stored} lines")),
        "{error}"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn pushing_takes_the_ingest_scope_and_names_the_source_after_the_token() {
    let db = temp_db();
    let (shipper, shipper_line) = new_token("shipper", &[Scope::Ingest]);
    let (reader, reader_line) = new_token("reader", &[Scope::Read]);
    let path = db.dir.path().join("tokens.txt");
    std::fs::write(&path, format!("{shipper_line}\n{reader_line}\n")).unwrap();
    let mut config = service_config(&db, vec![]);
    config.tokens_file = Some(path);
    let app = TestApp::spawn_with(db, config).await;
    let bearer = |t: &str| format!("Bearer {t}");
    let (status, _) = push(&app, "", body(10, 5).into_bytes(), &[]).await;
    assert_eq!(status, 401);
    let (status, _) = push(
        &app,
        "",
        body(10, 5).into_bytes(),
        &[("Authorization", &bearer(&reader))],
    )
    .await;
    assert_eq!(status, 403);
    let (status, summary) = push(
        &app,
        "",
        body(10, 5).into_bytes(),
        &[("Authorization", &bearer(&shipper))],
    )
    .await;
    assert_eq!(
        (status, summary["source"].as_str()),
        (200, Some("push:shipper"))
    );
    // GET is not how one pushes.
    let response = Client::default()
        .get(app.url("/ingest"))
        .insert_header(("Authorization", bearer(&shipper)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers().get("allow").unwrap(), "POST");
    app.stop().await;
}
