//! Reading `log_keys` newest first across segments. Each segment is a (date, id) range of the
//! primary key; one compound SELECT per group of segments lets SQLite merge their ordered scans
//! lazily (MERGE (UNION ALL)), so a page reads about as many keys as it returns, at any depth.

use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Binary, Integer};
use diesel::sqlite::Sqlite;

use super::count_tables::KEYS;
use super::filter::{Filter, IndexedKey};
use crate::db::schema::hot_segments;

/// SQLite refuses compound SELECTs of more than 500 terms; larger groups are merged here.
const ARMS_PER_QUERY: usize = 256;
// Groups are padded to a power of two: 256 arms, under the limit.
const _: () = assert!(ARMS_PER_QUERY.next_power_of_two() <= 500);

/// The most users (or sources) read through their index, an arm each per segment; more take
/// the primary key with them as a filter.
pub const MAX_INDEXED_VALUES: usize = 16;

impl Filter {
    /// Segments per compound SELECT, so that its arms stay within [`ARMS_PER_QUERY`].
    pub(crate) fn segments_per_query(&self) -> usize {
        match self.indexed {
            Some(key) => (ARMS_PER_QUERY / key.values(self).len().next_power_of_two()).max(1),
            None => ARMS_PER_QUERY,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub date: i64,
    pub id: i64,
}

/// Which way a listing goes: newest first (the default) or oldest first. Equal dates go by id,
/// the order of arrival, the same way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    #[default]
    Desc,
    Asc,
}

/// The segments that may hold rows of the filter's date range beyond `after` in `order`.
pub fn segments_for(
    conn: &mut SqliteConnection,
    filter: &Filter,
    after: Option<Key>,
    order: Order,
) -> QueryResult<Vec<i64>> {
    let mut query = hot_segments::table.select(hot_segments::id).into_boxed();
    if let Some(since) = filter.since {
        query = query.filter(hot_segments::max_date.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(hot_segments::min_date.lt(until));
    }
    match (after, order) {
        (Some(after), Order::Desc) => query = query.filter(hot_segments::min_date.le(after.date)),
        (Some(after), Order::Asc) => query = query.filter(hot_segments::max_date.ge(after.date)),
        (None, _) => {}
    }
    query.order(hot_segments::id).load(conn)
}

/// The first `limit` keys matching the filter in `order`, strictly after `after`.
pub fn first_keys(
    conn: &mut SqliteConnection,
    segments: &[i64],
    filter: &Filter,
    after: Option<Key>,
    order: Order,
    limit: i64,
) -> QueryResult<Vec<Key>> {
    let mut merged: Vec<Key> = Vec::new();
    let per_query = filter.segments_per_query();
    for group in segments.chunks(per_query) {
        let keys: Vec<(i64, i64)> =
            MergedKeys::new(group, filter, after, order, limit).load(conn)?;
        merged.extend(keys.into_iter().map(|(date, id)| Key { date, id }));
    }
    if segments.len() > per_query {
        match order {
            Order::Desc => merged.sort_unstable_by(|a, b| b.cmp(a)),
            Order::Asc => merged.sort_unstable(),
        }
        merged.truncate(limit.max(0) as usize);
    }
    Ok(merged)
}

/// Rows matching the filter in the given segments: the exact count over a date range.
pub fn count_keys(
    conn: &mut SqliteConnection,
    segments: &[i64],
    filter: &Filter,
) -> QueryResult<i64> {
    let range = (filter.since, filter.until);
    let mut total = 0;
    for group in segments.chunks(ARMS_PER_QUERY) {
        total += KEYS.sum(conn, filter, range, Some(group))?;
    }
    Ok(total)
}

/// The compound SELECT for one group of segments, every value bound.
///
/// Preparing a compound of dozens of SELECTs costs more than running it, so this query lets
/// diesel cache its prepared statement (keyed by the SQL text). The number of arms is rounded up
/// to a power of two, padding with segment -1, which holds nothing: the cache then holds a
/// handful of shapes per filter instead of one more each time a segment is added.
#[derive(Debug, Clone)]
pub struct MergedKeys {
    /// Padded to `arms` with -1.
    segments: Vec<i64>,
    filter: Filter,
    after: Option<Key>,
    order: Order,
    limit: i64,
}

impl MergedKeys {
    pub fn new(
        segments: &[i64],
        filter: &Filter,
        after: Option<Key>,
        order: Order,
        limit: i64,
    ) -> Self {
        let arms = segments.len().max(1).next_power_of_two();
        let mut padded = segments.to_vec();
        padded.resize(arms, -1);
        Self {
            segments: padded,
            filter: padded_filter(filter),
            after,
            order,
            limit,
        }
    }

    /// The same query prefixed with `EXPLAIN QUERY PLAN`.
    pub fn explain(self) -> ExplainQueryPlan {
        ExplainQueryPlan(self)
    }
}

/// The filter with each list padded to a power of two by repeating its last value: the same
/// rows match, and the cache of prepared statements holds a few shapes, not one per length.
/// Values read by index are an arm each: they are padded with -1, which has no rows.
fn padded_filter(filter: &Filter) -> Filter {
    fn pad<T: Clone>(values: &[T]) -> Vec<T> {
        let mut padded = values.to_vec();
        if let Some(last) = values.last() {
            padded.resize(values.len().next_power_of_two(), last.clone());
        }
        padded
    }
    let pad_ids = |key: IndexedKey, ids: &[i64]| {
        if filter.indexed == Some(key) {
            let mut padded = ids.to_vec();
            padded.resize(ids.len().next_power_of_two(), -1);
            padded
        } else {
            pad(ids)
        }
    };
    Filter {
        codes: pad(&filter.codes),
        method_ids: pad(&filter.method_ids),
        user_ids: pad_ids(IndexedKey::User, &filter.user_ids),
        source_ids: pad_ids(IndexedKey::Source, &filter.source_ids),
        ip_ranges: pad(&filter.ip_ranges),
        ..filter.clone()
    }
}

impl QueryId for MergedKeys {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for MergedKeys {
    type SqlType = (BigInt, BigInt);
}

impl RunQueryDsl<SqliteConnection> for MergedKeys {}

impl QueryFragment<Sqlite> for MergedKeys {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        // Read by index, an arm per value (each in date order, as the merge needs); else one
        // arm per segment, the values (if any) a filter.
        let arm_values: Vec<Option<&i64>> = match self.filter.indexed {
            Some(key) => key.values(&self.filter).iter().map(Some).collect(),
            None => vec![None],
        };
        let arms = self
            .segments
            .iter()
            .flat_map(|segment| arm_values.iter().map(move |value| (segment, *value)));
        for (i, (segment, value)) in arms.enumerate() {
            if i > 0 {
                out.push_sql(" UNION ALL ");
            }
            self.push_arm(&mut out, segment, value)?;
        }
        out.push_sql(match self.order {
            Order::Desc => " ORDER BY date DESC, id DESC LIMIT ",
            Order::Asc => " ORDER BY date ASC, id ASC LIMIT ",
        });
        out.push_bind_param::<BigInt, _>(&self.limit)?;
        Ok(())
    }
}

impl MergedKeys {
    /// One segment's rows (with one value of the indexed key, if any) that match the filter.
    fn push_arm<'b>(
        &'b self,
        out: &mut AstPass<'_, 'b, Sqlite>,
        segment: &'b i64,
        value: Option<&'b i64>,
    ) -> QueryResult<()> {
        let indexed = self.filter.indexed;
        out.push_sql("SELECT date, id FROM log_keys");
        if let Some(key) = indexed {
            out.push_sql(" INDEXED BY ");
            out.push_sql(key.index());
        }
        out.push_sql(" WHERE segment = ");
        out.push_bind_param::<BigInt, _>(segment)?;
        if let (Some(key), Some(value)) = (indexed, value) {
            out.push_sql(" AND ");
            out.push_sql(key.column());
            out.push_sql(" = ");
            out.push_bind_param::<BigInt, _>(value)?;
        }
        push_ranges::<Integer, _>(out, "code", &self.filter.codes)?;
        push_ranges::<Binary, _>(out, "ip", &self.filter.ip_ranges)?;
        self.push_id_lists(out)?;
        self.push_dates(out)
    }

    /// ` AND method_id IN (...)` and the like, but not for the key the arm reads by index.
    fn push_id_lists<'b>(&'b self, out: &mut AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        let indexed = self.filter.indexed;
        let unless_indexed = |key: IndexedKey, ids: &'b [i64]| -> &'b [i64] {
            if indexed == Some(key) {
                &[]
            } else {
                ids
            }
        };
        for (column, ids) in [
            ("method_id", &self.filter.method_ids[..]),
            (
                "user_id",
                unless_indexed(IndexedKey::User, &self.filter.user_ids),
            ),
            (
                "source_id",
                unless_indexed(IndexedKey::Source, &self.filter.source_ids),
            ),
        ] {
            for (i, id) in ids.iter().enumerate() {
                out.push_sql(if i == 0 { " AND " } else { ", " });
                if i == 0 {
                    out.push_sql(column);
                    out.push_sql(" IN (");
                }
                out.push_bind_param::<BigInt, _>(id)?;
                if i + 1 == ids.len() {
                    out.push_sql(")");
                }
            }
        }
        Ok(())
    }

