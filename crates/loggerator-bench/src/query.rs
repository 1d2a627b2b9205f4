//! `loggerator-bench query`: latency (sequential, one keep-alive connection) and throughput
//! (concurrent workers) of the API's typical queries, against a running service or one started
//! here on an existing database, optionally while emulated sources feed it.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::DateTime;
use futures_util::future::join_all;
use log::{info, warn};
use loggerator::limits::SECONDS_PER_DAY;
use serde_json::Value;

use super::api::Api;
use super::process::{start_emulators, start_serve, ChildId, Children};
use super::stats::{latency, split_lines, thousands, Latency};
use super::{preamble, BenchError};
use crate::cli::BenchQueryArgs;

const PAGE: &str = "100";
const DEEP_PAGE: u32 = 1000;
/// Used when the first row's date cannot be read; inside the emulator's July 2000.
const FALLBACK_RANGE: (&str, &str) = ("2000-07-10", "2000-07-20");
const SHUTDOWN: Duration = Duration::from_secs(300);

struct Kind {
    name: &'static str,
    url: String,
    /// The URLs requests go to in turn: `url` at different places of the data (`until`, or
    /// `since` oldest first), so that they measure reads rather than the block cache.
    urls: Vec<String>,
}

/// A kind as first planned, before it is spread over the data.
struct Planned {
    name: &'static str,
    url: String,
}

/// Places a varied kind is asked at, spread over the data's dates.
const PLACES: usize = 97;

#[derive(Default)]
struct Sequential {
    samples_ms: Vec<f64>,
    errors: u64,
    first_error: Option<String>,
}

#[derive(Default)]
struct Concurrent {
    ok: u64,
    errors: u64,
    secs: f64,
    first_error: Option<String>,
}

/// A service started here, and the emulators feeding it; all stopped when this is dropped.
struct Setup {
    children: Children,
    serve: ChildId,
    ingest_lines: u64,
    _work: tempfile::TempDir,
}

pub async fn run(args: BenchQueryArgs, program: &Path) -> Result<(), BenchError> {
    let (api, setup) =
        match (&args.api, &args.db) {
            (Some(_), None) if args.ingest_sources > 0 => return Err(BenchError::usage(
                "--ingest-sources needs --db: sources can only be added to a service started here",
            )),
            (Some(base), None) => (Api::new(base, args.gzip), None),
            (None, Some(db)) => {
                let (setup, base) = Setup::start(&args, db, program).await?;
                (Api::new(&base, args.gzip), Some(setup))
            }
            _ => {
                return Err(BenchError::usage(
                    "give either --api http://HOST:PORT (a running service) or --db PATH (an \
                 existing database to serve), not both",
                ))
            }
        };
    let rows = api
        .json::<Value>("/logs/count")
        .await
        .ok()
        .and_then(|v| v.get("count")?.as_u64());
    let (kinds, mut notes) = query_kinds(&api).await?;
    let duration = Duration::from_secs(args.duration_secs);
    let mut results = Vec::with_capacity(kinds.len());
    for kind in &kinds {
        info!("{}: {} sequential requests", kind.name, args.requests);
        let mut timed = sequential(&api, &kind.urls, args.requests).await;
        info!(
            "{}: {} concurrent workers for {} s",
            kind.name, args.concurrency, args.duration_secs
        );
        let load = concurrent(&api, &kind.urls, args.concurrency.max(1), duration).await;
        for error in [&timed.first_error, &load.first_error]
            .into_iter()
            .flatten()
        {
            notes.push(format!("{}: first error: {error}", kind.name));
        }
        results.push(Row {
            kind,
            latency: latency(&mut timed.samples_ms),
            sequential_errors: timed.errors,
            load,
        });
    }
    if let Some(setup) = &setup {
        if setup.ingest_lines > 0 {
            notes.push(ingest_progress(&api, setup.ingest_lines).await);
        }
    }
    let base = api.base.clone();
    // Closes the idle keep-alive connections, which the service's graceful stop would wait for.
    drop(api);
    if let Some(setup) = setup {
        setup.stop().await?;
    }

    print!("{}", preamble("query"));
    println!(
        "setup: {}, {} rows; per kind {} sequential requests on one keep-alive connection, then \
         {} concurrent workers for {} s; {} responses",
        base,
        rows.map_or("?".to_owned(), thousands),
        args.requests,
        args.concurrency.max(1),
        args.duration_secs,
        if args.gzip { "gzip" } else { "uncompressed" },
    );
    println!();
    print_table(&results);
    println!();
    for kind in &kinds {
        match kind.urls.len() {
            1 => println!("{:<10} {}", kind.name, kind.url),
            n => println!(
                "{:<10} {} (at {n} places: until= or since=)",
                kind.name, kind.url
            ),
        }
    }
    for note in &notes {
        println!("note: {note}");
    }
    Ok(())
}

