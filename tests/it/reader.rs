//! Reader actors and the queries they run: order, keyset paging, counts, and index use.

use crate::common;

use common::{store_lines, temp_db, TempDb};
use diesel::SqliteConnection;
use loggerator::db::connection::open_reader;
use loggerator::db::read::log_query::{
    self, explain_page, Key, LogFilter, LogPage, LogQuery, Order,
};
use loggerator::db::read::reader::{CountLogs, QueryLogs, Reader};
use loggerator::limits::SECONDS_PER_DAY;

/// Lines whose dates collide, so ordering must fall back to arrival.
fn lines() -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..30 {
        let day = 1 + i % 3;
        let (method, code) = [("GET", 200), ("POST", 500), ("PUT", 403)][i % 3];
        let user = ["ann", "bob"][i % 2];
        out.push(format!(
            r#"10.0.0.{i} - {user} [0{day}/Jul/2000 05:00:00 +0000] "{method} /p/{i} HTTP/1.0" {code} {i}"#
        ));
    }
    out
}

fn db() -> TempDb {
    let db = temp_db();
    store_lines(&db, "src:1", &lines());
    db
}

/// How many lines match, reading any number of them for filters on lines.
fn count(
    conn: &mut SqliteConnection,
    max_scan: usize,
    filter: &LogFilter,
) -> Result<i64, loggerator::db::DbError> {
    log_query::count(conn, &Default::default(), filter, max_scan)
}

/// A page, with source addresses looked up afresh.
fn fetch_page(
    conn: &mut SqliteConnection,
    query: &LogQuery,
) -> Result<LogPage, loggerator::db::DbError> {
    log_query::fetch_page(conn, &Default::default(), &mut Default::default(), query)
}

fn query(filter: LogFilter, limit: i64) -> LogQuery {
    LogQuery {
        filter,
        limit,
        ..Default::default()
    }
    .uncapped()
}

#[test]
fn pages_are_newest_first_with_arrival_breaking_ties() {
    let db = db();
    let mut conn = open_reader(&db.path).unwrap();
    let page = fetch_page(&mut conn, &query(LogFilter::default(), 1000)).unwrap();
    let keys: Vec<(i64, i64)> = page.rows.iter().map(|r| (r.date, r.id)).collect();
    let mut expected = keys.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, expected);
    assert_eq!(keys.len(), 30);
    // Within one date, later arrivals first.
    assert!(keys[0].0 == keys[1].0 && keys[0].1 > keys[1].1);
    assert_eq!(page.next, None);
}

#[test]
fn keyset_pages_cover_every_row_once() {
    let db = db();
    let mut conn = open_reader(&db.path).unwrap();
    for filter in [
        LogFilter::default(),
        LogFilter {
            users: vec!["ann".into()],
            ..LogFilter::default()
        },
    ] {
        let all = fetch_page(&mut conn, &query(filter.clone(), 1000))
            .unwrap()
            .rows;
        let mut paged = Vec::new();
        let mut q = query(filter, 4);
        loop {
            let page = fetch_page(&mut conn, &q).unwrap();
            assert!(page.rows.len() <= 4);
            paged.extend(page.rows);
            match page.next {
                Some(cursor) => q.after = Some(cursor),
                None => break,
            }
        }
        assert_eq!(paged, all);
    }
}

#[test]
fn counts_match_the_filters() {
    let db = db();
    let mut conn = open_reader(&db.path).unwrap();
    let f = |code: Option<i32>, method: Option<&str>| LogFilter {
        codes: code.map(|c| vec![(c, c)]).unwrap_or_default(),
        methods: method.map(str::to_owned).into_iter().collect(),
        ..LogFilter::default()
    };
    assert_eq!(
        count(&mut conn, usize::MAX, &LogFilter::default()).unwrap(),
        30
    );
    assert_eq!(
        count(&mut conn, usize::MAX, &f(Some(500), None)).unwrap(),
        10
    );
    assert_eq!(
        count(&mut conn, usize::MAX, &f(Some(500), Some("POST"))).unwrap(),
        10
    );
    assert_eq!(
        count(&mut conn, usize::MAX, &f(Some(500), Some("GET"))).unwrap(),
        0
    );
    // Values of one key ORed, keys ANDed; names never stored match nothing.
    let several = LogFilter {
        codes: vec![(500, 500), (400, 499)],
        methods: vec!["POST".into(), "PUT".into(), "NEVER".into()],
        users: vec!["ann".into(), "nobody".into()],
        ..LogFilter::default()
    };
    assert_eq!(count(&mut conn, usize::MAX, &several).unwrap(), 10);
    let nobody = LogFilter {
        users: vec!["nobody".into()],
        ..LogFilter::default()
    };
    assert_eq!(count(&mut conn, usize::MAX, &nobody).unwrap(), 0);
    let july2 = LogFilter {
        since: Some(962_496_000),
        until: Some(962_582_400),
        ..LogFilter::default()
    };
    assert_eq!(count(&mut conn, usize::MAX, &july2).unwrap(), 10);
}

