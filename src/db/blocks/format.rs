//! How a block is stored: two blobs, the keys by column and the lines, each compressed with
//! zstd and led by a CRC-32 of what follows, so a flipped bit is found before anything is
//! decoded. Rows are in (date, id) order.
//!
//! Integers are written at a fixed width per column (the fewest bytes that hold the column's
//! largest value, as VictoriaLogs does), their bytes split into planes (every value's first
//! byte, then every second byte, ...: the high bytes, mostly equal, come together), and left to
//! zstd: it removes most of what bit packing would, and the layout stays a few lines of code.
//! Dates are deltas from the row before (sorted, so small), ids offsets from the block's
//! smallest.
//!
//! Layout before compression, every integer little-endian:
//! - keys: `rows: u32`, then the columns date, id, code, method, user, source, size, each
//!   `width: u8` and `rows` values of that width in planes (`base: i64` first for date and
//!   id), then per row the address key's length (`u8`, 0 for none) and its bytes (see
//!   `ip_key.rs`).
//! - lines, in frames of [`FRAME_ROWS`] rows, each compressed on its own with the dictionary
//!   the blob names (`dict.rs`), so that reading one row's line decompresses its frame only:
//!   a frame is its lines' lengths at a fixed width (in planes), then their text.
//!
//! A keys blob is `crc32: u32`, `raw length: u32`, then the zstd frame. A lines blob is
//! `crc32: u32`, `u32::MAX` (which no raw length is), `dict: i64` (0: none), `frame rows: u16`,
//! `frames: u16`, each frame's `(compressed, raw): (u32, u32)`, then the frames. Lines blobs
//! written before frames (one frame of all lines, without a dictionary, laid out like a keys
//! blob) are still read.

use thiserror::Error;
use zstd::zstd_safe::{CCtx, CDict, DCtx, DDict};

/// zstd's level for both blobs: higher levels compress a little better at several times the
/// cost (`docs/performance.md`, "Constants").
pub(super) const LEVEL: i32 = 3;

/// Bounds a decoder trusts, far above what is written (1,024 rows, 1 MiB of lines and 64 KiB
/// for the last line): a damaged length cannot make it allocate gigabytes.
const MAX_ROWS: usize = 1 << 16;
const MAX_RAW_BYTES: usize = 64 << 20;

/// One row as a block holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRow {
    pub date: i64,
    pub id: i64,
    pub code: i32,
    pub method_id: i64,
    pub user_id: i64,
    pub source_id: i64,
    pub size: i64,
    /// As `log_keys.ip`; `None` when the field is not an address.
    pub ip: Option<Vec<u8>>,
    pub line: String,
}

/// The keys of a block's rows, by column; row `i` is index `i` of each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockKeys {
    pub date: Vec<i64>,
    pub id: Vec<i64>,
    pub code: Vec<i32>,
    pub method_id: Vec<i64>,
    pub user_id: Vec<i64>,
    pub source_id: Vec<i64>,
    pub size: Vec<i64>,
    /// The rows' address keys end to end (one buffer, not one allocation a row); row `i`'s
    /// is `ip_bytes[ip_ends[i - 1]..ip_ends[i]]`, empty for none.
    pub(super) ip_bytes: Vec<u8>,
    pub(super) ip_ends: Vec<u32>,
}

impl BlockKeys {
    pub fn of(rows: &[BlockRow]) -> BlockKeys {
        BlockKeys {
            date: rows.iter().map(|r| r.date).collect(),
            id: rows.iter().map(|r| r.id).collect(),
            code: rows.iter().map(|r| r.code).collect(),
            method_id: rows.iter().map(|r| r.method_id).collect(),
            user_id: rows.iter().map(|r| r.user_id).collect(),
            source_id: rows.iter().map(|r| r.source_id).collect(),
            size: rows.iter().map(|r| r.size).collect(),
            ..Default::default()
        }
        .with_ips(rows.iter().map(|r| r.ip.as_deref().unwrap_or_default()))
    }

