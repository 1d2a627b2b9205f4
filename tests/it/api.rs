//! The HTTP API against the service on a random port with a temporary database.

use crate::common;

use common::app::{get, ids, Reply, TestApp};
use common::{store_entries, store_lines, temp_db};
use loggerator::batch::Entry;
use loggerator::emulator::LineGenerator;
use loggerator::parse::{parse_line, LogRecord};
use serde_json::Value;

/// The service over a database of [`dataset`], and the lines it holds.
struct Fixture {
    app: TestApp,
    /// (id, line) in arrival order; ids start at 1.
    rows: Vec<(i64, String)>,
}

fn dataset() -> Vec<String> {
    let mut generator = LineGenerator::new(3);
    let mut lines: Vec<String> = (0..700).map(|_| generator.next_line()).collect();
    // Equal dates across different filters, and the other formats the parser accepts.
    for i in 0..6 {
        let method = ["GET", "post"][i % 2];
        lines.push(format!(
            r#"10.1.1.{i} - tie [15/Jul/2000 06:00:00 +0000] "{method} /tie/{i} HTTP/1.0" 500 {i}"#
        ));
    }
    lines.push(r#"10.2.2.2 - - [15/Jul/2000:08:00:00 +0200] "GET /clf HTTP/1.1" 304 -"#.to_owned());
    lines.push(r#"10.3.3.3 - frank [15/Jul/2000:06:00:00 +0000] "GET /combined HTTP/1.1" 200 10 "http://ref/" "agent/1.0""#.to_owned());
    lines
}

async fn fixture(source: &str) -> Fixture {
    let db = temp_db();
    let lines = dataset();
    store_lines(&db, source, &lines);
    let rows = lines
        .iter()
        .enumerate()
        .map(|(i, line)| (i as i64 + 1, line.clone()))
        .collect();
    Fixture {
        app: TestApp::spawn_on(db, vec![]).await,
        rows,
    }
}

impl Fixture {
    /// Ids of the rows that pass `keep`, newest first, arrival order breaking ties.
    fn expected(&self, keep: impl Fn(&LogRecord) -> bool) -> Vec<i64> {
        let mut rows: Vec<(i64, i64)> = self
            .rows
            .iter()
            .map(|(id, line)| (id, parse_line(line).unwrap()))
            .filter(|(_, r)| keep(r))
            .map(|(id, r)| (r.date, *id))
            .collect();
        rows.sort_by(|a, b| b.cmp(a));
        rows.into_iter().map(|(_, id)| id).collect()
    }

    /// The ids `/logs?{query}` lists on one page of the largest size.
    async fn ids(&self, query: &str) -> Vec<i64> {
        let reply = self.app.get(&format!("/logs?limit=10000&{query}")).await;
        assert_eq!(reply.status, 200, "{query}: {}", reply.body);
        ids(reply.body.as_array().unwrap())
    }
}

const JULY_5: i64 = 962_755_200;
const JULY_20: i64 = 964_051_200;

#[actix_rt::test]
async fn each_filter_and_their_combinations() {
    let f = fixture("src:1").await;
    type Keep = Box<dyn Fn(&LogRecord) -> bool>;
    let cases: Vec<(&str, Keep)> = vec![
        ("", Box::new(|_| true)),
        ("code=500", Box::new(|r| r.code == 500)),
        ("method=post", Box::new(|r| r.method == "POST")),
        ("method=GET", Box::new(|r| r.method == "GET")),
        ("user=tie", Box::new(|r| r.user == Some("tie"))),
        (
            "code=403&method=put",
            Box::new(|r| r.code == 403 && r.method == "PUT"),
        ),
        (
            "code=500&user=tie&method=post",
            Box::new(|r| r.code == 500 && r.user == Some("tie") && r.method == "POST"),
        ),
        (
            "since=2000-07-05&until=2000-07-20",
            Box::new(|r| (JULY_5..JULY_20).contains(&r.date)),
        ),
        (
            "code=200&since=2000-07-05T00:00:00Z",
            Box::new(|r| r.code == 200 && r.date >= JULY_5),
        ),
        (
            "code=200&method=get&until=2000-07-20T00:00:00%2B00:00",
            Box::new(|r| r.code == 200 && r.method == "GET" && r.date < JULY_20),
        ),
        ("user=nobody", Box::new(|_| false)),
        ("user=-", Box::new(|r| r.user.is_none())),
        // Several values: ORed within a parameter, parameters ANDed.
        ("code=500,403", Box::new(|r| [500, 403].contains(&r.code))),
        (
            "code=500&code=304",
            Box::new(|r| [500, 304].contains(&r.code)),
        ),
        ("code=5xx", Box::new(|r| (500..600).contains(&r.code))),
        ("code=3XX,4xx", Box::new(|r| (300..500).contains(&r.code))),
        (
            "code=2xx,500",
            Box::new(|r| (200..300).contains(&r.code) || r.code == 500),
        ),
        ("method=get,post", Box::new(|r| r.method != "PUT")),
        (
            "user=tie&user=-&user=nobody",
            Box::new(|r| r.user.is_none() || r.user == Some("tie")),
        ),
        (
            "code=5xx&method=put,post&since=2000-07-05",
            Box::new(|r| r.code >= 500 && r.method != "GET" && r.date >= JULY_5),
        ),
    ];
    for (query, keep) in cases {
        let expected = f.expected(keep);
        assert_eq!(f.ids(query).await, expected, "{query}");
        assert_eq!(
            f.app.count(query).await,
            expected.len() as i64,
            "count {query}"
        );
    }
}

#[actix_rt::test]
async fn equal_dates_come_in_descending_arrival_order() {
    let f = fixture("src:1").await;
    let ids = f.ids("user=tie").await;
    assert_eq!(ids, vec![706, 705, 704, 703, 702, 701]);
    // Across formats too: the CLF line (08:00 at +0200) and the Combined line share that instant.
    let all = f
        .ids("since=2000-07-15T06:00:00Z&until=2000-07-15T06:00:01Z")
        .await;
    assert_eq!(&all[..8], &[708, 707, 706, 705, 704, 703, 702, 701]);
}

#[actix_rt::test]
async fn paging_through_every_page_returns_the_unpaged_set_in_either_order() {
    let f = fixture("src:1").await;
    for query in [
        "",
        "code=200",
        "method=put&since=2000-07-10",
        "code=5xx,304&user=tie&user=-",
    ] {
        let everything = f.ids(query).await;
        let (rows, pages) = f.app.all_pages(&format!("/logs?limit=37&{query}")).await;
        assert_eq!(ids(&rows), everything, "{query}");
        assert_eq!(pages, everything.len().div_ceil(37).max(1), "{query}");
        // Oldest first: the same rows, the other way round (equal dates by arrival too).
        let mut oldest_first = everything.clone();
        oldest_first.reverse();
        assert_eq!(
            f.ids(&format!("order=asc&{query}")).await,
            oldest_first,
            "{query}"
        );
        let (rows, _) = f
            .app
            .all_pages(&format!("/logs?limit=37&order=asc&{query}"))
            .await;
        assert_eq!(ids(&rows), oldest_first, "asc {query}");
    }
}

/// The cursor of the first page of `/logs?limit=1&{query}` (the data has more than one row).
async fn first_page_cursor(app: &TestApp, query: &str) -> String {
    let next = app.get(&format!("/logs?limit=1&{query}")).await.next;
    let next = next.unwrap_or_else(|| panic!("a second page for {query:?}"));
    let (_, cursor) = next.split_once("cursor=").expect("a cursor in the link");
    cursor.split('&').next().unwrap().to_owned()
}

#[actix_rt::test]
async fn a_cursor_keeps_its_order_and_filters_but_not_its_limit_or_format() {
    let f = fixture("src:1").await;
    let cursor = first_page_cursor(&f.app, "code=200,500&method=get").await;
    for (query, status) in [
        // The same filters, written otherwise: the same listing.
        ("method=GET&code=500&code=200", 200),
        ("code=200,500&method=get&limit=5&format=lines", 200),
        ("code=200&method=get", 400),
        ("code=200,500&method=get&user=tie", 400),
        ("code=200,500&method=get&order=asc", 400),
        ("code=200,500&method=get&since=2000-07-01", 400),
    ] {
        let reply = f.app.get(&format!("/logs?{query}&cursor={cursor}")).await;
        assert_eq!(reply.status, status, "{query}: {}", reply.body);
        if status == 400 {
            assert_eq!(reply.body["parameter"], "cursor", "{query}");
        }
    }
}

#[actix_rt::test]
async fn default_limit_is_one_hundred_with_a_next_link() {
    let f = fixture("src:1").await;
    let reply = f.app.get("/logs").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.as_array().unwrap().len(), 100);
    let next = reply.next.expect("a Link header with rel=\"next\"");
    assert!(next.starts_with(&f.app.url("/logs?")), "{next}");
    assert!(next.contains("cursor="), "{next}");

    // The link is relative: forwarded headers, which any client may write, cannot point a
    // client that follows it (and sends its token) at another host.
    for (name, value) in [
        ("X-Forwarded-Host", "evil.example"),
        ("Forwarded", "host=evil.example;proto=https"),
    ] {
        let response = awc::Client::default()
            .get(f.app.url("/logs?limit=1"))
            .insert_header((name, value))
            .send()
            .await
            .unwrap();
        let link = response.headers().get("link").unwrap().to_str().unwrap();
        assert!(link.starts_with("</logs?limit=1&cursor="), "{link}");
        assert!(!link.contains("evil"), "{link}");
    }
}

#[actix_rt::test]
async fn objects_carry_every_field() {
    let f = fixture("src:9").await;
    let body = f.app.get("/logs?user=frank").await.body;
    let combined = &body[0];
    assert_eq!(combined["id"], 708);
    assert_eq!(combined["source"], "src:9");
    assert_eq!(combined["ip"], "10.3.3.3");
    assert_eq!(combined["user"], "frank");
    assert_eq!(combined["date"], "2000-07-15T06:00:00Z");
    assert_eq!(combined["method"], "GET");
    assert_eq!(combined["url"], "/combined");
    assert_eq!(combined["protocol"], "HTTP/1.1");
    assert_eq!(combined["code"], 200);
    assert_eq!(combined["size"], 10);
    assert_eq!(combined["referer"], "http://ref/");
    assert_eq!(combined["user_agent"], "agent/1.0");
    assert_eq!(combined["line"], f.rows[707].1.as_str());

    let body = f.app.get("/logs?code=304").await.body;
    let clf = &body[0];
    assert_eq!(clf["user"], Value::Null);
    assert_eq!(clf["size"], Value::Null);
    assert_eq!(clf["date"], "2000-07-15T06:00:00Z", "offset applied");
}

#[actix_rt::test]
async fn format_lines_returns_the_original_lines() {
    let f = fixture("src:1").await;
    let reply = f.app.get("/logs?format=lines&code=500&limit=10000").await;
    assert_eq!(reply.status, 200);
    let expected: Vec<Value> = f
        .expected(|r| r.code == 500)
        .into_iter()
        .map(|id| Value::String(f.rows[id as usize - 1].1.clone()))
        .collect();
    assert_eq!(reply.body, Value::Array(expected));
}

#[actix_rt::test]
async fn bad_requests_get_400_naming_the_parameter() {
    let f = fixture("src:1").await;
    for (query, parameter) in [
        ("/logs?code=abc", "code"),
        ("/logs?code=1000", "code"),
        ("/logs?method=G%20T", "method"),
        ("/logs?limit=0", "limit"),
        ("/logs?limit=99999", "limit"),
        ("/logs?cursor=garbage", "cursor"),
        ("/logs?format=xml", "format"),
        ("/logs?since=tomorrow", "since"),
        ("/logs?sort=asc", "sort"),
        ("/logs?code=5xx,", "code"),
        ("/logs?code=7xx", "code"),
        ("/logs?since=2000-07-01&since=2000-07-02", "since"),
        ("/logs/count?limit=3", "limit"),
        ("/logs/count?user=", "user"),
    ] {
        let Reply { status, body, .. } = f.app.get(query).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["parameter"], parameter, "{query}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(parameter),
            "{query}: {body}"
        );
    }
}

