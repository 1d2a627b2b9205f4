//! Retention: `--retention-days` (by when lines were received, not their own dates, which may
//! be years old) and `--max-db-bytes` (pages in use, since the file never shrinks: freed pages
//! are reused by later inserts).
//!
//! Whole segments go, oldest first, and never the one being filled. A segment is deleted a
//! chunk of keys at a time, each chunk one transaction that also subtracts its rows from every
//! count table, so counts and `/stats` stay exact at every commit and the writer holds the lock
//! only briefly (the scheduler sizes chunks to about [`STEP_TARGET`]). Readers keep their
//! snapshot: a query running across a drop sees the rows as they were when it started, and a
//! cursor taken before a drop resumes at the next row still stored.
//!
//! Rejected lines follow the same rules by their own `received_at`. The marks of keyed streams
//! (pushed bodies, imported files) go once none of their lines is stored: importing a file
//! again then stores it again, and never while its lines are still there.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::store::LogStore;
use crate::db::blocks::format::decode_keys;
use crate::db::blocks::part::LIVE;
use crate::db::schema::{block_data, block_grams, blocks, hot_segments, parts};
use crate::db::DbError;

/// How long one retention transaction should hold the write lock, typically: steps vary around
/// it (their spread is in `docs/performance.md`, "Constants"), and the lock should not be held
/// much past 50 ms.
pub const STEP_TARGET: Duration = Duration::from_millis(30);

/// What to keep. Both `None`: keep everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionRules {
    /// Lines received longer ago than this go.
    pub max_age_secs: Option<i64>,
    /// Above this many bytes of pages in use, the oldest segments go.
    pub max_used_bytes: Option<u64>,
}

impl RetentionRules {
    pub fn keeps_everything(&self) -> bool {
        self.max_age_secs.is_none() && self.max_used_bytes.is_none()
    }
}

/// What one step deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retained {
    /// Stored lines deleted (with their keys and counts).
    pub lines: u64,
    /// Rejected lines deleted.
    pub rejected: u64,
    /// Keyed-stream marks deleted.
    pub marks: u64,
    /// The segment this step emptied and removed.
    pub dropped_segment: Option<DroppedSegment>,
    /// How long the step's transaction took.
    pub took: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DroppedSegment {
    pub id: i64,
    pub received_from: i64,
    pub received_until: i64,
}

impl Retained {
    /// Nothing was due: retention is done until more lines age or arrive.
    pub fn nothing(&self) -> bool {
        self.lines == 0 && self.rejected == 0 && self.marks == 0 && self.dropped_segment.is_none()
    }
}

#[derive(QueryableByName)]
struct Pages {
    #[diesel(sql_type = BigInt)]
    pages: i64,
}

/// Bytes of the database in pages that hold data: the file's pages less the free ones.
pub fn used_bytes(conn: &mut SqliteConnection) -> Result<u64, DbError> {
    let mut pages = |pragma: &str| -> Result<i64, DbError> {
        Ok(
            diesel::sql_query(format!("SELECT {pragma} AS pages FROM pragma_{pragma}()"))
                .get_result::<Pages>(conn)?
                .pages,
        )
    };
    let used = pages("page_count")? - pages("freelist_count")?;
    Ok((used.max(0) as u64) * pages("page_size")? as u64)
}

