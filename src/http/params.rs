//! The query strings of `/logs`, `/logs/count`, `/stats` and `/rejected`, validated into typed values. Every refusal
//! names the parameter at fault.

use std::net::IpAddr;

use chrono::{DateTime, NaiveDate};
use ipnet::IpNet;
use percent_encoding::percent_decode_str;

use super::cursor;
use super::error::ApiError;
use crate::db::read::log_query::{Key, LogFilter, Order};
use crate::db::read::stats_query::StatKey;

pub use crate::limits::DEFAULT_LIMIT;
pub const MAX_LIMIT: i64 = 10_000;
/// Sources in a page of `/sources`.
pub const DEFAULT_SOURCES_LIMIT: i64 = 1_000;

const FILTERS: &[&str] = &[
    "code", "method", "user", "source", "ip", "path", "q", "since", "until",
];
const PAGING: &[&str] = &["limit", "cursor", "format", "order", "formulas"];
/// Filters that take several values, ORed: repeated (`user=a&user=b`), and for codes, methods,
/// sources and addresses also comma-separated (`code=500,503`), since none of them can hold a
/// comma (users, paths and text can: they are given one per parameter).
const REPEATABLE: &[&str] = &["code", "method", "user", "source", "ip", "path", "q"];

/// Values one filter may take: each is bound once per segment of a query, and SQLite takes at
/// most 32,766 bound values and 1,000 levels of expression in one statement.
pub const MAX_FILTER_VALUES: usize = 64;

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

/// Decodes `name=value&...` (`+` for a space, `%XX` escapes) strictly: a name or value that is
/// not UTF-8 once decoded is refused, where serde_urlencoded would put U+FFFD in its place and
/// the filter would silently match nothing.
/// A query part's text, decoded as form data (`+` is a space); `None` if not UTF-8.
fn decode(text: &str) -> Option<String> {
    let spaced = text.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

/// The name of a query part (`name=value`) as the parsers read it: decoded, lossily, so that
/// what chooses parts to hide sees `access%5Ftoken` as `access_token` too.
pub fn part_name(part: &str) -> String {
    let name = part.split_once('=').map_or(part, |(name, _)| name);
    let spaced = name.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

fn decode_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let name = decode(name).ok_or_else(|| {
                ApiError::bad(
                    "query",
                    format!("parameter name {name:?} is not UTF-8 once decoded"),
                )
            })?;
            let value = decode(value).ok_or_else(|| {
                ApiError::bad(
                    parameter_named(&name),
                    format!("{name} must be UTF-8 once decoded, not {value:?}"),
                )
            })?;
            Ok((name, value))
        })
        .collect()
}

/// The value of parameter `name`, decoded, if given (once or more: the first); `None` also
/// when the query string does not decode.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    decode_pairs(query)
        .ok()?
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, value)| value)
}

/// What an error names as the parameter at fault: a part with no name (`=500`) is named by
/// the query as a whole.
fn parameter_named(name: &str) -> &str {
    if name.is_empty() {
        "query"
    } else {
        name
    }
}

fn pairs_of(query: &str, allowed: &[&[&str]]) -> Result<Vec<(String, String)>, ApiError> {
    let pairs = decode_pairs(query)?;
    for (i, (name, _)) in pairs.iter().enumerate() {
        if !allowed.iter().any(|set| set.contains(&name.as_str())) {
            let expected = allowed.concat().join(", ");
            return Err(ApiError::bad(
                parameter_named(name),
                format!("unknown parameter {name:?}; expected one of: {expected}"),
            ));
        }
        if !REPEATABLE.contains(&name.as_str())
            && pairs[..i].iter().any(|(earlier, _)| earlier == name)
        {
            return Err(ApiError::bad(
                name,
                format!("parameter {name:?} given more than once"),
            ));
        }
    }
    Ok(pairs)
}

