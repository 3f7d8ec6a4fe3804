//! Background work: the reconciler settles creations a crash or timeout left unfinished and
//! reports upstream rooms nobody tracks; the sweeper marks ended meetings, optionally deletes
//! their rooms, and forgets expired idempotency keys. Each run takes a lease in the database,
//! so with several replicas one runs it at a time.

use crate::enablex::{EnableXClient, EnableXError, Room};
use crate::meetings::{Kind, Meeting, MeetingStore, State, StoreError, now};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use std::collections::{HashMap, HashSet};
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
    /// Sets `ended_at` on active scheduled meetings whose end has passed; returns them.
    async fn end_scheduled(&self, now: DateTime<Utc>) -> Result<Vec<Meeting>, StoreError>;
    /// Active ad-hoc meetings not yet marked ended, oldest first.
    async fn open_adhoc(&self, limit: u32) -> Result<Vec<Meeting>, StoreError>;
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
}

/// An upstream room that no active meeting accounts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub room_id: String,
    pub meeting_id: String,
    pub reason: &'static str,
}

/// What a reconciler run did.
#[derive(Debug, Clone, Default)]
pub struct ReconcileReport {
    /// Another replica held the lease; nothing was done.
    pub skipped: bool,
    pub examined: usize,
    /// Meetings whose room was found upstream and are now active.
    pub completed: Vec<Uuid>,
    /// Meetings with no room upstream, now failed.
    pub failed: Vec<Uuid>,
    pub orphans: Vec<Orphan>,
}

/// What a sweeper run did.
#[derive(Debug, Clone, Default)]
pub struct SweepReport {
    pub skipped: bool,
    pub ended: usize,
    pub rooms_deleted: usize,
    pub idempotency_purged: u64,
}

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
}

/// Counts a job run by its outcome.
fn count_run<T>(job: &'static str, run: &Result<(T, bool), JobError>) {
    let outcome = match run {
        Ok((_, true)) => "skipped",
        Ok((_, false)) => "ok",
        Err(_) => "error",
    };
    metrics::counter!(crate::metrics::JOB_RUNS, "job" => job, "outcome" => outcome).increment(1);
}

