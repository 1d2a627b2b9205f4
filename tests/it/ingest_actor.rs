//! The IngestActor against TCP listeners inside the test, with a stand-in for the DbWriter that
//! records every batch it is sent.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use common::{eventually, fixture_lines};
use loggerator::batch::Entry;
use loggerator::batch::{WriteBatch, WriteError, WriteSummary};
use loggerator::ingest::backoff::BackoffConfig;
use loggerator::ingest::{
    IngestActor, IngestConfig, Shutdown, SourceSnapshot, SourceState, SourceStatus,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

/// Records batches; fails the first `failures` writes; answers only when `gate` has a permit.
#[derive(Clone, Default)]
struct FakeWriter {
    batches: Arc<Mutex<Vec<Vec<Entry>>>>,
    failures: Arc<AtomicUsize>,
    gate: Option<Arc<Semaphore>>,
}

impl FakeWriter {
    fn entries(&self) -> Vec<Entry> {
        self.batches
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .cloned()
            .collect()
    }

    fn batch_sizes(&self) -> Vec<usize> {
        self.batches.lock().unwrap().iter().map(Vec::len).collect()
    }

    fn lines(&self) -> Vec<String> {
        self.entries()
            .into_iter()
            .map(|e| match e {
                Entry::Parsed { line, .. } => line,
                Entry::Rejected { line, .. } => String::from_utf8_lossy(&line).into_owned(),
            })
            .collect()
    }
}

impl Actor for FakeWriter {
    type Context = Context<Self>;
}

impl Handler<WriteBatch> for FakeWriter {
    type Result = ResponseFuture<Result<WriteSummary, WriteError>>;

    fn handle(&mut self, msg: WriteBatch, _: &mut Context<Self>) -> Self::Result {
        let this = self.clone();
        Box::pin(async move {
            if let Some(gate) = &this.gate {
                gate.acquire().await.unwrap().forget();
            }
            if this
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| f.checked_sub(1))
                .is_ok()
            {
                return Err(WriteError::Unavailable("injected failure".into()));
            }
            let rejected = msg.entries.iter().filter(|e| e.is_rejected()).count() as u64;
            this.batches.lock().unwrap().push(msg.entries.to_vec());
            Ok(WriteSummary {
                stored: msg.entries.len() as u64 - rejected,
                rejected,
            })
        })
    }
}

fn config() -> IngestConfig {
    IngestConfig {
        batch_size: 16,
        batch_bytes: 1 << 20,
        flush_interval: Duration::from_millis(10),
        max_line_bytes: 256,
        connect_timeout: Duration::from_secs(2),
        backoff: BackoffConfig {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(50),
        },
        reconnect_after_eof: false,
        write_retry: BackoffConfig {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(20),
        },
        skip_replayed: true,
    }
}

fn start(
    address: String,
    writer: &FakeWriter,
    config: IngestConfig,
) -> (Arc<SourceStatus>, Addr<IngestActor>) {
    let status = SourceStatus::new(1, address);
    let recipient = writer.clone().start().recipient();
    let addr = IngestActor::new(
        status.clone(),
        recipient,
        config,
        CancellationToken::new(),
        None,
    )
    .start_supervised();
    (status, addr)
}

/// Distinct, parseable lines: a fixture line with its size replaced by `i`.
fn numbered(i: usize) -> String {
    let line = fixture_lines()[i % 60];
    format!("{} {i}", line.rsplit_once(' ').unwrap().0)
}

/// How the first of two connections ends.
enum FirstEnd {
    /// A reset: the connection broke.
    Reset,
    /// A clean close.
    Close,
}

/// A listener whose first client gets `first` and then `end`, and whose second client gets
/// `second` and a clean close: a source seen across one reconnection.
async fn serve_twice(first: String, end: FirstEnd, second: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        socket.write_all(first.as_bytes()).await.unwrap();
        if let FirstEnd::Reset = end {
            socket.set_zero_linger().unwrap();
        }
        drop(socket);
        let (mut socket, _) = listener.accept().await.unwrap();
        socket.write_all(second.as_bytes()).await.unwrap();
    });
    address
}

/// A listener that sends `payload` to its first client and then holds the connection open
/// until the returned sender is dropped.
async fn serve_and_hold(payload: String) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        socket.write_all(payload.as_bytes()).await.unwrap();
        let _ = done_rx.await;
    });
    (address, done_tx)
}

async fn wait_state(status: &SourceStatus, state: SourceState) {
    eventually(&format!("state {state:?}"), WAIT, || async {
        (status.state() == state).then_some(())
    })
    .await;
}

