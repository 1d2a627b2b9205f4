//! The query behind `GET /rejected`.

use diesel::prelude::*;
use diesel::sqlite::Sqlite;

use super::schema::rejected_lines;

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
