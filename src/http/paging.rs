//! The `Link: <URL>; rel="next"` header of paged listings, as GitHub's API does it: the body
//! stays a plain array and the way on is in a header.

use actix_web::http::header::LINK;
use actix_web::HttpRequest;

/// The request's own URL with `cursor` set to `cursor`, as a Link header.
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
    let info = req.connection_info();
    let url = format!("{}://{}{}?{query}", info.scheme(), info.host(), req.path());
    (LINK, format!("<{url}>; rel=\"next\""))
}
