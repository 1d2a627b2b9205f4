//! Replay detection. A loggerator source replays the same sequence from its first line on every
//! connection, so after a broken connection, a restart or a crash the lines already received
//! come again. Storing them twice would corrupt every count; skipping them blindly would lose
//! data from a source that does not replay. So the first lines of each new connection are
//! compared with the stream's first lines: if they match, the part already consumed is skipped;
//! if not, the source is treated as a new stream and everything is kept.
//!
//! The stream's first lines are kept as a fingerprint of hashes, which the writer commits with
//! every batch together with the position ([`StreamMark`]); a restarted service resumes from the
//! committed mark, so a crash loses only lines not yet committed, and those come again.
//!
//! Only complete lines go through the guard: a line cut short by the end of a stream is no part
//! of the sequence a replay would repeat.

use std::hash::Hasher;
use std::mem;

use fnv::FnvHasher;

use super::framing::Frame;
use crate::batch::StreamMark;

/// How many leading lines decide whether a connection replays the stream.
pub const PROBE_LINES: usize = 64;

#[derive(Debug)]
pub struct ReplayGuard {
    enabled: bool,
    /// Lines of the current stream received so far, over all connections.
    position: u64,
    /// Hashes of the stream's first lines (up to PROBE_LINES).
    fingerprint: Vec<u64>,
    /// Lines read on the current connection.
    read: u64,
    mode: Mode,
}

#[derive(Debug)]
enum Mode {
    /// Every line is new.
    Passing,
    /// Comparing the connection's first lines with the fingerprint; they wait here meanwhile.
    Probing(Vec<Frame>),
    /// A replay: lines up to `position` were stored already.
    Skipping,
}

/// What became of the lines handed to the guard.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    /// Lines handed on to be stored.
    pub new: u64,
    /// Lines dropped as replays of lines already received.
    pub replayed: u64,
}

/// FNV-1a (64 bits) of the line's bytes; for an over-long line, of its kept prefix and then its
/// full length as 8 little-endian bytes. The hashes are stored, so this must never change:
/// FNV is specified, unlike std's `DefaultHasher`, and bytes are fed with `write` only (the
/// `Hash` impls add platform-sized length prefixes).
fn hash(frame: &Frame) -> u64 {
    let mut hasher = FnvHasher::default();
    match frame {
        Frame::Line(bytes) => hasher.write(bytes),
        Frame::TooLong { prefix, length }
        | Frame::Unterminated {
            bytes: prefix,
            length,
        } => {
            hasher.write(prefix);
            hasher.write(&(*length as u64).to_le_bytes());
        }
    }
    hasher.finish()
}