#[test]
fn every_query_merges_ordered_key_ranges_of_each_segment_without_a_sort() {
    let db = db();
    let mut conn = open_reader(&db.path).unwrap();
    let after = Some(Key {
        date: 962_600_000,
        id: 10,
    });
    let filter = |code: Option<i32>, method: Option<&str>, user: Option<&str>| LogFilter {
        codes: code.map(|c| vec![(c, c)]).unwrap_or_default(),
        methods: method.map(str::to_owned).into_iter().collect(),
        users: user.map(str::to_owned).into_iter().collect(),
        ..LogFilter::default()
    };
    let range = LogFilter {
        since: Some(0),
        until: Some(962_600_000),
        ..LogFilter::default()
    };
    let filters = [
        (LogFilter::default(), "(segment=?)"),
        (filter(Some(500), None, None), "(segment=?)"),
        (filter(None, Some("GET"), None), "(segment=?)"),
        // One user's keys come from the user index, in the same order: a user who holds few
        // rows costs a page no more than one who holds many.
        (filter(None, None, Some("ann")), "(segment=? AND user_id=?)"),
        (filter(None, None, Some("-")), "(segment=? AND user_id=?)"),
        (
            LogFilter {
                sources: vec!["src:1".into()],
                ips: vec!["10.0.0.0/28".parse().unwrap()],
                ..LogFilter::default()
            },
            "(segment=?)",
        ),
        (range, "(segment=? AND date>? AND date<?)"),
        (
            LogFilter {
                codes: vec![(500, 599), (200, 200), (403, 403)],
                methods: vec!["GET".into(), "POST".into()],
                users: vec!["ann".into(), "bob".into(), "-".into()],
                ..LogFilter::default()
            },
            "(segment=?)",
        ),
    ];
    for (filter, range) in filters {
        for (after, order) in [
            (None, Order::Desc),
            (after, Order::Desc),
            (None, Order::Asc),
            (after, Order::Asc),
        ] {
            let plan = explain_page(
                &mut conn,
                &LogQuery {
                    filter: filter.clone(),
                    order,
                    after,
                    ..Default::default()
                }
                .uncapped(),
            )
            .unwrap();
            let text = plan.join(" | ");
            assert!(
                plan.iter().all(|step| !step.contains("TEMP B-TREE")),
                "sorts: {text}"
            );
            assert!(
                plan.iter().any(|step| step == "MERGE (UNION ALL)"),
                "segments are merged: {text}"
            );
            // With a cursor, the key range also ends (or starts) at the cursor's date.
            let range = match (after, order) {
                (Some(_), Order::Desc) if !range.contains("date") => {
                    range.replace(')', " AND date<?)")
                }
                (Some(_), Order::Asc) if !range.contains("date") => {
                    range.replace(')', " AND date>?)")
                }
                _ => range.to_owned(),
            };
            let access = if range.contains("user_id") {
                "SEARCH log_keys USING COVERING INDEX log_keys_by_user "
            } else {
                "SEARCH log_keys USING PRIMARY KEY "
            };
            let searches: Vec<&String> = plan.iter().filter(|s| s.starts_with("SEARCH")).collect();
            assert!(searches.len() >= 2, "{text}");
            for step in searches {
                assert!(
                    step.starts_with(access) && step.ends_with(&range),
                    "expected {access}{range}: {text}"
                );
            }
        }
    }
}

