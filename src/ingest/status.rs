//! What each source is doing, readable by `GET /sources` without asking the busy IngestActor.
//!
//! The actor is the only writer; counters are atomics and the rest sits behind a short mutex,
//! so a status read never waits on a commit or a connect.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use serde::Serialize;

use crate::db::write::writer::PUSHED_PREFIX;
use crate::time::{rfc3339, seconds_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceState {
    Connecting,
    Streaming,
    BackingOff,
    Finished,
    /// Storing its last lines while the service shuts down.
    Stopping,
    /// Shut down with the service.
    Stopped,
    /// Its lines arrive by `POST /ingest` or `loggerator import`: nothing to connect to.
    Pushed,
}

#[derive(Debug)]
pub struct SourceStatus {
    pub id: i64,
    pub address: String,
    received: AtomicU64,
    stored: AtomicU64,
    rejected: AtomicU64,
    replayed: AtomicU64,
    lost: AtomicU64,
    attempts: AtomicU64,
    /// Batches sent to the writer and not answered yet.
    waiting: AtomicU64,
    /// What the database held for this source when this run started.
    stored_before: u64,
    rejected_before: u64,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: SourceState,
    last_error: Option<(SystemTime, String)>,
}

/// A point-in-time copy of one source's status, as `GET /sources` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SourceSnapshot {
    pub id: i64,
    pub address: String,
    pub state: SourceState,
    pub lines_received: u64,
    pub lines_stored: u64,
    pub lines_rejected: u64,
    /// Lines a reconnection replayed that had been received already, and were skipped.
    pub lines_replayed: u64,
    /// Lines received but not stored because the database would not take them.
    pub lines_lost: u64,
    pub connection_attempts: u64,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    /// Lines stored for this source over all time, this run's included: a restart that
    /// stored nothing new leaves it where it was.
    pub total_lines_stored: u64,
    pub total_lines_rejected: u64,
}

impl SourceStatus {
    pub fn new(id: i64, address: String) -> Arc<Self> {
        Self::resumed(id, address, 0, 0)
    }

    /// A source that has `stored_before` and `rejected_before` lines from earlier runs.
    pub fn resumed(
        id: i64,
        address: String,
        stored_before: u64,
        rejected_before: u64,
    ) -> Arc<Self> {
        Arc::new(Self {
            id,
            address,
            received: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
            stored_before,
            rejected_before,
            inner: Mutex::new(Inner {
                state: SourceState::Connecting,
                last_error: None,
            }),
        })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding this lock leaves plain data behind, still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_state(&self, state: SourceState) {
        self.inner().state = state;
    }

    pub fn state(&self) -> SourceState {
        self.inner().state
    }

    pub fn record_error(&self, error: impl Into<String>) {
        self.inner().last_error = Some((SystemTime::now(), error.into()));
    }

    pub fn add_received(&self, n: u64) {
        self.received.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_committed(&self, stored: u64, rejected: u64) {
        self.stored.fetch_add(stored, Ordering::Relaxed);
        self.rejected.fetch_add(rejected, Ordering::Relaxed);
    }

    pub fn add_replayed(&self, n: u64) {
        self.replayed.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_lost(&self, n: u64) {
        self.lost.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_attempt(&self) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }

    /// Awaits the writer's answer to a batch, counted as waiting meanwhile (whether answered,
    /// or dropped at shutdown).
    pub async fn waiting_for_writer<F: std::future::Future>(&self, answer: F) -> F::Output {
        struct Waiting<'a>(&'a AtomicU64);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        answer.await
    }

    /// Batches sent to the writer and not answered yet.
    pub fn batches_waiting(&self) -> u64 {
        self.waiting.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> SourceSnapshot {
        let inner = self.inner();
        let stored = self.stored.load(Ordering::Relaxed);
        let rejected = self.rejected.load(Ordering::Relaxed);
        SourceSnapshot {
            id: self.id,
            address: self.address.clone(),
            state: inner.state,
            lines_received: self.received.load(Ordering::Relaxed),
            lines_stored: stored,
            lines_rejected: rejected,
            lines_replayed: self.replayed.load(Ordering::Relaxed),
            lines_lost: self.lost.load(Ordering::Relaxed),
            connection_attempts: self.attempts.load(Ordering::Relaxed),
            last_error: inner.last_error.as_ref().map(|(_, e)| e.clone()),
            last_error_at: inner
                .last_error
                .as_ref()
                .map(|(at, _)| rfc3339(seconds_of(*at))),
            total_lines_stored: self.stored_before + stored,
            total_lines_rejected: self.rejected_before + rejected,
        }
    }
}

/// Every source of this run: the configured ones, then pushed ones as they appear (or as they
/// were stored by earlier runs). Shared by `/sources`, `/metrics` and live tail.
#[derive(Debug, Clone, Default)]
pub struct SourceList(Arc<RwLock<Vec<Arc<SourceStatus>>>>);

impl SourceList {
    pub fn new(sources: Vec<Arc<SourceStatus>>) -> Self {
        Self(Arc::new(RwLock::new(sources)))
    }

    pub fn all(&self) -> Vec<Arc<SourceStatus>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn find(&self, address: &str) -> Option<Arc<SourceStatus>> {
        let sources = self.0.read().unwrap_or_else(|e| e.into_inner());
        sources.iter().find(|s| s.address == address).cloned()
    }

    /// How many pushed sources there are.
    pub fn pushed_count(&self) -> usize {
        let sources = self.0.read().unwrap_or_else(|e| e.into_inner());
        sources
            .iter()
            .filter(|s| s.address.starts_with(PUSHED_PREFIX))
            .count()
    }

    /// The status of a pushed source, added the first time it is asked for.
    pub fn pushed(
        &self,
        id: i64,
        address: &str,
        stored_before: u64,
        rejected_before: u64,
    ) -> Arc<SourceStatus> {
        let mut sources = self.0.write().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = sources.iter().find(|s| s.id == id) {
            return known.clone();
        }
        let status = SourceStatus::resumed(id, address.to_owned(), stored_before, rejected_before);
        status.set_state(SourceState::Pushed);
        sources.push(status.clone());
        status
    }
}