#[actix_rt::test]
async fn unknown_paths_get_a_json_404() {
    let f = fixture("src:1").await;
    let reply = f.app.get("/nothing/here").await;
    assert_eq!(reply.status, 404);
    assert!(reply.body["error"]
        .as_str()
        .unwrap()
        .contains("/nothing/here"));
}

#[actix_rt::test]
async fn health_and_sources() {
    let f = fixture("src:1").await;
    let reply = f.app.get("/healthz").await;
    assert_eq!(
        (reply.status, reply.body["status"].as_str()),
        (200, Some("ok"))
    );
    assert_eq!(
        f.app.sources().await,
        Vec::<Value>::new(),
        "this service was started with no sources"
    );
}

#[actix_rt::test]
async fn rejected_lines_are_listed_newest_first_with_reasons_and_pages() {
    let db = temp_db();
    let mut entries: Vec<Entry> = (0..5)
        .map(|i| Entry::from_line(&format!("garbage {i}")))
        .collect();
    entries.push(Entry::from_line(common::fixture_lines()[0]));
    entries.push(Entry::rejected(
        b"caf\xe9".to_vec(),
        "invalid UTF-8 at byte 3",
    ));
    // One batch, as the writer would get it from one source.
    store_entries(&db, "bad:1", &entries[..]);
    let app = TestApp::spawn_on(db, vec![]).await;

    let (seen, pages) = app.all_pages("/rejected?limit=4").await;
    assert_eq!(pages, 2);
    let lines: Vec<&str> = seen.iter().map(|r| r["line"].as_str().unwrap()).collect();
    assert_eq!(
        lines,
        vec![
            "caf\u{fffd}",
            "garbage 4",
            "garbage 3",
            "garbage 2",
            "garbage 1",
            "garbage 0"
        ]
    );
    assert_eq!(seen[0]["reason"], "invalid UTF-8 at byte 3");
    assert!(seen[1]["reason"]
        .as_str()
        .unwrap()
        .contains("does not match"));
    assert!(seen.iter().all(|r| r["source"] == "bad:1"));

    let reply = app.get("/rejected?code=500").await;
    assert_eq!(
        (reply.status, reply.body["parameter"].as_str()),
        (400, Some("code"))
    );
    // A /logs cursor is not a /rejected cursor.
    assert!(
        app.get("/logs?limit=1").await.next.is_none(),
        "only one parsed line"
    );
    use loggerator::http::cursor;
    let logs_cursor = cursor::encode_position(cursor::Position {
        order: Default::default(),
        key: loggerator::db::read::log_query::Key { date: 1, id: 2 },
        filters: cursor::filter_fingerprint(&Default::default()),
    });
    let reply = get(&app.url(&format!("/rejected?cursor={logs_cursor}"))).await;
    assert_eq!(
        (reply.status, reply.body["parameter"].as_str()),
        (400, Some("cursor"))
    );
}

