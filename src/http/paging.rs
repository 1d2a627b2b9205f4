//! The `Link: <URL>; rel="next"` header of paged listings, as GitHub's API does it: the body
//! stays a plain array and the way on is in a header. The URL is relative (path and query,
//! RFC 8288 resolves it against the request's): a host taken from the request's headers
//! (`Host`, `X-Forwarded-Host`, `Forwarded`) is the client's to write, and a client that
//! followed a link to another host would send its bearer token there.

use actix_web::http::header::LINK;
use actix_web::HttpRequest;

/// The request's own path and query with `cursor` set to `cursor`, as a Link header.
pub fn next_link(
    req: &HttpRequest,
    pairs: &[(String, String)],
    cursor: &str,
) -> (actix_web::http::header::HeaderName, String) {
    let mut pairs: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(name, _)| name != "cursor")
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    pairs.push(("cursor", cursor));
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    (LINK, format!("<{}?{query}>; rel=\"next\"", req.path()))
}
