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

/// Keys per step at first (about [`STEP_TARGET`] on the database measured in
/// `docs/performance.md`, "Constants"); then sized so a step takes about [`STEP_TARGET`].
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
        chunk = next_chunk(
            chunk,
            retained.lines,
            retained.took,
            retained.dropped_segment.is_some(),
        );
    }
    if deleted != (0, 0) {
        info!(
            "retention: deleted {} stored and {} rejected lines",
            deleted.0, deleted.1
        );
    }
    chunk
}

/// The chunk for the next step, from the rate of the last: keys deleted per second, and only
/// from a step that deleted at least half its chunk of keys. A segment's short last step is
/// mostly fixed cost, and one that deleted only rejected lines (cheaper) says nothing of keys:
/// scaling by either took the next step far past the target (`docs/performance.md`,
/// "Constants").
pub(crate) fn next_chunk(
    chunk: i64,
    deleted_keys: u64,
    took: Duration,
    dropped_segment: bool,
) -> i64 {
    let mut next = chunk;
    if deleted_keys > 0 && deleted_keys as i64 >= chunk / 2 {
        let per_second = deleted_keys as f64 / took.as_secs_f64().max(1e-4);
        let scaled = (per_second * STEP_TARGET.as_secs_f64()) as i64;
        // At most double at a time: one fast step says little.
        next = scaled.clamp(CHUNK_RANGE.0, CHUNK_RANGE.1).min(chunk * 2);
    }
    if dropped_segment {
        // The first step into the next segment reads pages nothing has touched yet: it ran
        // about twice as long as the steps around it.
        next = (next / 2).max(CHUNK_RANGE.0);
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_follow_the_rate_of_full_steps_only() {
        let ms = Duration::from_millis;
        // A full step at the target keeps its size; a fast one grows by at most double.
        assert_eq!(next_chunk(4_000, 4_000, STEP_TARGET, false), 4_000);
        assert_eq!(next_chunk(1_000, 1_000, ms(1), false), 2_000);
        // A slow one shrinks to the target's share.
        let slower = next_chunk(4_000, 4_000, STEP_TARGET * 2, false);
        assert!(slower.abs_diff(2_000) <= 1, "{slower}");
        // A segment's short last step (734 of 5,472 keys in 7 ms) keeps the chunk, halved
        // for the next segment's first, cold step; rejected lines alone keep it too.
        assert_eq!(next_chunk(5_472, 734, ms(7), true), 2_736);
        assert_eq!(next_chunk(5_472, 0, ms(1), false), 5_472);
        // Never below the floor.
        assert_eq!(
            next_chunk(300, 300, Duration::from_secs(1), true),
            CHUNK_RANGE.0
        );
    }
}