#[actix_rt::test]
async fn filters_on_what_only_the_line_holds_source_ip_path_and_text() {
    let db = temp_db();
    let first = dataset();
    let second: Vec<String> = vec![
        r#"2001:db8::1 - ann [16/Jul/2000:10:00:00 +0000] "GET /photos/1?size=big HTTP/1.1" 200 5 "https://ref/a,b" "agent, with commas""#.to_owned(),
        r#"2001:db8:0:1::7 - - [16/Jul/2000:10:00:01 +0000] "POST /posts/2 HTTP/1.1" 500 6 "-" "curl/8""#.to_owned(),
        r#"::1 - bob [16/Jul/2000:10:00:02 +0000] "PUT /photosynthesis HTTP/1.1" 403 7 "-" "curl/8""#.to_owned(),
        r#"10.9.8.7 - bob [16/Jul/2000:10:00:03 +0000] "GET /photos/3 HTTP/1.1" 200 8"#.to_owned(),
    ];
    store_lines(&db, "src:1", &first);
    store_lines(&db, "src:2", &second);
    let app = TestApp::spawn_on(db, vec![]).await;
    let rows: Vec<(i64, &str, &String)> = first
        .iter()
        .map(|l| ("src:1", l))
        .chain(second.iter().map(|l| ("src:2", l)))
        .enumerate()
        .map(|(i, (source, line))| (i as i64 + 1, source, line))
        .collect();
    let in_net = |ip: &str, net: &str| {
        let net: ipnet::IpNet = net.parse().unwrap();
        ip.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| net.contains(&ip))
    };
    type Keep<'a> = Box<dyn Fn(&str, &LogRecord, &str) -> bool + 'a>;
    let cases: Vec<(&str, Keep)> = vec![
        ("source=src:2", Box::new(|s, _, _| s == "src:2")),
        ("source=2", Box::new(|s, _, _| s == "src:2")),
        ("source=1,src:2", Box::new(|_, _, _| true)),
        ("source=nowhere:1", Box::new(|_, _, _| false)),
        ("ip=10.9.8.7", Box::new(|_, r, _| r.ip == "10.9.8.7")),
        (
            "ip=10.0.0.0/8",
            Box::new(move |_, r, _| in_net(r.ip, "10.0.0.0/8")),
        ),
        (
            "ip=2001:db8::/32",
            Box::new(move |_, r, _| in_net(r.ip, "2001:db8::/32")),
        ),
        (
            "ip=::1,10.3.3.3",
            Box::new(|_, r, _| r.ip == "::1" || r.ip == "10.3.3.3"),
        ),
        (
            "path=/photos/",
            Box::new(|_, r, _| r.url.starts_with("/photos/")),
        ),
        (
            "path=/photos",
            Box::new(|_, r, _| r.url.starts_with("/photos")),
        ),
        (
            "path=/tie/&path=/clf",
            Box::new(|_, r, _| r.url.starts_with("/tie/") || r.url == "/clf"),
        ),
        (
            "q=agent,%20with",
            Box::new(|_, _, l| l.contains("agent, with")),
        ),
        (
            "q=POST&q=curl",
            Box::new(|_, _, l| l.contains("POST") || l.contains("curl")),
        ),
        ("q=post", Box::new(|_, _, l| l.contains("post"))),
        (
            "code=2xx&ip=2001:db8::/32,10.0.0.0/8&q=GET&source=src:2",
            Box::new(move |s, r, l| {
                s == "src:2"
                    && (200..300).contains(&r.code)
                    && (in_net(r.ip, "2001:db8::/32") || in_net(r.ip, "10.0.0.0/8"))
                    && l.contains("GET")
            }),
        ),
    ];
    for (query, keep) in cases {
        let mut expected: Vec<(i64, i64)> = rows
            .iter()
            .map(|(id, source, line)| (*id, *source, parse_line(line).unwrap(), line.as_str()))
            .filter(|(_, source, r, line)| keep(source, r, line))
            .map(|(id, _, r, _)| (r.date, id))
            .collect();
        expected.sort_by(|a, b| b.cmp(a));
        let expected: Vec<i64> = expected.into_iter().map(|(_, id)| id).collect();
        let (listed, _) = app.all_pages(&format!("/logs?limit=7&{query}")).await;
        assert_eq!(ids(&listed), expected, "{query}");
        assert_eq!(
            app.count(query).await,
            expected.len() as i64,
            "count {query}"
        );
    }
    app.stop().await;
}

