//! The bench's command line. Every flag has an environment-variable equivalent, shown in --help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "loggerator-bench",
    version,
    about = "Measures loggerator's ingest and query speed, running its `serve` and `emulate` as child processes"
)]
pub struct BenchArgs {
    /// The loggerator binary to run; by default the one next to this program.
    #[arg(long, global = true, env = "LOGGERATOR_BENCH_PROGRAM")]
    pub loggerator: Option<PathBuf>,
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
    /// Live-tail subscribers following `/logs/stream` while ingest runs, each with a filter
    /// matching about 1 % of the lines, plus one unfiltered; 0 for none.
    #[arg(
        long,
        env = "LOGGERATOR_BENCH_INGEST_TAIL_SUBSCRIBERS",
        default_value_t = 0
    )]
    pub tail_subscribers: usize,
    /// After the ingest, in the same run: the same lines parsed and appended by one thread to
    /// an unindexed table with the service's batch size and pragmas, and ingest's rate as a
    /// ratio of that ceiling.
    #[arg(long, env = "LOGGERATOR_BENCH_INGEST_CEILING")]
    pub ceiling: bool,
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
