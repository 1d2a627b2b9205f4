//! Every query parameter, declared once: its name, what the API docs say of it, its shape, and
//! how a value is read. The parsers (`super`) read queries through these tables and the
//! OpenAPI document (`openapi.rs`) describes the same tables, so a parameter cannot be parsed
//! without being documented, or documented without being parsed.

use super::values::{self, Given};
use super::{Format, Formulas, MAX_LIMIT, MAX_STATS_LIMIT};
use crate::http::error::ApiError;

/// What values a parameter takes, as the OpenAPI document describes them. The parser enforces
/// integer ranges and repetition from it; the rest is checked by the parameter's `read`, and a
/// test holds each word of a [`Shape::OneOf`] to it.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// Values ORed, repeated (`user=a&user=b`) and for some filters also comma-separated; each
    /// non-empty.
    Values,
    /// An RFC 3339 instant or a day.
    Instant,
    /// An integer from `min`, up to `max` if there is one.
    Integer { min: i64, max: Option<i64> },
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// Free text, matching `pattern` if there is one.
    Text { pattern: Option<&'static str> },
    /// `by`: one key of `/stats`, or two comma-separated.
    Keys,
    /// A length of time: a number and a unit (`15m`, `6h`, `7d`).
    Interval,
}

impl Shape {
    /// Whether the parameter may be given more than once.
    pub fn repeatable(self) -> bool {
        matches!(self, Shape::Values)
    }
}

pub struct Param {
    pub name: &'static str,
    /// What the API docs say of it.
    pub doc: &'static str,
    pub shape: Shape,
    pub required: bool,
    /// Reads one value (already checked against an integer shape's range) into the query.
    pub(super) read: Read,
}

type Read = fn(&mut Given, &str) -> Result<(), ApiError>;

impl Param {
    /// An optional parameter.
    const fn new(name: &'static str, shape: Shape, doc: &'static str, read: Read) -> Param {
        Param {
            name,
            doc,
            shape,
            required: false,
            read,
        }
    }

    const fn required(self) -> Param {
        Param {
            required: true,
            ..self
        }
    }
}

/// The parameters one endpoint takes, in groups shared between endpoints.
pub struct Query(pub &'static [&'static [Param]]);

impl Query {
    pub fn params(&self) -> impl Iterator<Item = &'static Param> {
        self.0.iter().flat_map(|group| group.iter())
    }

    pub(super) fn find(&self, name: &str) -> Option<&'static Param> {
        self.params().find(|param| param.name == name)
    }
}

/// The filters every query of lines takes: values of one parameter ORed, parameters ANDed.
pub const FILTERS: &[Param] = &[
    Param::new(
        "code",
        Shape::Values,
        "Status codes or classes: `500`, `5xx`; comma-separated or repeated (`code=500,503`).",
        values::codes,
    ),
    Param::new(
        "method",
        Shape::Values,
        "HTTP methods, any case; comma-separated or repeated.",
        values::methods,
    ),
    Param::new(
        "user",
        Shape::Values,
        "Users (`-` for lines without one); repeated for several.",
        |given, value| {
            let user = values::non_empty("user", value)?;
            given.filter.users.push(user);
            Ok(())
        },
    ),
    Param::new(
        "source",
        Shape::Values,
        "Sources by id (as in `/sources`) or address; comma-separated or repeated.",
        |given, value| {
            let sources = values::list("source", value)?;
            given
                .filter
                .sources
                .extend(sources.into_iter().map(str::to_owned));
            Ok(())
        },
    ),
    Param::new(
        "ip",
        Shape::Values,
        "Client addresses or CIDR networks (`10.0.0.0/8`, `2001:db8::/32`).",
        values::networks,
    ),
    Param::new(
        "path",
        Shape::Values,
        "Prefixes of the URL's path (`/photos/`); repeated for several.",
        values::path,
    ),
    Param::new(
        "q",
        Shape::Values,
        "Substrings of the line, case-sensitive; repeated for several.",
        |given, value| {
            let text = values::non_empty("q", value)?;
            given.filter.texts.push(text);
            Ok(())
        },
    ),
    Param::new(
        "since",
        Shape::Instant,
        "Inclusive: an RFC 3339 instant (`2000-07-12T05:11:41Z`) or a day (`2000-07-12`).",
        |given, value| {
            given.filter.since = Some(values::instant("since", value)?);
            Ok(())
        },
    ),
    Param::new(
        "until",
        Shape::Instant,
        "Exclusive: an RFC 3339 instant or a day; later than `since`.",
        |given, value| {
            given.filter.until = Some(values::instant("until", value)?);
            Ok(())
        },
    ),
];

/// Paging and formats of `GET /logs`.
pub const LOG_PAGING: &[Param] = &[
    Param::new(
        "limit",
        Shape::Integer { min: 1, max: None },
        "Rows per page, 1 to 10,000 (default 100); for an export, the most rows in all.",
        read_limit,
    ),
    Param::new(
        "cursor",
        Shape::Text { pattern: None },
        "The `cursor` of the `Link: <...>; rel=\"next\"` header of the previous page.",
        |given, value| {
            given.position = Some(values::position(value)?);
            Ok(())
        },
    ),
    Param::new(
        "format",
        Shape::OneOf(&["json", "lines", "ndjson", "csv", "text"]),
        "`json` (default) or `lines` for a page; `ndjson`, `csv` or `text` to stream every \
              match.",
        |given, value| {
            given.format = Some(Format::of(value)?);
            Ok(())
        },
    ),
    Param::new(
        "order",
        Shape::OneOf(&["desc", "asc"]),
        "`desc` (newest first, the default) or `asc`.",
        |given, value| {
            given.order = Some(values::order(value)?);
            Ok(())
        },
    ),
    Param::new(
        "formulas",
        Shape::OneOf(&["neutralize", "keep"]),
        "`format=csv` only: `neutralize` (default) prefixes `'` to text cells that start \
              with `=`, `+`, `-`, `@`, tab or CR, so a spreadsheet shows them rather than runs \
              them; `keep` writes them as stored.",
        |given, value| {
            given.formulas = Some(Formulas::of(value)?);
            Ok(())
        },
    ),
];

