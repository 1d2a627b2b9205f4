//! Splits a byte stream into lines without ever failing.
//!
//! tokio-util's `LinesCodec` returns an error for an over-long or non-UTF-8 line, and `FramedRead`
//! ends the stream after any decoder error, which would drop the connection over one bad line.
//! This codec yields raw bytes instead and reports over-long lines as frames of their own, so
//! that the decision to reject a line is made (and recorded) by the caller.

use std::io;

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::Decoder;

use crate::batch::Entry;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete line without its `\n`.
    Line(Bytes),
    /// What followed the last `\n` when the stream ended, `length` bytes of which the first
    /// (at most the limit) are kept: a line cut short, or one its source sent without a newline.
    Unterminated { bytes: Bytes, length: usize },
    /// A line longer than the limit: its first `limit` bytes and its full length.
    TooLong { prefix: Bytes, length: usize },
}

impl Frame {
    /// What the writer is sent for this frame: the line parsed, or kept with why it was not.
    pub fn into_entry(self) -> Entry {
        match self {
            Frame::TooLong { prefix, length } => Entry::rejected(
                prefix.to_vec(),
                format!(
                    "line too long: {length} bytes, over the limit of {}; its first {} bytes are kept",
                    prefix.len(),
                    prefix.len()
                ),
            ),
            // Nothing says such a line is whole, so it is never stored as a parsed one: a cut
            // `... 200 354` would parse as `... 200 35`.
            Frame::Unterminated { bytes, length } => Entry::rejected(
                bytes.to_vec(),
                format!("incomplete line: the stream ended {length} bytes into it, before its newline"),
            ),
            Frame::Line(bytes) => match std::str::from_utf8(&bytes) {
                Err(e) => Entry::rejected(
                    bytes.to_vec(),
                    format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                ),
                Ok(text) => Entry::from_line(text),
            },
        }
    }
}

#[derive(Debug)]
pub struct LineCodec {
    max_line_bytes: usize,
    /// Where to resume the search for `\n`, so a line split over many reads is scanned once.
    next_index: usize,
    /// Set while skipping the rest of an over-long line.
    discarding: Option<(Bytes, usize)>,
}

impl LineCodec {
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            max_line_bytes: max_line_bytes.max(1),
            next_index: 0,
            discarding: None,
        }
    }
}

impl Decoder for LineCodec {
    type Item = Frame;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, io::Error> {
        if let Some((prefix, skipped)) = self.discarding.as_mut() {
            return Ok(match memchr::memchr(b'\n', buf) {
                Some(pos) => {
                    let length = *skipped + pos;
                    let prefix = std::mem::take(prefix);
                    buf.advance(pos + 1);
                    self.discarding = None;
                    Some(Frame::TooLong { prefix, length })
                }
                None => {
                    *skipped += buf.len();
                    buf.clear();
                    None
                }
            });
        }

        match memchr::memchr(b'\n', &buf[self.next_index..]) {
            Some(offset) => {
                let pos = self.next_index + offset;
                self.next_index = 0;
                let mut line = buf.split_to(pos + 1);
                line.truncate(pos);
                if pos > self.max_line_bytes {
                    let prefix = line.split_to(self.max_line_bytes).freeze();
                    return Ok(Some(Frame::TooLong {
                        prefix,
                        length: pos,
                    }));
                }
                Ok(Some(Frame::Line(line.freeze())))
            }
            None if buf.len() > self.max_line_bytes => {
                // Keep only the prefix so one endless line cannot exhaust memory.
                let prefix = Bytes::copy_from_slice(&buf[..self.max_line_bytes]);
                self.discarding = Some((prefix, buf.len()));
                self.next_index = 0;
                buf.clear();
                Ok(None)
            }
            None => {
                self.next_index = buf.len();
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, io::Error> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        // Whatever is left is a line the stream ended in the middle of.
        self.next_index = 0;
        if let Some((bytes, length)) = self.discarding.take() {
            return Ok(Some(Frame::Unterminated { bytes, length }));
        }
        if buf.is_empty() {
            return Ok(None);
        }
        // `decode` has left at most `max_line_bytes` here.
        let bytes = buf.split().freeze();
        Ok(Some(Frame::Unterminated {
            length: bytes.len(),
            bytes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut LineCodec, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                frames.push(frame);
            }
        }
        while let Some(frame) = codec.decode_eof(&mut buf).unwrap() {
            frames.push(frame);
        }
        frames
    }

    fn line(text: &str) -> Frame {
        Frame::Line(Bytes::copy_from_slice(text.as_bytes()))
    }

    #[test]
    fn joins_a_line_split_across_reads() {
        let frames = decode_all(&mut LineCodec::new(64), &[b"ab", b"c\nd", b"ef\n"]);
        assert_eq!(frames, vec![line("abc"), line("def")]);
    }

    #[test]
    fn keeps_an_unterminated_last_line() {
        let frames = decode_all(&mut LineCodec::new(64), &[b"one\ntwo"]);
        assert_eq!(
            frames,
            vec![
                line("one"),
                Frame::Unterminated {
                    bytes: Bytes::from_static(b"two"),
                    length: 3
                }
            ]
        );
    }

    #[test]
    fn reports_an_overlong_line_and_resumes_after_it() {
        let frames = decode_all(
            &mut LineCodec::new(4),
            &[b"ok\n0123", b"456789", b"\nnext\n"],
        );
        assert_eq!(
            frames,
            vec![
                line("ok"),
                Frame::TooLong {
                    prefix: Bytes::from_static(b"0123"),
                    length: 10
                },
                line("next"),
            ]
        );
    }

    #[test]
    fn reports_an_overlong_line_found_whole_in_one_read() {
        let frames = decode_all(&mut LineCodec::new(3), &[b"abcdef\nxy\n"]);
        assert_eq!(
            frames,
            vec![
                Frame::TooLong {
                    prefix: Bytes::from_static(b"abc"),
                    length: 6
                },
                line("xy"),
            ]
        );
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_accepted() {
        let frames = decode_all(&mut LineCodec::new(3), &[b"abc\n"]);
        assert_eq!(frames, vec![line("abc")]);
    }

    #[test]
    fn passes_invalid_utf8_through_as_bytes() {
        let frames = decode_all(&mut LineCodec::new(16), &[b"a\xffb\n"]);
        assert_eq!(frames, vec![Frame::Line(Bytes::from_static(b"a\xffb"))]);
    }

    #[test]
    fn an_endless_line_at_eof_is_reported_once() {
        let frames = decode_all(&mut LineCodec::new(2), &[b"abcdef"]);
        assert_eq!(
            frames,
            vec![Frame::Unterminated {
                bytes: Bytes::from_static(b"ab"),
                length: 6
            }]
        );
    }
}
