//! `GET /logs` and `GET /logs/count`.

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::cursor;
use super::error::{ApiError, Scan};
use super::export::export;
use super::log_view::LogView;
use super::openapi::{CountBody, CountParameters, ErrorBody, LogsParameters, PageItem};
use super::paging::next_link;
use super::params::{count_params, list_params, Format, DEFAULT_LIMIT};
use super::AppState;
use crate::db::read::log_query::LogQuery;
use crate::db::read::reader::{CountLogs, QueryLogs};
use crate::db::DbError;
use crate::limits::MAX_COUNT_SCAN;

/// A page of lines, or every match streamed
///
/// Newest first (or `order=asc`), filtered; `Link: <...>; rel="next"` points to the next page.
/// `format=ndjson` (or `Accept: application/x-ndjson`), `csv` or `text` streams every match.
#[utoipa::path(
    tag = "logs",
    params(LogsParameters),
    responses(
        (status = 200, description = "A page (`format=json` or `lines`), or an export",
            headers(("Link" = String, description = "`<URL>; rel=\"next\"` when more rows match")),
            content(
                (Vec<PageItem> = "application/json"),
                (String = "application/x-ndjson"),
                (String = "text/csv"),
                (String = "text/plain"),
            )),
        (status = 400, description = "A parameter is wrong; `parameter` names it", body = ErrorBody),
        (status = 503, description = "Too many queries at once, or a query timed out; retry after `Retry-After`", body = ErrorBody),
        (status = 500, description = "Internal error (details are logged, not sent)", body = ErrorBody),
    ),
)]
#[get("")] // /logs: see `super::routes`
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let accept = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let params = list_params(req.query_string(), accept)?;
    if params.format.is_export() {
        return export(state, params).await;
    }
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    let page = state
        .readers
        .ask(QueryLogs(LogQuery {
            filter: params.filter.clone(),
            order: params.order,
            after: params.cursor,
            limit,
            ..Default::default()
        }))
        .await?;

    let mut response = HttpResponse::Ok();
    if let Some(next) = page.next {
        let position = cursor::Position {
            order: params.order,
            key: next,
            filters: cursor::filter_fingerprint(&params.filter),
        };
        response.insert_header(next_link(
            &req,
            &params.pairs,
            &cursor::encode_position(position),
        ));
    }
    Ok(match params.format {
        Format::Lines => {
            let lines: Vec<String> = page.rows.into_iter().map(|row| row.line).collect();
            response.json(lines)
        }
        _ => {
            let views: Vec<LogView> = page.rows.iter().map(LogView).collect();
            response.json(views)
        }
    })
}

#[derive(Debug, Serialize)]
struct CountView {
    count: i64,
}

/// How many lines match
#[utoipa::path(
    tag = "logs",
    params(CountParameters),
    responses(
        (status = 200, description = "The number of matching lines", body = CountBody),
        (status = 400, description = "A parameter is wrong; `parameter` names it", body = ErrorBody),
        (status = 503, description = "Too many queries at once, or a query timed out; retry after `Retry-After`", body = ErrorBody),
        (status = 500, description = "Internal error (details are logged, not sent)", body = ErrorBody),
    ),
)]
#[get("")] // /logs/count: see `super::routes`
pub async fn count(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let filter = count_params(req.query_string())?;
    // Only `path` and `q` read lines; the other filters are keys.
    let on_lines = [
        ("path", filter.paths.is_empty()),
        ("q", filter.texts.is_empty()),
    ]
    .into_iter()
    .find_map(|(name, empty)| (!empty).then_some(name));
    let asked = CountLogs {
        filter,
        max_scan: MAX_COUNT_SCAN,
    };
    let count = match state.readers.ask(asked).await {
        Err(ApiError::Internal(DbError::TooBroad(limit))) => {
            return Err(ApiError::TooBroad {
                parameter: on_lines.unwrap_or("query"),
                scan: Scan::CountLines,
                limit,
            })
        }
        other => other?,
    };
    Ok(HttpResponse::Ok().json(CountView { count }))
}
