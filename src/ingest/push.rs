//! Lines that arrive as a body rather than over a source's connection: `POST /ingest` and
//! `loggerator import`. The body is framed, parsed and batched like a source's bytes and read
//! a batch at a time, so memory stays bounded whatever its size.
//!
//! A body sent with a key is a stream of its own, recognised and resumed like a source's
//! replay (see [`super::replay`]): sent again, the lines already consumed are skipped, so a
//! retry stores nothing twice and a retry of a body cut short stores only the rest. Without a
//! key, delivery is at least once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix::{Addr, MailboxError, Recipient};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::io::AsyncRead;
use tokio_util::codec::FramedRead;

use super::capped::{Capped, OverLimit};
use super::framing::{Frame, LineCodec};
use super::replay::ReplayGuard;
use super::status::SourceStatus;
use crate::batch::{Entry, StreamMark, StreamProgress, WriteBatch, WriteError, WriteSummary};
use crate::db::write::writer::{DbWriter, LoadKeyedStream, RegisterSource, SourceRecord};
use crate::db::DbError;

/// How bodies are cut into batches, and how large one may be.
#[derive(Debug, Clone, Copy)]
pub struct PushConfig {
    pub batch_lines: usize,
    pub batch_bytes: usize,
    pub max_line_bytes: usize,
    /// Bytes of lines (decompressed) a body may hold.
    pub max_body_bytes: u64,
}

/// A pushed source's name: what `push:NAME` may hold, or why not.
pub fn check_source_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "source must be 1 to 100 letters, digits, '.', '_' or '-', not {name:?}"
        ))
    }
}

/// Where a body's lines go.
#[derive(Debug, Clone)]
pub struct PushTarget {
    pub source_id: i64,
    /// The source's name, for the summary (`push:NAME`).
    pub source: String,
    /// The body's key, and how far the stream it names was consumed before (`None`: never).
    pub key: Option<(Arc<str>, Option<StreamMark>)>,
    /// Where the batches waiting for the writer are counted, for `/metrics`.
    pub status: Option<Arc<SourceStatus>>,
}

/// Why a push could not be set up: its source registered, or its stream's mark read.
#[derive(Debug, Error)]
pub enum SetupError {
    #[error("the database writer stopped")]
    WriterGone,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The pushed source `push:NAME` as stored, registered on its first push.
pub async fn register_pushed(
    writer: &Addr<DbWriter>,
    address: &str,
) -> Result<SourceRecord, SetupError> {
    Ok(writer
        .send(RegisterSource {
            address: address.to_owned(),
        })
        .await
        .map_err(|_| SetupError::WriterGone)??)
}

impl PushTarget {
    /// Where a body for `source` goes; a keyed one resumes its stream from the mark last
    /// committed for `key`, so that lines sent before are not stored again.
    pub async fn resume(
        writer: &Addr<DbWriter>,
        source_id: i64,
        source: String,
        key: Option<Arc<str>>,
        status: Option<Arc<SourceStatus>>,
    ) -> Result<PushTarget, SetupError> {
        let key = match key {
            Some(key) => {
                let mark = writer
                    .send(LoadKeyedStream {
                        source_id,
                        key: key.clone(),
                    })
                    .await
                    .map_err(|_| SetupError::WriterGone)??;
                Some((key, mark))
            }
            None => None,
        };
        Ok(PushTarget {
            source_id,
            source,
            key,
            status,
        })
    }
}

/// What became of a body.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushSummary {
    /// The source the lines are stored under (`push:NAME`).
    pub source: String,
    /// Lines read from the body.
    pub received: u64,
    pub stored: u64,
    /// Kept in `/rejected` with the reason.
    pub rejected: u64,
    /// Consumed by an earlier request with the same key, so skipped.
    pub replayed: u64,
}

#[derive(Debug, Error)]
pub enum PushError {
    #[error("the body could not be read after {after} lines: {source}")]
    Read { after: u64, source: std::io::Error },
    #[error("the body holds more than {limit} bytes of lines")]
    TooLarge { limit: u64 },
    /// The key's stream began with other lines: nothing of this body was stored.
    #[error("this key was used before for a body that begins with other lines")]
    KeyReused,
    #[error("{0}")]
    Write(WriteError),
    #[error("the database writer is gone")]
    WriterGone,
}

/// Why a body was not taken whole, and what was stored of it before that.
#[derive(Debug, Error)]
#[error("{error}")]
pub struct PushFailed {
    pub error: PushError,
    pub summary: PushSummary,
}

/// Reads the body's lines and stores them a batch at a time.
pub async fn push_lines(
    body: impl AsyncRead + Unpin,
    writer: &Recipient<WriteBatch>,
    target: PushTarget,
    config: PushConfig,
) -> Result<PushSummary, PushFailed> {
    let mut push = Push::new(writer, &target, config);
    match push.read(body).await {
        Ok(()) => Ok(push.summary),
        Err(error) => Err(PushFailed {
            error,
            summary: push.summary,
        }),
    }
}

