//! Retention: `--retention-days` by when lines were received, `--max-db-bytes` by pages in use;
//! oldest segments first, never the open one; counts exact after every drop; a cursor and
//! queries running across a drop; freed pages reused.

use crate::common;

use std::time::Duration;

use awc::Client;
use common::app::TestApp;
use common::counts::{all_rows, assert_keys_and_counts_agree_with_lines, AnyRow};
use common::{
    eventually, service_config, store_entries, store_lines, temp_db, TempDb, TEST_SEGMENT_ROWS,
};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use loggerator::batch::Entry;
use loggerator::db::blocks::merge;
use loggerator::db::connection::{open_reader, open_writer};
use loggerator::db::write::retention::{used_bytes, RetentionRules};
use loggerator::emulator::LineGenerator;
use serde_json::Value;

const DAY: i64 = 86_400;

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn scalar(db: &TempDb, sql: &str) -> i64 {
    let mut conn = open_reader(&db.path).unwrap();
    diesel::sql_query(sql).get_result::<N>(&mut conn).unwrap().n
}

/// As if the segments before `segment` had received their lines `days` ago, hot or compacted
/// (segments hold [`TEST_SEGMENT_ROWS`] consecutive ids from 1). With the service running,
/// call it once compaction has caught up: a part takes its segment's times when it is built.
fn age_segments_before(db: &TempDb, segment: i64, days: i64) {
    let mut conn = open_writer(&db.path).unwrap();
    conn.batch_execute(&format!(
        "UPDATE hot_segments SET received_from = received_from - {s}, \
         received_until = received_until - {s} WHERE id < {segment}; \
         UPDATE parts SET received_from = received_from - {s}, \
         received_until = received_until - {s} WHERE max_id <= {last_id}",
        s = days * DAY,
        last_id = segment * TEST_SEGMENT_ROWS as i64,
    ))
    .unwrap();
}

/// Every stored row, hot or compacted, in id order.
fn stored(db: &TempDb) -> Vec<AnyRow> {
    all_rows(&mut open_reader(&db.path).unwrap())
}

/// Waits until every sealed segment is compacted, its hot rows deleted, and no merge is due or
/// under way.
async fn compaction_caught_up(db: &TempDb) {
    eventually(
        "compaction to catch up",
        Duration::from_secs(30),
        || async {
            let left = scalar(
                db,
                "SELECT (SELECT count(*) FROM hot_segments WHERE id < \
                 (SELECT open_segment FROM store_state)) + \
                 (SELECT count(*) FROM retired_segments) + \
                 (SELECT count(*) FROM parts WHERE state <> 1) AS n",
            );
            let merge_due = merge::plan(&mut open_reader(&db.path).unwrap(), &Default::default())
                .unwrap()
                .is_some();
            (left == 0 && !merge_due).then_some(())
        },
    )
    .await;
}

/// The last id of the live part that ends nearest at or below `id` (parts hold consecutive
/// ids; a merged one, several segments').
fn part_boundary_below(db: &TempDb, id: i64) -> i64 {
    scalar(
        db,
        &format!("SELECT max(max_id) AS n FROM parts WHERE state = 1 AND max_id <= {id}"),
    )
}

fn lines(count: usize, seed: u64) -> Vec<String> {
    let mut generator = LineGenerator::new(seed);
    (0..count).map(|_| generator.next_line()).collect()
}

async fn spawn_with_rules(db: TempDb, rules: RetentionRules) -> TestApp {
    let mut config = service_config(&db, vec![]);
    config.retention = rules;
    TestApp::spawn_with(db, config).await
}

fn days(n: i64) -> RetentionRules {
    RetentionRules {
        max_age_secs: Some(n * DAY),
        max_used_bytes: None,
    }
}

/// The sum of `/stats?by=code`'s groups.
async fn stats_total(app: &TestApp) -> i64 {
    let stats = app.get("/stats?by=code").await;
    assert_eq!(stats.status, 200, "{}", stats.body);
    stats
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["count"].as_i64().unwrap())
        .sum()
}

