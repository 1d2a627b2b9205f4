//! Access-log line parsing: loggerator's own format, Common Log Format and Combined Log Format.
//!
//! The parser is total: every input yields either a [`LogRecord`] or a [`ParseError`] naming why
//! the line was refused, so the caller can keep the line instead of losing it.

mod date;

use std::sync::OnceLock;

use regex::Regex;
use thiserror::Error;

pub use date::parse_log_date;

/// One parsed access-log line. The original text travels beside it, not inside it, so the
/// parser can borrow the input and the caller decides whether to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub ip: String,
    /// `None` when the log has `-` (no authenticated user).
    pub user: Option<String>,
    /// Seconds since the Unix epoch, UTC: the offset in the line is applied.
    pub date: i64,
    /// Upper-cased so that filters need not care how the client spelled it.
    pub method: String,
    pub url: String,
    pub protocol: String,
    pub code: i32,
    /// `None` when the log has `-`.
    pub size: Option<i64>,
    pub referer: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("empty line")]
    Empty,
    #[error("line does not match Common or Combined Log Format")]
    Shape,
    #[error("invalid date {0:?}")]
    Date(String),
    #[error("invalid request {0:?}: expected \"METHOD URL PROTOCOL\"")]
    Request(String),
    #[error("invalid status code {0:?}")]
    Code(String),
    #[error("invalid size {0:?}")]
    Size(String),
}

fn line_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // Quoted fields allow backslash escapes because Apache writes `\"` inside them.
        Regex::new(concat!(
            r#"^(\S+) \S+ (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-)"#,
            r#"(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?$"#,
        ))
        .expect("the line pattern is a valid regex")
    })
}

/// Parses one line, without its line terminator; a trailing `\r` is tolerated.
pub fn parse_line(line: &str) -> Result<LogRecord, ParseError> {
    let line = line.strip_suffix('\r').unwrap_or(line).trim_end();
    if line.is_empty() {
        return Err(ParseError::Empty);
    }
    let caps = line_regex().captures(line).ok_or(ParseError::Shape)?;
    let field = |i: usize| caps.get(i).map_or("", |m| m.as_str());

    let date_text = field(3);
    let date = parse_log_date(date_text).ok_or_else(|| ParseError::Date(date_text.to_owned()))?;
    let (method, url, protocol) = split_request(field(4))?;
    let code_text = field(5);
    let code: i32 = code_text
        .parse()
        .ok()
        .filter(|c| (100..=599).contains(c))
        .ok_or_else(|| ParseError::Code(code_text.to_owned()))?;
    let size = match field(6) {
        "-" => None,
        text => Some(
            text.parse::<i64>()
                .map_err(|_| ParseError::Size(text.to_owned()))?,
        ),
    };

    Ok(LogRecord {
        ip: field(1).to_owned(),
        user: dash_is_none(field(2)).map(str::to_owned),
        date,
        method,
        url,
        protocol,
        code,
        size,
        referer: caps.get(7).map(|m| m.as_str().to_owned()),
        user_agent: caps.get(8).map(|m| m.as_str().to_owned()),
    })
}

fn dash_is_none(field: &str) -> Option<&str> {
    (field != "-").then_some(field)
}

fn split_request(request: &str) -> Result<(String, String, String), ParseError> {
    let bad = || ParseError::Request(request.to_owned());
    let (method, rest) = request.split_once(' ').ok_or_else(bad)?;
    // The URL may itself contain spaces in broken clients' requests; the protocol is the last word.
    let (url, protocol) = rest.rsplit_once(' ').ok_or_else(bad)?;
    if method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_alphabetic())
        || url.is_empty()
        || !protocol.starts_with("HTTP/")
    {
        return Err(bad());
    }
    Ok((
        method.to_ascii_uppercase(),
        url.to_owned(),
        protocol.to_owned(),
    ))
}
