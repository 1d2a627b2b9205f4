//! A database written by the release before storage v2 (`tests/fixtures/storage-v1.db`, see
//! its README) opens at once, answers before compaction has run and the same after, compacts
//! in the background, and is shaped so that the older release refuses it.

use crate::common;

use std::time::Duration;

use common::app::TestApp;
use common::counts::assert_keys_and_counts_agree_with_lines;
use common::{eventually, service_config, temp_db};
use diesel::prelude::*;
use loggerator::db::connection::open_reader;

const STORED: i64 = 1_060;

#[actix_rt::test]
async fn a_storage_v1_database_answers_at_once_and_compacts_in_the_background() {
    let db = temp_db();
    std::fs::copy("tests/fixtures/storage-v1.db", &db.path).unwrap();
    let config = service_config(&db, vec![]);
    let app = TestApp::spawn_with(db, config).await;
    // Answers at once, from whatever form each segment is in.
    assert_eq!(app.count("").await, STORED);
    let (before, _) = app.all_pages("/logs?limit=77").await;
    assert_eq!(before.len(), STORED as usize);
    // The ten sealed segments move into blocks; the open one (the last push) stays hot.
    eventually(
        "the old segments compacted",
        Duration::from_secs(20),
        || async {
            let (_, _, metrics) = common::app::get_text(&app.url("/metrics"), &[]).await;
            let compacted = metrics.contains("loggerator_compaction_parts_total 10\n");
            compacted.then_some(())
        },
    )
    .await;
    let (after, _) = app.all_pages("/logs?limit=77").await;
    assert_eq!(after, before, "the same rows in the same order");
    assert_eq!(app.count("source=push:old&code=5xx").await, {
        before
            .iter()
            .filter(|r| r["source"] == "push:old" && r["code"].as_i64().unwrap() >= 500)
            .count() as i64
    });
    // New lines take ids after the old ones.
    let (status, _, _) = common::app::post_text(
        &app.url("/ingest?source=new"),
        &format!("{}\n", common::fixture_lines()[0]),
    )
    .await;
    assert_eq!(status, 200);
    let newest = app.get("/logs?source=push:new").await;
    assert_eq!(newest.body[0]["id"], STORED + 1);
    let (db, _) = app.stop().await;
    assert_keys_and_counts_agree_with_lines(&db.path, STORED as usize + 1);

    // The release before storage v2 reads `segments` at start: it is gone, so that release
    // stops with "no such table: segments" instead of serving the hot rows alone.
    let mut conn = open_reader(&db.path).unwrap();
    let old = diesel::sql_query("SELECT count(*) FROM segments").execute(&mut conn);
    assert!(
        old.is_err_and(|e| e.to_string().contains("no such table: segments")),
        "the old release's table must be gone"
    );
}
