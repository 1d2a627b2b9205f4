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

/// What compaction measures (`compactor.rs`); the writer records how long its steps held it.
#[derive(Debug, Clone)]
pub struct CompactionMetrics {
    /// Sealed segments not yet compacted.
    pub segments_pending: Gauge,
    pub parts_written: Counter,
    /// Merges that replaced their inputs.
    pub merges: Counter,
    pub blocks_written: Counter,
    /// Bytes of lines compacted, and of the blocks written for them.
    pub raw_bytes: Counter,
    pub stored_bytes: Counter,
    /// Building and committing one part, in seconds.
    pub seconds: Histogram,
    /// How long one compaction step held the writer (a batch arriving then waits as long).
    pub writer_hold_seconds: Histogram,
    /// The longest such hold since the start, in seconds.
    pub worst_hold_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub errors: Counter,
    /// 1 when the last round found nothing to do: caught up.
    pub idle: Gauge,
    /// Free pages of the database file not yet given back.
    pub free_pages: Gauge,
    /// When the last error happened, in seconds since the epoch (0: never).
    pub last_error_time: Gauge,
}

impl Default for CompactionMetrics {
    fn default() -> Self {
        Self {
            segments_pending: Gauge::default(),
            parts_written: Counter::default(),
            merges: Counter::default(),
            blocks_written: Counter::default(),
            raw_bytes: Counter::default(),
            stored_bytes: Counter::default(),
            seconds: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            writer_hold_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            worst_hold_seconds: Gauge::default(),
            errors: Counter::default(),
            idle: Gauge::default(),
            free_pages: Gauge::default(),
            last_error_time: Gauge::default(),
        }
    }
}

impl CompactionMetrics {
    pub fn failed(&self, _: &super::DbError) {
        self.errors.inc();
        self.last_error_time.set(crate::time::now_seconds());
    }

    /// A compaction step held the writer this long.
    pub fn held(&self, seconds: f64) {
        self.writer_hold_seconds.observe(seconds);
        if seconds > self.worst_hold_seconds.get() {
            self.worst_hold_seconds.set(seconds);
        }
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "compaction_segments_pending",
            "Sealed segments not yet compacted into blocks",
            self.segments_pending.clone(),
        );
        registry.register(
            "compaction_parts",
            "Parts written (one per compacted segment)",
            self.parts_written.clone(),
        );
        registry.register(
            "compaction_merges",
            "Merges of parts (size-tiered) that replaced their inputs",
            self.merges.clone(),
        );
        registry.register(
            "compaction_blocks",
            "Blocks written",
            self.blocks_written.clone(),
        );
        registry.register_with_unit(
            "compaction_input",
            "Bytes of lines compacted",
            Unit::Bytes,
            self.raw_bytes.clone(),
        );
        registry.register_with_unit(
            "compaction_output",
            "Bytes of blocks written for them",
            Unit::Bytes,
            self.stored_bytes.clone(),
        );
        registry.register_with_unit(
            "compaction",
            "Building and committing one part, or one merge",
            Unit::Seconds,
            self.seconds.clone(),
        );
        registry.register_with_unit(
            "compaction_writer_hold",
            "How long one compaction step held the writer (a batch waits as long)",
            Unit::Seconds,
            self.writer_hold_seconds.clone(),
        );
        registry.register_with_unit(
            "compaction_worst_writer_hold",
            "The longest compaction step since the start",
            Unit::Seconds,
            self.worst_hold_seconds.clone(),
        );
        registry.register(
            "compaction_errors",
            "Compaction steps that failed (and are tried again)",
            self.errors.clone(),
        );
        registry.register(
            "compaction_idle",
            "1 when compaction last found nothing to do (caught up), else 0",
            self.idle.clone(),
        );
        registry.register(
            "storage_free_pages",
            "Free pages of the database file not yet given back to the file system",
            self.free_pages.clone(),
        );
        registry.register(
            "compaction_last_error_timestamp_seconds",
            "When a compaction step last failed (0: never)",
            self.last_error_time.clone(),
        );
    }
}
