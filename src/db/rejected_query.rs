//! The query behind `GET /rejected`.

use diesel::prelude::*;
use diesel::sqlite::Sqlite;

use super::schema::rejected_lines;
use super::source_names::SourceNames;
use super::DbError;

#[derive(Queryable, Selectable)]
#[diesel(table_name = rejected_lines)]
#[diesel(check_for_backend(Sqlite))]
struct StoredRejected {
    id: i64,
    source_id: i64,
    received_at: i64,
    line: Vec<u8>,
    reason: String,
}

/// A line kept because it could not be stored as parsed, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    pub id: i64,
    /// The source's address.
    pub source: String,
    /// Seconds since the epoch.
    pub received_at: i64,
    /// The bytes as received (an over-long line: its first bytes).
    pub line: Vec<u8>,
    pub reason: String,
}

/// A page of rejected lines, newest first, with the id to continue below if more exist.
pub fn fetch_rejected(
    conn: &mut SqliteConnection,
    sources: &mut SourceNames,
    before_id: Option<i64>,
    limit: i64,
) -> Result<(Vec<RejectedRow>, Option<i64>), DbError> {
    let mut query = rejected_lines::table.into_boxed();
    if let Some(id) = before_id {
        query = query.filter(rejected_lines::id.lt(id));
    }
    let mut stored: Vec<StoredRejected> = query
        .order(rejected_lines::id.desc())
        .limit(limit + 1)
        .select(StoredRejected::as_select())
        .load(conn)?;
    let next = if stored.len() as i64 > limit {
        stored.truncate(limit as usize);
        stored.last().map(|r| r.id)
    } else {
        None
    };
    let rows = stored
        .into_iter()
        .map(|r| {
            Ok(RejectedRow {
                id: r.id,
                source: sources.address_of(conn, r.source_id)?,
                received_at: r.received_at,
                line: r.line,
                reason: r.reason,
            })
        })
        .collect::<Result<_, DbError>>()?;
    Ok((rows, next))
}
