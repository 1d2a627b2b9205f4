//! Merging parts, size-tiered: a page walks every live part, so their number must grow like
//! log(rows), not like the segments compacted. Parts are in tiers by size (a power of
//! [`FAN_IN`] rows); when a tier holds [`FAN_IN`] parts received the same UTC day, the oldest
//! of them are merged into one part of the next tier. Each row is rewritten about
//! log_FAN_IN(rows / segment rows) times over its life.
//!
//! Only parts received the same UTC day merge, so retention (by received time) still drops
//! whole parts: a merged part goes at most a day after its first line is due.
//!
//! The merge streams: one decoded block per input part is held at a time, rows come out in
//! (date, id) order and are cut into blocks again, handed to the writer a few dozen at a time.
//! The inputs are checked unchanged when the merged part replaces them (retention may have
//! deleted from the oldest meanwhile); otherwise the merged part is dropped.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use diesel::prelude::*;

use super::build::{block_full, BuiltBlock, PartTotals, BLOCK_ROWS};
use super::commit::MergedPart;
use super::dict::{self, Dicts, LineDict};
use super::format::{decode_keys, BlockKeys, BlockLines, BlockRow, LinesBlob};
pub use super::part::PartInfo;
use super::part::LIVE;
use crate::db::read::segment_merge::Key;
use crate::db::schema::{block_data, blocks, parts};
use crate::db::DbError;
use crate::limits::SECONDS_PER_DAY;

/// Parts merged at once, and the ratio between tiers. Write amplification grows like
/// log_FAN_IN of the data (ClickHouse merges with a base of 5, VictoriaLogs 8 to 15 parts).
pub const FAN_IN: usize = 8;
/// Blocks handed to the writer per transaction: about 1 MB of blobs.
pub const BLOCKS_PER_STEP: usize = 64;

fn tier(rows: i64) -> u32 {
    let mut tier = 0;
    let mut size = rows.max(1) as u64;
    while size >= FAN_IN as u64 {
        size /= FAN_IN as u64;
        tier += 1;
    }
    tier
}

/// The parts to merge next, oldest first, if some tier of some day is full (parts in `avoid`
/// left out).
pub fn plan(
    conn: &mut SqliteConnection,
    avoid: &std::collections::HashSet<i64>,
) -> Result<Option<Vec<PartInfo>>, DbError> {
    let live: Vec<(i64, i64, i64, i64)> = parts::table
        .filter(parts::state.eq(LIVE))
        .order(parts::id)
        .select((
            parts::id,
            parts::rows,
            parts::received_from,
            parts::received_until,
        ))
        .load(conn)?;
    let mut groups: std::collections::BTreeMap<(i64, u32), Vec<PartInfo>> = Default::default();
    for (id, rows, received_from, received_until) in live {
        if avoid.contains(&id) {
            continue;
        }
        let day = received_until.div_euclid(SECONDS_PER_DAY);
        groups.entry((day, tier(rows))).or_default().push(PartInfo {
            id,
            rows,
            received_from,
            received_until,
        });
    }
    Ok(groups
        .into_values()
        .find(|parts| parts.len() >= FAN_IN)
        .map(|parts| parts[..FAN_IN].to_vec()))
}

/// One input part's rows in (date, id) order, a block at a time.
struct PartRows {
    /// Its blocks in key order, not yet read.
    blocks: std::collections::VecDeque<i64>,
    keys: Arc<BlockKeys>,
    lines: Arc<BlockLines>,
    next: usize,
}

impl PartRows {
    fn open(conn: &mut SqliteConnection, part: i64) -> Result<PartRows, DbError> {
        let blocks: Vec<i64> = blocks::table
            .filter(blocks::part.eq(part))
            .order((blocks::min_date, blocks::min_id))
            .select(blocks::id)
            .load(conn)?;
        Ok(PartRows {
            blocks: blocks.into(),
            keys: Arc::default(),
            lines: Arc::default(),
            next: 0,
        })
    }

