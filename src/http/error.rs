//! Errors at the HTTP boundary, each with an explicit status and a JSON body
//! `{"error": "..."}`. Internal failures are logged in full and reported to the client only as
//! "internal error".

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use log::error;
use serde_json::json;
use thiserror::Error;

use crate::db::DbError;
use crate::tokens::Scope;

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("{message}")]
    BadParameter { parameter: String, message: String },
    #[error("no such resource: {0}")]
    NotFound(String),
    #[error("method {method} is not allowed here; use {allowed}")]
    MethodNotAllowed {
        method: String,
        allowed: &'static str,
    },
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{}", if *presented { "the token is not valid" } else { "a token is required: Authorization: Bearer TOKEN" })]
    Unauthorized { presented: bool },
    #[error("the token {name:?} does not have the {scope} scope this needs")]
    Forbidden { name: String, scope: Scope },
    #[error("too many queries in flight; retry shortly")]
    Busy,
    #[error("query timed out")]
    Timeout,
    #[error("query service unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal(#[from] DbError),
}

impl ApiError {
    pub fn bad(parameter: &str, message: impl Into<String>) -> Self {
        ApiError::BadParameter {
            parameter: parameter.to_owned(),
            message: message.into(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::Busy | ApiError::Timeout | ApiError::Unavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = match self {
            ApiError::BadParameter { parameter, message } => {
                json!({ "error": message, "parameter": parameter })
            }
            ApiError::Internal(e) => {
                error!("internal error: {e:?}");
                json!({ "error": self.to_string() })
            }
            _ => json!({ "error": self.to_string() }),
        };
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Busy | ApiError::Timeout) {
            response.insert_header(("Retry-After", "1"));
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
