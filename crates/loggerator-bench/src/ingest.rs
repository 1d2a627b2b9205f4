//! `loggerator-bench ingest`: emulated sources into a fresh database through `serve`, reporting
//! the rate step by step, since what matters is whether it holds up as the tables grow.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use log::{info, warn};

use super::api::{Api, SourceView};
use super::ceiling::{self, Ceiling};
use super::process::{start_emulators, start_serve, ChildId, Children};
use super::stats::{
    crossings, mib, rows_label, slowdown_percent, split_lines, step_rates, thousands, Mark,
};
use super::tail::{self, Seen};
use super::{preamble, BenchError};
use crate::cli::BenchIngestArgs;
use loggerator::emulator::LineGenerator;

const POLL: Duration = Duration::from_millis(50);
/// Shutdown flushes and checkpoints a WAL that may hold millions of lines.
const SHUTDOWN: Duration = Duration::from_secs(300);

struct Outcome {
    marks: Vec<Mark>,
    secs: f64,
    stored: u64,
    rejected: u64,
    /// The largest database + WAL + shm seen while polling.
    peak_db_bytes: u64,
    /// From the last line stored to compaction caught up (`None`: a service without it).
    catch_up_secs: Option<f64>,
    /// The longest a compaction step held the writer (a batch waited as long), in seconds.
    worst_hold_secs: Option<f64>,
}

