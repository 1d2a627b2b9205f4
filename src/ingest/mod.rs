//! Ingestion: one supervised [`actor::IngestActor`] per source socket, turning its bytes into
//! the batches of [`crate::batch`] that the DbWriter stores.

pub mod actor;
pub mod backoff;
pub mod capped;
pub mod config;
pub mod framing;
pub mod push;
pub mod replay;
pub mod status;
pub mod stoppable;

pub use actor::{IngestActor, Shutdown};
pub use config::IngestConfig;
pub use status::{SourceList, SourceSnapshot, SourceState, SourceStatus};
