//! `GET /metrics`, read with a Prometheus text parser: the counters move with the work.

use crate::common;

use std::time::Duration;

use common::app::{get_text, TestApp};
use common::eventually;
use common::metrics::{scrape, value};
use loggerator::emulator::LineGenerator;
use prometheus_parse::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

#[actix_rt::test]
async fn counters_move_with_the_work() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let source = listener.local_addr().unwrap().to_string();
    let mut generator = LineGenerator::new(9);
    let mut payload: String = (0..1_000).map(|_| generator.next_line() + "\n").collect();
    payload.push_str("not a log line\nnor this\n");
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        socket.write_all(payload.as_bytes()).await.unwrap();
    });
    let app = TestApp::spawn(vec![source.clone()]).await;
    let labels = [("source", source.as_str())];
    eventually(
        "every line stored or rejected",
        Duration::from_secs(20),
        || async {
            let scraped = scrape(&app).await;
            let stored = value(&scraped, "loggerator_source_lines_stored_total", &labels);
            let rejected = value(&scraped, "loggerator_source_lines_rejected_total", &labels);
            (stored.zip(rejected).map(|(s, r)| s + r) == Some(1_002.0)).then_some(())
        },
    )
    .await;
    // Once more, now that the work is done: a scrape reads the storage metrics before the
    // sources', so the one that saw the last line counted may have missed its batch.
    let scraped = scrape(&app).await;
    assert_eq!(
        value(&scraped, "loggerator_source_lines_stored_total", &labels),
        Some(1_000.0)
    );
    assert_eq!(
        value(&scraped, "loggerator_source_lines_received_total", &labels),
        Some(1_002.0)
    );
    assert_eq!(
        value(
            &scraped,
            "loggerator_source_connection_attempts_total",
            &labels
        ),
        Some(1.0)
    );
    let rows: f64 = scraped
        .samples
        .iter()
        .filter(|s| s.metric == "loggerator_batch_rows_sum")
        .map(|s| match s.value {
            Value::Untyped(v) | Value::Counter(v) | Value::Gauge(v) => v,
            _ => 0.0,
        })
        .sum();
    assert_eq!(rows, 1_002.0, "every line went through a counted batch");
    assert!(value(&scraped, "loggerator_batch_commit_seconds", &[]).unwrap() >= 1.0);
    // 500 rows a segment in tests: 1,000 lines fill two, which are sealed as they fill (the
    // open one after them is empty); compaction moves both into parts.
    let compacted = eventually("compaction", Duration::from_secs(10), || async {
        let scraped = scrape(&app).await;
        let hot = value(&scraped, "loggerator_storage_segments", &[])?;
        let parts = value(&scraped, "loggerator_compaction_parts_total", &[])?;
        let pending = value(&scraped, "loggerator_compaction_segments_pending", &[])?;
        (hot + parts == 2.0 && parts == 2.0 && pending == 0.0).then_some(scraped)
    })
    .await;
    assert!(value(&compacted, "loggerator_compaction_blocks_total", &[]) >= Some(2.0));
    assert!(value(&compacted, "loggerator_compaction_output_bytes_total", &[]) > Some(0.0));
    assert!(value(&scraped, "loggerator_database_size_bytes", &[]).unwrap() > 0.0);

    // Requests are counted by route pattern and status, and timed, but not the live tail's.
    let count_before = value(
        &scraped,
        "loggerator_http_requests_total",
        &[("route", "/logs/count"), ("status", "200")],
    )
    .unwrap_or(0.0);
    for _ in 0..3 {
        app.count("").await;
    }
    let _ = get_text(&app.url("/logs?code=9xx"), &[]).await;
    let stream = awc::Client::default()
        .get(app.url("/logs/stream"))
        .send()
        .await
        .unwrap();
    drop(stream);
    let scraped = scrape(&app).await;
    assert_eq!(
        value(
            &scraped,
            "loggerator_http_requests_total",
            &[("route", "/logs/count"), ("status", "200")]
        ),
        Some(count_before + 3.0)
    );
    assert_eq!(
        value(
            &scraped,
            "loggerator_http_requests_total",
            &[("route", "/logs"), ("status", "400")]
        ),
        Some(1.0)
    );
    assert!(
        value(
            &scraped,
            "loggerator_http_request_duration_seconds",
            &[("route", "/logs/count")]
        )
        .unwrap()
            >= 3.0
    );
    assert!(scraped.samples.iter().all(|s| {
        !(s.metric.starts_with("loggerator_http_request_duration")
            && s.labels.get("route") == Some("/logs/stream"))
    }));
    app.stop().await;
}

#[actix_rt::test]
async fn batches_waiting_for_the_writer_are_counted_until_committed() {
    use diesel::connection::SimpleConnection;
    let app = TestApp::spawn(vec![]).await;
    let labels = [("source", "push:held")];
    // Another connection holds the write lock: the writer waits for it (its busy timeout).
    let mut holder = loggerator::db::connection::open_writer(&app.db.path).unwrap();
    let body: String = {
        let mut generator = LineGenerator::new(31);
        (0..100).map(|_| generator.next_line() + "\n").collect()
    };
    // The source exists before the lock is taken, so only the batch waits.
    let (status, _, _) = common::app::post_text(&app.url("/ingest?source=held"), "").await;
    assert_eq!(status, 200);
    holder.batch_execute("BEGIN EXCLUSIVE").unwrap();
    let url = app.url("/ingest?source=held");
    let pushed = actix_rt::spawn(async move { common::app::post_text(&url, &body).await.0 });
    eventually("a batch waiting", Duration::from_secs(4), || async {
        let scraped = scrape(&app).await;
        (value(&scraped, "loggerator_writer_batches_waiting", &labels) == Some(1.0)).then_some(())
    })
    .await;
    holder.batch_execute("COMMIT").unwrap();
    assert_eq!(pushed.await.unwrap(), 200);
    let scraped = scrape(&app).await;
    assert_eq!(
        value(&scraped, "loggerator_writer_batches_waiting", &labels),
        Some(0.0)
    );
    assert_eq!(
        value(&scraped, "loggerator_source_lines_stored_total", &labels),
        Some(100.0)
    );
    app.stop().await;
}
