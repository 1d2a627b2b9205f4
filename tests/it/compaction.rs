//! Storage v2: sealed segments compacted into blocks answer every query as the hot segments
//! did (pages in both orders with every kind of filter, counts, breakdowns, a tail's read-back),
//! while compaction is half done and once it is complete; a cursor taken before a compaction
//! goes on after it; a corrupt block fails only the queries that read it.

use crate::common;

use std::time::Duration;

use common::app::TestApp;
use common::counts::{all_rows, assert_keys_and_counts_agree_with_lines};
use common::pages::{listing, page, uncapped};
use common::{eventually, fixture_lines, store_lines, temp_db, TempDb};
use diesel::prelude::*;
use loggerator::db::blocks::build::{build_part, next_sealed};
use loggerator::db::blocks::cache::BlockCache;
use loggerator::db::blocks::commit::{
    add_blocks, add_part, clear_replaced, clear_retired, finish_merge, start_part, Added,
};
use loggerator::db::blocks::merge::{self, Merge};
use loggerator::db::connection::{open_reader, open_writer};
use loggerator::db::read::log_query::{self, LogFilter, LogQuery, Order};
use loggerator::db::read::stats_query::{self, StatKey, StatRow, StatsQuery};
use loggerator::db::read::tail;
use loggerator::db::schema::{block_data, blocks};
use loggerator::emulator::LineGenerator;

/// Lines stored by [`stored_db`] (the real ones include some that do not parse).
const STORED: i64 = 1_262;

/// 1,300 lines from three sources (64 segments of 20), IPv6 and real ones among them.
fn stored_db() -> TempDb {
    let db = temp_db();
    let mut generator = LineGenerator::new(9);
    let lines: Vec<String> = (0..1_200).map(|_| generator.next_line()).collect();
    store_lines(&db, "src:1", &lines[..700]);
    let mut real: Vec<String> = fixture_lines().iter().map(|l| l.to_string()).collect();
    real.extend([
        r#"2001:db8::1 - ann [16/Jul/2000:10:00:00 +0000] "GET /photos/1?size=big HTTP/1.1" 200 5 "https://ref/a" "agent/2""#.to_owned(),
        r#"10.9.8.7 - bob [17/Jul/2000:00:00:00 +0000] "GET /photos/3 HTTP/1.1" 200 8"#.to_owned(),
    ]);
    store_lines(&db, "src:2", &real);
    store_lines(&db, "src:3", &lines[700..]);
    db
}

/// Compacts up to `segments` sealed segments the way the compactor and the writer do.
fn compact(db: &TempDb, segments: usize) -> usize {
    let mut reader = open_reader(&db.path).unwrap();
    let mut writer = open_writer(&db.path).unwrap();
    let mut done = 0;
    while done < segments {
        let Some(segment) = next_sealed(&mut reader).unwrap() else {
            break;
        };
        let part = build_part(&mut reader, segment).unwrap().unwrap();
        assert!(matches!(
            add_part(&mut writer, &part).unwrap(),
            Added::Part { .. }
        ));
        done += 1;
    }
    while clear_retired(&mut writer, 7).unwrap() > 0 {}
    done
}

/// Merges parts the way the compactor and the writer do, until no tier is full; returns how
/// many merges replaced their inputs.
fn merge_all(db: &TempDb) -> usize {
    let mut reader = open_reader(&db.path).unwrap();
    let mut writer = open_writer(&db.path).unwrap();
    let mut merges = 0;
    while let Some(inputs) = merge::plan(&mut reader, &Default::default()).unwrap() {
        let part = start_part(&mut writer, &inputs).unwrap();
        let mut merge = Merge::new(&mut reader, inputs.clone(), part).unwrap();
        loop {
            let blocks = merge.step(&mut reader).unwrap();
            if blocks.is_empty() {
                break;
            }
            add_blocks(&mut writer, part, &blocks).unwrap();
        }
        let merged = merge.merged();
        assert!(finish_merge(&mut writer, merged, &inputs).unwrap());
        merges += 1;
    }
    while clear_replaced(&mut writer, 3).unwrap() > 0 {}
    merges
}

