//! `GET /logs` and `GET /logs/count`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::cursor;
use super::error::ApiError;
use super::paging::next_link;
use super::params::{count_params, list_params, Format};
use super::AppState;
use crate::db::log_query::LogQuery;
use crate::db::reader::{CountLogs, QueryLogs};

pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = list_params(req.query_string())?;
    let page = state
        .readers
        .ask(QueryLogs(LogQuery {
            filter: params.filter.clone(),
            after: params.cursor,
            limit: params.limit,
        }))
        .await?;

    let mut response = HttpResponse::Ok();
    if let Some(next) = page.next {
        response.insert_header(next_link(&req, &params.pairs, &cursor::encode_key(next)));
    }
    Ok(match params.format {
        Format::Lines => {
            let lines: Vec<String> = page.rows.into_iter().map(|row| row.line).collect();
            response.json(lines)
        }
        Format::Json => response.json(page.rows),
    })
}

#[derive(Debug, Serialize)]
struct CountView {
    count: i64,
}

pub async fn count(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let filter = count_params(req.query_string())?;
    let count = state.readers.ask(CountLogs(filter)).await?;
    Ok(HttpResponse::Ok().json(CountView { count }))
}
