//! A meeting as every endpoint answers it.

use super::AppState;
use super::docs;
use super::error::ApiError;
use super::settings::SettingsView;
use crate::meetings::{Caller, Created, Meeting};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A meeting as every endpoint returns it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = docs::meeting_example)]
pub struct MeetingView {
    id: Uuid,
    room_id: Option<String>,
    kind: &'static str,
    name: String,
    description: Option<String>,
    owner_ref: String,
    embed: &'static str,
    starts_at: Option<String>,
    ends_at: Option<String>,
    joinable_from: Option<String>,
    duration_minutes: Option<u32>,
    settings: SettingsView,
    status: &'static str,
    participant_url: Option<String>,
    moderator_url: Option<String>,
    created_at: String,
    deleted_at: Option<String>,
}

pub(super) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl MeetingView {
    /// The meetings as `caller` may see them: moderator URLs only for the owner, and only
    /// where they are not withheld (the service records each one handed out).
    pub(super) async fn all(
        state: &AppState,
        meetings: Vec<Meeting>,
        caller: &Caller,
    ) -> Result<Vec<Self>, ApiError> {
        let refs: Vec<&Meeting> = meetings.iter().collect();
        let mut moderator = state.service.moderator_urls(caller, &refs).await?;
        let now = Utc::now();
        Ok(meetings
            .into_iter()
            .map(|m| {
                let url = moderator.remove(&m.id);
                Self::new(state, m, now, url)
            })
            .collect())
    }

    /// A meeting just created, as its creator sees it (its moderator URL already recorded).
    pub(super) fn created(state: &AppState, made: Created) -> Self {
        Self::new(state, made.meeting, Utc::now(), made.moderator_url)
    }

    /// One meeting as `caller` may see it.
    pub(super) async fn one(
        state: &AppState,
        meeting: Meeting,
        caller: &Caller,
    ) -> Result<Self, ApiError> {
        let mut views = Self::all(state, vec![meeting], caller).await?;
        views
            .pop()
            .ok_or_else(|| ApiError::Internal("a meeting went missing".into()))
    }

    fn new(
        state: &AppState,
        m: Meeting,
        now: DateTime<Utc>,
        moderator_url: Option<String>,
    ) -> Self {
        let urls = state.service.urls();
        let room = m.room_id.as_deref();
        Self {
            id: m.id,
            participant_url: room.map(|r| urls.participant(m.embed, r)),
            moderator_url,
            room_id: m.room_id.clone(),
            kind: m.kind.as_str(),
            status: m.status(now).as_str(),
            embed: m.embed.as_str(),
            starts_at: m.schedule.map(|s| time(s.starts_at())),
            ends_at: m.schedule.map(|s| time(s.ends_at())),
            joinable_from: m.schedule.map(|s| time(s.joinable_from())),
            duration_minutes: m.schedule.map(|s| s.duration_minutes()),
            created_at: time(m.created_at),
            deleted_at: m.deleted_at.map(time),
            name: m.name,
            description: m.description,
            owner_ref: m.owner_ref,
            settings: SettingsView::from(&m.settings),
        }
    }
}
