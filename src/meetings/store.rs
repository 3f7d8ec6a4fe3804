//! What the meetings service needs from storage. The trait lives here, with the domain that
//! uses it; `crate::store` implements it for PostgreSQL and SQLite.

use super::{IdempotencyRecord, ListFilter, Meeting, ModeratorGrant};
use crate::metrics::PoolStats;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Storage failures, as the layers above need to tell them apart.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached, is refusing connections or is busy: try again later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The row to change is not there.
    #[error("no such record")]
    NotFound,
    /// A uniqueness rule was broken; the constraint's name says which.
    #[error("conflict on {0}")]
    Conflict(String),
    /// Anything else: a bug or a schema that does not match.
    #[error("database error: {0}")]
    Other(String),
}

/// What a change that lets go of its hold without writing the row knows about EnableX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LetGo {
    /// EnableX refused the change, or was never asked: it holds what it held before.
    Unchanged,
    /// The change may have reached EnableX: the row stays marked until the reconciler has
    /// pushed the row's values to EnableX again.
    Unsynced,
}

/// How meetings and their idempotency records are kept.
#[async_trait::async_trait]
pub trait MeetingStore: Send + Sync + 'static {
    /// Which backend this is (`postgres`, `sqlite`).
    fn backend(&self) -> &'static str;
    /// How the connection pool is used right now.
    fn pool_stats(&self) -> PoolStats;
    /// The database answers and every embedded migration has been applied.
    async fn ready(&self) -> Result<(), StoreError>;
    /// Writes a new meeting, normally in state `provisioning` before EnableX is called.
    async fn insert(&self, meeting: &Meeting) -> Result<(), StoreError>;
    /// Records EnableX's room id and makes a `provisioning` (or `failed`, when the room turned
    /// up after all) meeting active; with `grant`, records it in the same commit, if and only
    /// if this call activated the meeting.
    async fn activate(
        &self,
        id: Uuid,
        room_id: &str,
        at: DateTime<Utc>,
        grant: Option<&ModeratorGrant>,
    ) -> Result<Meeting, StoreError>;
    /// Records that the room could not be created (only from `provisioning`).
    async fn mark_failed(
        &self,
        id: Uuid,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Marks the meeting deleted, keeping the row.
    async fn mark_deleted(&self, id: Uuid, at: DateTime<Utc>) -> Result<Meeting, StoreError>;
    /// Holds an active meeting for a change until `until`, if it is unchanged since
    /// `expected_updated_at` and no other change holds it (or that hold has lapsed at `now`).
    /// The row is marked unsynced by `token` first (unless it is already marked), as of
    /// `now`: until the change is written or refused, EnableX may hold other values. With
    /// `due`, only a row marked as of `due` or before (a push of the record's values).
    async fn hold_for_change(
        &self,
        id: Uuid,
        expected_updated_at: DateTime<Utc>,
        token: Uuid,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        due: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError>;
    /// Lets go of a hold without changing the meeting. With [`LetGo::Unchanged`] the mark its
    /// hold set goes too (not one an earlier change left); with [`LetGo::Unsynced`] the row
    /// stays marked, as of `at`, for the reconciler.
    async fn release_change(
        &self,
        id: Uuid,
        token: Uuid,
        how: LetGo,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Lets go of the hold `token` and clears the unsynced mark, whoever set it: EnableX has
    /// been given the row's values again. `false` if `token` no longer holds the meeting.
    async fn settle_unsynced(&self, id: Uuid, token: Uuid) -> Result<bool, StoreError>;
    /// Writes a changed meeting's name, description, schedule and settings and lets go of the
    /// hold `token`, if the row is still active, unchanged since `expected_updated_at` and held
    /// by `token`; `None` otherwise. The mark its own hold set goes (EnableX has just taken
    /// these values); one an earlier change left stays, since that change may still reach
    /// EnableX after this one. With `unsynced_at` the row stays marked as of then whatever
    /// set the mark: an earlier attempt of this change went unanswered and may land late.
    async fn update(
        &self,
        meeting: &Meeting,
        expected_updated_at: DateTime<Utc>,
        token: Uuid,
        unsynced_at: Option<DateTime<Utc>>,
    ) -> Result<Option<Meeting>, StoreError>;
    async fn get(&self, id: Uuid) -> Result<Option<Meeting>, StoreError>;
    /// Up to `filter.limit` meetings, newest first, as they stand at `now`.
    async fn list(
        &self,
        filter: &ListFilter,
        now: DateTime<Utc>,
    ) -> Result<Vec<Meeting>, StoreError>;

    /// Claims `(caller, key)` for a first request: `None` if this call claimed it (an expired
    /// claim is replaced), or the record that holds it.
    async fn claim_idempotency(
        &self,
        record: &IdempotencyRecord,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
    /// Stores the answer for `(caller, key)` if the key is still held by the claim of
    /// `meeting_id` and has none yet (else changes nothing).
    async fn complete_idempotency(
        &self,
        caller: &str,
        key: &str,
        meeting_id: Uuid,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError>;
    /// Forgets the unanswered claim of `(caller, key)` for `meeting_id`, and only that one: a
    /// claim another request has made since is left alone.
    async fn release_idempotency(
        &self,
        caller: &str,
        key: &str,
        meeting_id: Uuid,
    ) -> Result<(), StoreError>;
    async fn find_idempotency(
        &self,
        caller: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Records moderator access handed out.
    async fn record_grants(&self, grants: &[ModeratorGrant]) -> Result<(), StoreError>;
    /// The moderator access handed out for a meeting, oldest first.
    async fn grants(&self, meeting_id: Uuid) -> Result<Vec<ModeratorGrant>, StoreError>;
}