fn live_parts(db: &TempDb) -> i64 {
    scalar(db, "SELECT count(*) AS n FROM parts WHERE state = 1")
}

fn scalar(db: &TempDb, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql)
        .get_result::<N>(&mut open_reader(&db.path).unwrap())
        .unwrap()
        .n
}

fn filters() -> Vec<LogFilter> {
    let day = 86_400;
    let july = 962_409_600; // 2000-07-01
    vec![
        LogFilter::default(),
        LogFilter {
            codes: vec![(500, 599), (404, 404)],
            ..Default::default()
        },
        LogFilter {
            methods: vec!["GET".into(), "PUT".into()],
            users: vec!["-".into(), "bob".into()],
            ..Default::default()
        },
        LogFilter {
            sources: vec!["src:2".into(), "3".into()],
            ..Default::default()
        },
        LogFilter {
            users: vec!["ann".into()],
            ..Default::default()
        },
        LogFilter {
            ips: vec![
                "10.0.0.0/8".parse().unwrap(),
                "2001:db8::/32".parse().unwrap(),
            ],
            ..Default::default()
        },
        LogFilter {
            since: Some(july + 5 * day + 3_600),
            until: Some(july + 20 * day + 7_000),
            codes: vec![(200, 299)],
            ..Default::default()
        },
        LogFilter {
            paths: vec!["/photos/".into()],
            texts: vec!["GET".into()],
            ..Default::default()
        },
    ]
}

fn breakdowns(
    conn: &mut SqliteConnection,
    cache: &BlockCache,
    filter: &LogFilter,
) -> Vec<Vec<StatRow>> {
    let mut all = Vec::new();
    for by in [
        vec![StatKey::Code],
        vec![StatKey::Hour, StatKey::Class],
        vec![StatKey::Ip],
        vec![StatKey::User, StatKey::Method],
        vec![StatKey::Day, StatKey::Source],
        vec![StatKey::Path],
    ] {
        let q = StatsQuery {
            filter: filter.clone(),
            by,
            limit: 10_000,
            max_keys: 1 << 40,
            max_lines: 1 << 40,
        };
        all.push(stats_query::stats(conn, cache, &mut Default::default(), &q).unwrap());
    }
    all
}

/// Everything the readers answer, for comparing two states of the same rows.
#[derive(Debug, PartialEq)]
struct Answers {
    listings: Vec<Vec<i64>>,
    counts: Vec<i64>,
    stats: Vec<Vec<Vec<StatRow>>>,
    tail: Vec<Vec<i64>>,
}

fn answers(db: &TempDb) -> Answers {
    let mut conn = open_reader(&db.path).unwrap();
    // A small cache, so that blocks are read again, not only found decoded.
    let cache = BlockCache::new(200_000);
    let mut answers = Answers {
        listings: Vec::new(),
        counts: Vec::new(),
        stats: Vec::new(),
        tail: Vec::new(),
    };
    for filter in filters() {
        for order in [Order::Desc, Order::Asc] {
            answers
                .listings
                .push(listing(&mut conn, &cache, &filter, order, 7));
        }
        answers
            .counts
            .push(log_query::count(&mut conn, &cache, &filter, usize::MAX).unwrap());
        answers.stats.push(breakdowns(&mut conn, &cache, &filter));
    }
    for after in [0, 1, 333, 1_000, STORED - 1] {
        let (rows, last) = tail::rows_after(
            &mut conn,
            &cache,
            &mut Default::default(),
            after,
            500,
            usize::MAX,
        )
        .unwrap();
        assert_eq!(last, STORED);
        answers.tail.push(rows.iter().map(|r| r.id).collect());
    }
    answers
}

