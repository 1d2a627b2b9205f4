//! The HTTP API. Handlers validate the request, ask the reader pool, and shape the answer; they
//! never touch a database connection themselves.

pub mod auth;
pub mod caps;
pub mod cursor;
pub mod error;
pub mod event_queue;
pub mod export;
pub mod log_view;
pub mod logs;
pub mod metrics;
pub mod openapi;
pub mod paging;
pub mod params;
pub mod push;
pub mod reader_pool;
pub mod rejected;
pub mod request_log;
pub mod sources;
pub mod stats;
pub mod tail;
pub mod ui;

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::HttpServiceFactory;
use actix_web::http::header::CONTENT_SECURITY_POLICY;
use actix_web::{middleware, web, HttpRequest, HttpResponse};
use utoipa::OpenApi;
use utoipa_actix_web::OpenApiFactory;
use utoipa_swagger_ui::SwaggerUi;

use tokio_util::sync::CancellationToken;

use crate::db::blocks::cache::BlockCache;
use crate::db::health::StorageHealth;
use crate::db::read::tail::TailSender;
use crate::db::write::writer::DbWriter;
use crate::ingest::SourceList;
use crate::tokens::{Scope, TokenStore};
use auth::{Access, AllowedHosts};
use error::ApiError;
pub use reader_pool::ReaderPool;

pub struct AppState {
    pub readers: ReaderPool,
    pub sources: SourceList,
    pub health: Arc<StorageHealth>,
    /// Decoded blocks, and the blocks found corrupt (for `/healthz`).
    pub block_cache: Arc<BlockCache>,
    /// Committed batches, for live tail.
    pub tail: TailSender,
    pub tail_keep_alive: Duration,
    /// Cancelled at shutdown: open live tails end.
    pub halt: CancellationToken,
    /// `None`: no tokens; only loopback callers get in (see `auth`).
    pub tokens: Option<Arc<TokenStore>>,
    /// The hosts a request without tokens may name.
    pub allowed_hosts: AllowedHosts,
    /// What `/metrics` shows.
    pub metrics: Arc<prometheus_client::registry::Registry>,
    pub http_metrics: metrics::HttpMetrics,
    /// Where pushed lines go.
    pub writer: actix::Addr<DbWriter>,
    pub push: crate::ingest::push::PushConfig,
    /// Idempotency keys of bodies being read now.
    pub pushes: push::PushesInFlight,
    /// What clients can make the service hold.
    pub caps: caps::Caps,
}

/// The API's operations, each with its path and what it needs to run: the one table of access.
/// The check is a middleware on each route, so it is the route the router picked (from the
/// decoded path) that decides, whatever the request's spelling. Registered through
/// utoipa-actix-web, each is also described in the OpenAPI document (a handler registered any
/// other way would be missing from it); handlers declare their path as "" for that reason.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    use Access::{Bearer, BearerOrQuery, Open};
    // More specific paths first: a scope also matches the paths below it.
    cfg.service(route("/logs/stream", BearerOrQuery, tail::stream))
        .service(route("/logs/count", Bearer(Scope::Read), logs::count))
        .service(route("/logs", Bearer(Scope::Read), logs::list))
        .service(route("/stats", Bearer(Scope::Read), stats::stats))
        .service(route("/rejected", Bearer(Scope::Read), rejected::list))
        .service(route("/sources", Bearer(Scope::Read), sources::list))
        .service(route("/healthz", Open, sources::health))
        .service(route("/metrics", Bearer(Scope::Metrics), metrics::scrape))
        .service(route("/ingest", Bearer(Scope::Ingest), push::push));
}

/// `operation` at `path`, behind the check of `access`.
fn route<F>(
    path: &'static str,
    access: Access,
    operation: F,
) -> impl HttpServiceFactory + OpenApiFactory + 'static
where
    F: HttpServiceFactory + OpenApiFactory + 'static,
{
    utoipa_actix_web::scope::scope(path)
        .wrap(middleware::from_fn(move |req, next| {
            auth::require(access, req, next)
        }))
        .service(operation)
        .default_service(web::to(move |req| not_routed(req, path)))
}

/// What Swagger UI may load: its own files from here, and the inline styles it sets on
/// elements; no inline script, nothing from elsewhere, no framing.
const DOCS_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The document at `/openapi.json`, Swagger UI at `/docs/` (its files are in the binary, under
/// [`DOCS_CONTENT_SECURITY_POLICY`]), and a JSON 404 for anything else.
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
    let document = web::Data::new(document);
    let swagger = SwaggerUi::new("/{_:.*}").config(utoipa_swagger_ui::Config::new([OPENAPI_PATH]));
    cfg.app_data(web::Data::new(paths))
        .service(
            web::resource(OPENAPI_PATH)
                .app_data(document)
                .route(web::get().to(openapi_document)),
        )
        .service(web::redirect("/docs", "/docs/"))
        .service(
            web::scope("/docs")
                .wrap(
                    middleware::DefaultHeaders::new()
                        .add((CONTENT_SECURITY_POLICY, DOCS_CONTENT_SECURITY_POLICY)),
                )
                .service(swagger),
        )
        // Unknown paths need `read`: an anonymous client learns nothing of which paths exist.
        .default_service(
            web::route()
                .to(not_found)
                .wrap(middleware::from_fn(|req, next| {
                    auth::require(Access::Bearer(Scope::Read), req, next)
                })),
        );
}

const OPENAPI_PATH: &str = "/openapi.json";

async fn openapi_document(document: web::Data<utoipa::openapi::OpenApi>) -> HttpResponse {
    HttpResponse::Ok().json(document.as_ref())
}

/// The OpenAPI document of [`routes`].
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = openapi::ApiDoc::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document
}

/// The paths of the documented operations, each with the method it takes.
struct OperationPaths(Vec<(String, &'static str)>);

/// Under a route's path: 405 with `Allow` for another method on the path itself, else 404.
/// The route's check has run: only a caller allowed there learns which method it takes.
async fn not_routed(req: HttpRequest, path: &'static str) -> Result<HttpResponse, ApiError> {
    let allowed = req
        .app_data::<web::Data<OperationPaths>>()
        .and_then(|paths| paths.0.iter().find(|(known, _)| known == path))
        .map(|&(_, allowed)| allowed);
    match allowed {
        Some(allowed) if req.match_info().unprocessed().is_empty() => {
            Err(ApiError::MethodNotAllowed {
                method: req.method().to_string(),
                allowed,
            })
        }
        _ => not_found(req).await,
    }
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound {
        method: req.method().to_string(),
        path: req.path().to_owned(),
    })
}
