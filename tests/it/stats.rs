//! `GET /stats` against a plain GROUP BY over the stored lines, for every key, pairs of keys and
//! filters that take each path through storage: the count tables, whole days and hours with
//! edges, the keys (addresses) and the lines (paths, text).

use crate::common;

use common::app::TestApp;
use common::{fixture_lines, store_lines, temp_db};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use loggerator::db::read::stats_query::StatKey;
use loggerator::emulator::LineGenerator;
use loggerator::parse::{parse_line, LogRecord};
use serde_json::Value;

/// (source, line): generated lines, the real fixture's, and IPv6 and Combined lines.
fn dataset() -> Vec<(&'static str, String)> {
    let mut generator = LineGenerator::new(5);
    let mut rows: Vec<(&str, String)> =
        (0..600).map(|_| ("src:1", generator.next_line())).collect();
    rows.extend(fixture_lines().into_iter().map(|l| ("src:2", l.to_owned())));
    rows.extend(
        [
            r#"2001:db8::1 - ann [16/Jul/2000:10:00:00 +0000] "GET /photos/1?size=big HTTP/1.1" 200 5 "https://ref/a" "agent/2""#,
            r#"2001:db8:0:1::7 - - [16/Jul/2000:10:59:59 +0000] "POST /posts/2 HTTP/1.1" 500 6 "-" "curl/8""#,
            r#"::1 - bob [16/Jul/2000:11:00:00 +0000] "PUT /photos/2 HTTP/1.1" 403 - "-" "curl/8""#,
            r#"10.9.8.7 - bob [17/Jul/2000:00:00:00 +0000] "GET /photos/3 HTTP/1.1" 200 8"#,
        ]
        .map(|l| ("src:3", l.to_owned())),
    );
    rows
}

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Group {
    #[diesel(sql_type = Nullable<Text>)]
    k1: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    k2: Option<String>,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

/// The SQL of each key over the reference table, as the API writes its values; `time:15m`
/// stands for `by=time&interval=15m`.
fn expression(key: &str) -> String {
    if let Some(interval) = key.strip_prefix("time:") {
        let seconds = interval_seconds(interval);
        // The dataset's dates are all after 1970: integer division rounds them down.
        return format!(
            "strftime('%Y-%m-%dT%H:%M:%SZ', date / {seconds} * {seconds}, 'unixepoch')"
        );
    }
    match key {
        "code" => "CAST(code AS TEXT)",
        "class" => "(code / 100) || 'xx'",
        "method" => "method",
        "user" => "coalesce(user, '-')",
        "source" => "source",
        "ip" => "ip",
        "path" => "path",
        "referer" => "referer",
        "user_agent" => "user_agent",
        "day" => "strftime('%Y-%m-%d', date, 'unixepoch')",
        "hour" => "strftime('%Y-%m-%dT%H:00:00Z', date, 'unixepoch')",
        other => panic!("no key {other}"),
    }
    .to_owned()
}

fn interval_seconds(interval: &str) -> i64 {
    let (n, unit) = interval.split_at(interval.len() - 1);
    let unit = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        other => panic!("no unit {other}"),
    };
    n.parse::<i64>().unwrap() * unit
}

/// The query string of keys such as `["time:6h", "class"]`: `by=time,class&interval=6h`.
fn by_query(by: &[&str]) -> String {
    let names: Vec<&str> = by
        .iter()
        .map(|k| if k.starts_with("time:") { "time" } else { k })
        .collect();
    let mut query = format!("by={}", names.join(","));
    if let Some(interval) = by.iter().find_map(|k| k.strip_prefix("time:")) {
        query.push_str(&format!("&interval={interval}"));
    }
    query
}

