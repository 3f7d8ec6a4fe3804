//! The lease a run holds while it works: taken at the start, renewed in the background every
//! third of its length, given back at the end. A run asks [`Run::check`] between steps and
//! stops when the lease was lost (another process took the job) or its time budget is spent.

use super::{JobError, JobStore, Jobs};
use crate::meetings::now;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::time::Instant;

/// One run in progress.
pub(super) struct Run {
    lost: Arc<AtomicBool>,
    /// When the run's time budget is spent.
    pub deadline: Instant,
}

impl Run {
    /// Stops the run with [`JobError::LeaseLost`] once another process holds the lease.
    pub fn check(&self) -> Result<(), JobError> {
        if self.lost.load(Ordering::SeqCst) {
            Err(JobError::LeaseLost)
        } else {
            Ok(())
        }
    }

    /// Whether the time budget is spent: the run stops where it is, and the next goes on.
    pub fn out_of_time(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

impl Jobs {
    /// Runs `work` holding the lease `name`; `None` if another process holds it.
    pub(super) async fn leased<T>(
        &self,
        name: &'static str,
        work: impl AsyncFnOnce(&Run) -> Result<T, JobError>,
    ) -> Result<Option<T>, JobError> {
        let span = chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::minutes(2));
        let at = now();
        if !self
            .store
            .try_lease(name, &self.holder, at + span, at)
            .await?
        {
            return Ok(None);
        }
        let lost = Arc::new(AtomicBool::new(false));
        let renewal = tokio::spawn(renew(
            self.store.clone(),
            name,
            self.holder.clone(),
            self.lease,
            lost.clone(),
        ));
        let run = Run {
            lost: lost.clone(),
            deadline: Instant::now() + self.budget,
        };
        let result = work(&run).await;
        renewal.abort();
        if !lost.load(Ordering::SeqCst) {
            // Give the lease back: it only keeps two runs from overlapping.
            let at = now();
            let _ = self.store.try_lease(name, &self.holder, at, at).await;
        }
        result.map(Some)
    }
}

/// Renews the lease every third of its length; marks it lost when another holder has it or
/// the renewal could not be made before the lease ran out.
async fn renew(
    store: Arc<dyn JobStore>,
    name: &'static str,
    holder: String,
    lease: std::time::Duration,
    lost: Arc<AtomicBool>,
) {
    let span = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(2));
    let mut expires = Instant::now() + lease;
    loop {
        tokio::time::sleep(lease / 3).await;
        let at = now();
        match store.try_lease(name, &holder, at + span, at).await {
            Ok(true) => expires = Instant::now() + lease,
            Ok(false) => {
                tracing::warn!(
                    job = name,
                    "another process took this job's lease; stopping the run"
                );
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(err) if Instant::now() >= expires => {
                tracing::warn!(job = name, error = %err, "could not renew this job's lease in time; stopping the run");
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(err) => {
                tracing::debug!(job = name, error = %err, "lease renewal failed; trying again")
            }
        }
    }
}
