//! Access control: with tokens configured (`--tokens-file`), every data endpoint needs
//! `Authorization: Bearer TOKEN` with the scope it takes; the live tail also takes
//! `access_token=TOKEN`, since browsers' `EventSource` cannot set headers. `/healthz`, the
//! OpenAPI document, the docs page and the web page's files hold no data and stay open. Without tokens everything is
//! open (and the service refuses to listen beyond loopback unless told it may).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};

use super::error::ApiError;
use super::params::query_value;
use super::AppState;
use crate::tokens::Scope;

/// The path that takes its token from the query string too.
const STREAM: &str = "/logs/stream";

/// The scope a path needs; `None` for the open ones.
pub fn required_scope(path: &str) -> Option<Scope> {
    match path {
        "/healthz" | "/openapi.json" | "/docs" => None,
        page if super::ui::is_page(page) => None,
        docs if docs.starts_with("/docs/") => None,
        "/metrics" => Some(Scope::Metrics),
        "/ingest" => Some(Scope::Ingest),
        // Every other path, unknown ones too: an anonymous client learns nothing of which
        // paths exist.
        _ => Some(Scope::Read),
    }
}

/// The name of the token a request was let in with, for handlers that need it.
#[derive(Debug, Clone)]
pub struct TokenName(pub String);

pub async fn check_access(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let tokens = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.tokens.clone());
    if let (Some(tokens), Some(scope)) = (tokens, required_scope(req.path())) {
        let presented = bearer(&req).or_else(|| {
            (req.path() == STREAM)
                .then(|| query_value(req.query_string(), "access_token"))
                .flatten()
        });
        let refusal = match presented.as_deref().map(|t| tokens.find(t)) {
            None => Some(ApiError::Unauthorized { presented: false }),
            Some(None) => Some(ApiError::Unauthorized { presented: true }),
            Some(Some(entry)) if !entry.allows(scope) => Some(ApiError::Forbidden {
                name: entry.name.clone(),
                scope,
            }),
            Some(Some(entry)) => {
                req.extensions_mut().insert(TokenName(entry.name.clone()));
                None
            }
        };
        if let Some(refusal) = refusal {
            let response = refusal.error_response();
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

fn bearer(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// The request line as the request log writes it, with any `access_token` value hidden.
pub fn logged_request_line(req: &ServiceRequest) -> String {
    let query = req.query_string();
    let query = if query.is_empty() {
        String::new()
    } else {
        let parts: Vec<String> = query
            .split('&')
            .map(|part| match part.split_once('=') {
                Some((name, _)) if name == "access_token" => format!("{name}=REDACTED"),
                _ => part.to_owned(),
            })
            .collect();
        format!("?{}", parts.join("&"))
    };
    format!("{} {}{query} {:?}", req.method(), req.path(), req.version())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_paths_need_read_and_the_documentation_is_open() {
        for open in [
            "/healthz",
            "/openapi.json",
            "/docs",
            "/docs/",
            "/docs/index.css",
        ] {
            assert_eq!(required_scope(open), None, "{open}");
        }
        for data in [
            "/logs",
            "/logs/count",
            "/logs/stream",
            "/stats",
            "/sources",
            "/rejected",
        ] {
            assert_eq!(required_scope(data), Some(Scope::Read), "{data}");
        }
        assert_eq!(required_scope("/docsx"), Some(Scope::Read));
        assert_eq!(required_scope("/metrics"), Some(Scope::Metrics));
        assert_eq!(required_scope("/ingest"), Some(Scope::Ingest));
    }

    #[test]
    fn the_logged_request_line_hides_tokens() {
        let req = actix_web::test::TestRequest::get()
            .uri("/logs/stream?code=500&access_token=lgr_secret&user=a")
            .to_srv_request();
        let line = logged_request_line(&req);
        assert!(!line.contains("lgr_secret"), "{line}");
        assert_eq!(
            line,
            "GET /logs/stream?code=500&access_token=REDACTED&user=a HTTP/1.1"
        );
    }
}
