//! Reader actors: a pool on a SyncArbiter, each with its own read-only connection, so queries
//! run in parallel with each other and with the writer (WAL). They answer in rows; bounding
//! the work in flight is the HTTP side's business (`http::reader_pool`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix::prelude::*;
use diesel::SqliteConnection;

use super::log_query::{self, LinesPage, LogFilter, LogPage, LogQuery, LogRow};
use super::rejected_query::{self, RejectedPage, RejectedRow};
use super::stats_query::{self, StatRow, StatsQuery};
use super::tail;
use crate::db::blocks::cache::BlockCache;
use crate::db::connection::open_reader;
use crate::db::source_names::SourceNames;
use crate::db::sync_actors::{start_sync_actors, ThreadPriority};
use crate::db::DbError;

pub struct Reader {
    conn: SqliteConnection,
    sources: SourceNames,
    /// Shared by the pool.
    cache: Arc<BlockCache>,
}

impl Reader {
    pub fn new(conn: SqliteConnection, cache: Arc<BlockCache>) -> Self {
        Self {
            conn,
            sources: SourceNames::default(),
            cache,
        }
    }

    /// Starts `threads` readers, each on a thread of its own with its own connection (a fresh
    /// one should a reader stop), sharing one cache of decoded blocks.
    pub fn start_pool(
        path: &Path,
        threads: usize,
        cache: Arc<BlockCache>,
    ) -> Result<Addr<Reader>, DbError> {
        let path: PathBuf = path.to_owned();
        start_sync_actors("reader", threads, ThreadPriority::Normal, move || {
            Ok(Reader::new(open_reader(&path)?, cache.clone()))
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

/// A page's lines alone, as text (a text export's chunk).
#[derive(Debug, Message)]
#[rtype(result = "Result<LinesPage, DbError>")]
pub struct QueryLines(pub LogQuery);

/// How many lines match; filters on lines read at most `max_scan` lines to find out.
#[derive(Debug, Message)]
#[rtype(result = "Result<i64, DbError>")]
pub struct CountLogs {
    pub filter: LogFilter,
    pub max_scan: usize,
}

/// Lines and bytes grouped by one or two keys.
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<StatRow>, DbError>")]
pub struct QueryStats(pub StatsQuery);

/// Stored lines after an id, in id order, for a follower catching up; with the last id stored.
#[derive(Debug, Message)]
#[rtype(result = "Result<(Vec<LogRow>, i64), DbError>")]
pub struct QueryTail {
    pub after_id: i64,
    pub limit: i64,
    /// A chunk stops once its lines hold this many bytes (see `tail::rows_after`).
    pub max_bytes: usize,
}

/// A page of rejected lines (newest first), and the id to continue below if more exist.
#[derive(Debug, Message)]
#[rtype(result = "Result<(Vec<RejectedRow>, Option<i64>), DbError>")]
pub struct QueryRejected(pub RejectedPage);

impl Handler<QueryLogs> for Reader {
    type Result = Result<LogPage, DbError>;

    fn handle(&mut self, msg: QueryLogs, _: &mut Self::Context) -> Self::Result {
        log_query::fetch_page(&mut self.conn, &self.cache, &mut self.sources, &msg.0)
    }
}

impl Handler<QueryLines> for Reader {
    type Result = Result<LinesPage, DbError>;

    fn handle(&mut self, msg: QueryLines, _: &mut Self::Context) -> Self::Result {
        log_query::fetch_lines(&mut self.conn, &self.cache, &mut self.sources, &msg.0)
    }
}

impl Handler<CountLogs> for Reader {
    type Result = Result<i64, DbError>;

    fn handle(&mut self, msg: CountLogs, _: &mut Self::Context) -> Self::Result {
        log_query::count(&mut self.conn, &self.cache, &msg.filter, msg.max_scan)
    }
}

impl Handler<QueryStats> for Reader {
    type Result = Result<Vec<StatRow>, DbError>;

    fn handle(&mut self, msg: QueryStats, _: &mut Self::Context) -> Self::Result {
        stats_query::stats(&mut self.conn, &self.cache, &mut self.sources, &msg.0)
    }
}

impl Handler<QueryTail> for Reader {
    type Result = Result<(Vec<LogRow>, i64), DbError>;

    fn handle(&mut self, msg: QueryTail, _: &mut Self::Context) -> Self::Result {
        tail::rows_after(
            &mut self.conn,
            &self.cache,
            &mut self.sources,
            msg.after_id,
            msg.limit,
            msg.max_bytes,
        )
    }
}

impl Handler<QueryRejected> for Reader {
    type Result = Result<(Vec<RejectedRow>, Option<i64>), DbError>;

    fn handle(&mut self, msg: QueryRejected, _: &mut Self::Context) -> Self::Result {
        rejected_query::fetch_rejected(&mut self.conn, &mut self.sources, msg.0)
    }
}
