//! Access-log line parsing: loggerator's own format, Common Log Format and Combined Log Format.
//!
//! The parser is total: every input yields either a [`LogRecord`] or a [`ParseError`] naming why
//! the line was refused, so the caller can keep the line instead of losing it. It is written by
//! hand over bytes and borrows from the line, because it runs once per received line: no
//! allocation, no backtracking (about 5 million loggerator lines a second on one core,
//! `cargo bench --bench parser`).

mod date;

use std::borrow::Cow;
use std::ops::Range;

use thiserror::Error;

pub use date::parse_log_date;

/// One parsed access-log line, borrowing its text from the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord<'a> {
    pub ip: &'a str,
    /// `None` when the log has `-` (no authenticated user).
    pub user: Option<&'a str>,
    /// Seconds since the Unix epoch, UTC: the offset in the line is applied.
    pub date: i64,
    /// Upper-cased so that filters need not care how the client spelled it; borrowed unless the
    /// line had lower-case letters in it.
    pub method: Cow<'a, str>,
    pub url: &'a str,
    pub protocol: &'a str,
    pub code: i32,
    /// `None` when the log has `-`.
    pub size: Option<i64>,
    pub referer: Option<&'a str>,
    pub user_agent: Option<&'a str>,
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

/// Where each field of a parsed line lies in it, as byte ranges of the line given to
/// [`parse_fields`], with the values that needed converting. Storage keeps spans rather than
/// copies, so a line goes to the writer with no allocation per field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFields {
    pub ip: Range<usize>,
    /// `None` when the log has `-`.
    pub user: Option<Range<usize>>,
    /// Seconds since the Unix epoch, UTC.
    pub date: i64,
    /// As written; [`LineFields::method_is_upper`] says whether it needs upper-casing.
    pub method: Range<usize>,
    pub method_is_upper: bool,
    pub url: Range<usize>,
    pub protocol: Range<usize>,
    pub code: i32,
    pub size: Option<i64>,
    pub referer: Option<Range<usize>>,
    pub user_agent: Option<Range<usize>>,
}

impl LineFields {
    /// The record these fields describe; `line` is the one they were parsed from.
    pub fn record<'a>(&self, line: &'a str) -> LogRecord<'a> {
        let text = |span: &Range<usize>| &line[span.clone()];
        let method = text(&self.method);
        LogRecord {
            ip: text(&self.ip),
            user: self.user.as_ref().map(text),
            date: self.date,
            method: if self.method_is_upper {
                Cow::Borrowed(method)
            } else {
                Cow::Owned(method.to_ascii_uppercase())
            },
            url: text(&self.url),
            protocol: text(&self.protocol),
            code: self.code,
            size: self.size,
            // `-` is the log's "none", as for the user and the size.
            referer: self.referer.as_ref().map(text).filter(|t| *t != "-"),
            user_agent: self.user_agent.as_ref().map(text).filter(|t| *t != "-"),
        }
    }
}

/// Parses one line, without its line terminator; a trailing `\r` is tolerated.
pub fn parse_line(line: &str) -> Result<LogRecord<'_>, ParseError> {
    Ok(parse_fields(line)?.record(line))
}

/// Parses one line into the spans of its fields (see [`parse_line`] for the record itself).
///
/// The accepted shape is `IP IDENT USER [DATE] "REQUEST" CODE SIZE`, optionally followed by
/// ` "REFERER" "USER-AGENT"`: single spaces between fields, no whitespace inside unquoted ones,
/// quoted fields allowing backslash escapes (Apache writes `\"` inside them).
pub fn parse_fields(line: &str) -> Result<LineFields, ParseError> {
    // Only the end is trimmed, so spans of the trimmed line are spans of `line` too.
    let line = line.strip_suffix('\r').unwrap_or(line).trim_end();
    if line.is_empty() {
        return Err(ParseError::Empty);
    }
    let mut s = Scanner { text: line, pos: 0 };
    let ip = s.word().ok_or(ParseError::Shape)?;
    s.word().ok_or(ParseError::Shape)?;
    let user = s.word().ok_or(ParseError::Shape)?;
    let date_span = s.bracketed().ok_or(ParseError::Shape)?;
    let request = s.quoted().ok_or(ParseError::Shape)?;
    s.space().ok_or(ParseError::Shape)?;
    let code_text = &line[s.word().ok_or(ParseError::Shape)?];
    let size_text = &line[s.word().ok_or(ParseError::Shape)?];
    let (referer, user_agent) = if s.at_end() {
        (None, None)
    } else {
        let referer = s.quoted().ok_or(ParseError::Shape)?;
        s.space().ok_or(ParseError::Shape)?;
        let user_agent = s.quoted().ok_or(ParseError::Shape)?;
        if !s.at_end() {
            return Err(ParseError::Shape);
        }
        (Some(referer), Some(user_agent))
    };
    if code_text.len() != 3 || !code_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Shape);
    }
    if size_text != "-" && !size_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Shape);
    }

    let date_text = &line[date_span];
    let date = parse_log_date(date_text).ok_or_else(|| ParseError::Date(date_text.to_owned()))?;
    let RequestSpans {
        method,
        url,
        protocol,
    } = split_request(line, request)?;
    let code: i32 = code_text
        .parse()
        .ok()
        .filter(|c| (100..=599).contains(c))
        .ok_or_else(|| ParseError::Code(code_text.to_owned()))?;
    let size = match size_text {
        "-" => None,
        text => Some(
            text.parse::<i64>()
                .map_err(|_| ParseError::Size(text.to_owned()))?,
        ),
    };

    Ok(LineFields {
        ip,
        user: (&line[user.clone()] != "-").then_some(user),
        date,
        method_is_upper: !line[method.clone()].bytes().any(|b| b.is_ascii_lowercase()),
        method,
        url,
        protocol,
        code,
        size,
        referer,
        user_agent,
    })
}

