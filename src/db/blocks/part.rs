//! What a part is to everyone who handles one: its states, and what the merge planner and the
//! writer pass of it between them.

use std::collections::HashSet;

use diesel::prelude::*;

use crate::db::schema::parts;
use crate::db::DbError;

/// `parts.state`: being written by a merge, read by queries, replaced by a merge.
pub const BUILDING: i32 = 0;
pub const LIVE: i32 = 1;
pub const REPLACED: i32 = 2;

/// A live part as the merge planner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartInfo {
    pub id: i64,
    pub rows: i64,
    pub received_from: i64,
    pub received_until: i64,
}

/// The ids of the live parts, as a subquery.
pub fn live_ids() -> parts::BoxedQuery<'static, diesel::sqlite::Sqlite, diesel::sql_types::BigInt> {
    parts::table
        .filter(parts::state.eq(LIVE))
        .select(parts::id)
        .into_boxed()
}

/// The parts queries read (a merge's unfinished or replaced parts are not among them), read
/// in the query's transaction.
pub fn live_parts(conn: &mut SqliteConnection) -> Result<HashSet<i64>, DbError> {
    Ok(live_ids().load::<i64>(conn)?.into_iter().collect())
}
