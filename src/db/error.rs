//! Failures at the storage boundary. None of this text reaches an HTTP client: the HTTP layer
//! logs it and answers "internal error"; an IngestActor is told only a [`WriteError`], whose
//! kind says whether sending the same batch again can help.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use thiserror::Error;

use crate::batch::WriteError;
use crate::reason::Reason;

#[derive(Debug, Error)]
pub enum DbError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: diesel::ConnectionError,
    },
    #[error("cannot create database {path}: {source}")]
    Create {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot migrate database: {0}")]
    Migration(String),
    #[error("database does not support WAL journaling (journal_mode is {0})")]
    NoWal(String),
    #[error("{0} keys of the batch collided with stored ones")]
    Conflict(usize),
    #[error("no source has the id {0}")]
    UnknownSource(i64),
    #[error("no id was given to the name {0:?}")]
    UnknownName(String),
    #[error("stored line {0} is missing")]
    MissingLine(i64),
    #[error("stored line {id} no longer parses: {reason}")]
    Unreadable {
        id: i64,
        reason: crate::parse::ParseError,
    },
    #[error("block {block} cannot be read: {reason}")]
    CorruptBlock {
        block: i64,
        reason: super::blocks::format::FormatError,
    },
    #[error("the compactor has no merge under way")]
    NoMerge,
    #[error("counting would read more than {0} lines")]
    TooBroad(usize),
    #[error("backup: {0}")]
    Backup(String),
    #[error("the writer panicked: {0}")]
    Panicked(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// The failures that are the database's state rather than the batch's, by what SQLite says
/// (`sqlite3_errstr`, or a statement's message), with what each means for `/healthz` (first
/// match wins). Some of them (full, I/O error, out of memory) roll the whole transaction back,
/// savepoints included, so the batch must never be taken apart after one: it is sent again
/// whole. A corrupt or changed database is not the batch's fault either, and turning its lines
/// into rejected ones would lose them. Any other database error is the batch's (refused).
const DATABASE_STATES: &[(&str, Reason)] = &[
    ("database or disk is full", Reason::DiskFull),
    ("disk I/O error", Reason::StorageIo),
    ("database is locked", Reason::StorageLocked),
    ("database table is locked", Reason::StorageLocked),
    (
        "attempt to write a readonly database",
        Reason::StorageReadOnly,
    ),
    ("access permission denied", Reason::StorageReadOnly),
    ("database disk image is malformed", Reason::StorageCorrupt),
    ("file is not a database", Reason::StorageCorrupt),
    ("unable to open database file", Reason::StorageFailing),
    ("out of memory", Reason::StorageFailing),
    ("interrupted", Reason::StorageFailing),
    ("database schema has changed", Reason::StorageFailing),
    ("locking protocol", Reason::StorageFailing),
    ("no such savepoint", Reason::StorageFailing),
    ("no transaction is active", Reason::StorageFailing),
];

/// The entry of [`DATABASE_STATES`] a database error's message matches, if any.
fn database_state(message: &str) -> Option<Reason> {
    DATABASE_STATES
        .iter()
        .find(|(known, _)| message.contains(known))
        .map(|&(_, reason)| reason)
}

impl DbError {
    /// Why storage fails, as a code: what `/healthz` says instead of the error's text.
    pub fn reason(&self) -> Reason {
        let DbError::Query(DieselError::DatabaseError(_, info)) = self else {
            return match self {
                DbError::Panicked(_) => Reason::WriterPanicked,
                DbError::Open { .. } | DbError::Create { .. } => Reason::DatabaseUnopenable,
                _ => Reason::StorageFailing,
            };
        };
        database_state(info.message()).unwrap_or(Reason::StorageFailing)
    }

    /// What a batch's sender is told. Refused: the database turned down something in the batch
    /// (a constraint, a trigger, a data error), which the writer then takes apart line by line.
    /// Unavailable: the database's own state (full, I/O error, locked, read-only) or anything
    /// else, which a later attempt may pass.
    pub fn to_write_error(&self) -> WriteError {
        if self.is_refusal() {
            WriteError::Refused(self.to_string())
        } else {
            WriteError::Unavailable(self.to_string())
        }
    }

    pub fn is_refusal(&self) -> bool {
        match self {
            DbError::Conflict(_) | DbError::UnknownSource(_) => true,
            DbError::Query(DieselError::DatabaseError(kind, info)) => match kind {
                DatabaseErrorKind::UniqueViolation
                | DatabaseErrorKind::ForeignKeyViolation
                | DatabaseErrorKind::NotNullViolation
                | DatabaseErrorKind::CheckViolation => true,
                _ => database_state(info.message()).is_none(),
            },
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use diesel::connection::SimpleConnection;
    use diesel::{Connection, SqliteConnection};

    use super::*;

    /// What SQLite itself says for a result code.
    fn errstr(code: i32) -> String {
        // SAFETY: sqlite3_errstr returns a static NUL-terminated string for any code.
        let text = unsafe { CStr::from_ptr(libsqlite3_sys::sqlite3_errstr(code)) };
        text.to_string_lossy().into_owned()
    }

    /// A database error with SQLite's message, as diesel gives it.
    fn failure(message: &str) -> DbError {
        DbError::Query(DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new(message.to_owned()),
        ))
    }

    /// What a statement fails with on a fresh in-memory database.
    fn message_of(statement: &str) -> String {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        match conn.batch_execute(statement) {
            Err(DieselError::DatabaseError(_, info)) => info.message().to_owned(),
            other => panic!("{statement}: {other:?}"),
        }
    }

    #[test]
    fn every_database_state_is_what_sqlite_says_and_is_never_the_batch_s_fault() {
        use libsqlite3_sys as ffi;
        // Each entry, from SQLite: its result code's text, or a statement that fails so.
        let said: Vec<String> = vec![
            errstr(ffi::SQLITE_FULL),
            errstr(ffi::SQLITE_IOERR),
            errstr(ffi::SQLITE_BUSY),
            errstr(ffi::SQLITE_LOCKED),
            errstr(ffi::SQLITE_READONLY),
            errstr(ffi::SQLITE_PERM),
            errstr(ffi::SQLITE_CORRUPT),
            errstr(ffi::SQLITE_NOTADB),
            errstr(ffi::SQLITE_CANTOPEN),
            errstr(ffi::SQLITE_NOMEM),
            errstr(ffi::SQLITE_INTERRUPT),
            errstr(ffi::SQLITE_SCHEMA),
            errstr(ffi::SQLITE_PROTOCOL),
            message_of("RELEASE never_made"),
            message_of("COMMIT"),
        ];
        assert_eq!(said.len(), DATABASE_STATES.len());
        for ((known, reason), message) in DATABASE_STATES.iter().zip(&said) {
            assert!(message.contains(known), "{message:?} is not {known:?}");
            let error = failure(message);
            assert_eq!(error.reason(), *reason, "{message}");
            assert!(!error.is_refusal(), "{message}");
            assert!(matches!(error.to_write_error(), WriteError::Unavailable(_)));
        }
    }

    #[test]
    fn other_database_errors_are_the_batch_s_and_fail_storage_generically() {
        let error = failure(&message_of("INSERT INTO nowhere VALUES (1)"));
        assert!(error.is_refusal());
        assert!(matches!(error.to_write_error(), WriteError::Refused(_)));
        assert_eq!(error.reason(), Reason::StorageFailing);
    }
}
