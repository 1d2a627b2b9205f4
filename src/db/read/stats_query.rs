//! The queries behind `GET /stats`: lines and bytes grouped by one or two keys.
//!
//! Each query is answered from the cheapest storage that holds what it groups and filters by:
//! the count tables (all time, per day, per hour) for whole days or hours, `log_keys` for the
//! parts of a range that cut through a day or an hour and for addresses, and the lines
//! themselves for paths, referers, user agents and text. Every answer is exact; one that would
//! read more than its caps allow is refused ([`DbError::TooBroad`]).

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use diesel::prelude::*;

use super::count_tables::{CountTable, GroupRow, KEYS};
use super::filter::Filter;
use super::log_query::{self, LogFilter, LogRow, UnitSplit};
use super::segment_merge::{self, Key, Order};
pub use super::stat_key::StatKey;
use super::stored::{self, Found};
use crate::db::blocks::cache::BlockCache;
use crate::db::blocks::format::BlockKeys;
use crate::db::blocks::read;
use crate::db::names::{self, NameTable};
use crate::db::source_names::SourceNames;
use crate::db::DbError;
use crate::limits::{SECONDS_PER_DAY, SECONDS_PER_HOUR};
use crate::time::rfc3339;

/// One key's value in an answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatValue {
    /// A field the line does not have (`-` for a referer, say).
    Null,
    Int(i64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsQuery {
    pub filter: LogFilter,
    /// One or two keys.
    pub by: Vec<StatKey>,
    /// Groups returned at most, after sorting.
    pub limit: usize,
    /// Keys a breakdown by address (or with an address filter) may group, read from
    /// `log_keys`; past it the query is refused.
    pub max_keys: usize,
    /// Lines a breakdown by path, referer or user agent (or with a `path` or `q` filter) may
    /// read; past it the query is refused.
    pub max_lines: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatRow {
    /// One value per key of `by`, in its order.
    pub key: Vec<StatValue>,
    pub count: i64,
    /// The sum of the lines' sizes (`-` counts as 0).
    pub bytes: i64,
}

/// A group's key as storage holds it, before ids become names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Raw {
    Null,
    Int(i64),
    Blob(Vec<u8>),
    Text(String),
}

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    n: i64,
    bytes: i64,
}

type Groups = HashMap<Vec<Raw>, Tally>;

fn add(groups: &mut Groups, key: Vec<Raw>, n: i64, bytes: i64) {
    let tally = groups.entry(key).or_default();
    tally.n += n;
    tally.bytes += bytes;
}

/// Groups the rows of `table` within `[since, until)` (in the table's own unit) that match the
/// filter (its own date range left aside), adding them to `groups`.
fn group_table(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    table: CountTable,
    by: &[StatKey],
    filter: &Filter,
    range: (Option<i64>, Option<i64>),
    groups: &mut Groups,
) -> Result<(), DbError> {
    group_sql(conn, table, by, filter, range, groups)?;
    if table == KEYS {
        // The keys of compacted segments are in blocks.
        let range = Filter {
            since: range.0,
            until: range.1,
            ..filter.clone()
        };
        read::visit_rows(conn, cache, &range, |keys, i| {
            let key = by.iter().map(|&k| raw_of_block(k, keys, i)).collect();
            add(groups, key, 1, keys.size[i]);
        })?;
    }
    Ok(())
}

/// [`group_table`] in SQL: the count tables, or the hot segments' keys.
fn group_sql(
    conn: &mut SqliteConnection,
    table: CountTable,
    by: &[StatKey],
    filter: &Filter,
    range: (Option<i64>, Option<i64>),
    groups: &mut Groups,
) -> QueryResult<()> {
    let segments = if table == KEYS {
        let keyed = Filter {
            since: range.0,
            until: range.1,
            ..filter.clone()
        };
        let segments = segment_merge::segments_for(conn, &keyed, None, Order::Desc)?;
        if segments.is_empty() {
            return Ok(());
        }
        Some(segments)
    } else {
        None
    };
    let query = table.group(by, filter, range, segments.as_deref());
    for row in query.load::<GroupRow>(conn)? {
        let mut key = vec![raw_of(by[0], row.k1)];
        if let Some(&second) = by.get(1) {
            key.push(raw_of(second, row.k2));
        }
        add(groups, key, row.n, row.bytes);
    }
    Ok(())
}

