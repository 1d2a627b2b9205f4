//! `loggerator backup` while the service runs, restored and compared; `loggerator healthcheck`.

use crate::common;

use std::process::Command;

use common::app::TestApp;
use common::process::LOGGERATOR;
use common::{store_lines, temp_db};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use loggerator::emulator::LineGenerator;

#[derive(QueryableByName, Debug, PartialEq)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Check {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

/// Rows of each table, in a fixed order.
fn counts(path: &std::path::Path) -> Vec<i64> {
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    [
        "log_lines",
        "log_keys",
        "rejected_lines",
        "day_counts",
        "hour_counts",
        "key_counts",
        "hot_segments",
        "parts",
        "blocks",
        "block_data",
        "retired_segments",
        "store_state",
        "sources",
    ]
    .iter()
    .map(|table| {
        diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result::<Count>(&mut conn)
            .unwrap()
            .n
    })
    .collect()
}

#[actix_rt::test]
async fn a_backup_taken_while_the_service_runs_restores_to_the_same_rows() {
    let db = temp_db();
    let mut generator = LineGenerator::new(4);
    let mut lines: Vec<String> = (0..3_000).map(|_| generator.next_line()).collect();
    lines.push("not a log line".to_owned());
    store_lines(&db, "src:1", &lines);
    let app = TestApp::spawn_on(db, vec![]).await;
    let out = app.db.dir.path().join("copy.db");
    let status = Command::new(LOGGERATOR)
        .args(["backup", "--db", app.db.path.to_str().unwrap()])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    // The copy is a database of its own: whole, with every table's rows.
    let mut conn = SqliteConnection::establish(out.to_str().unwrap()).unwrap();
    let check = diesel::sql_query("PRAGMA integrity_check")
        .get_result::<Check>(&mut conn)
        .unwrap();
    assert_eq!(check.integrity_check, "ok");
    conn.batch_execute("SELECT 1").unwrap();
    let copied = counts(&out);
    assert_eq!(copied[..3], [3_000, 3_000, 1]);
    assert_eq!(copied, counts(&app.db.path));
    // The service serves the restored copy.
    let (db, _) = app.stop().await;
    std::fs::rename(&out, &db.path).unwrap();
    let _ = std::fs::remove_file(db.path.with_extension("db-wal"));
    let restored = TestApp::spawn_on(db, vec![]).await;
    assert_eq!(restored.count("").await, 3_000);

    // Never over an existing file.
    let refused = Command::new(LOGGERATOR)
        .args(["backup", "--db", restored.db.path.to_str().unwrap()])
        .arg(&restored.db.path)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("exists already"));
    restored.stop().await;
}

/// `loggerator healthcheck --url URL ...`'s exit code, run off the test's runtime (which serves
/// the request meanwhile).
async fn healthcheck(args: Vec<String>) -> Option<i32> {
    actix_rt::task::spawn_blocking(move || {
        Command::new(LOGGERATOR)
            .arg("healthcheck")
            .args(args)
            .status()
            .unwrap()
            .code()
    })
    .await
    .unwrap()
}

#[actix_rt::test]
async fn healthcheck_exits_0_for_a_healthy_service_and_1_otherwise() {
    let app = TestApp::spawn(vec![]).await;
    let url = app.url("/healthz");
    let args = |url: &str| vec!["--url".to_owned(), url.to_owned()];
    assert_eq!(healthcheck(args(&url)).await, Some(0));
    assert_eq!(healthcheck(args(&app.url("/nowhere"))).await, Some(1));
    app.stop().await;
    let mut down = args(&url);
    down.extend(["--timeout-ms".to_owned(), "2000".to_owned()]);
    assert_eq!(healthcheck(down).await, Some(1));
}

/// The permission bits of `path`.
fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[actix_rt::test]
async fn the_files_the_service_makes_are_its_owners_alone_whatever_the_umask() {
    let db = temp_db();
    let path = db.path.to_str().unwrap().to_owned();
    // umask 000: without care, every file would be readable and writable by anyone.
    let running = common::process::spawn_program(
        "sh",
        &[
            "-c",
            &format!(
                "umask 000; exec {LOGGERATOR} serve --source '' --db {path} --listen 127.0.0.1:0"
            ),
        ],
    );
    let base = running.find("http://");
    // A push makes the WAL and the shared memory file.
    let pushed = awc::Client::default()
        .post(format!("{base}/ingest"))
        .send_body("127.0.0.1 - - [09/May/2018:16:00:39 +0000] \"GET /a HTTP/1.0\" 200 1\n")
        .await
        .unwrap();
    assert_eq!(pushed.status().as_u16(), 200);
    let out = db.dir.path().join("copy.db");
    let status = Command::new("sh")
        .args([
            "-c",
            &format!(
                "umask 000; exec {LOGGERATOR} backup --db {path} {}",
                out.display()
            ),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let file = std::path::PathBuf::from(format!("{path}{suffix}"));
        assert_eq!(mode_of(&file), 0o600, "{}", file.display());
    }
    assert_eq!(mode_of(&out), 0o600, "the backup");
    assert!(running.terminate().success());
}
