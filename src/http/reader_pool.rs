//! The HTTP side of the reader pool: bounds the queries in flight (the SyncArbiter's mailbox
//! is unbounded) and turns a full queue, a timeout or a dead pool into 503 instead of a hang.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;
use crate::db::reader::Reader;
use crate::db::DbError;

#[derive(Clone)]
pub struct ReaderPool {
    readers: Addr<Reader>,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl ReaderPool {
    pub fn new(readers: Addr<Reader>, max_in_flight: usize, timeout: Duration) -> Self {
        Self {
            readers,
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
            timeout,
        }
    }

    /// Builds the message around a permit (released when a reader has finished with it) and
    /// waits for the answer.
    pub async fn ask<M, T>(
        &self,
        message: impl FnOnce(OwnedSemaphorePermit) -> M,
    ) -> Result<T, ApiError>
    where
        M: Message<Result = Result<T, DbError>> + Send + 'static,
        T: Send + 'static,
        Reader: Handler<M>,
    {
        let permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Busy)?;
        match tokio::time::timeout(self.timeout, self.readers.send(message(permit))).await {
            Err(_) => Err(ApiError::Timeout),
            Ok(Err(_)) => Err(ApiError::Unavailable),
            Ok(Ok(result)) => Ok(result?),
        }
    }
}
