//! `GET /sources` and `GET /healthz`.

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde_json::json;

use super::cursor;
use super::error::ApiError;
use super::openapi::{ErrorBody, HealthBody, SourcesParameters};
use super::paging::next_link;
use super::params::sources_params;
use super::AppState;
use crate::ingest::SourceSnapshot;
use crate::reason::Reason;
use crate::time::{rfc3339, seconds_of};

/// Each source: what it is doing and its counters
///
/// In the order of their ids, 1,000 a page by default; `Link` goes on (pushed sources add
/// rows, up to `--max-pushed-sources`).
#[utoipa::path(
    tag = "service",
    params(SourcesParameters),
    responses(
        (status = 200, description = "The sources",
            headers(("Link" = String, description = "`<URL>; rel=\"next\"` when more sources exist")),
            body = Vec<SourceSnapshot>),
        (status = 400, description = "A parameter is wrong; `parameter` names it", body = ErrorBody),
    ),
)]
#[get("")] // /sources: see `super::routes`
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params = sources_params(req.query_string())?;
    let mut sources = state.sources.all();
    sources.sort_by_key(|s| s.id);
    let after = params.cursor_id.unwrap_or(i64::MIN);
    let rest: Vec<SourceSnapshot> = sources
        .iter()
        .filter(|s| s.id > after)
        .take(params.limit as usize + 1)
        .map(|s| s.snapshot())
        .collect();
    let mut response = HttpResponse::Ok();
    let shown = rest.len().min(params.limit as usize);
    if rest.len() > shown {
        let last = rest[shown - 1].id;
        response.insert_header(next_link(&req, &params.pairs, &cursor::encode(&[last])));
    }
    Ok(response.json(&rest[..shown]))
}

/// Whether storage commits
///
/// 200 while storage commits; 503 with a reason code while it does not (a full disk, an I/O
/// error, a read-only file, a writer recovering from a panic). A source backing off is no
/// reason: it shows in `/sources`, and the service itself is fine.
#[utoipa::path(
    tag = "service",
    security(()),
    responses(
        (status = 200, description = "Storage commits", body = HealthBody),
        (status = 503, description = "Storage does not commit, and why", body = HealthBody),
    ),
)]
#[get("")] // /healthz: see `super::routes`
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    match state.health.problem() {
        // Writes succeed: healthy, so that a container's health check does not restart a
        // service that still ingests; the blocks that fail their checksum are named.
        None => {
            let corrupt = state.block_cache.corrupt_blocks();
            if corrupt.is_empty() {
                return HttpResponse::Ok().json(json!({ "status": "ok" }));
            }
            HttpResponse::Ok().json(json!({
                "status": "ok",
                "code": Reason::BlockCorrupt,
                "reason": Reason::BlockCorrupt.meaning(),
                "corrupt_blocks": corrupt,
            }))
        }
        // The code and what it means; the error itself may name files, so only the log has it.
        Some(problem) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "unhealthy",
            "code": problem.reason,
            "reason": problem.reason.meaning(),
            "since": rfc3339(seconds_of(problem.since)),
        })),
    }
}