struct Row<'a> {
    kind: &'a Kind,
    latency: Option<Latency>,
    sequential_errors: u64,
    load: Concurrent,
}

fn print_table(rows: &[Row<'_>]) {
    println!(
        "{}",
        table_row([
            "kind",
            "p50 ms",
            "p99 ms",
            "max ms",
            "req/s conc",
            "errors seq / conc",
        ])
    );
    for row in rows {
        let ms = |pick: fn(&Latency) -> f64| {
            row.latency
                .map_or("-".to_owned(), |l| format!("{:.2}", pick(&l)))
        };
        let per_sec = row.load.ok as f64 / row.load.secs.max(1e-9);
        println!(
            "{}",
            table_row([
                row.kind.name,
                &ms(|l| l.p50),
                &ms(|l| l.p99),
                &ms(|l| l.max),
                &thousands(per_sec.round() as u64),
                &format!("{} / {}", row.sequential_errors, row.load.errors),
            ])
        );
    }
}

fn table_row(cells: [&str; 6]) -> String {
    let [kind, p50, p99, max, per_sec, errors] = cells;
    format!("{kind:<10} {p50:>8} {p99:>8} {max:>8} {per_sec:>11} {errors:>18}")
}

impl Setup {
    async fn start(
        args: &BenchQueryArgs,
        db: &Path,
        program: &Path,
    ) -> Result<(Self, String), BenchError> {
        if !db.exists() {
            return Err(BenchError::usage(format!(
                "{} does not exist (make one with `loggerator-bench ingest --db {}`)",
                db.display(),
                db.display()
            )));
        }
        if args.ingest_sources > 0 && args.ingest_lines < args.ingest_sources {
            return Err(BenchError::usage(
                "--ingest-lines must be at least --ingest-sources",
            ));
        }
        let work = tempfile::Builder::new()
            .prefix("loggerator-bench-")
            .tempdir()
            .map_err(|e| BenchError::io("cannot create a temporary folder", e))?;
        let mut children = Children::new(program);
        let (sources, ingest_lines) = if args.ingest_sources > 0 {
            let counts = split_lines(args.ingest_lines, args.ingest_sources);
            let sources = start_emulators(&mut children, &counts, work.path()).await?;
            (sources, args.ingest_lines)
        } else {
            (Vec::new(), 0)
        };
        let (serve, base) = start_serve(&mut children, &sources, db, work.path()).await?;
        let setup = Setup {
            children,
            serve,
            ingest_lines,
            _work: work,
        };
        Ok((setup, base))
    }

    /// SIGTERM, so that lines received while measuring are stored and the WAL checkpointed.
    async fn stop(mut self) -> Result<(), BenchError> {
        let status = self.children.terminate(self.serve, SHUTDOWN).await?;
        if status.success() {
            Ok(())
        } else {
            Err(self.children.exit_error(self.serve, status))
        }
    }
}

/// The query kinds, with parameters taken from the data itself so that every filter matches.
async fn query_kinds(api: &Api) -> Result<(Vec<Kind>, Vec<String>), BenchError> {
    let first_url = api.url(&format!("/logs?limit={PAGE}"));
    let first = api.get(&first_url).await?;
    if first.status != 200 {
        return Err(BenchError::Http {
            url: first_url,
            message: format!("status {}", first.status),
        });
    }
    let rows: Vec<Value> = serde_json::from_slice(&first.body).map_err(|e| BenchError::Http {
        url: first_url.clone(),
        message: format!("not a JSON array of rows: {e}"),
    })?;
    let row = rows
        .first()
        .ok_or_else(|| BenchError::NoData(api.base.clone()))?;
    let mut notes = Vec::new();
    // A row without a user is matched by `user=-`.
    let user = row.get("user").and_then(Value::as_str).unwrap_or("-");
    let source = row.get("source").and_then(Value::as_str).unwrap_or("1");
    // The first row's /8 (or, for IPv6, its address alone).
    let ip = row.get("ip").and_then(Value::as_str).unwrap_or("127.0.0.1");
    let network = match ip.split_once('.') {
        Some((first, _)) if !ip.contains(':') => format!("{first}.0.0.0/8"),
        _ => ip.to_owned(),
    };
    let (since, until) = match row
        .get("date")
        .and_then(Value::as_str)
        .and_then(ten_days_to)
    {
        Some(range) => range,
        None => {
            notes.push("two+range: the first row has no readable date; fixed range".to_owned());
            (FALLBACK_RANGE.0.to_owned(), FALLBACK_RANGE.1.to_owned())
        }
    };
    let (deep_url, pages) = walk(api, first_url, first.next, DEEP_PAGE).await?;
    if pages < DEEP_PAGE {
        notes.push(format!(
            "page1000: the data has only {pages} pages of {PAGE}; measured the last one"
        ));
    }
    let logs = |pairs: &[(&str, &str)]| {
        api.url(&format!(
            "/logs?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        ))
    };
    let planned = vec![
        Planned {
            name: "page",
            url: logs(&[("limit", PAGE)]),
        },
        Planned {
            name: "code",
            url: logs(&[("code", "500"), ("limit", PAGE)]),
        },
        Planned {
            name: "method",
            url: logs(&[("method", "POST"), ("limit", PAGE)]),
        },
        Planned {
            name: "user",
            url: logs(&[("user", user), ("limit", PAGE)]),
        },
        Planned {
            name: "two+range",
            url: logs(&[
                ("code", "500"),
                ("method", "GET"),
                ("since", since.as_str()),
                ("until", until.as_str()),
                ("limit", PAGE),
            ]),
        },
        Planned {
            name: "page1000",
            url: deep_url,
        },
        Planned {
            name: "several",
            url: logs(&[("code", "500,403"), ("method", "get,post"), ("limit", PAGE)]),
        },
        Planned {
            name: "class",
            url: logs(&[("code", "5xx"), ("limit", PAGE)]),
        },
        Planned {
            name: "asc",
            url: logs(&[("order", "asc"), ("limit", PAGE)]),
        },
        Planned {
            name: "source",
            url: logs(&[("source", source), ("limit", PAGE)]),
        },
        Planned {
            name: "ip-cidr",
            url: logs(&[("ip", network.as_str()), ("limit", PAGE)]),
        },
        Planned {
            name: "q",
            url: logs(&[("q", user), ("limit", PAGE)]),
        },
        Planned {
            // 0.01 % of the lines, if the data came from the bench's emulators.
            name: "rare-user",
            url: logs(&[("user", "rareuser"), ("limit", PAGE)]),
        },
        Planned {
            // Two users, one rare: the page's "+" gives such queries.
            name: "rare+user",
            url: logs(&[("user", "rareuser"), ("user", user), ("limit", PAGE)]),
        },
        Planned {
            // A rare user and a status class: a top user clicked with a status filtered.
            name: "rare+5xx",
            url: logs(&[("user", "rareuser"), ("code", "5xx"), ("limit", PAGE)]),
        },
        Planned {
            // The rare user's network (TEST-NET-1, which the generator's addresses almost never
            // fall in): a few lines among millions, found through the address key.
            name: "rare-network",
            url: logs(&[("ip", "192.0.2.0/24"), ("limit", PAGE)]),
        },
        Planned {
            // A substring 1 line in 10,000 holds: `q=` reads lines until it has a page.
            name: "rare-q",
            url: logs(&[("q", "rareuser"), ("limit", PAGE)]),
        },
        Planned {
            // Codes no line has: nothing matches, whatever else is asked.
            name: "no-match",
            url: logs(&[("code", "404"), ("user", user), ("limit", PAGE)]),
        },
        Planned {
            name: "stats-code",
            url: api.url("/stats?by=code"),
        },
        Planned {
            name: "stats-hour-class",
            url: api.url("/stats?by=hour,class"),
        },
        Planned {
            name: "stats-user+range",
            url: api.url(&format!("/stats?by=user&since={since}&until={until}")),
        },
        Planned {
            name: "stats-day+user",
            url: api.url(&format!("/stats?by=day&user={user}")),
        },
        Planned {
            name: "stats-hour+source",
            url: api.url(&format!(
                "/stats?by=hour,class&source={source}&since={since}&until={until}"
            )),
        },
        Planned {
            name: "count-source",
            url: api.url(&format!("/logs/count?source={source}&code=5xx")),
        },
        Planned {
            name: "count",
            url: api.url("/logs/count?code=500"),
        },
        Planned {
            name: "count-all",
            url: api.url("/logs/count"),
        },
    ];
    let (oldest, newest) = date_range(api).await;
    let kinds = planned
        .into_iter()
        .map(|p| {
            // Not a deep page (a cursor of its own), a query that matches nothing, or one
            // with a date range of its own.
            let varied = p.url.contains("/logs?")
                && !["page1000", "no-match"].contains(&p.name)
                && !p.url.contains("until=")
                && !p.url.contains("since=")
                && oldest < newest;
            let urls = if varied {
                let bound = if p.url.contains("order=asc") {
                    "since"
                } else {
                    "until"
                };
                (1..=PLACES as i64)
                    .map(|k| {
                        let at = oldest + (newest - oldest) * k / (PLACES as i64 + 1);
                        let at = DateTime::from_timestamp(at, 0)
                            .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                            .unwrap_or_default();
                        format!("{}&{bound}={at}", p.url)
                    })
                    .collect()
            } else {
                vec![p.url.clone()]
            };
            Kind {
                name: p.name,
                url: p.url,
                urls,
            }
        })
        .collect();
    Ok((kinds, notes))
}

/// The oldest and newest dates of the data, in seconds (equal when they cannot be read).
async fn date_range(api: &Api) -> (i64, i64) {
    let date = |path: &'static str| async move {
        let rows: Value = api.json(path).await.ok()?;
        let date = rows.get(0)?.get("date")?.as_str()?;
        Some(DateTime::parse_from_rfc3339(date).ok()?.timestamp())
    };
    match (
        date("/logs?limit=1&order=asc").await,
        date("/logs?limit=1").await,
    ) {
        (Some(oldest), Some(newest)) => (oldest, newest),
        _ => (0, 0),
    }
}

/// The ten days ending with the day of `date` (RFC 3339), as `since` and `until` days: the
/// first page holds the newest rows, so the range lies inside the data.
fn ten_days_to(date: &str) -> Option<(String, String)> {
    const DAY: i64 = SECONDS_PER_DAY;
    let at = DateTime::parse_from_rfc3339(date).ok()?.timestamp();
    let until = (at.div_euclid(DAY) + 1) * DAY;
    let day = |seconds: i64| {
        DateTime::from_timestamp(seconds, 0).map(|d| d.format("%Y-%m-%d").to_string())
    };
    Some((day(until - 10 * DAY)?, day(until)?))
}

/// Follows `next` links from page 1 to page `target`, or to the last page if there are fewer;
/// returns that page's URL and number.
async fn walk(
    api: &Api,
    first_url: String,
    mut next: Option<String>,
    target: u32,
) -> Result<(String, u32), BenchError> {
    let mut url = first_url;
    let mut page = 1;
    while page < target {
        let Some(link) = next.take() else { break };
        url = api.absolute(&link);
        let fetched = api.get(&url).await?;
        if fetched.status != 200 {
            return Err(BenchError::Http {
                url,
                message: format!("status {} while walking to page {target}", fetched.status),
            });
        }
        next = fetched.next;
        page += 1;
    }
    Ok((url, page))
}

async fn sequential(api: &Api, urls: &[String], requests: usize) -> Sequential {
    let mut result = Sequential::default();
    for i in 0..requests {
        let url = &urls[i % urls.len()];
        let start = Instant::now();
        match api.get(url).await {
            Ok(fetched) if fetched.status == 200 => {
                result
                    .samples_ms
                    .push(start.elapsed().as_secs_f64() * 1000.0);
            }
            // Not timed: a quick 503 would flatter the figures.
            Ok(fetched) => result.fail(status_error(fetched.status)),
            Err(e) => result.fail(e.to_string()),
        }
    }
    result
}

/// `concurrency` workers, each sending its next request as soon as the last one is answered,
/// until `duration` is up. Only answers with 200 count towards requests per second.
async fn concurrent(
    api: &Api,
    urls: &[String],
    concurrency: usize,
    duration: Duration,
) -> Concurrent {
    let start = Instant::now();
    let deadline = start + duration;
    let workers = (0..concurrency).map(move |w| async move {
        let mut worker = Concurrent::default();
        let mut i = w * 13;
        while Instant::now() < deadline {
            let url = &urls[i % urls.len()];
            i += 1;
            match api.get(url).await {
                Ok(fetched) if fetched.status == 200 => worker.ok += 1,
                Ok(fetched) => worker.fail(status_error(fetched.status)),
                Err(e) => worker.fail(e.to_string()),
            }
        }
        worker
    });
    let mut total = Concurrent::default();
    for worker in join_all(workers).await {
        total.ok += worker.ok;
        total.errors += worker.errors;
        total.first_error = total.first_error.or(worker.first_error);
    }
    // Up to the last answer, which may come after the deadline.
    total.secs = start.elapsed().as_secs_f64();
    total
}

impl Sequential {
    fn fail(&mut self, error: String) {
        count_failure(&mut self.errors, &mut self.first_error, error);
    }
}

impl Concurrent {
    fn fail(&mut self, error: String) {
        count_failure(&mut self.errors, &mut self.first_error, error);
    }
}

/// Counts every failure but logs only the first of a run: a saturated service fails thousands.
fn count_failure(errors: &mut u64, first_error: &mut Option<String>, error: String) {
    *errors += 1;
    if first_error.is_none() {
        warn!("{error}");
        *first_error = Some(error);
    }
}

fn status_error(status: u16) -> String {
    format!("status {status}")
}

/// Whether the queries really ran while ingesting: ingest may end before the last kind is
/// measured.
async fn ingest_progress(api: &Api, lines: u64) -> String {
    match api.sources().await {
        Ok(sources) => {
            let done: u64 = sources
                .iter()
                .map(|s| s.lines_stored + s.lines_rejected)
                .sum();
            let finished = sources.iter().filter(|s| s.state == "finished").count();
            let mut note = format!(
                "ingest while measuring: {} of {} lines stored by the end; {finished} of {} \
                 sources finished",
                thousands(done),
                thousands(lines),
                sources.len()
            );
            if finished == sources.len() {
                note.push_str(" (so the last kinds may have run after ingest ended)");
            }
            note
        }
        Err(e) => format!("ingest while measuring: progress unknown ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_is_the_ten_days_ending_with_the_newest_day() {
        assert_eq!(
            ten_days_to("2000-07-31T12:58:36Z"),
            Some(("2000-07-22".to_owned(), "2000-08-01".to_owned()))
        );
        assert_eq!(
            ten_days_to("2000-07-12T00:00:00Z"),
            Some(("2000-07-03".to_owned(), "2000-07-13".to_owned()))
        );
        assert_eq!(ten_days_to("yesterday"), None);
    }
}
