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

/// Keys per step at first (about 30 ms on 10M rows here); then sized so a step takes about
/// [`STEP_TARGET`].
const FIRST_CHUNK: i64 = 2_000;
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
        chunk = next_chunk(chunk, retained.lines + retained.rejected, retained.took);
        if retained.dropped_segment.is_some() {
            // The first step into the next segment reads pages nothing has touched yet: it
            // ran about twice as long as the steps around it (90 ms on 10M rows).
            chunk = (chunk / 2).max(CHUNK_RANGE.0);
        }
    }
    if deleted != (0, 0) {
        info!(
            "retention: deleted {} stored and {} rejected lines",
            deleted.0, deleted.1
        );
    }
    chunk
}

/// The chunk for the next step, from the rate of the last: rows deleted per second, not the
/// chunk asked for, since the last step of a segment deletes only what is left of it (scaling
/// by the chunk took such a quick step for a fast one, and the next step ran 100+ ms).
fn next_chunk(chunk: i64, deleted: u64, took: Duration) -> i64 {
    if deleted == 0 {
        return chunk;
    }
    let per_second = deleted as f64 / took.as_secs_f64().max(1e-4);
    let scaled = (per_second * STEP_TARGET.as_secs_f64()) as i64;
    // At most double at a time: one fast step says little.
    scaled.clamp(CHUNK_RANGE.0, CHUNK_RANGE.1).min(chunk * 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segments_short_last_step_does_not_grow_the_chunk() {
        let target_ms = STEP_TARGET.as_millis() as u64;
        // 734 of 5,472 keys were left in the segment, deleted in 7 ms: the rate is as before.
        let rate_per_ms = 734 / 7;
        let after = next_chunk(5_472, 734, Duration::from_millis(7));
        assert!(
            after.abs_diff((rate_per_ms * target_ms) as i64) < 200,
            "{after}"
        );
        assert!(after < 5_472 * 2);
        // A full step at the target keeps its size; nothing deleted keeps it too.
        assert_eq!(next_chunk(4_000, 4_000, STEP_TARGET), 4_000);
        assert_eq!(next_chunk(4_000, 0, Duration::from_millis(1)), 4_000);
        // A fast full step grows by at most double.
        assert_eq!(next_chunk(1_000, 1_000, Duration::from_millis(1)), 2_000);
    }
}
