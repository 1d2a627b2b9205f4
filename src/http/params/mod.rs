//! The query strings of `/logs`, `/logs/count`, `/stats`, `/logs/stream`, `/ingest`,
//! `/rejected` and `/sources`, validated into typed values. Each parameter is declared once
//! (`declared.rs`), read by the kind of value it takes (`values.rs`), and put together here per
//! endpoint. Every refusal names the parameter at fault.

pub mod declared;
mod values;

use super::cursor;
use super::error::ApiError;
use crate::db::read::log_query::{Key, LogFilter, Order};
use crate::db::read::stats_query::StatKey;
use declared::{Query, Shape};
use values::Given;
pub use values::{part_name, MAX_INTERVAL};

pub use crate::limits::DEFAULT_LIMIT;
pub const MAX_LIMIT: i64 = 10_000;
/// Sources in a page of `/sources`.
pub const DEFAULT_SOURCES_LIMIT: i64 = 1_000;

/// Values one filter may take: each is bound once per segment of a query, and SQLite takes at
/// most 32,766 bound values and 1,000 levels of expression in one statement.
pub const MAX_FILTER_VALUES: usize = 64;

/// Groups `/stats` returns unless `limit` says otherwise: a month by hour and class (3,720).
pub const DEFAULT_STATS_LIMIT: usize = 10_000;
pub const MAX_STATS_LIMIT: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A page: an array of objects, one per row.
    Json,
    /// A page: an array of the original lines.
    Lines,
    /// Every match, streamed: one JSON object per line.
    Ndjson,
    /// Every match, streamed: a header row, then one row per line (RFC 4180).
    Csv,
    /// Every match, streamed: the original lines, one per line.
    Text,
}

impl Format {
    /// Whether the answer is every match, streamed, rather than a page.
    pub fn is_export(self) -> bool {
        matches!(self, Format::Ndjson | Format::Csv | Format::Text)
    }

    fn of(value: &str) -> Result<Format, ApiError> {
        Ok(match value {
            "json" => Format::Json,
            "lines" => Format::Lines,
            "ndjson" => Format::Ndjson,
            "csv" => Format::Csv,
            "text" => Format::Text,
            _ => {
                return Err(ApiError::bad(
                    "format",
                    format!("format must be json or lines (a page), or ndjson, csv or text (every match), not {value:?}"),
                ))
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    pub filter: LogFilter,
    /// Rows per page; for an export, the most rows in all (`None`: every match).
    pub limit: Option<i64>,
    pub order: Order,
    /// Where the previous page ended, checked against the order and filters.
    pub cursor: Option<Key>,
    pub format: Format,
    /// CSV only: whether cells that a spreadsheet would run as formulas are neutralised.
    pub formulas: Formulas,
    /// The parameters as given, to build the next page's link from.
    pub pairs: Vec<(String, String)>,
}

/// What a CSV export does with cells that start like a formula (`=`, `+`, `-`, `@`, tab, CR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formulas {
    /// Prefixed with `'`, so that a spreadsheet shows them as text (OWASP's advice): a log
    /// line's fields are whatever its client sent.
    Neutralize,
    /// Left as stored, for programs that read the CSV (`formulas=keep`).
    Keep,
}

impl Formulas {
    fn of(value: &str) -> Result<Formulas, ApiError> {
        match value {
            "neutralize" => Ok(Formulas::Neutralize),
            "keep" => Ok(Formulas::Keep),
            _ => Err(ApiError::bad(
                "formulas",
                format!("formulas must be \"neutralize\" (the default) or \"keep\", not {value:?}"),
            )),
        }
    }
}

/// The value of parameter `name`, decoded, if given (once or more: the first); `None` also
/// when the query string does not decode.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    values::decode_pairs(query)
        .ok()?
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, value)| value)
}

