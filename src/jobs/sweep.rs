//! The sweeper: scheduled meetings past their end are marked ended (and their rooms deleted,
//! if so configured); open ad-hoc meetings are checked against EnableX a bounded number per run,
//! going on from where the last run stopped; expired idempotency keys are purged.

use super::lease::Run;
use super::{BATCH, JobError, Jobs, count_run};
use crate::meetings::{Kind, Meeting, now};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// What a sweeper run did.
#[derive(Debug, Clone, Default)]
pub struct SweepReport {
    pub skipped: bool,
    /// Meetings marked ended: scheduled ones past their end, ad-hoc ones whose room EnableX
    /// confirmed gone.
    pub ended: usize,
    pub rooms_deleted: usize,
    pub idempotency_purged: u64,
    /// Open ad-hoc meetings checked against EnableX this run.
    pub adhoc_checked: usize,
    /// Of those, missing from the listing but found by their own `GET`: kept open.
    pub adhoc_kept: usize,
    /// EnableX calls the run made (listing pages count as one call each).
    pub enablex_calls: u64,
    /// Database queries the run made.
    pub queries: u64,
    /// How long the run took.
    pub elapsed_ms: u64,
}

impl Jobs {
    /// Marks ended meetings (scheduled ones past their end; ad-hoc ones whose room EnableX has
    /// removed after its session), deletes their rooms if so configured, and purges expired
    /// idempotency keys.
    #[tracing::instrument(skip(self))]
    pub async fn sweep(&self) -> Result<SweepReport, JobError> {
        let started = std::time::Instant::now();
        let run = self
            .leased("sweeper", async |run| self.sweep_now(run).await)
            .await;
        count_run("sweeper", &run);
        let Some(mut report) = run? else {
            return Ok(SweepReport {
                skipped: true,
                ..SweepReport::default()
            });
        };
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        metrics::counter!(crate::metrics::MEETINGS_ENDED).increment(report.ended as u64);
        tracing::info!(
            ended = report.ended,
            rooms_deleted = report.rooms_deleted,
            idempotency_purged = report.idempotency_purged,
            adhoc_checked = report.adhoc_checked,
            adhoc_kept = report.adhoc_kept,
            enablex_calls = report.enablex_calls,
            queries = report.queries,
            elapsed_ms = report.elapsed_ms,
            "sweeper run finished"
        );
        Ok(report)
    }

    async fn sweep_now(&self, run: &Run) -> Result<SweepReport, JobError> {
        let mut report = SweepReport::default();
        loop {
            run.check()?;
            let ended = self.store.end_scheduled(now(), BATCH as u32).await?;
            report.queries += 1;
            report.ended += ended.len();
            if ended.len() < BATCH || run.out_of_time() {
                break;
            }
        }
        if self.delete_ended_rooms && !run.out_of_time() {
            // Every ended scheduled meeting whose room is still there, this run's and those a
            // failed delete or a spent budget left before.
            let ended = self.store.ended_undeleted(BATCH as u32).await?;
            report.queries += 1;
            self.delete_rooms(&ended, run, &mut report).await?;
        }
        if !run.out_of_time() {
            self.check_adhoc(run, &mut report).await?;
        }
        report.idempotency_purged = self.store.purge_idempotency(now()).await?;
        report.queries += 1;
        Ok(report)
    }

    async fn delete_rooms(
        &self,
        ended: &[Meeting],
        run: &Run,
        report: &mut SweepReport,
    ) -> Result<(), JobError> {
        for meeting in ended.iter().filter(|m| m.kind == Kind::Scheduled) {
            run.check()?;
            if run.out_of_time() {
                // Marked ended already; the next run deletes its room.
                break;
            }
            let Some(room_id) = &meeting.room_id else {
                continue;
            };
            report.enablex_calls += 1;
            match self.enablex.delete_room(room_id).await {
                Ok(()) => report.rooms_deleted += 1,
                Err(err) if err.is_room_not_found() => {}
                Err(err) => {
                    tracing::warn!(meeting_id = %meeting.id, error = %err, "could not delete an ended meeting's room");
                    continue;
                }
            }
            self.store.mark_deleted(meeting.id, now()).await?;
            report.queries += 1;
        }
        Ok(())
    }

    /// Checks up to `adhoc_per_run` open ad-hoc meetings, from where the last run stopped: one
    /// streamed listing says which rooms are still there; a room missing from it is looked up
    /// on its own, and only EnableX's "not found" ends its meeting. A listing not read whole
    /// changes nothing, and the next run checks the same meetings again.
    async fn check_adhoc(&self, run: &Run, report: &mut SweepReport) -> Result<(), JobError> {
        const JOB: &str = "sweeper";
        let start = self
            .store
            .job_cursor(JOB)
            .await?
            .and_then(|c| Uuid::parse_str(&c).ok());
        report.queries += 1;
        let mut cursor = start;
        let mut open: HashMap<String, Uuid> = HashMap::new();
        let mut reached_end = false;
        while open.len() < self.adhoc_per_run {
            let want = (self.adhoc_per_run - open.len()).min(BATCH) as u32;
            let page = self.store.open_adhoc_after(cursor, want).await?;
            report.queries += 1;
            cursor = page.last().map(|m| m.id).or(cursor);
            let short = page.len() < want as usize;
            open.extend(page.into_iter().filter_map(|m| Some((m.room_id?, m.id))));
            if short {
                reached_end = true;
                break;
            }
        }
        report.adhoc_checked = open.len();
        // The next run goes on after the last meeting checked, or from the start again.
        let next = if reached_end { None } else { cursor };
        if open.is_empty() {
            self.save_cursor(JOB, next, report).await?;
            return Ok(());
        }
        let mut listing = self.enablex.list_rooms_stream(run.deadline.into_std());
        let mut present: HashSet<String> = HashSet::new();
        loop {
            run.check()?;
            let rooms = listing.next_batch(BATCH).await;
            if rooms.is_empty() || run.out_of_time() {
                break;
            }
            present.extend(
                rooms
                    .into_iter()
                    .map(|r| r.room_id)
                    .filter(|r| open.contains_key(r)),
            );
        }
        let listed = listing.finish().await;
        report.enablex_calls += listed.as_ref().map_or(1, |l| u64::from(l.pages));
        if let Err(err) = listed {
            tracing::warn!(error = %err, "EnableX's room listing was not read whole: no ad-hoc meeting is ended this run");
            return Ok(());
        }
        for (room_id, meeting_id) in open.iter().filter(|(room, _)| !present.contains(*room)) {
            run.check()?;
            if run.out_of_time() {
                return Ok(());
            }
            // Absence from a listing is not evidence: the room is looked up on its own.
            report.enablex_calls += 1;
            match self.enablex.get_room(room_id).await {
                Ok(_) => report.adhoc_kept += 1,
                Err(err) if err.is_room_not_found() => {
                    self.store.mark_ended(*meeting_id, now()).await?;
                    report.queries += 1;
                    report.ended += 1;
                }
                Err(err) => {
                    tracing::warn!(meeting_id = %meeting_id, error = %err, "could not look up an ad-hoc meeting's room; will try again");
                }
            }
        }
        self.save_cursor(JOB, next, report).await
    }

    async fn save_cursor(
        &self,
        job: &str,
        cursor: Option<Uuid>,
        report: &mut SweepReport,
    ) -> Result<(), JobError> {
        report.queries += 1;
        if self
            .store
            .set_job_cursor(job, &self.holder, cursor.map(|c| c.to_string()))
            .await?
        {
            Ok(())
        } else {
            Err(JobError::LeaseLost)
        }
    }
}
