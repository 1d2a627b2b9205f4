//! The tables lines are counted from, described by what their columns hold and the period
//! each row covers, and the SQL that sums or groups their rows for a [`Filter`]. `/stats` picks
//! the cheapest that holds a query's keys and filters; `/logs/count` and a page's emptiness
//! check read the all-time and daily sums.

use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Binary, Integer, Nullable, Text};
use diesel::sqlite::Sqlite;

use super::filter::Filter;
use super::stat_key::StatKey;
use crate::limits::{SECONDS_PER_DAY, SECONDS_PER_HOUR};

/// A table groups can be read from, described by what its columns hold: the cheapest that
/// holds a query's keys and filters answers it ([`CountTable::for_query`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CountTable {
    name: &'static str,
    /// The column that dates its rows and the seconds of its unit; `None` for all time.
    time: Option<(&'static str, i64)>,
    /// Whether it has `method_id` and `user_id`.
    users_and_methods: bool,
    /// Whether it has `ip`.
    addresses: bool,
    /// The lines of a group, and their bytes, as SQL.
    lines: &'static str,
    bytes: &'static str,
}

/// Every stored key, hot (compacted ones are read from blocks alongside).
pub(crate) const KEYS: CountTable = CountTable {
    name: "log_keys",
    time: Some(("date", 1)),
    users_and_methods: true,
    addresses: true,
    lines: "count(*)",
    bytes: "coalesce(sum(size), 0)",
};
pub(crate) const TOTALS: CountTable = CountTable {
    name: "key_counts",
    time: None,
    users_and_methods: true,
    addresses: false,
    lines: "coalesce(sum(n), 0)",
    bytes: "coalesce(sum(bytes), 0)",
};
pub(crate) const DAYS: CountTable = CountTable {
    name: "day_counts",
    time: Some(("day", SECONDS_PER_DAY)),
    users_and_methods: true,
    addresses: false,
    lines: "coalesce(sum(n), 0)",
    bytes: "coalesce(sum(bytes), 0)",
};
pub(crate) const HOURS: CountTable = CountTable {
    name: "hour_counts",
    time: Some(("hour", SECONDS_PER_HOUR)),
    users_and_methods: false,
    addresses: false,
    lines: "coalesce(sum(n), 0)",
    bytes: "coalesce(sum(bytes), 0)",
};

impl CountTable {
    /// The count table a query is answered from, smallest first: all-time sums when it has no
    /// date range or time key, else the first whose unit divides its time buckets. `None`
    /// when only the keys hold what it asks.
    pub(crate) fn for_query(by: &[StatKey], filter: &Filter) -> Option<CountTable> {
        let ranged = filter.since.is_some() || filter.until.is_some();
        [TOTALS, DAYS, HOURS].into_iter().find(|table| {
            (table.time.is_some() || !ranged)
                && by.iter().all(|&key| table.holds(key))
                && table.filters(filter)
        })
    }

    fn holds(&self, key: StatKey) -> bool {
        match key {
            StatKey::Code | StatKey::Class | StatKey::Source => true,
            StatKey::Method | StatKey::User => self.users_and_methods,
            StatKey::Ip => self.addresses,
            StatKey::Path | StatKey::Referer | StatKey::UserAgent => false,
            StatKey::Day | StatKey::Hour | StatKey::Time(_) => {
                let period = key.period().unwrap_or(0);
                self.time.is_some_and(|(_, unit)| period % unit == 0)
            }
        }
    }

    /// Whether it has the columns the filter looks at.
    fn filters(&self, f: &Filter) -> bool {
        (self.users_and_methods || f.method_ids.is_empty() && f.user_ids.is_empty())
            && (self.addresses || f.ip_ranges.is_empty())
    }

    /// Seconds in one of its rows' periods, when a row counts more than one second's lines: a
    /// range is then read from it in whole periods and from the keys at its edges.
    pub(crate) fn unit(&self) -> Option<i64> {
        self.time.map(|(_, unit)| unit).filter(|&unit| unit > 1)
    }

    /// The SQL that gives `key` in this table, as text (SQLite casts the integers).
    fn column(&self, key: StatKey) -> String {
        let text = |sql: &str| format!("CAST({sql} AS TEXT)");
        match key {
            StatKey::Code => text("code"),
            StatKey::Class => text("code / 100"),
            StatKey::Method => text("method_id"),
            StatKey::User => text("user_id"),
            StatKey::Source => text("source_id"),
            StatKey::Ip => "hex(ip)".to_owned(),
            StatKey::Day | StatKey::Hour | StatKey::Time(_) => {
                let (column, unit) = self.time.unwrap_or(("NULL", 1));
                // Buckets of `per` units, rounded towards the past as `div_euclid` does.
                match key.period().unwrap_or(unit) / unit {
                    1 => text(column),
                    per => text(&format!("{column} / {per} - ({column} % {per} < 0)")),
                }
            }
            // Never asked of a table: these keys are read from the lines.
            StatKey::Path | StatKey::Referer | StatKey::UserAgent => "NULL".to_owned(),
        }
    }

