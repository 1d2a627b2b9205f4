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
        if path == Path::new("-") {
            return SourceFile::from_reader(Box::new(io::stdin().lock()), None);
        }
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        SourceFile::from_reader(Box::new(file), Some(size))
    }

    fn from_reader(raw: Box<dyn Read>, size: Option<u64>) -> io::Result<SourceFile> {
        let read = Arc::new(AtomicU64::new(0));
        let mut raw = Counting {
            inner: raw,
            read: read.clone(),
        };
        // The magic bytes are read whole: a pipe may hand over a single byte at first.
        let mut head = [0; GZIP_MAGIC.len()];
        let mut got = 0;
        while got < head.len() {
            match raw.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        let is_gzip = head[..got] == GZIP_MAGIC;
        let raw = BufReader::with_capacity(
            BUFFER_BYTES,
            io::Cursor::new(head[..got].to_vec()).chain(raw),
        );
        // MultiGzDecoder: rotated logs are often several gzip members end to end (`cat a.gz
        // b.gz`, or a logger that appends a member per flush); GzDecoder stops after the first.
        let reader: Box<dyn BufRead> = if is_gzip {
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    /// Hands over one byte per read, as a slow pipe may.
    struct Trickle(io::Cursor<Vec<u8>>);

    impl Read for Trickle {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            let end = buffer.len().min(1);
            self.0.read(&mut buffer[..end])
        }
    }

    fn text_of(bytes: Vec<u8>) -> String {
        let mut file =
            SourceFile::from_reader(Box::new(Trickle(io::Cursor::new(bytes))), None).unwrap();
        let mut text = String::new();
        file.reader.read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn gzip_is_recognised_when_its_bytes_arrive_one_at_a_time() {
        let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
        gzip.write_all(b"a line\n").unwrap();
        assert_eq!(text_of(gzip.finish().unwrap()), "a line\n");
        assert_eq!(text_of(b"plain\n".to_vec()), "plain\n");
        assert_eq!(text_of(b"x".to_vec()), "x");
        assert_eq!(text_of(Vec::new()), "");
    }
}
