//! How a batch of lines becomes rows: one transaction over `log_lines`, `log_keys`, the count
//! tables (`key_counts`, `day_counts`, `hour_counts`), `hot_segments`, `store_state` and
//! `rejected_lines`. Only the DbWriter calls this, so the state
//! kept here (the next id, the open segment, the name caches) never goes stale.

use std::collections::HashMap;

use diesel::dsl::Eq;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Bool, Text};
use diesel::upsert::excluded;
use log::warn;

use crate::batch::{Entry, StreamMark, StreamProgress, WriteSummary};
use crate::db::ip_key::ip_key;
use crate::db::names::{NameTable, Names};
use crate::db::schema::{
    day_counts, hot_segments, hour_counts, key_counts, keyed_streams, log_keys, log_lines,
    rejected_lines, sources, store_state,
};
use crate::db::DbError;
use crate::limits::{SECONDS_PER_DAY, SECONDS_PER_HOUR};

/// Rows per INSERT statement: 6 bound values a row keeps a statement well under SQLite's limit
/// of 32,766 variables, and larger statements gain nothing measurable.
pub const ROWS_PER_STATEMENT: usize = 500;

/// One row as `column = value` pairs. A derived `Insertable` would allow DEFAULT, and with
/// DEFAULT possible diesel's SQLite backend inserts one row per statement.
pub type NewLine = (
    Eq<log_lines::id, i64>,
    Eq<log_lines::source_id, i64>,
    Eq<log_lines::line, String>,
);

pub type NewKey = (
    Eq<log_keys::segment, i64>,
    Eq<log_keys::date, i64>,
    Eq<log_keys::id, i64>,
    Eq<log_keys::code, i32>,
    Eq<log_keys::method_id, i64>,
    Eq<log_keys::user_id, i64>,
    Eq<log_keys::source_id, i64>,
    Eq<log_keys::size, i64>,
    Eq<log_keys::ip, Option<Vec<u8>>>,
);

/// Lines and the sum of their sizes, for one key of a count table.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    n: i64,
    bytes: i64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.n += other.n;
        self.bytes += other.bytes;
    }
}

pub struct LogStore {
    next_id: i64,
    /// The oldest segment still stored (retention drops segments from the oldest).
    oldest_segment: i64,
    segment: i64,
    segment_rows: u64,
    segment_capacity: u64,
    methods: Names,
    users: Names,
    /// The ids of the last committed batch: its parsed entries, less those refused, got
    /// consecutive ids from this one, in order.
    last_first_id: i64,
    /// Indexes of the last batch's parsed entries that the database refused (kept as rejected).
    last_refused: Vec<usize>,
}

impl LogStore {
    /// Reads where the last run stopped: the next id and the segment being filled.
    pub fn load(conn: &mut SqliteConnection, segment_capacity: u64) -> Result<Self, DbError> {
        let oldest: Option<i64> = hot_segments::table
            .select(diesel::dsl::min(hot_segments::id))
            .first(conn)?;
        let mut store = Self {
            next_id: 1,
            oldest_segment: oldest.unwrap_or(0),
            segment: 0,
            segment_rows: 0,
            segment_capacity: segment_capacity.max(1),
            methods: Names::load(conn, NameTable::Methods)?,
            users: Names::load(conn, NameTable::Users)?,
            last_first_id: 1,
            last_refused: Vec::new(),
        };
        store.reload_position(conn)?;
        Ok(store)
    }

    /// The next id and the open segment, as stored. Read again inside every batch's transaction:
    /// should another process write to the same database, ids are still never handed out twice
    /// (two primary-key lookups per batch). Kept in `store_state`, not read from the hot tables:
    /// compaction empties them, and ids must never be handed out again.
    fn reload_position(&mut self, conn: &mut SqliteConnection) -> Result<(), DbError> {
        let (last_id, segment): (i64, i64) = store_state::table
            .select((store_state::last_line_id, store_state::open_segment))
            .first(conn)?;
        let segment_rows: Option<i64> = hot_segments::table
            .find(segment)
            .select(hot_segments::rows)
            .first(conn)
            .optional()?;
        self.next_id = last_id + 1;
        self.segment = segment;
        self.segment_rows = segment_rows.unwrap_or(0) as u64;
        Ok(())
    }

