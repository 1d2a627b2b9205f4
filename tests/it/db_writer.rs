//! The DbWriter actor: batches, transactions, and start-up that keeps existing data.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use common::counts::assert_keys_and_counts_agree_with_lines;
use common::{fixture_lines, stored_lines, temp_db};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;
use loggerator::batch::Entry;
use loggerator::batch::{StreamMark, StreamProgress, WriteBatch, WriteError, WriteSummary};
use loggerator::db::connection::{open_reader, open_writer};
use loggerator::db::schema::{day_counts, hot_segments, log_keys, log_lines, rejected_lines};
use loggerator::db::write::store::{LogStore, NewKey, NewLine};
use loggerator::db::write::writer::{Checkpoint, DbWriter, RegisterSource, SourceRecord};

fn entries(lines: &[&str]) -> Arc<Vec<Entry>> {
    Arc::new(lines.iter().map(|l| Entry::from_line(l)).collect())
}

async fn register(writer: &Addr<DbWriter>, address: &str) -> i64 {
    record(writer, address).await.id
}

/// What the database holds of a source: its id, stream mark and all-time counts.
async fn record(writer: &Addr<DbWriter>, address: &str) -> SourceRecord {
    writer
        .send(RegisterSource {
            address: address.into(),
        })
        .await
        .unwrap()
        .unwrap()
}

async fn write(
    writer: &Addr<DbWriter>,
    source_id: i64,
    entries: Arc<Vec<Entry>>,
) -> Result<WriteSummary, WriteError> {
    writer
        .send(WriteBatch {
            source_id,
            entries,
            stream: StreamProgress::Untracked,
        })
        .await
        .unwrap()
}

/// A trigger that refuses every rejected line.
const REFUSE_REJECTED: &str =
    "CREATE TRIGGER refuse BEFORE INSERT ON rejected_lines BEGIN SELECT RAISE(ABORT, 'refused'); END;";

/// A writer on a database where `sql` (a trigger, say) ran first.
fn writer_with(db: &common::TempDb, sql: &str) -> Addr<DbWriter> {
    open_writer(&db.path).unwrap().batch_execute(sql).unwrap();
    DbWriter::start(&db.path, 1_000, None, Default::default()).unwrap()
}

fn counts(path: &std::path::Path) -> (i64, i64) {
    let mut conn = open_reader(path).unwrap();
    let stored = log_lines::table.count().get_result(&mut conn).unwrap();
    let rejected = rejected_lines::table.count().get_result(&mut conn).unwrap();
    (stored, rejected)
}

#[actix_rt::test]
async fn stores_parsed_and_rejected_lines_of_a_batch() {
    let db = temp_db();
    let writer = DbWriter::start(&db.path, 1_000, None, Default::default()).unwrap();
    let source_id = register(&writer, "a:1").await;

    let mut lines = fixture_lines();
    lines.insert(3, "garbage");
    let summary = write(&writer, source_id, entries(&lines)).await.unwrap();
    assert_eq!(
        summary,
        WriteSummary {
            stored: 60,
            rejected: 1
        }
    );
    assert_eq!(counts(&db.path), (60, 1));

    let mut conn = open_reader(&db.path).unwrap();
    let (line, reason, source): (Vec<u8>, String, i64) = rejected_lines::table
        .select((
            rejected_lines::line,
            rejected_lines::reason,
            rejected_lines::source_id,
        ))
        .first(&mut conn)
        .unwrap();
    assert_eq!((line.as_slice(), source), (&b"garbage"[..], source_id));
    assert!(reason.contains("does not match"), "{reason}");
    // Arrival order is id order.
    assert_eq!(stored_lines(&db.path), fixture_lines());
}

#[actix_rt::test]
async fn a_batch_larger_than_one_statement_is_stored_whole() {
    let db = temp_db();
    let writer = DbWriter::start(&db.path, 1_000, None, Default::default()).unwrap();
    let source_id = register(&writer, "a:1").await;
    let lines: Vec<&str> = (0..1_234).map(|i| fixture_lines()[i % 60]).collect();
    let summary = write(&writer, source_id, entries(&lines)).await.unwrap();
    assert_eq!(summary.stored, 1_234);
    assert_eq!(counts(&db.path), (1_234, 0));
}

