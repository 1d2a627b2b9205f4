//! `GET /logs?format=ndjson|csv|text`: every match, streamed in the listing's order as it is
//! read. The rows come from the reader pool in keyset chunks, like pages, so no reader is held
//! for the whole export and memory stays flat whatever its size; a client that goes away drops
//! the stream, and with it the chunks not asked for yet.
//!
//! It is not a snapshot: each chunk reads what is committed when it is asked for, so lines
//! committed during an export appear in it if they sort after the chunk being read (with the
//! default newest-first order, lines of dates older than the export's position).

use std::borrow::Cow;

use actix_web::web::Bytes;
use actix_web::HttpResponse;
use futures_util::stream;
use log::error;

use super::error::ApiError;
use super::log_view::LogView;
use super::params::{Format, Formulas, ListParams};
use super::AppState;
use crate::db::read::log_query::{Key, LogQuery, LogRow};
use crate::db::read::reader::{QueryLines, QueryLogs};

/// Rows per chunk: large enough that a chunk's query (its walk to the cursor) costs little per
/// row, small enough that the first bytes leave at once and a chunk's rows take a few MB.
const ROWS_PER_CHUNK: i64 = 5_000;

const CSV_HEADER: &str =
    "id,source,ip,user,date,method,url,protocol,code,size,referer,user_agent,line\r\n";

/// Where the export stands between chunks.
struct Progress {
    after: Option<Key>,
    /// Rows still to send, when `limit` was given.
    left: Option<i64>,
    header: bool,
    done: bool,
}

/// Streams the export. Its first chunk is read before the answer starts, so that a busy pool
/// or a failing query is answered with its status (503, 500) rather than a cut-off 200.
pub async fn export(
    state: actix_web::web::Data<AppState>,
    params: ListParams,
) -> Result<HttpResponse, ApiError> {
    let format = params.format;
    let mut start = Progress {
        after: params.cursor,
        left: params.limit,
        header: format == Format::Csv,
        done: false,
    };
    let first = next_chunk(&state, &params, &mut start).await?;
    let body = stream::unfold((start, Some(first)), move |(mut progress, first)| {
        let state = state.clone();
        let params = params.clone();
        async move {
            if let Some(first) = first {
                return Some((Ok::<Bytes, ApiError>(first), (progress, None)));
            }
            if progress.done {
                return None;
            }
            // A later chunk may meet a pool that is busy for a moment: waiting a little is
            // better than cutting a long export short.
            let mut attempts = 0;
            loop {
                match next_chunk(&state, &params, &mut progress).await {
                    Ok(bytes) => return Some((Ok(bytes), (progress, None))),
                    Err(ApiError::Busy | ApiError::Timeout) if attempts < CHUNK_RETRIES => {
                        attempts += 1;
                        tokio::time::sleep(CHUNK_RETRY_PAUSE * attempts).await;
                    }
                    Err(e) => {
                        // The status went with the first bytes: ending the stream early is
                        // all that is left to say it failed.
                        error!("export stopped: {e}");
                        progress.done = true;
                        return Some((Err(e), (progress, None)));
                    }
                }
            }
        }
    });
    let content_type = match format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Text => "text/plain; charset=utf-8",
        _ => "application/x-ndjson",
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .streaming(body))
}

/// Attempts at a later chunk when the pool is busy or slow, with pauses growing from this.
const CHUNK_RETRIES: u32 = 5;
const CHUNK_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// Reads the next chunk and writes it out in the export's format.
async fn next_chunk(
    state: &AppState,
    params: &ListParams,
    progress: &mut Progress,
) -> Result<Bytes, ApiError> {
    let limit = progress
        .left
        .map_or(ROWS_PER_CHUNK, |left| left.min(ROWS_PER_CHUNK));
    let query = LogQuery {
        filter: params.filter.clone(),
        order: params.order,
        after: progress.after,
        limit,
        ..Default::default()
    };
    if params.format == Format::Text {
        // Lines alone: the reader neither parses the rows nor makes their fields.
        let page = state.readers.ask(QueryLines(query)).await?;
        state.http_metrics.export_chunks.inc();
        progress.advance(page.lines, page.next);
        return Ok(Bytes::from(page.text));
    }
    let page = state.readers.ask(QueryLogs(query)).await?;
    // Counted once read: a try the reader pool refused (and that is retried) read nothing.
    state.http_metrics.export_chunks.inc();
    let mut out = Vec::with_capacity(page.rows.len() * 256);
    if std::mem::take(&mut progress.header) {
        out.extend_from_slice(CSV_HEADER.as_bytes());
    }
    for row in &page.rows {
        write_row(&mut out, params, row);
    }
    progress.advance(page.rows.len(), page.next);
    Ok(Bytes::from(out))
}

impl Progress {
    /// After a chunk of `rows` rows whose next page starts after `next`.
    fn advance(&mut self, rows: usize, next: Option<Key>) {
        if let Some(left) = &mut self.left {
            *left -= rows as i64;
        }
        self.after = next;
        self.done = next.is_none() || self.left.is_some_and(|left| left <= 0);
    }
}

fn write_row(out: &mut Vec<u8>, params: &ListParams, row: &LogRow) {
    match params.format {
        Format::Text => {
            out.extend_from_slice(row.line.as_bytes());
            out.push(b'\n');
        }
        Format::Csv => {
            let mut writer = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(&mut *out);
            let code = row.code.to_string();
            let size = row.size.map(|s| s.to_string()).unwrap_or_default();
            // The numbers and the date are the service's own; the text is the client's.
            let formulas = params.formulas;
            let text = |cell| text_cell(cell, formulas);
            let fields = [
                Cow::Owned(row.id.to_string()),
                text(&row.source),
                text(&row.ip),
                text(row.user.as_deref().unwrap_or("")),
                Cow::Owned(crate::time::rfc3339(row.date)),
                text(&row.method),
                text(&row.url),
                text(&row.protocol),
                Cow::Borrowed(code.as_str()),
                Cow::Borrowed(size.as_str()),
                text(row.referer.as_deref().unwrap_or("")),
                text(row.user_agent.as_deref().unwrap_or("")),
                text(&row.line),
            ];
            // Writing to a Vec cannot fail.
            let _ = writer.write_record(fields.iter().map(|f| f.as_bytes()));
            let _ = writer.flush();
        }
        _ => {
            // Serializing plain strings and numbers cannot fail.
            let _ = serde_json::to_writer(&mut *out, &LogView(row));
            out.push(b'\n');
        }
    }
}

/// A text cell as a spreadsheet should see it: one that starts like a formula gets a `'` in
/// front, so that it is shown, not run (`=cmd|' /C calc'!A0` from a user agent). A lone `-` is
/// the log's "absent" and stays.
fn text_cell(cell: &str, formulas: Formulas) -> Cow<'_, str> {
    let formula = cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && cell != "-";
    if formula && formulas == Formulas::Neutralize {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_start_like_formulas_are_shown_as_text() {
        for (cell, shown) in [
            ("=cmd|x!A0", "'=cmd|x!A0"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("-", "-"),
            ("", ""),
            ("Mozilla/5.0", "Mozilla/5.0"),
            ("a=b", "a=b"),
        ] {
            assert_eq!(text_cell(cell, Formulas::Neutralize), shown, "{cell:?}");
            assert_eq!(text_cell(cell, Formulas::Keep), cell, "{cell:?}");
        }
    }
}
