//! Whether storage is working, as `GET /healthz` reports it: the writer records the outcome of
//! every commit here, so a full disk or a writer being replaced shows at once, and clears when
//! a commit succeeds again.

use std::sync::Mutex;
use std::time::SystemTime;

/// Why storage is not healthy, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub reason: String,
    pub since: SystemTime,
}

#[derive(Debug, Default)]
pub struct StorageHealth {
    problem: Mutex<Option<Problem>>,
}

impl StorageHealth {
    fn problem_slot(&self) -> std::sync::MutexGuard<'_, Option<Problem>> {
        // A panic elsewhere while holding this lock leaves plain data behind, still usable.
        self.problem.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A commit failed (or the writer is being replaced): unhealthy from the first failure on.
    pub fn failing(&self, reason: impl Into<String>) {
        let mut slot = self.problem_slot();
        let since = slot.as_ref().map_or_else(SystemTime::now, |p| p.since);
        *slot = Some(Problem {
            reason: reason.into(),
            since,
        });
    }

    /// A commit succeeded.
    pub fn ok(&self) {
        *self.problem_slot() = None;
    }

    pub fn problem(&self) -> Option<Problem> {
        self.problem_slot().clone()
    }
}