fn filter_of(pairs: &[(String, String)]) -> Result<LogFilter, ApiError> {
    let mut filter = LogFilter::default();
    for (name, value) in pairs {
        match name.as_str() {
            "code" => {
                for item in list("code", value)? {
                    filter.codes.push(code_range(item)?);
                }
            }
            "method" => {
                for item in list("method", value)? {
                    if !item.bytes().all(|b| b.is_ascii_alphabetic()) {
                        return Err(ApiError::bad(
                            "method",
                            format!("method must be an HTTP method such as GET, not {item:?}"),
                        ));
                    }
                    filter.methods.push(item.to_ascii_uppercase());
                }
            }
            "user" | "path" | "q" => {
                if value.is_empty() {
                    return Err(ApiError::bad(name, format!("{name} must not be empty")));
                }
                match name.as_str() {
                    "user" => filter.users.push(value.clone()),
                    "path" if !value.starts_with('/') => {
                        return Err(ApiError::bad(
                            "path",
                            format!(
                            "path must be the start of a URL path such as /photos/, not {value:?}"
                        ),
                        ))
                    }
                    "path" => filter.paths.push(value.clone()),
                    _ => filter.texts.push(value.clone()),
                }
            }
            "source" => filter
                .sources
                .extend(list("source", value)?.into_iter().map(str::to_owned)),
            "ip" => {
                for item in list("ip", value)? {
                    filter.ips.push(network(item)?);
                }
            }
            "since" => filter.since = Some(instant("since", value)?),
            "until" => filter.until = Some(instant("until", value)?),
            _ => {}
        }
    }
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
    Ok(filter)
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

/// The comma-separated items of `value`, none of them empty.
fn list<'a>(parameter: &str, value: &'a str) -> Result<Vec<&'a str>, ApiError> {
    let items: Vec<&str> = value.split(',').collect();
    if items.iter().any(|item| item.is_empty()) {
        return Err(ApiError::bad(
            parameter,
            format!(
                "{parameter} must be a value or a comma-separated list of values, not {value:?}"
            ),
        ));
    }
    Ok(items)
}

/// An address (`10.1.2.3`, `2001:db8::1`) as a network of one, or a network in CIDR notation.
fn network(item: &str) -> Result<IpNet, ApiError> {
    item.parse::<IpNet>()
        .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| {
            ApiError::bad(
                "ip",
                format!("ip must be an address such as 10.1.2.3 or a network such as 10.0.0.0/8 or 2001:db8::/32, not {item:?}"),
            )
        })
}

/// A status code (`503`) as a range of one, or a class (`5xx`) as its hundred codes.
fn code_range(item: &str) -> Result<(i32, i32), ApiError> {
    let bad = || {
        ApiError::bad(
            "code",
            format!(
                "code must be an HTTP status code from 100 to 599 or a class from 1xx to 5xx, not {item:?}"
            ),
        )
    };
    let lower = item.to_ascii_lowercase();
    if !(lower.len() == 3 && lower.bytes().all(|b| b.is_ascii_digit() || b == b'x')) {
        return Err(bad());
    }
    if let Some(class) = lower.strip_suffix("xx") {
        let class: i32 = class
            .parse()
            .ok()
            .filter(|c| (1..=5).contains(c))
            .ok_or_else(bad)?;
        return Ok((class * 100, class * 100 + 99));
    }
    let code: i32 = item
        .parse()
        .ok()
        .filter(|c| (100..=599).contains(c))
        .ok_or_else(bad)?;
    Ok((code, code))
}

/// An RFC 3339 instant (`2000-07-12T05:11:41Z`) or a day (`2000-07-12`, its midnight UTC).
fn instant(parameter: &str, value: &str) -> Result<i64, ApiError> {
    // An unencoded `+` in an offset (`...T05:11:41+02:00`) arrives as a space.
    let repaired;
    let split = |i: usize| Some((value.get(..i)?, value.get(i..)?));
    let value = match value.len().checked_sub(6).and_then(split) {
        Some((time, offset)) if offset.starts_with(' ') => {
            repaired = format!("{time}+{}", &offset[1..]);
            repaired.as_str()
        }
        _ => value,
    };
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(at.timestamp());
    }
    if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(day
            .and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp()));
    }
    Err(ApiError::bad(
        parameter,
        format!("{parameter} must be an RFC 3339 date-time such as 2000-07-12T05:11:41Z or a date such as 2000-07-12, not {value:?}"),
    ))
}

