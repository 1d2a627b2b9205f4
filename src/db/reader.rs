//! Reader actors: a pool on a SyncArbiter, each with its own read-only connection, so queries
//! run in parallel with each other and with the writer (WAL).

use std::collections::HashMap;
use std::sync::Mutex;

use actix::prelude::*;
use diesel::SqliteConnection;
use tokio::sync::OwnedSemaphorePermit;

use super::log_query::{self, LogFilter, LogPage, LogQuery};
use super::rejected_query::{self, RejectedRow};
use super::DbError;

pub struct Reader {
    conn: SqliteConnection,
    /// Source id to address; sources are few and never renamed, so a miss is the only refresh.
    sources: HashMap<i64, String>,
}

impl Reader {
    pub fn new(conn: SqliteConnection) -> Self {
        Self {
            conn,
            sources: HashMap::new(),
        }
    }

    /// Starts one reader per connection, each on a thread of its own.
    pub fn start_pool(conns: Vec<SqliteConnection>) -> Addr<Reader> {
        let threads = conns.len().max(1);
        let slots = Mutex::new(conns);
        SyncArbiter::start(threads, move || {
            let conn = slots
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop()
                .expect("one connection was opened for each reader thread");
            Reader::new(conn)
        })
    }

    fn address_of(&mut self, source_id: i64) -> Result<String, DbError> {
        if !self.sources.contains_key(&source_id) {
            self.sources = log_query::source_addresses(&mut self.conn)?
                .into_iter()
                .collect();
        }
        Ok(self
            .sources
            .get(&source_id)
            .cloned()
            .unwrap_or_else(|| format!("source #{source_id}")))
    }
}

impl Actor for Reader {
    type Context = SyncContext<Self>;
}

/// A page of logs, each row with its source's address.
#[derive(Debug, Message)]
#[rtype(result = "Result<(LogPage, Vec<String>), DbError>")]
pub struct QueryLogs {
    pub query: LogQuery,
    /// Held until the query has run, so the caller's bound on queued work covers the whole
    /// time a reader spends on it, even after the caller has stopped waiting.
    pub permit: Option<OwnedSemaphorePermit>,
}

#[derive(Debug, Message)]
#[rtype(result = "Result<i64, DbError>")]
pub struct CountLogs {
    pub filter: LogFilter,
    pub permit: Option<OwnedSemaphorePermit>,
}

/// A page of rejected lines (newest first), each with its source's address, and the id to
/// continue below if more exist.
#[derive(Debug, Message)]
#[rtype(result = "Result<(Vec<(RejectedRow, String)>, Option<i64>), DbError>")]
pub struct QueryRejected {
    pub before_id: Option<i64>,
    pub limit: i64,
    pub permit: Option<OwnedSemaphorePermit>,
}

impl Handler<QueryRejected> for Reader {
    type Result = Result<(Vec<(RejectedRow, String)>, Option<i64>), DbError>;

    fn handle(&mut self, msg: QueryRejected, _: &mut Self::Context) -> Self::Result {
        let (rows, next) =
            rejected_query::fetch_rejected(&mut self.conn, msg.before_id, msg.limit)?;
        let rows = rows
            .into_iter()
            .map(|row| {
                let source = self.address_of(row.source_id)?;
                Ok((row, source))
            })
            .collect::<Result<_, DbError>>()?;
        Ok((rows, next))
    }
}

impl Handler<QueryLogs> for Reader {
    type Result = Result<(LogPage, Vec<String>), DbError>;

    fn handle(&mut self, msg: QueryLogs, _: &mut Self::Context) -> Self::Result {
        let page = log_query::fetch_page(&mut self.conn, &msg.query)?;
        let addresses = page
            .rows
            .iter()
            .map(|row| self.address_of(row.source_id))
            .collect::<Result<_, _>>()?;
        Ok((page, addresses))
    }
}

impl Handler<CountLogs> for Reader {
    type Result = Result<i64, DbError>;

    fn handle(&mut self, msg: CountLogs, _: &mut Self::Context) -> Self::Result {
        log_query::count(&mut self.conn, &msg.filter)
    }
}
