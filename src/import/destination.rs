//! Where imported parts go: a running service's `POST /ingest`, or a database file written
//! here, with the service's own writer and push path. Either way a part is a keyed stream, so
//! a part sent again (a retry, or a second import) stores nothing twice.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use thiserror::Error;

use crate::db::health::StorageHealth;
use crate::db::lock::{DbLock, LockError};
use crate::db::write::writer::{pushed_address, Checkpoint, DbWriter};
use crate::db::DbError;
use crate::ingest::push::{
    check_source_name, push_lines, register_pushed, PushConfig, PushError, PushSummary, PushTarget,
    SetupError,
};
use crate::tls::{client_config, TlsError};

/// Attempts for a part the service could not take now (503, 409, a broken connection):
/// resending is safe, as the part is keyed.
const ATTEMPTS: u32 = 8;
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(250);
/// Generous: a part is up to 8 MiB, and a busy service may commit it slowly.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Error)]
pub enum DestinationError {
    #[error("{0}")]
    SourceName(String),
    #[error(transparent)]
    Locked(#[from] LockError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("the database writer stopped")]
    WriterGone,
    #[error("{0}")]
    Push(PushError),
    #[error(
        "{url} answered 413: {message}. import sends parts of {} MiB and the line that \
         reaches it: give the service --max-push-bytes {}M or more (and any proxy in between \
         a body limit as large), or import with --db while it is stopped",
        super::PART_BYTES >> 20,
        (super::PART_BYTES >> 20) + 1
    )]
    PartTooLarge { url: String, message: String },
    #[error("{url} answered {status}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url}: the answer is not a push summary: {reason}")]
    Answer { url: String, reason: String },
}

/// A push's setup fails as the rest of an import does: the writer gone, or the database.
impl From<SetupError> for DestinationError {
    fn from(error: SetupError) -> Self {
        match error {
            SetupError::WriterGone => DestinationError::WriterGone,
            SetupError::Db(error) => DestinationError::Db(error),
        }
    }
}

pub enum Destination {
    Api {
        client: awc::Client,
        /// `http(s)://HOST:PORT`, without the path.
        base: String,
        token: Option<String>,
    },
    Db {
        writer: Addr<DbWriter>,
        config: PushConfig,
        /// Source ids by name.
        sources: HashMap<String, i64>,
        _lock: DbLock,
    },
}

impl Destination {
    pub fn api(
        base: &str,
        token: Option<String>,
        ca_cert: Option<&Path>,
    ) -> Result<Destination, DestinationError> {
        let tls = client_config(ca_cert)?;
        let client = awc::Client::builder()
            .connector(awc::Connector::new().rustls_0_23(Arc::new(tls)))
            .timeout(REQUEST_TIMEOUT)
            .finish();
        Ok(Destination::Api {
            client,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// Opens (creating and migrating) the database, holding its lock while this lives.
    pub fn db(
        path: &Path,
        segment_rows: u64,
        config: PushConfig,
    ) -> Result<Destination, DestinationError> {
        let lock = DbLock::acquire(path)?;
        let writer = DbWriter::start(path, segment_rows, None, Arc::new(StorageHealth::default()))?;
        Ok(Destination::Db {
            writer,
            config,
            sources: HashMap::new(),
            _lock: lock,
        })
    }

    /// Stores one part of a file as the stream `key` of the source `push:NAME`.
    pub async fn store(
        &mut self,
        source: &str,
        key: &str,
        part: &[u8],
    ) -> Result<PushSummary, DestinationError> {
        check_source_name(source).map_err(DestinationError::SourceName)?;
        match self {
            Destination::Api {
                client,
                base,
                token,
            } => post_part(client, base, token.as_deref(), source, key, part).await,
            Destination::Db {
                writer,
                config,
                sources,
                ..
            } => {
                let address = pushed_address(source);
                let source_id = match sources.get(&address) {
                    Some(&id) => id,
                    None => {
                        let id = register_pushed(writer, &address).await?.id;
                        sources.insert(address.clone(), id);
                        id
                    }
                };
                let target =
                    PushTarget::resume(writer, source_id, address, Some(key.into()), None).await?;
                let recipient = writer.clone().recipient();
                push_lines(part, &recipient, target, *config)
                    .await
                    .map_err(|failed| DestinationError::Push(failed.error))
            }
        }
    }

    /// Folds the WAL into the database file, for `--db`.
    pub async fn finish(self) -> Result<(), DestinationError> {
        if let Destination::Db { writer, .. } = self {
            writer
                .send(Checkpoint)
                .await
                .map_err(|_| DestinationError::WriterGone)??;
        }
        Ok(())
    }
}

async fn post_part(
    client: &awc::Client,
    base: &str,
    token: Option<&str>,
    source: &str,
    key: &str,
    part: &[u8],
) -> Result<PushSummary, DestinationError> {
    let url = format!("{base}/ingest?source={source}");
    let body = bytes::Bytes::copy_from_slice(part);
    let mut delay = FIRST_RETRY_DELAY;
    let mut attempt = 1;
    loop {
        let mut request = client
            .post(&url)
            .insert_header(("Idempotency-Key", key))
            .insert_header(("Content-Type", "text/plain"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let failure = match request.send_body(body.clone()).await {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let answer = response.body().limit(1 << 20).await.map_err(|e| {
                    DestinationError::Unreachable {
                        url: url.clone(),
                        reason: e.to_string(),
                    }
                })?;
                if status == 200 {
                    return serde_json::from_slice(&answer).map_err(|e| DestinationError::Answer {
                        url: url.clone(),
                        reason: e.to_string(),
                    });
                }
                let message = serde_json::from_slice::<serde_json::Value>(&answer)
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| String::from_utf8_lossy(&answer).into_owned());
                // A service whose push limit is below a part can take no part of this file.
                if status == 413 {
                    return Err(DestinationError::PartTooLarge {
                        url: url.clone(),
                        message,
                    });
                }
                let failure = DestinationError::Refused {
                    url: url.clone(),
                    status,
                    message,
                };
                // 409: the same part is still being read (an earlier attempt, cut off).
                if !matches!(status, 409 | 503) {
                    return Err(failure);
                }
                failure
            }
            Err(e) => {
                let failure = DestinationError::Unreachable {
                    url: url.clone(),
                    reason: e.to_string(),
                };
                // A certificate that is not trusted stays so: no use sending again.
                if e.to_string().contains("certificate") {
                    return Err(failure);
                }
                failure
            }
        };
        if attempt >= ATTEMPTS {
            return Err(failure);
        }
        log::warn!("{failure}; sending the part again in {delay:?}");
        actix_rt::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
        attempt += 1;
    }
}