/// The parameters of `GET /logs`; `accept` is the request's Accept header, which may ask for
/// NDJSON instead of `format=ndjson`.
pub fn list_params(query: &str, accept: Option<&str>) -> Result<ListParams, ApiError> {
    let pairs = pairs_of(query, &[FILTERS, PAGING])?;
    let filter = filter_of(&pairs)?;
    let mut params = ListParams {
        filter,
        limit: None,
        order: Order::Desc,
        cursor: None,
        format: Format::Json,
        formulas: Formulas::Neutralize,
        pairs: Vec::new(),
    };
    let mut position = None;
    for (name, value) in &pairs {
        match name.as_str() {
            "limit" => params.limit = Some(positive("limit", value)?),
            "cursor" => position = Some(cursor::decode_position(value).ok_or_else(bad_cursor)?),
            "order" => {
                params.order = match value.as_str() {
                    "desc" => Order::Desc,
                    "asc" => Order::Asc,
                    _ => {
                        return Err(ApiError::bad(
                            "order",
                            format!(
                                "order must be \"desc\" (newest first) or \"asc\", not {value:?}"
                            ),
                        ))
                    }
                }
            }
            "format" => {
                params.format = match value.as_str() {
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
                }
            }
            "formulas" => params.formulas = formulas_of(value)?,
            _ => {}
        }
    }
    if params.format != Format::Csv && pairs.iter().any(|(name, _)| name == "formulas") {
        return Err(ApiError::bad(
            "formulas",
            "formulas applies to format=csv only",
        ));
    }
    let format_given = pairs.iter().any(|(name, _)| name == "format");
    if !format_given && accept.is_some_and(prefers_ndjson) {
        params.format = Format::Ndjson;
    }
    if !params.format.is_export() {
        let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
        if limit > MAX_LIMIT {
            return Err(ApiError::bad(
                "limit",
                format!("limit must be an integer from 1 to {MAX_LIMIT} for a page (an export, format=ndjson, csv or text, takes any), not {limit}"),
            ));
        }
        params.limit = Some(limit);
    }
    if let Some(position) = position {
        if position.order != params.order
            || position.filters != cursor::filter_fingerprint(&params.filter)
        {
            return Err(ApiError::bad(
                "cursor",
                "cursor belongs to a listing with other filters or another order; \
                 keep them as they were (limit and format may change), or start again without it",
            ));
        }
        params.cursor = Some(position.key);
    }
    params.pairs = pairs;
    Ok(params)
}

fn formulas_of(value: &str) -> Result<Formulas, ApiError> {
    match value {
        "neutralize" => Ok(Formulas::Neutralize),
        "keep" => Ok(Formulas::Keep),
        _ => Err(ApiError::bad(
            "formulas",
            format!("formulas must be \"neutralize\" (the default) or \"keep\", not {value:?}"),
        )),
    }
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
    filter_of(&pairs_of(query, &[FILTERS])?)
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
    // `access_token` is the access check's business (`auth.rs`), read before this.
    let pairs = pairs_of(query, &[FILTERS, &["last_event_id", "access_token"]])?;
    let filter = filter_of(&pairs)?;
    let id_of =
        |name: &str, value: &str| {
            value
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|id| *id >= 0)
                .ok_or_else(|| {
                    ApiError::bad(
                name,
                format!("{name} must be the id of an event (a row id, 0 or more), not {value:?}"),
            )
                })
        };
    let mut last_event_id = None;
    for (name, value) in &pairs {
        if name == "last_event_id" {
            last_event_id = Some(id_of("last_event_id", value)?);
        }
    }
    if let Some(header) = header {
        last_event_id = Some(id_of("Last-Event-ID", header)?);
    }
    Ok(TailParams {
        filter,
        last_event_id,
    })
}

