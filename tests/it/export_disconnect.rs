//! An export whose client goes away stops reading: the service's count of export chunks
//! (`loggerator_export_chunks_total`, its own per service) stops moving.

use crate::common;

use std::time::{Duration, Instant};

use common::app::TestApp;
use common::metrics::{scrape, value};
use common::{store_lines, temp_db};
use futures_util::StreamExt;
use loggerator::emulator::LineGenerator;

#[actix_rt::test]
async fn an_export_whose_client_disconnects_stops_reading() {
    let db = temp_db();
    let mut generator = LineGenerator::new(21);
    // 40 chunks of 5,000 rows, about 80 MB of NDJSON: far more than socket buffers hold.
    let lines: Vec<String> = (0..200_000).map(|_| generator.next_line()).collect();
    store_lines(&db, "src:1", &lines);
    let app = TestApp::spawn_on(db, vec![]).await;
    let chunks = || async { value(&scrape(&app).await, "loggerator_export_chunks_total", &[]) };
    assert_eq!(chunks().await, Some(0.0));
    let mut response = awc::Client::default()
        .get(app.url("/logs?format=ndjson"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let first = response.next().await.unwrap().unwrap();
    assert!(!first.is_empty());
    drop(response);
    // Waits until no chunk has been read for half a second: an export that went on would read
    // all 40 by then.
    let mut last = chunks().await;
    let mut still_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    while still_since.elapsed() < Duration::from_millis(500) {
        assert!(Instant::now() < deadline, "the export never stopped");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = chunks().await;
        if now != last {
            (last, still_since) = (now, Instant::now());
        }
    }
    let read = last.unwrap_or_default();
    app.stop().await;
    assert!(
        (1.0..30.0).contains(&read),
        "{read} of 40 chunks read after the client went away"
    );
}
