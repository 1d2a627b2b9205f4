//! `loggerator import FILE...`: log files (plain, gzip, or `-` for stdin) into a running
//! service (`--api`) or straight into a database file (`--db`), both through the push path of
//! [`crate::ingest::push`].
//!
//! Importing a file again stores nothing new. A file is cut into parts of [`PART_BYTES`] at
//! line ends, and each part is sent as a keyed stream whose key is the SHA-256 of the file's
//! first line and the part's number: a part seen before is recognised by its first lines, and
//! only lines beyond what it consumed then are stored (a file that grew since stores its new
//! lines). Two different files whose first lines are equal byte for byte are told apart by
//! their next lines: the second is refused with an error, and stores nothing.

mod destination;
mod source_file;

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use thiserror::Error;

pub use destination::{Destination, DestinationError};
use source_file::SourceFile;

use crate::ingest::push::PushSummary;

/// The most bytes of lines sent as one part (one request to `--api`).
pub const PART_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}{}", before_failure(done))]
    Store {
        path: String,
        source: DestinationError,
        /// What the parts before the failing one stored.
        done: FileSummary,
    },
}

/// Said after a failure, so that the operator knows the file is partly stored and that the
/// next import goes on from there (its parts are keyed).
fn before_failure(done: &FileSummary) -> String {
    if done.stored == 0 && done.rejected == 0 {
        return String::new();
    }
    format!(
        "; before it, {} lines of the file were stored and {} rejected: importing it again \
         stores only the rest",
        done.stored, done.rejected
    )
}

/// What became of one file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileSummary {
    pub lines: u64,
    pub stored: u64,
    pub rejected: u64,
    /// Consumed by an earlier import of the same file.
    pub already: u64,
    /// Bytes after the file's last newline, left for a later import.
    pub unfinished: u64,
}

impl FileSummary {
    fn add(&mut self, part: &PushSummary) {
        self.lines += part.received;
        self.stored += part.stored;
        self.rejected += part.rejected;
        self.already += part.replayed;
    }
}

/// Imports each file in turn under `source`; stops at the first that fails.
pub async fn import_files(
    files: &[PathBuf],
    source: &str,
    destination: &mut Destination,
    max_line_bytes: usize,
) -> Result<(), ImportError> {
    for path in files {
        let shown = path.display().to_string();
        let file = SourceFile::open(path).map_err(|source| ImportError::Read {
            path: shown.clone(),
            source,
        })?;
        let summary = import_file(file, &shown, source, destination, max_line_bytes).await?;
        println!(
            "{shown}: {} lines: {} stored, {} rejected, {} already stored by an earlier import{}",
            summary.lines,
            summary.stored,
            summary.rejected,
            summary.already,
            match summary.unfinished {
                0 => String::new(),
                bytes => format!(
                    "; the last {bytes} bytes have no newline yet: a line still being written \
                     is left for the next import"
                ),
            }
        );
    }
    Ok(())
}

async fn import_file(
    mut file: SourceFile,
    shown: &str,
    source: &str,
    destination: &mut Destination,
    max_line_bytes: usize,
) -> Result<FileSummary, ImportError> {
    let read_error = |source| ImportError::Read {
        path: shown.to_owned(),
        source,
    };
    let progress = progress_bar(shown, file.size);
    let started = Instant::now();
    let mut summary = FileSummary::default();
    let mut first_line_hash: Option<String> = None;
    let mut part = Vec::with_capacity(PART_BYTES + max_line_bytes);
    for number in 0.. {
        part.clear();
        while part.len() < PART_BYTES {
            let start = part.len();
            if read_line(&mut file.reader, &mut part, max_line_bytes).map_err(read_error)? == 0 {
                break;
            }
            // Only the end of the file leaves a line without its newline: one still being
            // written, perhaps. Stored now, it would be stored cut short and its whole form
            // taken later for a line already consumed; it waits for the next import.
            if part.last() != Some(&b'\n') {
                summary.unfinished = (part.len() - start) as u64;
                part.truncate(start);
                break;
            }
        }
        if part.is_empty() {
            break;
        }
        let file_key = first_line_hash.get_or_insert_with(|| {
            let end = memchr::memchr(b'\n', &part).unwrap_or(part.len());
            hex(&Sha256::digest(&part[..end])[..16])
        });
        let key = format!("import:{file_key}:{number}");
        let stored =
            destination
                .store(source, &key, &part)
                .await
                .map_err(|e| ImportError::Store {
                    path: shown.to_owned(),
                    source: e,
                    done: summary.clone(),
                })?;
        summary.add(&stored);
        progress.set_position(file.bytes_read());
        let rate = summary.lines as f64 / started.elapsed().as_secs_f64().max(1e-3);
        progress.set_message(format!("{} lines, {rate:.0} lines/s", summary.lines));
    }
    progress.finish_and_clear();
    Ok(summary)
}

/// Appends the next line, newline included, to `part`; 0 at the end of the file. A line
/// longer than `max_line_bytes` is cut there (the rest skipped up to its newline): the
/// service would keep only its first bytes, as a rejected line, anyway.
fn read_line(
    reader: &mut impl BufRead,
    part: &mut Vec<u8>,
    max_line_bytes: usize,
) -> std::io::Result<usize> {
    let start = part.len();
    let mut skipping = false;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(part.len() - start);
        }
        let (line, found) = match memchr::memchr(b'\n', buffer) {
            Some(i) => (&buffer[..=i], true),
            None => (buffer, false),
        };
        let used = line.len();
        if !skipping {
            let room = (max_line_bytes + 1).saturating_sub(part.len() - start);
            if line.len() <= room {
                part.extend_from_slice(line);
            } else {
                part.extend_from_slice(&line[..room]);
                skipping = true;
            }
        }
        reader.consume(used);
        if found {
            if skipping {
                part.push(b'\n');
            }
            return Ok(part.len() - start);
        }
    }
}

/// A bar on a terminal (bytes, lines/s, ETA); nothing otherwise, where only the summary
/// lines are printed.
fn progress_bar(shown: &str, size: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let (bar, template) = match size {
        Some(size) => (
            ProgressBar::new(size),
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {msg} ETA {eta}",
        ),
        None => (
            ProgressBar::new_spinner(),
            "{prefix} {spinner} {bytes} {msg}",
        ),
    };
    let style = ProgressStyle::with_template(template)
        .expect("a valid template")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(shown.to_owned());
    bar
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_whole_and_over_long_ones_cut_at_the_limit() {
        let text = b"short\nthis one is long\nlast without newline";
        let mut reader = std::io::BufReader::with_capacity(4, &text[..]);
        let mut part = Vec::new();
        assert_eq!(read_line(&mut reader, &mut part, 10).unwrap(), 6);
        assert_eq!(read_line(&mut reader, &mut part, 10).unwrap(), 12);
        assert_eq!(part, b"short\nthis one is\n");
        part.clear();
        read_line(&mut reader, &mut part, 100).unwrap();
        assert_eq!(part, b"last without newline");
        assert_eq!(read_line(&mut reader, &mut part, 100).unwrap(), 0);
    }
}