#[test]
fn compacted_segments_answer_every_query_as_the_hot_ones_did() {
    let db = stored_db();
    let hot = answers(&db);
    assert_eq!(hot.listings[0].len(), STORED as usize);
    assert!(hot.listings.iter().all(|l| !l.is_empty()));
    assert_eq!(compact(&db, 20), 20);
    assert_eq!(answers(&db), hot, "a third compacted");
    assert!(compact(&db, usize::MAX) > 20, "the other sealed segments");
    assert_eq!(
        next_sealed(&mut open_reader(&db.path).unwrap()).unwrap(),
        None
    );
    assert_eq!(answers(&db), hot, "all compacted");
    let parts = live_parts(&db);
    assert!(merge_all(&db) >= 5, "tiers of 8 parts merge");
    assert!(
        live_parts(&db) < parts / 4,
        "{} parts of {parts}",
        live_parts(&db)
    );
    assert_eq!(answers(&db), hot, "merged");
    assert_eq!(
        scalar(&db, "SELECT count(*) AS n FROM parts WHERE state <> 1"),
        0,
        "replaced parts are deleted"
    );
    assert_keys_and_counts_agree_with_lines(&db.path, STORED as usize);
    let rows = all_rows(&mut open_reader(&db.path).unwrap());
    assert_eq!(rows.first().map(|r| r.id), Some(1));
    assert_eq!(rows.last().map(|r| r.id), Some(STORED));
}

#[test]
fn a_cursor_taken_before_a_compaction_goes_on_after_it() {
    let cache = BlockCache::default();
    for filter in filters() {
        for order in [Order::Desc, Order::Asc] {
            let db = stored_db();
            let mut conn = open_reader(&db.path).unwrap();
            let whole = listing(&mut conn, &cache, &filter, order, 7);
            // The first page while everything is hot, the rest after compaction.
            let first = page(&mut conn, &cache, &filter, order, None, 50);
            let mut ids: Vec<i64> = first.rows.iter().map(|r| r.id).collect();
            compact(&db, usize::MAX);
            merge_all(&db);
            let mut after = first.next;
            while let Some(cursor) = after {
                let page = page(&mut conn, &cache, &filter, order, Some(cursor), 50);
                ids.extend(page.rows.iter().map(|r| r.id));
                after = page.next;
            }
            assert_eq!(ids, whole, "{filter:?} {order:?}");
        }
    }
}

/// The block holding the oldest row, which the first page oldest first must read.
fn oldest_block(conn: &mut SqliteConnection) -> i64 {
    blocks::table
        .order((blocks::min_date, blocks::min_id))
        .select(blocks::id)
        .first(conn)
        .unwrap()
}

#[actix_rt::test]
async fn a_corrupt_block_fails_the_queries_that_read_it_and_nothing_else() {
    let db = stored_db();
    compact(&db, usize::MAX);
    // One bit flipped in the keys of the block holding the oldest row, which the first page
    // oldest first must read.
    let mut conn = open_writer(&db.path).unwrap();
    let block = oldest_block(&mut conn);
    let mut keys: Vec<u8> = block_data::table
        .find(block)
        .select(block_data::keys)
        .first(&mut conn)
        .unwrap();
    let sources = loggerator::db::blocks::format::decode_keys(&keys)
        .unwrap()
        .source_id;
    let other = (1..=3).find(|s| !sources.contains(s)).unwrap();
    let others: Vec<String> = all_rows(&mut conn)
        .into_iter()
        .filter(|r| r.source_id == other)
        .map(|r| r.line)
        .collect();
    let other_rows = others.len();
    keys[20] ^= 0x04;
    diesel::update(block_data::table.find(block))
        .set(block_data::keys.eq(keys))
        .execute(&mut conn)
        .unwrap();
    drop(conn);
    let app = TestApp::spawn_on(db, vec![]).await;
    let page = app.get("/logs?limit=50&order=asc").await;
    assert_eq!(page.status, 500, "{}", page.body);
    assert_eq!(page.body["code"], "block_corrupt", "{}", page.body);
    // Queries that do not read it still answer: another source's lines (its synopsis rules
    // the block out unread), a count from the count tables.
    let (rows, _) = app
        .all_pages(&format!("/logs?source={other}&limit=7"))
        .await;
    assert_eq!(rows.len(), other_rows);
    // A substring of another source's line: the block's trigram filter rules it out unread,
    // oldest first too (where the block's keys would be read first).
    let needle = &others[others.len() / 2];
    let encoded = percent_encoding::utf8_percent_encode(needle, percent_encoding::NON_ALPHANUMERIC);
    let (rows, _) = app
        .all_pages(&format!("/logs?q={encoded}&order=asc&limit=7"))
        .await;
    assert!(!rows.is_empty() && rows.iter().all(|r| r["line"].as_str() == Some(needle)));
    assert_eq!(app.count("").await, STORED);
    let health = app.get("/healthz").await;
    assert_eq!(health.status, 200, "writes still succeed");
    assert_eq!(health.body["code"], "block_corrupt");
    assert_eq!(health.body["corrupt_blocks"].as_array().unwrap().len(), 1);
    let (_, _, metrics) = common::app::get_text(&app.url("/metrics"), &[]).await;
    assert!(
        metrics.contains("loggerator_block_corrupt_reads_total 1\n"),
        "{metrics}"
    );
    // Ingest goes on.
    let (status, _, _) = common::app::post_text(
        &app.url("/ingest?source=more"),
        &format!("{}\n", fixture_lines()[0]),
    )
    .await;
    assert_eq!(status, 200);
    eventually("the pushed line", Duration::from_secs(10), || async {
        (app.count("source=push:more").await == 1).then_some(())
    })
    .await;
    app.stop().await;
}

