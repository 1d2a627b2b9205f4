//! The DbWriter actor: the one owner of the writing connection. Every batch is one transaction,
//! so a batch is either stored whole or not at all, and the sender may safely retry it.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use log::error;

use super::retention::{self, Retained, RetentionRules};
use super::store::{fingerprint_of, keyed_stream, LogStore};
use crate::batch::{StreamMark, WriteBatch, WriteError, WriteSummary};
use crate::db::blocks::build::{BuiltBlock, BuiltPart};
use crate::db::blocks::commit::{self, Added, MergedPart};
use crate::db::blocks::merge::PartInfo;
use crate::db::checkpointer::CheckpointHandle;
use crate::db::connection::open_writer;
use crate::db::health::StorageHealth;
use crate::db::metrics::{CompactionMetrics, StorageMetrics};
use crate::db::read::tail::{Committed, TailSender};
use crate::db::schema::sources;
use crate::db::sync_actors::{start_sync_actors, ThreadPriority};
use crate::db::DbError;
use crate::reason::Reason;

pub struct DbWriter {
    conn: SqliteConnection,
    store: LogStore,
    checkpointer: Option<CheckpointHandle>,
    health: Arc<StorageHealth>,
    /// To open a fresh connection after a panic.
    path: PathBuf,
    segment_rows: u64,
    /// Set while a fresh connection could not be opened: from when, and nothing runs on the
    /// old one meanwhile.
    broken_since: Option<Instant>,
    /// Where committed batches go for live tail; `None` when nobody can follow.
    tail: Option<TailSender>,
    metrics: Option<StorageMetrics>,
    compaction: Option<CompactionMetrics>,
    /// When the last batch was committed: an open segment idle long enough is sealed.
    last_write: Instant,
}

/// What the writer tells the rest of the service beyond its answers: committed batches for live
/// tail, and its measurements.
#[derive(Debug, Clone, Default)]
pub struct WriterHooks {
    pub tail: Option<TailSender>,
    pub metrics: Option<StorageMetrics>,
    pub compaction: Option<CompactionMetrics>,
}

impl DbWriter {
    /// Opens (and migrates) the database and reads where the last run stopped.
    pub fn open(
        path: &Path,
        segment_rows: u64,
        checkpointer: Option<CheckpointHandle>,
        health: Arc<StorageHealth>,
    ) -> Result<DbWriter, DbError> {
        let mut conn = open_writer(path)?;
        let store = LogStore::load(&mut conn, segment_rows)?;
        Ok(DbWriter {
            conn,
            store,
            checkpointer,
            health,
            path: path.to_owned(),
            segment_rows,
            broken_since: None,
            tail: None,
            metrics: None,
            compaction: None,
            last_write: Instant::now(),
        })
    }

    /// After a panic the connection and the store's caches may be half-way through anything:
    /// both are replaced, the store reading its position again from what was committed.
    fn reopen(&mut self) -> Result<(), DbError> {
        let result = open_writer(&self.path).and_then(|mut conn| {
            let store = LogStore::load(&mut conn, self.segment_rows)?;
            Ok((conn, store))
        });
        match result {
            Ok((conn, store)) => {
                (self.conn, self.store) = (conn, store);
                self.broken_since = None;
                Ok(())
            }
            Err(e) => {
                let since = *self.broken_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= self.health.reopen_patience() {
                    error!("the database cannot be opened again ({e}); giving up");
                    self.health
                        .give_up(format!("the database cannot be opened again: {e}"));
                }
                Err(e)
            }
        }
    }

    /// Runs `work`, catching a panic. A panic must not take the writer's thread down with it:
    /// nobody would store anything again, and actix's SyncArbiter panics in turn on the next
    /// message to a thread-less pool. It is answered as an error (the sender tries again), and
    /// the writer goes on with a fresh connection.
    fn guarded<T>(
        &mut self,
        work: impl FnOnce(&mut Self) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        if self.broken_since.is_some() {
            self.reopen()?;
        }
        match panic::catch_unwind(AssertUnwindSafe(|| work(self))) {
            Ok(result) => result,
            Err(panicked) => {
                let reason = panic_message(&panicked).to_owned();
                error!("the database writer panicked ({reason}); opening a fresh connection");
                self.health.failing(
                    Reason::WriterPanicked,
                    format!("the database writer panicked: {reason}"),
                );
                if let Err(e) = self.reopen() {
                    error!("cannot open a fresh connection: {e}");
                }
                Err(DbError::Panicked(reason))
            }
        }
    }

    fn write(&mut self, msg: &WriteBatch) -> Result<WriteSummary, DbError> {
        self.store
            .write_batch(&mut self.conn, msg.source_id, &msg.entries, &msg.stream)
    }

