//! Command-line interface. Every flag has an environment-variable equivalent, shown in --help.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::ingest::backoff::BackoffConfig;
use crate::ingest::IngestConfig;
use crate::service::ServiceConfig;

#[derive(Debug, Parser)]
#[command(
    name = "loggerator",
    version,
    about = "Collects HTTP access logs from loggerator sources into SQLite and serves them over a REST API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest from the given sources and serve the API.
    Serve(ServeArgs),
    /// Act as a loggerator source: stream generated access-log lines to every client.
    Emulate(EmulateArgs),
    /// Run everything on one machine: emulated sources, ingestion and the API.
    Demo(DemoArgs),
    /// Measure ingest or query speed, with `serve` and `emulate` run as child processes.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A source to ingest from, as HOST:PORT; repeat the flag (or separate with commas) for more.
    #[arg(
        long = "source",
        env = "LOGGERATOR_SOURCES",
        value_delimiter = ',',
        default_value = "127.0.0.1:8080"
    )]
    pub sources: Vec<String>,
    /// The SQLite database file; created if missing, never emptied.
    #[arg(long, env = "LOGGERATOR_DB", default_value = "loggerator.db")]
    pub db: PathBuf,
    /// Where the HTTP API listens.
    #[arg(long, env = "LOGGERATOR_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: String,
    #[command(flatten)]
    pub tuning: Tuning,
}

#[derive(Debug, Args)]
pub struct EmulateArgs {
    /// The address to listen on.
    #[arg(long, env = "LOGGERATOR_EMULATE_HOST", default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, env = "LOGGERATOR_EMULATE_PORT", default_value_t = 8080)]
    pub port: u16,
    /// Lines sent on each connection.
    #[arg(long, env = "LOGGERATOR_EMULATE_COUNT", default_value_t = 800_000)]
    pub count: u64,
    /// The same seed gives the same lines.
    #[arg(long, env = "LOGGERATOR_EMULATE_SEED", default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many emulated sources to start (seeds 1, 2, ...).
    #[arg(long = "sources", env = "LOGGERATOR_DEMO_SOURCES", default_value_t = 2)]
    pub source_count: u64,
    /// Lines each emulated source sends.
    #[arg(long, env = "LOGGERATOR_DEMO_COUNT", default_value_t = 100_000)]
    pub count: u64,
    /// The database file; by default a new one in a temporary folder, removed on exit.
    #[arg(long, env = "LOGGERATOR_DB")]
    pub db: Option<PathBuf>,
    /// Where the HTTP API listens.
    #[arg(long, env = "LOGGERATOR_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: String,
    #[command(flatten)]
    pub tuning: Tuning,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Ingest emulated sources into a new database; report the rate step by step, peak memory
    /// and database size. The service's tuning flags are taken from their environment variables.
    Ingest(BenchIngestArgs),
    /// Time typical queries: latency of sequential requests and throughput of concurrent ones.
    Query(BenchQueryArgs),
}

#[derive(Debug, Clone, Args)]
pub struct BenchIngestArgs {
    /// Emulated sources, each a child process (seeds 1, 2, ...).
    #[arg(long, env = "LOGGERATOR_BENCH_INGEST_SOURCES", default_value_t = 4)]
    pub sources: u64,
    /// Lines in all, split evenly over the sources (the first takes the remainder).
    #[arg(
        long,
        env = "LOGGERATOR_BENCH_INGEST_LINES",
        default_value_t = 10_000_000
    )]
    pub lines: u64,
    /// Report the rate over every this many lines.
    #[arg(
        long,
        env = "LOGGERATOR_BENCH_INGEST_STEP",
        default_value_t = 1_000_000
    )]
    pub step: u64,
    /// The database to create; it must not exist yet. By default, a temporary file.
    #[arg(long, env = "LOGGERATOR_BENCH_INGEST_DB")]
    pub db: Option<PathBuf>,
    /// Keep the temporary database (and the children's logs beside it) and print its path.
    #[arg(long, env = "LOGGERATOR_BENCH_INGEST_KEEP_DB")]
    pub keep_db: bool,
    /// Give up when ingest has not finished after this long.
    #[arg(
        long,
        env = "LOGGERATOR_BENCH_INGEST_TIMEOUT_SECS",
        default_value_t = 1800
    )]
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Args)]
pub struct BenchQueryArgs {
    /// A running service to query, such as http://127.0.0.1:8000.
    #[arg(long, env = "LOGGERATOR_BENCH_QUERY_API")]
    pub api: Option<String>,
    /// Instead of --api: serve this existing database from a child process and query that.
    #[arg(long, env = "LOGGERATOR_BENCH_QUERY_DB")]
    pub db: Option<PathBuf>,
    /// With --db: emulated sources feeding the service while the queries run.
    #[arg(
        long,
        env = "LOGGERATOR_BENCH_QUERY_INGEST_SOURCES",
        default_value_t = 0
    )]
    pub ingest_sources: u64,
    /// With --db: lines those sources send in all.
    #[arg(
        long,
        env = "LOGGERATOR_BENCH_QUERY_INGEST_LINES",
        default_value_t = 10_000_000
    )]
    pub ingest_lines: u64,
    /// Sequential requests per query kind, for the latency figures.
    #[arg(long, env = "LOGGERATOR_BENCH_QUERY_REQUESTS", default_value_t = 500)]
    pub requests: usize,
    /// Workers sending requests at once, for the throughput figure.
    #[arg(long, env = "LOGGERATOR_BENCH_QUERY_CONCURRENCY", default_value_t = 16)]
    pub concurrency: usize,
    /// How long the concurrent workers run, per query kind.
    #[arg(
        long,
        env = "LOGGERATOR_BENCH_QUERY_DURATION_SECS",
        default_value_t = 5
    )]
    pub duration_secs: u64,
    /// Ask for gzip-compressed answers, as browsers do (by default uncompressed, as curl does).
    #[arg(long, env = "LOGGERATOR_BENCH_QUERY_GZIP")]
    pub gzip: bool,
}