/// The ids of every page of `filter` in `order`, `limit` at a time, following `next`.
fn ids_page_by_page(
    conn: &mut SqliteConnection,
    filter: &LogFilter,
    order: Order,
    limit: i64,
) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = fetch_page(
            conn,
            &LogQuery {
                order,
                after,
                ..query(filter.clone(), limit)
            },
        )
        .unwrap();
        seen.extend(page.rows.iter().map(|r| r.id));
        match page.next {
            Some(next) => after = Some(next),
            None => return seen,
        }
    }
}

/// Users and sources who hold few rows are read through their index, an arm per (segment,
/// value), each in date order and merged without a sort; pages are the same as filtering every
/// row.
#[test]
fn rare_users_and_sources_are_read_through_their_index_and_pages_stay_exact() {
    let db = temp_db();
    let mut all = lines();
    // cy and dee hold 4 of the rows (under 1/8), spread over both segments.
    for (i, (user, code)) in [("cy", 500), ("dee", 200), ("cy", 200), ("dee", 500)]
        .into_iter()
        .enumerate()
    {
        all.insert(
            i * 9,
            format!(
                r#"10.1.0.{i} - {user} [02/Jul/2000 05:00:00 +0000] "GET /r/{i} HTTP/1.0" {code} {i}"#
            ),
        );
    }
    // More common lines, so that cy and dee stay rare beside the second source's line.
    all.extend(lines().into_iter().take(10));
    store_lines(&db, "src:1", &all);
    // A second source of 3 lines: one of dee's, and ann's and bob's.
    store_lines(&db, "src:2", &all[8..11]);
    let mut conn = open_reader(&db.path).unwrap();
    let every = fetch_page(&mut conn, &query(LogFilter::default(), 1000))
        .unwrap()
        .rows;
    assert_eq!(every.len(), 47);

    let rare = |users: &[&str], codes: &[i32]| LogFilter {
        users: users.iter().map(|u| u.to_string()).collect(),
        codes: codes.iter().map(|&c| (c, c)).collect(),
        ..LogFilter::default()
    };
    let from = |sources: &[&str], filter: LogFilter| LogFilter {
        sources: sources.iter().map(|s| s.to_string()).collect(),
        ..filter
    };
    for (filter, index) in [
        (rare(&["cy"], &[500]), "log_keys_by_user"),
        (rare(&["cy", "dee"], &[]), "log_keys_by_user"),
        (rare(&["cy", "dee"], &[200, 500]), "log_keys_by_user"),
        (rare(&["cy", "dee", "-"], &[200]), "log_keys_by_user"),
        (from(&["src:2"], rare(&[], &[])), "log_keys_by_source"),
        (from(&["src:2"], rare(&[], &[200])), "log_keys_by_source"),
        // Both rare: the source's 3 rows against cy's and dee's 5.
        (
            from(&["src:2"], rare(&["cy", "dee"], &[])),
            "log_keys_by_source",
        ),
        // A common user from a rare source.
        (from(&["src:2"], rare(&["ann"], &[])), "log_keys_by_source"),
    ] {
        for order in [Order::Desc, Order::Asc] {
            let plan = explain_page(
                &mut conn,
                &LogQuery {
                    order,
                    ..query(filter.clone(), 2)
                },
            )
            .unwrap();
            let text = plan.join(" | ");
            assert!(!text.contains("TEMP B-TREE"), "sorts: {text}");
            assert!(text.contains("MERGE (UNION ALL)"), "{text}");
            let column = if index == "log_keys_by_user" {
                "user_id"
            } else {
                "source_id"
            };
            let searches: Vec<&String> = plan.iter().filter(|s| s.starts_with("SEARCH")).collect();
            assert!(searches.len() >= 2, "{text}");
            for step in searches {
                assert!(
                    step.contains(&format!("INDEX {index} (segment=? AND {column}=?)")),
                    "{filter:?}: {text}"
                );
            }

            // Every page, two rows at a time, against the rows filtered by hand.
            let mut expected: Vec<i64> = every
                .iter()
                .filter(|r| {
                    (filter.users.is_empty()
                        || filter.users.contains(&r.user.clone().unwrap_or("-".into())))
                        && (filter.sources.is_empty() || filter.sources.contains(&r.source))
                        && (filter.codes.is_empty()
                            || filter.codes.iter().any(|&(c, _)| c == r.code))
                })
                .map(|r| r.id)
                .collect();
            if order == Order::Asc {
                expected.reverse();
            }
            assert!(!expected.is_empty());
            assert_eq!(
                ids_page_by_page(&mut conn, &filter, order, 2),
                expected,
                "{filter:?} {order:?}"
            );
        }
    }

    // A user who holds half the rows, with a status, is read through the primary key.
    let plan = explain_page(&mut conn, &query(rare(&["ann"], &[500]), 2)).unwrap();
    assert!(
        plan.iter()
            .filter(|s| s.starts_with("SEARCH"))
            .all(|s| s.starts_with("SEARCH log_keys USING PRIMARY KEY")),
        "{plan:?}"
    );
}

