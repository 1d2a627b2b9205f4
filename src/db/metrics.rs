//! What storage measures for `GET /metrics`: the writer records each commit, the checkpointer
//! each checkpoint. The handles are cheap clones of shared cells; the service registers them.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

#[derive(Debug, Clone)]
pub struct StorageMetrics {
    /// From the batch's arrival at the writer to its commit, in seconds.
    pub commit_seconds: Histogram,
    /// Lines (stored and rejected) per committed batch.
    pub rows_per_batch: Histogram,
    /// One background checkpoint, in seconds.
    pub checkpoint_seconds: Histogram,
    /// Storage segments (see `store.rs`).
    pub segments: Gauge,
    /// Lines (stored and rejected) deleted by retention.
    pub retention_lines: Counter,
}

impl Default for StorageMetrics {
    fn default() -> Self {
        Self {
            // 1 ms to about 33 s.
            commit_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            // 1 to about 65,000 lines.
            rows_per_batch: Histogram::new(exponential_buckets(1.0, 4.0, 9)),
            checkpoint_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            segments: Gauge::default(),
            retention_lines: Counter::default(),
        }
    }
}

impl StorageMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "batch_commit",
            "Time from a batch's arrival at the writer to its commit",
            Unit::Seconds,
            self.commit_seconds.clone(),
        );
        registry.register(
            "batch_rows",
            "Lines per committed batch, stored and rejected",
            self.rows_per_batch.clone(),
        );
        registry.register_with_unit(
            "checkpoint",
            "One background WAL checkpoint",
            Unit::Seconds,
            self.checkpoint_seconds.clone(),
        );
        registry.register(
            "storage_segments",
            "Storage segments of log_keys",
            self.segments.clone(),
        );
        registry.register(
            "retention_lines_deleted",
            "Lines (stored and rejected) deleted by --retention-days or --max-db-bytes",
            self.retention_lines.clone(),
        );
    }
}
