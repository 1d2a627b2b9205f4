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
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// `db` with its symlinks resolved, even when the file does not exist yet: SQLite creates the
/// target of a dangling link, so the link is followed by hand, and a file still to be created
/// is named by its directory, resolved, and its file name.
fn resolved(db: &Path) -> PathBuf {
    let mut path = db.to_owned();
    // Bounded, for a loop of links (which SQLite could not open either).
    for _ in 0..16 {
        if let Ok(real) = std::fs::canonicalize(&path) {
            return real;
        }
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        match std::fs::read_link(&path) {
            // A relative target is relative to the link's directory; `join` keeps an
            // absolute one as it is.
            Ok(target) => path = parent.join(target),
            Err(_) => {
                return match (std::fs::canonicalize(&parent), path.file_name()) {
                    (Ok(directory), Some(file)) => directory.join(file),
                    _ => path,
                }
            }
        }
    }
    path
}

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
    /// database, or another spelling of its path, finds the same lock.
    pub fn path_for(db: &Path) -> PathBuf {
        let mut name = resolved(db).into_os_string();
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
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        // Owner-only whatever the umask, like the database beside it (a lock file another
        // user made stays as it is: it holds only a process id).
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_finds_its_targets_lock_even_before_the_database_exists() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.db");
        let link = dir.path().join("link.db");
        // Dangling: SQLite would create real.db through it.
        std::os::unix::fs::symlink("real.db", &link).unwrap();
        assert_eq!(DbLock::path_for(&link), DbLock::path_for(&real));
        let held = DbLock::acquire(&link).unwrap();
        assert!(matches!(
            DbLock::acquire(&real),
            Err(LockError::Held { .. })
        ));
        drop(held);
        DbLock::acquire(&real).unwrap();
    }
}
