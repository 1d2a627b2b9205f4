//! The HTTP API. Handlers validate the request, ask the reader pool, and shape the answer; they
//! never touch a database connection themselves.

pub mod auth;
pub mod cursor;
pub mod error;
pub mod export;
pub mod logs;
pub mod metrics;
pub mod openapi;
pub mod paging;
pub mod params;
pub mod push;
pub mod reader_pool;
pub mod rejected;
pub mod sources;
pub mod stats;
pub mod tail;
pub mod ui;

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use tokio_util::sync::CancellationToken;

use crate::db::health::StorageHealth;
use crate::db::tail::TailSender;
use crate::db::writer::DbWriter;
use crate::ingest::SourceList;
use crate::tokens::Tokens;
use error::ApiError;
pub use reader_pool::ReaderPool;

pub struct AppState {
    pub readers: ReaderPool,
    pub sources: SourceList,
    pub health: Arc<StorageHealth>,
    /// Committed batches, for live tail.
    pub tail: TailSender,
    pub tail_keep_alive: Duration,
    /// Cancelled at shutdown: open live tails end.
    pub halt: CancellationToken,
    /// `None`: no access control.
    pub tokens: Option<Arc<Tokens>>,
    /// What `/metrics` shows.
    pub metrics: Arc<prometheus_client::registry::Registry>,
    pub http_metrics: metrics::HttpMetrics,
    /// Where pushed lines go.
    pub writer: actix::Addr<DbWriter>,
    pub push: crate::ingest::push::PushConfig,
    /// Idempotency keys of bodies being read now.
    pub pushes: push::PushesInFlight,
}

/// The API's operations. Registered through utoipa-actix-web, each is also described in the
/// OpenAPI document (a handler registered any other way would be missing from it).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(logs::list)
        .service(logs::count)
        .service(tail::stream)
        .service(stats::stats)
        .service(rejected::list)
        .service(sources::list)
        .service(sources::health)
        .service(metrics::scrape)
        .service(push::push);
}

/// The document at `/openapi.json`, Swagger UI at `/docs/` (its files are in the binary), and
/// a JSON 404 for anything else.
pub fn docs(cfg: &mut web::ServiceConfig, document: utoipa::openapi::OpenApi) {
    let paths = OperationPaths(
        document
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let allowed = if item.post.is_some() { "POST" } else { "GET" };
                (path.clone(), allowed)
            })
            .collect(),
    );
    cfg.app_data(web::Data::new(paths))
        .service(web::redirect("/docs", "/docs/"))
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", document))
        .default_service(web::to(not_found));
}

/// The OpenAPI document of [`routes`].
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = openapi::ApiDoc::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document
}

/// The paths of the documented operations.
/// The paths of the documented operations, each with the method it takes.
struct OperationPaths(Vec<(String, &'static str)>);

/// 405 with `Allow` for another method on an operation's path, else 404.
async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allowed = req
        .app_data::<web::Data<OperationPaths>>()
        .and_then(|paths| {
            paths
                .0
                .iter()
                .find(|(path, _)| path == req.path())
                .map(|&(_, allowed)| allowed)
        });
    if let Some(allowed) = allowed {
        return Err(ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            allowed,
        });
    }
    Err(ApiError::NotFound(format!(
        "{} {}",
        req.method(),
        req.path()
    )))
}
