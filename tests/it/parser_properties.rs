//! The parser against generated lines (proptest): valid lines of every shape it accepts give
//! back exactly the fields they were made from, and mutated lines never panic and are refused
//! or accepted as the reference pattern says. Kept apart from tests that use actix's test
//! macros, which break proptest's `#[test]`.

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use loggerator::parse::{parse_line, ParseError};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

/// The fields a line is made from: the oracle the parser's output is compared with.
#[derive(Debug, Clone)]
struct Fields {
    ip: String,
    user: Option<String>,
    at: DateTime<FixedOffset>,
    /// Loggerator's ` ` between date and time, or CLF's `:`.
    clf_date: bool,
    method: String,
    url: String,
    protocol: String,
    code: i32,
    size: Option<i64>,
    agent: Option<(String, String)>,
}

impl Fields {
    fn line(&self) -> String {
        let date = if self.clf_date {
            self.at.format("%d/%b/%Y:%H:%M:%S %z")
        } else {
            self.at.format("%d/%b/%Y %H:%M:%S %z")
        };
        let mut line = format!(
            "{} - {} [{date}] \"{} {} {}\" {} {}",
            self.ip,
            self.user.as_deref().unwrap_or("-"),
            self.method,
            self.url,
            self.protocol,
            self.code,
            self.size.map_or("-".to_owned(), |s| s.to_string()),
        );
        if let Some((referer, agent)) = &self.agent {
            line.push_str(&format!(" \"{referer}\" \"{agent}\""));
        }
        line
    }
}

fn word() -> impl Strategy<Value = String> {
    "[a-z0-9_.]{1,12}"
}

/// Text of a quoted field: anything printable but `"` and `\`, which would need escaping.
fn quoted_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 /:;.,()=?&_-]{0,40}"
}

fn fields() -> impl Strategy<Value = Fields> {
    let date = (
        1990i32..2030,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
    );
    let offset = (-23i32..=23, prop_oneof![Just(0), Just(30), Just(45)]);
    (
        (
            any::<[u8; 4]>(),
            prop::option::of(word()),
            date,
            offset,
            any::<bool>(),
        ),
        (
            "[A-Za-z]{1,7}",
            "/[a-zA-Z0-9/._-]{0,30}",
            prop_oneof![Just("HTTP/1.0"), Just("HTTP/1.1"), Just("HTTP/2.0")],
            100i32..=599,
            prop::option::of(0i64..1_000_000_000),
            prop::option::of((quoted_text(), quoted_text())),
        ),
    )
        .prop_map(|((ip, user, date, offset, clf_date), request)| {
            let (year, month, day, hour, minute, second) = date;
            let (hours, minutes) = offset;
            let seconds = hours.signum() * (hours.abs() * 3600 + minutes * 60);
            let zone = FixedOffset::east_opt(seconds).unwrap();
            let local = NaiveDate::from_ymd_opt(year, month, day)
                .unwrap()
                .and_hms_opt(hour, minute, second)
                .unwrap();
            let (method, url, protocol, code, size, agent) = request;
            Fields {
                ip: std::net::Ipv4Addr::from(ip).to_string(),
                // `-` means no user: a generated user is never just that.
                user,
                at: zone.from_local_datetime(&local).unwrap(),
                clf_date,
                method,
                url,
                protocol: protocol.to_owned(),
                code,
                size,
                agent,
            }
        })
}

/// The pattern the parser was first written as (`tests/it/parser.rs` has the same).
fn reference_pattern() -> regex::Regex {
    regex::Regex::new(concat!(
        r#"^(\S+) \S+ (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-)"#,
        r#"(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?$"#,
    ))
    .unwrap()
}

proptest! {
    // A fixed seed: a failure in CI is the same failure on a developer's machine.
    #![proptest_config(ProptestConfig {
        rng_seed: RngSeed::Fixed(20_261_128),
        ..ProptestConfig::with_cases(2_000)
    })]

    #[test]
    fn valid_lines_give_back_the_fields_they_were_made_from(f in fields()) {
        let line = f.line();
        let r = parse_line(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        prop_assert_eq!(r.ip, f.ip.as_str());
        prop_assert_eq!(r.user, f.user.as_deref());
        prop_assert_eq!(r.date, f.at.timestamp(), "{}", line);
        let method = f.method.to_ascii_uppercase();
        prop_assert_eq!(r.method.as_ref(), method.as_str());
        prop_assert_eq!(r.url, f.url.as_str());
        prop_assert_eq!(r.protocol, f.protocol.as_str());
        prop_assert_eq!(r.code, f.code);
        prop_assert_eq!(r.size, f.size);
        // `-` is the log's "none".
        let referer = f.agent.as_ref().map(|a| a.0.as_str()).filter(|t| *t != "-");
        let user_agent = f.agent.as_ref().map(|a| a.1.as_str()).filter(|t| *t != "-");
        prop_assert_eq!(r.referer, referer);
        prop_assert_eq!(r.user_agent, user_agent);
    }

    #[test]
    fn mutated_lines_never_panic_and_agree_with_the_reference_on_shape(
        f in fields(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<char>(), 0u8..3), 1..4),
    ) {
        let mut chars: Vec<char> = f.line().chars().collect();
        for (at, c, kind) in edits {
            let i = at.index(chars.len());
            match kind {
                0 => chars[i] = c,
                1 => chars.insert(i, c),
                _ => {
                    chars.remove(i);
                }
            }
            if chars.is_empty() {
                chars.push(c);
            }
        }
        let line: String = chars.into_iter().collect();
        // The parser reads one line: a line break is the framing's business.
        prop_assume!(!line.contains('\n'));
        let shape_ok = !matches!(parse_line(&line), Err(ParseError::Shape | ParseError::Empty));
        prop_assert_eq!(shape_ok, reference_pattern().is_match(line.trim_end()), "{:?}", line);
    }
}
