//! A file to import, read as lines whatever it is stored as: plain, gzip (recognised by its
//! magic bytes, not its name), or stdin for `-`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const BUFFER_BYTES: usize = 256 * 1024;

pub struct SourceFile {
    pub reader: Box<dyn BufRead>,
    /// The size on disk, for the progress bar; `None` for stdin.
    pub size: Option<u64>,
    read: Arc<AtomicU64>,
}

impl SourceFile {
    pub fn open(path: &Path) -> io::Result<SourceFile> {
        let read = Arc::new(AtomicU64::new(0));
        let (raw, size): (Box<dyn Read>, _) = if path == Path::new("-") {
            (Box::new(io::stdin().lock()), None)
        } else {
            let file = File::open(path)?;
            let size = file.metadata()?.len();
            (Box::new(file), Some(size))
        };
        let mut raw = BufReader::with_capacity(
            BUFFER_BYTES,
            Counting {
                inner: raw,
                read: read.clone(),
            },
        );
        // MultiGzDecoder: rotated logs are often several gzip members end to end (`cat a.gz
        // b.gz`, or a logger that appends a member per flush); GzDecoder stops after the first.
        let reader: Box<dyn BufRead> = if raw.fill_buf()?.starts_with(&GZIP_MAGIC) {
            Box::new(BufReader::with_capacity(
                BUFFER_BYTES,
                MultiGzDecoder::new(raw),
            ))
        } else {
            Box::new(raw)
        };
        Ok(SourceFile { reader, size, read })
    }

    /// Bytes read from the file as stored (compressed, for gzip).
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }
}

struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