/// Sixteen users over 21 segments: more arms than one statement may hold (16 segments of 16
/// users each), so a page merges two statements' keys; every page is still exact.
#[test]
fn many_users_over_many_segments_page_exactly_across_statements() {
    let db = temp_db();
    let all: Vec<String> = (0..420)
        .map(|i| {
            let day = 1 + i % 28;
            format!(
                r#"10.2.0.{} - u{} [{day:02}/Jul/2000 05:00:00 +0000] "GET /m/{i} HTTP/1.0" 200 {i}"#,
                i % 250,
                i % 40
            )
        })
        .collect();
    store_lines(&db, "src:1", &all);
    let mut conn = open_reader(&db.path).unwrap();
    let every = fetch_page(&mut conn, &query(LogFilter::default(), 1000))
        .unwrap()
        .rows;
    let users: Vec<String> = (0..16).map(|u| format!("u{u}")).collect();
    let filter = LogFilter {
        users: users.clone(),
        ..LogFilter::default()
    };
    let plan = explain_page(&mut conn, &query(filter.clone(), 7)).unwrap();
    assert!(
        plan.iter()
            .any(|s| s.contains("COVERING INDEX log_keys_by_user (segment=? AND user_id=?)")),
        "{plan:?}"
    );
    for order in [Order::Desc, Order::Asc] {
        let mut expected: Vec<i64> = every
            .iter()
            .filter(|r| users.contains(r.user.as_ref().unwrap()))
            .map(|r| r.id)
            .collect();
        if order == Order::Asc {
            expected.reverse();
        }
        assert_eq!(expected.len(), 176);
        assert_eq!(
            ids_page_by_page(&mut conn, &filter, order, 7),
            expected,
            "{order:?}"
        );
    }
}

