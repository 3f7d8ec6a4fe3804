//! `Idempotency-Key` support: the first answer to a caller's key is kept and replayed, so a
//! retried create never makes a second room. Which outcomes are kept, which free the key and
//! which wait for the reconciler is decided here; the HTTP layer only renders and stores the
//! answers it is told to keep.

use super::{
    Caller, Created, FieldError, IdempotencyRecord, MeetingError, NewMeeting, Service, State, now,
};
use crate::enablex::EnableXError;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// How long a duplicate waits for the first request's answer before being told to retry.
const WAIT: Duration = Duration::from_secs(10);
/// A claim whose meeting row never appeared is taken as abandoned after this long.
const ABANDONED: chrono::Duration = chrono::Duration::seconds(60);

/// How an idempotent create ended.
#[derive(Debug)]
pub enum Idempotent {
    /// This request made the meeting, or found it settled by the reconciler: answer it and
    /// keep the answer ([`Service::remember`]).
    Created(Box<Created>),
    /// EnableX definitely refused: the refusal stands for the key's life. Answer it and keep
    /// the answer (for the claim of `meeting_id`).
    Refused {
        error: MeetingError,
        meeting_id: Uuid,
    },
    /// An earlier request's answer, to give back as it was.
    Replay {
        status: u16,
        body: String,
        meeting_id: Uuid,
    },
}

/// Where a claimed key stands.
enum Claim {
    /// This request holds the key: create the meeting with this id.
    Fresh(Uuid),
    Answered {
        status: u16,
        body: String,
    },
    /// An earlier request with the same key has not answered yet.
    Pending(Uuid),
    /// The key was used with another request body.
    Mismatch,
}

impl EnableXError {
    /// EnableX refused the request itself (a 4xx): asking again gets the same answer.
    fn is_definite_refusal(&self) -> bool {
        matches!(self, EnableXError::Refused { status, .. } if *status < 500)
    }

    /// EnableX surely made nothing: nothing was sent, it was rate limited, or it answered with
    /// a server error. A retry may try again.
    fn made_nothing(&self) -> bool {
        matches!(
            self,
            EnableXError::Refused { status: 500.., .. }
                | EnableXError::RateLimited { .. }
                | EnableXError::Unreachable(_)
                | EnableXError::CircuitOpen { .. }
        )
    }
}

impl Service {
    /// Creates the meeting once per caller and key: the first request creates it; retries get
    /// the first answer, wait for it while it is being made (up to 10 s), or, when the first
    /// attempt surely made nothing, create it afresh. `request_hash` tells the same request
    /// from another one sent with the same key.
    pub async fn create_once(
        &self,
        caller: &Caller,
        key: &str,
        request_hash: &str,
        new: NewMeeting,
        ttl: Duration,
    ) -> Result<Idempotent, MeetingError> {
        let deadline = Instant::now() + WAIT;
        loop {
            let at = now();
            let record = IdempotencyRecord {
                caller: caller.identity.clone(),
                key: key.to_owned(),
                request_hash: request_hash.to_owned(),
                meeting_id: Uuid::now_v7(),
                status: None,
                body: None,
                created_at: at,
                expires_at: at
                    + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(1)),
            };
            match self.claim(&record).await? {
                Claim::Mismatch => {
                    return Err(MeetingError::Invalid(vec![FieldError::new(
                        "Idempotency-Key",
                        "was already used with a different request body",
                    )]));
                }
                Claim::Answered { status, body } => {
                    let meeting_id = self
                        .store
                        .find_idempotency(&caller.identity, key)
                        .await?
                        .map_or(record.meeting_id, |r| r.meeting_id);
                    return Ok(Idempotent::Replay {
                        status,
                        body,
                        meeting_id,
                    });
                }
                Claim::Fresh(id) => {
                    return match self.create(id, new).await {
                        Ok(created) => Ok(Idempotent::Created(Box::new(created))),
                        Err(MeetingError::Upstream(err)) if err.is_definite_refusal() => {
                            Ok(Idempotent::Refused {
                                error: err.into(),
                                meeting_id: id,
                            })
                        }
                        Err(MeetingError::Upstream(err)) if err.made_nothing() => {
                            self.store
                                .release_idempotency(&caller.identity, key, id)
                                .await?;
                            Err(err.into())
                        }
                        // The meeting was deleted while its room was being made: a definite
                        // answer, kept for the key like a refusal.
                        Err(err @ MeetingError::Conflict(_)) => Ok(Idempotent::Refused {
                            error: err,
                            meeting_id: id,
                        }),
                        // Unknown outcome: the claim stays; retries wait for the reconciler.
                        Err(err) => Err(err),
                    };
                }
                Claim::Pending(id) => {
                    let state = self.store.get(id).await?.map(|m| m.state);
                    if state == Some(State::Deleted) {
                        // Made (settled by the reconciler) and deleted since: there is nothing
                        // to answer but that.
                        return Err(MeetingError::Conflict(
                            "the meeting made for this Idempotency-Key has been deleted".into(),
                        ));
                    }
                    if state == Some(State::Active) {
                        // Settled by the reconciler after an unknown outcome: answer as the
                        // first request would have.
                        let meeting = self.get(id, caller).await?;
                        let moderator_url =
                            self.moderator_urls(caller, &[&meeting]).await?.remove(&id);
                        return Ok(Idempotent::Created(Box::new(Created {
                            meeting,
                            moderator_url,
                        })));
                    }
                    if Instant::now() >= deadline {
                        return Err(MeetingError::Pending(
                            "a request with this Idempotency-Key is still being processed; retry shortly"
                                .into(),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Keeps the answer given for `(caller, key)`, for replays, if the key is still held by the
    /// claim of `meeting_id` and has no answer yet. A request that outlived its claim (its
    /// meeting was settled failed, the key claimed anew and answered for another meeting, and
    /// then its own room turned up after all) answers its caller but leaves the key's answer
    /// alone: the key stays with the meeting its later requests were given.
    pub async fn remember(
        &self,
        caller: &Caller,
        key: &str,
        meeting_id: Uuid,
        status: u16,
        body: &str,
    ) -> Result<(), MeetingError> {
        Ok(self
            .store
            .complete_idempotency(&caller.identity, key, meeting_id, status, body)
            .await?)
    }

    /// Claims `record`'s key for its caller, or says how an earlier request with it stands. A
    /// claim whose meeting turned out failed is released and claimed anew, since no room
    /// exists for it.
    async fn claim(&self, record: &IdempotencyRecord) -> Result<Claim, MeetingError> {
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
            let abandoned = record.created_at - existing.created_at > ABANDONED;
            match self.store.get(existing.meeting_id).await?.map(|m| m.state) {
                // Nothing exists upstream for a failed meeting, nor for a claim whose row was
                // never written (its request died first): release that claim, and only that
                // one, and start afresh.
                Some(State::Failed) => {}
                None if abandoned => {}
                _ => return Ok(Claim::Pending(existing.meeting_id)),
            }
            self.store
                .release_idempotency(&record.caller, &record.key, existing.meeting_id)
                .await?;
        }
        Ok(Claim::Pending(record.meeting_id))
    }
}
