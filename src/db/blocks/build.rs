//! Building a part from a sealed segment, on the compactor's own read connection: its keys in
//! (date, id) order and its lines in id order, each read sequentially in short transactions
//! (a long one would keep the WAL from being checkpointed; joining the two in date order read
//! the lines at random), then matched in memory and cut into blocks. Memory grows with
//! `--segment-rows` (about 200 bytes a row). Nothing is written here: the writer commits the
//! part.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Integer, Nullable};

use std::sync::Arc;

use super::dict::{self, LineDict};
use super::format::{encode, BlockKeys, BlockRow};
use super::synopsis::Synopsis;
use crate::db::read::segment_merge::Key;
use crate::db::schema::{hot_segments, log_lines, store_state};
use crate::db::DbError;

/// Rows per block at most: larger blocks compress little better and take longer to decode
/// (`docs/performance.md`, "Constants").
pub const BLOCK_ROWS: usize = 1_024;
/// Bytes of lines per block at most, so that long lines make short blocks: a query then never
/// decodes more than this for one row.
pub const BLOCK_LINE_BYTES: usize = 1 << 20;
/// Rows read per read transaction.
const ROWS_PER_READ: i64 = 16_384;
/// The most a segment's text is sized for up front (a 200,000-row segment of stand-in lines
/// holds about 19 MB).
const MAX_TEXT_RESERVE: usize = 256 << 20;

/// A block ready to store.
#[derive(Debug, Clone)]
pub struct BuiltBlock {
    pub rows: i64,
    pub min: Key,
    pub max: Key,
    /// The smallest and largest id.
    pub low_id: i64,
    pub high_id: i64,
    pub synopsis: Vec<u8>,
    /// The trigram filter of its lines (`grams.rs`).
    pub grams: Vec<u8>,
    pub keys: Vec<u8>,
    pub lines: Vec<u8>,
    /// Bytes of its lines before compression.
    pub raw_bytes: usize,
    /// The dictionary its lines are compressed with, stored with the block if it is new.
    pub dict: Option<Arc<LineDict>>,
}

impl BuiltBlock {
    /// `rows` (in (date, id) order, at least one) encoded as a block.
    pub fn of(rows: &[BlockRow], dict: Option<&Arc<LineDict>>) -> BuiltBlock {
        let encoded = encode(rows, dict.map(|d| d.dict_ref()));
        let (first, last) = (&rows[0], &rows[rows.len() - 1]);
        BuiltBlock {
            rows: rows.len() as i64,
            min: Key {
                date: first.date,
                id: first.id,
            },
            max: Key {
                date: last.date,
                id: last.id,
            },
            low_id: rows.iter().map(|r| r.id).min().unwrap_or(0),
            high_id: rows.iter().map(|r| r.id).max().unwrap_or(0),
            synopsis: Synopsis::of(&BlockKeys::of(rows)).to_bytes(),
            grams: super::grams::build(rows.iter().map(|r| r.line.as_str())),
            keys: encoded.keys,
            lines: encoded.lines,
            raw_bytes: encoded.raw_bytes,
            dict: dict.cloned(),
        }
    }

    /// Bytes of its blobs.
    pub fn stored_bytes(&self) -> usize {
        self.keys.len() + self.lines.len()
    }
}

/// A sealed segment's rows as blocks, and what the segment was when they were read.
#[derive(Debug, Clone)]
pub struct BuiltPart {
    pub segment: i64,
    pub received_from: i64,
    pub received_until: i64,
    pub totals: PartTotals,
    pub blocks: Vec<BuiltBlock>,
}

/// What a part's blocks add up to, as `parts` records it: a segment's build and a merge sum
/// their blocks alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartTotals {
    pub rows: i64,
    pub min_id: i64,
    pub max_id: i64,
    /// Bytes of the lines, and of the blocks' blobs.
    pub raw_bytes: i64,
    pub stored_bytes: i64,
}

impl Default for PartTotals {
    /// No blocks yet: the first one sets the ids.
    fn default() -> Self {
        PartTotals {
            rows: 0,
            min_id: i64::MAX,
            max_id: 0,
            raw_bytes: 0,
            stored_bytes: 0,
        }
    }
}

impl PartTotals {
    pub fn add(&mut self, block: &BuiltBlock) {
        self.rows += block.rows;
        self.min_id = self.min_id.min(block.low_id);
        self.max_id = self.max_id.max(block.high_id);
        self.raw_bytes += block.raw_bytes as i64;
        self.stored_bytes += block.stored_bytes() as i64;
    }
}

