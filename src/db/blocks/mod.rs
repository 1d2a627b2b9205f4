//! The cold form of stored lines: sealed segments compacted into parts of blocks, each block a
//! few hundred to a few thousand rows sorted by (date, id), their keys by column and their
//! lines compressed in frames with a shared dictionary, with a header that lets a query pass
//! over it unread.
//!
//! - `format`: a block's two blobs (encode, decode, checksums);
//! - `dict`: the zstd dictionaries its lines are compressed with;
//! - `synopsis`: what a header says of its block's keys;
//! - `grams`: a bloom filter of a block's trigrams, for substrings and path prefixes (the
//!   hashing both filters share is `bloom`);
//! - `part`: a part's states and what is passed of one;
//! - `build`: a sealed segment's rows into blocks (the compactor's read connection);
//! - `merge`: which parts to merge (size-tiered) and the streaming merge;
//! - `commit`: the writer's steps (add a part, write a merge, delete what was replaced);
//! - `read`: the queries' side (merged walks, counts, rows by id);
//! - `cache`: decoded blocks shared by the readers.

pub mod bloom;
pub mod build;
pub mod cache;
pub mod commit;
pub mod dict;
pub mod format;
pub mod grams;
pub mod merge;
pub mod part;
pub mod read;
pub mod synopsis;