/// A listener that sends `payload` to every client in the given chunks, then closes.
async fn serve_chunks(chunks: Vec<Vec<u8>>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            for chunk in &chunks {
                socket.write_all(chunk).await.unwrap();
                socket.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
        }
    });
    (address, accepted)
}

#[actix_rt::test]
async fn stores_every_line_and_finishes_at_end_of_stream() {
    let lines = fixture_lines();
    let payload = lines.join("\n") + "\n";
    let (address, accepted) = serve_chunks(vec![payload.into_bytes()]).await;
    let writer = FakeWriter::default();
    let (status, _addr) = start(address, &writer, config());

    wait_state(&status, SourceState::Finished).await;
    assert_eq!(writer.lines(), lines);
    let snapshot = status.snapshot();
    assert_eq!(
        (
            snapshot.lines_received,
            snapshot.lines_stored,
            snapshot.lines_rejected
        ),
        (60, 60, 0)
    );
    assert_eq!(snapshot.connection_attempts, 1);
    // Not reconnected by default: give a wrong reconnect several backoff ceilings to show up.
    tokio::time::sleep(config().backoff.max * 4).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert_eq!(status.state(), SourceState::Finished);
}

#[actix_rt::test]
async fn joins_lines_split_across_reads() {
    let line = fixture_lines()[0].as_bytes();
    let chunks = vec![
        line[..10].to_vec(),
        line[10..40].to_vec(),
        [&line[40..], b"\n"].concat(),
        line[..5].to_vec(),
        [&line[5..], b"\r\n"].concat(),
    ];
    let (address, _) = serve_chunks(chunks).await;
    let writer = FakeWriter::default();
    let (status, _addr) = start(address, &writer, config());

    wait_state(&status, SourceState::Finished).await;
    assert_eq!(writer.lines(), vec![fixture_lines()[0]; 2]);
    assert!(writer.entries().iter().all(|e| !e.is_rejected()));
}

#[actix_rt::test]
async fn overlong_and_invalid_utf8_lines_are_rejected_without_dropping_the_connection() {
    let good = fixture_lines();
    let mut payload = Vec::new();
    payload.extend_from_slice(format!("{}\n", good[0]).as_bytes());
    payload.extend_from_slice(&vec![b'x'; 1000]);
    payload.extend_from_slice(b"\n");
    payload.extend_from_slice(b"bad \xff\xfe bytes\n");
    payload.extend_from_slice(b"not a log line\n");
    payload.extend_from_slice(format!("{}\n", good[1]).as_bytes());
    let (address, accepted) = serve_chunks(vec![payload]).await;
    let writer = FakeWriter::default();
    let (status, _addr) = start(address, &writer, config());

    wait_state(&status, SourceState::Finished).await;
    let entries = writer.entries();
    assert_eq!(entries.len(), 5);
    match &entries[1] {
        Entry::Rejected { line, reason } => {
            assert_eq!(line, &vec![b'x'; 256]);
            assert!(
                reason.contains("too long") && reason.contains("1000"),
                "{reason}"
            );
        }
        other => panic!("expected the long line rejected, got {other:?}"),
    }
    match &entries[2] {
        Entry::Rejected { line, reason } => {
            assert_eq!(line, b"bad \xff\xfe bytes");
            assert!(reason.contains("UTF-8"), "{reason}");
        }
        other => panic!("expected the non-UTF-8 line rejected, got {other:?}"),
    }
    assert!(entries[3].is_rejected());
    assert!(matches!(&entries[4], Entry::Parsed { line, .. } if line == good[1]));
    let snapshot = status.snapshot();
    assert_eq!((snapshot.lines_stored, snapshot.lines_rejected), (2, 3));
    assert_eq!(snapshot.connection_attempts, 1);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[actix_rt::test]
async fn retries_a_refused_connection_until_the_source_appears() {
    // A port with nothing behind it (yet).
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let writer = FakeWriter::default();
    let (status, _addr) = start(address.clone(), &writer, config());

    eventually("three refused attempts", WAIT, || async {
        let s = status.snapshot();
        (s.connection_attempts >= 3
            && s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("connect")))
        .then_some(())
    })
    .await;
    assert_ne!(status.state(), SourceState::Finished);

    let listener = TcpListener::bind(&address).await.unwrap();
    let lines = fixture_lines();
    let payload = lines.join("\n") + "\n";
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        socket.write_all(payload.as_bytes()).await.unwrap();
    });
    wait_state(&status, SourceState::Finished).await;
    assert_eq!(writer.lines(), lines);
}