/// A table of the lines that pass `keep`, one column per field.
fn reference(
    rows: &[(&str, String)],
    keep: &dyn Fn(&str, &LogRecord, &str) -> bool,
) -> SqliteConnection {
    let mut conn = SqliteConnection::establish(":memory:").unwrap();
    conn.batch_execute(
        "CREATE TABLE lines (source TEXT, ip TEXT, user TEXT, date INTEGER, method TEXT, \
         path TEXT, code INTEGER, size INTEGER, referer TEXT, user_agent TEXT)",
    )
    .unwrap();
    for (source, line) in rows {
        let r = parse_line(line).unwrap();
        if !keep(source, &r, line) {
            continue;
        }
        diesel::sql_query("INSERT INTO lines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind::<Text, _>(*source)
            .bind::<Text, _>(r.ip)
            .bind::<Nullable<Text>, _>(r.user)
            .bind::<BigInt, _>(r.date)
            .bind::<Text, _>(r.method.as_ref())
            .bind::<Text, _>(r.url.split('?').next().unwrap())
            .bind::<diesel::sql_types::Integer, _>(r.code)
            .bind::<BigInt, _>(r.size.unwrap_or(0))
            .bind::<Nullable<Text>, _>(r.referer)
            .bind::<Nullable<Text>, _>(r.user_agent)
            .execute(&mut conn)
            .unwrap();
    }
    conn
}

fn group_by(conn: &mut SqliteConnection, by: &[&str]) -> Vec<Group> {
    let k2 = by.get(1).map_or("NULL".to_owned(), |k| expression(k));
    let mut groups = diesel::sql_query(format!(
        "SELECT {} AS k1, {k2} AS k2, count(*) AS n, sum(size) AS bytes FROM lines GROUP BY 1, 2",
        expression(by[0])
    ))
    .load::<Group>(conn)
    .unwrap();
    groups.sort();
    groups
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `/stats` as groups, in the order the API gave them.
async fn stats(app: &TestApp, query: &str, two: bool) -> Vec<Group> {
    let reply = app.get(&format!("/stats?{query}")).await;
    assert_eq!(reply.status, 200, "{query}: {}", reply.body);
    reply
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let (k1, k2) = if two {
                let pair = g["key"].as_array().expect("two keys give an array");
                (text(&pair[0]), text(&pair[1]))
            } else {
                (text(&g["key"]), None)
            };
            Group {
                k1,
                k2,
                n: g["count"].as_i64().unwrap(),
                bytes: g["bytes"].as_i64().unwrap(),
            }
        })
        .collect()
}

/// Every key the API names; `time` as buckets read from the keys (15m, 90m), the hourly counts
/// (6h) and the daily ones (7d).
fn keys() -> Vec<&'static str> {
    StatKey::NAMES
        .into_iter()
        .filter(|key| *key != StatKey::TIME)
        .chain(["time:15m", "time:90m", "time:6h", "time:7d"])
        .collect()
}