/// The value of an unlabelled sample in a Prometheus text scrape.
fn sample(scrape: &str, name: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let (metric, value) = line.split_once(' ')?;
        (metric == name)
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

/// Waits until the service's compaction has caught up with what was ingested: nothing left to
/// compact, merge, delete or give back (`loggerator_compaction_idle`). Returns how long it took
/// after the last line, or `None` for a service without compaction.
async fn caught_up(
    children: &mut Children,
    serve: ChildId,
    api: &Api,
    args: &BenchIngestArgs,
    db: &Path,
    outcome: &mut Outcome,
) -> Result<Option<f64>, BenchError> {
    let ended = Instant::now();
    loop {
        if let Some(status) = children.exited(serve) {
            return Err(children.exit_error(serve, status));
        }
        outcome.peak_db_bytes = outcome.peak_db_bytes.max(db_bytes(db));
        let scraped = api.get(&api.url("/metrics")).await?;
        let text = String::from_utf8_lossy(&scraped.body);
        let Some(idle) = sample(&text, "loggerator_compaction_idle") else {
            return Ok(None);
        };
        if idle == 1.0 && sample(&text, "loggerator_compaction_segments_pending") == Some(0.0) {
            outcome.worst_hold_secs =
                sample(&text, "loggerator_compaction_worst_writer_hold_seconds");
            let secs = ended.elapsed().as_secs_f64();
            info!("compaction caught up {secs:.1} s after the last line");
            return Ok(Some(secs));
        }
        if ended.elapsed().as_secs() >= args.timeout_secs {
            return Err(BenchError::Timeout {
                secs: args.timeout_secs,
                detail: "waiting for compaction to catch up".to_owned(),
            });
        }
        actix_rt::time::sleep(POLL).await;
    }
}

pub async fn run(args: BenchIngestArgs, program: &Path) -> Result<(), BenchError> {
    if args.sources == 0 || args.lines < args.sources {
        return Err(BenchError::usage(
            "--sources must be at least 1 and --lines at least --sources (an emulator with no \
             lines to send would be retried forever)",
        ));
    }
    if args.step == 0 {
        return Err(BenchError::usage("--step must be at least 1"));
    }
    let work = tempfile::Builder::new()
        .prefix("loggerator-bench-")
        .tempdir()
        .map_err(|e| BenchError::io("cannot create a temporary folder", e))?;
    let db = match &args.db {
        Some(db) => {
            if db_files(db).iter().any(|f| f.exists()) {
                return Err(BenchError::usage(format!(
                    "{} exists already; loggerator-bench ingest needs a new database",
                    db.display()
                )));
            }
            db.clone()
        }
        None => work.path().join("bench.db"),
    };
    let counts = split_lines(args.lines, args.sources);

    let mut children = Children::new(program);
    let sources = start_emulators(&mut children, &counts, work.path()).await?;
    info!(
        "{} emulated sources up; starting the service",
        sources.len()
    );
    // Timed from the service's start: connecting and the first commit count, as an operator
    // starting the service would see them.
    let started = Instant::now();
    let (serve, base) = start_serve(&mut children, &sources, &db, work.path()).await?;
    let api = Api::new(&base, false);
    let (stop_tail, stopped) = tokio::sync::watch::channel(false);
    let mut subscribers = Vec::new();
    if args.tail_subscribers > 0 {
        let mut queries = tail::filters(args.sources, args.tail_subscribers);
        queries.push(String::new());
        for query in queries {
            subscribers.push(actix_rt::spawn(tail::follow(
                api.base.clone(),
                query,
                stopped.clone(),
            )));
        }
    }
    let mut outcome = watch(&mut children, serve, &api, &args, &db, started).await?;
    outcome.catch_up_secs = caught_up(&mut children, serve, &api, &args, &db, &mut outcome).await?;
    // The last batch's events are on their way: a moment for them to arrive.
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    let _ = stop_tail.send(true);
    let mut seen = Vec::new();
    for subscriber in subscribers {
        if let Ok(one) = subscriber.await {
            seen.push(one);
        }
    }

    // VmHWM is gone with the process, so it is read first.
    let peak_rss_kib = std::fs::read_to_string(format!("/proc/{}/status", children.pid(serve)))
        .ok()
        .and_then(|status| vm_hwm_kib(&status));
    let live_db_bytes = db_bytes(&db);
    // Closes the idle keep-alive connection, which the service's graceful stop would wait for.
    drop(api);
    let status = children.terminate(serve, SHUTDOWN).await?;
    if !status.success() {
        return Err(children.exit_error(serve, status));
    }
    let final_db_bytes = db_bytes(&db);
    drop(children);

    let ceiling = if args.ceiling {
        Some(run_ceiling(&counts, work.path()).await?)
    } else {
        None
    };
    info!("regenerating the sources' lines to measure the raw log");
    let raw_bytes = tokio::task::spawn_blocking(move || raw_log_bytes(&counts))
        .await
        .map_err(|e| BenchError::io("measuring the raw log", std::io::Error::other(e)))?;

    print!("{}", preamble("ingest"));
    println!(
        "setup: {} emulated sources (seeds 1-{}), {} lines in all, into a new database",
        args.sources,
        args.sources,
        thousands(args.lines)
    );
    println!();
    let report = Report {
        outcome: &outcome,
        step: args.step,
        peak_rss_kib,
        peak_db_bytes: outcome.peak_db_bytes.max(live_db_bytes).max(final_db_bytes),
        final_db_bytes,
        raw_bytes,
    };
    report.print();
    if let Some(ceiling) = &ceiling {
        print_ceiling(&outcome, ceiling);
    }
    if !seen.is_empty() {
        print_tail(&seen);
    }
    match &args.db {
        Some(db) => println!("database: {}", db.display()),
        None if args.keep_db => {
            let kept = work.keep();
            println!("database (kept): {}", kept.join("bench.db").display());
        }
        None => {}
    }
    Ok(())
}

/// The ceiling of the same lines, measured now that the emulators and the service are gone.
async fn run_ceiling(counts: &[u64], work: &Path) -> Result<Ceiling, BenchError> {
    info!("ceiling: appending the same lines to an unindexed table");
    let counts = counts.to_vec();
    let db = work.join("ceiling.db");
    let measured = tokio::task::spawn_blocking(move || {
        let measured = ceiling::measure(&counts, &db);
        for file in db_files(&db) {
            let _ = std::fs::remove_file(file);
        }
        measured
    });
    measured
        .await
        .map_err(|e| BenchError::io("the ceiling run", std::io::Error::other(e)))?
}

fn print_ceiling(outcome: &Outcome, ceiling: &Ceiling) {
    let lines = outcome.stored + outcome.rejected;
    let ingest = lines as f64 / outcome.secs.max(1e-9);
    let row = |what: &str, value: String| println!("{what:<30} {value}");
    row(
        "ceiling (unindexed append)",
        format!(
            "{} lines/s ({} lines in {:.1} s, one thread)",
            thousands(ceiling.lines_per_sec().round() as u64),
            thousands(ceiling.lines),
            ceiling.secs
        ),
    );
    row(
        "ingest / ceiling",
        format!("{:.2}x", ingest / ceiling.lines_per_sec().max(1e-9)),
    );
}

/// Polls `GET /sources` until every source has finished, recording when the total of stored
/// and rejected lines passes each step.
async fn watch(
    children: &mut Children,
    serve: ChildId,
    api: &Api,
    args: &BenchIngestArgs,
    db: &Path,
    started: Instant,
) -> Result<Outcome, BenchError> {
    let mut last = Mark { rows: 0, secs: 0.0 };
    let mut marks = Vec::new();
    let mut peak_db_bytes = 0;
    let mut detail = String::from("no answer from GET /sources yet");
    loop {
        if let Some(status) = children.exited(serve) {
            return Err(children.exit_error(serve, status));
        }
        if started.elapsed().as_secs() >= args.timeout_secs {
            return Err(BenchError::Timeout {
                secs: args.timeout_secs,
                detail,
            });
        }
        peak_db_bytes = peak_db_bytes.max(db_bytes(db));
        let sources = match api.sources().await {
            Ok(sources) => sources,
            // A missed poll costs nothing; the exit check and the deadline end a service that
            // never answers.
            Err(e) => {
                warn!("{e}");
                actix_rt::time::sleep(POLL).await;
                continue;
            }
        };
        let now = Mark {
            rows: sources
                .iter()
                .map(|s| s.lines_stored + s.lines_rejected)
                .sum(),
            secs: started.elapsed().as_secs_f64(),
        };
        for mark in crossings(last, now, args.step, args.lines) {
            info!("{} lines after {:.1} s", thousands(mark.rows), mark.secs);
            marks.push(mark);
        }
        if now.rows >= last.rows {
            last = now;
        }
        detail = progress(&sources, now.rows, args.lines);
        if !sources.is_empty() && sources.iter().all(|s| s.state == "finished") {
            // A source is finished only once its last lines are committed: the counts are final.
            if now.rows != args.lines {
                return Err(BenchError::Incomplete {
                    got: now.rows,
                    expected: args.lines,
                });
            }
            return Ok(Outcome {
                marks,
                secs: now.secs,
                stored: sources.iter().map(|s| s.lines_stored).sum(),
                rejected: sources.iter().map(|s| s.lines_rejected).sum(),
                peak_db_bytes,
                catch_up_secs: None,
                worst_hold_secs: None,
            });
        }
        actix_rt::time::sleep(POLL).await;
    }
}

/// Commit-to-event latency over the filtered subscribers, and what the unfiltered one got.
fn print_tail(seen: &[Seen]) {
    let filtered: Vec<&Seen> = seen.iter().filter(|s| !s.unfiltered).collect();
    let mut latencies: Vec<f64> = filtered
        .iter()
        .flat_map(|s| s.latencies_ms.iter().copied())
        .collect();
    latencies.sort_by(f64::total_cmp);
    let row = |what: &str, value: String| println!("{what:<30} {value}");
    println!();
    row("tail subscribers (filtered)", filtered.len().to_string());
    row(
        "their events",
        format!(
            "{} lines, {} overflow notices",
            thousands(filtered.iter().map(|s| s.lines).sum()),
            filtered.iter().map(|s| s.overflows).sum::<u64>()
        ),
    );
    let at = |p: u32| {
        super::stats::percentile(&latencies, p).map_or("n/a".to_owned(), |ms| format!("{ms:.1}"))
    };
    row(
        "commit to event, ms",
        format!("p50 {} / p99 {} / max {}", at(50), at(99), at(100)),
    );
    for unfiltered in seen.iter().filter(|s| s.unfiltered) {
        row(
            "unfiltered subscriber",
            format!(
                "{} lines, {} overflow notices, {} skipped notices",
                thousands(unfiltered.lines),
                unfiltered.overflows,
                unfiltered.skipped
            ),
        );
    }
}

fn progress(sources: &[SourceView], rows: u64, lines: u64) -> String {
    let states: Vec<String> = sources
        .iter()
        .map(|s| match &s.last_error {
            Some(e) => format!("{} {} (last error: {e})", s.address, s.state),
            None => format!("{} {}", s.address, s.state),
        })
        .collect();
    format!(
        "{} of {} lines stored or rejected; sources: {}",
        thousands(rows),
        thousands(lines),
        states.join(", ")
    )
}

struct Report<'a> {
    outcome: &'a Outcome,
    step: u64,
    peak_rss_kib: Option<u64>,
    peak_db_bytes: u64,
    final_db_bytes: u64,
    raw_bytes: u64,
}