#[actix_rt::test]
async fn reconnects_after_a_broken_connection() {
    let lines = fixture_lines();
    // First client: one line, then a reset; the second gets the rest (no replay).
    let first = format!("{}\n", lines[0]);
    let rest = lines[1..].join("\n") + "\n";
    let address = serve_twice(first, FirstEnd::Reset, rest).await;
    let writer = FakeWriter::default();
    let (status, _addr) = start(address, &writer, config());

    wait_state(&status, SourceState::Finished).await;
    assert_eq!(writer.lines(), lines);
    assert_eq!(status.snapshot().connection_attempts, 2);
}

/// Asked to, it reconnects after a clean close; by default it does not
/// (`stores_every_line_and_finishes_at_end_of_stream` watches for that).
#[actix_rt::test]
async fn reconnects_after_a_clean_close_when_asked_to() {
    for skip_replayed in [true, false] {
        let payload = format!("{}\n", fixture_lines()[0]).into_bytes();
        let (address, accepted) = serve_chunks(vec![payload]).await;
        let writer = FakeWriter::default();
        let config = IngestConfig {
            reconnect_after_eof: true,
            skip_replayed,
            ..config()
        };
        let (status, _addr) = start(address, &writer, config);
        // Each connection's line is either stored or skipped as a replay.
        eventually("three connections accounted for", WAIT, || async {
            let handled = writer.lines().len() as u64 + status.snapshot().lines_replayed;
            (handled >= 3).then_some(())
        })
        .await;
        assert!(accepted.load(Ordering::SeqCst) >= 3);
        let stored = writer.lines().len();
        if skip_replayed {
            // Every connection replays the same line: it is stored once.
            assert_eq!(stored, 1);
            assert!(status.snapshot().lines_replayed >= 2);
        } else {
            assert!(stored >= 3);
            assert_eq!(status.snapshot().lines_replayed, 0);
        }
    }
}

/// A source that sends `first` on its first connection, ended as `end`, and `full` on the next:
/// it must end finished with exactly `lines` stored, after two connections.
async fn finish_over_two_connections<S: AsRef<str>>(
    first: String,
    end: FirstEnd,
    full: String,
    lines: &[S],
) -> SourceSnapshot {
    let address = serve_twice(first, end, full).await;
    let writer = FakeWriter::default();
    let (status, _addr) = start(address, &writer, config());
    wait_state(&status, SourceState::Finished).await;
    let expected: Vec<&str> = lines.iter().map(AsRef::as_ref).collect();
    assert_eq!(writer.lines(), expected);
    let snapshot = status.snapshot();
    assert_eq!(snapshot.connection_attempts, 2);
    snapshot
}

#[actix_rt::test]
async fn a_replaying_source_that_breaks_midway_is_stored_exactly_once() {
    // loggerator's behaviour: every connection streams the same lines from the first.
    let lines: Vec<String> = (0..500).map(numbered).collect();
    let stream = lines.join("\n") + "\n";
    let cut = stream[..stream.len() / 2 + 7].to_owned(); // in the middle of a line
    let snapshot = finish_over_two_connections(cut, FirstEnd::Reset, stream, &lines).await;
    assert_eq!(snapshot.lines_received, snapshot.lines_replayed + 500);
}

#[actix_rt::test]
async fn sends_full_batches_and_flushes_the_rest_after_the_interval() {
    let payload = fixture_lines()[..40].join("\n") + "\n";
    // Keep the connection open: only the timer can flush the last partial batch.
    let (address, done_tx) = serve_and_hold(payload).await;
    let writer = FakeWriter::default();
    let (status, _addr) = start(address, &writer, config());

    eventually("40 lines", WAIT, || async {
        (writer.lines().len() == 40).then_some(())
    })
    .await;
    let sizes = writer.batch_sizes();
    assert!(sizes.iter().all(|&n| n <= 16), "{sizes:?}");
    assert!(sizes.iter().filter(|&&n| n == 16).count() >= 2, "{sizes:?}");
    assert_eq!(status.state(), SourceState::Streaming);
    drop(done_tx);
}

#[actix_rt::test]
async fn reads_nothing_more_until_the_batch_is_committed() {
    let lines: Vec<String> = (0..100)
        .map(|i| fixture_lines()[i % 60].to_owned())
        .collect();
    let (address, _) = serve_chunks(vec![(lines.join("\n") + "\n").into_bytes()]).await;
    let gate = Arc::new(Semaphore::new(0));
    let writer = FakeWriter {
        gate: Some(gate.clone()),
        ..FakeWriter::default()
    };
    let (status, _addr) = start(
        address,
        &writer,
        IngestConfig {
            batch_size: 10,
            ..config()
        },
    );

    eventually("a full batch", WAIT, || async {
        (status.snapshot().lines_received == 10).then_some(())
    })
    .await;
    // The writer has not answered: the actor must hold still however long that takes.
    for _ in 0..20 {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(status.snapshot().lines_received, 10);
    }
    gate.add_permits(1000);
    wait_state(&status, SourceState::Finished).await;
    assert_eq!(writer.lines(), lines);
}

