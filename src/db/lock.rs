//! One writer per database file. SQLite would let two services write the same file in turn,
//! but each keeps its position (next id, open segment) in memory, so a second one would
//! corrupt what the first is writing. `serve` and `import` therefore hold an exclusive lock on
//! `DB.lock` beside the database for as long as they run.
//!
//! `flock` rather than a pid file: the kernel releases it when the process ends however it
//! ends (a crash, SIGKILL), so a stale lock file never keeps a restart out. The file itself
//! stays, holding the last holder's pid for the error message.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum LockError {
    #[error(
        "{db} is in use by another loggerator (process {holder}, lock file {lock}): one \
         service or import writes a database at a time"
    )]
    Held {
        db: String,
        lock: String,
        holder: String,
    },
    #[error("cannot open database {db}: its lock file {lock}: {source}")]
    Io {
        db: String,
        lock: String,
        source: std::io::Error,
    },
}

/// Held while it lives; the lock is released when it is dropped (or the process ends).
#[derive(Debug)]
pub struct DbLock {
    _file: File,
}

impl DbLock {
    /// The lock file of `db`: `DB.lock` beside the file itself, so that a symlink to the
    /// database, or another spelling of its path, finds the same lock. A database not yet
    /// created is named by its directory, resolved, and its file name.
    pub fn path_for(db: &Path) -> PathBuf {
        let resolved = std::fs::canonicalize(db).ok().or_else(|| {
            let parent = match db.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            Some(std::fs::canonicalize(parent).ok()?.join(db.file_name()?))
        });
        let mut name = resolved.unwrap_or_else(|| db.to_owned()).into_os_string();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// Takes the lock, or says who holds it; never waits.
    pub fn acquire(db: &Path) -> Result<DbLock, LockError> {
        let path = Self::path_for(db);
        let io = |source| LockError::Io {
            db: db.display().to_string(),
            lock: path.display().to_string(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // SAFETY: flock on a descriptor this function owns; no memory is involved.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let error = std::io::Error::last_os_error();
            if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io(error));
            }
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(LockError::Held {
                db: db.display().to_string(),
                lock: path.display().to_string(),
                holder: match holder.trim() {
                    "" => "unknown".to_owned(),
                    pid => pid.to_owned(),
                },
            });
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(DbLock { _file: file })
    }
}
