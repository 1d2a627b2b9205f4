//! `POST /ingest`: lines pushed over HTTP (plain text, or gzip with `Content-Encoding: gzip`),
//! through the same framing, parsing, batches and writer as a source's (`ingest::push`). Past
//! `--max-push-bytes` (decompressed) the answer is 413.
//!
//! With an `Idempotency-Key` header a body sent again is recognised: the lines it consumed
//! before are skipped. Without one, delivery is at least once. The batches committed before a
//! failure stay committed; the answer says how many.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use std::time::Duration;

use actix_web::dev::{Decompress, Payload};
use actix_web::error::PayloadError;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::web::Bytes;
use actix_web::{post, web, HttpMessage, HttpRequest, HttpResponse};
use futures_util::Stream;
use futures_util::StreamExt;
use tokio_util::io::StreamReader;

use super::auth::Granted;
use super::error::{ApiError, Stored};
use super::openapi::{ErrorBody, PushHeaders, PushParameters};
use super::params::push_params;
use super::AppState;
use crate::batch::WriteError;
use crate::db::write::writer::pushed_address;
use crate::ingest::push::{
    check_source_name, push_lines, register_pushed, PushError, PushFailed, PushSummary, PushTarget,
};
use crate::ingest::SourceStatus;
use crate::tokens::TokenEntry;

/// The header that names a body, so that sending it again stores nothing twice.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// Keys of bodies being read now: a second request with the same key while the first runs
/// gets 409, since both would resume from the same mark.
#[derive(Debug, Default)]
pub struct PushesInFlight(Mutex<HashSet<(i64, Arc<str>)>>);

/// Holds a key while its body is read; releases it when dropped.
struct InFlight<'a> {
    pushes: &'a PushesInFlight,
    key: (i64, Arc<str>),
}

impl PushesInFlight {
    fn claim(&self, source_id: i64, key: Arc<str>) -> Option<InFlight<'_>> {
        let key = (source_id, key);
        let mut keys = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // `then`, not `then_some`: a guard made and dropped here would lock again, and hang.
        keys.insert(key.clone())
            .then(|| InFlight { pushes: self, key })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut keys = self.pushes.0.lock().unwrap_or_else(|e| e.into_inner());
        keys.remove(&self.key);
    }
}

/// Store pushed log lines
///
/// The body is access-log lines, one a line, as text (`Content-Encoding: gzip` for gzip). They
/// are stored under the source `push:NAME`, NAME being `source` or the token's name. With an
/// `Idempotency-Key` header, a body sent again stores only the lines not consumed before (none,
/// if it was taken whole); without one, a body sent again is stored again.
#[utoipa::path(
    tag = "logs",
    params(PushParameters, PushHeaders),
    request_body(content = Option<String>, content_type = "text/plain", description = "Access-log lines, one a line; an empty or missing body stores nothing"),
    responses(
        (status = 200, description = "Every line read was stored, kept as rejected, or consumed before under the same key", body = PushSummary),
        (status = 400, description = "A parameter or the key is wrong, or the body could not be read", body = ErrorBody),
        (status = 403, description = "The token may not push to this source, or (without tokens) the write comes from another origin", body = ErrorBody),
        (status = 409, description = "A request with the same key is being read now", body = ErrorBody),
        (status = 413, description = "The body holds more than --max-push-bytes; the batches before that point are stored", body = ErrorBody),
        (status = 422, description = "The key was used before for a body that begins with other lines, or the source would be one past --max-pushed-sources; nothing was stored", body = ErrorBody),
        (status = 503, description = "--max-pushes-in-flight bodies are being read (retry after `Retry-After`), or the database cannot store now (the batches before are stored)", body = ErrorBody),
    ),
)]
#[post("")] // /ingest: see `super::routes`
pub async fn push(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // Taken first: past the cap, nothing else is done for this request.
    let _place = state.caps.push()?;
    let config = state.push;
    let named = push_params(req.query_string())?;
    let key = idempotency_key(&req)?;
    let granted = req.extensions().get::<Granted>().map(|g| g.0.clone());
    let name = source_name(named, granted.as_deref())?;
    let declared: Option<u64> = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    if declared.is_some_and(|length| length > config.max_body_bytes) {
        return Err(failed(PushFailed {
            error: PushError::TooLarge {
                limit: config.max_body_bytes,
            },
            summary: PushSummary::default(),
        }));
    }
    let address = pushed_address(&name);
    let status = pushed_source(&state, &address).await?;
    let _in_flight =
        match &key {
            Some(key) => Some(state.pushes.claim(status.id, key.clone()).ok_or_else(|| {
                ApiError::KeyInUse {
                    key: key.to_string(),
                }
            })?),
            None => None,
        };
    let target =
        PushTarget::resume(&state.writer, status.id, address, key, Some(status.clone())).await?;
    let arriving = Box::pin(idle_limited(
        body.into_inner(),
        state.caps.config.push_idle_timeout,
    ));
    let decoded = Decompress::from_headers(arriving, req.headers());
    let reader = StreamReader::new(decoded.map(|chunk| chunk.map_err(io_error)));
    let writer = state.writer.clone().recipient();
    let result = push_lines(reader, &writer, target, config).await;
    let summary = match &result {
        Ok(summary) => summary,
        Err(failed) => &failed.summary,
    };
    status.add_received(summary.received);
    status.add_committed(summary.stored, summary.rejected);
    status.add_replayed(summary.replayed);
    match result {
        Ok(summary) => Ok(HttpResponse::Ok().json(summary)),
        Err(e) => {
            let error = failed(e);
            status.record_error(error.to_string());
            Err(error)
        }
    }
}

