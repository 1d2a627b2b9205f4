//! What clients and operators hand the service, generated (proptest): query strings for every
//! endpoint's parameter parser, cursors, and tokens files. None of it panics; every refusal is a
//! 400 naming a parameter (or a line of the file); and what is well formed comes back whole.
//! Kept apart from tests that use actix's test macros, which break proptest's `#[test]`.

use actix_web::ResponseError;
use loggerator::http::cursor;
use loggerator::http::error::ApiError;
use loggerator::http::params::{
    count_params, list_params, push_params, rejected_params, sources_params, stats_params,
    tail_params,
};
use loggerator::tokens::{new_token, sha256_hex, Scope, Tokens, TokensError};
use proptest::prelude::*;

/// Names the parsers know, some they do not, and spellings of both.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "code",
            "method",
            "user",
            "source",
            "ip",
            "path",
            "q",
            "since",
            "until",
            "limit",
            "cursor",
            "format",
            "order",
            "formulas",
            "by",
            "interval",
            "last_event_id",
            "access_token",
            "c%6Fde",
            "li%6dit",
            "",
            "x",
            "%FF",
            "a+b",
        ])
        .prop_map(str::to_owned),
        "[a-z_%0-9+]{0,12}",
    ]
}

/// Values of every shape: plausible ones, numbers at the edges, encodings, junk.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "500",
            "5xx",
            "500,503",
            "GET",
            "get,post",
            "-",
            "2000-07-12",
            "2000-07-12T05:00:00Z",
            "10.0.0.0/8",
            "::1/128",
            "0",
            "-1",
            "10000",
            "10001",
            "9223372036854775807",
            "99999999999999999999",
            "csv",
            "ndjson",
            "keep",
            "asc",
            "code",
            "hour,class",
            "time,class",
            "15m",
            "367d",
            "%FF",
            "%",
            "%2",
            "a%20b",
            "+",
            "",
            ",",
            "a,,b",
            "AQID",
            "_-_-",
            "////",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,24}",
        any::<i64>().prop_map(|n| n.to_string()),
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop::collection::vec((name(), value()), 0..8).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// A refusal is a 400 that names what was wrong.
fn refused_well(error: ApiError) -> Result<(), TestCaseError> {
    prop_assert_eq!(error.status_code().as_u16(), 400, "{}", error);
    match error {
        ApiError::BadParameter { parameter, message } => {
            prop_assert!(!parameter.is_empty() && !message.is_empty());
        }
        other => prop_assert!(false, "not a bad parameter: {other:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn every_parameter_parser_answers_any_query_without_panicking(query in query()) {
        let results = [
            list_params(&query, None).err(),
            list_params(&query, Some("application/x-ndjson")).err(),
            count_params(&query).err(),
            stats_params(&query).err(),
            tail_params(&query, None).err(),
            tail_params(&query, Some(&query)).err(),
            push_params(&query).err(),
            rejected_params(&query).err(),
            sources_params(&query).err(),
        ];
        for error in results.into_iter().flatten() {
            refused_well(error)?;
        }
    }

    #[test]
    fn a_page_limit_is_taken_exactly_when_it_is_in_range(limit in any::<i64>()) {
        let parsed = rejected_params(&format!("limit={limit}"));
        prop_assert_eq!(parsed.is_ok(), (1..=10_000).contains(&limit));
        if let Ok(params) = parsed {
            prop_assert_eq!(params.limit, limit);
        }
    }

    #[test]
    fn cursors_come_back_as_encoded_and_anything_else_never_panics(
        ids in prop::collection::vec(any::<i64>(), 1..=1),
        pair in (any::<i64>(), any::<i64>()),
        text in "[ -~]{0,64}",
    ) {
        prop_assert_eq!(cursor::decode::<1>(&cursor::encode(&ids)), Some([ids[0]]));
        prop_assert_eq!(cursor::decode::<2>(&cursor::encode(&[pair.0, pair.1])), Some([pair.0, pair.1]));
        // Another length is not this cursor.
        prop_assert_eq!(cursor::decode::<2>(&cursor::encode(&ids)), None);
        let _ = cursor::decode::<1>(&text);
        let _ = cursor::decode::<3>(&text);
        let _ = cursor::decode_position(&text);
        // A forged cursor is refused as a parameter, not with a panic or a 500.
        if let Err(error) = rejected_params(&format!("cursor={text}")) {
            refused_well(error)?;
        }
    }

    #[test]
    fn a_tokens_file_of_any_text_is_read_or_refused_naming_a_line(text in "(([ -~]{0,40})\n){0,6}") {
        match Tokens::parse(&text, "tokens.txt") {
            Ok(_) => {}
            Err(TokensError::Line { line, reason, .. }) => {
                prop_assert!(line >= 1 && line <= text.lines().count(), "{line}");
                prop_assert!(!reason.is_empty());
            }
            Err(other) => prop_assert!(false, "{other}"),
        }
    }

    #[test]
    fn every_token_of_a_well_formed_file_is_found_with_its_scopes_and_sources(
        tokens in prop::collection::vec(
            (
                prop::sample::subsequence(vec![Scope::Read, Scope::Ingest, Scope::Metrics, Scope::Admin], 1..=4),
                prop::option::of(prop::collection::vec("[a-z0-9.-]{1,8}\\*?", 1..4)),
            ),
            1..6,
        ),
    ) {
        let mut file = String::from("# generated\n");
        let mut made = Vec::new();
        for (i, (scopes, sources)) in tokens.iter().enumerate() {
            let (token, line) = new_token(&format!("t{i}"), scopes);
            let bound = sources.as_ref().map(|s| format!(" sources={}", s.join(","))).unwrap_or_default();
            file.push_str(&format!("{line}{bound}   # token {i}\n\n"));
            made.push((token, scopes.clone(), sources.clone()));
        }
        let parsed = Tokens::parse(&file, "tokens.txt").unwrap();
        prop_assert_eq!(parsed.len(), made.len());
        for (token, scopes, sources) in made {
            let entry = parsed.find(&token).unwrap();
            for scope in scopes {
                prop_assert!(entry.allows(scope));
            }
            if let Some(sources) = sources {
                for source in sources {
                    // A name is allowed as written; a prefix, with anything after it.
                    let pushed = match source.strip_suffix('*') {
                        Some(prefix) => format!("{prefix}x"),
                        None => source.clone(),
                    };
                    let allowed = entry.may_push_to(&pushed);
                    prop_assert!(allowed, "{}", pushed);
                }
            }
            prop_assert!(parsed.find(&sha256_hex(&token)).is_none(), "a hash is not a token");
        }
    }
}