#[actix_rt::test]
async fn retries_a_batch_the_database_refused() {
    let lines = fixture_lines();
    let (address, _) = serve_chunks(vec![(lines.join("\n") + "\n").into_bytes()]).await;
    let writer = FakeWriter {
        failures: Arc::new(AtomicUsize::new(2)),
        ..FakeWriter::default()
    };
    let (status, _addr) = start(address, &writer, config());

    wait_state(&status, SourceState::Finished).await;
    assert_eq!(writer.lines(), lines, "every line once, in order");
    assert!(status
        .snapshot()
        .last_error
        .unwrap()
        .contains("injected failure"));
}

#[actix_rt::test]
async fn shutdown_stores_what_was_received() {
    let payload = fixture_lines()[..5].join("\n") + "\n";
    let (address, done_tx) = serve_and_hold(payload).await;
    let writer = FakeWriter::default();
    let (status, addr) = start(
        address,
        &writer,
        IngestConfig {
            flush_interval: Duration::from_secs(3600),
            ..config()
        },
    );

    eventually("5 lines received", WAIT, || async {
        (status.snapshot().lines_received == 5).then_some(())
    })
    .await;
    assert!(writer.lines().is_empty(), "nothing flushed before shutdown");
    addr.send(Shutdown).await.unwrap();
    assert_eq!(writer.lines(), fixture_lines()[..5]);
    assert_eq!(status.state(), SourceState::Stopped);
    assert_eq!(status.snapshot().lines_stored, 5);
    drop(done_tx);
}

#[actix_rt::test]
async fn shutdown_stores_the_lines_still_in_the_read_buffer() {
    let lines: Vec<String> = (0..100).map(numbered).collect();
    // All lines in one write, then a line cut short; the connection stays open.
    let payload = lines.join("\n") + "\n" + &fixture_lines()[0][..30];
    let (address, done_tx) = serve_and_hold(payload).await;
    let gate = Arc::new(Semaphore::new(0));
    let writer = FakeWriter {
        gate: Some(gate.clone()),
        ..FakeWriter::default()
    };
    let config = IngestConfig {
        batch_size: 10,
        ..config()
    };
    let (status, addr) = start(address, &writer, config);

    // The first batch waits on the writer; the other 90 lines wait in the read buffer.
    eventually("a full batch", WAIT, || async {
        (status.snapshot().lines_received == 10).then_some(())
    })
    .await;
    let shutdown = addr.send(Shutdown);
    gate.add_permits(1000);
    shutdown.await.unwrap();

    assert_eq!(
        writer.lines(),
        lines,
        "every complete line, and not the partial one"
    );
    let snapshot = status.snapshot();
    assert_eq!(
        (snapshot.lines_received, snapshot.lines_stored),
        (100, 100),
        "{snapshot:?}"
    );
    assert_eq!(status.state(), SourceState::Stopped);
    drop(done_tx);
}

#[actix_rt::test]
async fn a_connection_closed_before_any_line_is_retried() {
    let lines = fixture_lines();
    let payload = lines.join("\n") + "\n";
    // Accepted and closed at once, as a proxy does while the source behind it is not up yet.
    let snapshot =
        finish_over_two_connections(String::new(), FirstEnd::Close, payload, &lines).await;
    assert!(snapshot.last_error.unwrap().contains("before any line"));
}

#[actix_rt::test]
async fn halt_ends_retries_of_a_refused_batch_so_shutdown_is_answered() {
    let payload = fixture_lines()[..5].join("\n") + "\n";
    let (address, done_tx) = serve_and_hold(payload).await;
    // A database that refuses everything, and a retry pause longer than the test's patience.
    let writer = FakeWriter {
        failures: Arc::new(AtomicUsize::new(usize::MAX)),
        ..FakeWriter::default()
    };
    let config = IngestConfig {
        write_retry: BackoffConfig {
            initial: Duration::from_secs(3600),
            max: Duration::from_secs(3600),
        },
        ..config()
    };
    let status = SourceStatus::new(1, address);
    let halt = CancellationToken::new();
    let addr = IngestActor::new(
        status.clone(),
        writer.clone().start().recipient(),
        config,
        halt.clone(),
        None,
    )
    .start_supervised();
    eventually("a refused batch", WAIT, || async {
        status
            .snapshot()
            .last_error
            .filter(|e| e.contains("injected"))
            .map(|_| ())
    })
    .await;

    // The actor is inside its retry loop: only the halt token can reach it there.
    halt.cancel();
    tokio::time::timeout(WAIT, addr.send(Shutdown))
        .await
        .expect("Shutdown answered")
        .unwrap();
    let snapshot = status.snapshot();
    assert_eq!(
        (snapshot.lines_stored, snapshot.lines_lost),
        (0, 5),
        "{snapshot:?}"
    );
    assert!(writer.lines().is_empty());
    drop(done_tx);
}