    /// Records the position reached, in the transaction that reached it.
    fn save_position(&self, conn: &mut SqliteConnection) -> Result<(), DbError> {
        diesel::update(store_state::table)
            .set((
                store_state::last_line_id.eq(self.next_id - 1),
                store_state::open_segment.eq(self.segment),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Seals the open segment if it holds rows, so that compaction can take it: the next batch
    /// opens a new one. Returns whether it did.
    pub fn seal(&mut self, conn: &mut SqliteConnection) -> Result<bool, DbError> {
        conn.immediate_transaction(|conn| {
            self.reload_position(conn)?;
            if self.segment_rows == 0 {
                return Ok(false);
            }
            self.segment += 1;
            self.segment_rows = 0;
            self.save_position(conn)?;
            Ok(true)
        })
    }

    /// Stores `entries` from `source_id` and records `stream` as the source's stream, in one
    /// transaction.
    pub fn write_batch(
        &mut self,
        conn: &mut SqliteConnection,
        source_id: i64,
        entries: &[Entry],
        stream: &StreamProgress,
    ) -> Result<WriteSummary, DbError> {
        // Names are committed on their own, before the batch: an unused name is harmless, and
        // the caches then never hold an id that a rolled-back transaction took away.
        self.methods.intern(
            conn,
            entries.iter().filter_map(|e| match e {
                Entry::Parsed { line, key } => Some(key.method(line)),
                Entry::Rejected { .. } => None,
            }),
        )?;
        self.users.intern(
            conn,
            entries.iter().filter_map(|e| match e {
                Entry::Parsed { line, key } => key.user(line),
                Entry::Rejected { .. } => None,
            }),
        )?;

        let received_at = crate::time::now_seconds();
        // IMMEDIATE takes the write lock first, so the position read inside stays true until
        // the commit.
        conn.immediate_transaction(|conn| {
            self.reload_position(conn)?;
            self.last_first_id = self.next_id;
            self.last_refused.clear();
            // A savepoint, so that a refused batch can be taken apart in the same transaction
            // (and the stream mark still commits with exactly the lines it counts).
            let whole = conn.transaction(|conn| self.insert(conn, source_id, entries, received_at));
            let summary = match whole {
                Ok(summary) => summary,
                Err(e) if e.is_refusal() => {
                    warn!(
                        "source #{source_id}: the database refused a batch of {} lines ({e}); \
                         storing them one by one",
                        entries.len()
                    );
                    self.reload_position(conn)?;
                    self.insert_one_by_one(conn, source_id, entries, received_at)?
                }
                Err(e) => return Err(e),
            };
            record_stream(conn, source_id, stream, summary, received_at)?;
            Ok(summary)
        })
    }

    /// Segments holding rows (numbered in order from the oldest kept; the open one may be
    /// empty yet).
    pub fn segments(&self) -> i64 {
        self.segment - self.oldest_segment + i64::from(self.segment_rows > 0)
    }

    /// The segment being filled: retention never drops it.
    pub fn open_segment(&self) -> i64 {
        self.segment
    }

    /// Retention dropped every segment before `segment`.
    pub fn dropped_before(&mut self, segment: i64) {
        self.oldest_segment = self.oldest_segment.max(segment);
    }

    /// The first id the last committed batch gave, and which of its parsed entries were
    /// refused: the others got consecutive ids from the first, in order.
    pub fn last_ids(&self) -> (i64, &[usize]) {
        (self.last_first_id, &self.last_refused)
    }

    /// Stores the entries in the open segment (opening the next one if it is full).
    fn insert(
        &mut self,
        conn: &mut SqliteConnection,
        source_id: i64,
        entries: &[Entry],
        received_at: i64,
    ) -> Result<WriteSummary, DbError> {
        if self.segment_rows >= self.segment_capacity {
            self.segment += 1;
            self.segment_rows = 0;
        }
        let rows = self.rows_of(entries)?;
        rows.insert(conn, self.segment, source_id, received_at)?;
        let summary = WriteSummary {
            stored: rows.lines.len() as u64,
            rejected: rows.rejected.len() as u64,
        };
        self.next_id += summary.stored as i64;
        self.segment_rows += summary.stored;
        if self.segment_rows >= self.segment_capacity {
            // Full: sealed now, so that compaction can take it at once.
            self.segment += 1;
            self.segment_rows = 0;
        }
        // In the same savepoint as the rows: a refused insert rolls the position back too.
        self.save_position(conn)?;
        Ok(summary)
    }

    /// One line the database will not take must not hold back the others: each entry goes in
    /// on its own savepoint, and one that is refused is kept as a rejected line with the reason.
    fn insert_one_by_one(
        &mut self,
        conn: &mut SqliteConnection,
        source_id: i64,
        entries: &[Entry],
        received_at: i64,
    ) -> Result<WriteSummary, DbError> {
        let mut total = WriteSummary::default();
        for (index, entry) in entries.iter().enumerate() {
            let one = std::slice::from_ref(entry);
            let part = match conn.transaction(|conn| self.insert(conn, source_id, one, received_at))
            {
                Ok(part) => part,
                Err(e) if e.is_refusal() && !entry.is_rejected() => {
                    self.reload_position(conn)?;
                    self.last_refused.push(index);
                    let kept = Entry::rejected(
                        entry.line_bytes().to_vec(),
                        format!("the database refused this line: {e}"),
                    );
                    self.insert(conn, source_id, std::slice::from_ref(&kept), received_at)?
                }
                Err(e) => return Err(e),
            };
            total.stored += part.stored;
            total.rejected += part.rejected;
        }
        Ok(total)
    }

    /// Splits a batch into the rows of each table, borrowing from the entries.
    fn rows_of<'a>(&self, entries: &'a [Entry]) -> Result<BatchRows<'a>, DbError> {
        let mut rows = BatchRows::default();
        let mut days: HashMap<(i64, i32, i64, i64), Tally> = HashMap::new();
        let mut hours: HashMap<(i64, i32), Tally> = HashMap::new();
        let mut id = self.next_id;
        for entry in entries {
            match entry {
                Entry::Parsed { line, key } => {
                    let method_id = self.methods.id(key.method(line))?;
                    let user_id = match key.user(line) {
                        Some(user) => self.users.id(user)?,
                        None => 0,
                    };
                    rows.lines.push((id, line.as_str()));
                    rows.keys.push(KeyRow {
                        date: key.date,
                        id,
                        code: key.code,
                        method_id,
                        user_id,
                        size: key.size,
                        ip: key.ip.map(ip_key),
                    });
                    let one = Tally {
                        n: 1,
                        bytes: key.size,
                    };
                    let day = key.date.div_euclid(SECONDS_PER_DAY);
                    days.entry((day, key.code, method_id, user_id))
                        .or_default()
                        .add(one);
                    let hour = key.date.div_euclid(SECONDS_PER_HOUR);
                    hours.entry((hour, key.code)).or_default().add(one);
                    id += 1;
                }
                Entry::Rejected { line, reason } => {
                    rows.rejected.push((line.as_slice(), reason.as_str()));
                }
            }
        }
        // In (date, id) order, consecutive inserts land on the same few pages of the segment.
        rows.keys.sort_unstable_by_key(|k| (k.date, k.id));
        let mut totals: HashMap<(i32, i64, i64), Tally> = HashMap::new();
        for (&(_, code, method_id, user_id), &tally) in &days {
            totals
                .entry((code, method_id, user_id))
                .or_default()
                .add(tally);
        }
        // In key order, each upsert lands next to the previous one in the table's B-tree.
        rows.days = days.into_iter().collect();
        rows.days.sort_unstable_by_key(|&(key, _)| key);
        rows.hours = hours.into_iter().collect();
        rows.hours.sort_unstable_by_key(|&(key, _)| key);
        rows.totals = totals.into_iter().collect();
        rows.totals.sort_unstable_by_key(|&(key, _)| key);
        Ok(rows)
    }
}

/// The stream's mark and the source's all-time counts, updated in the batch's transaction.
fn record_stream(
    conn: &mut SqliteConnection,
    source_id: i64,
    stream: &StreamProgress,
    summary: WriteSummary,
    now: i64,
) -> Result<(), DbError> {
    let counts = (
        sources::lines_stored.eq(sources::lines_stored + summary.stored as i64),
        sources::lines_rejected.eq(sources::lines_rejected + summary.rejected as i64),
    );
    let source = diesel::update(sources::table.find(source_id));
    let updated = match stream {
        StreamProgress::Source(mark) => source
            .set((
                sources::stream_fingerprint.eq(fingerprint_bytes(&mark.fingerprint)),
                sources::stream_position.eq(mark.position as i64),
                counts,
            ))
            .execute(conn)?,
        StreamProgress::Keyed { .. } | StreamProgress::Untracked => {
            source.set(counts).execute(conn)?
        }
    };
    if updated != 1 {
        return Err(DbError::UnknownSource(source_id));
    }
    if let StreamProgress::Keyed { key, mark } = stream {
        // The batch's lines are the newest of their tables: its last ids are the tables' last.
        diesel::sql_query(
            "INSERT INTO keyed_streams (source_id, key, fingerprint, position, updated_at, \
             last_line_id, last_rejected_id) VALUES (?1, ?2, ?3, ?4, ?5, \
             CASE WHEN ?6 THEN (SELECT max(id) FROM log_lines) ELSE 0 END, \
             CASE WHEN ?7 THEN (SELECT max(id) FROM rejected_lines) ELSE 0 END) \
             ON CONFLICT (source_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
             position = excluded.position, updated_at = excluded.updated_at, \
             last_line_id = max(last_line_id, excluded.last_line_id), \
             last_rejected_id = max(last_rejected_id, excluded.last_rejected_id)",
        )
        .bind::<BigInt, _>(source_id)
        .bind::<Text, _>(&**key)
        .bind::<Binary, _>(fingerprint_bytes(&mark.fingerprint))
        .bind::<BigInt, _>(mark.position as i64)
        .bind::<BigInt, _>(now)
        .bind::<Bool, _>(summary.stored > 0)
        .bind::<Bool, _>(summary.rejected > 0)
        .execute(conn)?;
    }
    Ok(())
}

/// How far the stream named `key` of a source was consumed, if it was ever.
pub fn keyed_stream(
    conn: &mut SqliteConnection,
    source_id: i64,
    key: &str,
) -> Result<Option<StreamMark>, DbError> {
    let row: Option<(Vec<u8>, i64)> = keyed_streams::table
        .find((source_id, key))
        .select((keyed_streams::fingerprint, keyed_streams::position))
        .first(conn)
        .optional()?;
    Ok(row.map(|(bytes, position)| StreamMark {
        fingerprint: fingerprint_of(&bytes),
        position: position as u64,
    }))
}

/// A fingerprint as stored: each hash as 8 little-endian bytes.
pub fn fingerprint_bytes(hashes: &[u64]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.to_le_bytes()).collect()
}

