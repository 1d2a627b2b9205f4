use thiserror::Error;

/// Failures at the storage boundary. None of this text reaches an HTTP client.
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
