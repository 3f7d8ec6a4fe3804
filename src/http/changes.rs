//! `PATCH /meetings/{id}`, `POST /meetings/{id}/links` and `POST /meetings/{id}/tokens`.

use super::AppState;
use super::docs;
use super::error::ApiError;
use super::extract::{ApiJson, meeting_id};
use super::meetings::{MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_REF_CHARS};
use super::settings::{SettingsBody, choice, optional_text};
use super::views::{MeetingView, time};
use crate::meetings::{
    Caller, FieldError, Kind, LinkOptions, LinkRole, MeetingChange, Person, TokenRole,
    parse_instant,
};
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `PATCH /meetings/{id}` body: only what EnableX lets change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeeting {
    name: Option<String>,
    /// An empty string clears it.
    description: Option<String>,
    /// Accepted only to say it cannot change.
    kind: Option<String>,
    starts_at: Option<String>,
    duration_minutes: Option<i64>,
    settings: Option<SettingsBody>,
}

impl UpdateMeeting {
    fn validate(self) -> Result<MeetingChange, ApiError> {
        let mut errors = Vec::new();
        let nothing = self.name.is_none()
            && self.description.is_none()
            && self.kind.is_none()
            && self.starts_at.is_none()
            && self.duration_minutes.is_none()
            && self.settings.is_none();
        if nothing {
            return Err(ApiError::field("body", "names nothing to change"));
        }
        let name_given = self.name.is_some();
        let name = optional_text("name", self.name, MAX_NAME_CHARS, &mut errors);
        if name_given && name.is_none() {
            errors.push(FieldError::new("name", "must not be empty"));
        }
        let description = self.description.map(|text| {
            optional_text(
                "description",
                Some(text),
                MAX_DESCRIPTION_CHARS,
                &mut errors,
            )
        });
        let starts_at = self.starts_at.and_then(|text| {
            parse_instant(&text)
                .map_err(|message| errors.push(FieldError::new("starts_at", message)))
                .ok()
        });
        let change = MeetingChange {
            name,
            description,
            kind: choice::<Kind>("kind", self.kind.as_deref(), &mut errors),
            starts_at,
            duration_minutes: self.duration_minutes,
            settings: self.settings.map(|body| body.read(&mut errors)),
        };
        if errors.is_empty() {
            Ok(change)
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// `PATCH /meetings/{id}`.
#[utoipa::path(patch, path = "/meetings/{id}", tag = "meetings",
    summary = "Change name, description, schedule or settings (not kind or mode)",
    params(("id" = Uuid, Path, description = "The meeting's id")),
    request_body(content = UpdateMeeting, example = docs::update_example),
    responses((status = 200, description = "The changed meeting", body = MeetingView),
        (status = 400, response = docs::Malformed), (status = 401, response = docs::Unauthorized),
        (status = 404, response = docs::NotFound), (status = 409, response = docs::Conflict),
        (status = 413, response = docs::TooLarge), (status = 415, response = docs::NotJson),
        (status = 422, response = docs::Invalid), (status = 429, response = docs::RateLimited),
        (status = 502, response = docs::EnableXRefused), (status = 503, response = docs::Unavailable),
        (status = 504, response = docs::EnableXTimeout)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, err(Debug, level = "debug"))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateMeeting>,
) -> Result<Json<MeetingView>, ApiError> {
    let id = meeting_id(&id)?;
    let change = body.validate()?;
    let meeting = state.service.update(id, change, &caller).await?;
    Ok(Json(MeetingView::one(&state, meeting, &caller).await?))
}

/// `POST /meetings/{id}/links` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// `participant` (default) or `moderator`.
    role: Option<String>,
    name: Option<String>,
    user_ref: Option<String>,
    /// `false` skips EnableX's landing page; needs `name`.
    landing: Option<bool>,
}

/// A personal URL.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkView {
    url: String,
}

/// `POST /meetings/{id}/links`.
#[utoipa::path(post, path = "/meetings/{id}/links", tag = "meetings",
    summary = "A personal embed URL for one person",
    params(("id" = Uuid, Path, description = "The meeting's id")),
    request_body(content = LinkBody, example = docs::link_example),
    responses((status = 200, description = "The URL", body = LinkView),
        (status = 400, response = docs::Malformed), (status = 401, response = docs::Unauthorized),
        (status = 403, response = docs::Forbidden), (status = 404, response = docs::NotFound),
        (status = 409, response = docs::Conflict), (status = 415, response = docs::NotJson),
        (status = 422, response = docs::Invalid), (status = 429, response = docs::RateLimited),
        (status = 503, response = docs::Unavailable)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, err(Debug, level = "debug"))]
