//! SQL functions that read a stored line's fields, registered on the writer's connection before
//! migrations run: `2026-11-28-000005_keys_for_queries` fills the keys of rows stored before it
//! with them. They parse with the same parser as ingest, so old and new rows agree.

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::ip_key::ip_key;
use crate::parse::parse_line;

diesel::define_sql_function! {
    /// The line's size field, 0 for `-` (or a line that no longer parses).
    fn loggerator_line_size(line: Text) -> BigInt;
}

diesel::define_sql_function! {
    /// The line's client address as `log_keys.ip` stores it; NULL if it is not an address.
    fn loggerator_line_ip(line: Text) -> Nullable<Binary>;
}

pub fn register(conn: &mut SqliteConnection) -> QueryResult<()> {
    loggerator_line_size_utils::register_impl(conn, |line: String| -> i64 {
        parse_line(&line).ok().and_then(|r| r.size).unwrap_or(0)
    })?;
    loggerator_line_ip_utils::register_impl(conn, |line: String| -> Option<Vec<u8>> {
        let record = parse_line(&line).ok()?;
        record.ip.parse().ok().map(ip_key)
    })
}
