//! Reading the blocks, in one read transaction with the hot tables' reads.
//!
//! A page merges the parts lazily: block headers come in the order of their last key (first
//! key for oldest first) across all parts, and a decoded row is given out once no block still
//! to read can hold a row before it. A block whose synopsis rules the filter out is passed over
//! unread, and a block is decoded only when its turn comes, so a page reads about as many
//! blocks as it needs rows for, whatever the number of blocks.

use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};

use super::cache::BlockCache;
use super::format::{decode_keys, BlockKeys, BlockLines, FormatError, LinesBlob};
use super::grams;
use super::part::live_ids;
pub use super::part::live_parts;
use super::synopsis::Synopsis;
use crate::db::read::filter::Filter;
use crate::db::read::segment_merge::{Key, Order};
use crate::db::schema::{block_data, block_grams, blocks};
use crate::db::DbError;

/// Headers read per query while a page walks the blocks: the first read takes few (a plain
/// page needs about one block per part), each next one twice as many, up to the most (a rare
/// value passes over thousands, and each read prepares its statement again).
const FIRST_HEADERS_READ: i64 = 32;
const HEADERS_PER_READ: i64 = 1_024;

#[derive(Debug, Clone, Queryable)]
pub struct Header {
    pub id: i64,
    pub part: i64,
    pub rows: i64,
    pub min_date: i64,
    pub min_id: i64,
    pub max_date: i64,
    pub max_id: i64,
    pub synopsis: Vec<u8>,
}

/// A header's columns, in [`Header`]'s order: a column is a unit struct, so the same tuple is
/// both the selection's type and its value.
macro_rules! header_columns {
    () => {
        (
            blocks::id,
            blocks::part,
            blocks::rows,
            blocks::min_date,
            blocks::min_id,
            blocks::max_date,
            blocks::max_id,
            blocks::synopsis,
        )
    };
}

type HeaderColumns = header_columns!();

const HEADER: HeaderColumns = header_columns!();

impl Header {
    pub fn min(&self) -> Key {
        Key {
            date: self.min_date,
            id: self.min_id,
        }
    }

    pub fn max(&self) -> Key {
        Key {
            date: self.max_date,
            id: self.max_id,
        }
    }

    /// Whether some row may match the filter's keys (a synopsis this release cannot read says
    /// nothing, so the block is read).
    pub fn may_match(&self, filter: &Filter) -> bool {
        Synopsis::from_bytes(&self.synopsis).is_none_or(|s| s.may_match(filter))
    }

    /// Whether every row is within the filter's date range.
    fn within_dates(&self, filter: &Filter) -> bool {
        filter.since.is_none_or(|since| self.min_date >= since)
            && filter.until.is_none_or(|until| self.max_date < until)
    }
}

/// A row found in a block; its line is read with [`line_of`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdRow {
    pub key: Key,
    pub source_id: i64,
    pub block: i64,
    pub index: usize,
}

fn corrupt(cache: &BlockCache, block: i64, e: FormatError) -> DbError {
    cache.found_corrupt(block);
    DbError::CorruptBlock { block, reason: e }
}

/// Which of a block's blobs to read.
enum Blob {
    Keys,
    Lines,
}

/// One blob of a block, alone (the other's pages are not read).
fn block_blob(conn: &mut SqliteConnection, block: i64, blob: Blob) -> Result<Vec<u8>, DbError> {
    let row = block_data::table.find(block);
    Ok(match blob {
        Blob::Keys => row.select(block_data::keys).first(conn)?,
        Blob::Lines => row.select(block_data::lines).first(conn)?,
    })
}

/// The decoded keys of a block.
pub fn block_keys(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    block: i64,
) -> Result<Arc<BlockKeys>, DbError> {
    if let Some(keys) = cache.keys(block) {
        return Ok(keys);
    }
    let blob = block_blob(conn, block, Blob::Keys)?;
    let keys = Arc::new(decode_keys(&blob).map_err(|e| corrupt(cache, block, e))?);
    cache.put_keys(block, keys.clone());
    Ok(keys)
}

/// The decoded lines of the frame holding row `row` of a block of `rows` rows (the whole block
/// if it was written before frames).
pub fn line_frame(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    block: i64,
    rows: usize,
    row: usize,
) -> Result<Arc<BlockLines>, DbError> {
    if let Some(lines) = cache.lines(block, row).filter(|lines| lines.holds(row)) {
        return Ok(lines);
    }
    let bytes = block_blob(conn, block, Blob::Lines)?;
    let blob = LinesBlob::open(&bytes).map_err(|e| corrupt(cache, block, e))?;
    let dict = match cache.dicts.for_lines(conn, block, &blob) {
        Err(DbError::CorruptBlock { reason, .. }) => return Err(corrupt(cache, block, reason)),
        dict => dict?,
    };
    let lines = blob
        .frame_holding(row, dict.as_deref(), rows)
        .map_err(|e| corrupt(cache, block, e))?;
    let lines = Arc::new(lines);
    cache.put_lines(block, row, lines.clone());
    Ok(lines)
}

