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

/// What SQLite says (`sqlite3_errstr`) for the failures that are the database's state rather
/// than the batch's. Some of them (full, I/O error, out of memory) roll the whole transaction
/// back, savepoints included, so the batch must never be taken apart after one: it is sent
/// again whole. A corrupt or changed database is not the batch's fault either, and turning its
/// lines into rejected ones would lose them.
const TRANSIENT_MESSAGES: &[&str] = &[
    "database or disk is full",
    "disk I/O error",
    "database is locked",
    "database table is locked",
    "attempt to write a readonly database",
    "unable to open database file",
    "out of memory",
    "interrupted",
    "database disk image is malformed",
    "database schema has changed",
    "file is not a database",
    "locking protocol",
    "access permission denied",
    "no such savepoint",
    "no transaction is active",
];

/// What SQLite's messages mean for `/healthz`, first match wins; anything else is
/// [`Reason::StorageFailing`].
const STORAGE_REASONS: &[(&str, Reason)] = &[
    ("database or disk is full", Reason::DiskFull),
    ("disk I/O error", Reason::StorageIo),
    (
        "attempt to write a readonly database",
        Reason::StorageReadOnly,
    ),
    ("access permission denied", Reason::StorageReadOnly),
    ("database is locked", Reason::StorageLocked),
    ("database table is locked", Reason::StorageLocked),
    ("database disk image is malformed", Reason::StorageCorrupt),
    ("file is not a database", Reason::StorageCorrupt),
];

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
        STORAGE_REASONS
            .iter()
            .find(|(message, _)| info.message().contains(message))
            .map_or(Reason::StorageFailing, |&(_, reason)| reason)
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
                _ => !TRANSIENT_MESSAGES
                    .iter()
                    .any(|m| info.message().contains(m)),
            },
            _ => false,
        }
    }
}
