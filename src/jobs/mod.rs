//! Background work: the reconciler settles creations a crash or timeout left unfinished and
//! reports upstream rooms nobody tracks; the sweeper marks ended meetings, optionally deletes
//! their rooms, and forgets expired idempotency keys.
//!
//! Both are built for many rooms: EnableX's listing is read as a stream and looked up in the
//! database a batch at a time (memory does not grow with the number of rooms); a meeting is
//! never ended or failed because its room is missing from a listing alone; each run has a time
//! budget and holds a lease in the database that it renews while it works, so with several
//! replicas one runs each job at a time, and a run that loses its lease stops.

mod lease;
mod reconcile;
mod sweep;

pub use reconcile::{Orphan, ReconcileReport};
pub use sweep::SweepReport;

use crate::enablex::{EnableXClient, EnableXError};
use crate::meetings::{Meeting, MeetingStore, StoreError};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// What the background jobs need from storage, besides what the meetings service needs.
#[async_trait::async_trait]
pub trait JobStore: MeetingStore {
    /// Deletes expired idempotency records; returns how many.
    async fn purge_idempotency(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Takes or renews the lease `name` for `holder` until `until`, unless another holder's
    /// lease is still running at `now`.
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Meetings `provisioning` (or `failed`, for rooms that may have turned up late) since
    /// before `cutoff`, oldest first.
    async fn unsettled_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Meeting>, StoreError>;
    /// Sets `ended_at` on up to `limit` active scheduled meetings whose end has passed
    /// (earliest end first); returns them.
    async fn end_scheduled(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Meeting>, StoreError>;
    /// Up to `limit` scheduled meetings marked ended whose rooms have not been deleted yet,
    /// earliest end first.
    async fn ended_undeleted(&self, limit: u32) -> Result<Vec<Meeting>, StoreError>;
    /// Up to `limit` active ad-hoc meetings not yet marked ended, by id, after `after`.
    async fn open_adhoc_after(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Meeting>, StoreError>;
    /// The meetings with these ids (one query), in no particular order.
    async fn meetings_by_ids(&self, ids: &[Uuid]) -> Result<Vec<Meeting>, StoreError>;
    /// Where the job `name` goes on from.
    async fn job_cursor(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Sets where the job goes on from, if `holder` still holds its lease.
    async fn set_job_cursor(
        &self,
        name: &str,
        holder: &str,
        cursor: Option<String>,
    ) -> Result<bool, StoreError>;
    /// Up to `limit` open meetings marked unsynced (a change's outcome at EnableX is unknown)
    /// as of before `cutoff` that no change holds, or whose hold lapsed by `lapsed_by`,
    /// longest waiting first, each with the time it was first marked.
    async fn unsynced_changes(
        &self,
        lapsed_by: DateTime<Utc>,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(Meeting, DateTime<Utc>)>, StoreError>;
    /// Sets `ended_at` on one active meeting.
    async fn mark_ended(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError>;
}

/// Why a run could not finish.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Upstream(#[from] EnableXError),
    /// Another process took the job's lease while this run was going on: it stopped.
    #[error("the job's lease was lost; the run stopped")]
    LeaseLost,
}

/// Rows looked up, or rooms handed over, at a time.
const BATCH: usize = 500;

/// The background jobs of one process.
#[derive(Clone)]
pub struct Jobs {
    store: Arc<dyn JobStore>,
    enablex: EnableXClient,
    /// This process's name in leases.
    holder: String,
    /// Unsettled creations younger than this may still be in flight somewhere: left alone.
    grace: Duration,
    delete_ended_rooms: bool,
    /// How long a lease lasts unless renewed (it is renewed every third of that).
    lease: Duration,
    /// Longest one run may take before it stops where it is (the next run goes on).
    budget: Duration,
    /// Open ad-hoc meetings the sweeper checks per run.
    adhoc_per_run: usize,
}

impl Jobs {
    pub fn new(
        store: Arc<dyn JobStore>,
        enablex: EnableXClient,
        grace: Duration,
        delete_ended_rooms: bool,
    ) -> Self {
        Self {
            store,
            enablex,
            holder: Uuid::new_v4().to_string(),
            grace,
            delete_ended_rooms,
            lease: Duration::from_secs(120),
            budget: Duration::from_secs(45),
            adhoc_per_run: 5_000,
        }
    }

    /// Sets how long a lease lasts unless renewed.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// Sets the longest one run may take.
    pub fn with_budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// Sets how many open ad-hoc meetings the sweeper checks per run.
    pub fn with_adhoc_per_run(mut self, n: usize) -> Self {
        self.adhoc_per_run = n.max(1);
        self
    }

    /// Runs both jobs now and then every `interval` (if any) until `stop` turns true.
    pub fn spawn(self, interval: Option<Duration>, mut stop: watch::Receiver<bool>) {
        tokio::spawn(async move {
            loop {
                if let Err(err) = self.reconcile().await {
                    tracing::warn!(error = %err, "reconciler run failed; will try again");
                }
                if let Err(err) = self.sweep().await {
                    tracing::warn!(error = %err, "sweeper run failed; will try again");
                }
                let Some(interval) = interval else { break };
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    _ = stop.wait_for(|stopped| *stopped) => break,
                }
            }
        });
    }
}

/// Counts a job run by its outcome.
fn count_run<T>(job: &'static str, run: &Result<Option<T>, JobError>) {
    let outcome = match run {
        Ok(Some(_)) => "ok",
        Ok(None) => "skipped",
        Err(_) => "error",
    };
    metrics::counter!(crate::metrics::JOB_RUNS, "job" => job, "outcome" => outcome).increment(1);
}
