//! Fault injection: the sandbox can be slow, fail, hang, garble, hollow out or drop its
//! answers, or make a room and lose the answer, so roomgate's handling of each can be tested
//! over real HTTP. Set per run (`SandboxConfig::faults`, `roomgate sandbox --faults JSON`) or
//! at run time with `PUT /_sandbox/faults`; `GET /_sandbox/stats` counts what happened.

use super::Sandbox;
use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// What to do wrong, and to which calls. Rates are probabilities from 0 to 1.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added before every matching call is handled.
    pub latency_ms: u64,
    /// Share of calls refused with `error_status` (a 429 carries `Retry-After`).
    pub error_rate: f64,
    /// The status of injected errors (default 503).
    pub error_status: Option<u16>,
    pub retry_after_secs: Option<u64>,
    /// The next this-many matching calls are refused with `error_status`, whatever the rates.
    pub fail_next: u32,
    /// The next this-many matching calls are handled and their answers lost (the connection
    /// closed), before `fail_next` counts: "the first attempt went through unanswered, the
    /// retry was refused".
    pub lose_next: u32,
    /// Share of calls never answered.
    pub hang_rate: f64,
    /// Share of calls handled and then answered with a cut-off body.
    pub malformed_rate: f64,
    /// Share of calls whose connection is closed before they are handled.
    pub drop_rate: f64,
    /// Share of calls handled (a create makes its room) whose connection is then closed
    /// without an answer: "the room was created but the response was lost".
    pub lose_response_rate: f64,
    /// Share of calls handled and then answered with EnableX's bare success envelope,
    /// `{"result":0}`, lacking what the operation should return (the room, the live users'
    /// `total` and `users`, the token): well-formed, yet it says nothing.
    pub hollow_rate: f64,
    /// Handle the call, then wait this long before answering.
    pub answer_delay_ms: u64,
    /// Which operations the faults apply to (`create`, `get`, `list`, `update`, `delete`,
    /// `users`, `token`); empty means all.
    pub operations: Vec<String>,
}

/// What the sandbox has seen since it started.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: std::sync::atomic::AtomicU64,
    pub faults: std::sync::atomic::AtomicU64,
    pub rooms_created: std::sync::atomic::AtomicU64,
}

fn chance(rate: f64) -> bool {
    if rate <= 0.0 {
        return false;
    }
    let mut bytes = [0u8; 8];
    let roll = match getrandom::fill(&mut bytes) {
        Ok(()) => (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.0,
    };
    roll < rate
}

/// The EnableX operation a request is, from its method and the path below the prefix.
fn operation(method: &Method, path: &str) -> &'static str {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("POST", ["rooms"]) => "create",
        ("GET", ["rooms"]) => "list",
        ("GET", ["rooms", _]) => "get",
        ("PATCH", ["rooms", _]) => "update",
        ("DELETE", ["rooms", _]) => "delete",
        ("GET", ["rooms", _, "users"]) => "users",
        ("POST", ["rooms", _, "tokens"]) => "token",
        _ => "other",
    }
}

/// Closes the connection without an answer. Unwinding (not panicking) ends the connection's
/// task quietly, which is what a dropped connection looks like to the client.
fn drop_connection() -> ! {
    std::panic::resume_unwind(Box::new("sandbox fault: connection dropped"))
}

fn injected_error(faults: &Faults) -> Response {
    let status = StatusCode::from_u16(faults.error_status.unwrap_or(503))
        .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let body = json!({"result": status.as_u16(), "error": "Injected fault", "desc": "The sandbox was told to fail this call"});
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        let after = faults.retry_after_secs.unwrap_or(1);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(after));
    }
    response
}

/// Middleware on the room API that applies the current faults.
pub(crate) async fn inject(
    State(sandbox): State<Sandbox>,
    request: Request,
    next: Next,
) -> Response {
    sandbox.counters.requests.fetch_add(1, Ordering::Relaxed);
    let op = operation(request.method(), request.uri().path());
    let faults = {
        let mut current = sandbox.faults.lock().unwrap_or_else(|p| p.into_inner());
        if !current.operations.is_empty() && !current.operations.iter().any(|o| o == op) {
            None
        } else {
            let lost = current.lose_next > 0;
            let forced = !lost && current.fail_next > 0;
            if lost {
                current.lose_next -= 1;
            } else if forced {
                current.fail_next -= 1;
            }
            Some((current.clone(), forced, lost))
        }
    };
    let Some((faults, forced, lost)) = faults else {
        return next.run(request).await;
    };
    let count = || sandbox.counters.faults.fetch_add(1, Ordering::Relaxed);
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    if lost {
        let _handled = next.run(request).await;
        if faults.answer_delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(faults.answer_delay_ms)).await;
        }
        count();
        drop_connection();
    }
    if forced || chance(faults.error_rate) {
        count();
        return injected_error(&faults);
    }
    if chance(faults.drop_rate) {
        count();
        drop_connection();
    }
    if chance(faults.hang_rate) {
        count();
        std::future::pending::<()>().await;
    }
    let response = next.run(request).await;
    if faults.answer_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.answer_delay_ms)).await;
    }
    if chance(faults.lose_response_rate) {
        count();
        drop_connection();
    }
    if response.status().is_success() && chance(faults.hollow_rate) {
        count();
        return (response.status(), Json(json!({"result": 0}))).into_response();
    }
    if chance(faults.malformed_rate) {
        count();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        let cut = bytes.slice(..bytes.len() / 2);
        let mut garbled = Response::from_parts(parts, Body::from(cut));
        garbled.headers_mut().remove(header::CONTENT_LENGTH);
        return garbled;
    }
    response
}

/// `GET /_sandbox/faults`.
pub(crate) async fn current(State(sandbox): State<Sandbox>) -> Json<Faults> {
    Json(
        sandbox
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
    )
}

/// `PUT /_sandbox/faults`: replaces the faults (`{}` clears them).
pub(crate) async fn replace(
    State(sandbox): State<Sandbox>,
    Json(faults): Json<Faults>,
) -> Json<Faults> {
    *sandbox.faults.lock().unwrap_or_else(|p| p.into_inner()) = faults.clone();
    Json(faults)
}

/// `GET /_sandbox/stats`.
pub(crate) async fn stats(State(sandbox): State<Sandbox>) -> Json<serde_json::Value> {
    let c = &sandbox.counters;
    Json(json!({
        "requests": c.requests.load(Ordering::Relaxed),
        "faults_injected": c.faults.load(Ordering::Relaxed),
        "rooms_created": c.rooms_created.load(Ordering::Relaxed),
        "rooms": sandbox.rooms.len(),
    }))
}
