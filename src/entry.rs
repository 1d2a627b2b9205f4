//! What travels from an IngestActor to the DbWriter: every line, parsed or rejected.

use crate::ingest::framing::Frame;
use crate::parse::{parse_line, LogRecord};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Parsed {
        record: LogRecord,
        line: String,
    },
    /// Kept byte for byte (an over-long line: its first bytes) with the reason it was refused.
    Rejected {
        line: Vec<u8>,
        reason: String,
    },
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
            Ok(record) => Entry::Parsed {
                record,
                line: text.strip_suffix('\r').unwrap_or(text).to_owned(),
            },
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
