//! `GET /sources` and `GET /healthz`.

use actix_web::{get, web, HttpResponse};
use serde_json::json;

use super::openapi::HealthBody;
use super::AppState;
use crate::ingest::SourceSnapshot;
use crate::time::{rfc3339, seconds_of};

/// Each source: what it is doing and its counters
#[utoipa::path(
    tag = "service",
    responses((status = 200, description = "The sources", body = Vec<SourceSnapshot>)),
)]
#[get("/sources")]
pub async fn list(state: web::Data<AppState>) -> HttpResponse {
    let sources: Vec<SourceSnapshot> = state.sources.all().iter().map(|s| s.snapshot()).collect();
    HttpResponse::Ok().json(sources)
}

/// 200 while storage commits; 503 with the reason while it does not (a full disk, an I/O
/// error, a read-only file, a writer recovering from a panic). A source backing off is no reason: it
/// shows in `/sources`, and the service itself is fine.
/// Whether storage commits
#[utoipa::path(
    tag = "service",
    security(()),
    responses(
        (status = 200, description = "Storage commits", body = HealthBody),
        (status = 503, description = "Storage does not commit, and why", body = HealthBody),
    ),
)]
#[get("/healthz")]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    match state.health.problem() {
        None => HttpResponse::Ok().json(json!({ "status": "ok" })),
        Some(problem) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "unhealthy",
            "reason": problem.reason,
            "since": rfc3339(seconds_of(problem.since)),
        })),
    }
}