#[actix_rt::test]
async fn every_key_and_filter_equals_a_group_by_over_the_stored_lines() {
    let db = temp_db();
    let rows = dataset();
    for source in ["src:1", "src:2", "src:3"] {
        let lines: Vec<String> = rows
            .iter()
            .filter(|(s, _)| *s == source)
            .map(|(_, l)| l.clone())
            .collect();
        store_lines(&db, source, &lines);
    }
    let app = TestApp::spawn_on(db, vec![]).await;
    let in_net = |ip: &str, net: &str| {
        let net: ipnet::IpNet = net.parse().unwrap();
        ip.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| net.contains(&ip))
    };
    // 5 July 05:30 to 20 July 13:15: whole days and hours, and parts of both at each end.
    let (since, until) = (962_775_000, 964_098_900);
    type Keep<'a> = Box<dyn Fn(&str, &LogRecord, &str) -> bool + 'a>;
    let cases: Vec<(&str, Keep)> = vec![
        ("", Box::new(|_, _, _| true)),
        (
            "code=5xx,404",
            Box::new(|_, r, _| r.code >= 500 || r.code == 404),
        ),
        (
            "method=get,put,post&user=-&user=bob",
            Box::new(|_, r, _| {
                ["GET", "PUT", "POST"].contains(&r.method.as_ref())
                    && (r.user.is_none() || r.user == Some("bob"))
            }),
        ),
        ("source=src:3&source=1", Box::new(|s, _, _| s != "src:2")),
        (
            "since=2000-07-05T05:30:00Z&until=2000-07-20T13:15:00Z",
            Box::new(move |_, r, _| (since..until).contains(&r.date)),
        ),
        (
            "code=2xx&since=2000-07-16T10:30:00Z",
            Box::new(|_, r, _| (200..300).contains(&r.code) && r.date >= 963_743_400),
        ),
        (
            "ip=2001:db8::/32,10.0.0.0/8",
            Box::new(move |_, r, _| in_net(r.ip, "2001:db8::/32") || in_net(r.ip, "10.0.0.0/8")),
        ),
        (
            "path=/photos/",
            Box::new(|_, r, _| r.url.starts_with("/photos/")),
        ),
        ("q=curl", Box::new(|_, _, l| l.contains("curl"))),
    ];
    let mut pairs: Vec<[&str; 2]> = vec![
        ["hour", "class"],
        ["day", "code"],
        ["user", "method"],
        ["source", "hour"],
        ["ip", "code"],
        ["path", "day"],
        ["time:6h", "class"],
        ["user", "time:15m"],
        ["time:7d", "method"],
    ];
    let keys = keys();
    pairs.extend(keys.iter().map(|k| [*k, "source"]).filter(|[a, b]| a != b));
    for (filter, keep) in &cases {
        let mut reference = reference(&rows, keep.as_ref());
        let mut checked = 0;
        for by in keys
            .iter()
            .map(|k| vec![*k])
            .chain(pairs.iter().map(|p| p.to_vec()))
        {
            let query = format!("{}&{filter}", by_query(&by));
            let mut given = stats(&app, &query, by.len() == 2).await;
            let expected = group_by(&mut reference, &by);
            // The API's order: by time for day and hour, else the largest counts first.
            let time = by
                .iter()
                .position(|k| *k == "day" || *k == "hour" || k.starts_with("time:"));
            for pair in given.windows(2) {
                let (a, b) = (&pair[0], &pair[1]);
                match time {
                    Some(0) => assert!(a.k1 <= b.k1, "{query}: {a:?} before {b:?}"),
                    Some(_) => assert!(a.k2 <= b.k2, "{query}: {a:?} before {b:?}"),
                    None => assert!(a.n >= b.n, "{query}: {a:?} before {b:?}"),
                }
            }
            given.sort();
            assert_eq!(given, expected, "{query}");
            checked += expected.len();
        }
        assert!(checked > 0, "{filter} selects lines");
    }
    app.stop().await;
}

#[actix_rt::test]
async fn limit_keeps_the_largest_groups_and_bad_requests_name_the_parameter() {
    let db = temp_db();
    let lines: Vec<String> = dataset().into_iter().map(|(_, l)| l).collect();
    store_lines(&db, "src:1", &lines);
    let app = TestApp::spawn_on(db, vec![]).await;
    let all = stats(&app, "by=user", false).await;
    let top = stats(&app, "by=user&limit=3", false).await;
    assert!(all.len() > 3);
    assert_eq!(top, all[..3]);
    for (query, parameter) in [
        ("", "by"),
        ("by=", "by"),
        ("by=nope", "by"),
        ("by=code,class,day", "by"),
        ("by=code,code", "by"),
        ("by=code&by=day", "by"),
        ("by=code&limit=0", "limit"),
        ("by=code&limit=100001", "limit"),
        ("by=code&code=6xx", "code"),
        ("by=code&ip=10.0.0.0/33", "ip"),
        ("by=code&since=2000-07-02&until=2000-07-01", "until"),
        ("by=code&order=asc", "order"),
        ("by=time", "interval"),
        ("by=code&interval=5m", "interval"),
        ("by=time&interval=5s", "interval"),
        ("by=time&interval=0m", "interval"),
        ("by=time&interval=367d", "interval"),
        ("by=time&interval=m", "interval"),
        ("by=time&interval=1h&interval=2h", "interval"),
    ] {
        let reply = app.get(&format!("/stats?{query}")).await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
        assert_eq!(
            reply.body["parameter"], parameter,
            "{query}: {}",
            reply.body
        );
        assert!(reply.body["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    app.stop().await;
}
