//! `/meetings`: request and response shapes, checks, and the handlers.

use super::AppState;
use super::docs;
use super::error::ApiError;
use super::extract::{ApiQuery, HashedJson, meeting_id};
use super::idempotency;
use super::settings::{SettingsBody, choice, optional_text};
use super::views::MeetingView;
use crate::meetings::{
    Caller, Created, EmbedPlan, FieldError, Idempotent, Kind, ListFilter, NewMeeting, Schedule,
    Settings, Status, parse_instant,
};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub(super) const MAX_NAME_CHARS: usize = 128;
pub(super) const MAX_REF_CHARS: usize = 128;
pub(super) const MAX_DESCRIPTION_CHARS: usize = 1024;
const DEFAULT_PAGE: u32 = 20;
const MAX_PAGE: u32 = 100;

/// `POST /meetings` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = docs::create_example)]
pub struct CreateMeeting {
    /// 1 to 128 characters.
    #[schema(example = "Weekly sync")]
    name: Option<String>,
    /// `permanent`, `scheduled` or `adhoc` (default).
    #[schema(example = "scheduled")]
    kind: Option<String>,
    /// Scheduled meetings only: RFC 3339 with an offset, in the future.
    #[schema(example = "2030-12-01T10:30:00+05:30")]
    starts_at: Option<String>,
    /// Scheduled meetings only (required there): 1 to 1440.
    #[schema(minimum = 1, maximum = 1440, example = 30)]
    duration_minutes: Option<i64>,
    /// EnableX's reporting reference; defaults to the caller's key name or JWT subject.
    owner_ref: Option<String>,
    /// Up to 1024 characters.
    description: Option<String>,
    /// `lite` or `premium` (default `EMBED_PLAN`).
    embed: Option<String>,
    settings: Option<SettingsBody>,
}