#[test]
fn a_segment_trains_a_dictionary_and_its_lines_read_back_frame_by_frame() {
    use loggerator::batch::{Entry, StreamMark, StreamProgress};
    use loggerator::db::blocks::format::LinesBlob;
    use loggerator::db::write::store::LogStore;
    use loggerator::db::write::writer::register_source;
    let db = temp_db();
    let mut writer = open_writer(&db.path).unwrap();
    let source = register_source(&mut writer, "src:big").unwrap().id;
    // One segment of 4,000 lines (about 380 KB): enough text to train a dictionary on.
    let mut store = LogStore::load(&mut writer, 10_000).unwrap();
    let mut generator = LineGenerator::new(77);
    let lines: Vec<String> = (0..4_000).map(|_| generator.next_line()).collect();
    let mut mark = StreamMark::default();
    for batch in lines.chunks(500) {
        let entries: Vec<Entry> = batch.iter().map(|l| Entry::from_line(l)).collect();
        mark.position += batch.len() as u64;
        let progress = StreamProgress::Source(mark.clone());
        store
            .write_batch(&mut writer, source, &entries, &progress)
            .unwrap();
    }
    assert!(store.seal(&mut writer).unwrap());
    drop(writer);
    assert_eq!(compact(&db, 1), 1);
    assert_eq!(scalar(&db, "SELECT count(*) AS n FROM line_dicts"), 1);
    let mut conn = open_reader(&db.path).unwrap();
    let blobs: Vec<Vec<u8>> = block_data::table
        .select(block_data::lines)
        .load(&mut conn)
        .unwrap();
    assert!(blobs.len() >= 4);
    assert!(
        blobs
            .iter()
            .all(|b| LinesBlob::open(b).map(|b| b.dict()) == Ok(1)),
        "every block names it"
    );
    // Read back through a fresh connection and cache: by id (a tail), and a page at a time
    // in date order (frames read one by one, a small cache).
    let cache = BlockCache::new(50_000);
    let (rows, _) = tail::rows_after(
        &mut conn,
        &cache,
        &mut Default::default(),
        0,
        10_000,
        usize::MAX,
    )
    .unwrap();
    let read: Vec<&str> = rows.iter().map(|r| r.line.as_str()).collect();
    assert_eq!(read, lines.iter().map(String::as_str).collect::<Vec<_>>());
    let mut by_date: Vec<(i64, i64, &str)> = rows
        .iter()
        .map(|r| (r.date, r.id, r.line.as_str()))
        .collect();
    by_date.sort();
    let mut after = None;
    let mut paged = Vec::new();
    loop {
        let page = page(
            &mut conn,
            &cache,
            &LogFilter::default(),
            Order::Asc,
            after,
            333,
        );
        paged.extend(page.rows.into_iter().map(|r| r.line));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        paged,
        by_date.iter().map(|r| r.2.to_owned()).collect::<Vec<_>>()
    );
}

