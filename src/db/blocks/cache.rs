//! Decoded blocks kept for the readers, bounded in bytes (`--block-cache-bytes`): pages near
//! each other and a tail's read-back touch the same blocks, which then decode once. Keys and
//! each frame of lines are cached apart, since many queries read a block's keys and never its
//! lines, or a few of its lines. The lines' dictionaries are kept too (a few, 32 KiB each).
//!
//! It also remembers blocks found corrupt, for `/healthz` and `/metrics`: a corrupt block
//! fails the queries that touch it and nothing else.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use quick_cache::sync::Cache;
use quick_cache::Weighter;

use super::dict::Dicts;
use super::format::{BlockKeys, BlockLines, FRAME_ROWS};
use crate::limits::DEFAULT_BLOCK_CACHE_BYTES;

#[derive(Clone)]
pub enum Decoded {
    Keys(Arc<BlockKeys>),
    Lines(Arc<BlockLines>),
}

#[derive(Clone)]
struct ByBytes;

/// What is cached of a block: its keys, or a frame of its lines.
type Part = u32;
const KEYS: Part = u32::MAX;

fn frame_of(row: usize) -> Part {
    (row / FRAME_ROWS) as Part
}

impl Weighter<(i64, Part), Decoded> for ByBytes {
    fn weight(&self, _: &(i64, Part), value: &Decoded) -> u64 {
        let bytes = match value {
            Decoded::Keys(keys) => keys.weight(),
            Decoded::Lines(lines) => lines.weight(),
        };
        bytes.max(1) as u64
    }
}

pub struct BlockCache {
    /// (block id, keys or frame) to what was decoded.
    cache: Option<Cache<(i64, Part), Decoded, ByBytes>>,
    pub dicts: Dicts,
    corrupt: Mutex<BTreeSet<i64>>,
    /// Reads that found a corrupt block.
    pub corrupt_reads: Counter,
}

impl Default for BlockCache {
    fn default() -> Self {
        Self::new(DEFAULT_BLOCK_CACHE_BYTES)
    }
}

impl BlockCache {
    /// A cache of at most `bytes` of decoded blocks; 0 keeps none.
    pub fn new(bytes: u64) -> Self {
        // quick_cache sizes its tables from an estimate of the entries: a block's keys are about
        // 60 KB decoded, a frame of its lines about 25 KB.
        let cache = (bytes > 0)
            .then(|| Cache::with_weighter((bytes / 30_000).max(16) as usize, bytes, ByBytes));
        Self {
            cache,
            dicts: Dicts::default(),
            corrupt: Mutex::new(BTreeSet::new()),
            corrupt_reads: Counter::default(),
        }
    }

    pub fn keys(&self, block: i64) -> Option<Arc<BlockKeys>> {
        match self.cache.as_ref()?.get(&(block, KEYS))? {
            Decoded::Keys(keys) => Some(keys),
            Decoded::Lines(_) => None,
        }
    }

    /// The cached lines of the frame holding row `row`.
    pub fn lines(&self, block: i64, row: usize) -> Option<Arc<BlockLines>> {
        match self.cache.as_ref()?.get(&(block, frame_of(row)))? {
            Decoded::Lines(lines) => Some(lines),
            Decoded::Keys(_) => None,
        }
    }

    pub fn put_keys(&self, block: i64, keys: Arc<BlockKeys>) {
        if let Some(cache) = &self.cache {
            cache.insert((block, KEYS), Decoded::Keys(keys));
        }
    }

    /// Lines holding row `row`, cached as its frame's.
    pub fn put_lines(&self, block: i64, row: usize, lines: Arc<BlockLines>) {
        if let Some(cache) = &self.cache {
            cache.insert((block, frame_of(row)), Decoded::Lines(lines));
        }
    }

    pub fn found_corrupt(&self, block: i64) {
        self.corrupt_reads.inc();
        self.corrupt
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(block);
    }

    /// Blocks found corrupt since the start, lowest first.
    pub fn corrupt_blocks(&self) -> Vec<i64> {
        let corrupt = self.corrupt.lock().unwrap_or_else(|e| e.into_inner());
        corrupt.iter().copied().collect()
    }
}