#[actix_rt::test]
async fn lines_received_before_the_retention_period_go_and_every_count_stays_exact() {
    let db = temp_db();
    // 100 segments of 20 lines (the tests' segment size), and rejected lines.
    store_lines(&db, "src:1", &lines(2_000, 21));
    let rejected: Vec<Entry> = (0..10)
        .map(|i| Entry::rejected(format!("bad {i}").into_bytes(), "test"))
        .collect();
    store_entries(&db, "src:1", &rejected);
    age_segments_before(&db, 50, 30);
    open_writer(&db.path)
        .unwrap()
        .batch_execute(&format!(
            "UPDATE rejected_lines SET received_at = received_at - {} WHERE id <= 4",
            30 * DAY
        ))
        .unwrap();
    let kept = scalar(
        &db,
        "SELECT count(*) AS n FROM log_keys WHERE segment >= 50",
    );
    assert_eq!(kept, 1_000);

    let app = spawn_with_rules(db, days(7)).await;
    eventually(
        "the old segments to go",
        Duration::from_secs(20),
        || async { (app.count("").await == kept).then_some(()) },
    )
    .await;
    eventually(
        "old rejected lines to go",
        Duration::from_secs(20),
        || async {
            let rejected = app.get("/rejected?limit=100").await.body;
            (rejected.as_array().unwrap().len() == 6).then_some(())
        },
    )
    .await;
    assert_eq!(stats_total(&app).await, kept);
    let (_, _, metrics) = common::app::get_text(&app.url("/metrics"), &[]).await;
    assert!(
        metrics.contains("loggerator_retention_lines_deleted_total 1004\n"),
        "1,000 stored and 4 rejected lines: {metrics}"
    );
    let (db, _) = app.stop().await;
    assert_eq!(
        stored(&db).first().map(|r| r.id),
        Some(1_001),
        "the oldest went first, the rest stayed"
    );
    assert_keys_and_counts_agree_with_lines(&db.path, kept as usize);
}

#[actix_rt::test]
async fn a_cursor_and_queries_running_across_a_drop_see_only_rows_still_stored() {
    let db = temp_db();
    store_lines(&db, "src:1", &lines(2_000, 22));
    let app = spawn_with_rules(db, days(7)).await;
    let first = app.get("/logs?limit=300").await;
    assert_eq!(first.status, 200);
    let next = first.next.clone().expect("a next page");
    let last = first.body.as_array().unwrap().last().unwrap().clone();
    let (last_date, last_id) = (
        chrono::DateTime::parse_from_rfc3339(last["date"].as_str().unwrap())
            .unwrap()
            .timestamp(),
        last["id"].as_i64().unwrap(),
    );

    // Queries keep running while the segments go.
    let base = app.base.clone();
    let stop = tokio_util::sync::CancellationToken::new();
    let querying = {
        let stop = stop.clone();
        actix_rt::spawn(async move {
            let client = Client::default();
            let mut totals = Vec::new();
            while !stop.is_cancelled() {
                let mut response = client
                    .get(format!("{base}/logs/count"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status().as_u16(), 200);
                let body: Value = response.json().await.unwrap();
                totals.push(body["count"].as_i64().unwrap());
            }
            totals
        })
    };
    compaction_caught_up(&app.db).await;
    // Merged parts hold several segments' lines: the lines go up to a part's end.
    let boundary = part_boundary_below(&app.db, 1_600);
    assert!(boundary >= 800, "{boundary}");
    age_segments_before(&app.db, boundary / TEST_SEGMENT_ROWS as i64, 8);
    let kept = stored(&app.db).iter().filter(|r| r.id > boundary).count() as i64;
    assert_eq!(kept, 2_000 - boundary);
    eventually("the drop", Duration::from_secs(20), || async {
        (app.count("").await == kept).then_some(())
    })
    .await;
    stop.cancel();
    let totals = querying.await.unwrap();
    assert!(!totals.is_empty());
    assert!(
        totals.windows(2).all(|w| w[0] >= w[1])
            && totals.iter().all(|&t| (kept..=2_000).contains(&t)),
        "every count was a committed state, and none came back: {totals:?}"
    );

    // The cursor taken before the drop goes on with the rows still stored after it.
    let mut seen = Vec::new();
    let mut url = Some(next);
    while let Some(page) = url {
        let reply = common::app::get(&page).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        seen.extend(
            reply
                .body
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_i64().unwrap()),
        );
        url = reply.next;
    }
    let mut rest: Vec<(i64, i64)> = stored(&app.db)
        .iter()
        .map(|r| (r.date, r.id))
        .filter(|&key| key < (last_date, last_id))
        .collect();
    rest.sort_unstable_by(|a, b| b.cmp(a));
    let expected: Vec<i64> = rest.into_iter().map(|(_, id)| id).collect();
    assert!(expected.iter().all(|&id| id > boundary));
    assert_eq!(seen, expected);
    app.stop().await;
}

