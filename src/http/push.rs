//! `POST /ingest`: lines pushed over HTTP (plain text, or gzip with `Content-Encoding: gzip`),
//! through the same framing, parsing, batches and writer as a source's. The body is read as it
//! arrives, a batch at a time, so memory stays bounded whatever its size; past
//! `--max-push-bytes` (decompressed) the answer is 413.
//!
//! Delivery is at least once: a body whose answer was lost and that is sent again is stored
//! again. The batches committed before a failure stay committed; the answer says how many.

use std::sync::Arc;

use actix_web::dev::Decompress;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{post, web, HttpMessage, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Serialize;
use tokio_util::codec::FramedRead;
use tokio_util::io::StreamReader;

use super::auth::TokenName;
use super::error::ApiError;
use super::openapi::ErrorBody;
use super::params::push_params;
use super::AppState;
use crate::batch::{Entry, StreamMark, WriteBatch, WriteError};
use crate::db::writer::RegisterSource;
use crate::ingest::framing::LineCodec;

/// How pushed bodies are cut into batches, and how large one may be.
#[derive(Debug, Clone, Copy)]
pub struct PushConfig {
    pub batch_lines: usize,
    pub batch_bytes: usize,
    pub max_line_bytes: usize,
    /// Bytes of lines (decompressed) a body may hold.
    pub max_body_bytes: u64,
}

/// What became of a pushed body.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct PushSummary {
    /// The source the lines are stored under (`push:NAME`).
    source: String,
    /// Lines read from the body.
    received: u64,
    stored: u64,
    /// Kept in `/rejected` with the reason.
    rejected: u64,
}

/// Store pushed log lines
///
/// The body is access-log lines, one a line, as text (`Content-Encoding: gzip` for gzip). They
/// are stored under the source `push:NAME`, NAME being `source` or the token's name. At least
/// once: a body sent again is stored again.
#[utoipa::path(
    tag = "logs",
    params(("source" = Option<String>, Query, description = "The name to store the lines under (default: the token's name, or `push`)")),
    request_body(content = String, content_type = "text/plain", description = "Access-log lines"),
    responses(
        (status = 200, description = "Every line read was stored or kept as rejected", body = PushSummary),
        (status = 400, description = "A parameter is wrong, or the body could not be read", body = ErrorBody),
        (status = 413, description = "The body holds more than --max-push-bytes; the batches before that point are stored", body = ErrorBody),
        (status = 503, description = "The database cannot store now; the batches before are stored", body = ErrorBody),
    ),
)]
#[post("/ingest")]
pub async fn push(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let config = state.push;
    let named = push_params(req.query_string())?;
    let name = named
        .or_else(|| req.extensions().get::<TokenName>().map(|t| t.0.clone()))
        .unwrap_or_else(|| "push".to_owned());
    let declared: Option<u64> = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    if declared.is_some_and(|length| length > config.max_body_bytes) {
        return Err(too_large(config.max_body_bytes, &PushSummary::default()));
    }
    let address = format!("push:{name}");
    let source = state
        .writer
        .send(RegisterSource {
            address: address.clone(),
        })
        .await
        .map_err(|_| ApiError::Unavailable)??;

    let decoded = Decompress::from_headers(body.into_inner(), req.headers());
    let reader = StreamReader::new(decoded.map(|chunk| chunk.map_err(std::io::Error::other)));
    let mut frames = FramedRead::new(reader, LineCodec::new(config.max_line_bytes));
    let mut summary = PushSummary {
        source: address,
        ..PushSummary::default()
    };
    let mut batch: Vec<Entry> = Vec::new();
    let mut batch_bytes = 0;
    let mut body_bytes: u64 = 0;
    while let Some(frame) = frames.next().await {
        let frame = frame.map_err(|e| {
            ApiError::bad(
                "body",
                format!(
                    "the body could not be read after {} lines: {e}",
                    summary.received
                ),
            )
        })?;
        let entry = frame.into_entry();
        let length = entry.line_bytes().len();
        body_bytes += length as u64 + 1;
        if body_bytes > config.max_body_bytes {
            commit(&state, source.id, &mut batch, &mut summary).await?;
            return Err(too_large(config.max_body_bytes, &summary));
        }
        summary.received += 1;
        batch_bytes += length;
        batch.push(entry);
        if batch.len() >= config.batch_lines || batch_bytes >= config.batch_bytes {
            commit(&state, source.id, &mut batch, &mut summary).await?;
            batch_bytes = 0;
        }
    }
    commit(&state, source.id, &mut batch, &mut summary).await?;
    Ok(HttpResponse::Ok().json(summary))
}

fn too_large(limit: u64, summary: &PushSummary) -> ApiError {
    ApiError::TooLarge(format!(
        "the body holds more than {limit} bytes of lines (--max-push-bytes); {} lines before \
         that point were stored and {} kept as rejected",
        summary.stored, summary.rejected
    ))
}

/// Stores a batch; its lines count as stored or rejected once committed.
async fn commit(
    state: &AppState,
    source_id: i64,
    batch: &mut Vec<Entry>,
    summary: &mut PushSummary,
) -> Result<(), ApiError> {
    if batch.is_empty() {
        return Ok(());
    }
    let entries = Arc::new(std::mem::take(batch));
    let written = state
        .writer
        .send(WriteBatch {
            source_id,
            entries,
            // A pushed body is no replayable stream: nothing to recognise it by.
            stream: StreamMark::default(),
        })
        .await
        .map_err(|_| ApiError::Unavailable)?;
    match written {
        Ok(done) => {
            summary.stored += done.stored;
            summary.rejected += done.rejected;
            Ok(())
        }
        Err(WriteError::Unavailable(_)) | Err(WriteError::Refused(_)) => Err(ApiError::Unavailable),
    }
}
