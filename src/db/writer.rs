//! The DbWriter actor: the one owner of the writing connection. Every batch is one transaction,
//! so a batch is either stored whole or not at all, and the sender may safely retry it.

use std::sync::{Arc, Mutex};

use actix::prelude::*;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::checkpointer::CheckpointHandle;
use super::schema::sources;
use super::store::LogStore;
pub use super::store::{WriteSummary, DEFAULT_SEGMENT_ROWS};
use super::DbError;
use crate::entry::Entry;

pub struct DbWriter {
    conn: SqliteConnection,
    store: LogStore,
    checkpointer: Option<CheckpointHandle>,
}

impl DbWriter {
    /// Starts the writer on a thread of its own. The connection is opened (and migrated) and
    /// the store's state read by the caller's thread, so start-up errors are reported before
    /// anything runs.
    pub fn start(
        mut conn: SqliteConnection,
        segment_rows: u64,
        checkpointer: Option<CheckpointHandle>,
    ) -> Result<Addr<DbWriter>, DbError> {
        let store = LogStore::load(&mut conn, segment_rows)?;
        // SyncArbiter wants a factory; with one thread it is called once, and the slot hands over
        // what was prepared up front.
        let slot = Mutex::new(Some(DbWriter {
            conn,
            store,
            checkpointer,
        }));
        Ok(SyncArbiter::start(1, move || {
            crate::priority::lower_priority("database writer");
            slot.lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .expect("DbWriter runs on exactly one thread")
        }))
    }
}

impl Actor for DbWriter {
    type Context = SyncContext<Self>;
}

/// Store one batch of a source's lines in one transaction.
#[derive(Debug, Message)]
#[rtype(result = "Result<WriteSummary, DbError>")]
pub struct WriteBatch {
    pub source_id: i64,
    /// Shared so the sender keeps the batch to retry if the write fails.
    pub entries: Arc<Vec<Entry>>,
}

/// Returns the id of a source address, creating it the first time it is seen.
#[derive(Debug, Message)]
#[rtype(result = "Result<i64, DbError>")]
pub struct RegisterSource {
    pub address: String,
}

/// Sent once at shutdown, after the last batch: folds the WAL back into the database file.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), DbError>")]
pub struct Checkpoint;

pub fn register_source(conn: &mut SqliteConnection, address: &str) -> Result<i64, DbError> {
    diesel::insert_into(sources::table)
        .values(sources::address.eq(address))
        .on_conflict(sources::address)
        .do_nothing()
        .execute(conn)?;
    Ok(sources::table
        .filter(sources::address.eq(address))
        .select(sources::id)
        .first(conn)?)
}

impl Handler<WriteBatch> for DbWriter {
    type Result = Result<WriteSummary, DbError>;

    fn handle(&mut self, msg: WriteBatch, _: &mut Self::Context) -> Self::Result {
        let summary = self
            .store
            .write_batch(&mut self.conn, msg.source_id, &msg.entries)?;
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.request();
        }
        Ok(summary)
    }
}

impl Handler<RegisterSource> for DbWriter {
    type Result = Result<i64, DbError>;

    fn handle(&mut self, msg: RegisterSource, _: &mut Self::Context) -> Self::Result {
        register_source(&mut self.conn, &msg.address)
    }
}

impl Handler<Checkpoint> for DbWriter {
    type Result = Result<(), DbError>;

    fn handle(&mut self, _: Checkpoint, _: &mut Self::Context) -> Self::Result {
        self.conn
            .batch_execute("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA optimize;")?;
        Ok(())
    }
}
