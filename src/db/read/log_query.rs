//! The queries behind `GET /logs` and `GET /logs/count`.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::count_tables::{DAYS, TOTALS};
pub use super::filter::LogFilter;
use super::filter::{Filter, IndexedKey};
use super::segment_merge;
pub use super::segment_merge::{Key, Order};
use super::stored::{self, Found};
use crate::db::blocks::cache::BlockCache;
use crate::db::schema::key_counts;
use crate::db::source_names::SourceNames;
use crate::db::DbError;
use crate::limits::{DEFAULT_LIMIT, MAX_PAGE_BYTES, MAX_PAGE_SCAN, SECONDS_PER_DAY};
use crate::parse::parse_line;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    pub filter: LogFilter,
    /// Newest first, or oldest first.
    pub order: Order,
    /// The last row of the previous page, in that order.
    pub after: Option<Key>,
    pub limit: i64,
    /// Bytes of lines a page may hold: it ends at the line that reaches this, before `limit`.
    pub max_bytes: usize,
    /// Keys a page may read when a filter looks at lines: past it the page ends with what
    /// matched so far, and its next link goes on from there.
    pub max_scan: usize,
}

impl Default for LogQuery {
    /// The newest page of everything, with the service's caps.
    fn default() -> Self {
        LogQuery {
            filter: LogFilter::default(),
            order: Order::default(),
            after: None,
            limit: DEFAULT_LIMIT,
            max_bytes: MAX_PAGE_BYTES,
            max_scan: MAX_PAGE_SCAN,
        }
    }
}

impl LogQuery {
    /// The same query without caps on bytes or lines read (for tools and tests).
    pub fn uncapped(self) -> Self {
        LogQuery {
            max_bytes: usize::MAX,
            max_scan: usize::MAX,
            ..self
        }
    }
}

/// Keys read per round when a filter looks at lines: enough that a filter matching one line in
/// a thousand fills a page of 100 in a few rounds, few enough to stop soon after it does.
pub(crate) const KEYS_PER_SCAN: i64 = 4_096;

/// Lines read from `log_lines` per query while a page is filled: a 100-line page takes one,
/// and at most this many lines (16 MiB at 64 KiB each) are in memory beyond the page's.
pub(crate) const LINES_PER_READ: usize = 256;

/// One stored line with its fields, parsed again from the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    pub id: i64,
    pub source_id: i64,
    /// The source's address.
    pub source: String,
    pub ip: String,
    pub user: Option<String>,
    /// Seconds since the epoch, UTC.
    pub date: i64,
    pub method: String,
    pub url: String,
    pub protocol: String,
    pub code: i32,
    pub size: Option<i64>,
    pub referer: Option<String>,
    pub user_agent: Option<String>,
    pub line: String,
}

