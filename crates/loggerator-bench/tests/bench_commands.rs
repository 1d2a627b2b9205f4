//! The bench commands as a user runs them, on tiny inputs: they must finish, count every line
//! and report every query without errors. What they measure is not asserted here; speed is for
//! the benchmarks themselves (README, "Performance").

use std::path::Path;
use std::process::Command;

/// `loggerator-bench` finds `loggerator` beside itself, where `cargo test --workspace` builds
/// it; `cargo test -p loggerator-bench` alone builds no `loggerator` binary.
fn run(args: &[&str]) -> String {
    let bench = Path::new(env!("CARGO_BIN_EXE_loggerator-bench"));
    let service = bench.with_file_name("loggerator");
    assert!(
        service.is_file(),
        "{} is missing: run the tests with `cargo test --workspace`",
        service.display()
    );
    let output = Command::new(bench)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run loggerator");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The value after `label` on its line of the report.
fn field<'a>(report: &'a str, label: &str) -> &'a str {
    report
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{report}"))
        .trim()
}

#[test]
fn bench_ingest_then_bench_query_on_its_database() {
    let folder = tempfile::tempdir().unwrap();
    let db = folder.path().join("bench.db");
    let path = db.to_str().unwrap();
    let report = run(&[
        "ingest",
        "--sources",
        "2",
        "--lines",
        "3000",
        "--step",
        "1000",
        "--db",
        path,
        "--ceiling",
    ]);
    assert_eq!(field(&report, "lines stored / rejected"), "3,000 / 0");
    // The same lines appended without indexes, and ingest's rate as a ratio of that.
    assert!(
        field(&report, "ceiling (unindexed append)").contains("(3,000 lines in"),
        "{report}"
    );
    assert!(
        field(&report, "ingest / ceiling").ends_with('x'),
        "{report}"
    );
    for step in ["1k", "2k", "3k"] {
        assert!(
            report.lines().any(|l| l.trim_start().starts_with(step)),
            "a row for {step} in:\n{report}"
        );
    }
    let ratio = field(&report, "database / raw log");
    assert!(ratio.ends_with('x'), "{ratio}");

    let report = run(&[
        "query",
        "--db",
        path,
        "--requests",
        "5",
        "--concurrency",
        "2",
        "--duration-secs",
        "1",
    ]);
    for kind in [
        "page",
        "code",
        "method",
        "user",
        "two+range",
        "page1000",
        "several",
        "class",
        "asc",
        "source",
        "ip-cidr",
        "q",
        "count",
        "count-all",
    ] {
        let row = report
            .lines()
            .find(|l| l.split_whitespace().next() == Some(kind))
            .unwrap_or_else(|| panic!("no row for {kind} in:\n{report}"));
        assert!(row.ends_with("0 / 0"), "errors for {kind}: {row}");
    }
}

#[test]
fn a_missing_loggerator_binary_is_named() {
    let output = Command::new(env!("CARGO_BIN_EXE_loggerator-bench"))
        .args([
            "--loggerator",
            "/nonexistent/loggerator",
            "ingest",
            "--lines",
            "10",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run loggerator-bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/loggerator"), "{stderr}");
}
