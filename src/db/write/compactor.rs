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

use super::retention_schedule::next_chunk;
use super::writer::{
    AbandonMerges, AddBlocks, AddPart, ClearReplaced, ClearRetired, DbWriter, DropPart,
    FinishMerge, ReclaimPages, SealIdle, StartPart,
};
use crate::db::blocks::build::{self, BuiltBlock, BuiltPart};
use crate::db::blocks::commit::{Added, MergedPart};
use crate::db::blocks::merge::{self, Merge, PartInfo};
use crate::db::connection::open_reader;
use crate::db::metrics::CompactionMetrics;
use crate::db::sync_actors::{start_sync_actors, ThreadPriority};
use crate::db::DbError;

/// How often the compactor looks for a sealed segment when it found none.
const POLL: Duration = Duration::from_secs(1);
/// Hot rows deleted by the first step after a compaction; later steps follow the rate.
const FIRST_CHUNK: i64 = 2_000;
/// Blocks of replaced parts deleted per step: about 0.5 MB of blobs.
const BLOCKS_PER_CLEAR: i64 = 32;
/// Free pages given back to the file system per step (8 MiB of 4 KiB pages).
const PAGES_PER_RECLAIM: i64 = 2_048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionConfig {
    /// An open segment idle this long is sealed.
    pub seal_idle: Duration,
}

/// Builds parts on its own read connection, and holds the merge under way.
pub struct Compactor {
    conn: SqliteConnection,
    merge: Option<Merge>,
    /// Parts a merge found a corrupt block in: never planned again (until a restart), so
    /// that the other parts still merge.
    avoid: std::collections::HashSet<i64>,
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

/// The parts to merge next, if a tier is full.
#[derive(Debug, Message)]
#[rtype(result = "Result<Option<Vec<PartInfo>>, DbError>")]
pub struct PlanMerge;

/// Starts merging `inputs` into `part`.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), DbError>")]
pub struct BeginMerge {
    pub inputs: Vec<PartInfo>,
    pub part: i64,
}

/// The next blocks of the merge under way; with none left, what it wrote in all.
#[derive(Debug, Message)]
#[rtype(result = "Result<MergeStep, DbError>")]
pub struct NextBlocks;

#[derive(Debug)]
pub enum MergeStep {
    Blocks(Vec<BuiltBlock>),
    Done(MergedPart),
}

impl Handler<PlanMerge> for Compactor {
    type Result = Result<Option<Vec<PartInfo>>, DbError>;

    fn handle(&mut self, _: PlanMerge, _: &mut Self::Context) -> Self::Result {
        merge::plan(&mut self.conn, &self.avoid)
    }
}

impl Handler<BeginMerge> for Compactor {
    type Result = Result<(), DbError>;

    fn handle(&mut self, msg: BeginMerge, _: &mut Self::Context) -> Self::Result {
        self.merge = Some(Merge::new(&mut self.conn, msg.inputs, msg.part)?);
        Ok(())
    }
}

impl Handler<NextBlocks> for Compactor {
    type Result = Result<MergeStep, DbError>;

