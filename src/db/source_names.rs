//! Source ids to addresses, for the rows a reader returns.

use std::collections::HashMap;

use diesel::prelude::*;

use super::schema::sources;
use super::DbError;

/// A reader's copy of the `sources` table. Sources are few and never renamed, so an id not
/// found is the only reason to read the table again.
#[derive(Debug, Default)]
pub struct SourceNames {
    addresses: HashMap<i64, String>,
}

impl SourceNames {
    pub fn address_of(
        &mut self,
        conn: &mut SqliteConnection,
        source_id: i64,
    ) -> Result<String, DbError> {
        if !self.addresses.contains_key(&source_id) {
            self.addresses = sources::table
                .select((sources::id, sources::address))
                .load::<(i64, String)>(conn)?
                .into_iter()
                .collect();
        }
        Ok(self
            .addresses
            .get(&source_id)
            .cloned()
            .unwrap_or_else(|| format!("source #{source_id}")))
    }
}
