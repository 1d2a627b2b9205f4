//! Exactly once across crashes: the real binary against an emulated source, killed (SIGKILL)
//! at random moments and restarted each time. A crash may lose only what was not committed, and
//! the source's replay brings that again, so in the end each line of the stream is stored once.
//!
//! CI runs 50,000 lines and 10 kills; the heavier run is `#[ignore]`d (`docs/operations.md`, "Guarantees").

use crate::common;

use std::time::Duration;

use common::app::get;
use common::counts::assert_keys_and_counts_agree_with_lines;
use common::process::{spawn, Running, WAIT};
use common::{eventually, stored_lines, temp_db, TempDb};
use diesel::prelude::*;
use diesel::sql_types::Text;
use loggerator::emulator::{self, LineGenerator};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// An emulated source on `address` (port 0: any), until the handle is aborted.
async fn emulate(address: &str, count: u64, seed: u64) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind(address).await.expect("bind the source");
    let address = listener.local_addr().unwrap().to_string();
    let task = actix_rt::spawn(async move {
        let _ = emulator::serve(listener, count, seed).await;
    });
    (address, task)
}

fn serve(db: &TempDb, source: &str, extra: &[&str]) -> Running {
    let mut args = vec![
        "serve",
        "--source",
        source,
        "--db",
        db.path.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        // Small batches: many commits per run, so kills land between and during them.
        "--batch-size",
        "2000",
        "--flush-interval-ms",
        "50",
    ];
    args.extend_from_slice(extra);
    spawn(&args)
}

async fn source_entry(base: &str) -> Value {
    let reply = get(&format!("{base}/sources")).await;
    assert_eq!(reply.status, 200);
    reply.body[0].clone()
}

/// Starts the service and waits until its source has finished; returns it with `/sources`.
async fn serve_to_the_end(db: &TempDb, source: &str, extra: &[&str]) -> (Running, Value) {
    let running = serve(db, source, extra);
    let base = running.find("http://");
    let entry = eventually("the source finished", WAIT, || async {
        let entry = source_entry(&base).await;
        (entry["state"] == "finished").then_some(entry)
    })
    .await;
    (running, entry)
}

fn integrity(db: &TempDb) -> String {
    #[derive(QueryableByName)]
    struct Check {
        #[diesel(sql_type = Text)]
        integrity_check: String,
    }
    let mut conn = loggerator::db::connection::open_reader(&db.path).unwrap();
    diesel::sql_query("PRAGMA integrity_check")
        .get_result::<Check>(&mut conn)
        .unwrap()
        .integrity_check
}

async fn killed_at_random_then_restarted(lines: u64, kills: usize, extra: &[&str]) {
    let (address, first) = emulate("127.0.0.1:0", lines, 1).await;
    let db = temp_db();
    // Random points of the stream, in order: each run is killed once its source has stored past
    // the next one, plus a random few milliseconds, so that kills land anywhere in a batch's
    // life (reading, parsing, committing) but always before the stream's end.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(lines);
    let mut targets: Vec<u64> = (0..kills)
        .map(|_| rng.gen_range(1..lines * 8 / 10))
        .collect();
    targets.sort_unstable();
    for target in targets {
        let running = serve(&db, &address, extra);
        let base = running.find("http://");
        eventually("the stream past the kill point", WAIT, || async {
            let entry = source_entry(&base).await;
            (entry["total_lines_stored"].as_u64() >= Some(target)).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..20))).await;
        running.kill();
        let stored = stored_lines(&db.path).len() as u64;
        assert!(stored < lines, "killed after the end: {stored} of {lines}");
    }
    let (running, _) = serve_to_the_end(&db, &address, extra).await;
    assert!(running.terminate().success());

    assert_eq!(integrity(&db), "ok");
    let mut generator = LineGenerator::new(1);
    let stream: Vec<String> = (0..lines).map(|_| generator.next_line()).collect();
    let stored = stored_lines(&db.path);
    assert_eq!(stored.len(), stream.len(), "each line once");
    assert!(stored == stream, "the stream, in order, each line once");
    // Ids 1 to N, each once (`stored_lines` is in id order), none handed out twice; keys and
    // counts agree with the lines, in whichever form they are.
    assert_keys_and_counts_agree_with_lines(&db.path, lines as usize);
    assert_eq!(last_line_id(&db), lines as i64);
    if extra.contains(&"--segment-rows") {
        let mut conn = loggerator::db::connection::open_reader(&db.path).unwrap();
        use loggerator::db::schema::parts;
        let sizes: Vec<i64> = parts::table
            .filter(parts::state.eq(loggerator::db::blocks::part::LIVE))
            .select(parts::rows)
            .load(&mut conn)
            .unwrap();
        let (compacted, largest) = (sizes.iter().sum::<i64>(), sizes.iter().max());
        assert!(
            compacted > lines as i64 / 2 && largest > Some(&1_000),
            "compaction and merges ran: {compacted:?} lines in parts, the largest {largest:?}"
        );
    }

    // A clean restart stores nothing new: the whole stream is a replay.
    let (running, entry) = serve_to_the_end(&db, &address, extra).await;
    assert!(running.terminate().success());
    assert_eq!(entry["lines_stored"], 0, "{entry}");
    assert_eq!(entry["lines_replayed"], lines, "{entry}");
    assert_eq!(entry["total_lines_stored"], lines, "{entry}");

    // A different stream on the same address is a new stream: stored whole.
    first.abort();
    let _ = first.await;
    let (_, second) = emulate(&address, lines, 2).await;
    let (running, entry) = serve_to_the_end(&db, &address, extra).await;
    assert!(running.terminate().success());
    assert_eq!(entry["lines_stored"], lines, "{entry}");
    assert_eq!(entry["total_lines_stored"], 2 * lines, "{entry}");
    second.abort();
    let mut generator = LineGenerator::new(2);
    let stored = stored_lines(&db.path);
    assert!(stored[lines as usize..].iter().eq((0..lines)
        .map(|_| generator.next_line())
        .collect::<Vec<_>>()
        .iter()));
}

/// The last id handed out, as the writer keeps it.
fn last_line_id(db: &TempDb) -> i64 {
    use loggerator::db::schema::store_state;
    let mut conn = loggerator::db::connection::open_reader(&db.path).unwrap();
    store_state::table
        .select(store_state::last_line_id)
        .first(&mut conn)
        .unwrap()
}

#[actix_rt::test]
async fn ten_kills_store_each_line_of_the_stream_exactly_once() {
    killed_at_random_then_restarted(50_000, 10, &[]).await;
}

/// The documented run: `cargo test --release --test it crash:: -- --ignored`.
#[actix_rt::test]
#[ignore = "heavy: 500,000 lines and 20 kills; run with --release -- --ignored"]
async fn twenty_kills_over_half_a_million_lines() {
    killed_at_random_then_restarted(500_000, 20, &[]).await;
}

/// Segments of 1,000 rows and an open one sealed after a second idle: compaction runs through
/// the whole run, so kills land while parts are built, committed and their hot rows deleted.
#[actix_rt::test]
async fn kills_during_compaction_store_each_line_once_and_reuse_no_id() {
    killed_at_random_then_restarted(
        50_000,
        10,
        &["--segment-rows", "1000", "--seal-idle-secs", "1"],
    )
    .await;
}
