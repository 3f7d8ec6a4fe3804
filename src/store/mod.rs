//! Where meetings are kept: one narrow trait, a PostgreSQL and a SQLite implementation, the
//! backend chosen from the `DATABASE_URL` scheme. Migrations for each are embedded and run at
//! start-up. Nothing above this module writes SQL.

mod postgres;
mod sql;
mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

pub(crate) use sql::{COLUMNS, KEY_COLUMNS, RawMeeting, instant_text, list_query, settings_json};

use crate::auth::KeyRecord;
use crate::meetings::{IdempotencyRecord, ListFilter, Meeting};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// A boxed future, so the store traits can be used as `dyn Storage`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A shared handle to whichever store was configured.
pub type Store = Arc<dyn Storage>;

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
            // The server is going away, refusing connections or out of resources.
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| {
                    c.starts_with("08") || c.starts_with("57P") || c.starts_with("53")
                }) =>
            {
                StoreError::Unavailable(db.to_string())
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

/// Connection pool figures, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// How meetings are stored. Both implementations pass the same behaviour tests.
pub trait MeetingStore: Send + Sync + 'static {
    /// Which backend this is (`postgres`, `sqlite`).
    fn backend(&self) -> &'static str;
    /// How the connection pool is used right now.
    fn pool_stats(&self) -> PoolStats;
    /// The database answers and every embedded migration has been applied.
    fn ready(&self) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Writes a new meeting, normally in state `provisioning` before EnableX is called.
    fn insert(&self, meeting: &Meeting) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Records EnableX's room id and makes a `provisioning` (or `failed`, when the room turned
    /// up after all) meeting active.
    fn activate(
        &self,
        id: Uuid,
        room_id: &str,
        at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Meeting, StoreError>>;
    /// Records that the room could not be created (only from `provisioning`).
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
    /// Up to `filter.limit` meetings, newest first, as they stand at `now`.
    fn list<'a>(
        &'a self,
        filter: &'a ListFilter,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<Meeting>, StoreError>>;
}

/// How API keys are stored.
pub trait KeyStore: Send + Sync + 'static {
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
}

/// What the background jobs and idempotent creation need.
pub trait JobStore: Send + Sync + 'static {
    /// Claims `(caller, key)` for a first request: `None` if this call claimed it (an expired
    /// claim is replaced), or the record that holds it.
    fn claim_idempotency<'a>(
        &'a self,
        record: &'a IdempotencyRecord,
    ) -> BoxFuture<'a, Result<Option<IdempotencyRecord>, StoreError>>;
    /// Stores the first request's answer.
    fn complete_idempotency<'a>(
        &'a self,
        caller: &'a str,
        key: &'a str,
        status: u16,
        body: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Forgets a claim whose request ended without an answer worth replaying.
    fn release_idempotency<'a>(
        &'a self,
        caller: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn find_idempotency<'a>(
        &'a self,
        caller: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<IdempotencyRecord>, StoreError>>;
    /// Deletes expired records; returns how many.
    fn purge_idempotency(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>>;
    /// Takes or renews the lease `name` for `holder` until `until`, unless another holder's
    /// lease is still running at `now`.
    fn try_lease<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Meetings `provisioning` (or `failed`, for rooms that may have turned up late) since
    /// before `cutoff`, oldest first.
    fn unsettled_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Meeting>, StoreError>>;
    /// Sets `ended_at` on active scheduled meetings whose end has passed; returns them.
    fn end_scheduled(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<Vec<Meeting>, StoreError>>;
    /// Active ad-hoc meetings not yet marked ended, oldest first.
    fn open_adhoc(&self, limit: u32) -> BoxFuture<'_, Result<Vec<Meeting>, StoreError>>;
    /// Sets `ended_at` on one active meeting.
    fn mark_ended(&self, id: Uuid, at: DateTime<Utc>) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// Everything roomgate stores, behind one handle.
pub trait Storage: MeetingStore + KeyStore + JobStore {}

impl<T: MeetingStore + KeyStore + JobStore> Storage for T {}

/// Pool settings shared by both backends. `PoolOptions::default()` is implemented in
/// `config`, next to the `DATABASE_*` settings whose defaults it takes.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
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
