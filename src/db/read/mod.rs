//! The read path: the [`reader::Reader`] pool's queries, each reading the hot segments and
//! the blocks in one read transaction (`stored` merges the two): pages (`log_query`, over the
//! hot segments' merge in `segment_merge`), breakdowns (`stats_query`), a tail's read-back
//! (`tail`) and rejected lines (`rejected_query`).

pub mod count_tables;
pub mod filter;
pub mod log_query;
pub mod reader;
pub mod rejected_query;
pub mod segment_merge;
pub mod stat_key;
pub mod stats_query;
pub mod stored;
pub mod tail;
