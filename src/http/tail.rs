//! `GET /logs/stream`: live tail as Server-Sent Events. Each newly committed line that matches
//! the filters is an event whose `id` is the row id and whose data is the line as `/logs`
//! shows it; control events have names of their own (`overflow`, `skipped`, `shutdown`), so an
//! `EventSource`'s `onmessage` sees lines only.
//!
//! A follower never slows ingest or other followers: the writer publishes to a broadcast
//! channel that drops what a follower has not taken once it holds [`TAIL_CHANNEL_BATCHES`]
//! batches, and each follower's own buffer is bounded. A follower that falls behind is told so
//! (`overflow`) and resumed from the database by id; so is a client reconnecting with
//! `Last-Event-ID`, up to [`TAIL_REPLAY_MAX`] lines, beyond which a `skipped` event says which
//! lines were passed over and how to export them.
//!
//! [`TAIL_CHANNEL_BATCHES`]: crate::db::read::tail::TAIL_CHANNEL_BATCHES

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use actix_web::{get, web, HttpMessage, HttpRequest, Responder};
use actix_web_lab::sse::{self, Sse};
use log::debug;
use serde_json::json;
use tokio::sync::{broadcast, OwnedSemaphorePermit};

use super::auth::Granted;
use super::error::ApiError;
use super::event_queue::{event_queue, EventQueue};
use super::log_view::LogView;
use super::openapi::{ErrorBody, TailParameters};
use super::params::{part_name, tail_params};
use super::AppState;
use crate::db::read::log_query::LogRow;
use crate::db::read::reader::QueryTail;
use crate::db::read::tail::{Committed, TailFilter};
use crate::limits::{
    TAIL_CLIENT_BUFFER, TAIL_REPLAY_CHUNK, TAIL_REPLAY_CHUNK_BYTES, TAIL_REPLAY_MAX,
};
use crate::tokens::{Scope, TokenEntry};

