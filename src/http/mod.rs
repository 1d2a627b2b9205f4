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
pub mod stats;
pub mod tail;

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};

use tokio_util::sync::CancellationToken;

use crate::db::health::StorageHealth;
use crate::db::tail::TailSender;
use crate::ingest::SourceStatus;
use error::ApiError;
pub use reader_pool::ReaderPool;

pub struct AppState {
    pub readers: ReaderPool,
    pub sources: Vec<Arc<SourceStatus>>,
    pub health: Arc<StorageHealth>,
    /// Committed batches, for live tail.
    pub tail: TailSender,
    pub tail_keep_alive: Duration,
    /// Cancelled at shutdown: open live tails end.
    pub halt: CancellationToken,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/logs", web::get().to(logs::list))
        .route("/logs/stream", web::get().to(tail::stream))
        .route("/logs/count", web::get().to(logs::count))
        .route("/stats", web::get().to(stats::stats))
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