struct Push<'a> {
    writer: &'a Recipient<WriteBatch>,
    status: Option<Arc<SourceStatus>>,
    source_id: i64,
    key: Option<Arc<str>>,
    guard: ReplayGuard,
    config: PushConfig,
    summary: PushSummary,
    batch: Vec<Entry>,
    batch_bytes: usize,
    /// The batch the writer is committing while the next one is read and parsed.
    in_flight: Option<Pin<Box<dyn Future<Output = Answer>>>>,
}

type Answer = Result<Result<WriteSummary, WriteError>, MailboxError>;

impl<'a> Push<'a> {
    fn new(writer: &'a Recipient<WriteBatch>, target: &PushTarget, config: PushConfig) -> Self {
        let (key, guard) = match &target.key {
            Some((key, Some(mark))) => (Some(key.clone()), ReplayGuard::resume(true, mark.clone())),
            Some((key, None)) => (Some(key.clone()), ReplayGuard::new(true)),
            None => (None, ReplayGuard::new(false)),
        };
        Push {
            writer,
            status: target.status.clone(),
            source_id: target.source_id,
            key,
            guard,
            config,
            summary: PushSummary {
                source: target.source.clone(),
                ..PushSummary::default()
            },
            batch: Vec::new(),
            batch_bytes: 0,
            in_flight: None,
        }
    }

    /// Reads the body; once it ends, or fails, waits for the batch in flight, so the summary
    /// counts every batch the writer took.
    async fn read(&mut self, body: impl AsyncRead + Unpin) -> Result<(), PushError> {
        let read = self.read_batches(body).await;
        let settled = self.settle().await;
        read.and(settled)
    }

    async fn read_batches(&mut self, body: impl AsyncRead + Unpin) -> Result<(), PushError> {
        let body = Capped::new(body, self.config.max_body_bytes);
        let mut frames = FramedRead::new(body, LineCodec::new(self.config.max_line_bytes));
        self.guard.connected();
        while let Some(frame) = frames.next().await {
            let frame = match frame {
                Ok(frame) => frame,
                Err(source) if OverLimit::caused(&source) => {
                    self.commit().await?;
                    return Err(PushError::TooLarge {
                        limit: self.config.max_body_bytes,
                    });
                }
                Err(source) => {
                    return Err(PushError::Read {
                        after: self.summary.received,
                        source,
                    })
                }
            };
            self.summary.received += 1;
            let probing = self.guard.probing();
            let (batch, batch_bytes) = (&mut self.batch, &mut self.batch_bytes);
            let admitted = self
                .guard
                .admit(frame.end_of_body_is_end_of_line(), |frame| {
                    let entry = frame.into_entry();
                    *batch_bytes += entry.line_bytes().len();
                    batch.push(entry);
                });
            if probing && admitted.new > 0 {
                // The probe holds the body's first lines until they all match, so nothing of
                // this body has gone to the writer yet.
                return Err(PushError::KeyReused);
            }
            self.summary.replayed += admitted.replayed;
            if self.batch.len() >= self.config.batch_lines
                || self.batch_bytes >= self.config.batch_bytes
            {
                self.commit().await?;
            }
        }
        self.summary.replayed += self.guard.disconnected();
        self.commit().await
    }

    /// Sends the batch with the stream's mark once the one before is committed, and goes on
    /// without waiting for it: reading and parsing overlap the writer's commit. One batch at
    /// most is in flight, so a failure stops the body before anything after it is sent, and
    /// the marks commit in order.
    async fn commit(&mut self) -> Result<(), PushError> {
        self.batch_bytes = 0;
        if self.batch.is_empty() {
            return Ok(());
        }
        self.settle().await?;
        let stream = match &self.key {
            Some(key) => StreamProgress::Keyed {
                key: key.clone(),
                mark: self.guard.mark(),
            },
            None => StreamProgress::Untracked,
        };
        let sent = self.writer.send(WriteBatch {
            source_id: self.source_id,
            entries: Arc::new(std::mem::take(&mut self.batch)),
            stream,
        });
        let status = self.status.clone();
        self.in_flight = Some(Box::pin(async move {
            match status {
                Some(status) => status.waiting_for_writer(sent).await,
                None => sent.await,
            }
        }));
        Ok(())
    }

    /// Waits for the batch in flight; its lines count once committed.
    async fn settle(&mut self) -> Result<(), PushError> {
        let Some(answer) = self.in_flight.take() else {
            return Ok(());
        };
        let written = answer
            .await
            .map_err(|_| PushError::WriterGone)?
            .map_err(PushError::Write)?;
        self.summary.stored += written.stored;
        self.summary.rejected += written.rejected;
        Ok(())
    }
}

impl Frame {
    /// A body ends where its request or file does, so its last line is whole even without a
    /// newline (unlike a connection's, which may have been cut anywhere).
    fn end_of_body_is_end_of_line(self) -> Frame {
        match self {
            Frame::Unterminated { bytes, length } if bytes.len() == length => Frame::Line(bytes),
            Frame::Unterminated { bytes, length } => Frame::TooLong {
                prefix: bytes,
                length,
            },
            frame => frame,
        }
    }
}
