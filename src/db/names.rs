//! Small integer ids for the repeated names of a log (users, methods): keys stay narrow, and a
//! filter compares integers. The writer keeps every name in memory: they are few.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::DbError;

#[derive(QueryableByName)]
struct NameRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
}

pub struct Names {
    table: &'static str,
    ids: HashMap<String, i64>,
}

impl Names {
    pub const USERS: &'static str = "users";
    pub const METHODS: &'static str = "methods";

    pub fn load(conn: &mut SqliteConnection, table: &'static str) -> Result<Self, DbError> {
        let rows: Vec<NameRow> =
            diesel::sql_query(format!("SELECT id, name FROM {table}")).load(conn)?;
        Ok(Self {
            table,
            ids: rows.into_iter().map(|r| (r.name, r.id)).collect(),
        })
    }

    /// Gives every name not seen before an id, in one transaction of its own.
    pub fn intern<'a>(
        &mut self,
        conn: &mut SqliteConnection,
        names: impl Iterator<Item = &'a str>,
    ) -> Result<(), DbError> {
        let mut new: Vec<&str> = names.filter(|n| !self.ids.contains_key(*n)).collect();
        if new.is_empty() {
            return Ok(());
        }
        new.sort_unstable();
        new.dedup();
        let table = self.table;
        let ids = conn.transaction(|conn| {
            new.iter()
                .map(|name| {
                    diesel::sql_query(format!("INSERT OR IGNORE INTO {table} (name) VALUES (?)"))
                        .bind::<Text, _>(*name)
                        .execute(conn)?;
                    let row: NameRow =
                        diesel::sql_query(format!("SELECT id, name FROM {table} WHERE name = ?"))
                            .bind::<Text, _>(*name)
                            .get_result(conn)?;
                    Ok((row.name, row.id))
                })
                .collect::<Result<Vec<_>, diesel::result::Error>>()
        })?;
        self.ids.extend(ids);
        Ok(())
    }

    pub fn id(&self, name: &str) -> Result<i64, DbError> {
        self.ids
            .get(name)
            .copied()
            .ok_or_else(|| DbError::UnknownName(name.to_owned()))
    }
}