/// The `source` of `POST /ingest`, if given: one word of letters, digits, `.`, `_`, `-`.
pub fn push_params(query: &str) -> Result<Option<String>, ApiError> {
    let pairs = pairs_of(query, &[&["source"]])?;
    let Some((_, name)) = pairs.into_iter().next() else {
        return Ok(None);
    };
    crate::ingest::push::check_source_name(&name).map_err(|e| ApiError::bad("source", e))?;
    Ok(Some(name))
}

/// Groups `/stats` returns unless `limit` says otherwise: a month by hour and class (3,720).
pub const DEFAULT_STATS_LIMIT: usize = 10_000;
pub const MAX_STATS_LIMIT: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsParams {
    pub filter: LogFilter,
    pub by: Vec<StatKey>,
    pub limit: usize,
}

/// The parameters of `GET /stats`: `by` (one key or two, comma-separated), `limit`, filters.
pub fn stats_params(query: &str) -> Result<StatsParams, ApiError> {
    let pairs = pairs_of(query, &[FILTERS, &["by", "limit"]])?;
    let filter = filter_of(&pairs)?;
    let mut by = Vec::new();
    let mut limit = DEFAULT_STATS_LIMIT;
    let names = || {
        StatKey::ALL
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (name, value) in &pairs {
        match name.as_str() {
            "by" => {
                for item in list("by", value)? {
                    let key = StatKey::ALL
                        .iter()
                        .find(|(name, _)| *name == item)
                        .map(|&(_, key)| key)
                        .ok_or_else(|| {
                            ApiError::bad(
                                "by",
                                format!("by must name one or two of {}; not {item:?}", names()),
                            )
                        })?;
                    if by.contains(&key) {
                        return Err(ApiError::bad("by", format!("by names {item} twice")));
                    }
                    by.push(key);
                }
            }
            "limit" => {
                limit = positive("limit", value)?
                    .try_into()
                    .ok()
                    .filter(|&l: &usize| l <= MAX_STATS_LIMIT)
                    .ok_or_else(|| {
                        ApiError::bad(
                            "limit",
                            format!("limit must be an integer from 1 to {MAX_STATS_LIMIT}, not {value:?}"),
                        )
                    })?;
            }
            _ => {}
        }
    }
    if by.is_empty() || by.len() > 2 {
        return Err(ApiError::bad(
            "by",
            format!("by must name one key or two (by=hour,class) of {}", names()),
        ));
    }
    Ok(StatsParams { filter, by, limit })
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
    id_page_params(query, DEFAULT_LIMIT)
}

/// `/sources`' parameters: a page holds every source of most services.
pub fn sources_params(query: &str) -> Result<IdPageParams, ApiError> {
    id_page_params(query, DEFAULT_SOURCES_LIMIT)
}

fn id_page_params(query: &str, default_limit: i64) -> Result<IdPageParams, ApiError> {
    let pairs = pairs_of(query, &[&["limit", "cursor"]])?;
    let mut params = IdPageParams {
        limit: default_limit,
        cursor_id: None,
        pairs: Vec::new(),
    };
    for (name, value) in &pairs {
        match name.as_str() {
            "limit" => params.limit = limit_of(value)?,
            "cursor" => {
                let [id] = cursor::decode(value).ok_or_else(bad_cursor)?;
                params.cursor_id = Some(id);
            }
            _ => {}
        }
    }
    params.pairs = pairs;
    Ok(params)
}

/// An integer of at least 1.
fn positive(parameter: &str, value: &str) -> Result<i64, ApiError> {
    value.parse().ok().filter(|l| *l >= 1).ok_or_else(|| {
        ApiError::bad(
            parameter,
            format!("{parameter} must be a positive integer, not {value:?}"),
        )
    })
}

fn limit_of(value: &str) -> Result<i64, ApiError> {
    value
        .parse()
        .ok()
        .filter(|l| (1..=MAX_LIMIT).contains(l))
        .ok_or_else(|| {
            ApiError::bad(
                "limit",
                format!("limit must be an integer from 1 to {MAX_LIMIT}, not {value:?}"),
            )
        })
}

fn bad_cursor() -> ApiError {
    ApiError::bad(
        "cursor",
        "cursor is not one this server handed out here (take it from the Link header)",
    )
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