    /// The same keys with these address keys, one a row (empty for none).
    pub fn with_ips<'a>(mut self, ips: impl Iterator<Item = &'a [u8]>) -> BlockKeys {
        self.ip_bytes.clear();
        self.ip_ends.clear();
        for ip in ips {
            self.ip_bytes.extend_from_slice(ip);
            self.ip_ends.push(self.ip_bytes.len() as u32);
        }
        self
    }

    pub fn len(&self) -> usize {
        self.id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }

    /// Row `i`'s address key, if it has one.
    pub fn ip(&self, i: usize) -> Option<&[u8]> {
        let start = if i == 0 { 0 } else { self.ip_ends[i - 1] };
        let ip = &self.ip_bytes[start as usize..self.ip_ends[i] as usize];
        (!ip.is_empty()).then_some(ip)
    }

    /// Every row's address key, empty for none.
    pub fn ips(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).map(|i| self.ip(i).unwrap_or_default())
    }

    /// Bytes held in memory, about.
    pub fn weight(&self) -> usize {
        self.len() * 60 + self.ip_bytes.len()
    }
}

/// Rows per frame of a block's lines: a row's line costs a quarter of the block's
/// decompression, and with a dictionary the frames take a few percent more than one frame of
/// the whole block (the trade measured is in docs/performance.md).
pub const FRAME_ROWS: usize = 256;
/// Where a keys blob has its raw length, a framed lines blob has this.
const FRAMED: u32 = u32::MAX;

/// Some of a block's lines, from row `first` on: row `first + i` is
/// `text[ends[i - 1]..ends[i]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockLines {
    first: usize,
    text: String,
    ends: Vec<usize>,
}

impl BlockLines {
    /// The line of row `row` of the block, which must be among these.
    pub fn get(&self, row: usize) -> &str {
        let i = row - self.first;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    /// Whether these lines hold row `row`'s.
    pub fn holds(&self, row: usize) -> bool {
        (self.first..self.first + self.ends.len()).contains(&row)
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Bytes held in memory.
    pub fn weight(&self) -> usize {
        self.text.len() + self.ends.len() * std::mem::size_of::<usize>()
    }
}

/// What is wrong with a stored blob.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FormatError {
    #[error("the blob's checksum does not match its content")]
    Checksum,
    #[error("the blob cannot be decoded: {0}")]
    Malformed(&'static str),
}

/// The two blobs of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBlock {
    pub keys: Vec<u8>,
    pub lines: Vec<u8>,
    /// Bytes of the lines before compression.
    pub raw_bytes: usize,
}

/// A dictionary to compress lines with: its id, which the blob names, and its prepared form
/// (`dict.rs` trains and stores them).
#[derive(Clone, Copy)]
pub struct DictRef<'a> {
    pub id: i64,
    pub cdict: &'a CDict<'static>,
}

/// Encodes rows already in (date, id) order, their lines with `dict` if there is one.
pub fn encode(rows: &[BlockRow], dict: Option<DictRef>) -> EncodedBlock {
    debug_assert!(rows
        .windows(2)
        .all(|w| (w[0].date, w[0].id) < (w[1].date, w[1].id)));
    let mut keys = Vec::with_capacity(rows.len() * 16);
    keys.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    put_deltas(&mut keys, rows.iter().map(|r| r.date));
    put_based(&mut keys, rows.iter().map(|r| r.id));
    put_column(&mut keys, rows.iter().map(|r| r.code as u64));
    put_column(&mut keys, rows.iter().map(|r| r.method_id as u64));
    put_column(&mut keys, rows.iter().map(|r| r.user_id as u64));
    put_column(&mut keys, rows.iter().map(|r| r.source_id as u64));
    put_column(&mut keys, rows.iter().map(|r| r.size.max(0) as u64));
    for row in rows {
        let ip = row.ip.as_deref().unwrap_or_default();
        keys.push(ip.len() as u8);
        keys.extend_from_slice(ip);
    }
    EncodedBlock {
        keys: seal(&keys),
        lines: encode_lines(rows, dict),
        raw_bytes: rows.iter().map(|r| r.line.len()).sum(),
    }
}