/// The name the lines go under: `source`, else the token's name, else `push`; a token bound to
/// sources can neither write to nor claim the keys of any other.
fn source_name(named: Option<String>, token: Option<&TokenEntry>) -> Result<String, ApiError> {
    let name = match (named, token) {
        (Some(name), _) => name,
        // A token's name is the source's: it must be one a `source` parameter could give.
        (None, Some(token)) => {
            check_source_name(&token.name).map_err(|e| ApiError::bad("source", e))?;
            token.name.clone()
        }
        (None, None) => "push".to_owned(),
    };
    match token {
        Some(token) if !token.may_push_to(&name) => Err(ApiError::SourceForbidden {
            token: token.name.clone(),
            name,
        }),
        _ => Ok(name),
    }
}

/// The status of the pushed source `address`, registered the first time it is pushed to while
/// fewer than `--max-pushed-sources` exist (each is a `/sources` row and metric series).
async fn pushed_source(state: &AppState, address: &str) -> Result<Arc<SourceStatus>, ApiError> {
    // A source pushed before is known by name: no round trip to the writer.
    if let Some(status) = state.sources.find(address) {
        return Ok(status);
    }
    let _one_new_source_at_a_time = state.caps.registering.lock().await;
    if let Some(status) = state.sources.find(address) {
        return Ok(status);
    }
    let limit = state.caps.config.max_pushed_sources;
    if state.sources.pushed_count() >= limit {
        return Err(ApiError::TooManyPushedSources { limit });
    }
    let record = register_pushed(&state.writer, address).await?;
    Ok(state.sources.pushed(
        record.id,
        address,
        record.lines_stored,
        record.lines_rejected,
    ))
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<Arc<str>>, ApiError> {
    let Some(value) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad(
            IDEMPOTENCY_KEY,
            format!("{IDEMPOTENCY_KEY} must be 1 to 255 visible ASCII characters"),
        ));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into()))
}

/// The body as it arrives, failing with `TimedOut` once no bytes have come for `idle`: a
/// client that sends a head and then trickles, or nothing, would otherwise hold one of
/// `--max-pushes-in-flight` places for ever.
fn idle_limited(
    payload: Payload,
    idle: Duration,
) -> impl Stream<Item = Result<Bytes, PayloadError>> {
    futures_util::stream::unfold(Some(payload), move |payload| async move {
        let mut payload = payload?;
        match tokio::time::timeout(idle, payload.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(payload))),
            Ok(None) => None,
            Err(_) => {
                let silent = format!("no bytes came for {} ms", idle.as_millis());
                let error = std::io::Error::new(std::io::ErrorKind::TimedOut, silent);
                Some((Err(PayloadError::Io(error)), None))
            }
        }
    })
}

/// An I/O error of the body as the reader sees it, its kind kept (a timeout stays one).
fn io_error(error: PayloadError) -> std::io::Error {
    match error {
        PayloadError::Io(error) => error,
        other => std::io::Error::other(other),
    }
}

/// The status for why a body was not taken whole; the message says what was stored before.
fn failed(PushFailed { error, summary }: PushFailed) -> ApiError {
    let stored = Stored {
        stored: summary.stored,
        rejected: summary.rejected,
    };
    match error {
        PushError::Read { ref source, .. } if source.kind() == std::io::ErrorKind::TimedOut => {
            ApiError::BodyTimeout {
                detail: error.to_string(),
                stored,
            }
        }
        PushError::Read { .. } => ApiError::bad("body", format!("{error}; {stored}")),
        PushError::TooLarge { limit } => ApiError::TooLarge { limit, stored },
        PushError::KeyReused => ApiError::KeyReused,
        PushError::Write(WriteError::Unavailable(_) | WriteError::Refused(_))
        | PushError::WriterGone => ApiError::Unavailable,
    }
}
