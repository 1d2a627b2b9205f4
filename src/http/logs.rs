//! `GET /logs` and `GET /logs/count`.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

use super::error::ApiError;
use super::paging::next_link;
use super::params::{count_params, list_params, Format};
use super::AppState;
use crate::db::log_query::{LogQuery, LogRow};
use crate::db::reader::{CountLogs, QueryLogs};

/// One stored line as the API shows it.
#[derive(Debug, Serialize)]
pub struct LogView {
    pub id: i64,
    pub source: String,
    pub ip: String,
    pub user: Option<String>,
    pub date: String,
    pub method: String,
    pub url: String,
    pub protocol: String,
    pub code: i32,
    pub size: Option<i64>,
    pub referer: Option<String>,
    pub user_agent: Option<String>,
    pub line: String,
}

impl LogView {
    fn new(row: LogRow, source: String) -> Self {
        Self {
            id: row.id,
            source,
            ip: row.ip,
            user: row.user,
            date: rfc3339(row.date),
            method: row.method,
            url: row.url,
            protocol: row.protocol,
            code: row.code,
            size: row.size,
            referer: row.referer,
            user_agent: row.user_agent,
            line: row.line,
        }
    }
}

pub fn rfc3339(seconds: i64) -> String {
    DateTime::from_timestamp(seconds, 0)
        .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = list_params(req.query_string())?;
    let query = LogQuery {
        filter: params.filter.clone(),
        after: params.cursor,
        limit: params.limit,
    };
    let (page, sources) = state
        .readers
        .ask(|permit| QueryLogs {
            query,
            permit: Some(permit),
        })
        .await?;

    let mut response = HttpResponse::Ok();
    if let Some(next) = page.next {
        response.insert_header(next_link(&req, &params.pairs, &next.encode()));
    }
    Ok(match params.format {
        Format::Lines => {
            let lines: Vec<String> = page.rows.into_iter().map(|row| row.line).collect();
            response.json(lines)
        }
        Format::Json => {
            let views: Vec<LogView> = page
                .rows
                .into_iter()
                .zip(sources)
                .map(|(row, source)| LogView::new(row, source))
                .collect();
            response.json(views)
        }
    })
}

#[derive(Debug, Serialize)]
struct CountView {
    count: i64,
}

pub async fn count(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let filter = count_params(req.query_string())?;
    let count = state
        .readers
        .ask(|permit| CountLogs {
            filter,
            permit: Some(permit),
        })
        .await?;
    Ok(HttpResponse::Ok().json(CountView { count }))
}
