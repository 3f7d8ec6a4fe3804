//! `POST /meetings` with an `Idempotency-Key`: the first answer is kept per caller and key and
//! replayed to retries; concurrent duplicates wait for it; one room is made.

use super::AppState;
use super::error::ApiError;
use super::meetings::created;
use crate::enablex::EnableXError;
use crate::meetings::{Caller, Claim, IdempotencyRecord, MeetingError, NewMeeting, State, now};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::{Duration, Instant};
use uuid::Uuid;

const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// How long a duplicate waits for the first request's answer before being told to retry.
const WAIT: Duration = Duration::from_secs(10);

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

fn replay(status: u16, body: String, meeting_id: Uuid) -> Response {
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

/// Splits a response into what is stored for replays, keeping the response itself.
async fn remember(
    state: &AppState,
    caller: &Caller,
    key: &str,
    response: Response,
) -> Result<Response, ApiError> {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    state
        .service
        .complete_idempotency(&caller.identity, key, parts.status.as_u16(), &text)
        .await?;
    Ok(Response::from_parts(parts, axum::body::Body::from(bytes)))
}

/// Creates the meeting once per caller and key.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    key: &str,
    request_hash: &str,
    new: NewMeeting,
    ttl: Duration,
) -> Result<Response, ApiError> {
    let deadline = Instant::now() + WAIT;
    loop {
        let at = now();
        let record = IdempotencyRecord {
            caller: caller.identity.clone(),
            key: key.to_owned(),
            request_hash: request_hash.to_owned(),
            meeting_id: Uuid::now_v7(),
            status: None,
            body: None,
            created_at: at,
            expires_at: at + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(1)),
        };
        match state.service.claim_idempotency(&record).await? {
            Claim::Mismatch => {
                return Err(ApiError::field(
                    "Idempotency-Key",
                    "was already used with a different request body",
                ));
            }
            Claim::Answered { status, body } => {
                let id = state
                    .service
                    .idempotency_meeting(&caller.identity, key)
                    .await?
                    .unwrap_or(record.meeting_id);
                return Ok(replay(status, body, id));
            }
            Claim::Fresh(id) => {
                return match state.service.create(id, new).await {
                    Ok(meeting) => {
                        remember(state, caller, key, created(state, meeting, caller)).await
                    }
                    // EnableX said no: that answer stands for every retry.
                    Err(err @ MeetingError::Upstream(EnableXError::Refused { .. })) => {
                        remember(state, caller, key, ApiError::from(err).into_response()).await
                    }
                    // Nothing was sent, so nothing exists: a retry may try again.
                    Err(
                        err @ MeetingError::Upstream(
                            EnableXError::CircuitOpen { .. }
                            | EnableXError::Unreachable(_)
                            | EnableXError::RateLimited { .. },
                        ),
                    ) => {
                        state
                            .service
                            .release_idempotency(&caller.identity, key)
                            .await?;
                        Err(err.into())
                    }
                    // Unknown outcome: the claim stays, and retries wait for the reconciler.
                    Err(err) => Err(err.into()),
                };
            }
            Claim::Pending(id) => {
                if state.service.state_of(id).await? == Some(State::Active) {
                    // Settled by the reconciler after an unknown outcome: answer as the first
                    // request would have.
                    let meeting = state.service.get(id, caller).await?;
                    return remember(state, caller, key, created(state, meeting, caller)).await;
                }
                if Instant::now() >= deadline {
                    return Err(ApiError::Pending(
                        "a request with this Idempotency-Key is still being processed; retry shortly".into(),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