/// The frames of lines a run of rows needs, each decoded once whatever the cache holds.
#[derive(Default)]
pub struct Frames(std::collections::HashMap<i64, Vec<Arc<BlockLines>>>);

impl Frames {
    /// The decoded frame holding `row`'s line.
    pub fn of(
        &mut self,
        conn: &mut SqliteConnection,
        cache: &BlockCache,
        row: &ColdRow,
    ) -> Result<Arc<BlockLines>, DbError> {
        let held = self.0.entry(row.block).or_default();
        if let Some(frame) = held.iter().find(|f| f.holds(row.index)) {
            return Ok(frame.clone());
        }
        let keys = block_keys(conn, cache, row.block)?;
        let frame = line_frame(conn, cache, row.block, keys.len(), row.index)?;
        held.push(frame.clone());
        Ok(frame)
    }
}

/// The lines of rows found in blocks, in their order.
pub fn lines_of(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    rows: &[&ColdRow],
) -> Result<Vec<String>, DbError> {
    let mut frames = Frames::default();
    let mut lines = Vec::with_capacity(rows.len());
    for row in rows {
        lines.push(frames.of(conn, cache, row)?.get(row.index).to_owned());
    }
    Ok(lines)
}

/// Where a listing starts, exclusive: the cursor, or the date range's end it reaches first
/// (rows before `(until, i64::MIN)` are those dated before `until`, since ids are positive).
fn start_key(f: &Filter, after: Option<Key>, order: Order) -> Option<Key> {
    let (bound, pick): (Option<i64>, fn(Key, Key) -> Key) = match order {
        Order::Desc => (f.until, Key::min),
        Order::Asc => (f.since, Key::max),
    };
    let bound = bound.map(|date| Key { date, id: i64::MIN });
    match (after, bound) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

/// Whether `key` comes strictly before `other` in `order`.
fn before(order: Order, key: Key, other: Key) -> bool {
    match order {
        Order::Desc => key > other,
        Order::Asc => key < other,
    }
}

/// `(date_column, id_column) op (date, id)` as SQL.
fn compare(columns: &str, op: &str, key: Key) -> Condition {
    Box::new(
        sql::<Bool>(&format!("({columns}) {op} ("))
            .bind::<BigInt, _>(key.date)
            .sql(", ")
            .bind::<BigInt, _>(key.id)
            .sql(")"),
    )
}

type Condition = Box<
    dyn diesel::expression::BoxableExpression<
        blocks::table,
        diesel::sqlite::Sqlite,
        SqlType = Bool,
    >,
>;

/// A decoded row waiting for its turn; the heap gives the next one in the listing's order.
struct Pending {
    row: ColdRow,
    order: Order,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.row.key == other.row.key
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match self.order {
            Order::Desc => self.row.key.cmp(&other.row.key),
            Order::Asc => other.row.key.cmp(&self.row.key),
        }
    }
}

/// The first `limit` rows of the blocks matching the filter in `order`, strictly after
/// `after`.
pub fn first_rows(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    filter: &Filter,
    after: Option<Key>,
    order: Order,
    limit: i64,
) -> Result<Vec<ColdRow>, DbError> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let mut out = Vec::new();
    if limit == 0 {
        return Ok(out);
    }
    let live = live_parts(conn)?;
    if live.is_empty() {
        return Ok(out);
    }
    let start = start_key(filter, after, order);
    let mut pending = BinaryHeap::new();
    let mut walk = HeaderWalk::new(filter, start, order);
    for header in straddlers(conn, &live, start, order)? {
        if header.may_match(filter) && may_hold_texts(conn, filter, header.id)? {
            take_rows(conn, cache, filter, &header, &walk, &mut pending)?;
        }
    }
    loop {
        let next = walk.peek(conn)?.map(|h| match order {
            Order::Desc => h.max(),
            Order::Asc => h.min(),
        });
        while let Some(top) = pending.peek() {
            if next.is_some_and(|edge| !before(order, top.row.key, edge)) {
                break;
            }
            let Some(Pending { row, .. }) = pending.pop() else {
                break;
            };
            out.push(row);
            if out.len() == limit {
                return Ok(out);
            }
        }
        let Some(header) = walk.next(conn)? else {
            return Ok(out);
        };
        if header.may_match(filter) && may_hold_texts(conn, filter, header.id)? {
            take_rows(conn, cache, filter, &header, &walk, &mut pending)?;
        }
    }
}

