//! `loggerator import`, the real binary: plain, rotated gzip and stdin files into a database
//! file and into a running service; importing again stores nothing; a grown file stores only
//! its new lines; one writer per database.

use crate::common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::app::TestApp;
use common::process::LOGGERATOR;
use common::{service_config, temp_db};
use flate2::write::GzEncoder;
use loggerator::emulator::LineGenerator;
use loggerator::tokens::{new_token, Scope};
use sha2::{Digest, Sha256};

fn lines(count: usize, seed: u64) -> Vec<String> {
    let mut generator = LineGenerator::new(seed);
    (0..count).map(|_| generator.next_line()).collect()
}

fn write_text(path: &Path, lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(path, text).unwrap();
}

/// One gzip member per slice, end to end, as logrotate's `delaycompress` plus `cat` leave them.
fn write_gzip_members(path: &Path, members: &[&[String]]) {
    let mut bytes = Vec::new();
    for member in members {
        let mut gzip = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for line in *member {
            writeln!(gzip, "{line}").unwrap();
        }
        bytes.extend(gzip.finish().unwrap());
    }
    std::fs::write(path, bytes).unwrap();
}

/// Runs `loggerator import ARGS`, off the test's runtime (which may be serving it), with
/// `stdin` as its standard input.
async fn import(args: Vec<String>, stdin: Vec<u8>) -> Output {
    actix_rt::task::spawn_blocking(move || {
        let mut child = Command::new(LOGGERATOR)
            .arg("import")
            .args(&args)
            .env_remove("LOGGERATOR_DB")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&stdin).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn path_arg(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

/// The summary line the import printed for `file`.
fn summary_of(output: &Output, file: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("{file}: ")))
        .unwrap_or_else(|| {
            panic!(
                "no summary for {file} in {stdout}; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
        .to_owned()
}

#[actix_rt::test]
async fn files_are_imported_once_whatever_their_form_and_grown_ones_add_only_new_lines() {
    let db = temp_db();
    let dir: PathBuf = db.dir.path().to_owned();
    let plain = dir.join("access.log");
    let all = lines(12_000, 11);
    write_text(&plain, &all[..5_000]);
    // A rotated file in two gzip members: both are read.
    let rotated = dir.join("access.log.1.gz");
    write_gzip_members(&rotated, &[&all[5_000..8_000], &all[8_000..10_000]]);
    let mut stdin: Vec<u8> = all[10_000..]
        .iter()
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect();
    stdin.extend(b"not a log line\n");
    let db_arg = path_arg(&db.path);

    let first = import(
        args(&["--db", &db_arg, &path_arg(&plain), &path_arg(&rotated), "-"]),
        stdin.clone(),
    )
    .await;
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(summary_of(&first, &path_arg(&plain)).contains("5000 lines: 5000 stored"));
    assert!(summary_of(&first, &path_arg(&rotated)).contains("5000 lines: 5000 stored"));
    assert!(summary_of(&first, "-").contains("2001 lines: 2000 stored, 1 rejected"));

    // Again: nothing new is stored.
    let again = import(
        args(&["--db", &db_arg, &path_arg(&plain), &path_arg(&rotated), "-"]),
        stdin,
    )
    .await;
    assert!(again.status.success());
    for file in [path_arg(&plain), path_arg(&rotated), "-".to_owned()] {
        let line = summary_of(&again, &file);
        assert!(line.contains(": 0 stored, 0 rejected"), "{line}");
    }

    // The live log grew: only its new lines are stored.
    let mut grown = all[..5_000].to_vec();
    grown.extend(lines(700, 12));
    write_text(&plain, &grown);
    let later = import(args(&["--db", &db_arg, &path_arg(&plain)]), vec![]).await;
    assert!(summary_of(&later, &path_arg(&plain))
        .contains("5700 lines: 700 stored, 0 rejected, 5000 already"));

    // Another file that starts with the same line is refused, not mixed in.
    let impostor = dir.join("impostor.log");
    let mut other = vec![all[0].clone()];
    other.extend(lines(100, 13));
    write_text(&impostor, &other);
    let refused = import(args(&["--db", &db_arg, &path_arg(&impostor)]), vec![]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("begins with other lines"));

    // A line still being written (no newline yet) waits; once whole, it is stored once.
    let live = dir.join("live.log");
    let more = lines(12, 14);
    let mut text: String = more[..10].iter().map(|l| format!("{l}\n")).collect();
    text.push_str(&more[10][..20]);
    std::fs::write(&live, &text).unwrap();
    let first = import(args(&["--db", &db_arg, &path_arg(&live)]), vec![]).await;
    let line = summary_of(&first, &path_arg(&live));
    assert!(
        line.contains("10 lines: 10 stored") && line.contains("left for the next import"),
        "{line}"
    );
    write_text(&live, &more);
    let second = import(args(&["--db", &db_arg, &path_arg(&live)]), vec![]).await;
    let line = summary_of(&second, &path_arg(&live));
    assert!(
        line.contains("12 lines: 2 stored, 0 rejected, 10 already"),
        "{line}"
    );

    let app = TestApp::spawn_on(db, vec![]).await;
    assert_eq!(app.count("q=/").await, 12_712);
    let (rows, _) = app.all_pages("/logs?limit=10000&format=lines").await;
    assert!(
        rows.iter().any(|l| l.as_str() == Some(more[10].as_str())),
        "the whole line is stored"
    );
    assert!(
        !rows.iter().any(|l| l.as_str() == Some(&more[10][..20])),
        "its cut form is not"
    );
    assert_eq!(app.count("").await, 12_712);
    assert_eq!(app.count("source=push:import").await, 12_712);
    let sources = app.get("/sources").await.body;
    assert_eq!(sources[0]["address"], "push:import");
    assert_eq!(sources[0]["state"], "pushed");
    assert_eq!(sources[0]["total_lines_stored"], 12_712);
    app.stop().await;
}

#[actix_rt::test]
async fn import_into_a_running_service_takes_a_token_and_a_database_takes_one_writer() {
    let db = temp_db();
    let (token, line) = new_token("shipper", &[Scope::Ingest]);
    let tokens = db.dir.path().join("tokens.txt");
    std::fs::write(&tokens, format!("{line}\n")).unwrap();
    let file = db.dir.path().join("access.log");
    write_text(&file, &lines(3_000, 14));
    let mut config = service_config(&db, vec![]);
    config.tokens_file = Some(tokens);
    let app = TestApp::spawn_with(db, config).await;

    // The service holds the database: a second writer is refused, naming the holder.
    let db_arg = path_arg(&app.db.path);
    let locked = import(args(&["--db", &db_arg, &path_arg(&file)]), vec![]).await;
    assert_eq!(locked.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&locked.stderr);
    assert!(stderr.contains("in use by another loggerator"), "{stderr}");
    assert!(stderr.contains(&std::process::id().to_string()), "{stderr}");
    let serve = Command::new(LOGGERATOR)
        .args([
            "serve",
            "--source",
            "",
            "--listen",
            "127.0.0.1:0",
            "--db",
            &db_arg,
        ])
        .output()
        .unwrap();
    assert_eq!(serve.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&serve.stderr).contains("in use by another loggerator"));
    // The same file under another name is the same database.
    let link = app.db.dir.path().join("link.db");
    std::os::unix::fs::symlink(&app.db.path, &link).unwrap();
    let through_link = import(args(&["--db", &path_arg(&link), &path_arg(&file)]), vec![]).await;
    assert_eq!(through_link.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&through_link.stderr);
    assert!(stderr.contains("in use by another loggerator"), "{stderr}");

    let api = app.base.clone();
    let without = import(args(&["--api", &api, &path_arg(&file)]), vec![]).await;
    assert_eq!(without.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&without.stderr).contains("401"));
    for round in 0..2 {
        let sent = import(
            args(&[
                "--api",
                &api,
                "--token",
                &token,
                "--source",
                "web",
                &path_arg(&file),
            ]),
            vec![],
        )
        .await;
        assert!(
            sent.status.success(),
            "{}",
            String::from_utf8_lossy(&sent.stderr)
        );
        let expected = if round == 0 {
            "3000 stored"
        } else {
            "0 stored"
        };
        assert!(summary_of(&sent, &path_arg(&file)).contains(expected));
    }
    // A service that takes less than a part per request (1 MiB here) is named as the cause,
    // with the limit that would do.
    let big = app.db.dir.path().join("big.log");
    write_text(&big, &lines(15_000, 15));
    assert!(std::fs::metadata(&big).unwrap().len() > 1 << 20);
    let refused = import(
        args(&["--api", &api, "--token", &token, &path_arg(&big)]),
        vec![],
    )
    .await;
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("answered 413"), "{stderr}");
    assert!(stderr.contains("--max-push-bytes 9M or more"), "{stderr}");
    let (db, _) = app.stop().await;
    let open = TestApp::spawn_on(db, vec![]).await;
    assert_eq!(open.count("source=push:web").await, 3_000);
    let (db, _) = open.stop().await;

    // Once the service is gone, the database is free again.
    let imported = import(
        args(&["--db", &path_arg(&db.path), &path_arg(&file)]),
        vec![],
    )
    .await;
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
}

#[actix_rt::test]
async fn a_failure_part_way_says_what_the_file_stored_before_it() {
    // Two parts: the first 8 MiB, and the rest.
    let db = temp_db();
    let file = db.dir.path().join("two-parts.log");
    let all = lines(110_000, 16);
    write_text(&file, &all);
    let mut bytes = 0;
    let first_part = all
        .iter()
        .take_while(|line| {
            let before = bytes;
            bytes += line.len() + 1;
            before < loggerator::import::PART_BYTES
        })
        .count();
    assert!(first_part < all.len());

    // Another body has already taken the second part's key, so that part is refused.
    let hash = Sha256::digest(all[0].as_bytes());
    let hex: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    let app = TestApp::spawn_on(db, vec![]).await;
    let taken = awc::Client::default()
        .post(app.url("/ingest?source=import"))
        .insert_header(("Idempotency-Key", format!("import:{hex}:1")))
        .send_body(lines(100, 99).join("\n") + "\n")
        .await
        .unwrap();
    assert_eq!(taken.status().as_u16(), 200);
    let (db, _) = app.stop().await;

    let failed = import(
        args(&["--db", &path_arg(&db.path), &path_arg(&file)]),
        vec![],
    )
    .await;
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains(&format!(
            "before it, {first_part} lines of the file were stored and 0 rejected: importing it \
             again stores only the rest"
        )),
        "{stderr}"
    );
    let open = TestApp::spawn_on(db, vec![]).await;
    assert_eq!(
        open.count("source=push:import").await,
        100 + first_part as i64
    );
    open.stop().await;
}
