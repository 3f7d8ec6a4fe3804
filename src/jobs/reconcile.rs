//! The reconciler: creations left `provisioning` (or `failed`, should the room turn up) are
//! settled by the meeting id each room carries in its `data`; upstream rooms no meeting
//! accounts for are reported.

use super::lease::Run;
use super::{BATCH, JobError, Jobs, count_run};
use crate::enablex::{EnableXError, Room};
use crate::meetings::{
    Meeting, MeetingError, MeetingStore, PUSH_MARGIN, Resync, State, StoreError, now, resync,
};
use chrono::Duration as ChronoDuration;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// Orphans kept in a report (all are counted).
const ORPHAN_SAMPLE: usize = 100;
/// Unsynced meetings one run pushes to EnableX at most (one EnableX call each).
const RESYNC_PER_RUN: u32 = 100;
/// The longest a meeting whose push keeps failing waits before the next try.
const RESYNC_BACKOFF_MAX: ChronoDuration = ChronoDuration::hours(6);
/// Less time than this left in the pushes' share of a run, and they stop for this run.
const RESYNC_LEAST: std::time::Duration = std::time::Duration::from_secs(1);

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
    /// Unsettled meetings looked for.
    pub examined: usize,
    /// Meetings whose room was found upstream and are now active.
    pub completed: Vec<Uuid>,
    /// Meetings with no room upstream (by a whole listing), now failed.
    pub failed: Vec<Uuid>,
    /// The first orphans found (up to 100); `orphans_total` counts them all.
    pub orphans: Vec<Orphan>,
    pub orphans_total: u64,
    /// Rooms read from EnableX's listing.
    pub rooms_listed: u64,
    /// Meetings whose recorded values were pushed to EnableX again, after a change whose
    /// outcome there was unknown.
    pub resynced: Vec<Uuid>,
    /// Meetings whose recorded values EnableX refused outright (or whose room is gone): they
    /// may differ from EnableX for good, and are no longer tried.
    pub resync_gave_up: Vec<Uuid>,
    /// Whether the whole listing was read. When it was not (it failed part-way, said it was
    /// short, or the run's time ran out), nothing was failed and the orphan count is partial.
    pub listing_complete: bool,
    /// EnableX calls the run made (one per listing page, one per meeting resynced).
    pub enablex_calls: u64,
    /// Database queries the run made itself: reading the unsettled meetings, one lookup per
    /// 500 listed rooms, marking failures. Completions are not counted here: they go to the
    /// store's grouped writes (up to 64 per statement).
    pub queries: u64,
    /// How long the run took.
    pub elapsed_ms: u64,
}

impl Jobs {
    /// Settles every creation left `provisioning` (or `failed`, should its room have appeared)
    /// for longer than the grace period, by the meeting id each room carries in its `data`.
    #[tracing::instrument(skip(self))]
    pub async fn reconcile(&self) -> Result<ReconcileReport, JobError> {
        let started = std::time::Instant::now();
        let run = self
            .leased("reconciler", async |run| self.reconcile_now(run).await)
            .await;
        count_run("reconciler", &run);
        let Some(mut report) = run? else {
            tracing::info!("reconciler run skipped: another process holds its lease");
            return Ok(ReconcileReport {
                skipped: true,
                ..ReconcileReport::default()
            });
        };
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        metrics::counter!(crate::metrics::RECONCILED, "result" => "completed")
            .increment(report.completed.len() as u64);
        metrics::counter!(crate::metrics::RECONCILED, "result" => "failed")
            .increment(report.failed.len() as u64);
        metrics::counter!(crate::metrics::RECONCILED, "result" => "resynced")
            .increment(report.resynced.len() as u64);
        metrics::counter!(crate::metrics::RECONCILED, "result" => "resync_gave_up")
            .increment(report.resync_gave_up.len() as u64);
        if report.listing_complete {
            metrics::gauge!(crate::metrics::ORPHANED_ROOMS).set(report.orphans_total as f64);
        }
        tracing::info!(
            examined = report.examined,
            completed = report.completed.len(),
            resynced = report.resynced.len(),
            resync_gave_up = report.resync_gave_up.len(),
            failed = report.failed.len(),
            orphans = report.orphans_total,
            rooms_listed = report.rooms_listed,
            listing_complete = report.listing_complete,
            enablex_calls = report.enablex_calls,
            queries = report.queries,
            elapsed_ms = report.elapsed_ms,
            "reconciler run finished"
        );
        Ok(report)
    }