#[actix_rt::test]
async fn past_the_size_limit_the_oldest_segments_go_and_their_pages_are_reused() {
    let db = temp_db();
    store_lines(&db, "src:1", &lines(4_000, 23));
    let used = used_bytes(&mut open_reader(&db.path).unwrap()).unwrap();
    let limit = used / 2;
    let app = spawn_with_rules(
        db,
        RetentionRules {
            max_age_secs: None,
            max_used_bytes: Some(limit),
        },
    )
    .await;
    eventually(
        "the database to shrink below the limit",
        Duration::from_secs(20),
        || async {
            let now = used_bytes(&mut open_reader(&app.db.path).unwrap()).unwrap();
            (now <= limit).then_some(())
        },
    )
    .await;
    // Oldest first: what is left is the newest lines, up to the last one.
    let ids: Vec<i64> = stored(&app.db).iter().map(|r| r.id).collect();
    assert!(ids.len() < 4_000 && ids.len() > 200, "{} left", ids.len());
    assert_eq!(*ids.last().unwrap(), 4_000);
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    let kept = app.count("").await;
    assert_eq!(stats_total(&app).await, kept);

    // A new database gives the freed pages back to the file system, a step at a time.
    let file_bytes = || {
        scalar(
            &app.db,
            "SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()",
        ) as u64
    };
    eventually("the file to shrink", Duration::from_secs(20), || async {
        (file_bytes() <= limit + limit / 10).then_some(())
    })
    .await;
    let body: String = lines(300, 24).iter().map(|l| format!("{l}\n")).collect();
    let mut response = Client::default()
        .post(app.url("/ingest?source=more"))
        .send_body(body)
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        200,
        "{:?}",
        response.body().await
    );
    assert_eq!(app.count("source=push:more").await, 300);
    let (db, _) = app.stop().await;
    let stored = stored(&db).len();
    assert_keys_and_counts_agree_with_lines(&db.path, stored);
}

#[actix_rt::test]
async fn a_keyed_stream_is_forgotten_only_once_all_of_its_lines_are_gone() {
    use loggerator::batch::{StreamMark, StreamProgress};
    use loggerator::db::write::store::LogStore;
    use loggerator::db::write::writer::register_source;
    let db = temp_db();
    {
        let mut conn = open_writer(&db.path).unwrap();
        let id = register_source(&mut conn, "push:import").unwrap().id;
        let mut store = LogStore::load(&mut conn, common::TEST_SEGMENT_ROWS).unwrap();
        let all = lines(100, 25);
        let entries: Vec<Entry> = all.iter().map(|l| Entry::from_line(l)).collect();
        let keyed = |key: &str, n: u64| StreamProgress::Keyed {
            key: key.into(),
            mark: StreamMark {
                fingerprint: vec![7],
                position: n,
            },
        };
        // A batch goes whole into the open segment: "a" fills segment 0, the next 40 lines
        // segment 1, and "b" opens segment 2 with the rest, which stays.
        store
            .write_batch(&mut conn, id, &entries[..20], &keyed("a", 20))
            .unwrap();
        store
            .write_batch(&mut conn, id, &entries[20..60], &StreamProgress::Untracked)
            .unwrap();
        store
            .write_batch(&mut conn, id, &entries[60..65], &keyed("b", 5))
            .unwrap();
        store
            .write_batch(&mut conn, id, &entries[65..], &StreamProgress::Untracked)
            .unwrap();
        // Both marks are old; only "a"'s lines will be.
        conn.batch_execute(&format!(
            "UPDATE keyed_streams SET updated_at = updated_at - {}",
            30 * DAY
        ))
        .unwrap();
    }
    age_segments_before(&db, 2, 30);
    let app = spawn_with_rules(db, days(7)).await;
    eventually(
        "segments 0 and 1 to go",
        Duration::from_secs(20),
        || async { (app.count("").await == 40).then_some(()) },
    )
    .await;
    eventually("the mark of a to go", Duration::from_secs(20), || async {
        (scalar(
            &app.db,
            "SELECT count(*) AS n FROM keyed_streams WHERE key = 'a'",
        ) == 0)
            .then_some(())
    })
    .await;
    assert_eq!(
        scalar(
            &app.db,
            "SELECT count(*) AS n FROM keyed_streams WHERE key = 'b'"
        ),
        1,
        "b's lines are stored: its mark stays"
    );
    app.stop().await;
}
