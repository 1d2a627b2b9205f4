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
//! - lines: each line's length at a fixed width (in planes), then the lines' text.
//!
//! A stored blob is `crc32: u32`, `raw length: u32`, then the zstd frame.

use thiserror::Error;

/// zstd's level for both blobs: level 3 kept 1,024 date-sorted stand-in lines in 0.137x
/// their size against 0.110x at 9, at several times the speed (`../shared/research/storage.md`).
const LEVEL: i32 = 3;

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
    /// Each row's address key, empty for none.
    pub ip: Vec<Vec<u8>>,
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
            ip: rows
                .iter()
                .map(|r| r.ip.clone().unwrap_or_default())
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }

    /// Row `i`'s address key, if it has one.
    pub fn ip(&self, i: usize) -> Option<&[u8]> {
        let ip = &self.ip[i];
        (!ip.is_empty()).then_some(ip.as_slice())
    }
}

/// A block's lines: line `i` is `text[ends[i - 1]..ends[i]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockLines {
    text: String,
    ends: Vec<usize>,
}

impl BlockLines {
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
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

/// Encodes rows already in (date, id) order.
pub fn encode(rows: &[BlockRow]) -> EncodedBlock {
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
    let raw_bytes: usize = rows.iter().map(|r| r.line.len()).sum();
    let mut lines = Vec::with_capacity(raw_bytes + rows.len() * 2);
    put_column(&mut lines, rows.iter().map(|r| r.line.len() as u64));
    for row in rows {
        lines.extend_from_slice(row.line.as_bytes());
    }
    EncodedBlock {
        keys: seal(&keys),
        lines: seal(&lines),
        raw_bytes,
    }
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
    let mut ip = Vec::with_capacity(rows);
    for _ in 0..rows {
        let len = r.take(1)?[0] as usize;
        ip.push(r.take(len)?.to_vec());
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
        ip,
    })
}

pub fn decode_lines(blob: &[u8], rows: usize) -> Result<BlockLines, FormatError> {
    let raw = open(blob)?;
    let mut r = Reader(&raw);
    let lengths = r.column(rows)?;
    let mut ends = Vec::with_capacity(rows);
    let mut end = 0usize;
    for len in lengths {
        end += len as usize;
        ends.push(end);
    }
    if r.0.len() != end {
        return Err(FormatError::Malformed("the lines' lengths do not add up"));
    }
    let text = String::from_utf8(r.0.to_vec())
        .map_err(|_| FormatError::Malformed("a line is not UTF-8"))?;
    if ends.iter().any(|&end| !text.is_char_boundary(end)) {
        return Err(FormatError::Malformed("a line ends inside a character"));
    }
    Ok(BlockLines { text, ends })
}

/// Compresses `raw` and leads it with its checksum and length.
fn seal(raw: &[u8]) -> Vec<u8> {
    // Compressing a buffer in memory fails only on allocation failure.
    let frame = zstd::bulk::compress(raw, LEVEL).expect("zstd compresses a buffer in memory");
    let mut blob = Vec::with_capacity(frame.len() + 8);
    blob.extend_from_slice(&[0; 4]);
    blob.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    blob.extend_from_slice(&frame);
    let crc = crc32fast::hash(&blob[4..]);
    blob[..4].copy_from_slice(&crc.to_le_bytes());
    blob
}

/// The raw bytes of a sealed blob, once its checksum holds.
fn open(blob: &[u8]) -> Result<Vec<u8>, FormatError> {
    if blob.len() < 8 {
        return Err(FormatError::Malformed("shorter than its header"));
    }
    let crc = u32::from_le_bytes(blob[..4].try_into().expect("4 bytes"));
    if crc32fast::hash(&blob[4..]) != crc {
        return Err(FormatError::Checksum);
    }
    let len = u32::from_le_bytes(blob[4..8].try_into().expect("4 bytes")) as usize;
    if len > MAX_RAW_BYTES {
        return Err(FormatError::Malformed("longer than any block"));
    }
    let raw = zstd::bulk::decompress(&blob[8..], len)
        .map_err(|_| FormatError::Malformed("not a zstd frame"))?;
    if raw.len() != len {
        return Err(FormatError::Malformed("shorter than its stated length"));
    }
    Ok(raw)
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
        let block = encode(&rows);
        let keys = decode_keys(&block.keys).unwrap();
        let lines = decode_lines(&block.lines, keys.len()).unwrap();
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
        let block = encode(&rows);
        for blob in [&block.keys, &block.lines] {
            for byte in [0, 5, blob.len() - 1] {
                let mut bad = blob.clone();
                bad[byte] ^= 0x10;
                let keys = decode_keys(&bad);
                let lines = decode_lines(&bad, 2);
                assert_eq!(keys.err(), Some(FormatError::Checksum));
                assert_eq!(lines.err(), Some(FormatError::Checksum));
            }
        }
        assert!(decode_keys(&[1, 2]).is_err());
    }

    #[test]
    fn an_empty_block_and_negative_dates_round_trip() {
        let keys = decode_keys(&encode(&[]).keys).unwrap();
        assert!(keys.is_empty());
        let rows = vec![row(-5_000_000_000, 3, ""), row(i64::MAX / 2, 2, "x")];
        let keys = decode_keys(&encode(&rows).keys).unwrap();
        assert_eq!(keys.date, vec![-5_000_000_000, i64::MAX / 2]);
    }
}
