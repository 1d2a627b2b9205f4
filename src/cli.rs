//! Command-line interface. Every flag has an environment-variable equivalent, shown in --help.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::db::write::retention::RetentionRules;
use crate::http::caps::CapsConfig;
use crate::ingest::backoff::BackoffConfig;
use crate::ingest::IngestConfig;
use crate::limits::*;
use crate::service::{ServiceConfig, TlsFiles};

#[derive(Debug, Parser)]
#[command(
    name = "loggerator",
    version,
    about = "Collects HTTP access logs from loggerator sources into SQLite and serves them over a REST API"
)]
pub struct Cli {
    /// The service's own log: `human` (default) or `json`, one object a line, as log
    /// shippers expect.
    #[arg(long, global = true, env = "LOGGERATOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

/// Starts the log (level from `RUST_LOG`, `info` by default) in the given format.
pub fn init_log(format: LogFormat) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if format == LogFormat::Json {
        builder.format(|buf, record| {
            use std::io::Write as _;
            let line = serde_json::json!({
                "time": crate::time::rfc3339_millis(std::time::SystemTime::now()),
                "level": record.level().as_str(),
                "target": record.target(),
                "message": record.args().to_string(),
            });
            writeln!(buf, "{line}")
        });
    }
    builder.init();
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest from the given sources and serve the API.
    Serve(ServeArgs),
    /// Act as a loggerator source: stream generated access-log lines to every client.
    Emulate(EmulateArgs),
    /// Run everything on one machine: emulated sources, ingestion and the API.
    Demo(DemoArgs),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Copy the database, consistently, while the service runs (SQLite's VACUUM INTO).
    Backup(BackupArgs),
    /// Import log files (plain, gzip, or `-` for stdin) into a running service (--api) or a
    /// database file (--db). Importing a file again stores nothing new.
    Import(ImportArgs),
    /// Exit 0 if the service at --url answers its health check with 200, else 1 (for
    /// container health checks, where there is no curl).
    Healthcheck(HealthcheckArgs),
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The database to copy.
    #[arg(long, env = "LOGGERATOR_DB", default_value = DEFAULT_DB)]
    pub db: PathBuf,
    /// The copy: a new file (an existing one is refused).
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The files, in order; `-` is stdin. Gzip is recognised by content, several members end
    /// to end (rotated, concatenated) read whole.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Send to the service at this URL (`POST /ingest`), e.g. `http://127.0.0.1:8000`.
    /// Without it, the lines are written to --db, which no service may be running on.
    #[arg(long, env = "LOGGERATOR_IMPORT_API")]
    pub api: Option<String>,
    /// A token with the `ingest` scope, for --api.
    #[arg(long, env = "LOGGERATOR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Root certificates (PEM) to trust besides the web's, for an `https://` --api with a
    /// private CA or a self-signed certificate.
    #[arg(long, env = "LOGGERATOR_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// The database file, without --api.
    #[arg(long, env = "LOGGERATOR_DB", default_value = DEFAULT_DB)]
    pub db: PathBuf,
    /// The lines are stored under the source `push:NAME`.
    #[arg(long, env = "LOGGERATOR_IMPORT_SOURCE", default_value = DEFAULT_IMPORT_SOURCE)]
    pub source: String,
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The health endpoint, plain HTTP.
    #[arg(long, env = "LOGGERATOR_HEALTHCHECK_URL", default_value = DEFAULT_HEALTHCHECK_URL)]
    pub url: String,
    /// How long to wait for the answer.
    #[arg(long, default_value_t = DEFAULT_HEALTHCHECK_TIMEOUT_MS)]
    pub timeout_ms: u64,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a fresh token, once, and the line to add to the tokens file.
    New(TokenNewArgs),
}

#[derive(Debug, Args)]
pub struct TokenNewArgs {
    /// The token's name, as the request log and `/sources` may show it.
    pub name: String,
    /// What it may do: read, ingest, metrics or admin; repeat the flag (or separate with
    /// commas) for several.
    #[arg(long = "scope", value_delimiter = ',', required = true)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A source to ingest from, as HOST:PORT; repeat the flag (or separate with commas) for more.
    #[arg(
        long = "source",
        env = "LOGGERATOR_SOURCES",
        value_delimiter = ',',
        default_value = DEFAULT_SOURCE
    )]
    pub sources: Vec<String>,
    /// The SQLite database file; created if missing. Lines are deleted only by
    /// --retention-days and --max-db-bytes.
    #[arg(long, env = "LOGGERATOR_DB", default_value = DEFAULT_DB)]
    pub db: PathBuf,
    /// Where the HTTP API listens.
    #[arg(long, env = "LOGGERATOR_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,
    #[command(flatten)]
    pub tuning: Tuning,
}