/// Reads a query string with an endpoint's declared parameters: each name known, none given
/// twice unless it takes several values, integers within their range, the required present;
/// then each value read, and the filter checked as a whole.
fn read(query: &str, endpoint: &Query) -> Result<(Vec<(String, String)>, Given), ApiError> {
    let pairs = values::decode_pairs(query)?;
    for (i, (name, _)) in pairs.iter().enumerate() {
        let Some(param) = endpoint.find(name) else {
            let expected: Vec<&str> = endpoint.params().map(|p| p.name).collect();
            return Err(ApiError::bad(
                values::parameter_named(name),
                format!(
                    "unknown parameter {name:?}; expected one of: {}",
                    expected.join(", ")
                ),
            ));
        };
        if !param.shape.repeatable() && pairs[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(ApiError::bad(
                name,
                format!("parameter {name:?} given more than once"),
            ));
        }
    }
    if let Some(missing) = endpoint
        .params()
        .find(|p| p.required && !pairs.iter().any(|(name, _)| name == p.name))
    {
        let name = missing.name;
        return Err(ApiError::bad(name, format!("{name} is required")));
    }
    let mut given = Given::default();
    for (name, value) in &pairs {
        let param = endpoint.find(name).expect("checked above");
        if let Shape::Integer { min, max } = param.shape {
            values::integer(name, value, min, max)?;
        }
        (param.read)(&mut given, value)?;
    }
    check_filter(&mut given.filter)?;
    Ok((pairs, given))
}

/// What holds only for a filter as a whole: a range that is not empty, and no more values
/// than a query can bind (overlapping code ranges joined first).
fn check_filter(filter: &mut LogFilter) -> Result<(), ApiError> {
    if let (Some(since), Some(until)) = (filter.since, filter.until) {
        if since >= until {
            return Err(ApiError::bad("until", "until must be later than since"));
        }
    }
    filter.codes = merged(std::mem::take(&mut filter.codes));
    for (name, count) in [
        ("code", filter.codes.len()),
        ("method", filter.methods.len()),
        ("user", filter.users.len()),
        ("source", filter.sources.len()),
        ("ip", filter.ips.len()),
        ("path", filter.paths.len()),
        ("q", filter.texts.len()),
    ] {
        if count > MAX_FILTER_VALUES {
            return Err(ApiError::bad(
                name,
                format!("{name} takes at most {MAX_FILTER_VALUES} values, not {count}"),
            ));
        }
    }
    Ok(())
}

/// Code ranges sorted, with overlapping and adjacent ones joined (`500,5xx` is `5xx`).
fn merged(mut ranges: Vec<(i32, i32)>) -> Vec<(i32, i32)> {
    ranges.sort_unstable();
    let mut out: Vec<(i32, i32)> = Vec::with_capacity(ranges.len());
    for (low, high) in ranges {
        match out.last_mut() {
            Some(last) if low <= last.1 + 1 => last.1 = last.1.max(high),
            _ => out.push((low, high)),
        }
    }
    out
}

/// The parameters of `GET /logs`; `accept` is the request's Accept header, which may ask for
/// NDJSON instead of `format=ndjson`.
pub fn list_params(query: &str, accept: Option<&str>) -> Result<ListParams, ApiError> {
    let (pairs, given) = read(query, &declared::LIST)?;
    let format = match given.format {
        Some(format) => format,
        None if accept.is_some_and(prefers_ndjson) => Format::Ndjson,
        None => Format::Json,
    };
    if format != Format::Csv && given.formulas.is_some() {
        return Err(ApiError::bad(
            "formulas",
            "formulas applies to format=csv only",
        ));
    }
    let limit = if format.is_export() {
        given.limit
    } else {
        Some(page_limit(given.limit.unwrap_or(DEFAULT_LIMIT))?)
    };
    let order = given.order.unwrap_or(Order::Desc);
    let cursor = match given.position {
        Some(position) => {
            if position.order != order
                || position.filters != cursor::filter_fingerprint(&given.filter)
            {
                return Err(ApiError::bad(
                    "cursor",
                    "cursor belongs to a listing with other filters or another order; \
                     keep them as they were (limit and format may change), or start again without it",
                ));
            }
            Some(position.key)
        }
        None => None,
    };
    Ok(ListParams {
        filter: given.filter,
        limit,
        order,
        cursor,
        format,
        formulas: given.formulas.unwrap_or(Formulas::Neutralize),
        pairs,
    })
}

fn page_limit(limit: i64) -> Result<i64, ApiError> {
    if limit > MAX_LIMIT {
        return Err(ApiError::bad(
            "limit",
            format!("limit must be an integer from 1 to {MAX_LIMIT} for a page (an export, format=ndjson, csv or text, takes any), not {limit}"),
        ));
    }
    Ok(limit)
}

