//! Numbers that several layers share, and the default of every setting. The bottom layer: it
//! imports nothing of ours, so using one of these never makes a module depend on another.
//!
//! Each default is defined here once; `IngestConfig::default()`, clap's `--help` and README's
//! configuration table all take it from here (`tests/it/cli.rs` checks README against `--help`).

use std::time::Duration;

pub const SECONDS_PER_DAY: i64 = 86_400;
pub const SECONDS_PER_HOUR: i64 = 3_600;

/// How long a connection waits for another's write lock before SQLITE_BUSY. Only the
/// checkpointer and a second process ever compete with the writer, and a commit takes well
/// under a second; five seconds covers a slow disk without hanging a request for long.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes read from a source socket at a time: a few hundred loggerator lines, so one read
/// feeds the parser for a while without holding much per source.
pub const READ_BUFFER_BYTES: usize = 64 * 1024;

// Sources and ingest.
pub const DEFAULT_SOURCE: &str = "127.0.0.1:8080";
/// Lines per database transaction. Bigger batches wrote faster up to about this size
/// (`docs/architecture.md`, "Storage"); a batch's memory is about 100 bytes a line.
pub const DEFAULT_BATCH_LINES: usize = 50_000;
/// Bytes of lines per batch: 50,000 loggerator lines are about 5 MB, so this cap only acts on
/// long lines (50,000 lines of 64 KiB would otherwise be 3.2 GiB in one batch).
pub const DEFAULT_BATCH_BYTES: usize = 16 * 1024 * 1024;
pub const DEFAULT_FLUSH_INTERVAL_MS: u64 = 500;
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 * 1024;
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_BACKOFF_INITIAL_MS: u64 = 250;
pub const DEFAULT_BACKOFF_MAX_MS: u64 = 30_000;
/// First pause before a batch the database did not take is sent again; it doubles up to the
/// cap, so a full disk is tried again every 10 seconds at most, and ingest resumes within that
/// of space coming back.
pub const DEFAULT_WRITE_RETRY_MS: u64 = 250;
pub const DEFAULT_WRITE_RETRY_MAX_MS: u64 = 10_000;
/// How long the writer keeps trying to open the database again (after a panic left its
/// connection suspect) before the service gives up and exits: long enough for a remount or a
/// restored file, short enough that a supervisor (systemd, Docker) restarts the service soon.
pub const REOPEN_PATIENCE: Duration = Duration::from_secs(60);

// Storage.
pub const DEFAULT_DB: &str = "loggerator.db";
/// Rows per segment. Every commit rewrites most pages of the open segment, so smaller segments
/// write less per batch, while every page query merges one range per hot segment (the trade
/// measured is in `docs/performance.md`, "Constants"; the design in `docs/architecture.md`,
/// "Storage").
pub const DEFAULT_SEGMENT_ROWS: u64 = 200_000;

/// Bytes of decoded blocks the readers keep (`--block-cache-bytes`): a block of 1,024 lines is
/// about 100 KB of lines and 70 KB of keys decoded, so this holds a few hundred.
pub const DEFAULT_BLOCK_CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// An open segment that has taken no line for this long is sealed, so that compaction reaches
/// every line in time (`--seal-idle-secs`).
pub const DEFAULT_SEAL_IDLE_SECS: u64 = 60;

// HTTP.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8000";
pub const DEFAULT_READERS: usize = 4;
pub const DEFAULT_HTTP_WORKERS: usize = 2;
pub const DEFAULT_MAX_QUERIES_IN_FLIGHT: usize = 64;
pub const DEFAULT_QUERY_TIMEOUT_MS: u64 = 5_000;
/// Rows of a `/logs` page when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 100;
/// Bytes of stored lines in one `/logs` page: a page stops early there and its `next` link
/// goes on from the last line it holds (10,000 lines of 64 KiB would otherwise be 640 MiB in
/// memory, twice over as JSON).
pub const MAX_PAGE_BYTES: usize = 8 * 1024 * 1024;
/// The most lines one `/logs` page reads when a filter (path, q) looks at lines: a filter that
/// matches little must not hold a reader for the whole table. Counted in rows whose lines are
/// read, hot or in blocks; the rows of a block whose header rules the keys out are not read and
/// not counted.
pub const MAX_PAGE_SCAN: usize = 100_000;
/// The most lines `/logs/count` reads for filters on lines, counted as [`MAX_PAGE_SCAN`]: past
/// it the count is refused with 400, asking for narrower filters, instead of holding a reader
/// for minutes.
pub const MAX_COUNT_SCAN: usize = 500_000;
/// The most stored keys `/stats` groups when the count tables cannot answer (by ip, with an ip
/// filter, by hour or time with a method or user, by time in buckets shorter than an hour): keys
/// are read several times faster than lines.
pub const MAX_STATS_KEY_SCAN: usize = 2_000_000;
/// Names (users, methods) the writer keeps in memory; past it the cache starts again empty
/// and names are looked up as they come.
pub const MAX_CACHED_NAMES: usize = 100_000;

