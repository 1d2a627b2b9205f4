//! The request log's line: who asked (the peer's address, so that refused attempts can be
//! traced), what, and the answer. Tokens never reach it: an `access_token` value is hidden
//! whatever the spelling of its name (`access%5Ftoken` too), and `Authorization` is not logged.

use actix_web::dev::ServiceRequest;

use super::params::part_name;

/// The format of `actix_web::middleware::Logger`: `%a` is the peer's address (not a
/// forwarded-for header, which a client may write), `%{request}xi` [`logged_request_line`].
pub const FORMAT: &str = "%a \"%{request}xi\" %s %b %Dms";

/// Query parameters whose values are secrets.
const SECRET_PARAMETERS: [&str; 1] = ["access_token"];

/// The request line as the request log writes it, with secret values hidden.
pub fn logged_request_line(req: &ServiceRequest) -> String {
    let query = req.query_string();
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", redact_query(query))
    };
    format!("{} {}{query} {:?}", req.method(), req.path(), req.version())
}

/// `query` with the values of secret parameters replaced by `REDACTED`.
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|part| {
            if SECRET_PARAMETERS.contains(&part_name(part).as_str()) {
                let name = part.split_once('=').map_or(part, |(name, _)| name);
                format!("{name}=REDACTED")
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logged_request_line_hides_tokens_however_their_name_is_spelled() {
        let req = actix_web::test::TestRequest::get()
            .uri("/logs/stream?code=500&access_token=lgr_secret&user=a&access%5Ftoken=lgr_two&%61ccess_token=lgr_three&access%5ftoken")
            .to_srv_request();
        let line = logged_request_line(&req);
        for secret in ["lgr_secret", "lgr_two", "lgr_three"] {
            assert!(!line.contains(secret), "{line}");
        }
        assert_eq!(
            line,
            "GET /logs/stream?code=500&access_token=REDACTED&user=a&access%5Ftoken=REDACTED\
             &%61ccess_token=REDACTED&access%5ftoken=REDACTED HTTP/1.1"
        );
    }
}
