//! The parser on real loggerator lines, on Common and Combined Log Format, and on broken input.

use crate::common;

use chrono::DateTime;
use loggerator::parse::{parse_line, LogRecord, ParseError};
use rand::{Rng, SeedableRng};

fn utc(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp()
}

/// Writes a record back in loggerator's format, so a fixture line can be compared whole.
fn loggerator_format(r: &LogRecord) -> String {
    let date = DateTime::from_timestamp(r.date, 0).unwrap();
    format!(
        "{} - {} [{}] \"{} {} {}\" {} {}",
        r.ip,
        r.user.unwrap_or("-"),
        date.format("%d/%b/%Y %H:%M:%S +0000"),
        r.method,
        r.url,
        r.protocol,
        r.code,
        r.size.map_or("-".to_owned(), |s| s.to_string()),
    )
}

#[test]
fn every_fixture_line_parses_and_round_trips() {
    let lines = common::fixture_lines();
    assert_eq!(lines.len(), 60);
    for line in lines {
        let record = parse_line(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(loggerator_format(&record), line);
        assert_eq!(record.referer, None);
        assert_eq!(record.user_agent, None);
    }
}

#[test]
fn first_fixture_line_field_by_field() {
    let record = parse_line(common::fixture_lines()[0]).unwrap();
    assert_eq!(
        record,
        LogRecord {
            ip: "214.93.206.91",
            user: Some("jeremymorales"),
            date: utc("2000-07-12T05:11:41Z"),
            method: "POST".into(),
            url: "/photos/277",
            protocol: "HTTP/1.0",
            code: 200,
            size: Some(354),
            referer: None,
            user_agent: None,
        }
    );
}

#[test]
fn common_log_format_with_its_offset_applied() {
    let record = parse_line(
        r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#,
    )
    .unwrap();
    assert_eq!(record.ip, "127.0.0.1");
    assert_eq!(record.user, Some("frank"));
    assert_eq!(record.date, utc("2000-10-10T20:55:36Z"));
    assert_eq!(record.url, "/apache_pb.gif");
    assert_eq!((record.code, record.size), (200, Some(2326)));
}

#[test]
fn combined_log_format_keeps_referer_and_user_agent() {
    let record = parse_line(
        r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 +0200] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#,
    )
    .unwrap();
    assert_eq!(record.date, utc("2000-10-10T11:55:36Z"));
    assert_eq!(record.referer, Some("http://www.example.com/start.html"));
    assert_eq!(record.user_agent, Some("Mozilla/4.08 [en] (Win98; I ;Nav)"));
}