/// `GET /stats`: what to group by, and how many groups.
pub const GROUPING: &[Param] = &[
    Param::new(
        "by",
        Shape::Keys,
        "One key, or two comma-separated (`hour,class`), of: code, class, method, user, \
              source, ip, path, referer, user_agent, day, hour, time (with `interval`).",
        values::keys,
    )
    .required(),
    Param::new(
        "interval",
        Shape::Interval,
        "With `by=time`: the length of each time bucket, a number and a unit (`m` minutes, \
              `h` hours, `d` days: `5m`, `6h`, `7d`), at most 366 days. Buckets start at \
              multiples of it since 1970-01-01T00:00:00Z.",
        |given, value| {
            given.interval = Some(values::interval(value)?);
            Ok(())
        },
    ),
    Param::new(
        "limit",
        Shape::Integer {
            min: 1,
            max: Some(MAX_STATS_LIMIT as i64),
        },
        "Groups returned at most, 1 to 100,000 (default 10,000).",
        read_limit,
    ),
];

/// `GET /logs/stream`: where a reconnecting client resumes.
pub const RESUMING: &[Param] = &[
    Param::new(
        "last_event_id",
        Shape::Integer { min: 0, max: None },
        "For clients that cannot send the `Last-Event-ID` header: the id of the last event \
              seen.",
        |given, value| {
            given.last_event_id = values::count(value);
            Ok(())
        },
    ),
    // The access check's business (`auth.rs`), read before this.
    Param::new(
        "access_token",
        Shape::Text { pattern: None },
        "The token, for clients that cannot send `Authorization` (browsers' `EventSource`).",
        |_, _| Ok(()),
    ),
];

/// `POST /ingest`: where the lines go.
pub const PUSH_TARGET: &[Param] = &[Param::new(
    "source",
    Shape::Text {
        pattern: Some("^[A-Za-z0-9._-]{1,100}$"),
    },
    "The name to store the lines under, `push:NAME` (default: the token's name, or `push`).",
    |given, value| {
        crate::ingest::push::check_source_name(value).map_err(|e| ApiError::bad("source", e))?;
        given.source = Some(value.to_owned());
        Ok(())
    },
)];

/// Paging by id, `/rejected`.
pub const REJECTED_PAGING: &[Param] = &[
    Param::new(
        "limit",
        Shape::Integer {
            min: 1,
            max: Some(MAX_LIMIT),
        },
        "Rows per page, 1 to 10,000 (default 100).",
        read_limit,
    ),
    ID_CURSOR,
];

/// Paging by id, `/sources`.
pub const SOURCES_PAGING: &[Param] = &[
    Param::new(
        "limit",
        Shape::Integer {
            min: 1,
            max: Some(MAX_LIMIT),
        },
        "Sources per page, 1 to 10,000 (default 1,000).",
        read_limit,
    ),
    ID_CURSOR,
];

const ID_CURSOR: Param = Param::new(
    "cursor",
    Shape::Text { pattern: None },
    "The `cursor` of the previous page's next link.",
    |given, value| {
        given.cursor_id = Some(values::id_cursor(value)?);
        Ok(())
    },
);

/// Every `limit`: its range is its shape's, checked before.
fn read_limit(given: &mut Given, value: &str) -> Result<(), ApiError> {
    given.limit = values::count(value);
    Ok(())
}

pub const LIST: Query = Query(&[FILTERS, LOG_PAGING]);
pub const COUNT: Query = Query(&[FILTERS]);
pub const STATS: Query = Query(&[FILTERS, GROUPING]);
pub const TAIL: Query = Query(&[FILTERS, RESUMING]);
pub const PUSH: Query = Query(&[PUSH_TARGET]);
pub const REJECTED: Query = Query(&[REJECTED_PAGING]);
pub const SOURCES: Query = Query(&[SOURCES_PAGING]);

#[cfg(test)]
mod tests {
    use super::*;

    /// Every endpoint's query, for the tests that hold the tables to their parsers.
    const ALL: [(&str, Query); 7] = [
        ("/logs", LIST),
        ("/logs/count", COUNT),
        ("/stats", STATS),
        ("/logs/stream", TAIL),
        ("/ingest", PUSH),
        ("/rejected", REJECTED),
        ("/sources", SOURCES),
    ];

    /// A word no [`Shape::OneOf`] lists, to check that `read` refuses what the shape leaves out.
    const NOT_A_WORD: &str = "nonsense";

    #[test]
    fn each_word_a_shape_lists_is_read_and_no_other() {
        for (_, query) in ALL {
            for param in query.params() {
                if let Shape::OneOf(words) = param.shape {
                    for word in words {
                        let mut given = Given::default();
                        assert!(
                            (param.read)(&mut given, word).is_ok(),
                            "{} {word}",
                            param.name
                        );
                    }
                    let mut given = Given::default();
                    assert!(
                        (param.read)(&mut given, NOT_A_WORD).is_err(),
                        "{}",
                        param.name
                    );
                }
            }
        }
    }

    #[test]
    fn an_endpoint_declares_each_name_once() {
        for (path, query) in ALL {
            let names: Vec<&str> = query.params().map(|p| p.name).collect();
            for name in &names {
                let times = names.iter().filter(|n| *n == name).count();
                assert_eq!(times, 1, "{path} declares {name} {times} times");
            }
        }
    }
}