impl CreateMeeting {
    /// Checks every field, reporting all problems at once.
    fn validate(
        self,
        default_plan: EmbedPlan,
        now: DateTime<Utc>,
        caller: &Caller,
    ) -> Result<NewMeeting, ApiError> {
        let mut errors = Vec::new();
        let name = optional_text("name", self.name, MAX_NAME_CHARS, &mut errors);
        if name.is_none() {
            errors.push(FieldError::new("name", "is required"));
        }
        let kind = match self.kind.as_deref() {
            None => Some(Kind::Adhoc),
            given => choice::<Kind>("kind", given, &mut errors),
        };
        let schedule = match kind {
            Some(Kind::Scheduled) => {
                match Schedule::parse(self.starts_at.as_deref(), self.duration_minutes, now) {
                    Ok(schedule) => Some(schedule),
                    Err(mut problems) => {
                        errors.append(&mut problems);
                        None
                    }
                }
            }
            _ => {
                for (field, given) in [
                    ("starts_at", self.starts_at.is_some()),
                    ("duration_minutes", self.duration_minutes.is_some()),
                ] {
                    if given {
                        errors.push(FieldError::new(field, "is only for scheduled meetings"));
                    }
                }
                None
            }
        };
        let owner_ref = optional_text("owner_ref", self.owner_ref, MAX_REF_CHARS, &mut errors);
        let description = optional_text(
            "description",
            self.description,
            MAX_DESCRIPTION_CHARS,
            &mut errors,
        );
        let embed = match self.embed.as_deref() {
            None => Some(default_plan),
            given => choice::<EmbedPlan>("embed", given, &mut errors),
        };
        let input = self.settings.unwrap_or_default().read(&mut errors);
        let settings = Settings::normalise(input)
            .map_err(|mut problems| errors.append(&mut problems))
            .ok();
        match (name, kind, embed, settings) {
            (Some(name), Some(kind), Some(embed), Some(settings)) if errors.is_empty() => {
                Ok(NewMeeting {
                    name,
                    kind,
                    schedule,
                    owner_ref: owner_ref.unwrap_or_else(|| caller.subject.clone()),
                    created_by: caller.identity.clone(),
                    description,
                    embed,
                    settings,
                })
            }
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

/// `POST /meetings`.
#[utoipa::path(post, path = "/meetings", tag = "meetings",
    summary = "Create a meeting and its EnableX room",
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key get the first answer")),
    request_body(content = CreateMeeting, example = docs::create_example),
    responses(
        (status = 201, description = "Created; Location names it", body = MeetingView),
        (status = 400, response = docs::Malformed), (status = 401, response = docs::Unauthorized),
        (status = 409, response = docs::Conflict), (status = 413, response = docs::TooLarge),
        (status = 415, response = docs::NotJson), (status = 422, response = docs::Invalid),
        (status = 429, response = docs::RateLimited), (status = 502, response = docs::EnableXRefused),
        (status = 503, response = docs::Unavailable), (status = 504, response = docs::EnableXTimeout)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, err(Debug, level = "debug"))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    HashedJson(body, hash): HashedJson<CreateMeeting>,
) -> Result<Response, ApiError> {
    let key = idempotency::key(&headers)?;
    let new = body.validate(state.default_plan, Utc::now(), &caller)?;
    let Some(key) = key else {
        let made = state.service.create(Uuid::now_v7(), new).await?;
        return Ok(created(&state, made));
    };
    let ttl = state.idempotency_ttl;
    let outcome = state
        .service
        .create_once(&caller, &key, &hash, new, ttl)
        .await?;
    let (response, meeting_id) = match outcome {
        Idempotent::Replay {
            status,
            body,
            meeting_id,
        } => {
            if body.contains("\"moderator_url\":\"") {
                state
                    .service
                    .moderator_url_replayed(&caller, meeting_id)
                    .await?;
            }
            return Ok(idempotency::replay(status, body, meeting_id));
        }
        Idempotent::Created(made) => {
            let id = made.meeting.id;
            (created(&state, *made), id)
        }
        Idempotent::Refused { error, meeting_id } => {
            (ApiError::from(error).into_response(), meeting_id)
        }
    };
    idempotency::remember(&state, &caller, &key, meeting_id, response).await
}

/// `201 Created` with the meeting and its `Location`.
fn created(state: &AppState, made: Created) -> Response {
    let location = format!("/meetings/{}", made.meeting.id);
    let view = MeetingView::created(state, made);
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response()
}

/// `GET /meetings/{id}`.
#[utoipa::path(get, path = "/meetings/{id}", tag = "meetings", summary = "Read one meeting",
    params(("id" = Uuid, Path, description = "The meeting's id")),
    responses((status = 200, description = "The meeting", body = MeetingView),
        (status = 401, response = docs::Unauthorized), (status = 404, response = docs::NotFound),
        (status = 429, response = docs::RateLimited), (status = 503, response = docs::Unavailable)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, err(Debug, level = "debug"))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<MeetingView>, ApiError> {
    let meeting = state.service.get(meeting_id(&id)?, &caller).await?;
    Ok(Json(MeetingView::one(&state, meeting, &caller).await?))
}

/// `GET /meetings` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only meetings with this `owner_ref`.
    owner_ref: Option<String>,
    /// `permanent`, `scheduled` or `adhoc`.
    kind: Option<String>,
    /// `scheduled`, `open`, `ended`, `deleted` (left out unless asked for), `provisioning` or `failed`.
    status: Option<String>,
    /// Meetings starting after this RFC 3339 time (with offset).
    starts_after: Option<String>,
    /// Meetings starting before this RFC 3339 time (with offset).
    starts_before: Option<String>,
    /// 1 to 100 (default 20).
    limit: Option<String>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

/// A page of meetings.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeetingPage {
    items: Vec<MeetingView>,
    next_cursor: Option<String>,
}

/// Cursors are opaque to callers: the last id of the page, base64url-encoded.
fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(text: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    Uuid::from_slice(&bytes).ok()
}

impl ListQuery {
    fn validate(self, caller: &Caller) -> Result<ListFilter, ApiError> {
        let mut errors = Vec::new();
        let instant = |field: &str, value: Option<String>, errors: &mut Vec<FieldError>| {
            parse_instant(&value?)
                .map_err(|message| errors.push(FieldError::new(field, message)))
                .ok()
        };
        let limit = match self.limit.as_deref().map(str::parse::<u32>) {
            None => DEFAULT_PAGE,
            Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
            Some(_) => {
                errors.push(FieldError::new(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_PAGE}"),
                ));
                DEFAULT_PAGE
            }
        };
        let before_id = self.cursor.as_deref().and_then(|c| {
            let id = decode_cursor(c);
            if id.is_none() {
                errors.push(FieldError::new(
                    "cursor",
                    "is not a cursor this API gave out",
                ));
            }
            id
        });
        let filter = ListFilter {
            created_by: (!caller.admin).then(|| caller.identity.clone()),
            owner_ref: optional_text("owner_ref", self.owner_ref, MAX_REF_CHARS, &mut errors),
            kind: choice::<Kind>("kind", self.kind.as_deref(), &mut errors),
            status: choice::<Status>("status", self.status.as_deref(), &mut errors),
            starts_after: instant("starts_after", self.starts_after, &mut errors),
            starts_before: instant("starts_before", self.starts_before, &mut errors),
            before_id,
            limit,
        };
        if errors.is_empty() {
            Ok(filter)
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// `GET /meetings`.
#[utoipa::path(get, path = "/meetings", tag = "meetings", summary = "List meetings, newest first",
    params(ListQuery),
    responses((status = 200, description = "One page", body = MeetingPage),
        (status = 401, response = docs::Unauthorized), (status = 422, response = docs::Invalid),
        (status = 429, response = docs::RateLimited), (status = 503, response = docs::Unavailable)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, err(Debug, level = "debug"))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<MeetingPage>, ApiError> {
    let page = state.service.list(query.validate(&caller)?).await?;
    Ok(Json(MeetingPage {
        items: MeetingView::all(&state, page.items, &caller).await?,
        next_cursor: page.next.map(encode_cursor),
    }))
}

/// `DELETE /meetings/{id}`.
#[utoipa::path(delete, path = "/meetings/{id}", tag = "meetings",
    summary = "Delete the room at EnableX; keep the record as deleted",
    params(("id" = Uuid, Path, description = "The meeting's id")),
    responses((status = 204, description = "Deleted (or already deleted)"),
        (status = 401, response = docs::Unauthorized), (status = 404, response = docs::NotFound),
        (status = 409, response = docs::Conflict), (status = 429, response = docs::RateLimited),
        (status = 502, response = docs::EnableXRefused), (status = 503, response = docs::Unavailable),
        (status = 504, response = docs::EnableXTimeout)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, err(Debug, level = "debug"))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.service.delete(meeting_id(&id)?, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}