#[test]
fn escaped_quotes_inside_quoted_fields() {
    let record = parse_line(
        r#"10.0.0.1 - - [01/Jan/2020:00:00:00 +0000] "GET /a HTTP/1.1" 200 1 "-" "say \"hi\" agent""#,
    )
    .unwrap();
    // `-` is no referer, as `-` is no user.
    assert_eq!(record.referer, None);
    assert_eq!(record.user_agent, Some(r#"say \"hi\" agent"#));
}

#[test]
fn lowercase_method_is_upper_cased() {
    let record =
        parse_line(r#"1.2.3.4 - bob [12/Jul/2000 05:11:41 +0000] "post /x HTTP/1.0" 201 5"#)
            .unwrap();
    assert_eq!(record.method, "POST");
}

#[test]
fn one_digit_day() {
    let record =
        parse_line(r#"1.2.3.4 - bob [1/Jul/2016:10:00:00 +0000] "GET / HTTP/1.1" 200 5"#).unwrap();
    assert_eq!(record.date, utc("2016-07-01T10:00:00Z"));
}

#[test]
fn dash_user_and_dash_size_are_absent() {
    let record =
        parse_line(r#"1.2.3.4 - - [12/Jul/2000 05:11:41 +0000] "GET / HTTP/1.0" 304 -"#).unwrap();
    assert_eq!(record.user, None);
    assert_eq!(record.size, None);
}

#[test]
fn any_offset_is_stored_as_the_utc_instant() {
    for (offset, expected) in [
        ("+0000", "2000-07-12T05:11:41Z"),
        ("+0530", "2000-07-11T23:41:41Z"),
        ("-1000", "2000-07-12T15:11:41Z"),
    ] {
        let line =
            format!(r#"1.2.3.4 - bob [12/Jul/2000:05:11:41 {offset}] "GET / HTTP/1.0" 200 1"#);
        assert_eq!(parse_line(&line).unwrap().date, utc(expected), "{offset}");
    }
}

#[test]
fn trailing_carriage_return_is_tolerated() {
    let line = format!("{}\r", common::fixture_lines()[3]);
    assert_eq!(
        parse_line(&line).unwrap(),
        parse_line(common::fixture_lines()[3]).unwrap()
    );
}

/// The kind of a parse error, to compare without its text.
fn kind(error: &ParseError) -> &'static str {
    match error {
        ParseError::Empty => "empty",
        ParseError::Shape => "shape",
        ParseError::Date(_) => "date",
        ParseError::Request(_) => "request",
        ParseError::Code(_) => "code",
        ParseError::Size(_) => "size",
    }
}

#[test]
fn malformed_lines_are_refused_with_a_reason() {
    let cases: &[(&str, &[&str])] = &[
        ("empty", &["", "   "]),
        (
            "shape",
            &[
                "hello world",
                r#"1.2.3.4 - bob [12/Jul/2000 05:11:41 +0000] "GET / HTTP/1.0" 200"#,
                r#"1.2.3.4 - bob [12/Jul/2000 05:11:41 +0000 "GET / HTTP/1.0" 200 1"#,
                r#"1.2.3.4 - bob [12/Jul/2000 05:11:41 +0000] "GET / HTTP/1.0" 200 1 trailing"#,
            ],
        ),
        (
            "date",
            &[
                r#"1.2.3.4 - bob [32/Jul/2000 05:11:41 +0000] "GET / HTTP/1.0" 200 1"#,
                r#"1.2.3.4 - bob [30/Feb/2000 05:11:41 +0000] "GET / HTTP/1.0" 200 1"#,
                r#"1.2.3.4 - bob [12/Jux/2000 05:11:41 +0000] "GET / HTTP/1.0" 200 1"#,
                r#"1.2.3.4 - bob [12/Jul/2000 25:11:41 +0000] "GET / HTTP/1.0" 200 1"#,
                r#"1.2.3.4 - bob [12/Jul/2000 05:11:41 +0099] "GET / HTTP/1.0" 200 1"#,
                r#"1.2.3.4 - bob [12/Jul/2000 05:11:41] "GET / HTTP/1.0" 200 1"#,
            ],
        ),
        (
            "request",
            &[
                r#"1.2.3.4 - bob [12/Jul/2000 05:11:41 +0000] "-" 408 0"#,
                r#"1.2.3.4 - bob [12/Jul/2000 05:11:41 +0000] "GET /" 200 1"#,
                r#"1.2.3.4 - bob [12/Jul/2000 05:11:41 +0000] "G3T / HTTP/1.0" 200 1"#,
            ],
        ),
        (
            "code",
            &[r#"1.2.3.4 - bob [12/Jul/2000 05:11:41 +0000] "GET / HTTP/1.0" 999 1"#],
        ),
        (
            "size",
            &[
                r#"1.2.3.4 - bob [12/Jul/2000 05:11:41 +0000] "GET / HTTP/1.0" 200 99999999999999999999"#,
            ],
        ),
    ];
    for (expected, lines) in cases {
        for line in *lines {
            let error = parse_line(line).expect_err(line);
            assert_eq!(kind(&error), *expected, "{line:?} gave {error:?}");
            assert!(!error.to_string().is_empty());
        }
    }
}

#[test]
fn a_truncated_line_parses_only_where_it_is_a_whole_shorter_line() {
    let clf = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.0" 200 2"#;
    let combined = format!(r#"{clf} "r" "u""#);
    let accepted: Vec<&str> = (0..=combined.len())
        .map(|end| &combined[..end])
        .filter(|prefix| parse_line(prefix).is_ok())
        .collect();
    // The Common Log Format part (with the space after it, which is trimmed) and the whole.
    assert_eq!(accepted, vec![clf, &combined[..clf.len() + 1], &combined]);
}

#[test]
fn random_noise_is_refused_exactly_where_the_reference_pattern_refuses_it() {
    let pattern = reference_pattern();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let alphabet: Vec<char> = " -[]\"/:+0123456789abcJulGETHTP.\\é\u{0}".chars().collect();
    let mut refused = 0;
    for _ in 0..20_000 {
        let len = rng.gen_range(0..120);
        let noise: String = (0..len)
            .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
            .collect();
        let result = parse_line(&noise);
        let shape_ok = !matches!(result, Err(ParseError::Shape | ParseError::Empty));
        assert_eq!(shape_ok, pattern.is_match(noise.trim_end()), "{noise:?}");
        refused += usize::from(result.is_err());
    }
    assert!(refused > 19_000, "noise is almost never a log line");
}

/// The pattern the parser was first written as: the hand-written parser must accept exactly
/// the lines it matches (refusing some later for a bad date, request, code or size).
fn reference_pattern() -> regex::Regex {
    regex::Regex::new(concat!(
        r#"^(\S+) \S+ (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-)"#,
        r#"(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?$"#,
    ))
    .unwrap()
}

#[test]
fn accepts_the_same_shapes_as_the_reference_pattern_on_mutated_lines() {
    let pattern = reference_pattern();
    let seeds = [
        common::fixture_lines()[0].to_owned(),
        r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a b HTTP/1.0" 200 2326 "http://r/" "say \"hi\"""#.to_owned(),
        r#"10.0.0.1 - - [1/Jul/2016:10:00:00 +0000] "post /x HTTP/1.1" 404 -"#.to_owned(),
    ];
    let alphabet: Vec<char> = " -[]\"\\/:+0123456789aGT.é\t".chars().collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut disagreements = Vec::new();
    for _ in 0..30_000 {
        let mut chars: Vec<char> = seeds[rng.gen_range(0..seeds.len())].chars().collect();
        for _ in 0..rng.gen_range(1..4) {
            let at = rng.gen_range(0..chars.len());
            let c = alphabet[rng.gen_range(0..alphabet.len())];
            match rng.gen_range(0..3) {
                0 => chars[at] = c,
                1 => chars.insert(at, c),
                _ if chars.len() > 1 => {
                    chars.remove(at);
                }
                _ => {}
            }
        }
        let line: String = chars.into_iter().collect();
        let trimmed = line.trim_end();
        let shape_ok = !matches!(
            parse_line(&line),
            Err(ParseError::Shape | ParseError::Empty)
        );
        if shape_ok != pattern.is_match(trimmed) {
            disagreements.push(line);
        }
    }
    assert!(
        disagreements.is_empty(),
        "{:#?}",
        &disagreements[..disagreements.len().min(5)]
    );
}