#[derive(Debug, Args)]
pub struct EmulateArgs {
    /// The address to listen on.
    #[arg(long, env = "LOGGERATOR_EMULATE_HOST", default_value = DEFAULT_EMULATE_HOST)]
    pub host: String,
    #[arg(long, env = "LOGGERATOR_EMULATE_PORT", default_value_t = DEFAULT_EMULATE_PORT)]
    pub port: u16,
    /// Lines sent on each connection.
    #[arg(long, env = "LOGGERATOR_EMULATE_COUNT", default_value_t = DEFAULT_EMULATE_COUNT)]
    pub count: u64,
    /// The same seed gives the same lines.
    #[arg(long, env = "LOGGERATOR_EMULATE_SEED", default_value_t = DEFAULT_EMULATE_SEED)]
    pub seed: u64,
    /// Every N-th line comes from the user `rareuser` (0: none); 10000 gives a user with 0.01%
    /// of the lines, for measuring selective queries.
    #[arg(long, env = "LOGGERATOR_EMULATE_RARE_USER_EVERY", default_value_t = DEFAULT_EMULATE_RARE_USER_EVERY)]
    pub rare_user_every: u64,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many emulated sources to start (seeds 1, 2, ...).
    #[arg(long = "sources", env = "LOGGERATOR_DEMO_SOURCES", default_value_t = DEFAULT_DEMO_SOURCES)]
    pub source_count: u64,
    /// Lines each emulated source sends.
    #[arg(long, env = "LOGGERATOR_DEMO_COUNT", default_value_t = DEFAULT_DEMO_COUNT)]
    pub count: u64,
    /// The database file; by default a new one in a temporary folder, removed on exit.
    #[arg(long, env = "LOGGERATOR_DB")]
    pub db: Option<PathBuf>,
    /// The emulated sources listen on this port and the next ones (0: any free ports). Fixed
    /// by default, so a second run on the same --db stores nothing twice.
    #[arg(long, env = "LOGGERATOR_DEMO_FIRST_PORT", default_value_t = DEFAULT_DEMO_FIRST_PORT)]
    pub first_port: u16,
    /// Where the HTTP API listens.
    #[arg(long, env = "LOGGERATOR_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,
    #[command(flatten)]
    pub tuning: Tuning,
}