/// A hot key as read, before it becomes [`SegmentKey`].
#[derive(QueryableByName)]
struct StoredKey {
    #[diesel(sql_type = BigInt)]
    date: i64,
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Integer)]
    code: i32,
    #[diesel(sql_type = BigInt)]
    method_id: i64,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = BigInt)]
    source_id: i64,
    #[diesel(sql_type = BigInt)]
    size: i64,
    #[diesel(sql_type = Nullable<Binary>)]
    ip: Option<Vec<u8>>,
}

/// A segment's key held while its part is built: the address inline, not a heap allocation a
/// row (a segment holds 200,000 rows by default).
struct SegmentKey {
    date: i64,
    id: i64,
    code: i32,
    method_id: i64,
    user_id: i64,
    source_id: i64,
    size: i64,
    /// The address key's length (0: none) and bytes (at most 17, see `ip_key.rs`).
    ip_len: u8,
    ip: [u8; 17],
}

impl SegmentKey {
    fn of(k: StoredKey) -> SegmentKey {
        let mut ip = [0; 17];
        let held = k.ip.as_deref().unwrap_or_default();
        let ip_len = held.len().min(ip.len());
        ip[..ip_len].copy_from_slice(&held[..ip_len]);
        SegmentKey {
            date: k.date,
            id: k.id,
            code: k.code,
            method_id: k.method_id,
            user_id: k.user_id,
            source_id: k.source_id,
            size: k.size,
            ip_len: ip_len as u8,
            ip,
        }
    }

    fn ip(&self) -> Option<Vec<u8>> {
        (self.ip_len > 0).then(|| self.ip[..self.ip_len as usize].to_vec())
    }
}

/// The oldest sealed segment, if any: compaction goes oldest first, so that every id up to
/// the last compacted one is in blocks.
pub fn next_sealed(conn: &mut SqliteConnection) -> Result<Option<i64>, DbError> {
    let open: i64 = store_state::table
        .select(store_state::open_segment)
        .first(conn)?;
    Ok(hot_segments::table
        .select(hot_segments::id)
        .filter(hot_segments::id.lt(open))
        .order(hot_segments::id)
        .first(conn)
        .optional()?)
}

/// Sealed segments not compacted yet.
pub fn sealed_count(conn: &mut SqliteConnection) -> Result<i64, DbError> {
    let open: i64 = store_state::table
        .select(store_state::open_segment)
        .first(conn)?;
    Ok(hot_segments::table
        .filter(hot_segments::id.lt(open))
        .count()
        .get_result(conn)?)
}

/// The segment's rows as blocks; `None` if the segment is gone (retention took it).
pub fn build_part(conn: &mut SqliteConnection, segment: i64) -> Result<Option<BuiltPart>, DbError> {
    let Some((received_from, received_until, rows)) = hot_segments::table
        .find(segment)
        .select((
            hot_segments::received_from,
            hot_segments::received_until,
            hot_segments::rows,
        ))
        .first::<(i64, i64, i64)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let mut part = BuiltPart {
        segment,
        received_from,
        received_until,
        totals: PartTotals::default(),
        blocks: Vec::new(),
    };
    let keys = read_keys(conn, segment, rows)?;
    let (Some(low), Some(high)) = (
        keys.iter().map(|k| k.id).min(),
        keys.iter().map(|k| k.id).max(),
    ) else {
        return Ok(Some(part));
    };
    let lines = read_lines(conn, low, high)?;
    let dict = dict::for_segment(conn, lines.all(), crate::time::now_seconds())?;
    // Retention deleted from this segment between the two reads: built again later.
    if keys
        .iter()
        .any(|key| lines.get((key.id - low) as usize).is_none())
    {
        return Ok(None);
    }
    let rows = keys.iter().map(|key| BlockRow {
        date: key.date,
        id: key.id,
        code: key.code,
        method_id: key.method_id,
        user_id: key.user_id,
        source_id: key.source_id,
        size: key.size,
        ip: key.ip(),
        line: lines
            .get((key.id - low) as usize)
            .unwrap_or_default()
            .to_owned(),
    });
    part.add(cut_blocks(rows).map(|block| BuiltBlock::of(&block, dict.as_ref())));
    Ok(Some(part))
}