/// Whether an Accept header asks for NDJSON: `application/x-ndjson` with a quality above 0 and
/// not below that of JSON (`application/json`, `application/*` or `*/*`).
fn prefers_ndjson(accept: &str) -> bool {
    let mut ndjson: f32 = 0.0;
    let mut json: f32 = 0.0;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let quality = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "application/x-ndjson" => ndjson = ndjson.max(quality),
            "application/json" | "application/*" | "*/*" => json = json.max(quality),
            _ => {}
        }
    }
    ndjson > 0.0 && ndjson >= json
}

pub fn count_params(query: &str) -> Result<LogFilter, ApiError> {
    Ok(read(query, &declared::COUNT)?.1.filter)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailParams {
    pub filter: LogFilter,
    /// The last row id the client saw: what came after it is sent first.
    pub last_event_id: Option<i64>,
}

/// The parameters of `GET /logs/stream`: the filters, and `last_event_id` for clients that
/// cannot send the `Last-Event-ID` header (`header`, which wins when both are given).
pub fn tail_params(query: &str, header: Option<&str>) -> Result<TailParams, ApiError> {
    let (_, given) = read(query, &declared::TAIL)?;
    let last_event_id = match header {
        Some(header) => Some(values::event_id("Last-Event-ID", header)?),
        None => given.last_event_id,
    };
    Ok(TailParams {
        filter: given.filter,
        last_event_id,
    })
}

/// The `source` of `POST /ingest`, if given: one word of letters, digits, `.`, `_`, `-`.
pub fn push_params(query: &str) -> Result<Option<String>, ApiError> {
    Ok(read(query, &declared::PUSH)?.1.source)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsParams {
    pub filter: LogFilter,
    pub by: Vec<StatKey>,
    pub limit: usize,
}

/// The parameters of `GET /stats`: `by` (one key or two, comma-separated), `interval` with the
/// `time` key, `limit`, filters.
pub fn stats_params(query: &str) -> Result<StatsParams, ApiError> {
    let (_, given) = read(query, &declared::STATS)?;
    if given.by.len() > 2 {
        return Err(ApiError::bad(
            "by",
            format!(
                "by must name one key or two (by=hour,class) of {}",
                StatKey::NAMES.join(", ")
            ),
        ));
    }
    let by_time = given.by.contains(&StatKey::TIME);
    let by = match (by_time, given.interval) {
        (true, None) => {
            return Err(ApiError::bad(
                "interval",
                "by=time needs an interval, such as interval=15m",
            ))
        }
        (false, Some(_)) => {
            return Err(ApiError::bad(
                "interval",
                "interval applies to by=time only",
            ))
        }
        (_, interval) => given
            .by
            .iter()
            .map(|name| StatKey::named(name, interval))
            .collect::<Option<Vec<StatKey>>>()
            // Every name `by` takes is one of StatKey::NAMES, each of which `named` knows.
            .expect("by names only keys StatKey knows"),
    };
    let limit = given
        .limit
        .map_or(DEFAULT_STATS_LIMIT, |limit| limit as usize);
    Ok(StatsParams {
        filter: given.filter,
        by,
        limit,
    })
}

/// A listing paged by id (`/rejected`, `/sources`): `limit`, and `cursor` holding the id of
/// the previous page's last row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdPageParams {
    pub limit: i64,
    pub cursor_id: Option<i64>,
    pub pairs: Vec<(String, String)>,
}

/// `/rejected`'s parameters.
pub fn rejected_params(query: &str) -> Result<IdPageParams, ApiError> {
    id_page_params(query, &declared::REJECTED, DEFAULT_LIMIT)
}

/// `/sources`' parameters: a page holds every source of most services.
pub fn sources_params(query: &str) -> Result<IdPageParams, ApiError> {
    id_page_params(query, &declared::SOURCES, DEFAULT_SOURCES_LIMIT)
}

fn id_page_params(
    query: &str,
    endpoint: &Query,
    default_limit: i64,
) -> Result<IdPageParams, ApiError> {
    let (pairs, given) = read(query, endpoint)?;
    Ok(IdPageParams {
        limit: given.limit.unwrap_or(default_limit),
        cursor_id: given.cursor_id,
        pairs,
    })
}

#[cfg(test)]
mod accept_tests {
    use super::prefers_ndjson;

    #[test]
    fn ndjson_is_chosen_only_when_preferred() {
        assert!(prefers_ndjson("application/x-ndjson"));
        assert!(prefers_ndjson(
            "application/json;q=0.5, application/x-ndjson"
        ));
        assert!(prefers_ndjson("application/x-ndjson, */*"));
        assert!(!prefers_ndjson("application/x-ndjson;q=0"));
        assert!(!prefers_ndjson(
            "application/x-ndjson;q=0.5, application/json"
        ));
        assert!(!prefers_ndjson("*/*"));
        assert!(!prefers_ndjson("text/html, application/json"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parameter_of(result: Result<ListParams, ApiError>) -> String {
        match result {
            Err(ApiError::BadParameter { parameter, .. }) => parameter,
            other => panic!("expected a bad parameter, got {other:?}"),
        }
    }

    #[test]
    fn parses_every_parameter() {
        let p = list_params("code=500&method=post&user=bob&since=2000-07-01&until=2000-07-02T00:00:00Z&limit=5&format=lines", None).unwrap();
        assert_eq!(p.filter.codes, vec![(500, 500)]);
        assert_eq!(p.filter.methods, vec!["POST"]);
        assert_eq!(p.filter.users, vec!["bob"]);
        assert_eq!(p.filter.since, Some(962_409_600));
        assert_eq!(p.filter.until, Some(962_496_000));
        assert_eq!(p.limit, Some(5));
        assert_eq!(p.format, Format::Lines);
    }

    #[test]
    fn an_unencoded_plus_in_an_offset_is_understood() {
        let p = list_params("since=2000-07-01T02:00:00+02:00", None).unwrap();
        assert_eq!(p.filter.since, Some(962_409_600));
    }

    #[test]
    fn defaults() {
        let p = list_params("", None).unwrap();
        assert_eq!(p.filter, LogFilter::default());
        assert_eq!(
            (p.limit, p.order, p.cursor, p.format),
            (Some(DEFAULT_LIMIT), Order::Desc, None, Format::Json)
        );
    }

    #[test]
    fn names_the_bad_parameter() {
        for (query, parameter) in [
            ("code=abc", "code"),
            ("code=99", "code"),
            ("method=G3T", "method"),
            ("user=", "user"),
            ("since=yesterday", "since"),
            ("since=2000-07-02&until=2000-07-01", "until"),
            ("since=x%C3%A9%C3%A9%C3%A9%C3%A9", "since"),
            ("limit=0", "limit"),
            ("limit=10001", "limit"),
            ("cursor=nonsense!", "cursor"),
            ("format=xml", "format"),
            ("order=up", "order"),
            ("ip=10.0.0.0/33", "ip"),
            ("ip=example.com", "ip"),
            ("ip=10.0.0.1,", "ip"),
            ("path=photos", "path"),
            ("q=", "q"),
            ("code=+500", "code"),
            ("code=05xx", "code"),
            ("colour=red", "colour"),
            ("code=200,", "code"),
            ("code=6xx", "code"),
            ("code=5x", "code"),
            ("method=get,,post", "method"),
            ("since=2000-07-01&since=2000-07-02", "since"),
            ("limit=5&limit=6", "limit"),
        ] {
            assert_eq!(parameter_of(list_params(query, None)), parameter, "{query}");
        }
    }

    #[test]
    fn several_values_of_a_filter_are_ored() {
        let p = list_params(
            "code=500,4xx&code=201&method=get,Post&user=a,b&user=-",
            None,
        )
        .unwrap();
        assert_eq!(p.filter.codes, vec![(201, 201), (400, 500)]);
        assert_eq!(p.filter.methods, vec!["GET", "POST"]);
        // A user may hold a comma: users are given one per parameter.
        assert_eq!(p.filter.users, vec!["a,b", "-"]);
    }

    #[test]
    fn a_filter_takes_at_most_sixty_four_values() {
        let users: Vec<String> = (0..=MAX_FILTER_VALUES)
            .map(|i| format!("user=u{i}"))
            .collect();
        assert_eq!(parameter_of(list_params(&users.join("&"), None)), "user");
        let codes: Vec<String> = (100..=100 + MAX_FILTER_VALUES as i32 * 2)
            .step_by(2)
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            parameter_of(list_params(&format!("code={}", codes.join(",")), None)),
            "code"
        );
        // Repeats and overlaps are joined first: these are one range.
        let p = list_params(&format!("code={}", ["500"; 100].join(",")), None).unwrap();
        assert_eq!(p.filter.codes, vec![(500, 500)]);
    }

    #[test]
    fn count_takes_no_paging() {
        assert!(matches!(
            count_params("limit=5"),
            Err(ApiError::BadParameter { parameter, .. }) if parameter == "limit"
        ));
    }
}
