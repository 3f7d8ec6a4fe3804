//! The HTTP layer: routes, extraction and validation, error mapping, middleware.

mod auth;
mod changes;
pub mod console;
pub mod docs;
mod error;
mod extract;
mod idempotency;
mod me;
mod meetings;
mod settings;
mod views;

pub use auth::Limiter;
pub use error::ApiError;
pub use settings::SettingsView;

use crate::auth::Authenticator;
use crate::meetings::{EmbedPlan, Service};
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Json, Response};
use axum::{Extension, Router};
use serde_json::json;
use std::any::Any;
use std::sync::Arc;
use std::time::Duration;
use tower::timeout::TimeoutLayer;
use tower::{BoxError, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::{DefaultOnResponse, OnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Shared, so that the per-request copies axum makes of the state are cheap.
    pub service: Arc<Service>,
    pub auth: Authenticator,
    /// Per-caller token buckets; `None` when rate limiting is off.
    pub limiter: Option<Arc<Limiter>>,
    /// The embed plan used when a request does not name one.
    pub default_plan: EmbedPlan,
    /// Longest a request may take before it is answered 503.
    pub request_timeout: Duration,
    /// Origins whose browsers may call the API (CORS); empty allows none.
    pub cors_origins: Arc<[HeaderValue]>,
    /// How long an `Idempotency-Key`'s first answer is kept.
    pub idempotency_ttl: Duration,
    /// The OpenAPI document, rendered when the router is built.
    pub spec: docs::SpecText,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// All of roomgate's routes, each documented in the OpenAPI document it serves.
pub fn router(state: AppState) -> Router {
    let (router, spec) = routes(state.clone()).split_for_parts();
    let text = spec.to_json().unwrap_or_else(|_| "{}".to_owned());
    let _ = state.spec.set(text);
    // The console is not part of the API, so not in its document: a page and its files.
    let policy = console::content_security_policy(&state.service.urls().origins());
    with_middleware(router.merge(console::router(&policy)), &state)
}

/// The routes and their OpenAPI document. `/meetings` and `/me` need a caller; the rest do
/// not.
pub fn routes(state: AppState) -> OpenApiRouter {
    let meetings = OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .routes(routes!(meetings::list, meetings::create))
        .routes(routes!(
            meetings::get_one,
            changes::update,
            meetings::delete
        ))
        .routes(routes!(changes::link))
        .routes(routes!(changes::token))
        .routes(routes!(changes::grants))
        .routes(routes!(me::me))
        .route_layer(from_fn_with_state(state.clone(), auth::require_caller));
    let operations = OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics_text))
        .routes(routes!(docs::openapi_json))
        .routes(routes!(docs::docs_page));
    meetings
        .merge(operations)
        .layer(Extension(state.spec.clone()))
        .with_state(state)
}

fn with_middleware(router: Router, state: &AppState) -> Router {
    let timeout = state.request_timeout;
    let cors = cors(state.cors_origins.to_vec());
    let api = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    let middleware = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
            header::PROXY_AUTHORIZATION,
        ]))
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
                .on_request(|request: &Request, _: &tracing::Span| {
                    // Sensitive headers were marked above: their values print as "Sensitive".
                    tracing::debug!(uri = %request.uri(), headers = ?request.headers(), "request received");
                })
                .on_response(
                    |response: &Response, latency: Duration, span: &tracing::Span| {
                        // Refused credentials are counted and summarised in auth.rs: a line
                        // each would let a flood of wrong keys fill the disk.
                        let level = if response.extensions().get::<auth::Refused>().is_some() {
                            Level::DEBUG
                        } else {
                            Level::INFO
                        };
                        DefaultOnResponse::new()
                            .level(level)
                            .on_response(response, latency, span);
                    },
                ),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(from_fn(record_request))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(cors)
        // A request still running at its deadline is dropped and answered 503.
        .layer(HandleErrorLayer::new(|_: BoxError| async { ApiError::Timeout }))
        .layer(TimeoutLayer::new(timeout))
        .layer(from_fn_with_state(timeout, set_deadline))
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES));
    api.layer(middleware)
}

/// Makes the request's deadline known below the HTTP layer, so EnableX retries stop in time
/// to answer with what EnableX did; the `TimeoutLayer` around it stays the backstop.
async fn set_deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let deadline = tokio::time::Instant::now() + limit;
    crate::deadline::within(deadline, next.run(request)).await
}

/// Counts every request and its latency by matched route (unmatched ones share one label, so
/// stray paths cannot grow the label set).
async fn record_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(crate::metrics::HTTP_DURATION, "route" => route.clone(), "method" => method.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(crate::metrics::HTTP_REQUESTS, "route" => route, "method" => method, "status" => status)
        .increment(1);
    response
}

/// Browsers may call the API only from the configured origins.
fn cors(origins: Vec<HeaderValue>) -> CorsLayer {
    let exposed = [
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "ratelimit-policy",
    ];
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            IDEMPOTENCY_KEY,
            REQUEST_ID,
        ])
        .expose_headers(
            [header::LOCATION, header::RETRY_AFTER, REQUEST_ID]
                .into_iter()
                .chain(exposed.map(HeaderName::from_static))
                .collect::<Vec<_>>(),
        )
        .max_age(Duration::from_secs(3600))
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
#[utoipa::path(get, path = "/healthz", tag = "operations", summary = "Alive",
    responses((status = 200, description = "The process answers", example = json!({"status": "ok"}))))]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers and its migrations are applied.
#[utoipa::path(get, path = "/readyz", tag = "operations", summary = "Ready: database reachable, migrations applied",
    responses((status = 200, description = "Ready", example = json!({"status": "ready", "database": "postgres"})),
        (status = 503, response = docs::Unavailable)))]
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

/// `GET /metrics`: Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", summary = "Prometheus metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics_text(State(state): State<AppState>) -> Response {
    let circuit_open = state.service.enablex().circuit() != crate::enablex::CircuitState::Closed;
    let text = crate::metrics::render(state.service.store().pool_stats(), circuit_open);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