/// How many times a catch-up read is retried when the reader pool is busy.
const REPLAY_RETRIES: u32 = 10;
const REPLAY_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Live tail: newly committed matching lines as Server-Sent Events
///
/// Each line is an event whose `id` is the row id and whose data is the row as `/logs` shows
/// it. `Last-Event-ID` (or `last_event_id`) resumes after that row. Named events: `overflow`
/// (the client fell behind; what it missed follows), `skipped` (more than 100,000 lines to
/// catch up: which were passed over and how to export them), `shutdown`.
#[utoipa::path(
    tag = "logs",
    params(
        TailParameters,
        ("Last-Event-ID" = Option<i64>, Header, description = "The id of the last event received"),
    ),
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "A parameter is wrong; `parameter` names it", body = ErrorBody),
        (status = 503, description = "--max-tail-followers live tails are open, too many queries at once (a resume reads back), or a query timed out; retry after `Retry-After`", body = ErrorBody),
        (status = 500, description = "Internal error (details are logged, not sent)", body = ErrorBody),
    ),
)]
#[get("")] // /logs/stream: see `super::routes`
pub async fn stream(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<impl Responder, ApiError> {
    // Taken first: past the cap, nothing else is done for this request.
    let place = state.caps.follower()?;
    let header = req
        .headers()
        .get("Last-Event-ID")
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let params = tail_params(req.query_string(), header)?;
    let source_ids = state
        .sources
        .all()
        .iter()
        .filter(|s| {
            params
                .filter
                .sources
                .iter()
                .any(|named| *named == s.address || named.parse::<i64>() == Ok(s.id))
        })
        .map(|s| s.id)
        .collect();
    let filter = TailFilter::new(params.filter, source_ids);
    // Subscribed before anything is read back, so that no batch falls between the two.
    let batches = state.tail.subscribe();
    // A resume's first read goes through the query limit as a page does: 503 when it is full.
    let first_read = match params.last_event_id {
        Some(after) => Some(state.readers.ask(tail_read(after)).await?),
        None => None,
    };
    let (events, taken) = event_queue(TAIL_CLIENT_BUFFER, state.caps.config.tail_buffer_bytes);
    let follower = Follower {
        state: state.clone(),
        filter,
        events,
        last_id: params.last_event_id,
        export: format!("/logs?format=ndjson&{}", export_query(req.query_string())),
        grant: req.extensions().get::<Granted>().map(|g| g.0.clone()),
        first_read,
        _place: place,
    };
    actix_rt::spawn(follower.follow(batches));
    Ok(Sse::from_infallible_stream(taken)
        .with_keep_alive(state.tail_keep_alive)
        .with_retry_duration(Duration::from_secs(1)))
}

fn tail_read(after: i64) -> QueryTail {
    QueryTail {
        after_id: after,
        limit: TAIL_REPLAY_CHUNK,
        max_bytes: TAIL_REPLAY_CHUNK_BYTES,
    }
}

/// A row as an event's data: the object `/logs` shows.
fn render(row: &LogRow) -> String {
    serde_json::to_string(&LogView(row)).unwrap_or_else(|_| "{}".to_owned())
}

/// The request's filters, without `last_event_id`, for the export link of a `skipped` event.
fn export_query(query: &str) -> String {
    query
        .split('&')
        .filter(|part| {
            !part.is_empty()
                && !matches!(part_name(part).as_str(), "last_event_id" | "access_token")
        })
        .collect::<Vec<_>>()
        .join("&")
}

struct Follower {
    state: web::Data<AppState>,
    filter: TailFilter,
    /// At most `TAIL_CLIENT_BUFFER` events and `--tail-buffer-bytes` bytes of them.
    events: EventQueue,
    /// The last row id this client has seen (sent, or passed over as not matching).
    last_id: Option<i64>,
    export: String,
    /// The token it was let in with: the stream ends once a reload revokes it.
    grant: Option<Arc<TokenEntry>>,
    /// What the request read back after `Last-Event-ID` before the stream began: the replay's
    /// first chunk.
    first_read: Option<(Vec<LogRow>, i64)>,
    /// Its place among `--max-tail-followers`, given back when it ends.
    _place: OwnedSemaphorePermit,
}

/// Why following ended.
enum Stop {
    /// The client went away.
    Gone,
    /// The service is shutting down.
    Shutdown,
}

impl Follower {
    async fn follow(mut self, mut batches: broadcast::Receiver<Arc<Committed>>) {
        let stopped = self.run(&mut batches).await;
        if let Err(Stop::Shutdown) = stopped {
            let _ = self
                .send_event("shutdown", "the service is shutting down".to_owned())
                .await;
        }
        debug!("live tail ended");
    }

    async fn run(&mut self, batches: &mut broadcast::Receiver<Arc<Committed>>) -> Result<(), Stop> {
        let halt = self.state.halt.clone();
        if let Some(after) = self.last_id {
            self.replay(after).await?;
        }
        loop {
            let received = tokio::select! {
                _ = halt.cancelled() => return Err(Stop::Shutdown),
                _ = self.events.closed() => return Err(Stop::Gone),
                received = batches.recv() => received,
            };
            self.check_grant().await?;
            match received {
                Ok(batch) => self.send_batch(&batch).await?,
                Err(broadcast::error::RecvError::Lagged(batches_missed)) => {
                    let after = self.last_id.unwrap_or(0);
                    let note = json!({
                        "missed_batches": batches_missed,
                        "resuming_after_id": after,
                        "note": "this client fell behind; the lines it missed follow, read back \
                                 from the database",
                    });
                    self.send_event("overflow", note.to_string()).await?;
                    self.replay(after).await?;
                }
                Err(broadcast::error::RecvError::Closed) => return Err(Stop::Shutdown),
            }
        }
    }

    /// Ends the stream, with an event named `revoked`, once its token no longer grants `read`.
    async fn check_grant(&self) -> Result<(), Stop> {
        let (Some(entry), Some(tokens)) = (&self.grant, &self.state.tokens) else {
            return Ok(());
        };
        if tokens.current().still_grants(entry, Scope::Read) {
            return Ok(());
        }
        let note = json!({"error": "the token of this stream was revoked"});
        let _ = self.send_event("revoked", note.to_string()).await;
        Err(Stop::Gone)
    }

    /// A named control event with `text` as its data.
    async fn send_event(&self, name: &'static str, text: String) -> Result<(), Stop> {
        let bytes = text.len();
        self.queue(sse::Data::new(text).event(name).into(), bytes)
            .await
    }

    /// Waits while the client's buffer is full (in events or in bytes): meanwhile the
    /// broadcast keeps going without this follower, which is told what it missed when it
    /// takes the next batch.
    async fn queue(&self, event: sse::Event, bytes: usize) -> Result<(), Stop> {
        self.events
            .queue(event, bytes)
            .await
            .map_err(|_| Stop::Gone)
    }

    async fn send_row(&mut self, row: &LogRow) -> Result<(), Stop> {
        self.send_data(row.id, render(row).into()).await
    }

    async fn send_data(&mut self, id: i64, data: Arc<str>) -> Result<(), Stop> {
        let bytes = data.len();
        self.queue(
            sse::Data::new(data.as_ref()).id(id.to_string()).into(),
            bytes,
        )
        .await
    }

    async fn send_batch(&mut self, batch: &Committed) -> Result<(), Stop> {
        let mut announced = false;
        for stored in batch.candidates(&self.filter) {
            let id = stored.id;
            if self.last_id.is_some_and(|last| id <= last) {
                continue;
            }
            if !self
                .filter
                .key_matches(batch.source_id, stored.line, stored.key)
            {
                continue;
            }
            if self.filter.needs_line() {
                let Ok(row) = LogRow::parse(id, batch.source_id, stored.line.to_owned()) else {
                    continue;
                };
                if !self.filter.row_matches(&row) {
                    continue;
                }
            }
            // Parsed and written out once per batch, whichever follower comes first.
            let data = batch.rendered[stored.index]
                .get_or_init(
                    || match LogRow::parse(id, batch.source_id, stored.line.to_owned()) {
                        Ok(mut row) => {
                            row.source = self.address_of(batch.source_id);
                            render(&row).into()
                        }
                        Err(_) => Arc::from(""),
                    },
                )
                .clone();
            if data.is_empty() {
                // A line that no longer parses (the parser changed): nothing to send.
                continue;
            }
            if !announced {
                // When the batch committed, in ms since the epoch: clients ignore comments, and
                // a client on the same clock can measure how long an event took.
                let at = batch
                    .committed_at
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                let comment = format!("committed {at}");
                let bytes = comment.len();
                self.queue(sse::Event::Comment(comment.into()), bytes)
                    .await?;
                announced = true;
            }
            self.send_data(id, data).await?;
            self.last_id = Some(id);
        }
        // Every line of the batch has been seen, matching or not.
        if let Some(newest) = batch.last_id {
            self.last_id = Some(self.last_id.map_or(newest, |last| last.max(newest)));
        }
        Ok(())
    }

    fn address_of(&self, source_id: i64) -> String {
        self.state
            .sources
            .all()
            .iter()
            .find(|s| s.id == source_id)
            .map_or_else(|| format!("source #{source_id}"), |s| s.address.clone())
    }

    /// Sends what was committed after `after`, read back from the database, up to
    /// [`TAIL_REPLAY_MAX`] lines; past that, a `skipped` event and a jump to the newest line.
    async fn replay(&mut self, after: i64) -> Result<(), Stop> {
        let mut position = after;
        let mut read = 0;
        loop {
            let (rows, newest) = match self.first_read.take() {
                Some(first) => first,
                None => self.read_after(position).await?,
            };
            for row in &rows {
                position = row.id;
                if self.filter.row_matches(row) {
                    self.send_row(row).await?;
                }
            }
            read += rows.len();
            self.last_id = Some(self.last_id.map_or(position, |last| last.max(position)));
            // A chunk may be cut short by its bytes: only reaching the newest line ends it.
            if rows.is_empty() || position >= newest {
                return Ok(());
            }
            if read >= TAIL_REPLAY_MAX {
                let data = json!({
                    "from_id": position + 1,
                    "to_id": newest,
                    "lines": newest - position,
                    "reason": format!(
                        "more than {TAIL_REPLAY_MAX} lines were committed since the last event \
                         sent; these lines were not checked against the filters"
                    ),
                    "export": self.export,
                });
                self.send_event("skipped", data.to_string()).await?;
                self.last_id = Some(newest);
                return Ok(());
            }
        }
    }

    async fn read_after(&self, after: i64) -> Result<(Vec<LogRow>, i64), Stop> {
        let mut attempts = 0;
        loop {
            match self.state.readers.ask(tail_read(after)).await {
                Ok(answer) => return Ok(answer),
                Err(ApiError::Busy | ApiError::Timeout) if attempts < REPLAY_RETRIES => {
                    attempts += 1;
                    tokio::time::sleep(REPLAY_RETRY_PAUSE * attempts).await;
                }
                Err(e) => {
                    log::error!("live tail cannot read what it missed: {e}");
                    let error = json!({"error": "the missed lines cannot be read now"});
                    let _ = self.send_event("error", error.to_string()).await;
                    return Err(Stop::Gone);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::export_query;

    #[test]
    fn the_export_link_keeps_the_filters_and_never_a_token_however_it_is_spelled() {
        let query = "code=500&access_token=lgr_a&access%5Ftoken=lgr_b&%61ccess_token=lgr_c\
                     &last_event_id=9&last%5Fevent%5Fid=9&user=a%2Bb&&q=x";
        assert_eq!(export_query(query), "code=500&user=a%2Bb&q=x");
    }
}
