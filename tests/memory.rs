//! Tests that measure this process's own memory: a binary of their own, so that no other
//! test's allocations run beside them (the rest are one binary, `tests/it`).

#[path = "it/common/mod.rs"]
mod common;

use std::io::Write as _;

use common::app::TestApp;
use flate2::write::GzEncoder;

/// This process's resident memory, in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[actix_rt::test]
async fn a_gzip_body_that_inflates_without_end_gets_413_with_memory_flat() {
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn(vec![]).await;
    let before = resident_bytes();
    let stream = tokio::net::TcpStream::connect(app.service.http_addr)
        .await
        .unwrap();
    let (mut read, mut write) = stream.into_split();
    // The client sends gzip for as long as the service reads: 1 MiB of bytes each time, a
    // kilobyte or so once compressed, without end (up to 64 GiB, should nothing stop it).
    let sender = tokio::spawn(async move {
        let head = "POST /ingest?source=bomb HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                    Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n";
        write.write_all(head.as_bytes()).await?;
        let mut gzip = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let plain = vec![b'a'; 1 << 20];
        for _ in 0..65_536 {
            gzip.write_all(&plain)?;
            let chunk: Vec<u8> = gzip.get_mut().drain(..).collect();
            if chunk.is_empty() {
                continue;
            }
            write
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            write.write_all(&chunk).await?;
            write.write_all(b"\r\n").await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let answer = common::read_until(&mut read, "\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    sender.abort();
    let grown = resident_bytes().saturating_sub(before);
    assert!(grown < 64 << 20, "memory grew by {grown} bytes");
    app.stop().await;
}