#[actix_rt::test]
async fn a_failing_batch_leaves_nothing_behind() {
    let db = temp_db();
    // The second table refuses rows, after the first has taken the batch's parsed lines.
    let writer = writer_with(&db, REFUSE_REJECTED);
    let source_id = register(&writer, "a:1").await;
    let result = write(
        &writer,
        source_id,
        entries(&[fixture_lines()[0], "garbage"]),
    )
    .await;
    assert!(result.is_err());
    assert_eq!(
        counts(&db.path),
        (0, 0),
        "the transaction was rolled back whole"
    );

    // The writer is still usable afterwards.
    let summary = write(&writer, source_id, entries(&fixture_lines()[..2])).await;
    assert_eq!(summary.unwrap().stored, 2);
}

#[test]
fn rows_go_in_as_one_multi_row_statement() {
    // diesel's SQLite backend inserts row by row when a value may be DEFAULT; the writer's rows
    // must never take that path.
    let rows: Vec<NewLine> = (1..=3)
        .map(|id| {
            (
                log_lines::id.eq(id),
                log_lines::source_id.eq(1),
                log_lines::line.eq("a line".to_owned()),
            )
        })
        .collect();
    let keys: Vec<NewKey> = (1..=3)
        .map(|id| {
            (
                log_keys::segment.eq(0),
                log_keys::date.eq(id),
                log_keys::id.eq(id),
                log_keys::code.eq(200),
                log_keys::method_id.eq(1),
                log_keys::user_id.eq(0),
                log_keys::source_id.eq(1),
                log_keys::size.eq(10),
                log_keys::ip.eq(None),
            )
        })
        .collect();
    for sql in [
        diesel::debug_query::<Sqlite, _>(&diesel::insert_into(log_lines::table).values(&rows))
            .to_string(),
        diesel::debug_query::<Sqlite, _>(
            &diesel::insert_or_ignore_into(log_keys::table).values(&keys),
        )
        .to_string(),
    ] {
        assert_eq!(sql.matches("INSERT").count(), 1, "{sql}");
        assert_eq!(
            sql.matches("), (").count(),
            2,
            "three value groups in {sql}"
        );
    }
}

#[actix_rt::test]
async fn start_up_keeps_existing_data_and_sources() {
    let db = temp_db();
    {
        let writer = DbWriter::start(&db.path, 1_000, None, Default::default()).unwrap();
        let id = register(&writer, "a:1").await;
        write(&writer, id, entries(&fixture_lines())).await.unwrap();
        writer.send(Checkpoint).await.unwrap().unwrap();
    }
    let writer = DbWriter::start(&db.path, 1_000, None, Default::default()).unwrap();
    assert_eq!(counts(&db.path), (60, 0));
    let again = register(&writer, "a:1").await;
    let other = register(&writer, "b:2").await;
    assert_eq!(again, 1);
    assert_ne!(other, again);
}

#[test]
fn the_database_is_in_wal_mode() {
    let db = temp_db();
    let _writer = open_writer(&db.path).unwrap();
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = diesel::sql_types::Text)]
        journal_mode: String,
    }
    let mut reader = open_reader(&db.path).unwrap();
    let mode: Mode = diesel::sql_query("PRAGMA journal_mode")
        .get_result(&mut reader)
        .unwrap();
    assert_eq!(mode.journal_mode, "wal");
    assert!(
        diesel::sql_query("DELETE FROM log_lines")
            .execute(&mut reader)
            .is_err(),
        "readers cannot write"
    );
}

fn segment_sizes(path: &std::path::Path) -> Vec<(i64, i64)> {
    let mut conn = open_reader(path).unwrap();
    hot_segments::table
        .select((hot_segments::id, hot_segments::rows))
        .order(hot_segments::id)
        .load(&mut conn)
        .unwrap()
}

