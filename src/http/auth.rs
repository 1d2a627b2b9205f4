//! Access control. With tokens configured (`--tokens-file`), each operation needs
//! `Authorization: Bearer TOKEN` with the scope [`super::routes`] gives it; the live tail also
//! takes `access_token=TOKEN`, since browsers' `EventSource` cannot set headers. The check runs
//! on the route the router picked (a middleware on each route), never on the path's text: a
//! percent-encoded spelling reaches the route it decodes to, and that route's check.
//!
//! Without tokens, only loopback callers are let in ([`refuse_caller`], on the same routes): a
//! request must name a loopback host (or the listen address, or an `--allowed-host`), so a page
//! whose name resolves to 127.0.0.1 (DNS rebinding) cannot read; and it must come from the
//! service's own origin, so another site's page can neither post lines nor use up the caps.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{AUTHORIZATION, HOST, ORIGIN};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};

use super::error::ApiError;
use super::params::query_value;
use super::AppState;
use crate::tokens::{Scope, TokenEntry, TokenStore};

/// What a route needs to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing: it holds no data (`/healthz`, the documentation, the page's files).
    Open,
    /// A token with this scope, as a bearer.
    Bearer(Scope),
    /// A `read` token, as a bearer or as `access_token=` (the live tail, for `EventSource`).
    BearerOrQuery,
}

impl Access {
    /// The scope this needs, if any.
    pub fn scope(self) -> Option<Scope> {
        match self {
            Access::Open => None,
            Access::Bearer(scope) => Some(scope),
            Access::BearerOrQuery => Some(Scope::Read),
        }
    }
}

/// The token a request was let in with, for handlers that need it (its name names pushes,
/// its sources bound them).
#[derive(Debug, Clone)]
pub struct Granted(pub Arc<TokenEntry>);

/// Lets a request that `access` admits on to its route, else answers 401, 403 or 421.
pub async fn require(
    access: Access,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let refusal = match (req.app_data::<web::Data<AppState>>(), access.scope()) {
        (Some(state), Some(scope)) => match &state.tokens {
            Some(tokens) => check_token(&req, access, scope, tokens),
            None => refuse_caller(&req, &state.allowed_hosts),
        },
        // Without its state nothing can be checked: nothing is let in.
        (None, Some(_)) => Some(ApiError::Unavailable),
        (_, None) => None,
    };
    if let Some(refusal) = refusal {
        let response = refusal.error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// Why the token presented does not let the request in, if it does not; the token that does
/// goes with the request as [`Granted`].
fn check_token(
    req: &ServiceRequest,
    access: Access,
    scope: Scope,
    tokens: &TokenStore,
) -> Option<ApiError> {
    let presented = bearer(req).or_else(|| {
        (access == Access::BearerOrQuery)
            .then(|| query_value(req.query_string(), "access_token"))
            .flatten()
    });
    let tokens = tokens.current();
    match presented.as_deref().map(|t| tokens.find(t)) {
        None => Some(ApiError::Unauthorized { presented: false }),
        Some(None) => Some(ApiError::Unauthorized { presented: true }),
        Some(Some(entry)) if !entry.allows(scope) => Some(ApiError::Forbidden {
            name: entry.name.clone(),
            scope,
        }),
        Some(Some(entry)) => {
            req.extensions_mut().insert(Granted(entry));
            None
        }
    }
}

fn bearer(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Who may call without tokens: the host names a request may give, besides loopback ones.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    /// Lower-case names and addresses, without ports.
    names: Vec<String>,
}

impl AllowedHosts {
    /// `--allowed-host` names (a port or a final dot given with one is left off; an empty one
    /// is no name), and the host of the listen address.
    pub fn new(listen: &str, extra: &[String]) -> AllowedHosts {
        let names = extra
            .iter()
            .map(String::as_str)
            .chain([listen])
            .map(host_name)
            .filter(|name| !name.is_empty())
            .collect();
        AllowedHosts { names }
    }

    /// Whether a `Host` header's value names this service for a caller without a token.
    pub fn admits(&self, host: &str) -> bool {
        let name = host_name(host);
        !name.is_empty() && (is_loopback_name(&name) || self.names.contains(&name))
    }
}

/// The name an authority (`host[:port]`, `[v6][:port]`) gives, lower-case, without a final dot.
fn host_name(authority: &str) -> String {
    let host = split_host(authority).to_ascii_lowercase();
    host.strip_suffix('.').map(str::to_owned).unwrap_or(host)
}

/// The host part of `host[:port]` or `[v6][:port]`, brackets kept off.
fn split_host(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

fn is_loopback_name(name: &str) -> bool {
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Without tokens: a request for data must name an allowed host and come from the service's
/// own origin (or from no page at all, as curl's do), so another site's page can neither read
/// (DNS rebinding), write, nor hold live tails and query places open. With tokens both are left
/// to the token, which another site's page does not have. Open routes hold no data: a probe may
/// reach `/healthz` by any name.
fn refuse_caller(req: &ServiceRequest, allowed: &AllowedHosts) -> Option<ApiError> {
    let host = match req.headers().get(HOST) {
        Some(value) => match value.to_str() {
            Ok(host) => Some(host.to_owned()),
            Err(_) => {
                return Some(ApiError::HostNotAllowed(
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                ))
            }
        },
        None => req.uri().authority().map(|a| a.to_string()),
    };
    // A request with no host at all comes from no browser (they always send one).
    if let Some(host) = &host {
        if !allowed.admits(host) {
            return Some(ApiError::HostNotAllowed(host.clone()));
        }
    }
    (!same_origin(req, host.as_deref())).then_some(ApiError::CrossOrigin)
}

/// Whether a request comes from the service's own origin: `Origin` equal to it, or no `Origin`
/// and `Sec-Fetch-Site` absent, `none` or `same-origin`. Same-site is not enough: another
/// port on localhost is another origin.
fn same_origin(req: &ServiceRequest, host: Option<&str>) -> bool {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    match header(ORIGIN.as_str()) {
        Some(origin) => {
            // The connection's own scheme: a forwarded-proto header is the client's to write.
            let scheme = if req.app_config().secure() {
                "https"
            } else {
                "http"
            };
            host.is_some_and(|host| origin.eq_ignore_ascii_case(&format!("{scheme}://{host}")))
        }
        None => matches!(
            header("sec-fetch-site"),
            None | Some("none") | Some("same-origin")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_the_listen_host_and_allowed_names_are_admitted() {
        let allowed = AllowedHosts::new(
            "0.0.0.0:8000",
            &[
                "Logs.Example".to_owned(),
                String::new(),
                "other.example.:9000".to_owned(),
            ],
        );
        for host in [
            "localhost",
            "localhost:8000",
            "LOCALHOST:1",
            "app.localhost:3000",
            "127.0.0.1",
            "127.0.0.2:8000",
            "[::1]:8000",
            "[::1]",
            "0.0.0.0:8000",
            "logs.example:8000",
            "logs.example",
            "logs.example.:8000",
            "localhost.:8000",
            "[0:0:0:0:0:0:0:1]:8000",
            "other.example",
        ] {
            assert!(allowed.admits(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8000",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "10.0.0.1:8000",
            "[::2]:8000",
            "",
            ":8000",
            "[]",
        ] {
            assert!(!allowed.admits(host), "{host}");
        }
    }
}
