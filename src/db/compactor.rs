//! The compactor: moves sealed segments into blocks in the background. It builds a part on a
//! connection and thread of its own, at the writer's (lowered) CPU priority, so that queries
//! come first and ingest is not crowded out; the writes go through the writer in short
//! transactions (`blocks::commit`): one adds the part and hides the segment, then its hot rows
//! are deleted a chunk at a time, each chunk sized to about retention's step (`retention::STEP_TARGET`).
//!
//! An open segment that takes no line for `seal_idle` is sealed, so every line is compacted
//! in time. Work left half done by a crash is found again at start: a segment whose part was
//! not committed is still hot and is built again; a committed one's hot rows are still listed
//! in `retired_segments` and deleted.

use std::time::{Duration, Instant};

use actix::prelude::*;
use diesel::SqliteConnection;
use log::{debug, info, warn};
use tokio_util::sync::CancellationToken;

use super::blocks::build::{self, BuiltPart};
use super::blocks::commit::Added;
use super::connection::open_reader;
use super::metrics::CompactionMetrics;
use super::retention_schedule::next_chunk;
use super::sync_actors::{start_sync_actors, ThreadPriority};
use super::writer::{AddPart, ClearRetired, DbWriter, SealIdle};
use super::DbError;

/// How often the compactor looks for a sealed segment when it found none.
const POLL: Duration = Duration::from_secs(1);
/// Hot rows deleted by the first step after a compaction; later steps follow the rate.
const FIRST_CHUNK: i64 = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionConfig {
    /// An open segment idle this long is sealed.
    pub seal_idle: Duration,
}

/// Builds parts on its own read connection.
pub struct Compactor {
    conn: SqliteConnection,
}

impl Actor for Compactor {
    type Context = SyncContext<Self>;
}

/// The oldest sealed segment as a part, if there is one.
#[derive(Debug, Message)]
#[rtype(result = "Result<Option<BuiltPart>, DbError>")]
pub struct BuildNext;

/// Sealed segments not yet compacted.
#[derive(Debug, Message)]
#[rtype(result = "Result<i64, DbError>")]
pub struct Pending;

impl Handler<BuildNext> for Compactor {
    type Result = Result<Option<BuiltPart>, DbError>;

    fn handle(&mut self, _: BuildNext, _: &mut Self::Context) -> Self::Result {
        match build::next_sealed(&mut self.conn)? {
            Some(segment) => build::build_part(&mut self.conn, segment),
            None => Ok(None),
        }
    }
}

impl Handler<Pending> for Compactor {
    type Result = Result<i64, DbError>;

    fn handle(&mut self, _: Pending, _: &mut Self::Context) -> Self::Result {
        build::sealed_count(&mut self.conn)
    }
}

/// Starts compaction until `halt`.
pub fn start(
    path: &std::path::Path,
    writer: Addr<DbWriter>,
    config: CompactionConfig,
    metrics: CompactionMetrics,
    halt: CancellationToken,
) -> Result<(), DbError> {
    let path = path.to_owned();
    let compactor = start_sync_actors("compactor", 1, ThreadPriority::Lower, move || {
        Ok(Compactor {
            conn: open_reader(&path)?,
        })
    })?;
    actix_rt::spawn(async move {
        let mut chunk = FIRST_CHUNK;
        while !halt.is_cancelled() {
            chunk = clear_retired(&writer, chunk, &metrics, &halt).await;
            let worked = match step(&compactor, &writer, config, &metrics, &halt).await {
                Ok(worked) => worked,
                Err(Stopped) => return,
            };
            if !worked {
                tokio::select! {
                    _ = halt.cancelled() => return,
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
        }
    });
    Ok(())
}

/// An actor went away: the service is stopping.
struct Stopped;

/// Compacts the oldest sealed segment, or seals an idle open one. Returns whether it did
/// anything (so that the next step comes at once).
async fn step(
    compactor: &Addr<Compactor>,
    writer: &Addr<DbWriter>,
    config: CompactionConfig,
    metrics: &CompactionMetrics,
    halt: &CancellationToken,
) -> Result<bool, Stopped> {
    if let Ok(Ok(pending)) = compactor.send(Pending).await {
        metrics.segments_pending.set(pending);
    }
    let started = Instant::now();
    let built = compactor.send(BuildNext).await.map_err(|_| Stopped)?;
    let part = match built {
        Ok(Some(part)) => part,
        Ok(None) => {
            let sealed = writer
                .send(SealIdle {
                    idle_for: config.seal_idle,
                })
                .await
                .map_err(|_| Stopped)?;
            return Ok(matches!(sealed, Ok(true)));
        }
        Err(e) => {
            metrics.failed(&e);
            warn!("compaction: reading a sealed segment failed ({e}); trying again");
            return Ok(false);
        }
    };
    if halt.is_cancelled() {
        // Stopping: the final checkpoint must come after the last write. The segment stays
        // hot and is built again at the next start.
        return Err(Stopped);
    }
    let (segment, rows, raw, stored) = (part.segment, part.rows, part.raw_bytes, part.stored_bytes);
    match writer.send(AddPart(part)).await.map_err(|_| Stopped)? {
        Ok(Added::Part { id, blocks }) => {
            metrics.parts_written.inc();
            metrics.blocks_written.inc_by(blocks as u64);
            metrics.raw_bytes.inc_by(raw.max(0) as u64);
            metrics.stored_bytes.inc_by(stored.max(0) as u64);
            metrics.seconds.observe(started.elapsed().as_secs_f64());
            info!(
                "compaction: segment {segment} ({rows} lines, {raw} bytes) is part {id}: \
                 {blocks} blocks, {stored} bytes, in {:?}",
                started.elapsed()
            );
            Ok(true)
        }
        Ok(Added::Stale) => {
            debug!("compaction: segment {segment} changed while it was read; again");
            Ok(true)
        }
        Err(e) => {
            metrics.failed(&e);
            warn!("compaction: storing segment {segment}'s part failed ({e}); trying again");
            Ok(false)
        }
    }
}

/// Deletes the hot rows of compacted segments, a chunk per step, until none is left. Returns
/// the chunk size reached.
async fn clear_retired(
    writer: &Addr<DbWriter>,
    mut chunk: i64,
    metrics: &CompactionMetrics,
    halt: &CancellationToken,
) -> i64 {
    while !halt.is_cancelled() {
        let started = Instant::now();
        match writer.send(ClearRetired { chunk }).await {
            Ok(Ok(0)) => break,
            Ok(Ok(deleted)) => {
                chunk = next_chunk(chunk, deleted, started.elapsed(), false);
            }
            Ok(Err(e)) => {
                metrics.failed(&e);
                warn!("compaction: deleting compacted rows failed ({e}); trying again later");
                break;
            }
            Err(_) => break,
        }
    }
    chunk
}
