//! Helpers shared by the integration tests: fixtures, a temporary database, waiting for a
//! condition, the service on a random port ([`app`]) and a proxy that breaks connections
//! ([`proxy`]). Each test file uses some of them.
#![allow(dead_code)]

pub mod app;
pub mod counts;
pub mod metrics;
pub mod pages;
pub mod process;
pub mod proxy;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use loggerator::batch::{Entry, StreamMark, StreamProgress};
use loggerator::db::connection::{open_reader, open_writer};
use loggerator::db::write::store::LogStore;
use loggerator::db::write::writer::register_source;
use loggerator::http::caps::CapsConfig;
use loggerator::ingest::IngestConfig;
use loggerator::service::ServiceConfig;

pub const FIXTURE: &str = include_str!("../../fixtures/loggerator-seed1-sample.log");

pub fn fixture_lines() -> Vec<&'static str> {
    FIXTURE.lines().collect()
}

/// What a connection written by hand reads until `end` appears (an answer's head, `\r\n\r\n`,
/// or its JSON body's `}`), failing the test if it closes first or a minute passes.
pub async fn read_until(connection: &mut (impl tokio::io::AsyncRead + Unpin), end: &str) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = String::new();
    let mut buffer = [0u8; 4096];
    let read = async {
        while !answer.contains(end) {
            let n = connection.read(&mut buffer).await.unwrap();
            assert!(n > 0, "the connection closed without an answer: {answer:?}");
            answer.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("an answer within a minute");
    answer
}

/// Polls `check` until it returns `Some`, failing the test after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub struct TempDb {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn temp_db() -> TempDb {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("test.db");
    TempDb { dir, path }
}

/// Rows per segment in tests: small, so that a few dozen lines span several segments and every
/// query goes through the merge of segments.
pub const TEST_SEGMENT_ROWS: u64 = 20;

/// Every stored line of the database at `path`, by id: in the order the lines arrived.
pub fn stored_lines(path: &Path) -> Vec<String> {
    let mut conn = open_reader(path).expect("open reader");
    counts::all_rows(&mut conn)
        .into_iter()
        .map(|row| row.line)
        .collect()
}

/// Stores `lines` from `source` in batches of 10, the way the writer would.
pub fn store_lines(db: &TempDb, source: &str, lines: &[String]) {
    let entries: Vec<Entry> = lines.iter().map(|l| Entry::from_line(l)).collect();
    store_entries(db, source, &entries);
}

/// Stores `entries` from `source` in batches of 10 (parsed or rejected alike).
pub fn store_entries(db: &TempDb, source: &str, entries: &[Entry]) {
    let mut conn = open_writer(&db.path).expect("open writer");
    let id = register_source(&mut conn, source)
        .expect("register source")
        .id;
    let mut store = LogStore::load(&mut conn, TEST_SEGMENT_ROWS).expect("load store");
    let mut stream = StreamMark::default();
    for batch in entries.chunks(10) {
        stream.position += batch.len() as u64;
        store
            .write_batch(
                &mut conn,
                id,
                batch,
                &StreamProgress::Source(stream.clone()),
            )
            .expect("write batch");
    }
}

pub fn service_config(db: &TempDb, sources: Vec<String>) -> ServiceConfig {
    ServiceConfig {
        sources,
        db: db.path.clone(),
        listen: "127.0.0.1:0".to_owned(),
        readers: 2,
        http_workers: 1,
        query_timeout: Duration::from_secs(10),
        tail_keep_alive: Duration::from_millis(200),
        tokens_file: None,
        allow_unauthenticated: false,
        allowed_hosts: vec![],
        caps: CapsConfig::default(),
        tls: None,
        max_push_bytes: 1 << 20,
        max_queries_in_flight: 64,
        segment_rows: TEST_SEGMENT_ROWS * 25,
        seal_idle: Duration::from_secs(60),
        block_cache_bytes: loggerator::limits::DEFAULT_BLOCK_CACHE_BYTES,
        retention: Default::default(),
        retention_check: Duration::from_millis(50),
        ingest: IngestConfig {
            batch_size: 500,
            flush_interval: Duration::from_millis(20),
            ..IngestConfig::default()
        },
    }
}
