//! The query behind `GET /rejected`.

use diesel::connection::DefaultLoadingMode;
use diesel::prelude::*;
use diesel::sqlite::Sqlite;

use crate::db::schema::rejected_lines;
use crate::db::source_names::SourceNames;
use crate::db::DbError;

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

/// How far a page of rejected lines goes.
#[derive(Debug, Clone, Copy)]
pub struct RejectedPage {
    /// Below this id; `None`: from the newest.
    pub before_id: Option<i64>,
    pub limit: i64,
    /// The page stops once its lines hold this many bytes (rejected lines may be up to
    /// `--max-line-bytes` each: 10,000 of them would be hundreds of MB).
    pub max_bytes: usize,
}

/// A page of rejected lines, newest first, with the id to continue below if more exist. Rows
/// are read one at a time, so that a page cut short by its byte budget never loads the rest.
pub fn fetch_rejected(
    conn: &mut SqliteConnection,
    sources: &mut SourceNames,
    page: RejectedPage,
) -> Result<(Vec<RejectedRow>, Option<i64>), DbError> {
    let mut query = rejected_lines::table.into_boxed();
    if let Some(id) = page.before_id {
        query = query.filter(rejected_lines::id.lt(id));
    }
    let rows = query
        .order(rejected_lines::id.desc())
        .limit(page.limit + 1)
        .select(StoredRejected::as_select())
        .load_iter::<StoredRejected, DefaultLoadingMode>(conn)?;
    let mut stored = Vec::new();
    let mut bytes = 0;
    let mut more = false;
    for row in rows {
        let row = row?;
        let full = stored.len() as i64 >= page.limit || bytes >= page.max_bytes;
        if full && !stored.is_empty() {
            more = true;
            break;
        }
        bytes += row.line.len();
        stored.push(row);
    }
    let next = more.then(|| stored.last().map(|r| r.id)).flatten();
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
