//! The queries behind `GET /logs`, `GET /logs/count` and `GET /rejected`.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Integer, Text};
use diesel::sqlite::Sqlite;

use super::cursor;
use super::schema::{logs, rejected_lines, sources};

/// Filters combined with AND. `method` is expected upper-cased, as it is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub code: Option<i32>,
    pub method: Option<String>,
    pub user: Option<String>,
    /// Inclusive lower bound, seconds since the epoch.
    pub since: Option<i64>,
    /// Exclusive upper bound, seconds since the epoch.
    pub until: Option<i64>,
}

/// A position in the (date DESC, id DESC) order: the last row of the previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub date: i64,
    pub id: i64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        cursor::encode(&[self.date, self.id])
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        let [date, id] = cursor::decode(text)?;
        Some(Cursor { date, id })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    pub filter: LogFilter,
    pub after: Option<Cursor>,
    pub limit: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = logs)]
#[diesel(check_for_backend(Sqlite))]
pub struct LogRow {
    pub id: i64,
    pub source_id: i64,
    pub ip: String,
    pub user: Option<String>,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPage {
    pub rows: Vec<LogRow>,
    /// Set when more rows match after the last one of this page.
    pub next: Option<Cursor>,
}

fn filtered(filter: &LogFilter) -> logs::BoxedQuery<'static, Sqlite> {
    let mut query = logs::table.into_boxed();
    if let Some(code) = filter.code {
        query = query.filter(logs::code.eq(code));
    }
    if let Some(method) = &filter.method {
        query = query.filter(logs::method.eq(method.clone()));
    }
    match filter.user.as_deref() {
        // Logs write `-` for "no user", which is stored as NULL.
        Some("-") => query = query.filter(logs::user.is_null()),
        Some(user) => query = query.filter(logs::user.eq(user.to_owned())),
        None => {}
    }
    if let Some(since) = filter.since {
        query = query.filter(logs::date.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(logs::date.lt(until));
    }
    query
}

fn page_query(q: &LogQuery) -> logs::BoxedQuery<'static, Sqlite> {
    let mut query = filtered(&q.filter);
    if let Some(after) = q.after {
        // `date <= ?` bounds the index range; the OR only sorts out rows of the same second.
        query = query.filter(logs::date.le(after.date)).filter(
            sql::<Bool>("(date < ")
                .bind::<BigInt, _>(after.date)
                .sql(" OR id < ")
                .bind::<BigInt, _>(after.id)
                .sql(")"),
        );
    }
    query
        .order((logs::date.desc(), logs::id.desc()))
        .limit(q.limit + 1)
}

pub fn fetch_page(conn: &mut SqliteConnection, q: &LogQuery) -> QueryResult<LogPage> {
    let mut rows: Vec<LogRow> = page_query(q).select(LogRow::as_select()).load(conn)?;
    // One row past the limit was asked for only to learn whether another page exists.
    let next = if rows.len() as i64 > q.limit {
        rows.truncate(q.limit as usize);
        rows.last().map(|r| Cursor {
            date: r.date,
            id: r.id,
        })
    } else {
        None
    };
    Ok(LogPage { rows, next })
}

pub fn count(conn: &mut SqliteConnection, filter: &LogFilter) -> QueryResult<i64> {
    filtered(filter).count().get_result(conn)
}

pub fn source_addresses(conn: &mut SqliteConnection) -> QueryResult<Vec<(i64, String)>> {
    sources::table
        .select((sources::id, sources::address))
        .load(conn)
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = rejected_lines)]
#[diesel(check_for_backend(Sqlite))]
pub struct RejectedRow {
    pub id: i64,
    pub source_id: i64,
    pub received_at: i64,
    pub line: Vec<u8>,
    pub reason: String,
}

/// A page of rejected lines, newest first; `next` is the id to continue below.
pub fn fetch_rejected(
    conn: &mut SqliteConnection,
    before_id: Option<i64>,
    limit: i64,
) -> QueryResult<(Vec<RejectedRow>, Option<i64>)> {
    let mut query = rejected_lines::table.into_boxed();
    if let Some(id) = before_id {
        query = query.filter(rejected_lines::id.lt(id));
    }
    let mut rows: Vec<RejectedRow> = query
        .order(rejected_lines::id.desc())
        .limit(limit + 1)
        .select(RejectedRow::as_select())
        .load(conn)?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok((rows, next))
}

/// `EXPLAIN QUERY PLAN` of the page query: the detail column of each step.
pub fn explain_page(conn: &mut SqliteConnection, q: &LogQuery) -> QueryResult<Vec<String>> {
    let query = page_query(q).select(LogRow::as_select());
    let steps: Vec<(i32, i32, i32, String)> = ExplainQueryPlan(query).load(conn)?;
    Ok(steps.into_iter().map(|(_, _, _, detail)| detail).collect())
}

/// Prefixes any query with `EXPLAIN QUERY PLAN`, keeping its bound values.
struct ExplainQueryPlan<Q>(Q);

impl<Q> QueryId for ExplainQueryPlan<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: QueryFragment<Sqlite>> QueryFragment<Sqlite> for ExplainQueryPlan<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql("EXPLAIN QUERY PLAN ");
        self.0.walk_ast(out.reborrow())
    }
}

impl<Q> diesel::query_builder::Query for ExplainQueryPlan<Q> {
    type SqlType = (Integer, Integer, Integer, Text);
}

impl<Q> RunQueryDsl<SqliteConnection> for ExplainQueryPlan<Q> {}