#[actix_rt::test]
async fn exports_stream_every_match_in_order_in_each_format() {
    use common::app::get_text;
    let f = fixture("src:1").await;
    for query in [
        "",
        "code=5xx&method=post",
        "order=asc&user=tie&user=-",
        "q=GET",
    ] {
        let everything = f.ids(query).await;
        let url = |format: &str| f.app.url(&format!("/logs?format={format}&{query}"));

        let (status, content_type, body) = get_text(&url("ndjson"), &[]).await;
        assert_eq!(
            (status, content_type.as_str()),
            (200, "application/x-ndjson")
        );
        let rows: Vec<Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(ids(&rows), everything, "ndjson {query}");
        // The same objects as a page's.
        if let Some(first) = rows.first() {
            let page = f.app.get(&format!("/logs?limit=1&{query}")).await.body;
            assert_eq!(first, &page[0], "{query}");
        }

        let (status, content_type, body) = get_text(&url("csv"), &[]).await;
        assert_eq!(
            (status, content_type.as_str()),
            (200, "text/csv; charset=utf-8")
        );
        let mut reader = csv::Reader::from_reader(body.as_bytes());
        assert_eq!(reader.headers().unwrap().len(), 13);
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let csv_ids: Vec<i64> = records.iter().map(|r| r[0].parse().unwrap()).collect();
        assert_eq!(csv_ids, everything, "csv {query}");
        for record in &records {
            let id: usize = record[0].parse().unwrap();
            assert_eq!(
                &record[12],
                f.rows[id - 1].1.as_str(),
                "the line, quoted as needed"
            );
        }

        let (status, _, body) = get_text(&url("text"), &[]).await;
        assert_eq!(status, 200);
        let lines: Vec<&str> = body.lines().collect();
        let expected: Vec<&str> = everything
            .iter()
            .map(|id| f.rows[*id as usize - 1].1.as_str())
            .collect();
        assert_eq!(lines, expected, "text {query}");
    }

    // Asked for by the Accept header too.
    let (_, content_type, body) = get_text(
        &f.app.url("/logs?code=304"),
        &[("Accept", "application/x-ndjson")],
    )
    .await;
    assert_eq!(content_type, "application/x-ndjson");
    assert_eq!(body.lines().count(), 1);
    // ...unless it says NDJSON is not wanted (q=0) or JSON is preferred.
    for accept in [
        "application/x-ndjson;q=0",
        "application/x-ndjson;q=0.2, application/json",
    ] {
        let (status, content_type, _) =
            get_text(&f.app.url("/logs?code=304"), &[("Accept", accept)]).await;
        assert_eq!(
            (status, content_type.as_str()),
            (200, "application/json"),
            "{accept}"
        );
    }

    // `limit` caps an export (with no page ceiling), and a page's cursor starts one.
    let everything = f.ids("").await;
    let (_, _, body) = get_text(&f.app.url("/logs?format=text&limit=5"), &[]).await;
    assert_eq!(body.lines().count(), 5);
    let (_, _, body) = get_text(&f.app.url("/logs?format=text&limit=20000"), &[]).await;
    assert_eq!(body.lines().count(), everything.len());
    let cursor = first_page_cursor(&f.app, "").await;
    let (_, _, body) = get_text(
        &f.app.url(&format!("/logs?format=ndjson&cursor={cursor}")),
        &[],
    )
    .await;
    let rows: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ids(&rows), everything[1..].to_vec());
    // A page keeps its ceiling.
    let reply = f.app.get("/logs/count?q=GET").await;
    assert_eq!(
        reply.status, 200,
        "a count on lines within the cap: {}",
        reply.body
    );
    let reply = f.app.get("/logs?limit=20000").await;
    assert_eq!(
        (reply.status, reply.body["parameter"].as_str()),
        (400, Some("limit"))
    );
}