/// Whether a block may hold a line with the filter's substrings and path prefixes (its trigram
/// filter says so, or there is none to ask).
fn may_hold_texts(
    conn: &mut SqliteConnection,
    filter: &Filter,
    block: i64,
) -> Result<bool, DbError> {
    if filter.texts.is_empty() && filter.paths.is_empty() {
        return Ok(true);
    }
    let Some(filter_bits) = block_grams::table
        .find(block)
        .select(block_grams::grams)
        .first::<Vec<u8>>(conn)
        .optional()?
    else {
        return Ok(true);
    };
    let any = |needles: &[String]| {
        needles.is_empty() || needles.iter().any(|n| grams::may_contain(&filter_bits, n))
    };
    Ok(any(&filter.texts) && any(&filter.paths))
}

/// The block's rows that match and lie beyond the walk's start, onto the heap.
fn take_rows(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    filter: &Filter,
    header: &Header,
    walk: &HeaderWalk,
    pending: &mut BinaryHeap<Pending>,
) -> Result<(), DbError> {
    let keys = block_keys(conn, cache, header.id)?;
    for i in 0..keys.len() {
        let key = Key {
            date: keys.date[i],
            id: keys.id[i],
        };
        if walk
            .start
            .is_some_and(|start| !before(walk.order, start, key))
        {
            continue;
        }
        if filter.matches_keys(&keys, i) {
            pending.push(Pending {
                row: ColdRow {
                    key,
                    source_id: keys.source_id[i],
                    block: header.id,
                    index: i,
                },
                order: walk.order,
            });
        }
    }
    Ok(())
}

/// The block of each part that holds the start and rows beyond it: the walk below takes only
/// blocks wholly beyond the start.
fn straddlers(
    conn: &mut SqliteConnection,
    live: &HashSet<i64>,
    start: Option<Key>,
    order: Order,
) -> Result<Vec<Header>, DbError> {
    let Some(start) = start else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for &part in live {
        // The part's last block that starts before the start (at it, oldest first).
        let op = match order {
            Order::Desc => "<",
            Order::Asc => "<=",
        };
        let header: Option<Header> = blocks::table
            .select(HEADER)
            .filter(blocks::part.eq(part))
            .filter(compare("min_date, min_id", op, start))
            .order((blocks::min_date.desc(), blocks::min_id.desc()))
            .first(conn)
            .optional()?;
        found.extend(header.filter(|h| match order {
            Order::Desc => h.max() >= start,
            Order::Asc => h.max() > start,
        }));
    }
    Ok(found)
}

/// Block headers wholly beyond the start, in the order of their edge nearest the start (last
/// key newest first, first key oldest first), read a few dozen at a time.
struct HeaderWalk {
    start: Option<Key>,
    order: Order,
    since: Option<i64>,
    until: Option<i64>,
    /// The edge of the last header read.
    reached: Option<Key>,
    buffered: std::collections::VecDeque<Header>,
    /// Headers the next read takes.
    batch: i64,
    done: bool,
}

impl HeaderWalk {
    fn new(filter: &Filter, start: Option<Key>, order: Order) -> Self {
        Self {
            start,
            order,
            since: filter.since,
            until: filter.until,
            reached: start,
            buffered: Default::default(),
            batch: FIRST_HEADERS_READ,
            done: false,
        }
    }

    fn peek(&mut self, conn: &mut SqliteConnection) -> Result<Option<&Header>, DbError> {
        while self.buffered.is_empty() && !self.done {
            self.read(conn)?;
        }
        Ok(self.buffered.front())
    }

    fn next(&mut self, conn: &mut SqliteConnection) -> Result<Option<Header>, DbError> {
        self.peek(conn)?;
        Ok(self.buffered.pop_front())
    }

    fn read(&mut self, conn: &mut SqliteConnection) -> Result<(), DbError> {
        // Live parts only, in SQL: a block of a part being merged or replaced can have the same
        // edge as a live one, and the next read goes strictly past the last edge read.
        let mut query = live_headers(self.since, self.until);
        query = match (self.order, self.reached) {
            (Order::Desc, Some(edge)) => query.filter(compare("max_date, max_id", "<", edge)),
            (Order::Asc, Some(edge)) => query.filter(compare("min_date, min_id", ">", edge)),
            (_, None) => query,
        };
        query = match self.order {
            Order::Desc => query.order((blocks::max_date.desc(), blocks::max_id.desc())),
            Order::Asc => query.order((blocks::min_date.asc(), blocks::min_id.asc())),
        };
        let headers: Vec<Header> = query.limit(self.batch).load(conn)?;
        self.done = (headers.len() as i64) < self.batch;
        self.batch = (self.batch * 2).min(HEADERS_PER_READ);
        if let Some(last) = headers.last() {
            self.reached = Some(match self.order {
                Order::Desc => last.max(),
                Order::Asc => last.min(),
            });
        }
        self.buffered.extend(headers);
        Ok(())
    }
}