/// A key's value from a block's row, as the SQL above gives it for a hot row.
fn raw_of_block(key: StatKey, keys: &BlockKeys, i: usize) -> Raw {
    match key {
        StatKey::Code => Raw::Int(keys.code[i].into()),
        StatKey::Class => Raw::Int((keys.code[i] / 100).into()),
        StatKey::Method => Raw::Int(keys.method_id[i]),
        StatKey::User => Raw::Int(keys.user_id[i]),
        StatKey::Source => Raw::Int(keys.source_id[i]),
        StatKey::Ip => keys.ip(i).map_or(Raw::Null, |ip| Raw::Blob(ip.to_vec())),
        StatKey::Day | StatKey::Hour | StatKey::Time(_) => bucket(key, keys.date[i]),
        // Never asked of keys: these are read from the lines.
        StatKey::Path | StatKey::Referer | StatKey::UserAgent => Raw::Null,
    }
}

/// A key's value as the SQL above wrote it.
fn raw_of(key: StatKey, text: Option<String>) -> Raw {
    let Some(text) = text else {
        return Raw::Null;
    };
    if key == StatKey::Ip {
        return decode_hex(&text).map_or(Raw::Null, Raw::Blob);
    }
    text.parse().map_or(Raw::Text(text), Raw::Int)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Groups `[since, until)` from a table of whole `unit`s, and the parts that cut through a
/// unit from `log_keys`.
fn group_range(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    table: CountTable,
    by: &[StatKey],
    filter: &Filter,
    groups: &mut Groups,
) -> Result<(), DbError> {
    let Some(unit) = table.unit() else {
        let range = (filter.since, filter.until);
        return group_table(conn, cache, table, by, filter, range, groups);
    };
    let split = UnitSplit::of(filter.since, filter.until, unit);
    if let Some(whole) = split.whole {
        group_table(conn, cache, table, by, filter, whole, groups)?;
    }
    for (since, until) in split.edges {
        let edge = (Some(since), Some(until));
        group_table(conn, cache, KEYS, by, filter, edge, groups)?;
    }
    Ok(())
}

/// Groups by reading the lines the key filters select, in rounds, at most `max_lines` of them.
fn group_lines(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    by: &[StatKey],
    filter: &Filter,
    max_lines: usize,
    groups: &mut Groups,
) -> Result<(), DbError> {
    log_query::refuse_if_too_broad(conn, cache, filter, max_lines)?;
    let filter = &log_query::for_reading_keys(conn, filter.clone())?;
    let round = log_query::KEYS_PER_SCAN
        .min(max_lines.try_into().unwrap_or(i64::MAX))
        .max(1);
    let segments = segment_merge::segments_for(conn, filter, None, Order::Desc)?;
    let mut scanned: Option<Key> = None;
    let mut read = 0;
    loop {
        let keys =
            stored::first_found(conn, cache, &segments, filter, scanned, Order::Desc, round)?;
        for chunk in keys.chunks(log_query::LINES_PER_READ) {
            for (id, source_id, line) in stored::lines_of(conn, cache, chunk)? {
                let row = LogRow::parse(id, source_id, line)?;
                if filter.matches_line(&row.url, &row.line) {
                    let key = by.iter().map(|&k| raw_of_row(k, &row)).collect();
                    add(groups, key, 1, row.size.unwrap_or(0));
                }
            }
        }
        match keys.last().map(Found::key) {
            Some(last) if keys.len() as i64 == round => {
                scanned = Some(last);
                read += keys.len();
                if read >= max_lines {
                    return Err(DbError::TooBroad(max_lines));
                }
            }
            _ => return Ok(()),
        }
    }
}

fn raw_of_row(key: StatKey, row: &LogRow) -> Raw {
    let text = |value: &Option<String>| value.clone().map_or(Raw::Null, Raw::Text);
    match key {
        StatKey::Code => Raw::Int(row.code.into()),
        StatKey::Class => Raw::Int((row.code / 100).into()),
        StatKey::Method => Raw::Text(row.method.clone()),
        StatKey::User => Raw::Text(row.user.clone().unwrap_or_else(|| "-".to_owned())),
        StatKey::Source => Raw::Int(row.source_id),
        StatKey::Ip => Raw::Text(row.ip.clone()),
        StatKey::Path => Raw::Text(row.url.split('?').next().unwrap_or_default().to_owned()),
        StatKey::Referer => text(&row.referer),
        StatKey::UserAgent => text(&row.user_agent),
        StatKey::Day | StatKey::Hour | StatKey::Time(_) => bucket(key, row.date),
    }
}

/// The time bucket a date falls in, counted from the epoch, as the SQL above gives it.
fn bucket(key: StatKey, date: i64) -> Raw {
    key.period()
        .map_or(Raw::Null, |period| Raw::Int(date.div_euclid(period)))
}

/// The groups of a query, sorted (by time when a key is the day or hour, else by count) and
/// cut to its limit.
pub fn stats(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    sources: &mut SourceNames,
    q: &StatsQuery,
) -> Result<Vec<StatRow>, DbError> {
    let mut groups = Groups::new();
    conn.transaction(|conn| {
        let Some(filter) = Filter::resolve(conn, &q.filter)? else {
            return Ok::<_, DbError>(());
        };
        if filter.reads_lines() || q.by.iter().any(|k| k.on_lines()) {
            return group_lines(conn, cache, &q.by, &filter, q.max_lines, &mut groups);
        }
        let table = match CountTable::for_query(&q.by, &filter) {
            Some(table) => table,
            None => {
                // Only the keys have addresses, users and methods by the hour, and buckets
                // shorter than an hour. The count tables say how many keys the other filters select, and so whether
                // grouping them is within bounds.
                let without_ips = LogFilter {
                    ips: Vec::new(),
                    ..q.filter.clone()
                };
                let selected = log_query::count(conn, cache, &without_ips, usize::MAX)?;
                if selected > q.max_keys as i64 {
                    return Err(DbError::TooBroad(q.max_keys));
                }
                KEYS
            }
        };
        group_range(conn, cache, table, &q.by, &filter, &mut groups)
    })?;
    let mut rows = Vec::with_capacity(groups.len());
    let mut names = NameCache::default();
    for (raw, tally) in groups {
        let mut key = Vec::with_capacity(raw.len());
        for (value, &k) in raw.into_iter().zip(&q.by) {
            key.push(names.value_of(conn, sources, k, value)?);
        }
        rows.push(StatRow {
            key,
            count: tally.n,
            bytes: tally.bytes,
        });
    }
    sort(&mut rows, &q.by);
    rows.truncate(q.limit);
    Ok(rows)
}

/// Time keys first, oldest first; otherwise the largest counts first. Ties go by key, so the
/// order is the same on every call.
fn sort(rows: &mut [StatRow], by: &[StatKey]) {
    match by.iter().position(|k| k.is_time()) {
        Some(time) => rows.sort_by(|a, b| {
            a.key[time]
                .cmp(&b.key[time])
                .then(b.count.cmp(&a.count))
                .then(a.key.cmp(&b.key))
        }),
        None => rows.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key))),
    }
}

