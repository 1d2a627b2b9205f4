//! The write path: the [`writer::DbWriter`] actor owns the one writer connection; `store`
//! appends batches to the open hot segment (lines, keys, counts and stream marks in one
//! transaction); the compactor moves sealed segments into blocks, and retention deletes the
//! oldest, each a short step at a time through the writer.

pub mod compactor;
pub mod retention;
pub mod retention_schedule;
pub mod store;
pub mod writer;
