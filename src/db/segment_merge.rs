//! Reading `log_keys` newest first across segments. Each segment is a (date, id) range of the
//! primary key; one compound SELECT per group of segments lets SQLite merge their ordered scans
//! lazily (MERGE (UNION ALL)), so a page reads about as many keys as it returns, at any depth.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer};
use diesel::sqlite::Sqlite;

use super::schema::segments;

/// SQLite refuses compound SELECTs of more than 500 terms; larger groups are merged here.
const SEGMENTS_PER_QUERY: usize = 250;

/// A filter in storage terms: names already turned into ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyFilter {
    pub code: Option<i32>,
    pub method_id: Option<i64>,
    pub user_id: Option<i64>,
    /// Inclusive.
    pub since: Option<i64>,
    /// Exclusive.
    pub until: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, QueryableByName)]
pub struct Key {
    #[diesel(sql_type = BigInt)]
    pub date: i64,
    #[diesel(sql_type = BigInt)]
    pub id: i64,
}

/// The segments that may hold rows of the filter's date range at or before `before`.
pub fn segments_for(
    conn: &mut SqliteConnection,
    filter: &KeyFilter,
    before: Option<Key>,
) -> QueryResult<Vec<i64>> {
    let mut query = segments::table.select(segments::id).into_boxed();
    if let Some(since) = filter.since {
        query = query.filter(segments::max_date.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(segments::min_date.lt(until));
    }
    if let Some(before) = before {
        query = query.filter(segments::min_date.le(before.date));
    }
    query.order(segments::id).load(conn)
}

/// The first `limit` keys matching the filter, newest first, strictly after `after`.
pub fn newest_keys(
    conn: &mut SqliteConnection,
    segments: &[i64],
    filter: &KeyFilter,
    after: Option<Key>,
    limit: i64,
) -> QueryResult<Vec<Key>> {
    let mut merged: Vec<Key> = Vec::new();
    for group in segments.chunks(SEGMENTS_PER_QUERY) {
        merged.extend(page_sql("", group, filter, after, limit).load::<Key>(conn)?);
    }
    if segments.len() > SEGMENTS_PER_QUERY {
        merged.sort_unstable_by(|a, b| b.cmp(a));
        merged.truncate(limit.max(0) as usize);
    }
    Ok(merged)
}

/// Rows matching the filter in the given segments: the exact count over a date range.
pub fn count_keys(
    conn: &mut SqliteConnection,
    segments: &[i64],
    filter: &KeyFilter,
) -> QueryResult<i64> {
    use super::schema::log_keys::dsl::*;
    let mut total = 0;
    for group in segments.chunks(SEGMENTS_PER_QUERY) {
        let mut query = log_keys.filter(segment.eq_any(group)).into_boxed();
        if let Some(c) = filter.code {
            query = query.filter(code.eq(c));
        }
        if let Some(m) = filter.method_id {
            query = query.filter(method_id.eq(m));
        }
        if let Some(u) = filter.user_id {
            query = query.filter(user_id.eq(u));
        }
        if let Some(since) = filter.since {
            query = query.filter(date.ge(since));
        }
        if let Some(until) = filter.until {
            query = query.filter(date.lt(until));
        }
        total += query.count().get_result::<i64>(conn)?;
    }
    Ok(total)
}

/// The compound SELECT for one group of segments, every value bound.
pub fn page_sql<'a>(
    prefix: &str,
    segments: &[i64],
    filter: &KeyFilter,
    after: Option<Key>,
    limit: i64,
) -> diesel::query_builder::BoxedSqlQuery<'a, Sqlite, diesel::query_builder::SqlQuery> {
    let mut arm = String::from("SELECT date, id FROM log_keys WHERE segment = ?");
    if filter.code.is_some() {
        arm.push_str(" AND code = ?");
    }
    if filter.method_id.is_some() {
        arm.push_str(" AND method_id = ?");
    }
    if filter.user_id.is_some() {
        arm.push_str(" AND user_id = ?");
    }
    if filter.since.is_some() {
        arm.push_str(" AND date >= ?");
    }
    if filter.until.is_some() {
        arm.push_str(" AND date < ?");
    }
    if after.is_some() {
        // `date <= ?` bounds the key range; the OR only sorts out rows of the same second.
        arm.push_str(" AND date <= ? AND (date < ? OR id < ?)");
    }
    let sql = format!(
        "{prefix}{} ORDER BY date DESC, id DESC LIMIT ?",
        vec![arm; segments.len()].join(" UNION ALL ")
    );
    let mut query = diesel::sql_query(sql).into_boxed::<Sqlite>();
    for &segment in segments {
        query = query.bind::<BigInt, _>(segment);
        if let Some(code) = filter.code {
            query = query.bind::<Integer, _>(code);
        }
        if let Some(method_id) = filter.method_id {
            query = query.bind::<BigInt, _>(method_id);
        }
        if let Some(user_id) = filter.user_id {
            query = query.bind::<BigInt, _>(user_id);
        }
        if let Some(since) = filter.since {
            query = query.bind::<BigInt, _>(since);
        }
        if let Some(until) = filter.until {
            query = query.bind::<BigInt, _>(until);
        }
        if let Some(after) = after {
            query = query
                .bind::<BigInt, _>(after.date)
                .bind::<BigInt, _>(after.date)
                .bind::<BigInt, _>(after.id);
        }
    }
    query.bind::<BigInt, _>(limit)
}