pub fn fingerprint_of(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|chunk| u64::from_le_bytes(chunk.try_into().expect("chunks of 8")))
        .collect()
}

struct KeyRow {
    date: i64,
    id: i64,
    code: i32,
    method_id: i64,
    user_id: i64,
    size: i64,
    ip: Option<Vec<u8>>,
}

/// Adds `(key, tally)` pairs to a count table of `source_id`, a statement per
/// `ROWS_PER_STATEMENT`: a new key's row is inserted, an existing one's `n` and `bytes` grow.
/// The key's parts are named like the table's columns, and with `source_id` make its primary
/// key. (A macro, since each table is its own diesel type.)
macro_rules! add_tallies {
    ($conn:expr, $table:ident, $tallies:expr, $source_id:expr, ($($key:ident),+)) => {
        for chunk in $tallies.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|&(($($key),+), t)| {
                    (
                        $table::source_id.eq($source_id),
                        $($table::$key.eq($key),)+
                        $table::n.eq(t.n),
                        $table::bytes.eq(t.bytes),
                    )
                })
                .collect();
            diesel::insert_into($table::table)
                .values(&rows)
                .on_conflict(($table::source_id, $($table::$key),+))
                .do_update()
                .set((
                    $table::n.eq($table::n + excluded($table::n)),
                    $table::bytes.eq($table::bytes + excluded($table::bytes)),
                ))
                .execute($conn)?;
        }
    };
}