    /// Starts the writer on a thread of its own, at a lower priority. The first connection is
    /// opened before this returns, so start-up errors are reported before anything runs; a
    /// writer that stops is replaced with a fresh connection.
    pub fn start(
        path: &Path,
        segment_rows: u64,
        checkpointer: Option<CheckpointHandle>,
        health: Arc<StorageHealth>,
    ) -> Result<Addr<DbWriter>, DbError> {
        Self::start_with_hooks(
            path,
            segment_rows,
            checkpointer,
            health,
            WriterHooks::default(),
        )
    }

    /// [`DbWriter::start`], publishing each committed batch and measuring each commit.
    pub fn start_with_hooks(
        path: &Path,
        segment_rows: u64,
        checkpointer: Option<CheckpointHandle>,
        health: Arc<StorageHealth>,
        hooks: WriterHooks,
    ) -> Result<Addr<DbWriter>, DbError> {
        let path: PathBuf = path.to_owned();
        start_sync_actors("database writer", 1, ThreadPriority::Lower, move || {
            let mut writer =
                DbWriter::open(&path, segment_rows, checkpointer.clone(), health.clone())?;
            writer.tail = hooks.tail.clone();
            writer.metrics = hooks.metrics.clone();
            writer.compaction = hooks.compaction.clone();
            if let Some(metrics) = &writer.metrics {
                metrics.segments.set(writer.store.segments());
            }
            Ok(writer)
        })
    }

    /// Tells followers about a committed batch; costs nothing when nobody follows.
    fn publish(&self, msg: &WriteBatch) {
        let Some(tail) = &self.tail else {
            return;
        };
        if tail.receiver_count() == 0 {
            return;
        }
        let (first_id, refused) = self.store.last_ids();
        // An error only means every follower left meanwhile.
        let _ = tail.send(Arc::new(Committed::new(
            msg.source_id,
            msg.entries.clone(),
            first_id,
            refused.to_vec(),
        )));
    }
}

impl Actor for DbWriter {
    type Context = SyncContext<Self>;
}

/// Returns what is stored of a source address, creating it the first time it is seen.
#[derive(Debug, Message)]
#[rtype(result = "Result<SourceRecord, DbError>")]
pub struct RegisterSource {
    pub address: String,
}

/// A source as stored: its id, its stream as last committed, and its all-time counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    pub id: i64,
    /// `None` until a batch of the source has been committed.
    pub committed: Option<StreamMark>,
    pub lines_stored: u64,
    pub lines_rejected: u64,
}

/// How far the stream a key names (a pushed body's, a part of an imported file's) was
/// consumed; `None` if it never was.
#[derive(Debug, Message)]
#[rtype(result = "Result<Option<StreamMark>, DbError>")]
pub struct LoadKeyedStream {
    pub source_id: i64,
    pub key: Arc<str>,
}

/// One bounded step of retention (see `retention.rs`).
#[derive(Debug, Message)]
#[rtype(result = "Result<Retained, DbError>")]
pub struct RetentionStep {
    pub rules: RetentionRules,
    /// Keys (or rejected lines) to delete at most.
    pub chunk: i64,
}

/// Adds a compacted segment's part (see `blocks::commit`).
#[derive(Debug, Message)]
#[rtype(result = "Result<Added, DbError>")]
pub struct AddPart(pub BuiltPart);

/// Deletes up to `chunk` hot rows of compacted segments; answers how many went.
#[derive(Debug, Message)]
#[rtype(result = "Result<u64, DbError>")]
pub struct ClearRetired {
    pub chunk: i64,
}

/// Opens a part for a merge of these parts; answers its id.
#[derive(Debug, Message)]
#[rtype(result = "Result<i64, DbError>")]
pub struct StartPart(pub Vec<PartInfo>);

/// More blocks of a part a merge is writing.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), DbError>")]
pub struct AddBlocks {
    pub part: i64,
    pub blocks: Vec<BuiltBlock>,
}

/// A merged part replaces its inputs (if they are unchanged); answers whether it did.
#[derive(Debug, Message)]
#[rtype(result = "Result<bool, DbError>")]
pub struct FinishMerge {
    pub merged: MergedPart,
    pub inputs: Vec<PartInfo>,
}

/// Deletes up to `blocks` blocks of replaced parts; answers the rows they held (0: none left).
#[derive(Debug, Message)]
#[rtype(result = "Result<u64, DbError>")]
pub struct ClearReplaced {
    pub blocks: i64,
}

/// Gives up to `pages` free pages back to the file system (`auto_vacuum = INCREMENTAL`, new
/// databases; elsewhere nothing); answers the free pages left.
#[derive(Debug, Message)]
#[rtype(result = "Result<i64, DbError>")]
pub struct ReclaimPages {
    pub pages: i64,
}

