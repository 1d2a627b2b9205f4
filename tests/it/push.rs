//! `POST /ingest`: pushed lines, plain and gzip, stored under their source; bad lines kept;
//! 413 past the limit; the source named by the token; a retry with an Idempotency-Key stores
//! nothing twice.

use crate::common;

use std::io::Write as _;
use std::time::Duration;

use awc::Client;
use bytes::Bytes;
use common::app::TestApp;
use common::{service_config, temp_db};
use flate2::write::GzEncoder;
use futures_util::{stream, StreamExt};
use loggerator::emulator::LineGenerator;
use loggerator::tokens::{new_token, Scope};
use serde_json::Value;

/// A request body cut off after `body`: the client gives up mid-way, as on a broken connection.
async fn push_cut_short(app: &TestApp, key: &str, body: String) -> u16 {
    let chunks = body
        .into_bytes()
        .chunks(16 * 1024)
        .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
        .collect::<Vec<_>>();
    let broken = stream::iter(chunks).chain(stream::once(async {
        Err(std::io::Error::other("connection lost"))
    }));
    match Client::default()
        .post(app.url("/ingest?source=retry"))
        .insert_header(("Idempotency-Key", key))
        .send_stream(broken)
        .await
    {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

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
        (summary["source"].as_str(), summary["stored"].as_i64()),
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

#[actix_rt::test]
async fn an_idempotency_key_makes_a_retry_store_only_what_was_not_stored() {
    let db = temp_db();
    let mut config = service_config(&db, vec![]);
    // Small batches, so that a body cut short has committed some before it broke.
    config.ingest.batch_size = 500;
    let app = TestApp::spawn_with(db, config).await;
    let text = body(5_000, 6);
    let key = [("Idempotency-Key", "batch-0001")];
    let (status, first) = push(&app, "?source=retry", text.clone().into_bytes(), &key).await;
    assert_eq!((status, first["stored"].as_i64()), (200, Some(5_000)));
    // The answer was lost; the shipper sends the same body again.
    let (status, again) = push(&app, "?source=retry", text.clone().into_bytes(), &key).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (
            again["received"].as_i64(),
            again["stored"].as_i64(),
            again["replayed"].as_i64()
        ),
        (Some(5_000), Some(0), Some(5_000))
    );
    assert_eq!(app.count("source=push:retry").await, 5_000);

    // A body broken off after 3,000 lines, then sent whole: only the rest is stored.
    let second = body(5_000, 7);
    let cut: String = second
        .lines()
        .take(3_000)
        .map(|l| format!("{l}\n"))
        .collect();
    push_cut_short(&app, "batch-0002", cut).await;
    // The server commits what it read before the break after the client has gone.
    common::eventually(
        "batches before the break",
        Duration::from_secs(10),
        || async { (app.count("source=push:retry").await > 5_000).then_some(()) },
    )
    .await;
    // While the broken request is still being wound up, its key is in use: 409, retry.
    let retried = common::eventually("the retry", Duration::from_secs(10), || async {
        let (status, retried) = push(
            &app,
            "?source=retry",
            second.clone().into_bytes(),
            &[("Idempotency-Key", "batch-0002")],
        )
        .await;
        (status != 409).then_some((status, retried))
    })
    .await;
    assert_eq!(retried.0, 200, "{}", retried.1);
    let replayed = retried.1["replayed"].as_i64().unwrap();
    assert!(replayed > 0 && replayed <= 3_000, "{}", retried.1);
    assert_eq!(retried.1["stored"].as_i64(), Some(5_000 - replayed));
    assert_eq!(app.count("source=push:retry").await, 10_000);

    // Another body under a used key is refused whole; the same key under another source is
    // another stream.
    let (status, error) = push(&app, "?source=retry", body(10, 8).into_bytes(), &key).await;
    assert_eq!(status, 422, "{error}");
    assert!(error["error"].as_str().unwrap().contains("Idempotency-Key"));
    assert_eq!(app.count("source=push:retry").await, 10_000);
    let (status, other) = push(&app, "?source=other", body(10, 8).into_bytes(), &key).await;
    assert_eq!((status, other["stored"].as_i64()), (200, Some(10)));

    // Keys are visible ASCII, at most 255 bytes.
    for bad in ["", "has space", &"k".repeat(256)] {
        let (status, error) = push(&app, "", b"x\n".to_vec(), &[("Idempotency-Key", bad)]).await;
        assert_eq!(
            (status, error["parameter"].as_str()),
            (400, Some("Idempotency-Key")),
            "{bad:?}"
        );
    }
    app.stop().await;
}

#[actix_rt::test]
async fn a_second_request_with_a_key_in_use_gets_409() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn(vec![]).await;
    // A client that has sent the head and some lines, and is still sending.
    let mut slow = tokio::net::TcpStream::connect(app.service.http_addr)
        .await
        .unwrap();
    let lines = body(10, 9);
    let head = "POST /ingest?source=slow HTTP/1.1\r\nHost: 127.0.0.1\r\nIdempotency-Key: k1\r\n\
                Transfer-Encoding: chunked\r\n\r\n";
    let chunk = format!("{:x}\r\n{lines}\r\n", lines.len());
    slow.write_all(format!("{head}{chunk}").as_bytes())
        .await
        .unwrap();
    common::eventually(
        "409 while the first body is read",
        Duration::from_secs(10),
        || async {
            let (status, _) = push(
                &app,
                "?source=slow",
                body(10, 9).into_bytes(),
                &[("Idempotency-Key", "k1")],
            )
            .await;
            (status == 409).then_some(())
        },
    )
    .await;
    slow.write_all(b"0\r\n\r\n").await.unwrap();
    let answer = common::read_until(&mut slow, "\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Once answered, the key is free: the same body again is a replay.
    let (status, again) = push(
        &app,
        "?source=slow",
        body(10, 9).into_bytes(),
        &[("Idempotency-Key", "k1")],
    )
    .await;
    assert_eq!((status, again["replayed"].as_i64()), (200, Some(10)));
    app.stop().await;
}
