//! The HTTP layer: routes, extraction and validation, error mapping, middleware.

mod changes;
mod error;
mod extract;
mod meetings;

pub use error::ApiError;
pub use meetings::ANONYMOUS_OWNER;

use crate::meetings::{EmbedPlan, Service};
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::HeaderName;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::any::Any;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    /// The embed plan used when a request does not name one.
    pub default_plan: EmbedPlan,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// All of roomgate's routes with their middleware.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/meetings", get(meetings::list).post(meetings::create))
        .route(
            "/meetings/{id}",
            get(meetings::get_one)
                .patch(changes::update)
                .delete(meetings::delete),
        )
        .route("/meetings/{id}/links", post(changes::link))
        .route("/meetings/{id}/tokens", post(changes::token))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    let middleware = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let route = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("unmatched", MatchedPath::as_str);
                    let request_id = request
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!("request", method = %request.method(), route, request_id)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES));
    api.layer(middleware)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// A panic is a bug: answered as a 500 problem, the payload logged but not sent.
fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let cause = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".into());
    ApiError::Internal(format!("panic: {cause}")).into_response()
}

/// `GET /healthz`: the process is up.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers and its migrations are applied.
async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.service.store();
    let check = tokio::time::timeout(Duration::from_secs(3), store.ready()).await;
    match check {
        Ok(Ok(())) => {
            Json(json!({ "status": "ready", "database": store.backend() })).into_response()
        }
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "not ready");
            ApiError::DatabaseUnavailable(err.to_string()).into_response()
        }
        Err(_) => ApiError::DatabaseUnavailable("readiness check timed out".into()).into_response(),
    }
}