/// The segment's keys in (date, id) order: its range of the primary key, read in order, a
/// few thousand rows per read.
fn read_keys(
    conn: &mut SqliteConnection,
    segment: i64,
    rows: i64,
) -> Result<Vec<SegmentKey>, DbError> {
    // Sized once: doubling as it grew held up to twice the segment's keys.
    let mut keys: Vec<SegmentKey> = Vec::with_capacity(rows.max(0) as usize);
    loop {
        let after = keys.last().map_or(
            Key {
                date: i64::MIN,
                id: i64::MIN,
            },
            |k| Key {
                date: k.date,
                id: k.id,
            },
        );
        let read: Vec<StoredKey> = diesel::sql_query(
            "SELECT date, id, code, method_id, user_id, source_id, size, ip FROM log_keys \
             WHERE segment = ?1 AND (date, id) > (?2, ?3) ORDER BY date, id LIMIT ?4",
        )
        .bind::<BigInt, _>(segment)
        .bind::<BigInt, _>(after.date)
        .bind::<BigInt, _>(after.id)
        .bind::<BigInt, _>(ROWS_PER_READ)
        .load(conn)?;
        let done = (read.len() as i64) < ROWS_PER_READ;
        keys.extend(read.into_iter().map(SegmentKey::of));
        if done {
            return Ok(keys);
        }
    }
}

/// A segment's lines in one buffer (a `String` each would nearly double their memory),
/// by `id - low`.
struct SegmentLines {
    text: String,
    /// (start, end) in `text`; (0, 0) and `present` false for an id not read.
    spans: Vec<(usize, usize)>,
    present: Vec<bool>,
}

impl SegmentLines {
    fn get(&self, index: usize) -> Option<&str> {
        let &(start, end) = self.spans.get(index)?;
        self.present[index].then(|| &self.text[start..end])
    }

    /// Every line read, in id order.
    fn all(&self) -> impl Iterator<Item = &str> + Clone {
        (0..self.spans.len()).filter_map(|i| self.get(i))
    }
}

/// The lines of ids `low..=high` (a segment's ids are consecutive), indexed by `id - low`:
/// read in id order, which is how they lie in their table.
fn read_lines(conn: &mut SqliteConnection, low: i64, high: i64) -> Result<SegmentLines, DbError> {
    let count = (high - low + 1) as usize;
    let mut lines = SegmentLines {
        text: String::new(),
        spans: vec![(0, 0); count],
        present: vec![false; count],
    };
    let mut after = low - 1;
    loop {
        let read: Vec<(i64, String)> = log_lines::table
            .filter(log_lines::id.gt(after).and(log_lines::id.le(high)))
            .order(log_lines::id)
            .limit(ROWS_PER_READ)
            .select((log_lines::id, log_lines::line))
            .load(conn)?;
        let done = (read.len() as i64) < ROWS_PER_READ;
        if lines.text.is_empty() && !done {
            // Sized from the first read's lines: doubling as it grew held up to twice the
            // segment's text, and copied it each time. Capped, since the first lines may be
            // much longer than the rest; past the cap it grows as it needs. Not reserving is
            // only slower, never wrong.
            let bytes: usize = read.iter().map(|(_, line)| line.len()).sum();
            let estimate = bytes / read.len().max(1) * count * 21 / 20;
            let _ = lines.text.try_reserve(estimate.min(MAX_TEXT_RESERVE));
        }
        for (id, line) in read {
            after = id;
            let start = lines.text.len();
            lines.text.push_str(&line);
            let index = (id - low) as usize;
            lines.spans[index] = (start, lines.text.len());
            lines.present[index] = true;
        }
        if done {
            return Ok(lines);
        }
    }
}

impl BuiltPart {
    fn add(&mut self, blocks: impl Iterator<Item = BuiltBlock>) {
        for block in blocks {
            self.totals.add(&block);
            self.blocks.push(block);
        }
    }
}

/// Whether a block of `rows` rows holding `bytes` of lines is full: [`BLOCK_ROWS`] rows, or
/// the row that reached [`BLOCK_LINE_BYTES`]. Segment builds and merges cut blocks alike.
pub fn block_full(rows: usize, bytes: usize) -> bool {
    rows >= BLOCK_ROWS || bytes >= BLOCK_LINE_BYTES
}

/// Rows in (date, id) order cut into blocks of at most [`BLOCK_ROWS`] rows and about
/// [`BLOCK_LINE_BYTES`] of lines.
fn cut_blocks(mut rows: impl Iterator<Item = BlockRow>) -> impl Iterator<Item = Vec<BlockRow>> {
    std::iter::from_fn(move || {
        let mut block = Vec::with_capacity(BLOCK_ROWS);
        let mut bytes = 0;
        while !block_full(block.len(), bytes) {
            let Some(row) = rows.next() else { break };
            bytes += row.line.len();
            block.push(row);
        }
        (!block.is_empty()).then_some(block)
    })
}