#[actix_rt::test]
async fn a_line_cut_short_by_the_end_of_the_stream_is_kept_as_rejected() {
    let lines = fixture_lines();
    // The last line loses its final digit and newline: "... 200 354" would read as "200 35".
    let cut = &lines[3][..lines[3].len() - 1];
    let payload = format!("{}\n{}\n{}\n{cut}", lines[0], lines[1], lines[2]);
    let (address, _) = serve_chunks(vec![payload.into_bytes()]).await;
    let writer = FakeWriter::default();
    let (status, _addr) = start(address, &writer, config());

    wait_state(&status, SourceState::Finished).await;
    let entries = writer.entries();
    assert_eq!(entries.len(), 4);
    assert!(entries[..3].iter().all(|e| !e.is_rejected()));
    match &entries[3] {
        Entry::Rejected { line, reason } => {
            assert_eq!(line, cut.as_bytes());
            assert!(reason.contains("incomplete"), "{reason}");
        }
        other => panic!("expected the cut line rejected, got {other:?}"),
    }
}

/// A writer whose mailbox is closed: it stops as soon as it starts.
struct GoneWriter;

impl Actor for GoneWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<WriteBatch> for GoneWriter {
    type Result = Result<WriteSummary, WriteError>;

    fn handle(&mut self, _: WriteBatch, _: &mut Context<Self>) -> Self::Result {
        unreachable!("a stopped actor handles nothing")
    }
}

#[actix_rt::test]
async fn a_closed_writer_mailbox_loses_no_line_while_the_service_runs() {
    let payload = fixture_lines()[..5].join("\n") + "\n";
    let (address, done_tx) = serve_and_hold(payload).await;
    let status = SourceStatus::new(1, address);
    let halt = CancellationToken::new();
    let addr = IngestActor::new(
        status.clone(),
        GoneWriter.start().recipient(),
        config(),
        halt.clone(),
        None,
    )
    .start_supervised();
    eventually("a failed send", WAIT, || async {
        status
            .snapshot()
            .last_error
            .filter(|e| e.contains("unavailable"))
            .map(|_| ())
    })
    .await;
    // Retries pause 5 to 20 ms here: 300 ms is a dozen attempts or more, each of which would
    // have counted the lines lost before.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let snapshot = status.snapshot();
    assert_eq!((snapshot.lines_received, snapshot.lines_lost), (5, 0));
    assert_eq!(snapshot.state, SourceState::Streaming);

    // Only a shutdown gives up on them, and says so.
    halt.cancel();
    tokio::time::timeout(WAIT, addr.send(Shutdown))
        .await
        .expect("Shutdown answered")
        .unwrap();
    assert_eq!(status.snapshot().lines_lost, 5);
    drop(done_tx);
}

#[actix_rt::test]
async fn a_batch_is_sent_at_its_byte_cap_as_well_as_its_line_count() {
    let lines = fixture_lines();
    let payload = lines.join("\n") + "\n";
    let (address, done_tx) = serve_and_hold(payload).await;
    let writer = FakeWriter::default();
    let config = IngestConfig {
        batch_size: 1_000,
        batch_bytes: 500,
        ..config()
    };
    let (status, _addr) = start(address, &writer, config);
    eventually("every line stored", WAIT, || async {
        (status.snapshot().lines_stored == 60).then_some(())
    })
    .await;
    let longest = lines.iter().map(|l| l.len()).max().unwrap();
    let batches = writer.batches.lock().unwrap().clone();
    for batch in &batches {
        let bytes: usize = batch.iter().map(|e| e.line_bytes().len()).sum();
        // Sent once a line takes it to the cap: under it, but for that one line.
        assert!(bytes < 500 + longest, "{bytes} bytes in one batch");
    }
    assert!(
        batches.len() >= 60 * 80 / (500 + longest),
        "{} batches",
        batches.len()
    );
    drop(done_tx);
}
