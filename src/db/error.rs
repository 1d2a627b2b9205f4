//! Failures at the storage boundary. None of this text reaches an HTTP client: the HTTP layer
//! logs it and answers "internal error"; an IngestActor is told only a [`WriteError`], whose
//! kind says whether sending the same batch again can help.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use thiserror::Error;

use crate::batch::WriteError;

#[derive(Debug, Error)]
pub enum DbError {
    #[error("cannot open database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: diesel::ConnectionError,
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
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

impl DbError {
    /// What a batch's sender is told: refused when the batch itself is at fault (a constraint
    /// or a key collision), unavailable for everything else, which a later attempt may pass.
    pub fn to_write_error(&self) -> WriteError {
        match self {
            DbError::Conflict(_)
            | DbError::UnknownSource(_)
            | DbError::Query(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation
                | DatabaseErrorKind::ForeignKeyViolation
                | DatabaseErrorKind::NotNullViolation
                | DatabaseErrorKind::CheckViolation,
                _,
            )) => WriteError::Refused(self.to_string()),
            _ => WriteError::Unavailable(self.to_string()),
        }
    }
}