/// One bounded step: up to `chunk` keys of the oldest segment due, or else up to `chunk`
/// rejected lines and marks due. Each in one transaction.
pub fn step(
    conn: &mut SqliteConnection,
    store: &mut LogStore,
    rules: RetentionRules,
    chunk: i64,
    now: i64,
) -> Result<Retained, DbError> {
    if rules.keeps_everything() {
        return Ok(Retained::default());
    }
    let started = std::time::Instant::now();
    let age_cutoff = rules.max_age_secs.map(|age| now - age);
    let mut retained = conn.immediate_transaction(|conn| -> Result<Retained, DbError> {
        let over_size = match rules.max_used_bytes {
            Some(max) => used_bytes(conn)? > max,
            None => false,
        };
        if let Some(retained) = retire_part(conn, age_cutoff, over_size, chunk)? {
            return Ok(retained);
        }
        let oldest: Option<(i64, i64, i64)> = hot_segments::table
            .select((
                hot_segments::id,
                hot_segments::received_from,
                hot_segments::received_until,
            ))
            .order(hot_segments::id)
            .first(conn)
            .optional()?;
        if let Some((id, received_from, received_until)) = oldest {
            let aged = age_cutoff.is_some_and(|cutoff| received_until < cutoff);
            if id < store.open_segment() && (aged || over_size) {
                let lines = delete_keys(conn, id, chunk)?;
                let mut retained = Retained {
                    lines,
                    ..Retained::default()
                };
                if lines < chunk as u64 {
                    diesel::delete(hot_segments::table.find(id)).execute(conn)?;
                    store.dropped_before(id + 1);
                    retained.dropped_segment = Some(DroppedSegment {
                        id,
                        received_from,
                        received_until,
                    });
                }
                return Ok(retained);
            }
        }
        // Rejected lines: past the age, or (over the size) older than every line kept.
        let kept_from: Option<i64> = hot_segments::table
            .select(diesel::dsl::min(hot_segments::received_from))
            .first::<Option<i64>>(conn)?
            .into_iter()
            .chain(
                parts::table
                    .filter(parts::state.eq(LIVE))
                    .select(diesel::dsl::min(parts::received_from))
                    .first::<Option<i64>>(conn)?,
            )
            .min();
        let size_cutoff = if over_size { kept_from } else { None };
        let rejected = match age_cutoff.max(size_cutoff) {
            Some(cutoff) => diesel::sql_query(
                "DELETE FROM rejected_lines WHERE id IN \
                 (SELECT id FROM rejected_lines WHERE received_at < ?1 ORDER BY id LIMIT ?2)",
            )
            .bind::<BigInt, _>(cutoff)
            .bind::<BigInt, _>(chunk)
            .execute(conn)? as u64,
            None => 0,
        };
        // A mark goes once none of its lines is stored any more (ids only grow, and
        // retention deletes from the oldest): importing the file again then stores it again.
        // The oldest line kept is in the oldest part, or else in the hot table (past the
        // compacted ids, whose hot rows may not all be deleted yet).
        let marks = diesel::sql_query(
            "DELETE FROM keyed_streams WHERE (source_id, key) IN \
             (SELECT source_id, key FROM keyed_streams \
              WHERE last_line_id < (SELECT coalesce(min(m), 9223372036854775807) FROM \
                  (SELECT min(min_id) AS m FROM parts WHERE state = 1 \
                   UNION ALL SELECT min(id) FROM log_lines \
                   WHERE id > (SELECT compacted_through FROM store_state))) \
              AND last_rejected_id < \
                  (SELECT coalesce(min(id), 9223372036854775807) FROM rejected_lines) \
              LIMIT ?1)",
        )
        .bind::<BigInt, _>(chunk)
        .execute(conn)? as u64;
        Ok(Retained {
            rejected,
            marks,
            ..Retained::default()
        })
    })?;
    retained.took = started.elapsed();
    Ok(retained)
}

/// The floor of `date / unit` in SQL (SQLite's `/` truncates towards zero): the day or hour
/// of a date as the count tables key it (`div_euclid`).
fn floor_div(unit: i64) -> String {
    format!("(date / {unit} - (date % {unit} < 0))")
}

/// Deletes the first `chunk` keys of `segment` in (date, id) order, their lines, and their
/// share of every count table. Returns how many.
fn delete_keys(conn: &mut SqliteConnection, segment: i64, chunk: i64) -> Result<u64, DbError> {
    use diesel::connection::SimpleConnection;
    conn.batch_execute(
        "CREATE TEMP TABLE IF NOT EXISTS retiring (date INTEGER, id INTEGER, code INTEGER, \
         method_id INTEGER, user_id INTEGER, source_id INTEGER, size INTEGER); \
         DELETE FROM temp.retiring;",
    )?;
    let taken = diesel::sql_query(
        "INSERT INTO temp.retiring SELECT date, id, code, method_id, user_id, source_id, size \
         FROM log_keys WHERE segment = ?1 ORDER BY date, id LIMIT ?2",
    )
    .bind::<BigInt, _>(segment)
    .bind::<BigInt, _>(chunk)
    .execute(conn)? as u64;
    if taken == 0 {
        return Ok(0);
    }
    subtract_counts(conn)?;
    conn.batch_execute("DELETE FROM log_lines WHERE id IN (SELECT id FROM temp.retiring);")?;
    diesel::sql_query(
        "DELETE FROM log_keys WHERE segment = ?1 AND (date, id) IN \
         (SELECT date, id FROM temp.retiring)",
    )
    .bind::<BigInt, _>(segment)
    .execute(conn)?;
    diesel::sql_query("UPDATE hot_segments SET rows = rows - ?2 WHERE id = ?1")
        .bind::<BigInt, _>(segment)
        .bind::<BigInt, _>(taken as i64)
        .execute(conn)?;
    Ok(taken)
}