/// The lines blob: frames of [`FRAME_ROWS`] rows, each compressed on its own.
fn encode_lines(rows: &[BlockRow], dict: Option<DictRef>) -> Vec<u8> {
    let frames: Vec<(Vec<u8>, usize)> = rows
        .chunks(FRAME_ROWS)
        .map(|rows| {
            let mut raw = Vec::with_capacity(rows.iter().map(|r| r.line.len() + 2).sum());
            put_column(&mut raw, rows.iter().map(|r| r.line.len() as u64));
            for row in rows {
                raw.extend_from_slice(row.line.as_bytes());
            }
            (compress(&raw, dict), raw.len())
        })
        .collect();
    let mut blob = vec![0; 4];
    blob.extend_from_slice(&FRAMED.to_le_bytes());
    blob.extend_from_slice(&dict.map_or(0, |d| d.id).to_le_bytes());
    blob.extend_from_slice(&(FRAME_ROWS as u16).to_le_bytes());
    blob.extend_from_slice(&(frames.len() as u16).to_le_bytes());
    for (frame, raw) in &frames {
        blob.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        blob.extend_from_slice(&(*raw as u32).to_le_bytes());
    }
    for (frame, _) in &frames {
        blob.extend_from_slice(frame);
    }
    let crc = crc32fast::hash(&blob[4..]);
    blob[..4].copy_from_slice(&crc.to_le_bytes());
    blob
}

pub fn decode_keys(blob: &[u8]) -> Result<BlockKeys, FormatError> {
    let raw = open(blob)?;
    let mut r = Reader(&raw);
    let rows = r.u32()? as usize;
    if rows > MAX_ROWS {
        return Err(FormatError::Malformed("more rows than any block"));
    }
    let date = r.deltas(rows)?;
    let id = r.based(rows)?;
    let code = r.column(rows)?.into_iter().map(|v| v as i32).collect();
    let method_id = r.signed(rows)?;
    let user_id = r.signed(rows)?;
    let source_id = r.signed(rows)?;
    let size = r.signed(rows)?;
    let mut ip_bytes = Vec::with_capacity(rows * 5);
    let mut ip_ends = Vec::with_capacity(rows);
    for _ in 0..rows {
        let len = r.take(1)?[0] as usize;
        ip_bytes.extend_from_slice(r.take(len)?);
        ip_ends.push(ip_bytes.len() as u32);
    }
    if !r.0.is_empty() {
        return Err(FormatError::Malformed("bytes after the last column"));
    }
    Ok(BlockKeys {
        date,
        id,
        code,
        method_id,
        user_id,
        source_id,
        size,
        ip_bytes,
        ip_ends,
    })
}

