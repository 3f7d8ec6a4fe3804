//! `GET /me`: who the credential belongs to, so a front-end (the console) can say who is
//! signed in without guessing from a key's text.

use super::docs;
use crate::meetings::Caller;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// The caller behind the request's credential.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"identity": "key:billing-backend", "subject": "billing-backend", "admin": false}))]
pub struct MeView {
    /// The owner of the caller's meetings: `key:<name>` or `user:<subject>`.
    identity: String,
    /// The key's name or the JWT's subject: the default `owner_ref`.
    subject: String,
    /// Admins see and manage every caller's meetings.
    admin: bool,
}

/// `GET /me`.
#[utoipa::path(get, path = "/me", tag = "callers", summary = "Who the credential belongs to",
    responses((status = 200, description = "The caller", body = MeView),
        (status = 401, response = docs::Unauthorized), (status = 429, response = docs::RateLimited),
        (status = 503, response = docs::Unavailable)),
    security(("bearer" = [])))]
pub async fn me(caller: Caller) -> Json<MeView> {
    Json(MeView {
        identity: caller.identity,
        subject: caller.subject,
        admin: caller.admin,
    })
}
