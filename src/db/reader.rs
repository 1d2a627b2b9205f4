//! Reader actors: a pool on a SyncArbiter, each with its own read-only connection, so queries
//! run in parallel with each other and with the writer (WAL). They answer in rows; bounding
//! the work in flight is the HTTP side's business (`http::reader_pool`).

use std::path::{Path, PathBuf};

use actix::prelude::*;
use diesel::SqliteConnection;

use super::connection::open_reader;
use super::log_query::{self, LogFilter, LogPage, LogQuery};
use super::rejected_query::{self, RejectedRow};
use super::source_names::SourceNames;
use super::sync_actors::{start_sync_actors, ThreadPriority};
use super::DbError;

pub struct Reader {
    conn: SqliteConnection,
    sources: SourceNames,
}

impl Reader {
    pub fn new(conn: SqliteConnection) -> Self {
        Self {
            conn,
            sources: SourceNames::default(),
        }
    }

    /// Starts `threads` readers, each on a thread of its own with its own connection (a fresh
    /// one should a reader stop).
    pub fn start_pool(path: &Path, threads: usize) -> Result<Addr<Reader>, DbError> {
        let path: PathBuf = path.to_owned();
        start_sync_actors("reader", threads, ThreadPriority::Normal, move || {
            Ok(Reader::new(open_reader(&path)?))
        })
    }
}

impl Actor for Reader {
    type Context = SyncContext<Self>;
}

/// A page of logs.
#[derive(Debug, Message)]
#[rtype(result = "Result<LogPage, DbError>")]
pub struct QueryLogs(pub LogQuery);

/// How many lines match; filters on lines read at most `max_scan` lines to find out.
#[derive(Debug, Message)]
#[rtype(result = "Result<i64, DbError>")]
pub struct CountLogs {
    pub filter: LogFilter,
    pub max_scan: usize,
}

/// A page of rejected lines (newest first), and the id to continue below if more exist.
#[derive(Debug, Message)]
#[rtype(result = "Result<(Vec<RejectedRow>, Option<i64>), DbError>")]
pub struct QueryRejected {
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl Handler<QueryLogs> for Reader {
    type Result = Result<LogPage, DbError>;

    fn handle(&mut self, msg: QueryLogs, _: &mut Self::Context) -> Self::Result {
        log_query::fetch_page(&mut self.conn, &mut self.sources, &msg.0)
    }
}

impl Handler<CountLogs> for Reader {
    type Result = Result<i64, DbError>;

    fn handle(&mut self, msg: CountLogs, _: &mut Self::Context) -> Self::Result {
        log_query::count(&mut self.conn, &msg.filter, msg.max_scan)
    }
}

impl Handler<QueryRejected> for Reader {
    type Result = Result<(Vec<RejectedRow>, Option<i64>), DbError>;

    fn handle(&mut self, msg: QueryRejected, _: &mut Self::Context) -> Self::Result {
        rejected_query::fetch_rejected(&mut self.conn, &mut self.sources, msg.before_id, msg.limit)
    }
}
