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
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}
