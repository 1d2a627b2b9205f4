//! Caps on what clients can make the service hold: open live tails, pushed bodies being read
//! (and for how long one may send nothing), pushed sources. Each has a flag
//! (`--max-tail-followers`, `--max-pushes-in-flight`, `--push-idle-timeout-ms`,
//! `--max-pushed-sources`, `--tail-buffer-bytes`) with its default in `limits`; past one, the
//! request is refused at once with a reason code (503 with `Retry-After` for those that pass).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;
use crate::limits::{
    DEFAULT_MAX_PUSHED_SOURCES, DEFAULT_MAX_PUSHES_IN_FLIGHT, DEFAULT_MAX_TAIL_FOLLOWERS,
    DEFAULT_PUSH_IDLE_TIMEOUT_MS, DEFAULT_TAIL_BUFFER_BYTES,
};

#[derive(Debug, Clone, Copy)]
pub struct CapsConfig {
    pub max_tail_followers: usize,
    /// Bytes of events one live tail's buffer holds before its follower waits.
    pub tail_buffer_bytes: usize,
    pub max_pushes_in_flight: usize,
    /// How long a pushed body may send nothing before it is refused (408).
    pub push_idle_timeout: Duration,
    pub max_pushed_sources: usize,
}

/// The defaults of the flags.
impl Default for CapsConfig {
    fn default() -> Self {
        CapsConfig {
            max_tail_followers: DEFAULT_MAX_TAIL_FOLLOWERS,
            tail_buffer_bytes: DEFAULT_TAIL_BUFFER_BYTES,
            max_pushes_in_flight: DEFAULT_MAX_PUSHES_IN_FLIGHT,
            push_idle_timeout: Duration::from_millis(DEFAULT_PUSH_IDLE_TIMEOUT_MS),
            max_pushed_sources: DEFAULT_MAX_PUSHED_SOURCES,
        }
    }
}

#[derive(Debug)]
pub struct Caps {
    pub config: CapsConfig,
    followers: Arc<Semaphore>,
    pushes: Arc<Semaphore>,
    /// Held while a new pushed source is counted and registered, so that two new names at
    /// once cannot both pass the cap.
    pub registering: Mutex<()>,
}

impl Caps {
    pub fn new(config: CapsConfig) -> Caps {
        Caps {
            config,
            followers: Arc::new(Semaphore::new(config.max_tail_followers)),
            pushes: Arc::new(Semaphore::new(config.max_pushes_in_flight)),
            registering: Mutex::new(()),
        }
    }

    /// A live tail's place, held for as long as it follows.
    pub fn follower(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.followers
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::TooManyFollowers {
                limit: self.config.max_tail_followers,
            })
    }

    /// A pushed body's place, held while it is read.
    pub fn push(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.pushes
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::TooManyPushes {
                limit: self.config.max_pushes_in_flight,
            })
    }
}
