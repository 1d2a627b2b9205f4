//! `GET /rejected`: the lines that could not be parsed, newest first, with the reason.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::cursor;
use super::error::ApiError;
use super::paging::next_link;
use super::params::rejected_params;
use super::AppState;
use crate::db::reader::QueryRejected;
use crate::time::rfc3339;

#[derive(Debug, Serialize)]
struct RejectedView {
    id: i64,
    source: String,
    received_at: String,
    reason: String,
    /// The bytes as text; bytes that are not UTF-8 show as U+FFFD.
    line: String,
}

pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = rejected_params(req.query_string())?;
    let (rows, next) = state
        .readers
        .ask(QueryRejected {
            before_id: params.before_id,
            limit: params.limit,
        })
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
