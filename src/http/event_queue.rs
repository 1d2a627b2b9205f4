//! A live-tail client's buffer: bounded in events and in bytes. A follower that queues into a
//! full one waits (and so falls behind the broadcast, to be resumed from the database) instead
//! of holding without end what a slow client has not taken: 1,024 events of 64 KiB lines would
//! otherwise be 64 MiB per client.

use std::sync::Arc;

use actix_web_lab::sse;
use futures_util::Stream;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// An event on its way to the client, with the share of the byte budget it holds until the
/// response takes it.
type Queued = (sse::Event, OwnedSemaphorePermit);

/// The client is gone.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed;

pub struct EventQueue {
    events: mpsc::Sender<Queued>,
    budget: Arc<Semaphore>,
    budget_bytes: usize,
}

/// A queue of at most `max_events` events holding at most `max_bytes` bytes, and the stream the
/// response takes them from.
pub fn event_queue(
    max_events: usize,
    max_bytes: usize,
) -> (EventQueue, impl Stream<Item = sse::Event>) {
    let (events, received) = mpsc::channel(max_events.max(1));
    let budget_bytes = max_bytes.clamp(1, u32::MAX as usize);
    let queue = EventQueue {
        events,
        budget: Arc::new(Semaphore::new(budget_bytes)),
        budget_bytes,
    };
    let taken = futures_util::stream::unfold(received, |mut received| async move {
        let (event, _bytes_given_back) = received.recv().await?;
        Some((event, received))
    });
    (queue, taken)
}

impl EventQueue {
    /// Queues `event`, of `bytes` bytes, waiting while the queue is full. An event larger than
    /// the whole budget waits for the queue to be empty.
    pub async fn queue(&self, event: sse::Event, bytes: usize) -> Result<(), Closed> {
        let share = bytes.clamp(1, self.budget_bytes) as u32;
        let permit = tokio::select! {
            _ = self.events.closed() => return Err(Closed),
            permit = self.budget.clone().acquire_many_owned(share) => permit.map_err(|_| Closed)?,
        };
        self.events.send((event, permit)).await.map_err(|_| Closed)
    }

    /// Resolves once the client is gone.
    pub async fn closed(&self) {
        self.events.closed().await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::StreamExt;

    use super::*;

    fn event(text: &str) -> sse::Event {
        sse::Data::new(text.to_owned()).into()
    }

    async fn blocks(queue: &EventQueue, bytes: usize) -> bool {
        let attempt = queue.queue(event("x"), bytes);
        tokio::time::timeout(Duration::from_millis(50), attempt)
            .await
            .is_err()
    }

    #[actix_rt::test]
    async fn a_full_budget_of_bytes_holds_the_follower_until_the_client_takes_an_event() {
        let (queue, taken) = event_queue(1_024, 100);
        let mut taken = Box::pin(taken);
        queue.queue(event("a"), 60).await.unwrap();
        // Far fewer events than the count allows, but 60 + 60 bytes exceed the budget.
        assert!(blocks(&queue, 60).await);
        assert!(taken.next().await.is_some());
        // The first event's bytes were given back when the response took it.
        queue.queue(event("b"), 60).await.unwrap();
        // One larger than the whole budget waits for the queue to be empty, then goes.
        assert!(blocks(&queue, 1_000).await);
        assert!(taken.next().await.is_some());
        queue.queue(event("c"), 1_000).await.unwrap();
        drop(taken);
        assert_eq!(queue.queue(event("d"), 1).await, Err(Closed));
    }

    #[actix_rt::test]
    async fn the_count_of_events_is_bounded_too() {
        let (queue, _taken) = event_queue(2, 1 << 20);
        queue.queue(event("a"), 1).await.unwrap();
        queue.queue(event("b"), 1).await.unwrap();
        assert!(blocks(&queue, 1).await);
    }
}
