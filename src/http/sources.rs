//! `GET /sources` and `GET /healthz`.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::AppState;
use crate::ingest::SourceSnapshot;

pub async fn list(state: web::Data<AppState>) -> HttpResponse {
    let sources: Vec<SourceSnapshot> = state.sources.iter().map(|s| s.snapshot()).collect();
    HttpResponse::Ok().json(sources)
}

pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}