#[actix_rt::test]
async fn a_full_segment_is_closed_and_the_next_one_opened_across_restarts() {
    let db = temp_db();
    {
        let writer = DbWriter::start(&db.path, 25, None, Default::default()).unwrap();
        let id = register(&writer, "a:1").await;
        for chunk in fixture_lines().chunks(20) {
            write(&writer, id, entries(chunk)).await.unwrap();
        }
    }
    // Batches are never split: a segment closes once it holds at least its capacity.
    assert_eq!(segment_sizes(&db.path), vec![(0, 40), (1, 20)]);

    let writer = DbWriter::start(&db.path, 25, None, Default::default()).unwrap();
    let id = register(&writer, "a:1").await;
    write(&writer, id, entries(&fixture_lines()[..10]))
        .await
        .unwrap();
    assert_eq!(segment_sizes(&db.path), vec![(0, 40), (1, 30)]);

    // Ids continue where they stopped, and every line has its key in one segment.
    let mut conn = open_reader(&db.path).unwrap();
    let ids: Vec<i64> = log_lines::table
        .select(log_lines::id)
        .order(log_lines::id)
        .load(&mut conn)
        .unwrap();
    assert_eq!(ids, (1..=70).collect::<Vec<i64>>());
    let mut key_ids: Vec<i64> = log_keys::table
        .select(log_keys::id)
        .load(&mut conn)
        .unwrap();
    key_ids.sort_unstable();
    assert_eq!(key_ids, ids);
}

#[actix_rt::test]
async fn count_tables_add_up_to_the_rows_and_bytes_of_each_key() {
    let db = temp_db();
    let writer = DbWriter::start(&db.path, 1_000, None, Default::default()).unwrap();
    let id = register(&writer, "a:1").await;
    for chunk in fixture_lines().chunks(7) {
        write(&writer, id, entries(chunk)).await.unwrap();
    }
    assert_keys_and_counts_agree_with_lines(&db.path, 60);
    let mut conn = open_reader(&db.path).unwrap();
    let from_keys: Vec<(i64, i32, i64)> = diesel::sql_query(
        "SELECT date / 86400 AS day, code, count(*) AS n FROM log_keys GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .load::<DayCount>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|r| (r.day, r.code, r.n))
    .collect();
    let from_counts: Vec<(i64, i32, i64)> = diesel::sql_query(
        "SELECT day, code, sum(n) AS n FROM day_counts GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .load::<DayCount>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|r| (r.day, r.code, r.n))
    .collect();
    assert!(
        from_keys.len() > 10,
        "the fixture spans many days and codes"
    );
    assert_eq!(from_counts, from_keys);
    let total: i64 = day_counts::table
        .select(diesel::dsl::sql::<diesel::sql_types::BigInt>("sum(n)"))
        .first(&mut conn)
        .unwrap();
    assert_eq!(total, 60);
    let by_code: Vec<(i32, i64)> =
        diesel::sql_query("SELECT code, sum(n) AS n FROM key_counts GROUP BY code ORDER BY code")
            .load::<CodeCount>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|r| (r.code, r.n))
            .collect();
    let from_keys: Vec<(i32, i64)> =
        diesel::sql_query("SELECT code, count(*) AS n FROM log_keys GROUP BY code ORDER BY code")
            .load::<CodeCount>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|r| (r.code, r.n))
            .collect();
    assert_eq!(by_code, from_keys);
}

