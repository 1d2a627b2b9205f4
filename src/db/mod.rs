//! Storage: one writer connection owned by the [`write::writer::DbWriter`] actor, read-only
//! connections owned by the [`read::reader::Reader`] pool, and the queries they run. It speaks
//! in rows and keys: wire formats and load limits belong to `http`.
//!
//! Three rooms: `write` (the writer, the hot store, compaction and retention), `read` (the
//! queries) and `blocks` (the cold form's format and the steps that build, merge and read it);
//! the rest here is shared (connections, schema, errors, names).

pub mod backup;
pub mod blocks;
pub mod checkpointer;
pub mod connection;
pub mod error;
pub mod health;
pub mod ip_key;
pub mod line_functions;
pub mod lock;
pub mod metrics;
pub mod names;
pub mod read;
pub mod schema;
pub mod source_names;
pub mod sync_actors;
pub mod write;

pub use error::DbError;
