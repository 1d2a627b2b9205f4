//! Ingestion: one supervised [`actor::IngestActor`] per source socket.

pub mod actor;
pub mod backoff;
pub mod framing;
pub mod replay;
pub mod status;
pub mod stoppable;

pub use actor::{IngestActor, IngestConfig, Shutdown};
pub use status::{SourceSnapshot, SourceState, SourceStatus};