#[derive(QueryableByName)]
struct CodeCount {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    code: i32,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct DayCount {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    day: i64,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    code: i32,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[test]
fn a_store_loaded_on_a_used_database_never_reuses_an_id() {
    let db = temp_db();
    let mut conn = open_writer(&db.path).unwrap();
    loggerator::db::write::writer::register_source(&mut conn, "a:1").unwrap();
    let lines = entries(&fixture_lines()[..5]);
    LogStore::load(&mut conn, 100)
        .unwrap()
        .write_batch(&mut conn, 1, &lines, &StreamProgress::Untracked)
        .unwrap();
    LogStore::load(&mut conn, 100)
        .unwrap()
        .write_batch(&mut conn, 1, &lines, &StreamProgress::Untracked)
        .unwrap();
    assert_eq!(counts(&db.path), (10, 0));
}

#[test]
fn rows_of_the_first_schema_move_over_when_the_database_is_upgraded() {
    use diesel_migrations::MigrationHarness;
    let db = temp_db();
    let mut conn = SqliteConnection::establish(db.path.to_str().unwrap()).unwrap();
    conn.batch_execute(include_str!(
        "../../migrations/2026-11-27-000001_create_logs/up.sql"
    ))
    .unwrap();
    conn.batch_execute(
        "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, \
         run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);
         INSERT INTO __diesel_schema_migrations (version) VALUES ('20261127000001');
         INSERT INTO sources (id, address) VALUES (1, 'old:1');",
    )
    .unwrap();
    for (i, line) in fixture_lines().iter().enumerate() {
        let r = loggerator::parse::parse_line(line).unwrap();
        diesel::sql_query(
            "INSERT INTO logs (id, source_id, ip, user, date, method, url, protocol, code, size, line) \
             VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind::<diesel::sql_types::BigInt, _>(i as i64 + 1)
        .bind::<diesel::sql_types::Text, _>(r.ip)
        .bind::<diesel::sql_types::Nullable<diesel::sql_types::Text>, _>(r.user)
        .bind::<diesel::sql_types::BigInt, _>(r.date)
        .bind::<diesel::sql_types::Text, _>(r.method.as_ref())
        .bind::<diesel::sql_types::Text, _>(r.url)
        .bind::<diesel::sql_types::Text, _>(r.protocol)
        .bind::<diesel::sql_types::Integer, _>(r.code)
        .bind::<diesel::sql_types::Nullable<diesel::sql_types::BigInt>, _>(r.size)
        .bind::<diesel::sql_types::Text, _>(*line)
        .execute(&mut conn)
        .unwrap();
    }
    assert!(conn
        .has_pending_migration(loggerator::db::connection::MIGRATIONS)
        .unwrap());
    drop(conn);

    let mut writer_conn = open_writer(&db.path).unwrap();
    // The source's all-time count is filled from the rows moved over; no stream is recorded.
    let record = loggerator::db::write::writer::register_source(&mut writer_conn, "old:1").unwrap();
    assert_eq!((record.lines_stored, record.committed), (60, None));
    drop(writer_conn);
    assert_eq!(counts(&db.path), (60, 0));
    let mut reader = open_reader(&db.path).unwrap();
    let page = loggerator::db::read::log_query::fetch_page(
        &mut reader,
        &Default::default(),
        &mut Default::default(),
        &loggerator::db::read::log_query::LogQuery::default().uncapped(),
    )
    .unwrap();
    let mut lines: Vec<String> = page.rows.into_iter().map(|r| r.line).collect();
    lines.sort();
    let mut expected: Vec<String> = fixture_lines().iter().map(|l| l.to_string()).collect();
    expected.sort();
    assert_eq!(lines, expected);
    let count = loggerator::db::read::log_query::count(
        &mut reader,
        &Default::default(),
        &loggerator::db::read::log_query::LogFilter {
            codes: vec![(500, 500)],
            ..Default::default()
        },
        usize::MAX,
    )
    .unwrap();
    let expected = fixture_lines()
        .iter()
        .filter(|l| l.contains("\" 500 "))
        .count();
    assert_eq!(count, expected as i64);
    assert_keys_and_counts_agree_with_lines(&db.path, 60);
}

#[test]
fn two_writing_processes_on_one_database_never_share_an_id() {
    // Each LogStore stands for a process with its own connection; they take turns.
    let db = temp_db();
    let mut first = open_writer(&db.path).unwrap();
    let mut second = open_writer(&db.path).unwrap();
    loggerator::db::write::writer::register_source(&mut first, "a:1").unwrap();
    let mut a = LogStore::load(&mut first, 25).unwrap();
    let mut b = LogStore::load(&mut second, 25).unwrap();
    let lines = entries(&fixture_lines()[..10]);
    for turn in 0..6 {
        let (store, conn) = if turn % 2 == 0 {
            (&mut a, &mut first)
        } else {
            (&mut b, &mut second)
        };
        assert_eq!(
            store
                .write_batch(conn, 1, &lines, &StreamProgress::Untracked)
                .unwrap()
                .stored,
            10
        );
    }
    assert_eq!(counts(&db.path), (60, 0));
    // Segments filled in turn too: 25 rows each at most one batch over.
    assert_eq!(segment_sizes(&db.path), vec![(0, 30), (1, 30)]);
}

#[actix_rt::test]
async fn a_batch_commits_its_stream_mark_and_counts_and_a_failed_one_neither() {
    let db = temp_db();
    let writer = writer_with(&db, REFUSE_REJECTED);
    let id = register(&writer, "a:1").await;
    let mark = StreamMark {
        fingerprint: vec![1, u64::MAX, 3],
        position: 12,
    };
    let batch = |lines: &[&str], stream: &StreamMark| WriteBatch {
        source_id: id,
        entries: entries(lines),
        stream: StreamProgress::Source(stream.clone()),
    };
    let stored = writer
        .send(batch(&fixture_lines()[..12], &mark))
        .await
        .unwrap();
    assert_eq!(stored.unwrap().stored, 12);
    // Refused by the trigger: neither its lines, nor its mark, nor its counts are kept.
    let later = StreamMark {
        position: 14,
        ..mark.clone()
    };
    let refused = writer
        .send(batch(&[fixture_lines()[12], "garbage"], &later))
        .await
        .unwrap();
    assert!(refused.is_err());

    let record = record(&writer, "a:1").await;
    assert_eq!(record.committed, Some(mark));
    assert_eq!((record.lines_stored, record.lines_rejected), (12, 0));
}

#[actix_rt::test]
async fn a_line_the_database_refuses_is_kept_as_rejected_and_the_rest_stored() {
    let db = temp_db();
    let writer_sql = "CREATE TRIGGER refuse_marker BEFORE INSERT ON log_lines \
         WHEN NEW.line LIKE '%/MARKER %' BEGIN SELECT RAISE(ABORT, 'marker line refused'); END;";
    let marker = r#"1.2.3.4 - bob [12/Jul/2000 05:11:41 +0000] "GET /MARKER HTTP/1.0" 200 1"#;
    let mut lines: Vec<&str> = fixture_lines()[..30].to_vec();
    lines.insert(17, marker);
    lines.push("garbage");

    let writer = writer_with(&db, writer_sql);
    let id = register(&writer, "a:1").await;
    let mark = StreamMark {
        fingerprint: vec![7],
        position: lines.len() as u64,
    };
    let summary = writer
        .send(WriteBatch {
            source_id: id,
            entries: entries(&lines),
            stream: StreamProgress::Source(mark.clone()),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        summary,
        WriteSummary {
            stored: 30,
            rejected: 2
        }
    );
    assert_eq!(stored_lines(&db.path), fixture_lines()[..30].to_vec());
    let mut conn = open_reader(&db.path).unwrap();
    let rejected: Vec<(Vec<u8>, String)> = rejected_lines::table
        .select((rejected_lines::line, rejected_lines::reason))
        .order(rejected_lines::id)
        .load(&mut conn)
        .unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0].0, marker.as_bytes());
    assert!(
        rejected[0].1.contains("marker line refused"),
        "{}",
        rejected[0].1
    );
    assert_eq!(rejected[1].0, b"garbage");
    // The mark and the counts committed with the lines.
    let record = record(&writer, "a:1").await;
    assert_eq!(record.committed, Some(mark));
    assert_eq!((record.lines_stored, record.lines_rejected), (30, 2));
    // Counts by key agree with the rows kept.
    let count = loggerator::db::read::log_query::count(
        &mut conn,
        &Default::default(),
        &Default::default(),
        usize::MAX,
    )
    .unwrap();
    assert_eq!(count, 30);
}

#[actix_rt::test]
async fn a_panic_in_the_writer_is_answered_as_an_error_and_the_writer_goes_on() {
    let db = temp_db();
    let health = std::sync::Arc::new(loggerator::db::health::StorageHealth::default());
    let writer = DbWriter::start(&db.path, 1_000, None, health.clone()).unwrap();
    let id = register(&writer, "a:1").await;
    // A key taken from a longer line: reading its spans from a short line panics (a slice out
    // of range), as a bug in the writer would.
    let Entry::Parsed { key, .. } = Entry::from_line(fixture_lines()[0]) else {
        panic!("the fixture parses");
    };
    let poisoned = Arc::new(vec![Entry::Parsed {
        line: "short".into(),
        key,
    }]);
    let failed = write(&writer, id, poisoned).await;
    assert!(
        matches!(&failed, Err(WriteError::Unavailable(reason)) if reason.contains("panicked")),
        "{failed:?}"
    );
    let problem = health.problem().unwrap();
    assert_eq!(problem.reason, loggerator::reason::Reason::WriterPanicked);
    assert!(problem.detail.contains("panicked"), "{}", problem.detail);
    assert_eq!(counts(&db.path), (0, 0));

    // The same writer, on a fresh connection, stores the next batch; storage is healthy again.
    let stored = write(&writer, id, entries(&fixture_lines()[..5])).await;
    assert_eq!(stored.unwrap().stored, 5);
    assert_eq!(health.problem(), None);
    assert_eq!(counts(&db.path), (5, 0));
}

#[test]
fn the_name_cache_stays_bounded_and_an_evicted_name_keeps_its_id() {
    use loggerator::db::names::{NameTable, Names};
    let db = temp_db();
    let mut conn = open_writer(&db.path).unwrap();
    let mut names = Names::load_capped(&mut conn, NameTable::Users, 3).unwrap();
    let users: Vec<String> = (0..10).map(|i| format!("user{i}")).collect();
    let mut first_ids = Vec::new();
    for pair in users.chunks(2) {
        names
            .intern(&mut conn, pair.iter().map(String::as_str))
            .unwrap();
        assert!(names.cached() <= 3, "{} names cached", names.cached());
        for user in pair {
            first_ids.push(names.id(user).unwrap());
        }
    }
    let mut distinct = first_ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);
    // Long evicted: looked up again, with the id it was given the first time.
    names.intern(&mut conn, ["user0"].into_iter()).unwrap();
    assert_eq!(names.id("user0").unwrap(), first_ids[0]);
    // A batch with more names than the capacity still gets all of them.
    names
        .intern(&mut conn, users.iter().map(String::as_str))
        .unwrap();
    for (user, id) in users.iter().zip(&first_ids) {
        assert_eq!(names.id(user).unwrap(), *id);
    }
}

/// A batch whose key was taken from a longer line: reading its spans panics in the writer.
fn poisoned() -> Arc<Vec<Entry>> {
    let Entry::Parsed { key, .. } = Entry::from_line(fixture_lines()[0]) else {
        panic!("the fixture parses");
    };
    Arc::new(vec![Entry::Parsed {
        line: "short".into(),
        key,
    }])
}

#[actix_rt::test]
async fn a_writer_that_cannot_reopen_its_database_waits_for_it_then_gives_up() {
    use loggerator::db::health::StorageHealth;
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("test.db");
    let moved = folder.path().join("moved");
    // The database's folder replaced by a file: it cannot be opened again (even as root).
    let hide = || {
        std::fs::rename(&dir, &moved).unwrap();
        std::fs::write(&dir, b"not a folder").unwrap();
    };
    let restore = || {
        std::fs::remove_file(&dir).unwrap();
        std::fs::rename(&moved, &dir).unwrap();
    };

    // Patient: a failed reopen makes storage unhealthy; once the folder is back, it goes on.
    let health = Arc::new(StorageHealth::default());
    let writer = DbWriter::start(&path, 1_000, None, health.clone()).unwrap();
    let id = register(&writer, "a:1").await;
    hide();
    assert!(write(&writer, id, poisoned()).await.is_err());
    assert!(write(&writer, id, entries(&fixture_lines()[..3]))
        .await
        .is_err());
    assert!(health.problem().is_some());
    assert_eq!(health.gave_up(), None);
    restore();
    let stored = write(&writer, id, entries(&fixture_lines()[..3])).await;
    assert_eq!(stored.unwrap().stored, 3);
    assert_eq!(health.problem(), None);

    // Out of patience: the writer gives up, and says why.
    let health = Arc::new(StorageHealth::with_reopen_patience(Duration::ZERO));
    let writer = DbWriter::start(&path, 1_000, None, health.clone()).unwrap();
    hide();
    assert!(write(&writer, id, poisoned()).await.is_err());
    let reason = health.gave_up().expect("gave up");
    assert!(reason.contains("cannot be opened again"), "{reason}");
    restore();
}
