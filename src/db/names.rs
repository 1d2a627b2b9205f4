//! Small integer ids for the repeated names of a log (users, methods): keys stay narrow, and a
//! filter compares integers. The writer keeps every name in memory (they are few); readers look
//! up the one a filter names. Both go through this file.

use std::collections::HashMap;

use diesel::prelude::*;

use super::DbError;
use crate::limits::MAX_CACHED_NAMES;

/// Rows per INSERT: one bound value each, far under SQLite's limit of 32,766 variables.
const NAMES_PER_STATEMENT: usize = 1_000;

/// The tables that name things; each is `(id INTEGER PRIMARY KEY, name TEXT UNIQUE)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameTable {
    Users,
    Methods,
}

/// Runs `$body` with `$table` standing for the schema module of `$which`: diesel's DSL is typed
/// per table, and the two tables have the same columns.
macro_rules! with_table {
    ($which:expr, $table:ident => $body:expr) => {
        match $which {
            NameTable::Users => {
                use super::schema::users as $table;
                $body
            }
            NameTable::Methods => {
                use super::schema::methods as $table;
                $body
            }
        }
    };
}

/// The id of `name`, if it was ever stored.
pub fn lookup(
    conn: &mut SqliteConnection,
    which: NameTable,
    name: &str,
) -> QueryResult<Option<i64>> {
    with_table!(which, t => t::table
        .filter(t::name.eq(name))
        .select(t::id)
        .first(conn)
        .optional())
}

/// The name of `id`, if it exists.
pub fn name_of(
    conn: &mut SqliteConnection,
    which: NameTable,
    id: i64,
) -> QueryResult<Option<String>> {
    with_table!(which, t => t::table
        .find(id)
        .select(t::name)
        .first(conn)
        .optional())
}

/// Up to `limit` names of the table, with their ids.
fn load_some(
    conn: &mut SqliteConnection,
    which: NameTable,
    limit: usize,
) -> QueryResult<Vec<(String, i64)>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    with_table!(which, t => t::table.select((t::name, t::id)).limit(limit).load(conn))
}

/// Stores the names not stored yet, then returns the ids of all of them. `ON CONFLICT DO
/// NOTHING RETURNING` would return no row for a name that exists, hence the second query.
fn insert_and_fetch(
    conn: &mut SqliteConnection,
    which: NameTable,
    names: &[&str],
) -> QueryResult<Vec<(String, i64)>> {
    let mut ids = Vec::with_capacity(names.len());
    for chunk in names.chunks(NAMES_PER_STATEMENT) {
        with_table!(which, t => {
            let rows: Vec<_> = chunk.iter().map(|name| t::name.eq(*name)).collect();
            diesel::insert_or_ignore_into(t::table).values(rows).execute(conn)?;
            ids.extend(
                t::table
                    .filter(t::name.eq_any(chunk))
                    .select((t::name, t::id))
                    .load::<(String, i64)>(conn)?,
            );
        });
    }
    Ok(ids)
}

/// The writer's cache of one name table, of at most `capacity` names (or one batch's, if a
/// batch has more): a log with ever new user names must not grow the writer without bound.
pub struct Names {
    table: NameTable,
    ids: HashMap<String, i64>,
    capacity: usize,
}

impl Names {
    pub fn load(conn: &mut SqliteConnection, table: NameTable) -> Result<Self, DbError> {
        Self::load_capped(conn, table, MAX_CACHED_NAMES)
    }

    pub fn load_capped(
        conn: &mut SqliteConnection,
        table: NameTable,
        capacity: usize,
    ) -> Result<Self, DbError> {
        Ok(Self {
            table,
            ids: load_some(conn, table, capacity)?.into_iter().collect(),
            capacity,
        })
    }

    /// Gives every name of the batch an id (storing the new ones, in a transaction of their
    /// own) and makes sure the cache holds them all.
    pub fn intern<'a>(
        &mut self,
        conn: &mut SqliteConnection,
        names: impl Iterator<Item = &'a str> + Clone,
    ) -> Result<(), DbError> {
        let mut missing: Vec<&str> = names
            .clone()
            .filter(|n| !self.ids.contains_key(*n))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort_unstable();
        missing.dedup();
        if self.ids.len() + missing.len() > self.capacity {
            // Evicting everything is the simplest bound that keeps the batch's own names:
            // they are all fetched again below, and any other name is looked up when it next
            // comes. Evicted names keep their ids in the table; nothing is renumbered.
            self.ids.clear();
            missing = names.collect();
            missing.sort_unstable();
            missing.dedup();
        }
        let ids = conn.transaction(|conn| insert_and_fetch(conn, self.table, &missing))?;
        self.ids.extend(ids);
        Ok(())
    }

    /// How many names are cached now.
    pub fn cached(&self) -> usize {
        self.ids.len()
    }

    pub fn id(&self, name: &str) -> Result<i64, DbError> {
        self.ids
            .get(name)
            .copied()
            .ok_or_else(|| DbError::UnknownName(name.to_owned()))
    }
}
