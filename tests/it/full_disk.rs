//! A real full disk: the database on a small tmpfs, mounted in a mount namespace of the
//! service's own (`unshare -m`, so it vanishes with the process, whatever happens to the test),
//! then enlarged while the service runs (`nsenter ... mount -o remount,size=...`). Needs root,
//! as CI and the development machines have; elsewhere it says why it did nothing.
//! `tests/it/e2e.rs` has a variant that needs nothing (a trigger raising SQLite's "full" error).

use crate::common;

use std::process::Command;

use common::app::get;
use common::eventually;
use common::process::{spawn_program, LOGGERATOR, WAIT};
use loggerator::emulator::{self, LineGenerator};
use tokio::net::TcpListener;

const LINES: u64 = 30_000;

fn can_mount_here() -> Result<(), String> {
    let probe = tempfile::tempdir().unwrap();
    let dir = probe.path().to_str().unwrap();
    let output = Command::new("unshare")
        .args([
            "-m",
            "--propagation",
            "private",
            "mount",
            "-t",
            "tmpfs",
            "-o",
            "size=1m",
        ])
        .args(["tmpfs", dir])
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

#[actix_rt::test]
async fn a_full_disk_makes_the_service_unhealthy_and_ingest_resumes_once_there_is_room() {
    if let Err(why) = can_mount_here() {
        eprintln!("skipped: cannot mount a tmpfs in a private namespace here ({why})");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let source = listener.local_addr().unwrap().to_string();
    actix_rt::spawn(emulator::serve(listener, LINES, 1));

    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path().to_str().unwrap().to_owned();
    // About 1 MiB: room for the schema and a few thousand lines, not for 30,000 (3 MB raw).
    let script = format!(
        "mount -t tmpfs -o size=1m tmpfs '{dir}' && exec '{LOGGERATOR}' serve --db '{dir}/db' \
         --source {source} --listen 127.0.0.1:0 --batch-size 1000 --flush-interval-ms 50"
    );
    let running = spawn_program(
        "unshare",
        &["-m", "--propagation", "private", "sh", "-c", &script],
    );
    let base = running.find("http://");
    let pid = running.child.id().to_string();

    let unhealthy = eventually("/healthz says 503", WAIT, || async {
        let reply = get(&format!("{base}/healthz")).await;
        (reply.status == 503).then_some(reply.body)
    })
    .await;
    assert_eq!(unhealthy["code"], "disk_full", "{unhealthy}");
    // What it means, and never the error's own text (it may name files).
    assert!(
        unhealthy["reason"].as_str().unwrap().contains("full"),
        "{unhealthy}"
    );
    assert!(!unhealthy.to_string().contains('/'), "{unhealthy}");
    // Still serving what was committed: the count agrees with the source's (read on both sides
    // of it, should a commit slip through meanwhile).
    let stored = || async {
        let sources = get(&format!("{base}/sources")).await.body;
        assert_eq!(sources[0]["lines_lost"], 0, "{sources}");
        sources[0]["lines_stored"].as_u64().unwrap()
    };
    eventually("/logs/count agrees with /sources", WAIT, || async {
        let before = stored().await;
        let count = get(&format!("{base}/logs/count")).await.body["count"].as_u64();
        let after = stored().await;
        (before == after && count == Some(before)).then_some(())
    })
    .await;
    assert!(stored().await < LINES, "not everything fits");

    let grown = Command::new("nsenter")
        .args(["-t", &pid, "-m", "mount", "-o", "remount,size=64m", &dir])
        .status()
        .unwrap();
    assert!(grown.success(), "remount failed");
    eventually("every line stored and /healthz 200", WAIT, || async {
        let healthy = get(&format!("{base}/healthz")).await.status == 200;
        let count = get(&format!("{base}/logs/count")).await.body["count"].as_u64();
        (healthy && count == Some(LINES)).then_some(())
    })
    .await;

    // Each line once: the stored lines are the stream's, as a multiset.
    let mut generator = LineGenerator::new(1);
    let mut sent: Vec<String> = (0..LINES).map(|_| generator.next_line()).collect();
    let mut stored = Vec::new();
    let mut url = format!("{base}/logs?limit=10000&format=lines");
    loop {
        let reply = get(&url).await;
        stored.extend(
            reply
                .body
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_owned()),
        );
        match reply.next {
            Some(next) => url = next,
            None => break,
        }
    }
    sent.sort();
    stored.sort();
    assert!(stored == sent, "each line stored once");
    let sources = get(&format!("{base}/sources")).await.body;
    assert_eq!(sources[0]["lines_lost"], 0, "{sources}");
    assert!(running.terminate().success());
}