#[actix_rt::test]
async fn csv_shows_formula_like_cells_as_text_unless_told_to_keep_them() {
    let db = temp_db();
    // What a hostile client can put in a log: a user, a referer and a user agent that a
    // spreadsheet would run.
    let line = r#"10.0.0.1 - =cmd|x!A0 [09/May/2018:16:00:39 +0000] "GET /a HTTP/1.1" 200 12 "@SUM(1+1)*cmd|' /C calc'!A0" "+HYPERLINK(1)""#;
    let absent = r#"10.0.0.2 - - [09/May/2018:16:00:40 +0000] "GET /b HTTP/1.1" 200 12 "-" "-""#;
    store_lines(&db, "src:1", &[line.to_owned(), absent.to_owned()]);
    let app = TestApp::spawn_on(db, vec![]).await;
    let csv = |query: &'static str| {
        let url = app.url(query);
        async move { common::app::get_text(&url, &[]).await.2 }
    };
    let neutral = csv("/logs?format=csv&order=asc").await;
    let row = neutral.lines().nth(1).unwrap();
    assert!(row.contains(",'=cmd|x!A0,"), "{row}");
    assert!(row.contains(",'@SUM(1+1)*cmd|' /C calc'!A0,"), "{row}");
    assert!(row.contains(",'+HYPERLINK(1),"), "{row}");
    // The line itself starts with its address: nothing to neutralise.
    assert!(
        row.ends_with(&format!("\"{}\"", line.replace('"', "\"\""))),
        "{row}"
    );
    // "-" is the log's "absent": an empty cell, like an absent user or size.
    let absent_row = neutral.lines().nth(2).unwrap();
    assert!(absent_row.contains(",10.0.0.2,,2018-"), "{absent_row}");
    assert!(absent_row.contains(",200,12,,,"), "{absent_row}");
    assert!(!absent_row.contains("'-"), "{absent_row}");

    let kept = csv("/logs?format=csv&order=asc&formulas=keep").await;
    assert!(
        kept.lines().nth(1).unwrap().contains(",=cmd|x!A0,"),
        "{kept}"
    );
    // NDJSON and text stay byte-exact.
    let text = csv("/logs?format=text&order=asc").await;
    assert_eq!(text, format!("{line}\n{absent}\n"));
    let ndjson = csv("/logs?format=ndjson&order=asc").await;
    assert!(ndjson.contains(r#""user":"=cmd|x!A0""#), "{ndjson}");
    // In JSON, absent fields are null.
    let absent_json: Value = serde_json::from_str(ndjson.lines().nth(1).unwrap()).unwrap();
    for field in ["user", "referer", "user_agent"] {
        assert_eq!(absent_json[field], Value::Null, "{field}: {absent_json}");
    }
    // The choice is the CSV's alone.
    let reply = app.get("/logs?formulas=keep").await;
    assert_eq!(
        (reply.status, reply.body["parameter"].as_str()),
        (400, Some("formulas"))
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_query_that_would_read_too_much_is_refused_naming_what_made_it_read() {
    let db = temp_db();
    let mut generator = LineGenerator::new(5);
    let lines: Vec<String> = (0..50).map(|_| generator.next_line()).collect();
    store_lines(&db, "src:1", &lines);
    // The count tables say how much a query would read: make them say "a million lines".
    {
        use diesel::connection::SimpleConnection;
        let mut conn = loggerator::db::connection::open_writer(&db.path).unwrap();
        conn.batch_execute("UPDATE key_counts SET n = n + 1000000")
            .unwrap();
    }
    let app = TestApp::spawn_on(db, vec![]).await;
    for (query, parameter, reads) in [
        (
            "/logs/count?q=GET",
            "q",
            "counting with path or q reads every line",
        ),
        (
            "/stats?by=path",
            "by",
            "grouping by path, referer or user_agent",
        ),
        (
            "/stats?by=code&path=/a",
            "path",
            "grouping by path, referer or user_agent",
        ),
        ("/stats?by=ip", "by", "grouping by ip"),
        ("/stats?by=time&interval=15m", "interval", "grouping by ip"),
        (
            "/stats?by=time,user&interval=1h",
            "interval",
            "grouping by ip",
        ),
    ] {
        let reply = app.get(query).await;
        assert_eq!(reply.status, 400, "{query}: {:?}", reply.body);
        assert_eq!(reply.body["code"], "bad_parameter", "{query}");
        assert_eq!(reply.body["parameter"], parameter, "{query}");
        let error = reply.body["error"].as_str().unwrap();
        assert!(error.starts_with(reads), "{query}: {error}");
        assert!(
            error.contains("would read more than 500000 lines")
                || error.contains("would read more than 2000000 keys"),
            "{query}: {error}"
        );
    }
    // Without a filter on lines, the count comes from the tables and is answered; so is a
    // breakdown by time in buckets the count tables hold.
    assert_eq!(app.get("/logs/count").await.status, 200);
    assert_eq!(app.get("/stats?by=time&interval=6h").await.status, 200);
    app.stop().await;
}
