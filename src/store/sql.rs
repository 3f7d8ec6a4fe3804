//! SQL shared by both backends: the columns read, the row shape before checking, and the
//! listing query.

use super::StoreError;
use crate::meetings::{EmbedPlan, Kind, ListFilter, Meeting, Schedule, Settings, State, Status};
use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

/// The same instant as the fixed-width text SQLite stores: lexical order is time order.
pub(crate) fn instant_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The columns every query reads, in this order.
pub(crate) const COLUMNS: &str = "id, room_id, kind, name, description, owner_ref, created_by, embed, \
    starts_at, duration_minutes, settings, state, failure, created_at, updated_at, deleted_at, \
    ended_at";

/// The columns key queries read.
pub(crate) const KEY_COLUMNS: &str = "id, name, secret_hash, admin, created_at, revoked_at";

/// A row as both backends read it, before the text columns are checked.
pub(crate) struct RawMeeting {
    pub id: Uuid,
    pub room_id: Option<String>,
    pub kind: String,
    pub name: String,
    pub description: Option<String>,
    pub owner_ref: String,
    pub created_by: String,
    pub embed: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i32>,
    pub settings: serde_json::Value,
    pub state: String,
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl RawMeeting {
    pub(crate) fn into_meeting(self) -> Result<Meeting, StoreError> {
        let bad = |what: &str, e: String| StoreError::Other(format!("stored {what}: {e}"));
        let schedule = match (self.starts_at, self.duration_minutes) {
            (Some(start), Some(minutes)) => Some(Schedule::from_stored(
                start,
                u32::try_from(minutes).map_err(|e| bad("duration", e.to_string()))?,
            )),
            _ => None,
        };
        Ok(Meeting {
            id: self.id,
            room_id: self.room_id,
            kind: self.kind.parse::<Kind>().map_err(|e| bad("kind", e))?,
            name: self.name,
            description: self.description,
            owner_ref: self.owner_ref,
            created_by: self.created_by,
            embed: self
                .embed
                .parse::<EmbedPlan>()
                .map_err(|e| bad("embed", e))?,
            schedule,
            settings: serde_json::from_value::<Settings>(self.settings)
                .map_err(|e| bad("settings", e.to_string()))?,
            state: self.state.parse::<State>().map_err(|e| bad("state", e))?,
            failure: self.failure,
            created_at: self.created_at,
            updated_at: self.updated_at,
            deleted_at: self.deleted_at,
            ended_at: self.ended_at,
        })
    }
}

/// The settings as the JSON both backends store.
pub(crate) fn settings_json(meeting: &Meeting) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(&meeting.settings).map_err(|e| StoreError::Other(e.to_string()))
}

/// Builds the listing query. Both backends bind times as text; `ts` is the cast that turns
/// such a parameter into the column's type (`::timestamptz` for PostgreSQL, nothing for
/// SQLite, whose columns hold the same fixed-width text) and `id` likewise for ids.
pub(crate) fn list_query<'a, DB>(
    filter: &ListFilter,
    now: DateTime<Utc>,
    ts: &str,
    id: &str,
) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut q = sqlx::QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM meetings WHERE "));
    let now = instant_text(now);
    match filter.status {
        None => {
            q.push("state = 'active'");
        }
        Some(Status::Deleted) => {
            q.push("state = 'deleted'");
        }
        Some(Status::Provisioning) => {
            q.push("state = 'provisioning'");
        }
        Some(Status::Failed) => {
            q.push("state = 'failed'");
        }
        Some(Status::Scheduled) => {
            q.push(
                "state = 'active' AND ended_at IS NULL AND kind = 'scheduled' AND joinable_from > ",
            );
            q.push_bind(now).push(ts);
        }
        Some(Status::Ended) => {
            q.push(
                "state = 'active' AND (ended_at IS NOT NULL OR (kind = 'scheduled' AND ends_at <= ",
            );
            q.push_bind(now).push(ts).push("))");
        }
        Some(Status::Open) => {
            q.push("state = 'active' AND ended_at IS NULL AND (kind <> 'scheduled' OR (joinable_from <= ");
            q.push_bind(now.clone()).push(ts);
            q.push(" AND ends_at > ").push_bind(now).push(ts).push("))");
        }
    }
    if let Some(creator) = &filter.created_by {
        q.push(" AND created_by = ").push_bind(creator.clone());
    }
    if let Some(owner) = &filter.owner_ref {
        q.push(" AND owner_ref = ").push_bind(owner.clone());
    }
    if let Some(kind) = filter.kind {
        q.push(" AND kind = ").push_bind(kind.as_str().to_owned());
    }
    if let Some(after) = filter.starts_after {
        q.push(" AND starts_at > ")
            .push_bind(instant_text(after))
            .push(ts);
    }
    if let Some(before) = filter.starts_before {
        q.push(" AND starts_at < ")
            .push_bind(instant_text(before))
            .push(ts);
    }
    if let Some(cursor) = filter.before_id {
        q.push(" AND id < ").push_bind(cursor.to_string()).push(id);
    }
    q.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(filter.limit));
    q
}