/// A lines blob whose checksum holds, not decompressed yet: opened once, it names its
/// dictionary (to be loaded) and then gives its frames.
pub enum LinesBlob<'a> {
    /// Written before frames: one zstd frame of all lines, without a dictionary.
    Single(&'a [u8]),
    Framed {
        dict: i64,
        frame_rows: usize,
        /// Each frame's bytes and raw length.
        frames: Vec<(&'a [u8], usize)>,
    },
}

impl<'a> LinesBlob<'a> {
    pub fn open(blob: &'a [u8]) -> Result<LinesBlob<'a>, FormatError> {
        let body = checked(blob)?;
        let mut r = Reader(body);
        if r.u32()? != FRAMED {
            return Ok(LinesBlob::Single(body));
        }
        let dict = r.i64()?;
        let frame_rows = r.u16()? as usize;
        let count = r.u16()? as usize;
        // Readers cache a frame by `row / FRAME_ROWS`: other frame sizes are not ours.
        if frame_rows != FRAME_ROWS {
            return Err(FormatError::Malformed("frames of another size"));
        }
        if count > MAX_ROWS.div_ceil(FRAME_ROWS) {
            return Err(FormatError::Malformed("more frames than any block"));
        }
        let mut sizes = Vec::with_capacity(count);
        let mut total = 0usize;
        for _ in 0..count {
            let (compressed, raw) = (r.u32()? as usize, r.u32()? as usize);
            total += raw;
            if total > MAX_RAW_BYTES {
                return Err(FormatError::Malformed("longer than any block"));
            }
            sizes.push((compressed, raw));
        }
        let mut frames = Vec::with_capacity(count);
        for (compressed, raw) in sizes {
            frames.push((r.take(compressed)?, raw));
        }
        if !r.0.is_empty() {
            return Err(FormatError::Malformed("bytes after the last frame"));
        }
        Ok(LinesBlob::Framed {
            dict,
            frame_rows,
            frames,
        })
    }

    /// The dictionary its frames were compressed with (0: none).
    pub fn dict(&self) -> i64 {
        match self {
            LinesBlob::Single(_) => 0,
            LinesBlob::Framed { dict, .. } => *dict,
        }
    }

    /// Every line of a block of `rows` rows.
    pub fn all(
        &self,
        dict: Option<&DDict<'static>>,
        rows: usize,
    ) -> Result<BlockLines, FormatError> {
        let mut all = BlockLines::default();
        for frame in 0..self.frames() {
            let lines = self.frame(frame, dict, rows)?;
            let offset = all.text.len();
            all.text.push_str(&lines.text);
            all.ends.extend(lines.ends.iter().map(|end| end + offset));
        }
        if all.ends.len() != rows {
            return Err(FormatError::Malformed("fewer lines than rows"));
        }
        Ok(all)
    }

    /// The lines of the frame holding row `row` of a block of `rows` rows (all of them, in a
    /// blob written before frames).
    pub fn frame_holding(
        &self,
        row: usize,
        dict: Option<&DDict<'static>>,
        rows: usize,
    ) -> Result<BlockLines, FormatError> {
        self.frame(self.frame_of(row), dict, rows)
    }

    fn frames(&self) -> usize {
        match self {
            LinesBlob::Single(_) => 1,
            LinesBlob::Framed { frames, .. } => frames.len(),
        }
    }

    fn frame_of(&self, row: usize) -> usize {
        match self {
            LinesBlob::Single(_) => 0,
            LinesBlob::Framed { frame_rows, .. } => row / frame_rows,
        }
    }

    /// Frame `frame`'s lines, of a block of `rows` rows.
    fn frame(
        &self,
        frame: usize,
        dict: Option<&DDict<'static>>,
        rows: usize,
    ) -> Result<BlockLines, FormatError> {
        let (raw, first, count) = match self {
            LinesBlob::Single(body) => (unseal(body)?, 0, rows),
            LinesBlob::Framed {
                frame_rows, frames, ..
            } => {
                let &(bytes, len) = frames
                    .get(frame)
                    .ok_or(FormatError::Malformed("a row beyond the frames"))?;
                let first = frame * frame_rows;
                let count = (*frame_rows).min(rows.saturating_sub(first));
                (decompress(bytes, len, dict)?, first, count)
            }
        };
        frame_lines(raw, first, count)
    }
}

/// Lines `first..first + count` from a frame's raw bytes.
fn frame_lines(raw: Vec<u8>, first: usize, count: usize) -> Result<BlockLines, FormatError> {
    let mut r = Reader(&raw);
    let lengths = r.column(count)?;
    let mut ends = Vec::with_capacity(count);
    let mut end = 0usize;
    for len in lengths {
        // Lengths from a damaged blob must not wrap around (ends would then go backwards).
        end = usize::try_from(len)
            .ok()
            .and_then(|len| end.checked_add(len))
            .ok_or(FormatError::Malformed("the lines' lengths do not add up"))?;
        ends.push(end);
    }
    if r.0.len() != end {
        return Err(FormatError::Malformed("the lines' lengths do not add up"));
    }
    // The text in place: the lengths before it moved out, not the text copied.
    let lengths = raw.len() - end;
    let mut raw = raw;
    raw.drain(..lengths);
    let text = String::from_utf8(raw).map_err(|_| FormatError::Malformed("a line is not UTF-8"))?;
    if ends.iter().any(|&end| !text.is_char_boundary(end)) {
        return Err(FormatError::Malformed("a line ends inside a character"));
    }
    Ok(BlockLines { first, text, ends })
}

thread_local! {
    // One zstd context a thread, made once: making one costs as much as decompressing a small
    // frame, and a page decompresses a frame per block it reads.
    static CCTX: std::cell::RefCell<CCtx<'static>> = std::cell::RefCell::new(CCtx::create());
    static DCTX: std::cell::RefCell<DCtx<'static>> = std::cell::RefCell::new(DCtx::create());
}

fn compress(raw: &[u8], dict: Option<DictRef>) -> Vec<u8> {
    let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(raw.len()));
    CCTX.with_borrow_mut(|cctx| {
        // Compressing into a buffer of the bound's size fails only on allocation failure.
        match dict {
            Some(dict) => cctx.compress_using_cdict(&mut out, raw, dict.cdict),
            None => cctx.compress(&mut out, raw, LEVEL),
        }
        .expect("zstd compresses a buffer in memory");
    });
    out
}

fn decompress(
    frame: &[u8],
    len: usize,
    dict: Option<&DDict<'static>>,
) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::with_capacity(len);
    DCTX.with_borrow_mut(|dctx| match dict {
        Some(dict) => dctx.decompress_using_ddict(&mut out, frame, dict),
        None => dctx.decompress(&mut out, frame),
    })
    .map_err(|_| FormatError::Malformed("not a zstd frame of its dictionary"))?;
    if out.len() != len {
        return Err(FormatError::Malformed("shorter than its stated length"));
    }
    Ok(out)
}