    async fn reconcile_now(&self, run: &Run) -> Result<ReconcileReport, JobError> {
        let mut report = ReconcileReport::default();
        self.resync_changes(run, &mut report).await?;
        let cutoff = now() - ChronoDuration::from_std(self.grace).unwrap_or_default();
        let unsettled = self.store.unsettled_before(cutoff, BATCH as u32).await?;
        let mut waiting: HashMap<Uuid, State> = unsettled.iter().map(|m| (m.id, m.state)).collect();
        report.examined = unsettled.len();
        report.queries += 1;
        let mut listing = self.enablex.list_rooms_stream(run.deadline.into_std());
        let mut out_of_time = false;
        loop {
            run.check()?;
            let rooms = listing.next_batch(BATCH).await;
            if rooms.is_empty() {
                break;
            }
            report.rooms_listed += rooms.len() as u64;
            self.settle_batch(&rooms, &mut waiting, &mut report).await?;
            if run.out_of_time() {
                out_of_time = true;
                break;
            }
        }
        let listed = listing.finish().await;
        report.enablex_calls += listed.as_ref().map_or(1, |l| u64::from(l.pages));
        // Whatever the listing said, a run that lost its lease changes nothing more.
        run.check()?;
        let listed = match listed {
            Ok(_) if out_of_time => Err("the run's time budget ran out".to_owned()),
            Ok(listed) => Ok(listed),
            Err(err) => Err(err.to_string()),
        };
        match listed {
            Ok(_) => {
                report.listing_complete = true;
                // A whole listing holds no room for these: their creations made nothing.
                for (id, state) in waiting {
                    if state != State::Provisioning {
                        continue;
                    }
                    self.store
                        .mark_failed(id, "no EnableX room carries this meeting's id", now())
                        .await?;
                    report.queries += 1;
                    tracing::info!(meeting_id = %id, "reconciler marked a meeting failed: no upstream room");
                    report.failed.push(id);
                }
            }
            Err(why) => tracing::warn!(
                why,
                rooms_listed = report.rooms_listed,
                "EnableX's room listing was not read whole: no creation is failed this run"
            ),
        }
        Ok(report)
    }

    /// Pushes the recorded values of up to [`RESYNC_PER_RUN`] meetings that a change left
    /// unsynced (its outcome at EnableX unknown) back to EnableX, so the two agree again, within
    /// a quarter of the run's time (the creations, which hold their callers' keys, get the
    /// rest). Only marks older than the grace period: the call that left one may still be on
    /// its way to EnableX. A push that fails is tried again once as long again as its meeting
    /// has been marked (at least a grace period, at most [`RESYNC_BACKOFF_MAX`]).
    async fn resync_changes(
        &self,
        run: &Run,
        report: &mut ReconcileReport,
    ) -> Result<(), JobError> {
        let slice_end = run
            .deadline
            .min(tokio::time::Instant::now() + self.budget / 4);
        let at = now();
        let grace = ChronoDuration::from_std(self.grace).unwrap_or_default();
        let cutoff = at - grace;
        // A killed process's hold: its last call went out PUSH_MARGIN before the hold lapsed.
        let lapsed_by = cutoff + ChronoDuration::from_std(PUSH_MARGIN).unwrap_or_default();
        let unsynced = self
            .store
            .unsynced_changes(lapsed_by, cutoff, RESYNC_PER_RUN)
            .await?;
        report.queries += 1;
        let store: Arc<dyn MeetingStore> = self.store.clone();
        for (meeting, since) in &unsynced {
            run.check()?;
            // Too little time left for an attempt (the client would not even make it).
            if slice_end.saturating_duration_since(tokio::time::Instant::now()) < RESYNC_LEAST {
                break;
            }
            // Tried again once as long again as the meeting has been marked (at least a grace
            // period after this failure, at most RESYNC_BACKOFF_MAX); a push cut short by this
            // run's own share of time, a grace period after.
            let retry_at = || {
                let failed = now();
                if slice_end.saturating_duration_since(tokio::time::Instant::now()) < RESYNC_LEAST {
                    return failed;
                }
                let wait = (failed - *since).min(RESYNC_BACKOFF_MAX).max(grace);
                failed + wait - grace
            };
            let pushed = resync(store.clone(), &self.enablex, meeting, cutoff, retry_at);
            match crate::deadline::within(slice_end, pushed).await {
                Ok(Resync::Pushed) => {
                    report.enablex_calls += 1;
                    tracing::info!(meeting_id = %meeting.id, "reconciler pushed a meeting's recorded values to EnableX after a change with an unknown outcome");
                    report.resynced.push(meeting.id);
                }
                Ok(Resync::Busy) => {}
                Ok(Resync::Gone) => {
                    report.enablex_calls += 1;
                    tracing::info!(meeting_id = %meeting.id, "a meeting left unsynced has no room at EnableX any more: nothing to push");
                }
                Ok(Resync::GaveUp(why)) => {
                    report.enablex_calls += 1;
                    tracing::warn!(meeting_id = %meeting.id, why, "EnableX refused a meeting's recorded values: it may differ from the record");
                    report.resync_gave_up.push(meeting.id);
                }
                Err(err) => {
                    if matches!(
                        err,
                        MeetingError::Upstream(ref e) if !matches!(e, EnableXError::CircuitOpen { .. })
                    ) {
                        report.enablex_calls += 1;
                    }
                    tracing::warn!(meeting_id = %meeting.id, error = %err, "could not push a meeting's recorded values to EnableX; a later run tries again");
                }
            }
        }
        Ok(())
    }

