//! How an IngestActor reads and batches. Defaults come from [`crate::limits`], like the flags'.

use std::time::Duration;

use super::backoff::BackoffConfig;
use crate::limits::{
    DEFAULT_BACKOFF_INITIAL_MS, DEFAULT_BACKOFF_MAX_MS, DEFAULT_BATCH_BYTES, DEFAULT_BATCH_LINES,
    DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_FLUSH_INTERVAL_MS, DEFAULT_MAX_LINE_BYTES,
    DEFAULT_WRITE_RETRY_MAX_MS, DEFAULT_WRITE_RETRY_MS,
};

#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Lines per batch; a batch is sent when it is full...
    pub batch_size: usize,
    /// ...or holds this many bytes of lines...
    pub batch_bytes: usize,
    /// ...or this long after its first line arrived, whichever comes first.
    pub flush_interval: Duration,
    pub max_line_bytes: usize,
    pub connect_timeout: Duration,
    pub backoff: BackoffConfig,
    /// Reconnect after the source closes the connection cleanly (by default a clean close means
    /// the source has sent everything, as loggerator does after `--count` lines).
    pub reconnect_after_eof: bool,
    /// Pauses before sending again a batch the database did not take: from `initial`,
    /// doubling (with jitter) up to `max`.
    pub write_retry: BackoffConfig,
    /// Skip the lines a reconnection replays (see `replay.rs`) instead of storing them again.
    pub skip_replayed: bool,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            batch_size: DEFAULT_BATCH_LINES,
            batch_bytes: DEFAULT_BATCH_BYTES,
            flush_interval: Duration::from_millis(DEFAULT_FLUSH_INTERVAL_MS),
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            connect_timeout: Duration::from_millis(DEFAULT_CONNECT_TIMEOUT_MS),
            backoff: BackoffConfig {
                initial: Duration::from_millis(DEFAULT_BACKOFF_INITIAL_MS),
                max: Duration::from_millis(DEFAULT_BACKOFF_MAX_MS),
            },
            reconnect_after_eof: false,
            write_retry: BackoffConfig {
                initial: Duration::from_millis(DEFAULT_WRITE_RETRY_MS),
                max: Duration::from_millis(DEFAULT_WRITE_RETRY_MAX_MS),
            },
            skip_replayed: true,
        }
    }
}