    /// `SELECT k1, k2, lines, bytes FROM table WHERE ...`, one group per value of the one or
    /// two keys (`k2` NULL for one): the rows the filter selects within `range` (in the table's
    /// own unit; the filter's own dates are left aside), and for `log_keys` only in `segments`.
    pub(crate) fn group(
        &self,
        by: &[StatKey],
        filter: &Filter,
        range: (Option<i64>, Option<i64>),
        segments: Option<&[i64]>,
    ) -> BoxedSqlQuery<'static, Sqlite, SqlQuery> {
        let k1 = self.column(by[0]);
        let k2 = by.get(1).map_or("NULL".to_owned(), |&key| self.column(key));
        let columns = format!(
            "{k1} AS k1, {k2} AS k2, {} AS n, {} AS bytes",
            self.lines, self.bytes
        );
        let mut select = self.select(&columns, filter, range, segments);
        select.text.push_str(" GROUP BY 1, 2");
        select.query()
    }

    /// The lines the filter selects within `range`, as [`CountTable::group`] reads them. A
    /// table without addresses leaves an address filter aside: the sum is then an upper bound
    /// (a page's "is anything there at all").
    pub(crate) fn sum(
        &self,
        conn: &mut SqliteConnection,
        filter: &Filter,
        range: (Option<i64>, Option<i64>),
        segments: Option<&[i64]>,
    ) -> QueryResult<i64> {
        let columns = format!("{} AS n", self.lines);
        let select = self.select(&columns, filter, range, segments);
        Ok(select.query().get_result::<Lines>(conn)?.n)
    }

    fn select(
        &self,
        columns: &str,
        filter: &Filter,
        range: (Option<i64>, Option<i64>),
        segments: Option<&[i64]>,
    ) -> Select {
        // Only addresses may be left aside (see `sum`); a table is never asked for the others
        // it lacks (`for_query`).
        debug_assert!(
            self.users_and_methods || filter.method_ids.is_empty() && filter.user_ids.is_empty()
        );
        let mut sql = Select {
            text: format!("SELECT {columns} FROM {} WHERE 1", self.name),
            binds: Vec::new(),
        };
        if let Some(segments) = segments {
            sql.any_of("segment", segments);
        }
        let codes = filter.codes.iter();
        sql.ranges("code", codes.map(|&(l, h)| (Bind::Code(l), Bind::Code(h))));
        sql.any_of("source_id", &filter.source_ids);
        if self.users_and_methods {
            sql.any_of("method_id", &filter.method_ids);
            sql.any_of("user_id", &filter.user_ids);
        }
        if self.addresses {
            let ips = filter.ip_ranges.iter();
            sql.ranges(
                "ip",
                ips.map(|(l, h)| (Bind::Blob(l.clone()), Bind::Blob(h.clone()))),
            );
        }
        if let Some((column, _)) = self.time {
            for (bound, op) in [(range.0, ">="), (range.1, "<")] {
                if let Some(value) = bound {
                    sql.text.push_str(&format!(" AND {column} {op} ?"));
                    sql.binds.push(Bind::Int(value));
                }
            }
        }
        sql
    }
}

/// A value bound to a `?` of the SQL.
enum Bind {
    Int(i64),
    Code(i32),
    Blob(Vec<u8>),
}

/// A statement's text and the values bound to its `?`s, built together in the same order.
struct Select {
    text: String,
    binds: Vec<Bind>,
}

impl Select {
    /// ` AND column IN (?, ...)`, unless `ids` is empty.
    fn any_of(&mut self, column: &str, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        self.text.push_str(&format!(" AND {column} IN ("));
        for (i, id) in ids.iter().enumerate() {
            self.text.push_str(if i == 0 { "?" } else { ", ?" });
            self.binds.push(Bind::Int(*id));
        }
        self.text.push(')');
    }

    /// ` AND (column BETWEEN ? AND ? OR ...)`, unless there are no ranges.
    fn ranges(&mut self, column: &str, ranges: impl Iterator<Item = (Bind, Bind)>) {
        let mut first = true;
        for (low, high) in ranges {
            let or = if first { " AND (" } else { " OR " };
            self.text.push_str(&format!("{or}{column} BETWEEN ? AND ?"));
            self.binds.extend([low, high]);
            first = false;
        }
        if !first {
            self.text.push(')');
        }
    }

    fn query(self) -> BoxedSqlQuery<'static, Sqlite, SqlQuery> {
        let mut query = diesel::sql_query(self.text).into_boxed::<Sqlite>();
        for bind in self.binds {
            query = match bind {
                Bind::Int(value) => query.bind::<BigInt, _>(value),
                Bind::Code(value) => query.bind::<Integer, _>(value),
                Bind::Blob(value) => query.bind::<Binary, _>(value),
            };
        }
        query
    }
}

/// A group as the SQL gives it: each key as text (`NULL` for none), its lines and bytes.
#[derive(QueryableByName)]
pub(crate) struct GroupRow {
    #[diesel(sql_type = Nullable<Text>)]
    pub k1: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub k2: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
    #[diesel(sql_type = BigInt)]
    pub bytes: i64,
}

#[derive(QueryableByName)]
struct Lines {
    #[diesel(sql_type = BigInt)]
    n: i64,
}
