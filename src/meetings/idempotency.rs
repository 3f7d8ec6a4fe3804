//! `Idempotency-Key` support: the first answer to a caller's key is kept and replayed, so a
//! retried create never makes a second room.

use super::{IdempotencyRecord, MeetingError, Service, State};
use uuid::Uuid;

/// Where a claimed key stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This request holds the key: create the meeting with this id.
    Fresh(Uuid),
    /// An earlier request with the same key answered this.
    Answered { status: u16, body: String },
    /// An earlier request with the same key has not answered yet.
    Pending(Uuid),
    /// The key was used with another request body.
    Mismatch,
}

impl Service {
    /// Claims `record`'s key for its caller, or says how an earlier request with it stands. A
    /// claim whose meeting turned out failed is released and claimed anew, since no room
    /// exists for it.
    pub async fn claim_idempotency(
        &self,
        record: &IdempotencyRecord,
    ) -> Result<Claim, MeetingError> {
        for _ in 0..2 {
            let Some(existing) = self.store.claim_idempotency(record).await? else {
                return Ok(Claim::Fresh(record.meeting_id));
            };
            if existing.request_hash != record.request_hash {
                return Ok(Claim::Mismatch);
            }
            if let (Some(status), Some(body)) = (existing.status, existing.body) {
                return Ok(Claim::Answered { status, body });
            }
            let abandoned = record.created_at - existing.created_at > chrono::Duration::seconds(60);
            match self.store.get(existing.meeting_id).await?.map(|m| m.state) {
                // Nothing exists upstream for a failed meeting, nor for a claim whose row was
                // never written (its request died first): start afresh.
                Some(State::Failed) => {
                    self.release_idempotency(&record.caller, &record.key)
                        .await?
                }
                None if abandoned => {
                    self.release_idempotency(&record.caller, &record.key)
                        .await?
                }
                _ => return Ok(Claim::Pending(existing.meeting_id)),
            }
        }
        Ok(Claim::Pending(record.meeting_id))
    }

    /// The meeting a caller's key belongs to.
    pub async fn idempotency_meeting(
        &self,
        caller: &str,
        key: &str,
    ) -> Result<Option<Uuid>, MeetingError> {
        Ok(self
            .store
            .find_idempotency(caller, key)
            .await?
            .map(|r| r.meeting_id))
    }

    /// Keeps the first answer for replays.
    pub async fn complete_idempotency(
        &self,
        caller: &str,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<(), MeetingError> {
        Ok(self
            .store
            .complete_idempotency(caller, key, status, body)
            .await?)
    }

    /// Forgets an unanswered claim (nothing was created, so a retry may start afresh).
    pub async fn release_idempotency(&self, caller: &str, key: &str) -> Result<(), MeetingError> {
        Ok(self.store.release_idempotency(caller, key).await?)
    }

    /// The stored state of a meeting, whoever owns it (for settling idempotent retries).
    pub async fn state_of(&self, id: Uuid) -> Result<Option<State>, MeetingError> {
        Ok(self.store.get(id).await?.map(|m| m.state))
    }
}
