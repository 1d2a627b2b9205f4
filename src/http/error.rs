//! Errors at the HTTP boundary, each mapped here once to its status and its reason code, with a
//! JSON body `{"code": ..., "error": ...}` (and `parameter` for a bad one). Internal failures
//! are logged in full and reported to the client only by their code.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use log::error;
use serde_json::json;
use thiserror::Error;

use crate::db::DbError;
use crate::ingest::push::SetupError;
use crate::reason::Reason;
use crate::tokens::Scope;

/// What a refused query would have read too much of, to be answered at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// A count with `path` or `q`: the lines the other filters select.
    CountLines,
    /// A breakdown by path, referer or user agent, or with `path` or `q`: lines.
    StatsLines,
    /// A breakdown by ip, with `ip`, by hour with method or user, or by time in buckets the
    /// count tables do not hold: the stored keys.
    StatsKeys,
}

impl Scan {
    fn message(self, limit: usize) -> String {
        let (what, reads, units) = match self {
            Scan::CountLines => (
                "counting with path or q",
                "every line the other filters select",
                "lines",
            ),
            Scan::StatsLines => (
                "grouping by path, referer or user_agent, or with path or q,",
                "every line the other filters select",
                "lines",
            ),
            Scan::StatsKeys => (
                "grouping by ip, with ip, by hour or time with method or user, or by time in buckets shorter than an hour,",
                "the stored keys the other filters select",
                "keys",
            ),
        };
        // An address filter narrows what a count reads; for a breakdown it is what reads keys.
        let narrowers = match self {
            Scan::CountLines => "code, method, user, source, ip, since or until",
            Scan::StatsLines => "code, method, user, source, since or until",
            Scan::StatsKeys => {
                "code, method, user, source, since or until (by time: a longer interval)"
            }
        };
        format!(
            "{what} reads {reads}, and this one would read more than {limit} {units}: narrow it \
             with {narrowers}"
        )
    }
}

/// What a body cut short had stored before that point (its batches are committed as read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    pub stored: u64,
    pub rejected: u64,
}

impl std::fmt::Display for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} lines before that point were stored and {} kept as rejected",
            self.stored, self.rejected
        )
    }
}

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("{message}")]
    BadParameter { parameter: String, message: String },
    /// A valid query that would read more than a cap allows; `parameter` is what made it read.
    #[error("{}", scan.message(*limit))]
    TooBroad {
        parameter: &'static str,
        scan: Scan,
        limit: usize,
    },
    #[error("no such resource: {method} {path}")]
    NotFound { method: String, path: String },
    #[error("method {method} is not allowed here; use {allowed}")]
    MethodNotAllowed {
        method: String,
        allowed: &'static str,
    },
    #[error("the body holds more than {limit} bytes of lines (--max-push-bytes); {stored}")]
    TooLarge { limit: u64, stored: Stored },
    /// The client stopped sending the body for longer than the idle timeout.
    #[error("{detail}; {stored}")]
    BodyTimeout { detail: String, stored: Stored },
    #[error(
        "a request with Idempotency-Key {key:?} is being read now; retry when it has been \
         answered"
    )]
    KeyInUse { key: String },
    #[error(
        "Idempotency-Key: {}; nothing was stored (use a new key for a new body)",
        crate::ingest::push::PushError::KeyReused
    )]
    KeyReused,
    #[error("{}", if *presented { "the token is not valid" } else { "a token is required: Authorization: Bearer TOKEN" })]
    Unauthorized { presented: bool },
    #[error("the token {name:?} does not have the {scope} scope this needs")]
    Forbidden { name: String, scope: Scope },
    #[error("the token {token:?} may not push to the source {name:?}")]
    SourceForbidden { token: String, name: String },
    #[error(
        "the host {0:?} is not this service's: without tokens, requests must name a loopback \
         host, the listen address or an --allowed-host"
    )]
    HostNotAllowed(String),
    #[error(
        "a write must come from this service's own origin: another site's page may not post here"
    )]
    CrossOrigin,
    #[error(
        "{limit} pushed sources exist (--max-pushed-sources): push to one of them, or raise the \
         cap; nothing was stored"
    )]
    TooManyPushedSources { limit: usize },
    #[error("{limit} live tails are open (--max-tail-followers); retry later")]
    TooManyFollowers { limit: usize },
    #[error("{limit} pushed bodies are being read (--max-pushes-in-flight); retry shortly")]
    TooManyPushes { limit: usize },
    #[error("too many queries in flight; retry shortly")]
    Busy,
    #[error("query timed out")]
    Timeout,
    #[error("query service unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal(#[from] DbError),
}

