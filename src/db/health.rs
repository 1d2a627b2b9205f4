//! Whether storage is working, as `GET /healthz` reports it: the writer records the outcome of
//! every commit here, so a full disk or a writer recovering from a panic shows at once, and clears when
//! a commit succeeds again.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::limits::REOPEN_PATIENCE;
use crate::reason::Reason;

/// Why storage is not healthy, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What `/healthz` says.
    pub reason: Reason,
    /// The error itself, for the log and the exit message only: it may name files.
    pub detail: String,
    pub since: SystemTime,
}

#[derive(Debug)]
pub struct StorageHealth {
    problem: Mutex<Option<Problem>>,
    /// Cancelled when the database cannot be opened again: the service then shuts down.
    gave_up: CancellationToken,
    /// How long the writer keeps trying to open the database again before giving up.
    reopen_patience: Duration,
}

impl Default for StorageHealth {
    fn default() -> Self {
        Self::with_reopen_patience(REOPEN_PATIENCE)
    }
}

impl StorageHealth {
    pub fn with_reopen_patience(reopen_patience: Duration) -> Self {
        Self {
            problem: Mutex::new(None),
            gave_up: CancellationToken::new(),
            reopen_patience,
        }
    }

    pub fn reopen_patience(&self) -> Duration {
        self.reopen_patience
    }

    /// The database cannot be opened again: unhealthy for good, and the service stops.
    pub fn give_up(&self, detail: impl Into<String>) {
        if !self.gave_up.is_cancelled() {
            self.failing(Reason::DatabaseUnopenable, detail);
            self.gave_up.cancel();
        }
    }

    /// The error, once the writer has given up.
    pub fn gave_up(&self) -> Option<String> {
        self.gave_up
            .is_cancelled()
            .then(|| self.problem().map(|p| p.detail).unwrap_or_default())
    }

    /// Resolves when the writer gives up.
    pub async fn given_up(&self) {
        self.gave_up.cancelled().await
    }

    fn problem_slot(&self) -> std::sync::MutexGuard<'_, Option<Problem>> {
        // A panic elsewhere while holding this lock leaves plain data behind, still usable.
        self.problem.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A commit failed (or the writer recovers from a panic): unhealthy from the first failure on.
    /// Once given up, the reason stays the one given then.
    pub fn failing(&self, reason: Reason, detail: impl Into<String>) {
        let mut slot = self.problem_slot();
        if self.gave_up.is_cancelled() && slot.is_some() {
            return;
        }
        let since = slot.as_ref().map_or_else(SystemTime::now, |p| p.since);
        *slot = Some(Problem {
            reason,
            detail: detail.into(),
            since,
        });
    }

    /// A commit succeeded (after giving up, too late to matter: the service is stopping).
    pub fn ok(&self) {
        if !self.gave_up.is_cancelled() {
            *self.problem_slot() = None;
        }
    }

    pub fn problem(&self) -> Option<Problem> {
        self.problem_slot().clone()
    }
}