/// The headers of live parts' blocks that may hold dates in `[since, until)`. Live parts only,
/// in SQL: a block of a part being merged or replaced can have the same edge as a live one, and
/// a walk's next read goes strictly past the last edge read.
fn live_headers(
    since: Option<i64>,
    until: Option<i64>,
) -> blocks::BoxedQuery<'static, diesel::sqlite::Sqlite, HeaderSqlType> {
    let mut query = blocks::table
        .select(HEADER)
        .filter(blocks::part.eq_any(live_ids()))
        .into_boxed();
    if let Some(since) = since {
        query = query.filter(blocks::max_date.ge(since));
    }
    if let Some(until) = until {
        query = query.filter(blocks::min_date.lt(until));
    }
    query
}

type HeaderSqlType = <HeaderColumns as diesel::Expression>::SqlType;

/// Headers of the blocks that may hold rows of the filter's date range, in id order, a few
/// hundred at a time, each handed to `visit`.
fn each_header(
    conn: &mut SqliteConnection,
    filter: &Filter,
    mut visit: impl FnMut(&mut SqliteConnection, Header) -> Result<(), DbError>,
) -> Result<(), DbError> {
    let mut last = 0;
    loop {
        let headers: Vec<Header> = live_headers(filter.since, filter.until)
            .filter(blocks::id.gt(last))
            .order(blocks::id)
            .limit(HEADERS_PER_READ)
            .load(conn)?;
        let Some(end) = headers.last().map(|h| h.id) else {
            return Ok(());
        };
        for header in headers {
            visit(conn, header)?;
        }
        last = end;
    }
}

/// Calls `visit` with each row of the blocks that matches the filter's keys and dates.
pub fn visit_rows(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    filter: &Filter,
    mut visit: impl FnMut(&BlockKeys, usize),
) -> Result<(), DbError> {
    each_header(conn, filter, |conn, header| {
        if !header.may_match(filter) {
            return Ok(());
        }
        let keys = block_keys(conn, cache, header.id)?;
        for i in 0..keys.len() {
            if filter.matches_keys(&keys, i) {
                visit(&keys, i);
            }
        }
        Ok(())
    })
}

/// Rows of the blocks matching the filter's keys and dates. A block wholly in the date range
/// of a filter without keys counts from its header.
pub fn count(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    filter: &Filter,
) -> Result<i64, DbError> {
    let keyless = filter.codes.is_empty()
        && filter.method_ids.is_empty()
        && filter.user_ids.is_empty()
        && filter.source_ids.is_empty()
        && filter.ip_ranges.is_empty();
    let mut total = 0;
    each_header(conn, filter, |conn, header| {
        if keyless && header.within_dates(filter) {
            total += header.rows;
            return Ok(());
        }
        if !header.may_match(filter) {
            return Ok(());
        }
        let keys = block_keys(conn, cache, header.id)?;
        total += (0..keys.len())
            .filter(|&i| filter.matches_keys(&keys, i))
            .count() as i64;
        Ok(())
    })?;
    Ok(total)
}

/// Up to `limit` rows of the blocks with ids after `after_id`, in id order (for a live tail's
/// read-back). Each header has its block's smallest and largest id: blocks are read in the
/// order of their smallest, and only until no block left can hold an id among the first found.
pub fn rows_after_id(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    after_id: i64,
    limit: usize,
) -> Result<Vec<ColdRow>, DbError> {
    let mut candidates: Vec<(i64, i64)> = blocks::table
        .filter(blocks::high_id.gt(after_id))
        .filter(blocks::part.eq_any(live_ids()))
        .select((blocks::low_id, blocks::id))
        .load(conn)?;
    candidates.sort_unstable();
    let mut found: Vec<ColdRow> = Vec::new();
    for (low_id, block) in candidates {
        if limit == 0 || (found.len() >= limit && found[limit - 1].key.id < low_id) {
            break;
        }
        let keys = block_keys(conn, cache, block)?;
        for i in (0..keys.len()).filter(|&i| keys.id[i] > after_id) {
            found.push(ColdRow {
                key: Key {
                    date: keys.date[i],
                    id: keys.id[i],
                },
                source_id: keys.source_id[i],
                block,
                index: i,
            });
        }
        found.sort_unstable_by_key(|row| row.key.id);
        found.truncate(limit.max(1));
    }
    found.truncate(limit);
    Ok(found)
}