    /// The key of the next row, reading the next block when this one is done.
    fn peek(&mut self, conn: &mut SqliteConnection, dicts: &Dicts) -> Result<Option<Key>, DbError> {
        while self.next >= self.keys.len() {
            let Some(block) = self.blocks.pop_front() else {
                return Ok(None);
            };
            let (keys, lines): (Vec<u8>, Vec<u8>) = block_data::table
                .find(block)
                .select((block_data::keys, block_data::lines))
                .first(conn)?;
            let corrupt = |reason| DbError::CorruptBlock { block, reason };
            let keys = decode_keys(&keys).map_err(corrupt)?;
            let lines = LinesBlob::open(&lines).map_err(corrupt)?;
            let dict = dicts.for_lines(conn, block, &lines)?;
            let lines = lines.all(dict.as_deref(), keys.len()).map_err(corrupt)?;
            (self.keys, self.lines, self.next) = (Arc::new(keys), Arc::new(lines), 0);
        }
        Ok(Some(Key {
            date: self.keys.date[self.next],
            id: self.keys.id[self.next],
        }))
    }

    fn take(&mut self) -> BlockRow {
        let (k, i) = (&self.keys, self.next);
        self.next += 1;
        BlockRow {
            date: k.date[i],
            id: k.id[i],
            code: k.code[i],
            method_id: k.method_id[i],
            user_id: k.user_id[i],
            source_id: k.source_id[i],
            size: k.size[i],
            ip: k.ip(i).map(<[u8]>::to_vec),
            line: self.lines.get(i).to_owned(),
        }
    }
}

/// A merge under way, on the compactor's connection.
pub struct Merge {
    pub inputs: Vec<PartInfo>,
    /// The part being written (state building).
    pub part: i64,
    sources: Vec<PartRows>,
    /// The inputs' dictionaries, and the newest, which the merged part's lines are compressed
    /// with.
    dicts: Dicts,
    dict: Option<Arc<LineDict>>,
    heap: BinaryHeap<Reverse<(Key, usize)>>,
    started: bool,
    totals: PartTotals,
}

impl Merge {
    pub fn new(
        conn: &mut SqliteConnection,
        inputs: Vec<PartInfo>,
        part: i64,
    ) -> Result<Merge, DbError> {
        let sources = inputs
            .iter()
            .map(|p| PartRows::open(conn, p.id))
            .collect::<Result<_, _>>()?;
        Ok(Merge {
            inputs,
            part,
            sources,
            dicts: Dicts::default(),
            dict: dict::newest(conn)?,
            heap: BinaryHeap::new(),
            started: false,
            totals: PartTotals::default(),
        })
    }

    /// Up to [`BLOCKS_PER_STEP`] more blocks of the merged part; fewer (perhaps none) once the
    /// inputs are exhausted.
    pub fn step(&mut self, conn: &mut SqliteConnection) -> Result<Vec<BuiltBlock>, DbError> {
        if !self.started {
            for i in 0..self.sources.len() {
                if let Some(key) = self.sources[i].peek(conn, &self.dicts)? {
                    self.heap.push(Reverse((key, i)));
                }
            }
            self.started = true;
        }
        let mut out = Vec::new();
        let mut rows: Vec<BlockRow> = Vec::with_capacity(BLOCK_ROWS);
        let mut bytes = 0;
        while let Some(Reverse((_, i))) = self.heap.pop() {
            let row = self.sources[i].take();
            if let Some(key) = self.sources[i].peek(conn, &self.dicts)? {
                self.heap.push(Reverse((key, i)));
            }
            bytes += row.line.len();
            rows.push(row);
            if block_full(rows.len(), bytes) {
                out.push(self.block(&std::mem::take(&mut rows)));
                bytes = 0;
                if out.len() == BLOCKS_PER_STEP {
                    break;
                }
            }
        }
        // A step ends right after a block, so rows are left over only once the inputs are
        // exhausted: the merged part's last block.
        if !rows.is_empty() {
            out.push(self.block(&rows));
        }
        Ok(out)
    }

    /// What the merge wrote, once [`Merge::step`] has nothing more: for the writer to finish.
    pub fn merged(&self) -> MergedPart {
        MergedPart {
            part: self.part,
            totals: self.totals,
        }
    }

    fn block(&mut self, rows: &[BlockRow]) -> BuiltBlock {
        let block = BuiltBlock::of(rows, self.dict.as_ref());
        self.totals.add(&block);
        block
    }
}

#[cfg(test)]
mod tests {
    use super::tier;

    #[test]
    fn tiers_are_powers_of_the_fan_in() {
        assert_eq!(tier(0), 0);
        assert_eq!(tier(7), 0);
        assert_eq!(tier(8), 1);
        assert_eq!(tier(20), 1);
        assert_eq!(tier(160), 2);
        assert_eq!(tier(200_000), 5);
        assert_eq!(tier(1_600_000), 6);
    }
}