/// Compresses `raw` and leads it with its checksum and length.
fn seal(raw: &[u8]) -> Vec<u8> {
    let frame = compress(raw, None);
    let mut blob = Vec::with_capacity(frame.len() + 8);
    blob.extend_from_slice(&[0; 4]);
    blob.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    blob.extend_from_slice(&frame);
    let crc = crc32fast::hash(&blob[4..]);
    blob[..4].copy_from_slice(&crc.to_le_bytes());
    blob
}

/// What follows a blob's checksum, once the checksum holds.
fn checked(blob: &[u8]) -> Result<&[u8], FormatError> {
    if blob.len() < 8 {
        return Err(FormatError::Malformed("shorter than its header"));
    }
    let crc = u32::from_le_bytes(blob[..4].try_into().expect("4 bytes"));
    if crc32fast::hash(&blob[4..]) != crc {
        return Err(FormatError::Checksum);
    }
    Ok(&blob[4..])
}

/// The raw bytes of a sealed blob, once its checksum holds.
fn open(blob: &[u8]) -> Result<Vec<u8>, FormatError> {
    unseal(checked(blob)?)
}

/// A raw length and a zstd frame, decompressed.
fn unseal(body: &[u8]) -> Result<Vec<u8>, FormatError> {
    let mut r = Reader(body);
    let len = r.u32()? as usize;
    if len > MAX_RAW_BYTES {
        return Err(FormatError::Malformed("longer than any block"));
    }
    decompress(r.0, len, None)
}

/// The bytes needed for `max`: 0, 1, 2, 4 or 8.
fn width(max: u64) -> u8 {
    match max {
        0 => 0,
        1..=0xff => 1,
        0x100..=0xffff => 2,
        0x1_0000..=0xffff_ffff => 4,
        _ => 8,
    }
}

fn put_column(out: &mut Vec<u8>, values: impl Iterator<Item = u64> + Clone) {
    let w = width(values.clone().max().unwrap_or(0));
    out.push(w);
    for plane in 0..w as usize {
        out.extend(values.clone().map(|v| v.to_le_bytes()[plane]));
    }
}

