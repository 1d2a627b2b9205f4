//! Storage's invariants, checked against the rows themselves: every key matches its line, and
//! every count table is the GROUP BY of the keys it sums.

use diesel::prelude::*;
use loggerator::db::connection::open_reader;

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

/// A stored row, from the hot tables or a block.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AnyRow {
    pub id: i64,
    pub date: i64,
    pub code: i32,
    pub method_id: i64,
    pub user_id: i64,
    pub source_id: i64,
    pub size: i64,
    pub ip: Option<Vec<u8>>,
    pub line: String,
    /// `log_lines.source_id` for a hot row; the key's own for a block's.
    pub line_source: i64,
}

#[derive(QueryableByName)]
struct HotRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    date: i64,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    code: i32,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    method_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    user_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    source_id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    size: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Binary>)]
    ip: Option<Vec<u8>>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    line_source: i64,
}

/// Every row the readers see, in id order: the hot segments' keys with their lines, and every
/// block's rows (hot rows of compacted segments still being deleted are not rows), read in
/// one transaction as the readers do.
pub fn all_rows(conn: &mut SqliteConnection) -> Vec<AnyRow> {
    conn.transaction(|conn| Ok::<_, diesel::result::Error>(all_rows_now(conn)))
        .unwrap()
}

fn all_rows_now(conn: &mut SqliteConnection) -> Vec<AnyRow> {
    use loggerator::db::blocks::format::{decode_keys, LinesBlob};
    use loggerator::db::schema::{block_data, blocks, parts};
    let mut rows: Vec<AnyRow> = diesel::sql_query(
        "SELECT k.id, k.date, k.code, k.method_id, k.user_id, k.source_id, k.size, k.ip, \
         l.line, l.source_id AS line_source FROM log_keys k JOIN log_lines l ON l.id = k.id \
         WHERE k.segment IN (SELECT id FROM hot_segments)",
    )
    .load::<HotRow>(conn)
    .unwrap()
    .into_iter()
    .map(|r| AnyRow {
        id: r.id,
        date: r.date,
        code: r.code,
        method_id: r.method_id,
        user_id: r.user_id,
        source_id: r.source_id,
        size: r.size,
        ip: r.ip,
        line: r.line,
        line_source: r.line_source,
    })
    .collect();
    let stored: Vec<(i64, i64, Vec<u8>, Vec<u8>)> = blocks::table
        .inner_join(block_data::table.on(block_data::block.eq(blocks::id)))
        .inner_join(parts::table.on(parts::id.eq(blocks::part)))
        .filter(parts::state.eq(loggerator::db::blocks::part::LIVE))
        .select((
            blocks::id,
            blocks::rows,
            block_data::keys,
            block_data::lines,
        ))
        .load(conn)
        .unwrap();
    let dicts = loggerator::db::blocks::dict::Dicts::default();
    for (block, n, keys, lines) in stored {
        let keys = decode_keys(&keys).unwrap();
        let lines = LinesBlob::open(&lines).unwrap();
        let dict = dicts.for_lines(conn, block, &lines).unwrap();
        let lines = lines.all(dict.as_deref(), keys.len()).unwrap();
        assert_eq!(keys.len() as i64, n, "block {block}'s header");
        for i in 0..keys.len() {
            rows.push(AnyRow {
                id: keys.id[i],
                date: keys.date[i],
                code: keys.code[i],
                method_id: keys.method_id[i],
                user_id: keys.user_id[i],
                source_id: keys.source_id[i],
                size: keys.size[i],
                ip: keys.ip(i).map(<[u8]>::to_vec),
                line: lines.get(i).to_owned(),
                line_source: keys.source_id[i],
            });
        }
    }
    rows.sort();
    rows
}

/// Each key holds its line's source, size and address, no row is stored twice, and every
/// count table holds the GROUP BY of the rows it sums, rows and bytes.
pub fn assert_keys_and_counts_agree_with_lines(path: &std::path::Path, rows: usize) {
    let mut conn = open_reader(path).unwrap();
    let all = all_rows(&mut conn);
    assert_eq!(all.len(), rows);
    assert!(
        all.windows(2).all(|w| w[0].id < w[1].id),
        "an id stored twice"
    );
    for row in &all {
        let r = loggerator::parse::parse_line(&row.line).unwrap();
        assert_eq!(row.source_id, row.line_source, "row {}", row.id);
        assert_eq!(row.size, r.size.unwrap_or(0), "row {}", row.id);
        assert_eq!(row.date, r.date, "row {}", row.id);
        assert_eq!(row.code, r.code, "row {}", row.id);
        let expected = r.ip.parse().ok().map(loggerator::db::ip_key::ip_key);
        assert_eq!(row.ip, expected, "row {}", row.id);
    }
    type Key = fn(&AnyRow) -> String;
    let tables: [(&str, &str, Key); 3] = [
        (
            "day_counts",
            "day || ' ' || source_id || ' ' || code || ' ' || method_id || ' ' || user_id",
            |r| {
                format!(
                    "{} {} {} {} {}",
                    r.date.div_euclid(86_400),
                    r.source_id,
                    r.code,
                    r.method_id,
                    r.user_id
                )
            },
        ),
        (
            "hour_counts",
            "hour || ' ' || source_id || ' ' || code",
            |r| format!("{} {} {}", r.date.div_euclid(3_600), r.source_id, r.code),
        ),
        (
            "key_counts",
            "source_id || ' ' || code || ' ' || method_id || ' ' || user_id",
            |r| format!("{} {} {} {}", r.source_id, r.code, r.method_id, r.user_id),
        ),
    ];
    for (table, columns, key) in tables {
        let counted = grouped(
            &mut conn,
            &format!("SELECT {columns} AS k, n, bytes FROM {table}"),
        );
        let mut from_rows: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
        for row in &all {
            let tally = from_rows.entry(key(row)).or_default();
            tally.0 += 1;
            tally.1 += row.size;
        }
        let mut from_rows: Vec<Grouped> = from_rows
            .into_iter()
            .map(|(k, (n, bytes))| Grouped { k, n, bytes })
            .collect();
        from_rows.sort();
        assert!(!counted.is_empty());
        assert_eq!(counted, from_rows, "{table}");
    }
}
