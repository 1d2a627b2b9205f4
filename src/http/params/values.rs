//! Reading one parameter's value: decoding the query string, and each kind of value the
//! declared parameters (`declared.rs`) take. Every refusal names the parameter at fault.

use std::net::IpAddr;

use chrono::{DateTime, NaiveDate};
use ipnet::IpNet;
use percent_encoding::percent_decode_str;

use super::{Format, Formulas};
use crate::db::read::log_query::{LogFilter, Order};
use crate::db::read::stats_query::StatKey;
use crate::http::cursor::{self, Position};
use crate::http::error::ApiError;

/// What a query string gave, before an endpoint puts it together: each parameter's `read`
/// fills in its own field.
#[derive(Debug, Default)]
pub struct Given {
    pub filter: LogFilter,
    pub limit: Option<i64>,
    pub position: Option<Position>,
    pub cursor_id: Option<i64>,
    pub order: Option<Order>,
    pub format: Option<Format>,
    pub formulas: Option<Formulas>,
    /// The names in `by`, in order.
    pub by: Vec<&'static str>,
    /// Seconds.
    pub interval: Option<i64>,
    pub last_event_id: Option<i64>,
    pub source: Option<String>,
}

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

/// Decodes `name=value&...` (`+` for a space, `%XX` escapes) strictly: a name or value that is
/// not UTF-8 once decoded is refused, where serde_urlencoded would put U+FFFD in its place and
/// the filter would silently match nothing.
pub fn decode_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
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

/// What an error names as the parameter at fault: a part with no name (`=500`) is named by
/// the query as a whole.
pub fn parameter_named(name: &str) -> &str {
    if name.is_empty() {
        "query"
    } else {
        name
    }
}

pub fn codes(given: &mut Given, value: &str) -> Result<(), ApiError> {
    for item in list("code", value)? {
        given.filter.codes.push(code_range(item)?);
    }
    Ok(())
}

pub fn methods(given: &mut Given, value: &str) -> Result<(), ApiError> {
    for item in list("method", value)? {
        if !item.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ApiError::bad(
                "method",
                format!("method must be an HTTP method such as GET, not {item:?}"),
            ));
        }
        given.filter.methods.push(item.to_ascii_uppercase());
    }
    Ok(())
}

pub fn networks(given: &mut Given, value: &str) -> Result<(), ApiError> {
    for item in list("ip", value)? {
        given.filter.ips.push(network(item)?);
    }
    Ok(())
}

pub fn path(given: &mut Given, value: &str) -> Result<(), ApiError> {
    let path = non_empty("path", value)?;
    if !path.starts_with('/') {
        return Err(ApiError::bad(
            "path",
            format!("path must be the start of a URL path such as /photos/, not {value:?}"),
        ));
    }
    given.filter.paths.push(path);
    Ok(())
}

pub fn non_empty(parameter: &str, value: &str) -> Result<String, ApiError> {
    if value.is_empty() {
        return Err(ApiError::bad(
            parameter,
            format!("{parameter} must not be empty"),
        ));
    }
    Ok(value.to_owned())
}

/// The comma-separated items of `value`, none of them empty.
pub fn list<'a>(parameter: &str, value: &'a str) -> Result<Vec<&'a str>, ApiError> {
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
pub fn instant(parameter: &str, value: &str) -> Result<i64, ApiError> {
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

/// How many of something: a positive integer, read once [`integer`] has checked its range.
pub fn count(value: &str) -> Option<i64> {
    value.parse().ok()
}

/// An integer within `[min, max]`, as an integer shape declares it.
pub fn integer(parameter: &str, value: &str, min: i64, max: Option<i64>) -> Result<i64, ApiError> {
    value
        .parse()
        .ok()
        .filter(|n| *n >= min && max.is_none_or(|max| *n <= max))
        .ok_or_else(|| {
            let range = match max {
                Some(max) => format!("from {min} to {max}"),
                None => format!("of at least {min}"),
            };
            ApiError::bad(
                parameter,
                format!("{parameter} must be an integer {range}, not {value:?}"),
            )
        })
}

pub fn order(value: &str) -> Result<Order, ApiError> {
    match value {
        "desc" => Ok(Order::Desc),
        "asc" => Ok(Order::Asc),
        _ => Err(ApiError::bad(
            "order",
            format!("order must be \"desc\" (newest first) or \"asc\", not {value:?}"),
        )),
    }
}

pub fn position(value: &str) -> Result<Position, ApiError> {
    cursor::decode_position(value).ok_or_else(bad_cursor)
}

pub fn id_cursor(value: &str) -> Result<i64, ApiError> {
    let [id] = cursor::decode(value).ok_or_else(bad_cursor)?;
    Ok(id)
}

pub fn bad_cursor() -> ApiError {
    ApiError::bad(
        "cursor",
        "cursor is not one this server handed out here (take it from the Link header)",
    )
}

/// `by`: the names of one key or two, each known and none twice.
pub fn keys(given: &mut Given, value: &str) -> Result<(), ApiError> {
    for item in list("by", value)? {
        let name = StatKey::NAMES
            .iter()
            .find(|name| **name == item)
            .ok_or_else(|| {
                ApiError::bad(
                    "by",
                    format!(
                        "by must name one or two of {}; not {item:?}",
                        StatKey::NAMES.join(", ")
                    ),
                )
            })?;
        if given.by.contains(name) {
            return Err(ApiError::bad("by", format!("by names {item} twice")));
        }
        given.by.push(name);
    }
    Ok(())
}

/// The longest time bucket, in seconds: a leap year.
pub const MAX_INTERVAL: i64 = 366 * 86_400;

/// A length of time as a number and a unit, `m`, `h` or `d`, in seconds.
pub fn interval(value: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::bad(
            "interval",
            format!("interval must be a number and a unit, m (minutes), h (hours) or d (days), such as 15m or 6h, of at most 366d; not {value:?}"),
        )
    };
    let (number, unit) = [("m", 60), ("h", 3_600), ("d", 86_400)]
        .into_iter()
        .find_map(|(suffix, unit)| Some((value.strip_suffix(suffix)?, unit)))
        .ok_or_else(bad)?;
    // Digits without a leading zero, as the OpenAPI document's pattern says.
    if number.starts_with('0') || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    number
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|seconds| (1..=MAX_INTERVAL).contains(seconds))
        .ok_or_else(bad)
}

/// An event id from the `Last-Event-ID` header.
pub fn event_id(name: &str, value: &str) -> Result<i64, ApiError> {
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
}