/// Subtracts the rows in `temp.retiring` from every count table.
fn subtract_counts(conn: &mut SqliteConnection) -> Result<(), DbError> {
    use diesel::connection::SimpleConnection;
    let day = floor_div(crate::limits::SECONDS_PER_DAY);
    let hour = floor_div(crate::limits::SECONDS_PER_HOUR);
    // Each count table: subtract the chunk's tallies, then remove the keys that reached 0.
    let tables: [(&str, String, &[&str]); 3] = [
        (
            "day_counts",
            format!("{day} AS day, source_id, code, method_id, user_id"),
            &["day", "source_id", "code", "method_id", "user_id"],
        ),
        (
            "hour_counts",
            format!("{hour} AS hour, source_id, code"),
            &["hour", "source_id", "code"],
        ),
        (
            "key_counts",
            "source_id, code, method_id, user_id".to_owned(),
            &["source_id", "code", "method_id", "user_id"],
        ),
    ];
    for (table, key, columns) in tables {
        let matched = columns
            .iter()
            .map(|c| format!("{table}.{c} = r.{c}"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let grouping = (1..=columns.len())
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        conn.batch_execute(&format!(
            "UPDATE {table} SET n = {table}.n - r.n, bytes = {table}.bytes - r.bytes \
             FROM (SELECT {key}, count(*) AS n, sum(size) AS bytes FROM temp.retiring \
                   GROUP BY {grouping}) AS r \
             WHERE {matched}; \
             DELETE FROM {table} WHERE n <= 0 AND ({columns}) IN \
             (SELECT {key} FROM temp.retiring);",
            columns = columns.join(", "),
        ))?;
    }
    Ok(())
}

/// One step on the oldest part, if it is due: its first blocks, about `chunk` rows, go with
/// their share of the count tables, and the part when none is left. Parts hold older lines
/// than every hot segment, so they go first.
fn retire_part(
    conn: &mut SqliteConnection,
    age_cutoff: Option<i64>,
    over_size: bool,
    chunk: i64,
) -> Result<Option<Retained>, DbError> {
    // Oldest by their lines' ids (a merged part is newer than the parts it replaced).
    let oldest: Option<(i64, i64, i64)> = parts::table
        .filter(parts::state.eq(LIVE))
        .select((parts::id, parts::received_from, parts::received_until))
        .order(parts::min_id)
        .first(conn)
        .optional()?;
    let Some((part, received_from, received_until)) = oldest else {
        return Ok(None);
    };
    let aged = age_cutoff.is_some_and(|cutoff| received_until < cutoff);
    if !(aged || over_size) {
        return Ok(None);
    }
    let mut retained = Retained::default();
    let taken: Vec<(i64, i64)> = blocks::table
        .filter(blocks::part.eq(part))
        .order((blocks::min_date, blocks::min_id))
        .select((blocks::id, blocks::rows))
        .load(conn)?;
    let mut rows = 0;
    let mut chosen = Vec::new();
    for (block, n) in taken {
        if rows >= chunk.max(1) {
            break;
        }
        rows += n;
        chosen.push(block);
    }
    if !chosen.is_empty() {
        fill_retiring_from_blocks(conn, &chosen)?;
        subtract_counts(conn)?;
        diesel::delete(block_data::table.filter(block_data::block.eq_any(&chosen)))
            .execute(conn)?;
        diesel::delete(block_grams::table.filter(block_grams::block.eq_any(&chosen)))
            .execute(conn)?;
        diesel::delete(blocks::table.filter(blocks::id.eq_any(&chosen))).execute(conn)?;
        diesel::update(parts::table.find(part))
            .set(parts::rows.eq(parts::rows - rows))
            .execute(conn)?;
        retained.lines = rows as u64;
    }
    let left: i64 = blocks::table
        .filter(blocks::part.eq(part))
        .count()
        .get_result(conn)?;
    if left == 0 {
        diesel::delete(parts::table.find(part)).execute(conn)?;
        retained.dropped_segment = Some(DroppedSegment {
            id: part,
            received_from,
            received_until,
        });
    }
    Ok(Some(retained))
}

/// `temp.retiring` holds the keys of these blocks' rows.
fn fill_retiring_from_blocks(conn: &mut SqliteConnection, blocks: &[i64]) -> Result<(), DbError> {
    use diesel::connection::SimpleConnection;
    conn.batch_execute(
        "CREATE TEMP TABLE IF NOT EXISTS retiring (date INTEGER, id INTEGER, code INTEGER, \
         method_id INTEGER, user_id INTEGER, source_id INTEGER, size INTEGER); \
         DELETE FROM temp.retiring;",
    )?;
    for &block in blocks {
        let blob: Vec<u8> = block_data::table
            .find(block)
            .select(block_data::keys)
            .first(conn)?;
        let keys = decode_keys(&blob).map_err(|reason| DbError::CorruptBlock { block, reason })?;
        for start in (0..keys.len()).step_by(ROWS_PER_INSERT) {
            let end = (start + ROWS_PER_INSERT).min(keys.len());
            let values = (start..end)
                .map(|i| {
                    format!(
                        "({}, {}, {}, {}, {}, {}, {})",
                        keys.date[i],
                        keys.id[i],
                        keys.code[i],
                        keys.method_id[i],
                        keys.user_id[i],
                        keys.source_id[i],
                        keys.size[i]
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            conn.batch_execute(&format!("INSERT INTO temp.retiring VALUES {values};"))?;
        }
    }
    Ok(())
}

/// Rows per INSERT into `temp.retiring`: integers written into the SQL (never text from
/// outside), a few hundred a statement.
const ROWS_PER_INSERT: usize = 500;
