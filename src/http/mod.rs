//! The HTTP API. Handlers validate the request, ask the reader pool, and shape the answer; they
//! never touch a database connection themselves.

pub mod cursor;
pub mod error;
pub mod export;
pub mod logs;
pub mod paging;
pub mod params;
pub mod reader_pool;
pub mod rejected;
pub mod sources;

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::db::health::StorageHealth;
use crate::ingest::SourceStatus;
use error::ApiError;
pub use reader_pool::ReaderPool;

pub struct AppState {
    pub readers: ReaderPool,
    pub sources: Vec<Arc<SourceStatus>>,
    pub health: Arc<StorageHealth>,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/logs", web::get().to(logs::list))
        .route("/logs/count", web::get().to(logs::count))
        .route("/rejected", web::get().to(rejected::list))
        .route("/sources", web::get().to(sources::list))
        .route("/healthz", web::get().to(sources::health))
        .default_service(web::to(not_found));
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "{} {}",
        req.method(),
        req.path()
    )))
}
