//! What travels from an IngestActor to the DbWriter: every line, parsed or rejected, in one
//! [`WriteBatch`], and what became of it. Both sides import this; it imports only the parser.

use std::net::IpAddr;
use std::ops::Range;
use std::sync::Arc;

use actix::Message;
use thiserror::Error;

use crate::parse::parse_fields;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// The line as received (less a trailing `\r`) and what storage indexes it by; the other
    /// fields are parsed again from the line when it is read, so nothing is stored twice.
    Parsed { line: String, key: LineKey },
    /// Kept byte for byte (an over-long line: its first bytes) with the reason it was refused.
    Rejected { line: Vec<u8>, reason: String },
}

impl Entry {
    /// Parses a line; one that does not parse is kept as rejected, with the parser's reason.
    pub fn from_line(text: &str) -> Entry {
        match parse_fields(text) {
            Ok(fields) => {
                let line = text.strip_suffix('\r').unwrap_or(text);
                Entry::Parsed {
                    key: LineKey {
                        date: fields.date,
                        code: fields.code,
                        size: fields.size.unwrap_or(0),
                        ip: line[fields.ip.clone()].parse().ok(),
                        method: if fields.method_is_upper {
                            Field::span(fields.method, line)
                        } else {
                            Field::Owned(line[fields.method].to_ascii_uppercase().into())
                        },
                        user: fields.user.map(|user| Field::span(user, line)),
                    },
                    line: line.to_owned(),
                }
            }
            Err(e) => Entry::Rejected {
                reason: e.to_string(),
                line: text.as_bytes().to_vec(),
            },
        }
    }

    pub fn rejected(line: Vec<u8>, reason: impl Into<String>) -> Entry {
        Entry::Rejected {
            line,
            reason: reason.into(),
        }
    }

    /// The line as received (for a rejected one: the bytes kept).
    pub fn line_bytes(&self) -> &[u8] {
        match self {
            Entry::Parsed { line, .. } => line.as_bytes(),
            Entry::Rejected { line, .. } => line,
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
    /// The size field, 0 for `-`.
    pub size: i64,
    /// `None` when the field is not an IP address.
    pub ip: Option<IpAddr>,
    method: Field,
    user: Option<Field>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    /// u32 rather than usize: a key is then 8 bytes smaller, on every line of a batch.
    Span(Range<u32>),
    /// A method written in lower case, upper-cased here, or a field beyond what a u32 span
    /// reaches (only with a line limit above 4 GiB): rare enough to allocate.
    Owned(Box<str>),
}

impl Field {
    fn span(span: Range<usize>, line: &str) -> Field {
        match (u32::try_from(span.start), u32::try_from(span.end)) {
            (Ok(start), Ok(end)) => Field::Span(start..end),
            _ => Field::Owned(line[span].into()),
        }
    }

    fn get<'a>(&'a self, line: &'a str) -> &'a str {
        match self {
            Field::Span(span) => &line[span.start as usize..span.end as usize],
            Field::Owned(text) => text,
        }
    }
}

impl LineKey {
    /// The method, upper-cased.
    pub fn method<'a>(&'a self, line: &'a str) -> &'a str {
        self.method.get(line)
    }

    pub fn user<'a>(&'a self, line: &'a str) -> Option<&'a str> {
        self.user.as_ref().map(|user| user.get(line))
    }
}

/// Store one batch of a source's lines in one transaction: all of it or none, together with
/// where the source's stream stands after it.
#[derive(Debug, Message)]
#[rtype(result = "Result<WriteSummary, WriteError>")]
pub struct WriteBatch {
    pub source_id: i64,
    /// Shared so the sender keeps the batch to retry if the write fails.
    pub entries: Arc<Vec<Entry>>,
    /// The stream's state once these lines are consumed; committed with them, so that after
    /// a crash the stream resumes exactly after the last committed line.
    pub stream: StreamProgress,
}

/// Which stream a batch continues; its mark is committed with the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamProgress {
    /// The source's own stream: what its connections deliver.
    Source(StreamMark),
    /// A stream of the source named by a key: a pushed body sent with an Idempotency-Key, or
    /// a part of an imported file.
    Keyed { key: Arc<str>, mark: StreamMark },
    /// Lines nothing will recognise again (a push without a key).
    Untracked,
}

/// How far a source's stream has been consumed, and how to recognise the stream again: the
/// hashes of its first lines (see `ingest::replay`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamMark {
    pub fingerprint: Vec<u64>,
    /// Lines of the stream consumed: stored, rejected or skipped, counted from its first.
    pub position: u64,
}

/// What a committed batch became.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteSummary {
    pub stored: u64,
    pub rejected: u64,
}

/// Why a batch was not stored, in the terms its sender acts on; the writer logs the details.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WriteError {
    /// The database could not take it now (full disk, I/O error, locked, read-only): nothing
    /// of the batch was stored, and the same batch may succeed later.
    #[error("the database cannot store the batch now: {0}")]
    Unavailable(String),
    /// Something in the batch itself was refused (a constraint or data error): sent again
    /// unchanged, it fails again.
    #[error("the database refused the batch: {0}")]
    Refused(String),
}