impl Report<'_> {
    fn print(&self) {
        let outcome = self.outcome;
        let rates = step_rates(&outcome.marks);
        println!("{}", step_row("rows", "at s", "lines/s (step)"));
        for rate in &rates {
            println!(
                "{}",
                step_row(
                    &rows_label(rate.rows),
                    &format!("{:.1}", rate.secs),
                    &thousands(rate.lines_per_sec.round() as u64)
                )
            );
        }
        println!();
        let lines = outcome.stored + outcome.rejected;
        let row = |what: &str, value: String| println!("{what:<30} {value}");
        row("elapsed", format!("{:.1} s", outcome.secs));
        row(
            "average",
            format!(
                "{} lines/s",
                thousands((lines as f64 / outcome.secs.max(1e-9)).round() as u64)
            ),
        );
        row(
            "last step / first step",
            slowdown_percent(&rates, self.step).map_or("n/a".to_owned(), |p| format!("{p:.0} %")),
        );
        row(
            "lines stored / rejected",
            format!(
                "{} / {}",
                thousands(outcome.stored),
                thousands(outcome.rejected)
            ),
        );
        row(
            "peak RSS of the service",
            self.peak_rss_kib
                .map_or("n/a".to_owned(), |kib| mib(kib * 1024)),
        );
        row(
            "compaction caught up after",
            outcome
                .catch_up_secs
                .map_or("n/a (no compaction)".to_owned(), |s| format!("{s:.1} s")),
        );
        row(
            "longest compaction step",
            outcome.worst_hold_secs.map_or("n/a".to_owned(), |s| {
                format!(
                    "{:.0} ms (a batch arriving then waited as long)",
                    s * 1000.0
                )
            }),
        );
        row("database after shutdown", bytes(self.final_db_bytes));
        row("database + WAL on disk, peak", bytes(self.peak_db_bytes));
        row("raw log", bytes(self.raw_bytes));
        row(
            "bytes per line",
            format!("{:.1}", self.final_db_bytes as f64 / lines.max(1) as f64),
        );
        row(
            "database / raw log",
            format!(
                "{:.2}x",
                self.final_db_bytes as f64 / self.raw_bytes.max(1) as f64
            ),
        );
    }
}