/// How long a run may hold its lease; a process that dies mid-run delays the next run by at
/// most this.
const LEASE: ChronoDuration = ChronoDuration::minutes(2);
const BATCH: u32 = 500;

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
        }
    }

    async fn leased<T: Default>(
        &self,
        name: &str,
        run: impl AsyncFnOnce() -> Result<T, JobError>,
    ) -> Result<(T, bool), JobError> {
        let at = now();
        if !self
            .store
            .try_lease(name, &self.holder, at + LEASE, at)
            .await?
        {
            return Ok((T::default(), true));
        }
        let result = run().await;
        // Release: the lease only keeps two runs from overlapping.
        let at = now();
        let _ = self.store.try_lease(name, &self.holder, at, at).await;
        result.map(|report| (report, false))
    }

    /// Settles every creation left `provisioning` (or `failed`, should its room have appeared)
    /// for longer than the grace period, by the meeting id each room carries in its `data`.
    #[tracing::instrument(skip(self))]
    pub async fn reconcile(&self) -> Result<ReconcileReport, JobError> {
        let run = self
            .leased("reconciler", async || self.reconcile_now().await)
            .await;
        count_run("reconciler", &run);
        let (mut report, skipped) = run?;
        report.skipped = skipped;
        if !skipped {
            metrics::counter!(crate::metrics::RECONCILED, "result" => "completed")
                .increment(report.completed.len() as u64);
            metrics::counter!(crate::metrics::RECONCILED, "result" => "failed")
                .increment(report.failed.len() as u64);
            metrics::gauge!(crate::metrics::ORPHANED_ROOMS).set(report.orphans.len() as f64);
        }
        if skipped {
            tracing::info!("reconciler run skipped: another process holds its lease");
        } else {
            tracing::info!(
                examined = report.examined,
                completed = report.completed.len(),
                failed = report.failed.len(),
                orphans = report.orphans.len(),
                "reconciler run finished"
            );
        }
        Ok(report)
    }

    async fn reconcile_now(&self) -> Result<ReconcileReport, JobError> {
        let cutoff = now() - ChronoDuration::from_std(self.grace).unwrap_or_default();
        let unsettled = self.store.unsettled_before(cutoff, BATCH).await?;
        let rooms = self.enablex.list_rooms().await?;
        let by_meeting: HashMap<&str, &Room> = rooms
            .iter()
            .filter_map(|r| Some((r.roomgate_meeting_id()?, r)))
            .collect();
        let mut report = ReconcileReport {
            examined: unsettled.len(),
            ..ReconcileReport::default()
        };
        for meeting in &unsettled {
            match by_meeting.get(meeting.id.to_string().as_str()) {
                Some(room) => {
                    self.store
                        .activate(meeting.id, &room.room_id, now())
                        .await?;
                    tracing::info!(meeting_id = %meeting.id, room_id = %room.room_id, "reconciler completed a meeting from its upstream room");
                    report.completed.push(meeting.id);
                }
                None if meeting.state == State::Provisioning => {
                    self.store
                        .mark_failed(
                            meeting.id,
                            "no EnableX room carries this meeting's id",
                            now(),
                        )
                        .await?;
                    tracing::info!(meeting_id = %meeting.id, "reconciler marked a meeting failed: no upstream room");
                    report.failed.push(meeting.id);
                }
                None => {}
            }
        }
        let settled: HashSet<Uuid> = report.completed.iter().copied().collect();
        for room in &rooms {
            let Some(text) = room.roomgate_meeting_id() else {
                continue;
            };
            let reason = match Uuid::parse_str(text) {
                Err(_) => Some("its roomgate id is not a meeting id"),
                Ok(id) if settled.contains(&id) => None,
                Ok(id) => match self.store.get(id).await? {
                    None => Some("no meeting has its roomgate id"),
                    Some(m)
                        if m.room_id.as_deref() != Some(room.room_id.as_str())
                            && m.state != State::Provisioning =>
                    {
                        Some("its meeting has another room or none")
                    }
                    Some(m) if m.state == State::Deleted => Some("its meeting is deleted"),
                    Some(_) => None,
                },
            };
            if let Some(reason) = reason {
                tracing::warn!(room_id = %room.room_id, meeting_id = text, reason, "orphaned EnableX room");
                report.orphans.push(Orphan {
                    room_id: room.room_id.clone(),
                    meeting_id: text.to_owned(),
                    reason,
                });
            }
        }
        Ok(report)
    }

    /// Marks ended meetings (scheduled ones past their end; ad-hoc ones whose room EnableX has
    /// removed after its session), deletes their rooms if so configured, and purges expired
    /// idempotency keys.
    #[tracing::instrument(skip(self))]
    pub async fn sweep(&self) -> Result<SweepReport, JobError> {
        let run = self
            .leased("sweeper", async || self.sweep_now().await)
            .await;
        count_run("sweeper", &run);
        let (mut report, skipped) = run?;
        report.skipped = skipped;
        metrics::counter!(crate::metrics::MEETINGS_ENDED).increment(report.ended as u64);
        if !skipped {
            tracing::info!(
                ended = report.ended,
                rooms_deleted = report.rooms_deleted,
                idempotency_purged = report.idempotency_purged,
                "sweeper run finished"
            );
        }
        Ok(report)
    }

    async fn sweep_now(&self) -> Result<SweepReport, JobError> {
        let mut report = SweepReport::default();
        let mut ended = self.store.end_scheduled(now()).await?;
        let adhoc = self.store.open_adhoc(BATCH).await?;
        if !adhoc.is_empty() {
            let upstream: HashSet<String> = self
                .enablex
                .list_rooms()
                .await?
                .into_iter()
                .map(|r| r.room_id)
                .collect();
            for meeting in adhoc {
                if meeting
                    .room_id
                    .as_ref()
                    .is_some_and(|r| !upstream.contains(r))
                {
                    self.store.mark_ended(meeting.id, now()).await?;
                    ended.push(meeting);
                }
            }
        }
        report.ended = ended.len();
        if self.delete_ended_rooms {
            for meeting in ended.iter().filter(|m| m.kind == Kind::Scheduled) {
                let Some(room_id) = &meeting.room_id else {
                    continue;
                };
                match self.enablex.delete_room(room_id).await {
                    Ok(()) => report.rooms_deleted += 1,
                    Err(err) if err.is_room_not_found() => {}
                    Err(err) => {
                        tracing::warn!(meeting_id = %meeting.id, error = %err, "could not delete an ended meeting's room; will retry");
                        continue;
                    }
                }
                self.store.mark_deleted(meeting.id, now()).await?;
            }
        }
        report.idempotency_purged = self.store.purge_idempotency(now()).await?;
        Ok(report)
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
