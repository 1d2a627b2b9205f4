//! A bloom filter of a block's byte trigrams, so that `q=` (a substring of the line) and
//! `path=` (a prefix of the path, so a substring too) pass over blocks that cannot hold it
//! without reading their lines. A substring is only in a block whose filter has all its
//! trigrams. At 4 bits a trigram and 2 probes a trigram the block lacks still passes about 1
//! time in 6.5 (computed), so a ten-letter word's eight trigrams all pass about 1 time in 3
//! million. A substring shorter than three bytes says nothing.
//!
//! Stored in a table of its own (`block_grams`), read only by queries with `q=` or `path=`: at
//! a few kilobytes a block it would slow every other query's walk over the headers. The layout
//! is ours (a version byte, then the bits), since stored filters must read the same in later
//! releases.

use super::bloom;

const VERSION: u8 = 1;
/// Filter bits per distinct trigram, and probes.
const BITS_PER_GRAM: usize = 4;
const PROBES: u64 = 2;
/// Bounds on a filter's size, in bytes.
const MIN_BYTES: usize = 128;
const MAX_BYTES: usize = 64 * 1024;

fn key(gram: &[u8]) -> u64 {
    u64::from(gram[0]) << 16 | u64::from(gram[1]) << 8 | u64::from(gram[2])
}

/// The filter of these lines.
pub fn build<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<u8> {
    // Distinct trigrams through a bitmap of all 2^24 of them (2 MiB, zeroed lazily by the
    // system): sorting every trigram of a block cost more than the rest of its compaction.
    let mut seen = vec![0u64; 1 << 18];
    let mut grams: Vec<u64> = Vec::new();
    for gram in lines.flat_map(|line| line.as_bytes().windows(3).map(key)) {
        let (word, bit) = ((gram >> 6) as usize, 1u64 << (gram & 63));
        if seen[word] & bit == 0 {
            seen[word] |= bit;
            grams.push(gram);
        }
    }
    let bytes = (grams.len() * BITS_PER_GRAM)
        .div_ceil(8)
        .clamp(MIN_BYTES, MAX_BYTES);
    let mut filter = vec![0u8; bytes + 1];
    filter[0] = VERSION;
    for gram in grams {
        bloom::insert(&mut filter[1..], gram, PROBES);
    }
    filter
}

/// False when no line of the block can contain `needle`; true when one may (or the filter is
/// not one this release wrote).
pub fn may_contain(filter: &[u8], needle: &str) -> bool {
    let Some((&VERSION, bits)) = filter.split_first() else {
        return true;
    };
    if bits.is_empty() {
        return true;
    }
    needle
        .as_bytes()
        .windows(3)
        .all(|gram| bloom::contains(bits, key(gram), PROBES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_substring_of_a_line_may_be_there_and_absent_words_are_not() {
        let lines = [
            r#"10.0.0.1 - ann [01/Jul/2000:10:00:00 +0000] "GET /photos/1 HTTP/1.0" 200 5"#,
            r#"10.0.0.2 - bob [01/Jul/2000:10:00:01 +0000] "POST /likes/2 HTTP/1.0" 500 6"#,
        ];
        let filter = build(lines.iter().copied());
        for line in lines {
            for start in 0..line.len() {
                for end in start..=line.len() {
                    if let Some(needle) = line.get(start..end) {
                        assert!(may_contain(&filter, needle), "{needle:?}");
                    }
                }
            }
        }
        for absent in ["rareuser", "/bookmarks/", "curl/8.1", "DELETE"] {
            assert!(!may_contain(&filter, absent), "{absent}");
        }
        // Too short to tell, and a filter this release did not write.
        assert!(may_contain(&filter, "zz"));
        assert!(may_contain(&[9, 0, 0], "rareuser"));
    }
}