fn step_row(rows: &str, at: &str, rate: &str) -> String {
    format!("{rows:>8}  {at:>9}  {rate:>14}")
}

fn bytes(n: u64) -> String {
    format!("{} bytes ({})", thousands(n), mib(n))
}

/// The database and the files SQLite keeps beside it in WAL mode.
fn db_files(db: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [db.to_path_buf(), with("-wal"), with("-shm")]
}

fn db_bytes(db: &Path) -> u64 {
    db_files(db)
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

/// The peak resident set from /proc/PID/status, in KiB.
fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The bytes the sources sent, newlines included: the same seeded sequences again.
fn raw_log_bytes(counts: &[u64]) -> u64 {
    let mut total = 0;
    let mut line = Vec::with_capacity(256);
    for (i, &count) in counts.iter().enumerate() {
        let mut generator = LineGenerator::new(i as u64 + 1);
        for _ in 0..count {
            line.clear();
            generator.write_next(&mut line);
            total += line.len() as u64;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_peak_rss() {
        let status = "Name:\tloggerator\nVmPeak:\t  900000 kB\nVmHWM:\t   69632 kB\n\
                      VmRSS:\t 50000 kB\n";
        assert_eq!(vm_hwm_kib(status), Some(69_632));
        assert_eq!(vm_hwm_kib("Name:\tx\n"), None);
    }

    #[test]
    fn counts_the_raw_log_as_the_emulator_sends_it() {
        let mut generator = LineGenerator::new(2);
        let expected: usize = (0..5).map(|_| generator.next_line().len() + 1).sum();
        let mut generator = LineGenerator::new(1);
        let expected = expected
            + (0..3)
                .map(|_| generator.next_line().len() + 1)
                .sum::<usize>();
        assert_eq!(raw_log_bytes(&[3, 5]), expected as u64);
    }

    #[test]
    fn the_database_is_three_files() {
        let [db, wal, shm] = db_files(Path::new("/tmp/x/bench.db"));
        assert_eq!(db, Path::new("/tmp/x/bench.db"));
        assert_eq!(wal, Path::new("/tmp/x/bench.db-wal"));
        assert_eq!(shm, Path::new("/tmp/x/bench.db-shm"));
    }
}
