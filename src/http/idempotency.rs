//! The HTTP side of `Idempotency-Key`: reading the header, keeping an answer as it was sent,
//! and replaying it. What is kept and when is the meetings service's decision.

use super::AppState;
use super::error::ApiError;
use crate::meetings::Caller;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The `Idempotency-Key` header, if sent: 1 to 255 visible ASCII characters.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text.is_empty() || text.len() > 255 || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::field(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(text.to_owned()))
}

pub(super) fn replay(status: u16, body: String, meeting_id: Uuid) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&format!("/meetings/{meeting_id}"))
    {
        headers.insert(header::LOCATION, location);
    }
    response
}

/// Keeps the response for replays, and sends it.
pub(super) async fn remember(
    state: &AppState,
    caller: &Caller,
    key: &str,
    meeting_id: Uuid,
    response: Response,
) -> Result<Response, ApiError> {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    state
        .service
        .remember(caller, key, meeting_id, parts.status.as_u16(), &text)
        .await?;
    Ok(Response::from_parts(parts, axum::body::Body::from(bytes)))
}