impl LogRow {
    /// The row of a stored line; its source's address is filled in later.
    pub(crate) fn parse(id: i64, source_id: i64, line: String) -> Result<LogRow, DbError> {
        // Only lines that parsed were stored, so a failure here means the parser changed.
        let r = parse_line(&line).map_err(|e| DbError::Unreadable { id, reason: e })?;
        Ok(LogRow {
            id,
            source_id,
            source: String::new(),
            ip: r.ip.to_owned(),
            user: r.user.map(str::to_owned),
            date: r.date,
            method: r.method.into_owned(),
            url: r.url.to_owned(),
            protocol: r.protocol.to_owned(),
            code: r.code,
            size: r.size,
            referer: r.referer.map(str::to_owned),
            user_agent: r.user_agent.map(str::to_owned),
            line,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPage {
    pub rows: Vec<LogRow>,
    /// Set when more rows match after the last one of this page.
    pub next: Option<Key>,
}

/// The filter with the index its keys are best read through, for the queries that read keys
/// ([`segment_merge::first_keys`]); counts and breakdowns from the count tables need none.
pub(crate) fn for_reading_keys(conn: &mut SqliteConnection, filter: Filter) -> QueryResult<Filter> {
    let indexed = indexed_key(conn, &filter)?;
    Ok(Filter { indexed, ..filter })
}

/// Which index, if any, keys are better read through (see [`Filter::indexed`]). With only
/// users (or only sources) to match, the index is covering and each value's arm is in date
/// order: always. With other key filters too, each index entry costs a lookup of its row; an
/// index is taken when its values hold at most 1/8 of the rows, the fewer of the two if both
/// do, from the count tables (exact, and small).
fn indexed_key(conn: &mut SqliteConnection, filter: &Filter) -> QueryResult<Option<IndexedKey>> {
    let usable = |ids: &[i64]| !ids.is_empty() && ids.len() <= segment_merge::MAX_INDEXED_VALUES;
    let (users, sources) = (usable(&filter.user_ids), usable(&filter.source_ids));
    let only_keys =
        filter.codes.is_empty() && filter.method_ids.is_empty() && filter.ip_ranges.is_empty();
    if only_keys && filter.source_ids.is_empty() && users {
        return Ok(Some(IndexedKey::User));
    }
    if only_keys && filter.user_ids.is_empty() && sources {
        return Ok(Some(IndexedKey::Source));
    }
    let sum = || diesel::dsl::sql::<BigInt>("coalesce(sum(n), 0)");
    let all: i64 = key_counts::table.select(sum()).get_result(conn)?;
    let mut best: Option<(i64, IndexedKey)> = None;
    if users {
        let rows: i64 = key_counts::table
            .filter(key_counts::user_id.eq_any(&filter.user_ids))
            .select(sum())
            .get_result(conn)?;
        best = Some((rows, IndexedKey::User));
    }
    if sources {
        let rows: i64 = key_counts::table
            .filter(key_counts::source_id.eq_any(&filter.source_ids))
            .select(sum())
            .get_result(conn)?;
        if best.is_none_or(|(fewest, _)| rows < fewest) {
            best = Some((rows, IndexedKey::Source));
        }
    }
    Ok(best.and_then(|(rows, key)| (rows * 8 <= all).then_some(key)))
}

/// The filter a page reads keys with; `None` when no row can match.
fn page_filter(conn: &mut SqliteConnection, filter: &LogFilter) -> Result<Option<Filter>, DbError> {
    let Some(filter) = Filter::resolve(conn, filter)? else {
        return Ok(None);
    };
    // The count tables know at once when no stored row has these codes, methods, users and
    // sources; the keys would be read to the end to find out (`docs/performance.md`,
    // "Constants"). Without any of them only an empty database has none, and its page is empty
    // at once anyway.
    let keyed = !(filter.codes.is_empty()
        && filter.method_ids.is_empty()
        && filter.user_ids.is_empty()
        && filter.source_ids.is_empty());
    if keyed && total_sum(conn, &filter)? == 0 {
        return Ok(None);
    }
    Ok(Some(for_reading_keys(conn, filter)?))
}

/// A page's lines alone, each followed by a newline, for a text export: no row is parsed.
#[derive(Debug, Default)]
pub struct LinesPage {
    pub text: Vec<u8>,
    pub lines: usize,
    /// Set when more rows match after the last one.
    pub next: Option<Key>,
}

/// The lines of the page [`fetch_page`] would give, as text. Filters on lines need each row
/// parsed: with one, the page is read as rows and its lines taken from them.
pub fn fetch_lines(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    sources: &mut SourceNames,
    q: &LogQuery,
) -> Result<LinesPage, DbError> {
    if q.filter.reads_lines() {
        let page = fetch_page(conn, cache, sources, q)?;
        let mut text = Vec::new();
        for row in &page.rows {
            text.extend_from_slice(row.line.as_bytes());
            text.push(b'\n');
        }
        return Ok(LinesPage {
            text,
            lines: page.rows.len(),
            next: page.next,
        });
    }
    let Some(filter) = page_filter(conn, &q.filter)? else {
        return Ok(LinesPage::default());
    };
    conn.transaction(|conn| {
        let segments = segment_merge::segments_for(conn, &filter, q.after, q.order)?;
        let keys = stored::first_found(
            conn,
            cache,
            &segments,
            &filter,
            q.after,
            q.order,
            q.limit + 1,
        )?;
        let more = keys.len() as i64 > q.limit;
        let keys = &keys[..keys.len().min(q.limit.max(0) as usize)];
        let mut page = LinesPage::default();
        for chunk in keys.chunks(LINES_PER_READ) {
            stored::each_line(conn, cache, chunk, |found, _, line| {
                page.text.extend_from_slice(line.as_bytes());
                page.text.push(b'\n');
                page.lines += 1;
                if page.text.len() >= q.max_bytes {
                    // Full: the next page starts after this line.
                    page.next = Some(found.key());
                }
                page.next.is_none()
            })?;
            if page.next.is_some() {
                return Ok(page);
            }
        }
        page.next = if more {
            keys.last().map(Found::key)
        } else {
            None
        };
        Ok(page)
    })
}

pub fn fetch_page(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    sources: &mut SourceNames,
    q: &LogQuery,
) -> Result<LogPage, DbError> {
    let Some(filter) = page_filter(conn, &q.filter)? else {
        return Ok(LogPage {
            rows: Vec::new(),
            next: None,
        });
    };
    // Keys are read in rounds: one of `limit + 1` (the extra one only tells whether another
    // page exists), or, when lines must be looked at, rounds of a few thousand until enough
    // lines match.
    let round = if filter.reads_lines() {
        KEYS_PER_SCAN
            .min(q.max_scan.try_into().unwrap_or(i64::MAX))
            .max(1)
    } else {
        q.limit + 1
    };
    // One read transaction, so the segment list and the rows come from the same snapshot.
    conn.transaction(|conn| {
        let segments = segment_merge::segments_for(conn, &filter, q.after, q.order)?;
        let mut rows: Vec<LogRow> = Vec::new();
        let mut bytes = 0;
        let mut scanned = q.after;
        let mut keys_read = 0;
        loop {
            let keys =
                stored::first_found(conn, cache, &segments, &filter, scanned, q.order, round)?;
            let last_round = (keys.len() as i64) < round;
            // Lines are read a few hundred at a time, and the page ends early once it holds
            // `max_bytes` of them: memory stays bounded whatever the lines' length.
            for chunk in keys.chunks(LINES_PER_READ) {
                let stored_lines = stored::lines_of(conn, cache, chunk)?;
                for (found, (id, source_id, line)) in chunk.iter().zip(stored_lines) {
                    let key = found.key();
                    let row = LogRow::parse(id, source_id, line)?;
                    if !filter.matches_line(&row.url, &row.line) {
                        continue;
                    }
                    if rows.len() as i64 == q.limit {
                        // A match past the page: there is a next one.
                        let next = Key {
                            date: rows[rows.len() - 1].date,
                            id: rows[rows.len() - 1].id,
                        };
                        return finish(conn, sources, rows, Some(next));
                    }
                    bytes += row.line.len();
                    rows.push(row);
                    if bytes >= q.max_bytes {
                        // Full: the next page starts after this line (and may be empty).
                        return finish(conn, sources, rows, Some(key));
                    }
                }
            }
            match keys.last().map(Found::key) {
                Some(last) if !last_round => {
                    scanned = Some(last);
                    keys_read += keys.len();
                    if keys_read >= q.max_scan {
                        // Enough reading for one request: the page holds what matched so far
                        // (perhaps nothing) and its next link goes on from here.
                        return finish(conn, sources, rows, Some(last));
                    }
                }
                _ => return finish(conn, sources, rows, None),
            }
        }
    })
}

/// The page with each row's source address.
fn finish(
    conn: &mut SqliteConnection,
    sources: &mut SourceNames,
    mut rows: Vec<LogRow>,
    next: Option<Key>,
) -> Result<LogPage, DbError> {
    for row in &mut rows {
        row.source = sources.address_of(conn, row.source_id)?;
    }
    Ok(LogPage { rows, next })
}

/// Counts filters on lines by reading the lines the key filters select, in rounds.
fn count_by_lines(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    filter: &Filter,
    max_scan: usize,
) -> Result<i64, DbError> {
    conn.transaction(|conn| {
        let segments = segment_merge::segments_for(conn, filter, None, Order::Desc)?;
        let mut total = 0;
        let mut read = 0;
        let mut scanned = None;
        let round = KEYS_PER_SCAN
            .min(max_scan.try_into().unwrap_or(i64::MAX))
            .max(1);
        loop {
            let keys =
                stored::first_found(conn, cache, &segments, filter, scanned, Order::Desc, round)?;
            for chunk in keys.chunks(LINES_PER_READ) {
                for (id, source_id, line) in stored::lines_of(conn, cache, chunk)? {
                    let row = LogRow::parse(id, source_id, line)?;
                    if filter.matches_line(&row.url, &row.line) {
                        total += 1;
                    }
                }
            }
            match keys.last().map(Found::key) {
                Some(last) if keys.len() as i64 == round => {
                    scanned = Some(last);
                    read += keys.len();
                    if read >= max_scan {
                        return Err(DbError::TooBroad(max_scan));
                    }
                }
                _ => return Ok(total),
            }
        }
    })
}

/// Counts come from the all-time sums, or with a date range from the per-day sums; only the
/// parts of a range that cut through a day are counted row by row. Filters on lines read the
/// lines the other filters select: past `max_scan` of them the count is refused
/// ([`DbError::TooBroad`]) rather than hold a reader for minutes.
pub fn count(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    log_filter: &LogFilter,
    max_scan: usize,
) -> Result<i64, DbError> {
    let Some(filter) = Filter::resolve(conn, log_filter)? else {
        return Ok(0);
    };
    if filter.reads_lines() {
        refuse_if_too_broad(conn, cache, &filter, max_scan)?;
        let filter = for_reading_keys(conn, filter)?;
        return count_by_lines(conn, cache, &filter, max_scan);
    }
    if !filter.ip_ranges.is_empty() {
        // No count table has addresses: the keys in the range are counted.
        return conn.transaction(|conn| {
            count_rows(
                conn,
                cache,
                &filter,
                filter.since.unwrap_or(i64::MIN),
                filter.until.unwrap_or(i64::MAX),
            )
        });
    }
    count_from_tables(conn, cache, &filter)
}

/// The keys a filter without address ranges selects: the count tables' sums, and the keys of
/// the parts of a range that cut through a day.
fn count_from_tables(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    filter: &Filter,
) -> Result<i64, DbError> {
    if filter.since.is_none() && filter.until.is_none() {
        return total_sum(conn, filter);
    }
    conn.transaction(|conn| {
        let split = UnitSplit::of(filter.since, filter.until, SECONDS_PER_DAY);
        let mut total = 0;
        if let Some((first_day, end_day)) = split.whole {
            total += day_sums(conn, filter, first_day, end_day)?;
        }
        for (since, until) in split.edges {
            total += count_rows(conn, cache, filter, since, until)?;
        }
        Ok(total)
    })
}

/// Refuses up front a reading of lines that would pass `max_lines`, when the count tables say
/// so: otherwise the refusal comes only after reading that many (seconds, on a large table).
/// With address ranges the count would itself read keys, so the reading finds out instead.
pub(crate) fn refuse_if_too_broad(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    filter: &Filter,
    max_lines: usize,
) -> Result<(), DbError> {
    if filter.ip_ranges.is_empty()
        && count_from_tables(conn, cache, filter)? > i64::try_from(max_lines).unwrap_or(i64::MAX)
    {
        return Err(DbError::TooBroad(max_lines));
    }
    Ok(())
}

/// A date range cut at whole units (days, hours): the units wholly inside it, which the count
/// tables answer, and the parts that cut through a unit, which only the keys can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnitSplit {
    /// `[first, end)` in units, either end open; `None` when no whole unit lies inside.
    pub whole: Option<(Option<i64>, Option<i64>)>,
    /// `[since, until)` in seconds, none of them empty.
    pub edges: Vec<(i64, i64)>,
}

impl UnitSplit {
    pub fn of(since: Option<i64>, until: Option<i64>, unit: i64) -> UnitSplit {
        let first =
            since.map(|since| since.div_euclid(unit) + i64::from(since.rem_euclid(unit) > 0));
        let end = until.map(|until| until.div_euclid(unit));
        let whole = match (first, end) {
            (Some(first), Some(end)) => first < end,
            _ => true,
        };
        let edges = if whole {
            vec![
                since.zip(first).map(|(since, first)| (since, first * unit)),
                until.zip(end).map(|(until, end)| (end * unit, until)),
            ]
        } else {
            vec![Some((since.unwrap_or(i64::MIN), until.unwrap_or(i64::MAX)))]
        };
        UnitSplit {
            whole: whole.then_some((first, end)),
            edges: edges
                .into_iter()
                .flatten()
                .filter(|(since, until)| since < until)
                .collect(),
        }
    }
}

fn count_rows(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    filter: &Filter,
    since: i64,
    until: i64,
) -> Result<i64, DbError> {
    let range = Filter {
        since: Some(since),
        until: Some(until),
        ..filter.clone()
    };
    let segments = segment_merge::segments_for(conn, &range, None, Order::Desc)?;
    stored::count(conn, cache, &segments, &range)
}

fn total_sum(conn: &mut SqliteConnection, filter: &Filter) -> Result<i64, DbError> {
    Ok(TOTALS.sum(conn, filter, (None, None), None)?)
}

fn day_sums(
    conn: &mut SqliteConnection,
    filter: &Filter,
    first_day: Option<i64>,
    end_day: Option<i64>,
) -> Result<i64, DbError> {
    Ok(DAYS.sum(conn, filter, (first_day, end_day), None)?)
}

/// `EXPLAIN QUERY PLAN` of the key query a page runs: the detail column of each step.
pub fn explain_page(conn: &mut SqliteConnection, q: &LogQuery) -> Result<Vec<String>, DbError> {
    let Some(filter) = Filter::resolve(conn, &q.filter)? else {
        return Ok(Vec::new());
    };
    let filter = for_reading_keys(conn, filter)?;
    let after = q.after;
    let segments = segment_merge::segments_for(conn, &filter, after, q.order)?;
    // A page runs one statement per group of segments, all of the same shape: the first.
    let group = segments
        .chunks(filter.segments_per_query())
        .next()
        .unwrap_or_default();
    let steps: Vec<(i32, i32, i32, String)> =
        segment_merge::MergedKeys::new(group, &filter, after, q.order, q.limit + 1)
            .explain()
            .load(conn)?;
    Ok(steps.into_iter().map(|(_, _, _, detail)| detail).collect())
}

#[cfg(test)]
mod tests {
    use super::UnitSplit;

    #[test]
    fn a_range_is_cut_at_whole_units_and_edges() {
        // 1 day 6 h to 3 days 12 h, in days: day 2 whole, and two edges.
        let day = 86_400;
        let split = UnitSplit::of(Some(day + 6 * 3_600), Some(3 * day + 12 * 3_600), day);
        assert_eq!(split.whole, Some((Some(2), Some(3))));
        assert_eq!(
            split.edges,
            vec![(day + 6 * 3_600, 2 * day), (3 * day, 3 * day + 12 * 3_600)]
        );
        // Aligned ends leave no edges; open ends stay open.
        let split = UnitSplit::of(Some(day), None, day);
        assert_eq!((split.whole, split.edges), (Some((Some(1), None)), vec![]));
        // Within one unit: no whole unit, the range itself is the edge.
        let split = UnitSplit::of(Some(day + 1), Some(day + 5), day);
        assert_eq!((split.whole, split.edges), (None, vec![(day + 1, day + 5)]));
        // Negative instants (before 1970) round towards the past.
        let split = UnitSplit::of(Some(-day - 1), Some(0), day);
        assert_eq!(split.whole, Some((Some(-1), Some(0))));
        assert_eq!(split.edges, vec![(-day - 1, -day)]);
    }
}
