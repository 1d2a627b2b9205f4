//! Storage: one writer connection owned by the [`writer::DbWriter`] actor, read-only connections
//! owned by the [`reader::Reader`] pool, and the queries they run. It speaks in rows and keys:
//! wire formats and load limits belong to `http`.

pub mod backup;
pub mod blocks;
pub mod checkpointer;
pub mod compactor;
pub mod connection;
pub mod error;
pub mod health;
pub mod ip_key;
pub mod line_functions;
pub mod lock;
pub mod log_query;
pub mod metrics;
pub mod names;
pub mod reader;
pub mod rejected_query;
pub mod retention;
pub mod retention_schedule;
pub mod schema;
pub mod segment_merge;
pub mod source_names;
pub mod stats_query;
pub mod store;
pub mod stored;
pub mod sync_actors;
pub mod tail;
pub mod writer;

pub use error::DbError;
