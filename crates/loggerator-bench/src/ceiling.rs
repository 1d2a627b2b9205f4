//! The ceiling an ingest figure is compared with (`ingest --ceiling`): the same lines, parsed
//! and appended with their text to an unindexed SQLite table by one thread, in transactions of
//! the service's batch size, on a connection opened as the service opens its writer (its
//! pragmas). Measured in the same run as the ingest, after the emulators have stopped, so that
//! the ratio holds on a shared, noisy machine where absolute rates drift from hour to hour.

use std::path::Path;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use loggerator::db::connection::open_writer;
use loggerator::emulator::LineGenerator;
use loggerator::limits::DEFAULT_BATCH_LINES;
use loggerator::parse::parse_line;

use super::BenchError;

diesel::table! {
    ceiling_lines (id) {
        id -> BigInt,
        source_id -> BigInt,
        ip -> Text,
        user -> Nullable<Text>,
        date -> BigInt,
        method -> Text,
        url -> Text,
        protocol -> Text,
        code -> Integer,
        size -> Nullable<BigInt>,
        referer -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        line -> Text,
    }
}

/// A parsed line as appended: every field the service keeps, and the line. Owned, as the
/// service's rows are: a statement diesel caches must not borrow.
#[derive(Insertable)]
#[diesel(table_name = ceiling_lines)]
struct Appended {
    source_id: i64,
    ip: String,
    user: Option<String>,
    date: i64,
    method: String,
    url: String,
    protocol: String,
    code: i32,
    size: Option<i64>,
    referer: Option<String>,
    user_agent: Option<String>,
    line: String,
}

/// Rows per INSERT statement, as the service's writer sends them.
const ROWS_PER_STATEMENT: usize = 500;

/// What the ceiling run did.
pub struct Ceiling {
    pub lines: u64,
    pub secs: f64,
}

impl Ceiling {
    pub fn lines_per_sec(&self) -> f64 {
        self.lines as f64 / self.secs.max(1e-9)
    }
}

/// Appends the lines that emulators of seeds 1, 2, ... sent (`counts[i]` each) to a new
/// database at `db`, timing the parsing and the appending only (not the making of the lines).
pub fn measure(counts: &[u64], db: &Path) -> Result<Ceiling, BenchError> {
    let failed = |e: &dyn std::fmt::Display| {
        BenchError::io("the ceiling run", std::io::Error::other(e.to_string()))
    };
    let mut conn = open_writer(db).map_err(|e| failed(&e))?;
    conn.batch_execute(
        "CREATE TABLE ceiling_lines (id INTEGER PRIMARY KEY, source_id INTEGER NOT NULL, \
         ip TEXT NOT NULL, user TEXT, date INTEGER NOT NULL, method TEXT NOT NULL, \
         url TEXT NOT NULL, protocol TEXT NOT NULL, code INTEGER NOT NULL, size INTEGER, \
         referer TEXT, user_agent TEXT, line TEXT NOT NULL)",
    )
    .map_err(|e| failed(&e))?;
    let batch_lines = batch_lines();
    let mut timed = Duration::ZERO;
    let mut lines = 0;
    for (i, &count) in counts.iter().enumerate() {
        let mut generator = LineGenerator::new(i as u64 + 1);
        let mut left = count;
        while left > 0 {
            let take = left.min(batch_lines as u64);
            // Making the lines is the emulators' work, not the service's: not timed.
            let batch: Vec<String> = (0..take).map(|_| generator.next_line()).collect();
            let started = Instant::now();
            append(&mut conn, i as i64 + 1, &batch).map_err(|e| failed(&e))?;
            timed += started.elapsed();
            lines += take;
            left -= take;
        }
    }
    Ok(Ceiling {
        lines,
        secs: timed.as_secs_f64(),
    })
}

/// The service's `--batch-size`, from its environment variable as the bench's service gets it.
fn batch_lines() -> usize {
    std::env::var("LOGGERATOR_BATCH_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_BATCH_LINES)
}

/// One batch, parsed and appended in one transaction.
fn append(
    conn: &mut SqliteConnection,
    source_id: i64,
    batch: &[String],
) -> Result<(), diesel::result::Error> {
    let rows: Vec<Appended> = batch
        .iter()
        .filter_map(|line| {
            let record = parse_line(line).ok()?;
            Some(Appended {
                source_id,
                ip: record.ip.to_owned(),
                user: record.user.map(str::to_owned),
                date: record.date,
                method: record.method.into_owned(),
                url: record.url.to_owned(),
                protocol: record.protocol.to_owned(),
                code: record.code,
                size: record.size,
                referer: record.referer.map(str::to_owned),
                user_agent: record.user_agent.map(str::to_owned),
                line: line.clone(),
            })
        })
        .collect();
    conn.transaction(|conn| {
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<Appended> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
            // A full chunk as an array, as the service's writer sends it: its statement has
            // a fixed shape, so diesel prepares it once.
            match <[Appended; ROWS_PER_STATEMENT]>::try_from(chunk) {
                Ok(full) => diesel::insert_into(ceiling_lines::table)
                    .values(full)
                    .execute(conn)?,
                Err(rest) => diesel::insert_into(ceiling_lines::table)
                    .values(rest)
                    .execute(conn)?,
            };
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_sent_is_appended_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ceiling.db");
        let ceiling = measure(&[1_200, 800], &db).unwrap();
        assert_eq!(ceiling.lines, 2_000);
        assert!(ceiling.lines_per_sec() > 0.0);
        let mut conn = SqliteConnection::establish(db.to_str().unwrap()).unwrap();
        let stored: i64 = ceiling_lines::table.count().get_result(&mut conn).unwrap();
        assert_eq!(stored, 2_000);
    }
}