    fn handle(&mut self, _: NextBlocks, _: &mut Self::Context) -> Self::Result {
        let Some(merge) = self.merge.as_mut() else {
            return Err(DbError::NoMerge);
        };
        let blocks = match merge.step(&mut self.conn) {
            Ok(blocks) => blocks,
            Err(e) => {
                if let DbError::CorruptBlock { block, .. } = &e {
                    warn!("compaction: block {block} is corrupt; its parts are not merged again");
                    self.avoid.extend(merge.inputs.iter().map(|p| p.id));
                }
                self.merge = None;
                return Err(e);
            }
        };
        if !blocks.is_empty() {
            return Ok(MergeStep::Blocks(blocks));
        }
        let Some(done) = self.merge.take() else {
            return Err(DbError::NoMerge);
        };
        Ok(MergeStep::Done(done.merged()))
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
            merge: None,
            avoid: Default::default(),
        })
    })?;
    actix_rt::spawn(async move {
        // A merge cut short by the last stop is never finished: its part goes.
        if let Ok(Err(e)) = writer.send(AbandonMerges).await {
            warn!("compaction: dropping an unfinished merge failed ({e})");
        }
        let mut chunk = FIRST_CHUNK;
        while !halt.is_cancelled() {
            if let Ok(Ok(pending)) = compactor.send(Pending).await {
                metrics.segments_pending.set(pending);
            }
            // The next sealed segment is built on the compactor's thread while the writer
            // deletes the last one's hot rows.
            let started = Instant::now();
            let building = compactor.send(BuildNext);
            chunk = clear_retired(&writer, chunk, &metrics, &halt).await;
            clear_replaced(&writer, &metrics, &halt).await;
            reclaim(&writer, &metrics, &halt).await;
            let Ok(built) = building.await else {
                return;
            };
            let committed = commit_built(built, started, &writer, &metrics, &halt).await;
            let worked = match committed {
                Ok(true) => true,
                Ok(false) => match merge(&compactor, &writer, config, &metrics, &halt).await {
                    Ok(merged) => merged,
                    Err(Stopped) => return,
                },
                Err(Stopped) => return,
            };
            metrics.idle.set(i64::from(!worked));
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

/// Merges the oldest full tier of parts, if any, compacting sealed segments between its steps
/// so that they never wait for a long merge. Returns whether it merged.
async fn merge(
    compactor: &Addr<Compactor>,
    writer: &Addr<DbWriter>,
    config: CompactionConfig,
    metrics: &CompactionMetrics,
    halt: &CancellationToken,
) -> Result<bool, Stopped> {
    let inputs = match compactor.send(PlanMerge).await.map_err(|_| Stopped)? {
        Ok(Some(inputs)) => inputs,
        Ok(None) => return seal_idle(writer, config).await,
        Err(e) => {
            metrics.failed(&e);
            warn!("compaction: planning a merge failed ({e})");
            return Ok(false);
        }
    };
    let started = Instant::now();
    let result = run_merge(compactor, writer, metrics, halt, &inputs).await?;
    if let Err(MergeFailed { part, .. }) = &result {
        // Its blocks go like a replaced part's; a failed drop is retried at the next start.
        if let Ok(Err(e)) = writer.send(DropPart(*part)).await {
            warn!("compaction: dropping the failed merge's part {part} failed ({e})");
        }
    }
    match result {
        Ok(Some(merged)) => {
            metrics.merges.inc();
            metrics.seconds.observe(started.elapsed().as_secs_f64());
            info!(
                "compaction: merged {} parts into part {} ({} lines, {} bytes) in {:?}",
                inputs.len(),
                merged.part,
                merged.totals.rows,
                merged.totals.stored_bytes,
                started.elapsed()
            );
            Ok(true)
        }
        Ok(None) => Ok(true),
        Err(MergeFailed { error, .. }) => {
            metrics.failed(&error);
            warn!("compaction: a merge failed ({error}); trying again");
            Ok(false)
        }
    }
}

/// A merge that failed after its part was opened.
struct MergeFailed {
    part: i64,
    error: DbError,
}

/// One merge from start to end: `None` when its inputs changed meanwhile (it was dropped).
async fn run_merge(
    compactor: &Addr<Compactor>,
    writer: &Addr<DbWriter>,
    metrics: &CompactionMetrics,
    halt: &CancellationToken,
    inputs: &[PartInfo],
) -> Result<Result<Option<MergedPart>, MergeFailed>, Stopped> {
    let opened = writer.send(StartPart(inputs.to_vec())).await;
    let part = match opened.map_err(|_| Stopped)? {
        Ok(part) => part,
        // No part to drop: 0 is no part's id.
        Err(error) => return Ok(Err(MergeFailed { part: 0, error })),
    };
    let failed = |error| Ok(Err(MergeFailed { part, error }));
    let begun = compactor
        .send(BeginMerge {
            inputs: inputs.to_vec(),
            part,
        })
        .await
        .map_err(|_| Stopped)?;
    if let Err(e) = begun {
        return failed(e);
    }
    loop {
        if halt.is_cancelled() {
            // The part stays unfinished; the next start drops it.
            return Err(Stopped);
        }
        let step = match compactor.send(NextBlocks).await.map_err(|_| Stopped)? {
            Ok(step) => step,
            Err(e) => return failed(e),
        };
        match step {
            MergeStep::Blocks(blocks) => {
                metrics.blocks_written.inc_by(blocks.len() as u64);
                let added = writer.send(AddBlocks { part, blocks }).await;
                if let Err(e) = added.map_err(|_| Stopped)? {
                    return failed(e);
                }
                // Segments sealed meanwhile are compacted now, not after the whole merge.
                while let Ok(true) = step_segment(compactor, writer, metrics, halt).await {}
            }
            MergeStep::Done(merged) => {
                let finished = writer
                    .send(FinishMerge {
                        merged,
                        inputs: inputs.to_vec(),
                    })
                    .await
                    .map_err(|_| Stopped)?;
                return match finished {
                    Ok(replaced) => Ok(Ok(replaced.then_some(merged))),
                    Err(e) => failed(e),
                };
            }
        }
    }
}

/// Deletes the blocks of parts a merge replaced, a few dozen per step, until none is left.
async fn clear_replaced(
    writer: &Addr<DbWriter>,
    metrics: &CompactionMetrics,
    halt: &CancellationToken,
) {
    while !halt.is_cancelled() {
        match writer
            .send(ClearReplaced {
                blocks: BLOCKS_PER_CLEAR,
            })
            .await
        {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                metrics.failed(&e);
                warn!("compaction: deleting replaced blocks failed ({e}); trying again later");
                break;
            }
        }
    }
}

/// Gives the pages compaction and retention freed back to the file system, a step at a time.
async fn reclaim(writer: &Addr<DbWriter>, metrics: &CompactionMetrics, halt: &CancellationToken) {
    while !halt.is_cancelled() {
        match writer
            .send(ReclaimPages {
                pages: PAGES_PER_RECLAIM,
            })
            .await
        {
            Ok(Ok(left)) => {
                metrics.free_pages.set(left);
                if left == 0 {
                    break;
                }
            }
            Ok(Err(e)) => {
                metrics.failed(&e);
                warn!("compaction: giving free pages back failed ({e}); trying again later");
                break;
            }
            Err(_) => break,
        }
    }
}

/// Seals the open segment if it has been idle long enough; returns whether it did.
async fn seal_idle(writer: &Addr<DbWriter>, config: CompactionConfig) -> Result<bool, Stopped> {
    let sealed = writer
        .send(SealIdle {
            idle_for: config.seal_idle,
        })
        .await
        .map_err(|_| Stopped)?;
    Ok(matches!(sealed, Ok(true)))
}

/// Compacts the oldest sealed segment, if any. Returns whether it did anything (so that the
/// next step comes at once).
async fn step_segment(
    compactor: &Addr<Compactor>,
    writer: &Addr<DbWriter>,
    metrics: &CompactionMetrics,
    halt: &CancellationToken,
) -> Result<bool, Stopped> {
    let started = Instant::now();
    let built = compactor.send(BuildNext).await.map_err(|_| Stopped)?;
    commit_built(built, started, writer, metrics, halt).await
}

/// Hands a built part to the writer; whether there was one.
async fn commit_built(
    built: Result<Option<BuiltPart>, DbError>,
    started: Instant,
    writer: &Addr<DbWriter>,
    metrics: &CompactionMetrics,
    halt: &CancellationToken,
) -> Result<bool, Stopped> {
    let part = match built {
        Ok(Some(part)) => part,
        Ok(None) => return Ok(false),
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
    let (segment, rows, raw, stored) = (
        part.segment,
        part.totals.rows,
        part.totals.raw_bytes,
        part.totals.stored_bytes,
    );
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
            // Retention is deleting it; the next round (after a pause) builds it again.
            debug!("compaction: segment {segment} changed while it was read; again later");
            Ok(false)
        }
        Ok(Added::Empty) => Ok(true),
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