/// What a batch adds to each table; the source is the batch's, the same for every row.
#[derive(Default)]
struct BatchRows<'a> {
    /// (id, line)
    lines: Vec<(i64, &'a str)>,
    keys: Vec<KeyRow>,
    /// ((day, code, method_id, user_id), tally)
    days: Vec<((i64, i32, i64, i64), Tally)>,
    /// ((hour, code), tally)
    hours: Vec<((i64, i32), Tally)>,
    /// The day counts without the day: ((code, method_id, user_id), tally)
    totals: Vec<((i32, i64, i64), Tally)>,
    rejected: Vec<(&'a [u8], &'a str)>,
}

#[derive(Insertable)]
#[diesel(table_name = rejected_lines)]
struct NewRejected<'a> {
    source_id: i64,
    received_at: i64,
    line: &'a [u8],
    reason: &'a str,
}

impl BatchRows<'_> {
    /// Adds every row of the batch to its table, in the writer's open transaction.
    fn insert(
        &self,
        conn: &mut SqliteConnection,
        segment: i64,
        source_id: i64,
        received_at: i64,
    ) -> Result<(), DbError> {
        self.insert_lines(conn, source_id)?;
        self.insert_keys(conn, segment, source_id)?;
        self.add_counts(conn, source_id)?;
        self.grow_segment(conn, segment, received_at)?;
        self.insert_rejected(conn, source_id, received_at)
    }

    /// The lines, by id.
    fn insert_lines(&self, conn: &mut SqliteConnection, source_id: i64) -> Result<(), DbError> {
        for chunk in self.lines.chunks(ROWS_PER_STATEMENT) {
            // Owned text: a cached statement's type must not borrow (the copy costs little).
            let rows: Vec<NewLine> = chunk
                .iter()
                .map(|&(id, line)| {
                    (
                        log_lines::id.eq(id),
                        log_lines::source_id.eq(source_id),
                        log_lines::line.eq(line.to_owned()),
                    )
                })
                .collect();
            // A full chunk goes in as an array: its statement then has a fixed shape, and
            // diesel prepares it once instead of parsing 500 rows of SQL every time.
            match <[NewLine; ROWS_PER_STATEMENT]>::try_from(rows) {
                Ok(full) => diesel::insert_into(log_lines::table)
                    .values(full)
                    .execute(conn)?,
                Err(rows) => diesel::insert_into(log_lines::table)
                    .values(rows)
                    .execute(conn)?,
            };
        }
        Ok(())
    }

    /// The keys, in the open segment.
    fn insert_keys(
        &self,
        conn: &mut SqliteConnection,
        segment: i64,
        source_id: i64,
    ) -> Result<(), DbError> {
        for chunk in self.keys.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<NewKey> = chunk
                .iter()
                .map(|k| {
                    (
                        log_keys::segment.eq(segment),
                        log_keys::date.eq(k.date),
                        log_keys::id.eq(k.id),
                        log_keys::code.eq(k.code),
                        log_keys::method_id.eq(k.method_id),
                        log_keys::user_id.eq(k.user_id),
                        log_keys::source_id.eq(source_id),
                        log_keys::size.eq(k.size),
                        log_keys::ip.eq(k.ip.clone()),
                    )
                })
                .collect();
            let expected = rows.len();
            // OR IGNORE spares SQLite a statement journal of every page the insert touches
            // (a third of the insert's cost); no row can conflict, as ids are unique, and the
            // count check below turns a conflict into an error rather than a silent loss.
            let inserted = match <[NewKey; ROWS_PER_STATEMENT]>::try_from(rows) {
                Ok(full) => diesel::insert_or_ignore_into(log_keys::table)
                    .values(full)
                    .execute(conn)?,
                Err(rows) => diesel::insert_or_ignore_into(log_keys::table)
                    .values(rows)
                    .execute(conn)?,
            };
            if inserted != expected {
                return Err(DbError::Conflict(expected - inserted));
            }
        }
        Ok(())
    }

    /// Adds the batch's tallies to the three count tables.
    fn add_counts(&self, conn: &mut SqliteConnection, source_id: i64) -> Result<(), DbError> {
        add_tallies!(
            conn,
            day_counts,
            self.days,
            source_id,
            (day, code, method_id, user_id)
        );
        add_tallies!(conn, hour_counts, self.hours, source_id, (hour, code));
        add_tallies!(
            conn,
            key_counts,
            self.totals,
            source_id,
            (code, method_id, user_id)
        );
        Ok(())
    }

    /// The open segment's row count, date range and receive window, grown by the batch.
    fn grow_segment(
        &self,
        conn: &mut SqliteConnection,
        segment: i64,
        received_at: i64,
    ) -> Result<(), DbError> {
        if let (Some(min_date), Some(max_date)) = (
            self.keys.first().map(|k| k.date),
            self.keys.last().map(|k| k.date),
        ) {
            diesel::insert_into(hot_segments::table)
                .values((
                    hot_segments::id.eq(segment),
                    hot_segments::rows.eq(self.keys.len() as i64),
                    hot_segments::min_date.eq(min_date),
                    hot_segments::max_date.eq(max_date),
                    hot_segments::received_from.eq(received_at),
                    hot_segments::received_until.eq(received_at),
                ))
                .on_conflict(hot_segments::id)
                .do_update()
                .set((
                    hot_segments::rows.eq(hot_segments::rows + excluded(hot_segments::rows)),
                    hot_segments::min_date.eq(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                        "min(min_date, excluded.min_date)",
                    )),
                    hot_segments::max_date.eq(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                        "max(max_date, excluded.max_date)",
                    )),
                    hot_segments::received_until.eq(received_at),
                ))
                .execute(conn)?;
        }
        Ok(())
    }

    /// The lines that did not parse, with their reasons.
    fn insert_rejected(
        &self,
        conn: &mut SqliteConnection,
        source_id: i64,
        received_at: i64,
    ) -> Result<(), DbError> {
        let rejected: Vec<NewRejected> = self
            .rejected
            .iter()
            .map(|&(line, reason)| NewRejected {
                source_id,
                received_at,
                line,
                reason,
            })
            .collect();
        for chunk in rejected.chunks(ROWS_PER_STATEMENT) {
            diesel::insert_into(rejected_lines::table)
                .values(chunk)
                .execute(conn)?;
        }
        Ok(())
    }
}