#[test]
fn a_corrupt_lines_blob_is_reported_like_a_corrupt_keys_blob() {
    let db = stored_db();
    compact(&db, usize::MAX);
    let mut conn = open_writer(&db.path).unwrap();
    let block = oldest_block(&mut conn);
    let mut lines: Vec<u8> = block_data::table
        .find(block)
        .select(block_data::lines)
        .first(&mut conn)
        .unwrap();
    let last = lines.len() - 1;
    lines[last] ^= 0x01;
    diesel::update(block_data::table.find(block))
        .set(block_data::lines.eq(lines))
        .execute(&mut conn)
        .unwrap();
    drop(conn);
    let cache = BlockCache::default();
    let query = uncapped(&LogFilter::default(), Order::Asc, None, 5);
    let mut conn = open_reader(&db.path).unwrap();
    let failed = log_query::fetch_page(&mut conn, &cache, &mut Default::default(), &query);
    assert!(
        matches!(failed, Err(loggerator::db::DbError::CorruptBlock { block: b, .. }) if b == block),
        "{failed:?}"
    );
    assert_eq!(cache.corrupt_blocks(), vec![block]);
    assert_eq!(cache.corrupt_reads.get(), 1);
}

#[actix_rt::test]
async fn a_text_export_gives_the_lines_of_the_rows_listed() {
    let db = stored_db();
    compact(&db, 20);
    let app = TestApp::spawn_on(db, vec![]).await;
    for query in [
        "",
        "code=5xx&order=asc",
        "user=ann&user=-",
        "source=src:2&order=asc",
        "q=GET&path=/photos/",
        "since=2000-07-05&until=2000-07-20&limit=77",
    ] {
        let (_, _, text) =
            common::app::get_text(&app.url(&format!("/logs?format=text&{query}")), &[]).await;
        let (_, _, ndjson) =
            common::app::get_text(&app.url(&format!("/logs?format=ndjson&{query}")), &[]).await;
        let lines: String = ndjson
            .lines()
            .map(|row| {
                let row: serde_json::Value = serde_json::from_str(row).unwrap();
                format!("{}\n", row["line"].as_str().unwrap())
            })
            .collect();
        assert!(!lines.is_empty(), "{query}");
        assert_eq!(text, lines, "{query}");
    }
    app.stop().await;
}

#[test]
fn text_pages_cut_by_their_byte_cap_go_on_where_they_stopped() {
    let db = stored_db();
    compact(&db, 20);
    let mut conn = open_reader(&db.path).unwrap();
    let cache = BlockCache::new(100_000);
    for order in [Order::Desc, Order::Asc] {
        let expected: String = listing_lines(&mut conn, &cache, order);
        let mut text = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let query = LogQuery {
                // A few lines a page: most pages end at the cap, not at the limit.
                max_bytes: 300,
                ..uncapped(&LogFilter::default(), order, after, 50)
            };
            let page =
                log_query::fetch_lines(&mut conn, &cache, &mut Default::default(), &query).unwrap();
            assert!(page.lines <= 4, "{} lines", page.lines);
            text.extend(page.text);
            pages += 1;
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert!(pages > STORED as usize / 4);
        assert_eq!(String::from_utf8(text).unwrap(), expected, "{order:?}");
    }
}

/// Every stored line with a newline, in the listing's order (through pages of rows).
fn listing_lines(conn: &mut SqliteConnection, cache: &BlockCache, order: Order) -> String {
    let mut text = String::new();
    let mut after = None;
    loop {
        let page = page(conn, cache, &LogFilter::default(), order, after, 100);
        for row in &page.rows {
            text.push_str(&row.line);
            text.push('\n');
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return text,
        }
    }
}