/// Names of the ids met while the groups are turned into values.
#[derive(Default)]
struct NameCache {
    names: HashMap<(NameTable, i64), String>,
}

impl NameCache {
    fn value_of(
        &mut self,
        conn: &mut SqliteConnection,
        sources: &mut SourceNames,
        key: StatKey,
        raw: Raw,
    ) -> Result<StatValue, DbError> {
        Ok(match (key, raw) {
            (_, Raw::Null) => StatValue::Null,
            (StatKey::Code, Raw::Int(code)) => StatValue::Int(code),
            (StatKey::Class, Raw::Int(class)) => StatValue::Text(format!("{class}xx")),
            (StatKey::User, Raw::Int(0)) => StatValue::Text("-".to_owned()),
            (StatKey::User, Raw::Int(id)) => {
                StatValue::Text(self.name(conn, NameTable::Users, id)?)
            }
            (StatKey::Method, Raw::Int(id)) => {
                StatValue::Text(self.name(conn, NameTable::Methods, id)?)
            }
            (StatKey::Source, Raw::Int(id)) => StatValue::Text(sources.address_of(conn, id)?),
            (StatKey::Ip, Raw::Blob(bytes)) => {
                ip_text(&bytes).map_or(StatValue::Null, StatValue::Text)
            }
            (StatKey::Day, Raw::Int(day)) => {
                StatValue::Text(rfc3339(day * SECONDS_PER_DAY)[..10].to_owned())
            }
            (StatKey::Hour, Raw::Int(hour)) => StatValue::Text(rfc3339(hour * SECONDS_PER_HOUR)),
            (StatKey::Time(period), Raw::Int(bucket)) => {
                StatValue::Text(rfc3339(bucket.saturating_mul(period)))
            }
            (_, Raw::Int(n)) => StatValue::Int(n),
            (_, Raw::Text(text)) => StatValue::Text(text),
            (_, Raw::Blob(_)) => StatValue::Null,
        })
    }

    fn name(
        &mut self,
        conn: &mut SqliteConnection,
        table: NameTable,
        id: i64,
    ) -> Result<String, DbError> {
        if let Some(name) = self.names.get(&(table, id)) {
            return Ok(name.clone());
        }
        let name = names::name_of(conn, table, id)?.unwrap_or_else(|| format!("#{id}"));
        self.names.insert((table, id), name.clone());
        Ok(name)
    }
}

/// An address back from its key (`ip_key.rs`).
fn ip_text(key: &[u8]) -> Option<String> {
    match key {
        [4, octets @ ..] => <[u8; 4]>::try_from(octets)
            .ok()
            .map(|o| Ipv4Addr::from(o).to_string()),
        [6, octets @ ..] => <[u8; 16]>::try_from(octets)
            .ok()
            .map(|o| Ipv6Addr::from(o).to_string()),
        _ => None,
    }
}
