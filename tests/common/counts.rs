//! Storage's invariants, checked against the rows themselves: every key matches its line, and
//! every count table is the GROUP BY of the keys it sums.

use diesel::prelude::*;
use loggerator::db::connection::open_reader;
use loggerator::db::schema::{log_keys, log_lines};

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grouped {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub k: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub n: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub bytes: i64,
}

pub fn grouped(conn: &mut SqliteConnection, sql: &str) -> Vec<Grouped> {
    let mut rows = diesel::sql_query(sql).load::<Grouped>(conn).unwrap();
    rows.sort();
    rows
}

/// Each key holds its line's source, size and address, and every count table holds the
/// GROUP BY of the keys it sums, rows and bytes.
pub fn assert_keys_and_counts_agree_with_lines(path: &std::path::Path, rows: usize) {
    let mut conn = open_reader(path).unwrap();
    /// (id, source, size, address, line, the line's source)
    type KeyAndLine = (i64, i64, i64, Option<Vec<u8>>, String, i64);
    let keys: Vec<KeyAndLine> = log_keys::table
        .inner_join(log_lines::table.on(log_lines::id.eq(log_keys::id)))
        .select((
            log_keys::id,
            log_keys::source_id,
            log_keys::size,
            log_keys::ip,
            log_lines::line,
            log_lines::source_id,
        ))
        .load(&mut conn)
        .unwrap();
    assert_eq!(keys.len(), rows);
    for (id, source_id, size, ip, line, line_source) in &keys {
        let r = loggerator::parse::parse_line(line).unwrap();
        assert_eq!(source_id, line_source, "row {id}");
        assert_eq!(*size, r.size.unwrap_or(0), "row {id}");
        let expected = r.ip.parse().ok().map(loggerator::db::ip_key::ip_key);
        assert_eq!(ip, &expected, "row {id}");
    }
    let day = "(date / 86400 - (date % 86400 < 0))";
    let hour = "(date / 3600 - (date % 3600 < 0))";
    for (table, columns, from_keys) in [
        (
            "day_counts",
            "day || ' ' || source_id || ' ' || code || ' ' || method_id || ' ' || user_id",
            format!(
                "{day} || ' ' || source_id || ' ' || code || ' ' || method_id || ' ' || user_id"
            ),
        ),
        (
            "hour_counts",
            "hour || ' ' || source_id || ' ' || code",
            format!("{hour} || ' ' || source_id || ' ' || code"),
        ),
        (
            "key_counts",
            "source_id || ' ' || code || ' ' || method_id || ' ' || user_id",
            "source_id || ' ' || code || ' ' || method_id || ' ' || user_id".to_owned(),
        ),
    ] {
        let counted = grouped(
            &mut conn,
            &format!("SELECT {columns} AS k, n, bytes FROM {table}"),
        );
        let from_keys = grouped(
            &mut conn,
            &format!(
                "SELECT {from_keys} AS k, count(*) AS n, sum(size) AS bytes FROM log_keys GROUP BY 1"
            ),
        );
        assert!(!counted.is_empty());
        assert_eq!(counted, from_keys, "{table}");
    }
}