    /// Completes the waiting meetings whose rooms are in `rooms`, and finds the orphans among
    /// the rest with one query.
    async fn settle_batch(
        &self,
        rooms: &[Room],
        waiting: &mut HashMap<Uuid, State>,
        report: &mut ReconcileReport,
    ) -> Result<(), JobError> {
        let mut others: Vec<(Uuid, &Room)> = Vec::new();
        // Completions go to the store together, so its batched writes group them.
        let mut completing = tokio::task::JoinSet::new();
        for room in rooms {
            let Some(text) = room.roomgate_meeting_id() else {
                continue;
            };
            match Uuid::parse_str(text) {
                Err(_) => orphan(report, room, text, "its roomgate id is not a meeting id"),
                Ok(id) if waiting.contains_key(&id) => {
                    waiting.remove(&id);
                    let (store, room_id) = (self.store.clone(), room.room_id.clone());
                    completing.spawn(async move {
                        let done = store.activate(id, &room_id, now(), None).await;
                        (id, room_id, done)
                    });
                }
                Ok(id) => others.push((id, room)),
            }
        }
        while let Some(joined) = completing.join_next().await {
            let Ok((id, room_id, done)) = joined else {
                continue;
            };
            match done {
                Ok(_) => {
                    tracing::info!(meeting_id = %id, room_id = %room_id, "reconciler completed a meeting from its upstream room");
                    report.completed.push(id);
                }
                // Settled meanwhile by the request itself.
                Err(StoreError::NotFound) => {}
                Err(err) => return Err(err.into()),
            }
        }

        if others.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = others.iter().map(|(id, _)| *id).collect();
        report.queries += 1;
        let found: HashMap<Uuid, Meeting> = self
            .store
            .meetings_by_ids(&ids)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        for (id, room) in others {
            let reason = match found.get(&id) {
                None => Some("no meeting has its roomgate id"),
                Some(m)
                    if m.room_id.as_deref() != Some(room.room_id.as_str())
                        && m.state != State::Provisioning =>
                {
                    Some("its meeting has another room or none")
                }
                Some(m) if m.state == State::Deleted => Some("its meeting is deleted"),
                Some(_) => None,
            };
            if let Some(reason) = reason {
                orphan(report, room, &id.to_string(), reason);
            }
        }
        Ok(())
    }
}

/// Counts an orphan, keeping and logging the first ones of the run.
fn orphan(report: &mut ReconcileReport, room: &Room, meeting_id: &str, reason: &'static str) {
    report.orphans_total += 1;
    if report.orphans.len() < ORPHAN_SAMPLE {
        tracing::warn!(room_id = %room.room_id, meeting_id, reason, "orphaned EnableX room");
        report.orphans.push(Orphan {
            room_id: room.room_id.clone(),
            meeting_id: meeting_id.to_owned(),
            reason,
        });
    }
}
