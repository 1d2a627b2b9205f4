//! `GET /rejected`: the lines that could not be parsed, newest first, with the reason.

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::cursor;
use super::error::ApiError;
use super::openapi::{ErrorBody, RejectedParameters};
use super::paging::next_link;
use super::params::rejected_params;
use super::AppState;
use crate::db::read::reader::QueryRejected;
use crate::db::read::rejected_query::RejectedPage;
use crate::limits::MAX_PAGE_BYTES;
use crate::time::rfc3339;

/// A line that could not be parsed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RejectedView {
    id: i64,
    source: String,
    received_at: String,
    reason: String,
    /// The bytes as text; bytes that are not UTF-8 show as U+FFFD.
    line: String,
}

/// Lines that could not be parsed, newest first, with the reason
///
/// A page stops early once its lines hold 8 MiB; its `Link` goes on from there.
#[utoipa::path(
    tag = "service",
    params(RejectedParameters),
    responses(
        (status = 200, description = "A page of rejected lines",
            headers(("Link" = String, description = "`<URL>; rel=\"next\"` when more rows exist")),
            body = Vec<RejectedView>),
        (status = 400, description = "A parameter is wrong; `parameter` names it", body = ErrorBody),
        (status = 503, description = "Too many queries at once, or a query timed out; retry after `Retry-After`", body = ErrorBody),
        (status = 500, description = "Internal error (details are logged, not sent)", body = ErrorBody),
    ),
)]
#[get("")] // /rejected: see `super::routes`
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = rejected_params(req.query_string())?;
    let (rows, next) = state
        .readers
        .ask(QueryRejected(RejectedPage {
            before_id: params.cursor_id,
            limit: params.limit,
            max_bytes: MAX_PAGE_BYTES,
        }))
        .await?;
    let mut response = HttpResponse::Ok();
    if let Some(id) = next {
        response.insert_header(next_link(&req, &params.pairs, &cursor::encode(&[id])));
    }
    let views: Vec<RejectedView> = rows
        .into_iter()
        .map(|row| RejectedView {
            id: row.id,
            source: row.source,
            received_at: rfc3339(row.received_at),
            reason: row.reason,
            line: String::from_utf8_lossy(&row.line).into_owned(),
        })
        .collect();
    Ok(response.json(views))
}