/// Walks the line left to right; every method returns `None` when the shape does not match.
struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn rest(&self) -> &'a [u8] {
        &self.text.as_bytes()[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos == self.text.len()
    }

    fn space(&mut self) -> Option<()> {
        (self.rest().first() == Some(&b' ')).then(|| self.pos += 1)
    }

    /// A non-empty run of non-whitespace, then a single space or the end of the line.
    fn word(&mut self) -> Option<Range<usize>> {
        let rest = self.rest();
        let len = rest.iter().position(|&b| is_space(b)).unwrap_or(rest.len());
        if len == 0 || rest.get(len).is_some_and(|&b| b != b' ') {
            return None;
        }
        let word = self.pos..self.pos + len;
        self.pos += len + usize::from(len < rest.len());
        // A space ends a word only when something follows it: `200 1 ` is not a line.
        (!(len < rest.len() && self.at_end())).then_some(word)
    }

    /// `[TEXT] ` with non-empty TEXT free of `]`.
    fn bracketed(&mut self) -> Option<Range<usize>> {
        let rest = self.rest();
        if rest.first() != Some(&b'[') {
            return None;
        }
        let close = memchr::memchr(b']', rest)?;
        if close == 1 || rest.get(close + 1) != Some(&b' ') {
            return None;
        }
        let inner = self.pos + 1..self.pos + close;
        self.pos += close + 2;
        Some(inner)
    }

    /// `"TEXT"` where TEXT may hold `\`-escaped characters; returns TEXT as written.
    fn quoted(&mut self) -> Option<Range<usize>> {
        let rest = self.rest();
        if rest.first() != Some(&b'"') {
            return None;
        }
        let mut i = 1;
        loop {
            i += memchr::memchr2(b'"', b'\\', &rest[i..])?;
            if rest[i] == b'"' {
                break;
            }
            // An escape takes the next character whole, whatever it is, but not a line end.
            let escaped = self.text[self.pos + i + 1..].chars().next()?;
            if escaped == '\n' {
                return None;
            }
            i += 1 + escaped.len_utf8();
        }
        let inner = self.pos + 1..self.pos + i;
        self.pos += i + 1;
        Some(inner)
    }
}

/// Whitespace as far as the line's shape is concerned; the line was cut at `\n` already.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// Where the parts of a request (`GET /path HTTP/1.0`) lie in the line.
struct RequestSpans {
    method: Range<usize>,
    url: Range<usize>,
    protocol: Range<usize>,
}

/// The method, URL and protocol of the request field at `request` in `line`.
fn split_request(line: &str, request: Range<usize>) -> Result<RequestSpans, ParseError> {
    let text = &line[request.clone()];
    let bad = || ParseError::Request(text.to_owned());
    let method_end = text.find(' ').ok_or_else(bad)?;
    // The URL may itself contain spaces in broken clients' requests; the protocol is the last word.
    let protocol_start = text.rfind(' ').ok_or_else(bad)? + 1;
    let (method, url, protocol) = (
        &text[..method_end],
        text.get(method_end + 1..protocol_start - 1).unwrap_or(""),
        &text[protocol_start..],
    );
    if method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_alphabetic())
        || url.is_empty()
        || !protocol.starts_with("HTTP/")
    {
        return Err(bad());
    }
    let at = |start: usize, end: usize| request.start + start..request.start + end;
    Ok(RequestSpans {
        method: at(0, method_end),
        url: at(method_end + 1, protocol_start - 1),
        protocol: at(protocol_start, text.len()),
    })
}
