//! The HTTP side of the reader pool: bounds the queries in flight (the SyncArbiter's mailbox
//! is unbounded) and turns a full queue, a timeout or a dead pool into 503 instead of a hang.
//!
//! A query's slot is held until a reader has answered it, not until the request stops waiting:
//! a timed-out query still occupies a reader, and letting a new one in would queue work behind
//! it without bound. So the send runs in a task of its own that owns the permit.

use std::sync::Arc;
use std::time::Duration;

use actix::dev::ToEnvelope;
use actix::prelude::*;
use tokio::sync::Semaphore;

use super::error::ApiError;
use crate::db::read::reader::Reader;
use crate::db::DbError;

pub struct ReaderPool<A: Actor = Reader> {
    readers: Addr<A>,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl<A: Actor> ReaderPool<A> {
    pub fn new(readers: Addr<A>, max_in_flight: usize, timeout: Duration) -> Self {
        Self {
            readers,
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
            timeout,
        }
    }

    /// Sends the query to a reader and waits for the answer, within the pool's bounds.
    pub async fn ask<M, T>(&self, message: M) -> Result<T, ApiError>
    where
        M: Message<Result = Result<T, DbError>> + Send + 'static,
        T: Send + 'static,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        let permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Busy)?;
        let answer = self.readers.send(message);
        let answered = actix_rt::spawn(async move {
            let result = answer.await;
            drop(permit);
            result
        });
        match tokio::time::timeout(self.timeout, answered).await {
            Err(_) => Err(ApiError::Timeout),
            Ok(Err(_)) | Ok(Ok(Err(_))) => Err(ApiError::Unavailable),
            Ok(Ok(Ok(result))) => Ok(result?),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::sync::Mutex;

    use super::*;

    /// A reader that answers each query only once the test lets it.
    struct GatedReader {
        gate: Arc<Mutex<mpsc::Receiver<()>>>,
    }

    impl Actor for GatedReader {
        type Context = SyncContext<Self>;
    }

    #[derive(Message)]
    #[rtype(result = "Result<u32, DbError>")]
    struct Ask;

    impl Handler<Ask> for GatedReader {
        type Result = Result<u32, DbError>;

        fn handle(&mut self, _: Ask, _: &mut SyncContext<Self>) -> Self::Result {
            // A sync actor's thread may block: that is what a slow query does.
            self.gate.lock().unwrap().recv().expect("gate sender alive");
            Ok(7)
        }
    }

    fn pool(
        max_in_flight: usize,
        timeout: Duration,
    ) -> (ReaderPool<GatedReader>, mpsc::Sender<()>) {
        let (open, gate) = mpsc::channel();
        let gate = Arc::new(Mutex::new(gate));
        let readers = SyncArbiter::start(1, move || GatedReader { gate: gate.clone() });
        (ReaderPool::new(readers, max_in_flight, timeout), open)
    }

    #[actix_rt::test]
    async fn answers_when_the_reader_does() {
        let (pool, open) = pool(2, Duration::from_secs(10));
        open.send(()).unwrap();
        assert_eq!(pool.ask(Ask).await.unwrap(), 7);
    }

    #[actix_rt::test]
    async fn a_slow_query_times_out_and_keeps_its_slot_until_it_ends() {
        let (pool, open) = pool(1, Duration::from_millis(50));
        assert!(matches!(pool.ask(Ask).await, Err(ApiError::Timeout)));
        // The reader is still on that query, so the one slot is still taken.
        assert!(matches!(pool.ask(Ask).await, Err(ApiError::Busy)));
        open.send(()).unwrap();
        // Once the reader has finished, the slot is free again.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while pool.permits.available_permits() == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the slot was never freed"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        open.send(()).unwrap();
        assert_eq!(pool.ask(Ask).await.unwrap(), 7);
    }
}