/// A sorted column as its first value and the deltas from each value to the next.
fn put_deltas(out: &mut Vec<u8>, values: impl Iterator<Item = i64> + Clone) {
    let first = values.clone().next().unwrap_or(0);
    out.extend_from_slice(&first.to_le_bytes());
    let previous = std::iter::once(first).chain(values.clone());
    put_column(
        out,
        values
            .zip(previous)
            .map(|(v, before)| v.wrapping_sub(before) as u64),
    );
}

/// A column as offsets from its smallest value, which leads it.
fn put_based(out: &mut Vec<u8>, values: impl Iterator<Item = i64> + Clone) {
    let base = values.clone().min().unwrap_or(0);
    out.extend_from_slice(&base.to_le_bytes());
    put_column(out, values.map(|v| v.wrapping_sub(base) as u64));
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if self.0.len() < n {
            return Err(FormatError::Malformed("ends early"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16, FormatError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }

    fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }

    fn i64(&mut self) -> Result<i64, FormatError> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    fn column(&mut self, rows: usize) -> Result<Vec<u64>, FormatError> {
        let w = self.take(1)?[0] as usize;
        if ![0, 1, 2, 4, 8].contains(&w) {
            return Err(FormatError::Malformed("a column's width"));
        }
        let bytes = self.take(w * rows)?;
        let mut values = vec![0u64; rows];
        for (plane, bytes) in bytes.chunks_exact(rows.max(1)).enumerate().take(w) {
            for (value, &byte) in values.iter_mut().zip(bytes) {
                *value |= u64::from(byte) << (8 * plane);
            }
        }
        Ok(values)
    }

    fn deltas(&mut self, rows: usize) -> Result<Vec<i64>, FormatError> {
        let mut value = self.i64()?;
        Ok(self
            .column(rows)?
            .into_iter()
            .map(|delta| {
                value = value.wrapping_add(delta as i64);
                value
            })
            .collect())
    }

    fn signed(&mut self, rows: usize) -> Result<Vec<i64>, FormatError> {
        Ok(self.column(rows)?.into_iter().map(|v| v as i64).collect())
    }

    fn based(&mut self, rows: usize) -> Result<Vec<i64>, FormatError> {
        let base = self.i64()?;
        Ok(self
            .column(rows)?
            .into_iter()
            .map(|v| base.wrapping_add(v as i64))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(date: i64, id: i64, line: &str) -> BlockRow {
        BlockRow {
            date,
            id,
            code: 200 + (id % 5) as i32,
            method_id: id % 3,
            user_id: if id % 2 == 0 { 0 } else { 70_000 + id },
            source_id: 1,
            size: id * 1_000,
            ip: (id % 4 != 0).then(|| vec![4, 10, 0, 0, id as u8]),
            line: line.to_owned(),
        }
    }

    #[test]
    fn rows_come_back_as_they_went_in() {
        let rows: Vec<BlockRow> = (1..=300)
            .map(|i| {
                row(
                    1_600_000_000 + i / 3,
                    2_000_000 - (i / 3) * 10 + i % 3,
                    &format!("línea {i}"),
                )
            })
            .collect();
        let block = encode(&rows, None);
        let keys = decode_keys(&block.keys).unwrap();
        let lines = LinesBlob::open(&block.lines)
            .unwrap()
            .all(None, keys.len())
            .unwrap();
        assert_eq!(keys.len(), rows.len());
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(
                (keys.date[i], keys.id[i], keys.code[i], keys.method_id[i]),
                (r.date, r.id, r.code, r.method_id)
            );
            assert_eq!(
                (keys.user_id[i], keys.source_id[i], keys.size[i]),
                (r.user_id, r.source_id, r.size)
            );
            assert_eq!(keys.ip(i), r.ip.as_deref());
            assert_eq!(lines.get(i), r.line);
        }
    }

    #[test]
    fn a_flipped_bit_is_a_checksum_error() {
        let rows = vec![row(1, 1, "a"), row(2, 2, "b")];
        let block = encode(&rows, None);
        for blob in [&block.keys, &block.lines] {
            for byte in [0, 5, blob.len() - 1] {
                let mut bad = blob.clone();
                bad[byte] ^= 0x10;
                let keys = decode_keys(&bad);
                let lines = LinesBlob::open(&bad).and_then(|b| b.all(None, 2));
                assert_eq!(keys.err(), Some(FormatError::Checksum));
                assert_eq!(lines.err(), Some(FormatError::Checksum));
            }
        }
        assert!(decode_keys(&[1, 2]).is_err());
    }

    #[test]
    fn an_empty_block_and_negative_dates_round_trip() {
        let keys = decode_keys(&encode(&[], None).keys).unwrap();
        assert!(keys.is_empty());
        let rows = vec![row(-5_000_000_000, 3, ""), row(i64::MAX / 2, 2, "x")];
        let keys = decode_keys(&encode(&rows, None).keys).unwrap();
        assert_eq!(keys.date, vec![-5_000_000_000, i64::MAX / 2]);
    }

    fn generated(count: usize) -> Vec<BlockRow> {
        let mut generator = crate::emulator::LineGenerator::new(5);
        (0..count)
            .map(|i| row(1_000 + i as i64, 1 + i as i64, &generator.next_line()))
            .collect()
    }

    #[test]
    fn framed_lines_with_a_dictionary_decode_whole_or_a_frame_at_a_time() {
        let sample = generated(20_000);
        let dict = super::super::dict::trained(sample.iter().map(|r| r.line.as_str()), 1, 0)
            .expect("enough text to train on");
        let ddict = DDict::create(&dict.bytes);
        let rows = generated(300);
        let block = encode(&rows, Some(dict.dict_ref()));
        let blob = LinesBlob::open(&block.lines).unwrap();
        assert_eq!(blob.dict(), 1);
        let all = blob.all(Some(&ddict), rows.len()).unwrap();
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(all.get(i), r.line);
        }
        // Row 130 is in the first frame, row 260 in the second, which holds rows 256 to 299.
        let frame = blob.frame_holding(130, Some(&ddict), rows.len()).unwrap();
        assert!(frame.holds(0) && frame.holds(255) && !frame.holds(256));
        assert_eq!(frame.get(130), rows[130].line);
        let frame = blob.frame_holding(260, Some(&ddict), rows.len()).unwrap();
        assert!(frame.holds(256) && frame.holds(299) && !frame.holds(255));
        let last = blob.frame_holding(299, Some(&ddict), rows.len()).unwrap();
        assert_eq!(last.get(299), rows[299].line);
        // Without its dictionary, or with another, a frame is an error, not a panic.
        assert!(blob.frame_holding(3, None, rows.len()).is_err());
        let other = super::super::dict::trained(
            generated(20_000).iter().rev().map(|r| r.line.as_str()),
            2,
            0,
        )
        .unwrap();
        let _ = blob.frame_holding(3, Some(&DDict::create(&other.bytes)), 300);
        // A dictionary keeps frames of 256 lines about as small as one frame of all of them.
        let plain = encode(&generated(1_024), None).lines.len();
        let framed = encode(&generated(1_024), Some(dict.dict_ref())).lines.len();
        assert!(framed < plain * 11 / 10, "{framed} against {plain}");
    }

    #[test]
    fn lines_written_before_frames_are_read() {
        let rows = generated(200);
        let mut raw = Vec::new();
        put_column(&mut raw, rows.iter().map(|r| r.line.len() as u64));
        for r in &rows {
            raw.extend_from_slice(r.line.as_bytes());
        }
        let blob = seal(&raw);
        let blob = LinesBlob::open(&blob).unwrap();
        assert_eq!(blob.dict(), 0);
        let all = blob.all(None, rows.len()).unwrap();
        let frame = blob.frame_holding(150, None, rows.len()).unwrap();
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(
                (all.get(i), frame.get(i)),
                (r.line.as_str(), r.line.as_str())
            );
        }
    }
}