impl From<SetupError> for ApiError {
    fn from(e: SetupError) -> Self {
        match e {
            SetupError::WriterGone => ApiError::Unavailable,
            SetupError::Db(e) => ApiError::Internal(e),
        }
    }
}

impl ApiError {
    pub fn bad(parameter: &str, message: impl Into<String>) -> Self {
        ApiError::BadParameter {
            parameter: parameter.to_owned(),
            message: message.into(),
        }
    }

    /// Its status and reason code: the one place either is decided.
    fn classify(&self) -> (StatusCode, Reason) {
        match self {
            ApiError::BadParameter { .. } | ApiError::TooBroad { .. } => {
                (StatusCode::BAD_REQUEST, Reason::BadParameter)
            }
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, Reason::NotFound),
            ApiError::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, Reason::MethodNotAllowed)
            }
            ApiError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, Reason::BodyTooLarge),
            ApiError::BodyTimeout { .. } => (StatusCode::REQUEST_TIMEOUT, Reason::BodyTimeout),
            ApiError::KeyInUse { .. } => (StatusCode::CONFLICT, Reason::KeyInUse),
            ApiError::KeyReused => (StatusCode::UNPROCESSABLE_ENTITY, Reason::KeyReused),
            ApiError::Unauthorized { presented: false } => {
                (StatusCode::UNAUTHORIZED, Reason::TokenRequired)
            }
            ApiError::Unauthorized { presented: true } => {
                (StatusCode::UNAUTHORIZED, Reason::TokenInvalid)
            }
            ApiError::Forbidden { .. } => (StatusCode::FORBIDDEN, Reason::ScopeMissing),
            ApiError::SourceForbidden { .. } => (StatusCode::FORBIDDEN, Reason::SourceNotAllowed),
            ApiError::HostNotAllowed(_) => {
                (StatusCode::MISDIRECTED_REQUEST, Reason::HostNotAllowed)
            }
            ApiError::CrossOrigin => (StatusCode::FORBIDDEN, Reason::CrossOrigin),
            ApiError::TooManyPushedSources { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Reason::TooManyPushedSources,
            ),
            ApiError::TooManyFollowers { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, Reason::TooManyFollowers)
            }
            ApiError::TooManyPushes { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, Reason::TooManyPushes)
            }
            ApiError::Busy => (StatusCode::SERVICE_UNAVAILABLE, Reason::Busy),
            ApiError::Timeout => (StatusCode::SERVICE_UNAVAILABLE, Reason::Timeout),
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, Reason::Unavailable),
            ApiError::Internal(DbError::CorruptBlock { .. }) => {
                (StatusCode::INTERNAL_SERVER_ERROR, Reason::BlockCorrupt)
            }
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, Reason::Internal),
        }
    }

    /// Seconds a client should wait before trying again, for refusals that pass.
    fn retry_after(&self) -> Option<&'static str> {
        match self {
            ApiError::Busy | ApiError::Timeout | ApiError::TooManyPushes { .. } => Some("1"),
            ApiError::TooManyFollowers { .. } => Some("10"),
            _ => None,
        }
    }

    pub fn reason(&self) -> Reason {
        self.classify().1
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.classify().0
    }

    fn error_response(&self) -> HttpResponse {
        let code = self.reason();
        let body = match self {
            ApiError::BadParameter { parameter, message } => {
                json!({ "code": code, "error": message, "parameter": parameter })
            }
            ApiError::TooBroad { parameter, .. } => {
                json!({ "code": code, "error": self.to_string(), "parameter": parameter })
            }
            ApiError::Internal(e) => {
                error!("internal error: {e:?}");
                json!({ "code": code, "error": self.to_string() })
            }
            _ => json!({ "code": code, "error": self.to_string() }),
        };
        let mut response = HttpResponse::build(self.status_code());
        if let Some(seconds) = self.retry_after() {
            response.insert_header(("Retry-After", seconds));
        }
        if let ApiError::MethodNotAllowed { allowed, .. } = self {
            response.insert_header(("Allow", *allowed));
        }
        if let ApiError::Unauthorized { presented } = self {
            let challenge = if *presented {
                r#"Bearer realm="loggerator", error="invalid_token""#
            } else {
                r#"Bearer realm="loggerator""#
            };
            response.insert_header(("WWW-Authenticate", challenge));
        }
        response.json(body)
    }
}