impl ReplayGuard {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            position: 0,
            fingerprint: Vec::new(),
            read: 0,
            mode: Mode::Passing,
        }
    }

    /// A guard that continues a stream as committed before (after a restart or a crash).
    pub fn resume(enabled: bool, mark: StreamMark) -> Self {
        let mut fingerprint = mark.fingerprint;
        fingerprint.truncate(PROBE_LINES);
        Self {
            position: mark.position,
            fingerprint,
            ..Self::new(enabled)
        }
    }

    /// Where the stream stands: what a batch sent now commits. Lines still held by the probe
    /// are not counted; they are in no batch yet.
    pub fn mark(&self) -> StreamMark {
        StreamMark {
            fingerprint: self.fingerprint.clone(),
            position: self.position,
        }
    }

    /// A new connection starts.
    pub fn connected(&mut self) {
        self.read = 0;
        if !self.enabled {
            // Every connection is stored whole, so each is a stream of its own: the mark then
            // says what this connection delivered, and a later run that does skip replays
            // resumes from there rather than from the sum of every connection's lines.
            self.position = 0;
            self.fingerprint.clear();
        }
        self.mode = if self.enabled && self.position > 0 {
            Mode::Probing(Vec::new())
        } else {
            Mode::Passing
        };
    }

    /// Takes the connection's next line; the lines to store (this one, none, or some held back
    /// until now) go to `keep`, in order.
    pub fn admit(&mut self, frame: Frame, mut keep: impl FnMut(Frame)) -> Admitted {
        let index = self.read as usize;
        self.read += 1;
        match &mut self.mode {
            Mode::Passing => {
                self.take(&frame);
                keep(frame);
                Admitted {
                    new: 1,
                    replayed: 0,
                }
            }
            Mode::Skipping => {
                if self.read >= self.position {
                    self.mode = Mode::Passing;
                }
                Admitted {
                    new: 0,
                    replayed: 1,
                }
            }
            Mode::Probing(held) => {
                if self.fingerprint.get(index) != Some(&hash(&frame)) {
                    // Not the stream received before: a new stream, kept whole from its start.
                    let mut new = mem::take(held);
                    new.push(frame);
                    self.position = 0;
                    self.fingerprint.clear();
                    self.mode = Mode::Passing;
                    let count = new.len() as u64;
                    for frame in new {
                        self.take(&frame);
                        keep(frame);
                    }
                    return Admitted {
                        new: count,
                        replayed: 0,
                    };
                }
                held.push(frame);
                if held.len() < self.fingerprint.len() {
                    return Admitted::default();
                }
                let replayed = held.len() as u64;
                self.mode = if self.read >= self.position {
                    Mode::Passing
                } else {
                    Mode::Skipping
                };
                Admitted { new: 0, replayed }
            }
        }
    }

    /// Still comparing this connection's first lines with the stream's: none of them has been
    /// handed on yet.
    pub fn probing(&self) -> bool {
        matches!(self.mode, Mode::Probing(_))
    }

    /// A line cut short by the end of the connection: no part of the sequence a replay repeats,
    /// so it moves no position. Whether to keep it (as a rejected line): not while the
    /// connection is still replaying what was consumed before, where the whole line was
    /// received already (it is counted as replayed then).
    pub fn keep_cut_short(&mut self) -> bool {
        match self.mode {
            Mode::Passing => true,
            Mode::Probing(_) | Mode::Skipping => false,
        }
    }

    /// The connection ended. Lines still held matched the stream so far: replays.
    pub fn disconnected(&mut self) -> u64 {
        match mem::replace(&mut self.mode, Mode::Passing) {
            Mode::Probing(held) => held.len() as u64,
            _ => 0,
        }
    }

    fn take(&mut self, frame: &Frame) {
        self.position += 1;
        if self.fingerprint.len() < PROBE_LINES {
            self.fingerprint.push(hash(frame));
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn frames(range: std::ops::Range<u32>) -> Vec<Frame> {
        range
            .map(|i| Frame::Line(Bytes::from(format!("line {i}"))))
            .collect()
    }

    /// Feeds one connection's lines; returns the stored ones and the replay count.
    fn connection(guard: &mut ReplayGuard, lines: Vec<Frame>) -> (Vec<Frame>, u64) {
        guard.connected();
        let mut stored = Vec::new();
        let mut replayed = 0;
        for frame in lines {
            let before = stored.len() as u64;
            let admitted = guard.admit(frame, |f| stored.push(f));
            assert_eq!(admitted.new, stored.len() as u64 - before);
            replayed += admitted.replayed;
        }
        replayed += guard.disconnected();
        (stored, replayed)
    }

    #[test]
    fn a_replay_after_a_break_stores_only_the_rest() {
        let mut guard = ReplayGuard::new(true);
        assert_eq!(connection(&mut guard, frames(0..150)), (frames(0..150), 0));
        assert_eq!(
            connection(&mut guard, frames(0..400)),
            (frames(150..400), 150)
        );
        assert_eq!(connection(&mut guard, frames(0..400)), (vec![], 400));
    }

    #[test]
    fn a_break_during_the_probe_loses_nothing_and_stores_nothing_twice() {
        let mut guard = ReplayGuard::new(true);
        connection(&mut guard, frames(0..10));
        assert_eq!(connection(&mut guard, frames(0..4)), (vec![], 4));
        assert_eq!(connection(&mut guard, frames(0..12)), (frames(10..12), 10));
    }

    #[test]
    fn a_source_that_does_not_replay_is_kept_whole() {
        let mut guard = ReplayGuard::new(true);
        connection(&mut guard, frames(0..100));
        // Same first lines for a while, then different: a new stream.
        let mut other = frames(0..3);
        other.extend(frames(500..600));
        assert_eq!(connection(&mut guard, other.clone()), (other.clone(), 0));
        // And that new stream is what later connections are compared with.
        assert_eq!(connection(&mut guard, other.clone()), (vec![], 103));
    }

    #[test]
    fn a_resumed_guard_skips_what_was_committed_before() {
        let mut first = ReplayGuard::new(true);
        connection(&mut first, frames(0..100));
        // As if the service crashed and restarted from the mark of the last committed batch.
        let mut resumed = ReplayGuard::resume(true, first.mark());
        assert_eq!(
            connection(&mut resumed, frames(0..130)),
            (frames(100..130), 100)
        );
        assert_eq!(resumed.mark().position, 130);
    }

    #[test]
    fn hashes_are_stable_across_releases() {
        // FNV-1a 64 of "a": the value from the specification's test vectors.
        assert_eq!(
            hash(&Frame::Line(Bytes::from_static(b"a"))),
            0xaf63dc4c8601ec8c
        );
        assert_eq!(
            hash(&Frame::Line(Bytes::from_static(b""))),
            0xcbf29ce484222325
        );
    }

    #[test]
    fn a_line_cut_short_inside_a_replay_is_not_kept() {
        let mut guard = ReplayGuard::new(true);
        connection(&mut guard, frames(0..10));
        guard.connected();
        guard.admit(frames(0..1).remove(0), |_| panic!("a replay"));
        assert!(!guard.keep_cut_short(), "still replaying");
        guard.disconnected();
        guard.connected();
        for frame in frames(0..11) {
            guard.admit(frame, |_| {});
        }
        assert!(guard.keep_cut_short(), "past what was consumed");
    }

    #[test]
    fn disabled_marks_each_connection_as_a_stream_of_its_own() {
        let mut guard = ReplayGuard::new(false);
        connection(&mut guard, frames(0..10));
        connection(&mut guard, frames(0..10));
        assert_eq!(guard.mark().position, 10);
    }

    #[test]
    fn disabled_keeps_everything() {
        let mut guard = ReplayGuard::new(false);
        connection(&mut guard, frames(0..10));
        assert_eq!(connection(&mut guard, frames(0..10)), (frames(0..10), 0));
    }
}
