//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use loggerator::db::connection::open_writer;
use loggerator::db::store::LogStore;
use loggerator::db::writer::register_source;
use loggerator::entry::Entry;
use loggerator::ingest::IngestConfig;
use loggerator::service::{Service, ServiceConfig};

pub const FIXTURE: &str = include_str!("../fixtures/loggerator-seed1-sample.log");

pub fn fixture_lines() -> Vec<&'static str> {
    FIXTURE.lines().collect()
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

/// Stores `lines` from `source` in batches of 10, the way the writer would.
pub fn store_lines(db: &TempDb, source: &str, lines: &[String]) {
    let mut conn = open_writer(&db.path).expect("open writer");
    let id = register_source(&mut conn, source).expect("register source");
    let mut store = LogStore::load(&mut conn, TEST_SEGMENT_ROWS).expect("load store");
    let entries: Vec<Entry> = lines.iter().map(|l| Entry::from_line(l)).collect();
    for batch in entries.chunks(10) {
        store
            .write_batch(&mut conn, id, batch)
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
        max_queries_in_flight: 64,
        segment_rows: TEST_SEGMENT_ROWS * 25,
        ingest: IngestConfig {
            batch_size: 500,
            flush_interval: Duration::from_millis(20),
            ..IngestConfig::default()
        },
    }
}

pub async fn start_service(config: ServiceConfig) -> Service {
    Service::start(config).await.expect("service starts")
}

/// A TCP proxy in front of `upstream` that breaks its first connection: after forwarding
/// `break_after` bytes to the client it resets both sides. Later connections pass untouched.
/// Returns the proxy's address.
pub async fn breaking_proxy(upstream: String, break_after: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((mut client, _)) = listener.accept().await {
            let mut server = TcpStream::connect(&upstream).await.expect("upstream");
            let limit = if first { Some(break_after) } else { None };
            first = false;
            tokio::spawn(async move {
                let mut forwarded = 0;
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match server.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let n = limit.map_or(n, |limit| n.min(limit - forwarded));
                    if client.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                    forwarded += n;
                    if limit == Some(forwarded) {
                        // A reset, not a clean close: the connection broke.
                        let _ = client.set_zero_linger();
                        return;
                    }
                }
                let _ = client.shutdown().await;
            });
        }
    });
    address
}