// The emulator and the demo.
pub const DEFAULT_EMULATE_HOST: &str = "127.0.0.1";
pub const DEFAULT_EMULATE_PORT: u16 = 8080;
/// What the loggerator image sends per connection by default.
pub const DEFAULT_EMULATE_COUNT: u64 = 800_000;
pub const DEFAULT_EMULATE_SEED: u64 = 1;
pub const DEFAULT_EMULATE_RARE_USER_EVERY: u64 = 0;
pub const DEFAULT_DEMO_SOURCES: u64 = 2;
pub const DEFAULT_DEMO_COUNT: u64 = 100_000;
/// Below the ephemeral range (32768 and up on Linux), where other programs' ports come from.
pub const DEFAULT_DEMO_FIRST_PORT: u16 = 18_080;

/// Events a live-tail client's own buffer holds before its follower waits (and falls behind
/// the broadcast, to be resumed from the database).
pub const TAIL_CLIENT_BUFFER: usize = 1_024;
/// Lines a live-tail follower reads back from the database per query when catching up...
pub const TAIL_REPLAY_CHUNK: i64 = 2_000;
/// ...and the bytes of lines such a chunk holds at most: 2,000 loggerator lines are about
/// 200 KB, but 2,000 lines of 64 KiB would be 128 MiB held by one follower.
pub const TAIL_REPLAY_CHUNK_BYTES: usize = 1024 * 1024;
/// The most lines a follower reads back to catch up (with `Last-Event-ID`, or after falling
/// behind): beyond it, a `skipped` event names the lines passed over.
pub const TAIL_REPLAY_MAX: usize = 100_000;
/// Live tails open at once: each holds a task and up to [`DEFAULT_TAIL_BUFFER_BYTES`].
pub const DEFAULT_MAX_TAIL_FOLLOWERS: usize = 64;
/// Bytes of events one live tail's buffer holds (besides [`TAIL_CLIENT_BUFFER`] events): 64
/// followers then hold 64 MiB at most, where 1,024 events of 64 KiB lines could be 64 MiB each.
pub const DEFAULT_TAIL_BUFFER_BYTES: usize = 1024 * 1024;
/// `POST /ingest` bodies read at once: each can hold a batch of `--batch-bytes` before it
/// is committed.
pub const DEFAULT_MAX_PUSHES_IN_FLIGHT: usize = 16;
/// How long a `POST /ingest` body may send nothing before it is refused: long enough for a
/// shipper's pause, short enough that silent clients do not hold the places above.
pub const DEFAULT_PUSH_IDLE_TIMEOUT_MS: u64 = 30_000;
/// Distinct pushed sources (`push:NAME`): each is a `/sources` row and metric series for good.
pub const DEFAULT_MAX_PUSHED_SOURCES: usize = 1_000;
/// How often an idle live-tail stream gets a keep-alive comment, so proxies keep it open.
pub const DEFAULT_TAIL_KEEP_ALIVE_MS: u64 = 15_000;

/// Where `loggerator healthcheck` asks, by default: the default `--listen`'s `/healthz`.
pub const DEFAULT_HEALTHCHECK_URL: &str = "http://127.0.0.1:8000/healthz";
pub const DEFAULT_HEALTHCHECK_TIMEOUT_MS: u64 = 3_000;

/// Bytes of lines one pushed body (`POST /ingest`) may hold, decompressed: 1 GiB.
pub const DEFAULT_MAX_PUSH_BYTES: u64 = 1 << 30;

/// The source name `loggerator import` stores under (`push:import`).
pub const DEFAULT_IMPORT_SOURCE: &str = "import";

/// How often retention looks for lines to delete (`--retention-check-secs`).
pub const DEFAULT_RETENTION_CHECK_SECS: u64 = 60;