/// Drops the part of a merge that failed.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), DbError>")]
pub struct DropPart(pub i64);

/// Drops the parts a merge was writing when the service last stopped.
#[derive(Debug, Message)]
#[rtype(result = "Result<usize, DbError>")]
pub struct AbandonMerges;

/// Seals the open segment if it holds rows and no batch came for `idle_for`; answers
/// whether it did.
#[derive(Debug, Message)]
#[rtype(result = "Result<bool, DbError>")]
pub struct SealIdle {
    pub idle_for: Duration,
}

/// Sent once at shutdown, after the last batch: folds the WAL back into the database file.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), DbError>")]
pub struct Checkpoint;

pub fn register_source(
    conn: &mut SqliteConnection,
    address: &str,
) -> Result<SourceRecord, DbError> {
    diesel::insert_into(sources::table)
        .values(sources::address.eq(address))
        .on_conflict(sources::address)
        .do_nothing()
        .execute(conn)?;
    let (id, fingerprint, position, stored, rejected): (i64, Option<Vec<u8>>, i64, i64, i64) =
        sources::table
            .filter(sources::address.eq(address))
            .select((
                sources::id,
                sources::stream_fingerprint,
                sources::stream_position,
                sources::lines_stored,
                sources::lines_rejected,
            ))
            .first(conn)?;
    Ok(SourceRecord {
        id,
        committed: fingerprint.map(|bytes| StreamMark {
            fingerprint: fingerprint_of(&bytes),
            position: position as u64,
        }),
        lines_stored: stored as u64,
        lines_rejected: rejected as u64,
    })
}

/// What a pushed source's address starts with, so that it can never be a TCP source's address:
/// `serve` refuses a `--source` that starts with it (a host named `push`).
pub const PUSHED_PREFIX: &str = "push:";

/// The address under which lines pushed as `name` are stored.
pub fn pushed_address(name: &str) -> String {
    format!("{PUSHED_PREFIX}{name}")
}

/// The sources whose lines were pushed (`push:NAME`), as stored.
pub fn pushed_sources(conn: &mut SqliteConnection) -> Result<Vec<(String, SourceRecord)>, DbError> {
    let addresses: Vec<String> = sources::table
        .filter(sources::address.like(format!("{PUSHED_PREFIX}%")))
        .select(sources::address)
        .order(sources::id)
        .load(conn)?;
    addresses
        .into_iter()
        .map(|address| Ok((address.clone(), register_source(conn, &address)?)))
        .collect()
}

impl Handler<WriteBatch> for DbWriter {
    type Result = Result<WriteSummary, WriteError>;

    fn handle(&mut self, msg: WriteBatch, _: &mut Self::Context) -> Self::Result {
        let started = Instant::now();
        let result = self.guarded(|writer| writer.write(&msg));
        match result {
            Ok(summary) => {
                self.last_write = Instant::now();
                if let Some(metrics) = &self.metrics {
                    metrics
                        .commit_seconds
                        .observe(started.elapsed().as_secs_f64());
                    metrics
                        .rows_per_batch
                        .observe((summary.stored + summary.rejected) as f64);
                    metrics.segments.set(self.store.segments());
                }
                self.health.ok();
                self.publish(&msg);
                if let Some(checkpointer) = &self.checkpointer {
                    checkpointer.request();
                }
                Ok(summary)
            }
            Err(e) => {
                error!(
                    "storing a batch of {} lines from source #{} failed: {e}",
                    msg.entries.len(),
                    msg.source_id
                );
                self.health.failing(
                    e.reason(),
                    format!("the database writer cannot commit: {e}"),
                );
                Err(e.to_write_error())
            }
        }
    }
}

impl Handler<RegisterSource> for DbWriter {
    type Result = Result<SourceRecord, DbError>;

    fn handle(&mut self, msg: RegisterSource, _: &mut Self::Context) -> Self::Result {
        self.guarded(|writer| register_source(&mut writer.conn, &msg.address))
    }
}

impl Handler<LoadKeyedStream> for DbWriter {
    type Result = Result<Option<StreamMark>, DbError>;

    fn handle(&mut self, msg: LoadKeyedStream, _: &mut Self::Context) -> Self::Result {
        self.guarded(|writer| keyed_stream(&mut writer.conn, msg.source_id, &msg.key))
    }
}

impl Handler<RetentionStep> for DbWriter {
    type Result = Result<Retained, DbError>;