pub async fn link(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<LinkBody>,
) -> Result<Json<LinkView>, ApiError> {
    let id = meeting_id(&id)?;
    let mut errors = Vec::new();
    let role = choice::<LinkRole>("role", body.role.as_deref(), &mut errors)
        .unwrap_or(LinkRole::Participant);
    let name = optional_text("name", body.name, MAX_NAME_CHARS, &mut errors);
    let user_ref = optional_text("user_ref", body.user_ref, MAX_REF_CHARS, &mut errors);
    let skip_landing = body.landing == Some(false);
    if skip_landing && name.is_none() {
        errors.push(FieldError::new("name", "is required when landing is false"));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let options = LinkOptions {
        name: name.as_deref(),
        user_ref: user_ref.as_deref(),
        skip_landing,
    };
    let url = state.service.link(id, role, &options, &caller).await?;
    Ok(Json(LinkView { url }))
}

/// `POST /meetings/{id}/tokens` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// `participant`, `moderator` (the owner only) or `viewer`.
    role: Option<String>,
    name: Option<String>,
    user_ref: Option<String>,
}

/// A token for EnableX's SDK.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    token: String,
    expires_at: String,
}

/// `POST /meetings/{id}/tokens`.
#[utoipa::path(post, path = "/meetings/{id}/tokens", tag = "meetings",
    summary = "An EnableX SDK token, valid 15 minutes",
    params(("id" = Uuid, Path, description = "The meeting's id")),
    request_body(content = TokenBody, example = docs::token_example),
    responses((status = 200, description = "The token", body = TokenView),
        (status = 400, response = docs::Malformed), (status = 401, response = docs::Unauthorized),
        (status = 403, response = docs::Forbidden), (status = 404, response = docs::NotFound),
        (status = 409, response = docs::Conflict), (status = 415, response = docs::NotJson),
        (status = 422, response = docs::Invalid), (status = 429, response = docs::RateLimited),
        (status = 502, response = docs::EnableXRefused), (status = 503, response = docs::Unavailable),
        (status = 504, response = docs::EnableXTimeout)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, err(Debug, level = "debug"))]
pub async fn token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<Json<TokenView>, ApiError> {
    let id = meeting_id(&id)?;
    let mut errors = Vec::new();
    let role = choice::<TokenRole>("role", body.role.as_deref(), &mut errors);
    if body.role.is_none() {
        errors.push(FieldError::new("role", "is required"));
    }
    let name = optional_text("name", body.name, MAX_NAME_CHARS, &mut errors);
    if name.is_none() {
        errors.push(FieldError::new("name", "is required"));
    }
    let user_ref = optional_text("user_ref", body.user_ref, MAX_REF_CHARS, &mut errors);
    if user_ref.is_none() {
        errors.push(FieldError::new("user_ref", "is required"));
    }
    let (Some(role), Some(name), Some(user_ref), true) = (role, name, user_ref, errors.is_empty())
    else {
        return Err(ApiError::Validation(errors));
    };
    let person = Person { name, user_ref };
    let (token, expires_at) = state.service.token(id, role, &person, &caller).await?;
    Ok(Json(TokenView {
        token,
        expires_at: time(expires_at),
    }))
}

/// One moderator URL, link or token handed out.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    /// Who it was handed to: `key:<name>` or `user:<subject>`.
    caller: String,
    /// `url` (in an answer), `link` (a personal moderator link) or `token` (an SDK token).
    what: &'static str,
    at: String,
}

/// The moderator access handed out for one meeting, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantList {
    items: Vec<GrantView>,
}

/// `GET /meetings/{id}/moderator-grants`.
#[utoipa::path(get, path = "/meetings/{id}/moderator-grants", tag = "meetings",
    summary = "Every moderator URL, link and token handed out for a meeting (admins only)",
    params(("id" = Uuid, Path, description = "The meeting's id")),
    responses((status = 200, description = "The audit trail", body = GrantList),
        (status = 401, response = docs::Unauthorized), (status = 404, response = docs::NotFound),
        (status = 429, response = docs::RateLimited), (status = 503, response = docs::Unavailable)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, err(Debug, level = "debug"))]
pub async fn grants(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<GrantList>, ApiError> {
    let grants = state.service.grants(meeting_id(&id)?, &caller).await?;
    Ok(Json(GrantList {
        items: grants
            .into_iter()
            .map(|g| GrantView {
                caller: g.caller,
                what: g.what.as_str(),
                at: time(g.at),
            })
            .collect(),
    }))
}
