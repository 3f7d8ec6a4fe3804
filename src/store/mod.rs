//! Where meetings are kept: one narrow trait, a PostgreSQL and a SQLite implementation, the
//! backend chosen from the `DATABASE_URL` scheme. Migrations for each are embedded and run at
//! start-up. Nothing above this module writes SQL.

mod postgres;
mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use crate::auth::KeyRecord;
use crate::meetings::{EmbedPlan, Kind, ListFilter, Meeting, Schedule, Settings, State, Status};
use chrono::{DateTime, SecondsFormat, Utc};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// A boxed future, so the store trait can be used as `dyn MeetingStore`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A shared handle to whichever store was configured.
pub type Store = Arc<dyn MeetingStore>;

/// Storage failures, as the layers above need to tell them apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or the pool is exhausted: try again later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The row to change is not there.
    #[error("no such meeting")]
    NotFound,
    /// A uniqueness rule was broken; the constraint's name says which.
    #[error("conflict on {0}")]
    Conflict(String),
    /// Anything else: a bug or a schema that does not match.
    #[error("database error: {0}")]
    Other(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(err.to_string())
            }
            sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => {
                StoreError::Unavailable(err.to_string())
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.constraint().unwrap_or("unique").to_owned())
            }
            other => StoreError::Other(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        StoreError::Other(format!("migration failed: {err}"))
    }
}

/// How meetings are stored. Both implementations pass the same behaviour tests.
pub trait MeetingStore: Send + Sync + 'static {
    /// Which backend this is (`postgres`, `sqlite`).
    fn backend(&self) -> &'static str;
    /// The database answers and every embedded migration has been applied.
    fn ready(&self) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Writes a new meeting, normally in state `provisioning` before EnableX is called.
    fn insert(&self, meeting: &Meeting) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Records EnableX's room id and makes the meeting active.
    fn activate(
        &self,
        id: Uuid,
        room_id: &str,
        at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Meeting, StoreError>>;
    /// Records that the room could not be created.
    fn mark_failed(
        &self,
        id: Uuid,
        reason: &str,
        at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Marks the meeting deleted, keeping the row.
    fn mark_deleted(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Meeting, StoreError>>;
    /// Writes a changed meeting's name, description, schedule and settings, if the row is
    /// still active and unchanged since `expected_updated_at`; `None` otherwise.
    fn update<'a>(
        &'a self,
        meeting: &'a Meeting,
        expected_updated_at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Option<Meeting>, StoreError>>;
    fn get(&self, id: Uuid) -> BoxFuture<'_, Result<Option<Meeting>, StoreError>>;
    /// Stores a new API key; a live key with the same name is a `Conflict`.
    fn insert_key(&self, key: &KeyRecord) -> BoxFuture<'_, Result<(), StoreError>>;
    /// The key with this public id, revoked or not.
    fn find_key(&self, id: &str) -> BoxFuture<'_, Result<Option<KeyRecord>, StoreError>>;
    /// Every key, oldest first.
    fn list_keys(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, StoreError>>;
    /// Revokes the live key named `name`; false if there is none.
    fn revoke_key(&self, name: &str, at: DateTime<Utc>) -> BoxFuture<'_, Result<bool, StoreError>>;
    /// How many keys are live.
    fn count_live_keys(&self) -> BoxFuture<'_, Result<i64, StoreError>>;
    /// Up to `filter.limit` meetings, newest first, as they stand at `now`.
    fn list<'a>(
        &'a self,
        filter: &'a ListFilter,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<Meeting>, StoreError>>;
}

/// Pool settings shared by both backends.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Opens the store named by `url` (`postgres://`, `postgresql://` or `sqlite:`) and runs its
/// migrations. Any other scheme is an error.
pub async fn connect(url: &str, options: &PoolOptions) -> Result<Store, StoreError> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "postgres" | "postgresql" => Ok(Arc::new(PgStore::connect(url, options).await?)),
        "sqlite" => Ok(Arc::new(SqliteStore::connect(url, options).await?)),
        _ => Err(StoreError::Other(format!(
            "unsupported database scheme '{scheme}': use postgres:// or sqlite://"
        ))),
    }
}

/// The same instant as the fixed-width text SQLite stores: lexical order is time order.
pub(crate) fn instant_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The columns every query reads, in this order.
pub(crate) const COLUMNS: &str = "id, room_id, kind, name, description, owner_ref, created_by, embed, \
    starts_at, duration_minutes, settings, state, failure, created_at, updated_at, deleted_at";

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
            q.push("state = 'active' AND kind = 'scheduled' AND joinable_from > ");
            q.push_bind(now).push(ts);
        }
        Some(Status::Ended) => {
            q.push("state = 'active' AND kind = 'scheduled' AND ends_at <= ");
            q.push_bind(now).push(ts);
        }
        Some(Status::Open) => {
            q.push("state = 'active' AND (kind <> 'scheduled' OR (joinable_from <= ");
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
