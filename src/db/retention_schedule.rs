//! When retention runs: a pass at start and every `check_every`, each pass a series of
//! bounded steps sent to the writer until nothing is due. Between two steps the writer takes
//! the batches that arrived meanwhile, so ingest keeps flowing while a segment is deleted.

use std::time::Duration;

use actix::Addr;
use log::{debug, info, warn};
use tokio_util::sync::CancellationToken;

use super::retention::{RetentionRules, STEP_TARGET};
use super::writer::{DbWriter, RetentionStep};
use crate::time::rfc3339;

/// Keys per step at first; then sized so a step takes about [`STEP_TARGET`].
const FIRST_CHUNK: i64 = 5_000;
const CHUNK_RANGE: (i64, i64) = (200, 200_000);

/// Runs retention until `halt`; nothing when the rules keep everything.
pub fn start(
    writer: Addr<DbWriter>,
    rules: RetentionRules,
    check_every: Duration,
    halt: CancellationToken,
) {
    if rules.keeps_everything() {
        return;
    }
    actix_rt::spawn(async move {
        let mut chunk = FIRST_CHUNK;
        loop {
            chunk = pass(&writer, rules, chunk, &halt).await;
            tokio::select! {
                _ = halt.cancelled() => return,
                _ = tokio::time::sleep(check_every) => {}
            }
        }
    });
}

/// Steps until nothing is due; returns the chunk size reached.
async fn pass(
    writer: &Addr<DbWriter>,
    rules: RetentionRules,
    mut chunk: i64,
    halt: &CancellationToken,
) -> i64 {
    let mut deleted = (0u64, 0u64);
    while !halt.is_cancelled() {
        let retained = match writer.send(RetentionStep { rules, chunk }).await {
            Ok(Ok(retained)) => retained,
            Ok(Err(e)) => {
                warn!("retention: a step failed ({e}); trying again at the next check");
                break;
            }
            Err(_) => return chunk,
        };
        if retained.nothing() {
            break;
        }
        debug!(
            "retention: step of {chunk}: {} lines, {} rejected in {:?}",
            retained.lines, retained.rejected, retained.took
        );
        deleted.0 += retained.lines;
        deleted.1 += retained.rejected;
        if let Some(segment) = retained.dropped_segment {
            info!(
                "retention: dropped segment {} (lines received {} to {})",
                segment.id,
                rfc3339(segment.received_from),
                rfc3339(segment.received_until)
            );
        }
        let took = retained.took.as_secs_f64().max(1e-4);
        let scaled = (chunk as f64 * STEP_TARGET.as_secs_f64() / took) as i64;
        // At most double at a time: one fast step (a nearly empty segment) says little.
        chunk = scaled.clamp(CHUNK_RANGE.0, CHUNK_RANGE.1).min(chunk * 2);
    }
    if deleted != (0, 0) {
        info!(
            "retention: deleted {} stored and {} rejected lines",
            deleted.0, deleted.1
        );
    }
    chunk
}