#[derive(Debug, Clone, Args)]
pub struct Tuning {
    /// Reader threads answering queries, each with its own connection.
    #[arg(long, env = "LOGGERATOR_READERS", default_value_t = 4)]
    pub readers: usize,
    /// HTTP worker threads.
    #[arg(long, env = "LOGGERATOR_HTTP_WORKERS", default_value_t = 2)]
    pub http_workers: usize,
    /// Queries waiting or running at once; more are refused with 503.
    #[arg(long, env = "LOGGERATOR_MAX_QUERIES_IN_FLIGHT", default_value_t = 64)]
    pub max_queries_in_flight: usize,
    /// How long a request waits for its query before 503.
    #[arg(long, env = "LOGGERATOR_QUERY_TIMEOUT_MS", default_value_t = 5_000)]
    pub query_timeout_ms: u64,
    /// Rows per storage segment: inserts touch only the newest segment, queries merge them all.
    #[arg(long, env = "LOGGERATOR_SEGMENT_ROWS", default_value_t = crate::db::writer::DEFAULT_SEGMENT_ROWS)]
    pub segment_rows: u64,
    /// Lines per database transaction.
    #[arg(long, env = "LOGGERATOR_BATCH_SIZE", default_value_t = 50_000)]
    pub batch_size: usize,
    /// Longest a received line waits before its batch is committed.
    #[arg(long, env = "LOGGERATOR_FLUSH_INTERVAL_MS", default_value_t = 500)]
    pub flush_interval_ms: u64,
    /// Longer lines are rejected (their first bytes kept) and reading goes on.
    #[arg(long, env = "LOGGERATOR_MAX_LINE_BYTES", default_value_t = 64 * 1024)]
    pub max_line_bytes: usize,
    #[arg(long, env = "LOGGERATOR_CONNECT_TIMEOUT_MS", default_value_t = 5_000)]
    pub connect_timeout_ms: u64,
    /// First reconnect delay; it doubles (with jitter) after each failure...
    #[arg(long, env = "LOGGERATOR_BACKOFF_INITIAL_MS", default_value_t = 250)]
    pub backoff_initial_ms: u64,
    /// ...up to this.
    #[arg(long, env = "LOGGERATOR_BACKOFF_MAX_MS", default_value_t = 30_000)]
    pub backoff_max_ms: u64,
    /// Reconnect when a source closes cleanly, for sources that keep producing.
    #[arg(long, env = "LOGGERATOR_RECONNECT_AFTER_EOF")]
    pub reconnect_after_eof: bool,
    /// Store again the lines a reconnected source replays (by default, a connection whose first
    /// lines repeat the stream's is taken as a replay and the lines already received are skipped).
    #[arg(long, env = "LOGGERATOR_KEEP_REPLAYED")]
    pub keep_replayed: bool,
}

impl Tuning {
    pub fn service_config(
        &self,
        sources: Vec<String>,
        db: PathBuf,
        listen: String,
    ) -> ServiceConfig {
        ServiceConfig {
            sources,
            db,
            listen,
            readers: self.readers,
            http_workers: self.http_workers,
            query_timeout: Duration::from_millis(self.query_timeout_ms),
            max_queries_in_flight: self.max_queries_in_flight,
            segment_rows: self.segment_rows.max(1),
            ingest: IngestConfig {
                batch_size: self.batch_size.max(1),
                flush_interval: Duration::from_millis(self.flush_interval_ms),
                max_line_bytes: self.max_line_bytes,
                connect_timeout: Duration::from_millis(self.connect_timeout_ms),
                backoff: BackoffConfig {
                    initial: Duration::from_millis(self.backoff_initial_ms),
                    max: Duration::from_millis(self.backoff_max_ms.max(self.backoff_initial_ms)),
                },
                reconnect_after_eof: self.reconnect_after_eof,
                skip_replayed: !self.keep_replayed,
                ..IngestConfig::default()
            },
        }
    }
}
