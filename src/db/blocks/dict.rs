//! zstd dictionaries for blocks' lines: trained on a sealed segment's lines when it is
//! compacted, kept in `line_dicts`, and named by id in each lines blob. With one, a frame of a
//! few hundred lines compresses nearly as well as a whole block without, so a query reads one
//! row's line by decompressing its frame only (`format.rs`).
//!
//! The compactor trains a dictionary when there is none or the newest is older than
//! [`DICT_MAX_AGE_SECS`] (lines drift: new paths, new agents), and otherwise compresses with
//! the newest; merges use the newest. The writer stores a dictionary with the first blocks that
//! use it, so a dictionary whose part never commits is never stored. Dictionaries are never
//! deleted: one a day is 32 KiB a day. Readers keep each one they have used, prepared (32 KiB
//! and zstd's tables), beside the block cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use zstd::zstd_safe::{CDict, DDict};

use super::format::{DictRef, FormatError, LinesBlob};
use crate::db::schema::line_dicts;
use crate::db::DbError;

/// A dictionary's size at most: 32 KiB was where a larger one stopped paying on stand-in lines.
const DICT_BYTES: usize = 32 * 1024;
/// Lines sampled to train one, about: zstd suggests a hundred times the dictionary.
const SAMPLE_BYTES: usize = 4 << 20;
/// Lines per training sample (a sample is what one compressed frame would hold, roughly).
const LINES_PER_SAMPLE: usize = 16;
/// Below this much text, no dictionary is trained (and lines are compressed without one): too
/// few samples make a dictionary that does not pay for itself.
const MIN_SAMPLE_BYTES: usize = 256 * 1024;
/// A dictionary older than this is trained again at the next compaction.
pub const DICT_MAX_AGE_SECS: i64 = 24 * 60 * 60;

/// A dictionary ready to compress with.
pub struct LineDict {
    pub id: i64,
    pub bytes: Vec<u8>,
    pub trained_at: i64,
    /// Read from `line_dicts`: the writer need not store it with the blocks using it.
    pub stored: bool,
    cdict: CDict<'static>,
}

impl std::fmt::Debug for LineDict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineDict")
            .field("id", &self.id)
            .field("bytes", &self.bytes.len())
            .field("trained_at", &self.trained_at)
            .finish()
    }
}

impl LineDict {
    fn new(id: i64, bytes: Vec<u8>, trained_at: i64, stored: bool) -> LineDict {
        let cdict = CDict::create(&bytes, super::format::LEVEL);
        LineDict {
            id,
            bytes,
            trained_at,
            stored,
            cdict,
        }
    }

    pub fn dict_ref(&self) -> DictRef<'_> {
        DictRef {
            id: self.id,
            cdict: &self.cdict,
        }
    }
}

/// The newest stored dictionary, if any.
pub fn newest(conn: &mut SqliteConnection) -> Result<Option<Arc<LineDict>>, DbError> {
    let row: Option<(i64, Vec<u8>, i64)> = line_dicts::table
        .order(line_dicts::id.desc())
        .select((line_dicts::id, line_dicts::dict, line_dicts::trained_at))
        .first(conn)
        .optional()?;
    Ok(row.map(|(id, bytes, trained_at)| Arc::new(LineDict::new(id, bytes, trained_at, true))))
}

/// The dictionary to compress a segment's `lines` with: the newest stored one, or one trained
/// on them if that is missing or old (`None` if there is too little text to train on).
pub fn for_segment<'a>(
    conn: &mut SqliteConnection,
    lines: impl Iterator<Item = &'a str> + Clone,
    now: i64,
) -> Result<Option<Arc<LineDict>>, DbError> {
    let newest = newest(conn)?;
    if let Some(dict) = &newest {
        if now - dict.trained_at < DICT_MAX_AGE_SECS {
            return Ok(newest);
        }
    }
    let next_id = newest.as_ref().map_or(1, |d| d.id + 1);
    Ok(trained(lines, next_id, now).map(Arc::new).or(newest))
}

/// Dictionary `id` trained on `lines`, if there is enough text.
pub fn trained<'a>(
    lines: impl Iterator<Item = &'a str> + Clone,
    id: i64,
    now: i64,
) -> Option<LineDict> {
    train(lines).map(|bytes| LineDict::new(id, bytes, now, false))
}

/// A dictionary trained on an even sample of `lines`, if there is enough text.
fn train<'a>(lines: impl Iterator<Item = &'a str> + Clone) -> Option<Vec<u8>> {
    let total: usize = lines.clone().map(str::len).sum();
    if total < MIN_SAMPLE_BYTES {
        return None;
    }
    // Every `step`-th group of lines, so that the sample spans the whole segment.
    let step = total.div_ceil(SAMPLE_BYTES).max(1);
    let mut text = Vec::with_capacity(SAMPLE_BYTES + 4096);
    let mut sizes = Vec::new();
    let all: Vec<&str> = lines.collect();
    for (n, group) in all.chunks(LINES_PER_SAMPLE).enumerate() {
        if n % step != 0 {
            continue;
        }
        let start = text.len();
        for line in group {
            // As frames hold them: end to end, their lengths apart.
            text.extend_from_slice(line.as_bytes());
        }
        sizes.push(text.len() - start);
    }
    zstd::dict::from_continuous(&text, &sizes, DICT_BYTES).ok()
}

/// Stores `dict` unless it is stored already (by the writer, with the first blocks using it).
pub fn store(conn: &mut SqliteConnection, dict: &LineDict) -> QueryResult<()> {
    diesel::insert_or_ignore_into(line_dicts::table)
        .values((
            line_dicts::id.eq(dict.id),
            line_dicts::dict.eq(&dict.bytes),
            line_dicts::trained_at.eq(dict.trained_at),
        ))
        .execute(conn)?;
    // Another dictionary under the same id would make these blocks unreadable: the
    // transaction fails instead (ids come from the one compactor, so it does not happen).
    let stored: Vec<u8> = line_dicts::table
        .find(dict.id)
        .select(line_dicts::dict)
        .first(conn)?;
    if stored != dict.bytes {
        return Err(diesel::result::Error::RollbackTransaction);
    }
    Ok(())
}

/// Dictionary `id` prepared for decompression; `None` if it is not stored.
pub fn load(conn: &mut SqliteConnection, id: i64) -> Result<Option<Arc<DDict<'static>>>, DbError> {
    let bytes: Option<Vec<u8>> = line_dicts::table
        .find(id)
        .select(line_dicts::dict)
        .first(conn)
        .optional()?;
    Ok(bytes.and_then(|b| DDict::try_create(&b)).map(Arc::new))
}

/// Prepared dictionaries by id, each loaded once.
#[derive(Default)]
pub struct Dicts(Mutex<HashMap<i64, Arc<DDict<'static>>>>);

impl Dicts {
    /// The dictionary block `block`'s lines blob names, if it names one.
    pub fn for_lines(
        &self,
        conn: &mut SqliteConnection,
        block: i64,
        blob: &LinesBlob,
    ) -> Result<Option<Arc<DDict<'static>>>, DbError> {
        let corrupt = |reason| DbError::CorruptBlock { block, reason };
        let id = blob.dict();
        if id == 0 {
            return Ok(None);
        }
        if let Some(dict) = self.lock().get(&id) {
            return Ok(Some(dict.clone()));
        }
        let dict = load(conn, id)?
            .ok_or_else(|| corrupt(FormatError::Malformed("its dictionary is not stored")))?;
        self.lock().insert(id, dict.clone());
        Ok(Some(dict))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<DDict<'static>>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
