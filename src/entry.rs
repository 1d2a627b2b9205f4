//! What travels from an IngestActor to the DbWriter: every line, parsed or rejected.

use std::borrow::Cow;
use std::ops::Range;

use crate::ingest::framing::Frame;
use crate::parse::{parse_line, LogRecord};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// The line as received (less a trailing `\r`) and what storage indexes it by; the other
    /// fields are parsed again from the line when it is read, so nothing is stored twice.
    Parsed { line: String, key: LineKey },
    /// Kept byte for byte (an over-long line: its first bytes) with the reason it was refused.
    Rejected { line: Vec<u8>, reason: String },
}

impl Entry {
    pub fn from_frame(frame: Frame) -> Entry {
        match frame {
            Frame::TooLong { prefix, length } => Entry::Rejected {
                reason: format!(
                    "line too long: {length} bytes, over the limit of {}; its first {} bytes are kept",
                    prefix.len(),
                    prefix.len()
                ),
                line: prefix.to_vec(),
            },
            // Nothing says such a line is whole, so it is never stored as a parsed one: a cut
            // `... 200 354` would parse as `... 200 35`.
            Frame::Unterminated { bytes, length } => Entry::Rejected {
                reason: format!(
                    "incomplete line: the stream ended {length} bytes into it, before its newline"
                ),
                line: bytes.to_vec(),
            },
            Frame::Line(bytes) => match std::str::from_utf8(&bytes) {
                Err(e) => Entry::Rejected {
                    reason: format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                    line: bytes.to_vec(),
                },
                Ok(text) => Entry::from_line(text),
            },
        }
    }

    pub fn from_line(text: &str) -> Entry {
        match parse_line(text) {
            Ok(record) => {
                let line = text.strip_suffix('\r').unwrap_or(text);
                Entry::Parsed {
                    key: LineKey::of(&record, line),
                    line: line.to_owned(),
                }
            }
            Err(e) => Entry::Rejected {
                reason: e.to_string(),
                line: text.as_bytes().to_vec(),
            },
        }
    }

    pub fn is_rejected(&self) -> bool {
        matches!(self, Entry::Rejected { .. })
    }
}

/// The fields of a parsed line that storage filters and orders by. Method and user are spans of
/// the line rather than strings of their own: no allocation per line on the way to the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineKey {
    pub date: i64,
    pub code: i32,
    method: Field,
    user: Option<Field>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Span(Range<u32>),
    /// A method written in lower case, upper-cased by the parser, or a field beyond what a u32
    /// span reaches (only with a line limit above 4 GiB): rare enough to allocate.
    Owned(Box<str>),
}

impl Field {
    fn get<'a>(&'a self, line: &'a str) -> &'a str {
        match self {
            Field::Span(span) => &line[span.start as usize..span.end as usize],
            Field::Owned(text) => text,
        }
    }
}

impl LineKey {
    fn of(record: &LogRecord<'_>, line: &str) -> LineKey {
        let span = |field: &str| {
            let start = field.as_ptr() as usize - line.as_ptr() as usize;
            match (u32::try_from(start), u32::try_from(start + field.len())) {
                (Ok(start), Ok(end)) => Field::Span(start..end),
                _ => Field::Owned(field.into()),
            }
        };
        LineKey {
            date: record.date,
            code: record.code,
            method: match &record.method {
                Cow::Borrowed(method) => span(method),
                Cow::Owned(method) => Field::Owned(method.as_str().into()),
            },
            user: record.user.map(span),
        }
    }

    /// The method, upper-cased.
    pub fn method<'a>(&'a self, line: &'a str) -> &'a str {
        self.method.get(line)
    }

    pub fn user<'a>(&'a self, line: &'a str) -> Option<&'a str> {
        self.user.as_ref().map(|user| user.get(line))
    }
}
