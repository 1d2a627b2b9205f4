//! The DbWriter actor: batches, transactions, and start-up that keeps existing data.

mod common;

use std::sync::Arc;

use actix::Addr;
use common::{fixture_lines, temp_db};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;
use loggerator::db::connection::{open_reader, open_writer};
use loggerator::db::schema::{logs, rejected_lines};
use loggerator::db::writer::{
    rows_of, Checkpoint, DbWriter, RegisterSource, WriteBatch, WriteSummary,
};
use loggerator::db::DbError;
use loggerator::entry::Entry;

fn entries(lines: &[&str]) -> Arc<Vec<Entry>> {
    Arc::new(lines.iter().map(|l| Entry::from_line(l)).collect())
}

async fn register(writer: &Addr<DbWriter>, address: &str) -> i64 {
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
) -> Result<WriteSummary, DbError> {
    writer
        .send(WriteBatch { source_id, entries })
        .await
        .unwrap()
}

fn counts(path: &std::path::Path) -> (i64, i64) {
    let mut conn = open_reader(path).unwrap();
    let stored = logs::table.count().get_result(&mut conn).unwrap();
    let rejected = rejected_lines::table.count().get_result(&mut conn).unwrap();
    (stored, rejected)
}

#[actix_rt::test]
async fn stores_parsed_and_rejected_lines_of_a_batch() {
    let db = temp_db();
    let writer = DbWriter::start(open_writer(&db.path).unwrap());
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
    let stored: Vec<String> = logs::table
        .order(logs::id)
        .select(logs::line)
        .load(&mut conn)
        .unwrap();
    assert_eq!(stored, fixture_lines());
}

#[actix_rt::test]
async fn a_batch_larger_than_one_statement_is_stored_whole() {
    let db = temp_db();
    let writer = DbWriter::start(open_writer(&db.path).unwrap());
    let source_id = register(&writer, "a:1").await;
    let lines: Vec<&str> = (0..1_234).map(|i| fixture_lines()[i % 60]).collect();
    let summary = write(&writer, source_id, entries(&lines)).await.unwrap();
    assert_eq!(summary.stored, 1_234);
    assert_eq!(counts(&db.path), (1_234, 0));
}

#[actix_rt::test]
async fn a_failing_batch_leaves_nothing_behind() {
    let db = temp_db();
    let mut conn = open_writer(&db.path).unwrap();
    // Make the second table refuse rows, after the first has taken the batch's parsed lines.
    conn.batch_execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON rejected_lines BEGIN SELECT RAISE(ABORT, 'refused'); END;",
    )
    .unwrap();
    let writer = DbWriter::start(conn);
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
    let batch = entries(&fixture_lines()[..3]);
    let (rows, _) = rows_of(1, &batch);
    let sql = diesel::debug_query::<Sqlite, _>(&diesel::insert_into(logs::table).values(&rows))
        .to_string();
    assert_eq!(sql.matches("INSERT").count(), 1, "{sql}");
    assert_eq!(
        sql.matches("), (").count(),
        2,
        "three value groups in {sql}"
    );
}

#[actix_rt::test]
async fn start_up_keeps_existing_data_and_sources() {
    let db = temp_db();
    {
        let writer = DbWriter::start(open_writer(&db.path).unwrap());
        let id = register(&writer, "a:1").await;
        write(&writer, id, entries(&fixture_lines())).await.unwrap();
        writer.send(Checkpoint).await.unwrap().unwrap();
    }
    let writer = DbWriter::start(open_writer(&db.path).unwrap());
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
        diesel::sql_query("DELETE FROM logs")
            .execute(&mut reader)
            .is_err(),
        "readers cannot write"
    );
}