    /// The filter's date range, and the rows beyond the cursor.
    fn push_dates<'b>(&'b self, out: &mut AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        if let Some(since) = &self.filter.since {
            out.push_sql(" AND date >= ");
            out.push_bind_param::<BigInt, _>(since)?;
        }
        if let Some(until) = &self.filter.until {
            out.push_sql(" AND date < ");
            out.push_bind_param::<BigInt, _>(until)?;
        }
        if let Some(after) = &self.after {
            // `date <= ?` (or `>=`) bounds the key range; the OR only sorts out rows of the
            // same second.
            let (bound, beyond) = match self.order {
                Order::Desc => (" AND date <= ", "<"),
                Order::Asc => (" AND date >= ", ">"),
            };
            out.push_sql(bound);
            out.push_bind_param::<BigInt, _>(&after.date)?;
            out.push_sql(" AND (date ");
            out.push_sql(beyond);
            out.push_sql(" ");
            out.push_bind_param::<BigInt, _>(&after.date)?;
            out.push_sql(" OR id ");
            out.push_sql(beyond);
            out.push_sql(" ");
            out.push_bind_param::<BigInt, _>(&after.id)?;
            out.push_sql(")");
        }
        Ok(())
    }
}

/// ` AND (COLUMN BETWEEN ? AND ? OR ...)`, nothing for no ranges; bound as `ST`.
fn push_ranges<'b, ST, T>(
    out: &mut AstPass<'_, 'b, Sqlite>,
    column: &str,
    ranges: &'b [(T, T)],
) -> QueryResult<()>
where
    ST: diesel::sql_types::SqlType,
    Sqlite: diesel::sql_types::HasSqlType<ST>,
    T: diesel::serialize::ToSql<ST, Sqlite>,
{
    for (i, (low, high)) in ranges.iter().enumerate() {
        out.push_sql(if i == 0 { " AND (" } else { " OR " });
        out.push_sql(column);
        out.push_sql(" BETWEEN ");
        out.push_bind_param::<ST, T>(low)?;
        out.push_sql(" AND ");
        out.push_bind_param::<ST, T>(high)?;
        if i + 1 == ranges.len() {
            out.push_sql(")");
        }
    }
    Ok(())
}

/// Rows of `EXPLAIN QUERY PLAN`: (id, parent, unused, detail).
pub struct ExplainQueryPlan(MergedKeys);

impl QueryId for ExplainQueryPlan {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for ExplainQueryPlan {
    type SqlType = (Integer, Integer, Integer, diesel::sql_types::Text);
}

impl RunQueryDsl<SqliteConnection> for ExplainQueryPlan {}

impl QueryFragment<Sqlite> for ExplainQueryPlan {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("EXPLAIN QUERY PLAN ");
        self.0.walk_ast(out.reborrow())
    }
}