#[derive(Debug, Clone, Args)]
pub struct Tuning {
    /// Reader threads answering queries, each with its own connection.
    #[arg(long, env = "LOGGERATOR_READERS", default_value_t = DEFAULT_READERS)]
    pub readers: usize,
    /// HTTP worker threads.
    #[arg(long, env = "LOGGERATOR_HTTP_WORKERS", default_value_t = DEFAULT_HTTP_WORKERS)]
    pub http_workers: usize,
    /// Queries waiting or running at once; more are refused with 503.
    #[arg(long, env = "LOGGERATOR_MAX_QUERIES_IN_FLIGHT", default_value_t = DEFAULT_MAX_QUERIES_IN_FLIGHT)]
    pub max_queries_in_flight: usize,
    /// How long a request waits for its query before 503.
    #[arg(long, env = "LOGGERATOR_QUERY_TIMEOUT_MS", default_value_t = DEFAULT_QUERY_TIMEOUT_MS)]
    pub query_timeout_ms: u64,
    /// Tokens and their scopes, one a line: `NAME SCOPES SHA256` (see `loggerator token new`).
    /// With it, every data endpoint needs `Authorization: Bearer TOKEN`.
    #[arg(long, env = "LOGGERATOR_TOKENS_FILE")]
    pub tokens_file: Option<PathBuf>,
    /// Serve on a non-loopback address without tokens (refused otherwise).
    #[arg(long, env = "LOGGERATOR_ALLOW_UNAUTHENTICATED")]
    pub allow_unauthenticated: bool,
    /// Without tokens, a host name requests may give besides loopback names and the listen
    /// address (DNS rebinding defence); repeat it, or separate names with commas in the env.
    #[arg(
        long = "allowed-host",
        env = "LOGGERATOR_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// Bytes of lines (decompressed) one `POST /ingest` body may hold; past it, 413. Like
    /// every byte count here, a number or with K, M, G or T (powers of 1024).
    #[arg(long, env = "LOGGERATOR_MAX_PUSH_BYTES", default_value_t = DEFAULT_MAX_PUSH_BYTES, value_parser = parse_bytes)]
    pub max_push_bytes: u64,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key.
    #[arg(long, env = "LOGGERATOR_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "LOGGERATOR_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Live tails (`/logs/stream`) open at once; more get 503 with Retry-After.
    #[arg(long, env = "LOGGERATOR_MAX_TAIL_FOLLOWERS", default_value_t = DEFAULT_MAX_TAIL_FOLLOWERS)]
    pub max_tail_followers: usize,
    /// Bytes of events one live tail holds for a slow client (K, M, G, T); past it the client
    /// falls behind and is resumed from the database.
    #[arg(long, env = "LOGGERATOR_TAIL_BUFFER_BYTES", default_value_t = DEFAULT_TAIL_BUFFER_BYTES, value_parser = parse_bytes_usize)]
    pub tail_buffer_bytes: usize,
    /// `POST /ingest` bodies read at once; more get 503 with Retry-After.
    #[arg(long, env = "LOGGERATOR_MAX_PUSHES_IN_FLIGHT", default_value_t = DEFAULT_MAX_PUSHES_IN_FLIGHT)]
    pub max_pushes_in_flight: usize,
    /// How long a `POST /ingest` body may send nothing; then 408, the batches before stored.
    #[arg(long, env = "LOGGERATOR_PUSH_IDLE_TIMEOUT_MS", default_value_t = DEFAULT_PUSH_IDLE_TIMEOUT_MS)]
    pub push_idle_timeout_ms: u64,
    /// Distinct pushed sources (`push:NAME`); a push that would add one more gets 422.
    #[arg(long, env = "LOGGERATOR_MAX_PUSHED_SOURCES", default_value_t = DEFAULT_MAX_PUSHED_SOURCES)]
    pub max_pushed_sources: usize,
    /// How often an idle live-tail stream (`/logs/stream`) gets a keep-alive comment.
    #[arg(long, env = "LOGGERATOR_TAIL_KEEP_ALIVE_MS", default_value_t = DEFAULT_TAIL_KEEP_ALIVE_MS)]
    pub tail_keep_alive_ms: u64,
    /// Delete lines (and rejected lines) received more than this many days ago, a segment at
    /// a time, oldest first; the segment being filled is kept. Unset: keep everything.
    #[arg(long, env = "LOGGERATOR_RETENTION_DAYS")]
    pub retention_days: Option<u64>,
    /// Delete the oldest segments while the database's pages in use exceed this many bytes
    /// (a number, or with K, M, G or T: powers of 1024). Freed pages are reused; the file does
    /// not shrink. Unset: no limit.
    #[arg(long, env = "LOGGERATOR_MAX_DB_BYTES", value_parser = parse_bytes)]
    pub max_db_bytes: Option<u64>,
    /// How often retention looks for lines to delete.
    #[arg(long, env = "LOGGERATOR_RETENTION_CHECK_SECS", default_value_t = DEFAULT_RETENTION_CHECK_SECS)]
    pub retention_check_secs: u64,
    /// Rows per hot segment: inserts touch only the open segment; a sealed one is compacted
    /// into blocks in the background.
    #[arg(long, env = "LOGGERATOR_SEGMENT_ROWS", default_value_t = DEFAULT_SEGMENT_ROWS)]
    pub segment_rows: u64,
    /// Seal the open segment once it has taken no line for this many seconds, so that it is
    /// compacted too.
    #[arg(long, env = "LOGGERATOR_SEAL_IDLE_SECS", default_value_t = DEFAULT_SEAL_IDLE_SECS)]
    pub seal_idle_secs: u64,
    /// Bytes of decoded blocks the readers keep in memory (a number, or with K, M, G or T);
    /// 0 keeps none.
    #[arg(long, env = "LOGGERATOR_BLOCK_CACHE_BYTES", default_value_t = DEFAULT_BLOCK_CACHE_BYTES, value_parser = parse_bytes)]
    pub block_cache_bytes: u64,
    /// Lines per database transaction.
    #[arg(long, env = "LOGGERATOR_BATCH_SIZE", default_value_t = DEFAULT_BATCH_LINES)]
    pub batch_size: usize,
    /// Bytes of lines per database transaction: a source's batch is sent at this size too.
    #[arg(long, env = "LOGGERATOR_BATCH_BYTES", default_value_t = DEFAULT_BATCH_BYTES, value_parser = parse_bytes_usize)]
    pub batch_bytes: usize,
    /// Longest a received line waits before its batch is committed.
    #[arg(long, env = "LOGGERATOR_FLUSH_INTERVAL_MS", default_value_t = DEFAULT_FLUSH_INTERVAL_MS)]
    pub flush_interval_ms: u64,
    /// Longer lines are rejected (their first bytes kept) and reading goes on.
    #[arg(long, env = "LOGGERATOR_MAX_LINE_BYTES", default_value_t = DEFAULT_MAX_LINE_BYTES, value_parser = parse_bytes_usize)]
    pub max_line_bytes: usize,
    /// How long one connection attempt may take.
    #[arg(long, env = "LOGGERATOR_CONNECT_TIMEOUT_MS", default_value_t = DEFAULT_CONNECT_TIMEOUT_MS)]
    pub connect_timeout_ms: u64,
    /// First reconnect delay; it doubles (with jitter) after each failure...
    #[arg(long, env = "LOGGERATOR_BACKOFF_INITIAL_MS", default_value_t = DEFAULT_BACKOFF_INITIAL_MS)]
    pub backoff_initial_ms: u64,
    /// ...up to this.
    #[arg(long, env = "LOGGERATOR_BACKOFF_MAX_MS", default_value_t = DEFAULT_BACKOFF_MAX_MS)]
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
            tail_keep_alive: Duration::from_millis(self.tail_keep_alive_ms.max(1)),
            tokens_file: self.tokens_file.clone(),
            allow_unauthenticated: self.allow_unauthenticated,
            allowed_hosts: self.allowed_hosts.clone(),
            caps: CapsConfig {
                max_tail_followers: self.max_tail_followers.max(1),
                tail_buffer_bytes: self.tail_buffer_bytes.max(1),
                max_pushes_in_flight: self.max_pushes_in_flight.max(1),
                push_idle_timeout: Duration::from_millis(self.push_idle_timeout_ms.max(1)),
                max_pushed_sources: self.max_pushed_sources,
            },
            max_push_bytes: self.max_push_bytes,
            tls: self
                .tls_cert
                .clone()
                .zip(self.tls_key.clone())
                .map(|(cert, key)| TlsFiles { cert, key }),
            segment_rows: self.segment_rows.max(1),
            seal_idle: Duration::from_secs(self.seal_idle_secs.max(1)),
            block_cache_bytes: self.block_cache_bytes,
            retention: RetentionRules {
                max_age_secs: self
                    .retention_days
                    .map(|days| days.saturating_mul(SECONDS_PER_DAY as u64) as i64),
                max_used_bytes: self.max_db_bytes,
            },
            retention_check: Duration::from_secs(self.retention_check_secs.max(1)),
            ingest: IngestConfig {
                batch_size: self.batch_size.max(1),
                batch_bytes: self.batch_bytes.max(1),
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

/// `1048576`, `512K`, `100M`, `20G`, `1T` (powers of 1024) as bytes.
fn parse_bytes_usize(text: &str) -> Result<usize, String> {
    usize::try_from(parse_bytes(text)?).map_err(|_| format!("{text:?} is too large"))
}

fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&text[..i], text[i..].trim_end_matches(['B', 'b'])),
        None => (text, ""),
    };
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("unknown unit in {text:?}; use K, M, G or T")),
    };
    let value: u64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of bytes"))?;
    value
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn byte_sizes_take_binary_units() {
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("512K"), Ok(512 << 10));
        assert_eq!(parse_bytes("20G"), Ok(20 << 30));
        assert_eq!(parse_bytes("2GB"), Ok(2 << 30));
        assert!(parse_bytes("2X").is_err());
        assert!(parse_bytes("lots").is_err());
    }
}