#[actix_rt::test]
async fn reader_actors_answer_queries_with_source_addresses() {
    let db = db();
    let readers = Reader::start_pool(&db.path, 2, Default::default()).unwrap();
    let filter = LogFilter {
        codes: vec![(403, 403)],
        ..LogFilter::default()
    };
    let page = readers
        .send(QueryLogs(query(filter.clone(), 3)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.rows.len(), 3);
    assert!(page.rows.iter().all(|r| r.code == 403 && r.method == "PUT"));
    assert!(page.rows.iter().all(|r| r.source == "src:1"));
    assert!(page.next.is_some());
    let n = readers
        .send(CountLogs {
            filter,
            max_scan: usize::MAX,
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 10);
}

#[test]
fn counts_over_any_date_range_equal_the_rows_listed() {
    // Counts add per-day sums to rows counted at the edges; listing reads rows only. Ranges that
    // start and end inside days, on day boundaries, and within one day must all agree.
    let db = temp_db();
    let mut generator = loggerator::emulator::LineGenerator::new(5);
    let lines: Vec<String> = (0..400).map(|_| generator.next_line()).collect();
    store_lines(&db, "src:1", &lines);
    let mut conn = open_reader(&db.path).unwrap();
    let july = 962_409_600;
    let day = SECONDS_PER_DAY;
    let bounds = [
        None,
        Some(july),
        Some(july + 3 * day),
        Some(july + 3 * day + 7_777),
        Some(july + 3 * day + 40_000),
        Some(july + 17 * day + 1),
        Some(july + 31 * day),
    ];
    for since in bounds {
        for until in bounds {
            for code in [None, Some(500)] {
                let filter = LogFilter {
                    codes: code.map(|c| vec![(c, c)]).unwrap_or_default(),
                    since,
                    until,
                    ..LogFilter::default()
                };
                let listed = fetch_page(&mut conn, &query(filter.clone(), 1000))
                    .unwrap()
                    .rows
                    .len() as i64;
                assert_eq!(
                    count(&mut conn, usize::MAX, &filter).unwrap(),
                    listed,
                    "{filter:?}"
                );
            }
        }
    }
}

#[test]
fn a_page_ends_early_at_its_byte_cap_and_the_next_goes_on_from_there() {
    let db = db();
    let mut conn = open_reader(&db.path).unwrap();
    let everything = fetch_page(&mut conn, &query(LogFilter::default(), 1000)).unwrap();
    let line_bytes = everything.rows[0].line.len();
    // Room for about four lines a page, whatever the limit.
    let capped = |after| LogQuery {
        after,
        max_bytes: 4 * line_bytes,
        ..query(LogFilter::default(), 1000)
    };
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = fetch_page(&mut conn, &capped(after)).unwrap();
        let bytes: usize = page.rows.iter().map(|r| r.line.len()).sum();
        assert!(
            page.rows.len() <= 5,
            "{} rows, {bytes} bytes",
            page.rows.len()
        );
        assert!(bytes < 4 * line_bytes + 100, "{bytes} bytes");
        paged.extend(page.rows.iter().map(|r| r.id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let all: Vec<i64> = everything.rows.iter().map(|r| r.id).collect();
    assert_eq!(paged, all, "every row once, in order");
}

#[test]
fn a_page_filtered_on_lines_stops_reading_at_its_cap_and_the_next_goes_on() {
    // 30 lines: a filter on lines (the path prefix) that 22 of them match.
    let db = db();
    let mut conn = open_reader(&db.path).unwrap();
    let filter = LogFilter {
        paths: vec!["/p/1".into(), "/p/2".into()],
        ..LogFilter::default()
    };
    let all = fetch_page(&mut conn, &query(filter.clone(), 1000))
        .unwrap()
        .rows;
    // /p/1, /p/10 to /p/19, /p/2, /p/20 to /p/29
    assert_eq!(all.len(), 22);
    let mut paged = Vec::new();
    let mut pages = 0;
    let mut after = None;
    loop {
        // Four keys read a page: pages of fewer rows than asked for, even none.
        let page = fetch_page(
            &mut conn,
            &LogQuery {
                after,
                max_scan: 4,
                ..query(filter.clone(), 1000)
            },
        )
        .unwrap();
        pages += 1;
        paged.extend(page.rows);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, all, "every match once, in order");
    assert!(pages >= 30 / 4, "{pages} pages");
}

#[test]
fn a_count_filtered_on_lines_is_exact_or_refused_past_its_cap() {
    let db = db();
    let mut conn = open_reader(&db.path).unwrap();
    let filter = LogFilter {
        texts: vec!["/p/1".into()],
        ..LogFilter::default()
    };
    assert_eq!(count(&mut conn, 100, &filter).unwrap(), 11);
    assert!(matches!(
        count(&mut conn, 8, &filter),
        Err(loggerator::db::DbError::TooBroad(8))
    ));
}

#[actix_rt::test]
async fn a_tail_read_back_stops_at_its_bytes_and_goes_on_from_there() {
    let db = temp_db();
    // 40 lines of about 60 KB: 2.4 MB, where a chunk holds 200 KB.
    let long: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "10.0.0.1 - - [09/May/2018:16:00:39 +0000] \"GET /{i}/{} HTTP/1.1\" 200 1",
                "x".repeat(60_000)
            )
        })
        .collect();
    store_lines(&db, "src:1", &long);
    let readers = Reader::start_pool(&db.path, 1, Default::default()).unwrap();
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let (rows, newest) = readers
            .send(loggerator::db::read::reader::QueryTail {
                after_id: after,
                limit: 2_000,
                max_bytes: 200_000,
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(newest, 40);
        let bytes: usize = rows.iter().map(|r| r.line.len()).sum();
        assert!(!rows.is_empty() && bytes <= 200_000 + 61_000, "{bytes}");
        after = rows.last().unwrap().id;
        seen.extend(rows.iter().map(|r| r.id));
        if after == newest {
            break;
        }
    }
    assert_eq!(seen, (1..=40).collect::<Vec<i64>>());
}
