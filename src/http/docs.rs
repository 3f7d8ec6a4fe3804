//! The OpenAPI 3.1 document, generated from the handlers' annotations, and `/docs`, a page
//! that renders it without loading anything from elsewhere.

use super::error::{EnableXDetail, Problem, ProblemField};
use axum::Extension;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

/// The request body the spec shows for `POST /meetings`; the tests send it for real.
pub fn create_example() -> Value {
    json!({"name": "Weekly sync", "kind": "scheduled", "starts_at": "2030-12-01T10:30:00+05:30",
           "duration_minutes": 30, "description": "Agenda in the team doc", "embed": "premium",
           "settings": {"mode": "group", "moderators": 1, "participants": 3, "quality": "SD",
                        "max_active_talkers": 4, "screen_share": true, "canvas": false, "abwd": true,
                        "auto_recording": false, "wait_for_moderator": false, "knock": false,
                        "media_zone": "XX"}})
}

pub fn update_example() -> Value {
    json!({"name": "Weekly sync (moved)", "duration_minutes": 45, "settings": {"quality": "HD"}})
}

pub fn link_example() -> Value {
    json!({"role": "participant", "name": "Ana", "user_ref": "u1", "landing": false})
}

pub fn token_example() -> Value {
    json!({"role": "participant", "name": "Ana", "user_ref": "u1"})
}

/// A meeting as the API returns it, for the spec.
pub fn meeting_example() -> Value {
    json!({
        "id": "01938f2e-7c3a-7b1e-9d2f-4a5b6c7d8e9f", "room_id": "65f0c2a1b3d4e5f60718293a",
        "kind": "scheduled", "name": "Weekly sync", "description": null, "owner_ref": "user-42",
        "embed": "premium", "starts_at": "2030-12-01T05:00:00Z", "ends_at": "2030-12-01T05:30:00Z",
        "joinable_from": "2030-12-01T04:45:00Z", "duration_minutes": 30,
        "settings": {"mode": "group", "moderators": 1, "participants": 3, "quality": "SD",
                     "max_active_talkers": 4, "screen_share": true, "canvas": false, "abwd": true,
                     "auto_recording": false, "wait_for_moderator": false, "knock": false, "media_zone": "XX"},
        "status": "scheduled",
        "participant_url": "https://acme.yourvideo.live/65f0c2a1b3d4e5f60718293a",
        "moderator_url": "https://acme.yourvideo.live/host/NjVmMGMyYTFiM2Q0ZTVmNjA3MTgyOTNhLTY0YTFiMmMzZDRlNWY2MDcxODI5M2E0Yg==",
        "created_at": "2026-11-29T03:30:00.123456Z", "deleted_at": null
    })
}

/// Declares the problem responses the operations refer to by name.
macro_rules! problem_responses {
    ($($name:ident => $description:literal),+ $(,)?) => {$(
        #[doc = $description]
        pub struct $name;

        impl<'r> utoipa::ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<utoipa::openapi::Response>) {
                let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
                let response = ResponseBuilder::new()
                    .description($description)
                    .content("application/problem+json", content)
                    .build();
                (stringify!($name), RefOr::T(response))
            }
        }
    )+};
}

problem_responses! {
    Malformed => "The body is not valid JSON",
    Unauthorized => "No valid API key or JWT (`WWW-Authenticate: Bearer`)",
    Forbidden => "Moderator access is the meeting owner's alone",
    NotFound => "No such meeting, or not the caller's",
    Conflict => "The meeting's state does not allow it (live session, deleted, too late to change, or an Idempotency-Key still in flight)",
    TooLarge => "The body is over 64 KiB",
    NotJson => "The body is not application/json",
    Invalid => "Fields failed validation; `errors` names each",
    RateLimited => "Over the caller's rate limit; see `Retry-After` and the `RateLimit-*` headers",
    EnableXRefused => "EnableX refused, or answered unreadably; `enablex` carries its words",
    Unavailable => "EnableX unreachable or failing (circuit open), the database down, or the request over its time limit; see `Retry-After`",
    EnableXTimeout => "EnableX did not answer in time",
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("An API key (`rg_…`, from `roomgate keys create`) or a JWT from the app's identity provider"))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document's fixed parts; the routes add their paths.
#[derive(OpenApi)]
#[openapi(
    info(title = "roomgate", description = "EnableX video meetings behind a safe REST API: rooms are created at EnableX, every meeting is stored, and the answers carry ready-made embed URLs."),
    components(
        schemas(Problem, ProblemField, EnableXDetail),
        responses(Malformed, Unauthorized, Forbidden, NotFound, Conflict, TooLarge, NotJson, Invalid, RateLimited, EnableXRefused, Unavailable, EnableXTimeout)
    ),
    modifiers(&BearerAuth),
    tags((name = "meetings", description = "Meetings and their EnableX rooms"), (name = "callers", description = "Who is calling"), (name = "operations", description = "Health, metrics and this document"))
)]
pub struct ApiDoc;

/// The rendered document, filled in once the routes are assembled.
pub type SpecText = Arc<OnceLock<String>>;

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", summary = "This OpenAPI 3.1 document",
    responses((status = 200, description = "The document", content_type = "application/json")))]
pub async fn openapi_json(Extension(spec): Extension<SpecText>) -> Response {
    let text = spec.get().cloned().unwrap_or_else(|| "{}".to_owned());
    ([(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// `GET /docs`.
#[utoipa::path(get, path = "/docs", tag = "operations", summary = "This document, readable",
    responses((status = 200, description = "An HTML page", content_type = "text/html")))]
pub async fn docs_page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