    fn handle(&mut self, msg: RetentionStep, _: &mut Self::Context) -> Self::Result {
        let now = crate::time::now_seconds();
        let retained = self.guarded(|writer| {
            retention::step(
                &mut writer.conn,
                &mut writer.store,
                msg.rules,
                msg.chunk,
                now,
            )
        })?;
        if let Some(metrics) = &self.metrics {
            metrics
                .retention_lines
                .inc_by(retained.lines + retained.rejected);
            metrics.segments.set(self.store.segments());
        }
        if !retained.nothing() {
            if let Some(checkpointer) = &self.checkpointer {
                checkpointer.request();
            }
        }
        Ok(retained)
    }
}

impl DbWriter {
    /// Runs a compaction step, measuring how long it held the writer.
    fn compaction_step<T>(
        &mut self,
        work: impl FnOnce(&mut Self) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let started = Instant::now();
        let result = self.guarded(work);
        if let Some(metrics) = &self.compaction {
            metrics.held(started.elapsed().as_secs_f64());
        }
        if result.is_ok() {
            if let Some(checkpointer) = &self.checkpointer {
                checkpointer.request();
            }
        }
        result
    }
}

impl Handler<AddPart> for DbWriter {
    type Result = Result<Added, DbError>;

    fn handle(&mut self, msg: AddPart, _: &mut Self::Context) -> Self::Result {
        let added = self.compaction_step(|writer| commit::add_part(&mut writer.conn, &msg.0))?;
        if let Added::Part { .. } = added {
            self.store.dropped_before(msg.0.segment + 1);
            if let Some(metrics) = &self.metrics {
                metrics.segments.set(self.store.segments());
            }
        }
        Ok(added)
    }
}

impl Handler<ClearRetired> for DbWriter {
    type Result = Result<u64, DbError>;

    fn handle(&mut self, msg: ClearRetired, _: &mut Self::Context) -> Self::Result {
        self.compaction_step(|writer| commit::clear_retired(&mut writer.conn, msg.chunk))
    }
}

impl Handler<StartPart> for DbWriter {
    type Result = Result<i64, DbError>;

    fn handle(&mut self, msg: StartPart, _: &mut Self::Context) -> Self::Result {
        self.compaction_step(|writer| commit::start_part(&mut writer.conn, &msg.0))
    }
}

impl Handler<AddBlocks> for DbWriter {
    type Result = Result<(), DbError>;

    fn handle(&mut self, msg: AddBlocks, _: &mut Self::Context) -> Self::Result {
        self.compaction_step(|writer| commit::add_blocks(&mut writer.conn, msg.part, &msg.blocks))
    }
}

impl Handler<FinishMerge> for DbWriter {
    type Result = Result<bool, DbError>;

    fn handle(&mut self, msg: FinishMerge, _: &mut Self::Context) -> Self::Result {
        self.compaction_step(|writer| {
            commit::finish_merge(&mut writer.conn, msg.merged, &msg.inputs)
        })
    }
}

impl Handler<ClearReplaced> for DbWriter {
    type Result = Result<u64, DbError>;

    fn handle(&mut self, msg: ClearReplaced, _: &mut Self::Context) -> Self::Result {
        self.compaction_step(|writer| commit::clear_replaced(&mut writer.conn, msg.blocks))
    }
}

impl Handler<ReclaimPages> for DbWriter {
    type Result = Result<i64, DbError>;

    fn handle(&mut self, msg: ReclaimPages, _: &mut Self::Context) -> Self::Result {
        self.compaction_step(|writer| commit::reclaim_pages(&mut writer.conn, msg.pages))
    }
}

impl Handler<DropPart> for DbWriter {
    type Result = Result<(), DbError>;

    fn handle(&mut self, msg: DropPart, _: &mut Self::Context) -> Self::Result {
        self.guarded(|writer| commit::drop_part(&mut writer.conn, msg.0))
    }
}

impl Handler<AbandonMerges> for DbWriter {
    type Result = Result<usize, DbError>;

    fn handle(&mut self, _: AbandonMerges, _: &mut Self::Context) -> Self::Result {
        self.guarded(|writer| commit::abandon_building(&mut writer.conn))
    }
}

impl Handler<SealIdle> for DbWriter {
    type Result = Result<bool, DbError>;

    fn handle(&mut self, msg: SealIdle, _: &mut Self::Context) -> Self::Result {
        if self.last_write.elapsed() < msg.idle_for {
            return Ok(false);
        }
        self.guarded(|writer| writer.store.seal(&mut writer.conn))
    }
}

impl Handler<Checkpoint> for DbWriter {
    type Result = Result<(), DbError>;

    fn handle(&mut self, _: Checkpoint, _: &mut Self::Context) -> Self::Result {
        self.guarded(|writer| {
            writer
                .conn
                .batch_execute("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA optimize;")?;
            Ok(())
        })
    }
}

fn panic_message(panicked: &Box<dyn Any + Send>) -> &str {
    panicked
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panicked.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
