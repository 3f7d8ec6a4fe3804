//! The one error type every handler returns, rendered as RFC 9457 problem+json.

use crate::enablex::EnableXError;
use crate::meetings::{FieldError, MeetingError, StoreError};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Everything a request can end in besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Malformed(String),
    #[error("the request body must be application/json")]
    UnsupportedMediaType,
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("too many requests; try again in {} s", .0.as_secs())]
    RateLimited(std::time::Duration),
    #[error("the request took too long")]
    Timeout,
    #[error("{0}")]
    NotFound(String),
    #[error("this route does not take that method")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    /// A conflict that goes away by itself: retry after a moment.
    #[error("{0}")]
    Pending(String),
    #[error(transparent)]
    Upstream(#[from] EnableXError),
    #[error("the database is unavailable")]
    DatabaseUnavailable(String),
    /// A bug. Its cause is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// One invalid field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(cause) => ApiError::DatabaseUnavailable(cause),
            StoreError::NotFound => ApiError::NotFound("no such meeting".into()),
            StoreError::Conflict(constraint) => {
                ApiError::Conflict(format!("conflicts with an existing record ({constraint})"))
            }
            StoreError::Other(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<MeetingError> for ApiError {
    fn from(err: MeetingError) -> Self {
        match err {
            MeetingError::NotFound => ApiError::NotFound("no such meeting".into()),
            MeetingError::Conflict(message) => ApiError::Conflict(message),
            MeetingError::Forbidden(message) => ApiError::Forbidden(message),
            MeetingError::Pending(message) => ApiError::Pending(message),
            MeetingError::Invalid(errors) => ApiError::Validation(errors),
            MeetingError::Upstream(err) => ApiError::Upstream(err),
            MeetingError::Store(err) => err.into(),
        }
    }
}

/// An error, as RFC 9457 problem details: the one body every failure is answered with.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"type": "urn:roomgate:problem:validation_failed", "title": "Validation failed",
    "status": 422, "detail": "name: is required", "code": "validation_failed",
    "errors": [{"field": "name", "message": "is required"}]}))]
pub struct Problem {
    /// `urn:roomgate:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable, machine-readable: `validation_failed`, `unauthorized`, `not_found`, …
    pub code: String,
    /// Each invalid field, for `422`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ProblemField>>,
    /// EnableX's own status, code and description, for `502`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enablex: Option<EnableXDetail>,
}

/// One invalid field.
#[derive(Serialize, ToSchema)]
pub struct ProblemField {
    pub field: String,
    pub message: String,
}

/// What EnableX said when it refused, passed on to the caller.
#[derive(Serialize, ToSchema)]
pub struct EnableXDetail {
    pub status: u16,
    pub code: Option<String>,
    pub description: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title) = match &self {
            ApiError::Malformed(_) => (
                StatusCode::BAD_REQUEST,
                "malformed_request",
                "Malformed request",
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            ApiError::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Request body too large",
            ),
            ApiError::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Validation failed",
            ),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::RateLimited(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
            ),
            ApiError::Timeout => (
                StatusCode::SERVICE_UNAVAILABLE,
                "request_timeout",
                "Request timed out",
            ),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::Pending(_) => (
                StatusCode::CONFLICT,
                "request_in_progress",
                "Request in progress",
            ),
            ApiError::Upstream(EnableXError::Timeout) => (
                StatusCode::GATEWAY_TIMEOUT,
                "enablex_timeout",
                "EnableX timed out",
            ),
            ApiError::Upstream(
                EnableXError::Unreachable(_)
                | EnableXError::RateLimited { .. }
                | EnableXError::CircuitOpen { .. },
            ) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "enablex_unavailable",
                "EnableX unavailable",
            ),
            ApiError::Upstream(_) => (
                StatusCode::BAD_GATEWAY,
                "enablex_error",
                "EnableX failed the request",
            ),
            ApiError::DatabaseUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "Database unavailable",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Internal error",
            ),
        };
        match &self {
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "request failed with an internal error")
            }
            ApiError::DatabaseUnavailable(cause) => tracing::warn!(%cause, "database unavailable"),
            ApiError::Upstream(err) => tracing::warn!(error = %err, "EnableX call failed"),
            _ => {}
        }
        let errors = match &self {
            ApiError::Validation(errors) => errors
                .iter()
                .map(|e| ProblemField {
                    field: e.field.clone(),
                    message: e.message.clone(),
                })
                .collect(),
            _ => Vec::new(),
        };
        let enablex = match &self {
            ApiError::Upstream(EnableXError::Refused {
                status,
                code,
                message,
            }) => Some(EnableXDetail {
                status: *status,
                code: code.clone(),
                description: message.clone(),
            }),
            _ => None,
        };
        let detail = match &self {
            ApiError::Validation(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            ApiError::Internal(_) => "an unexpected error occurred; it has been logged".into(),
            ApiError::DatabaseUnavailable(_) => {
                "the database cannot be reached; try again shortly".into()
            }
            other => other.to_string(),
        };
        let retry_after = match &self {
            ApiError::Upstream(EnableXError::RateLimited { retry_after }) => {
                Some(retry_after.map_or(5, |d| d.as_secs().max(1)))
            }
            ApiError::Upstream(EnableXError::Unreachable(_)) | ApiError::DatabaseUnavailable(_) => {
                Some(5)
            }
            ApiError::RateLimited(wait) => Some(wait.as_secs().max(1)),
            ApiError::Upstream(EnableXError::CircuitOpen { retry_after }) => {
                Some(retry_after.as_secs().max(1))
            }
            ApiError::Timeout | ApiError::Pending(_) => Some(1),
            _ => None,
        };
        let problem = Problem {
            kind: format!("urn:roomgate:problem:{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            code: code.to_owned(),
            errors: (!errors.is_empty()).then_some(errors),
            enablex,
        };
        let mut response = (status, Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if matches!(self, ApiError::Unauthorized(_)) {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
