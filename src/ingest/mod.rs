//! Ingestion: one supervised [`actor::IngestActor`] per source socket.

pub mod actor;
pub mod backoff;
pub mod framing;
pub mod status;

pub use actor::{IngestActor, IngestConfig, Shutdown};
pub use status::{SourceSnapshot, SourceState, SourceStatus};
