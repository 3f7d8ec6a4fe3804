//! The meetings service: the one place that orders writes to the store and calls to EnableX.

use super::{
    Caller, ChangeError, EmbedUrls, FieldError, GrantKind, Kind, ListFilter, Meeting, MeetingStore,
    ModeratorGrant, NewMeeting, Page, State, Status, StoreError, now,
};
use crate::enablex::{CreateRoom, EnableXClient, EnableXError, RoomData, RoomSettings, Sip};
use std::sync::Arc;
use uuid::Uuid;

/// How long an EnableX token is valid.
pub const TOKEN_LIFETIME_MINUTES: i64 = 15;

/// Why a meeting operation did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum MeetingError {
    #[error("no such meeting")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    /// A conflict that goes away by itself: retry after a moment.
    #[error("{0}")]
    Pending(String),
    #[error("invalid change")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Upstream(#[from] EnableXError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A meeting just made, and the moderator URL its creator's answer carries (none when they
/// are withheld), already recorded in the audit trail.
#[derive(Debug)]
pub struct Created {
    pub meeting: Meeting,
    pub moderator_url: Option<String>,
}

/// Creates, reads, lists and deletes meetings. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    pub(super) store: Arc<dyn MeetingStore>,
    pub(super) enablex: EnableXClient,
    pub(super) urls: EmbedUrls,
    /// Whether create, read and list answers carry the owner's moderator URL.
    pub(super) moderator_urls_in_answers: bool,
}

impl Service {
    pub fn new(store: Arc<dyn MeetingStore>, enablex: EnableXClient, urls: EmbedUrls) -> Self {
        Self {
            store,
            enablex,
            urls,
            moderator_urls_in_answers: true,
        }
    }

    /// Leaves `moderator_url` out of create, read and list answers, so moderator access is
    /// handed out only on purpose, through personal moderator links.
    pub fn withholding_moderator_urls(mut self, withhold: bool) -> Self {
        self.moderator_urls_in_answers = !withhold;
        self
    }

    /// Where embed links point.
    pub fn urls(&self) -> &EmbedUrls {
        &self.urls
    }

    /// The store, for readiness checks and pool metrics.
    pub fn store(&self) -> &dyn MeetingStore {
        self.store.as_ref()
    }

    /// The EnableX client, for background jobs and metrics.
    pub fn enablex(&self) -> &EnableXClient {
        &self.enablex
    }

    /// Creates a meeting: the row is written first (`provisioning`), then the room is created
    /// at EnableX carrying the meeting's id in its `data`, then the row is completed. If
    /// EnableX refuses, the row is marked failed; if the outcome is unknown (timeout, broken
    /// answer) the row stays `provisioning` so that the room, if it was made, can be found by
    /// that id and nothing is orphaned. The creator's moderator URL, when answers carry it, is
    /// recorded in the audit trail in the same commit that completes the row.
    #[tracing::instrument(skip_all, fields(meeting_id, kind = %new.kind))]
    pub async fn create(&self, id: Uuid, new: NewMeeting) -> Result<Created, MeetingError> {
        // While EnableX is known to be down, fail before writing anything.
        self.enablex.admit()?;
        let created_at = now();
        let meeting = Meeting {
            id,
            room_id: None,
            kind: new.kind,
            name: new.name,
            description: new.description,
            owner_ref: new.owner_ref,
            created_by: new.created_by,
            embed: new.embed,
            schedule: new.schedule,
            settings: new.settings,
            state: State::Provisioning,
            failure: None,
            created_at,
            updated_at: created_at,
            deleted_at: None,
            ended_at: None,
        };
        tracing::Span::current().record("meeting_id", tracing::field::display(meeting.id));
        self.store.insert(&meeting).await?;
        match self.enablex.create_room(&room_request(&meeting)).await {
            Ok(room) => {
                // The creator owns the meeting: its answer carries the moderator URL.
                let handed = self.moderator_urls_in_answers.then(|| ModeratorGrant {
                    meeting_id: meeting.id,
                    caller: meeting.created_by.clone(),
                    what: GrantKind::Url,
                    at: now(),
                });
                let meeting = match self
                    .store
                    .activate(meeting.id, &room.room_id, now(), handed.as_ref())
                    .await
                {
                    Ok(activated) => activated,
                    // The reconciler found the room first and completed the row.
                    Err(StoreError::NotFound) => {
                        self.settled_meanwhile(meeting.id, &room.room_id, handed.as_ref())
                            .await?
                    }
                    Err(err) => return Err(err.into()),
                };
                // The row's room: the one just made, unless the reconciler settled another.
                let room_id = meeting.room_id.as_deref().unwrap_or(&room.room_id);
                let moderator_url = handed.map(|_| self.urls.moderator(meeting.embed, room_id));
                metrics::counter!(crate::metrics::MEETINGS_CREATED, "kind" => meeting.kind.as_str()).increment(1);
                Ok(Created {
                    meeting,
                    moderator_url,
                })
            }
            Err(err) if err.outcome_unknown() => {
                tracing::warn!(meeting_id = %meeting.id, "room creation outcome unknown; left provisioning");
                Err(err.into())
            }
            Err(err) => {
                self.store
                    .mark_failed(meeting.id, &err.to_string(), now())
                    .await?;
                Err(err.into())
            }
        }
    }

    /// The row of a create whose activation found it no longer `provisioning`: the reconciler
    /// listed the room while EnableX's answer was on its way and completed the row first. If
    /// it is active the create succeeded, and the creator's grant, which the activation did
    /// not record, is recorded now, before the answer. (Active with another room would mean
    /// EnableX holds two rooms carrying this meeting's id: the row's room is the meeting's,
    /// the other is reported by the reconciler as an orphan.) A meeting deleted meanwhile is
    /// a conflict that says so.
    async fn settled_meanwhile(
        &self,
        id: Uuid,
        room_id: &str,
        handed: Option<&ModeratorGrant>,
    ) -> Result<Meeting, MeetingError> {
        let Some(row) = self.store.get(id).await? else {
            return Err(StoreError::Other(
                "a meeting's row went missing while its room was made".into(),
            )
            .into());
        };
        match row.state {
            State::Active => {
                if let Some(grant) = handed {
                    self.store
                        .record_grants(std::slice::from_ref(grant))
                        .await?;
                }
                if row.room_id.as_deref() == Some(room_id) {
                    tracing::info!(meeting_id = %id, "create found its meeting completed by the reconciler");
                } else {
                    tracing::warn!(meeting_id = %id, room_id, "create found its meeting completed with another room; this room is an orphan");
                }
                Ok(row)
            }
            State::Deleted => Err(MeetingError::Conflict(
                "the meeting was deleted while its room was being made".into(),
            )),
            other => Err(MeetingError::Conflict(format!(
                "the meeting is {} instead of active",
                other.as_str()
            ))),
        }
    }

    /// A meeting the caller may see: its own (any, for an admin), and not one still
    /// provisioning or never created. Anything else is "not found", so nothing leaks about
    /// other callers' meetings.
    pub async fn get(&self, id: Uuid, caller: &Caller) -> Result<Meeting, MeetingError> {
        match self.store.get(id).await? {
            Some(m) if m.is_visible() && caller.can_see(&m) => Ok(m),
            _ => Err(MeetingError::NotFound),
        }
    }

    /// One page of meetings, newest first. Asks the store for one more than the page holds to
    /// know whether another page follows.
    pub async fn list(&self, filter: ListFilter) -> Result<Page, MeetingError> {
        let limit = filter.limit as usize;
        let probe = ListFilter {
            limit: filter.limit + 1,
            ..filter
        };
        let mut items = self.store.list(&probe, now()).await?;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|m| m.id)
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// Deletes the meeting's room at EnableX and marks the row deleted. Deleting a deleted
    /// meeting is harmless; a room EnableX no longer knows counts as deleted; a room with
    /// people in a live session is a conflict.
    #[tracing::instrument(skip(self, caller))]
    pub async fn delete(&self, id: Uuid, caller: &Caller) -> Result<(), MeetingError> {
        let meeting = self.get(id, caller).await?;
        if meeting.state == State::Deleted {
            return Ok(());
        }
        if let Some(room_id) = &meeting.room_id {
            match self.enablex.live_user_count(room_id).await {
                Ok(0) => {}
                Ok(n) => {
                    return Err(MeetingError::Conflict(format!(
                        "the room has a live session with {n} people in it; end it first"
                    )));
                }
                Err(err) if err.is_room_not_found() => {}
                Err(err) => return Err(err.into()),
            }
            match self.enablex.delete_room(room_id).await {
                Ok(()) => {}
                Err(err) if err.is_room_not_found() => {}
                Err(EnableXError::Refused { status: 409, .. }) => {
                    return Err(MeetingError::Conflict(
                        "EnableX refused: the room has a live session".into(),
                    ));
                }
                Err(err) => return Err(err.into()),
            }
        }
        self.store.mark_deleted(id, now()).await?;
        Ok(())
    }
}

impl From<ChangeError> for MeetingError {
    fn from(err: ChangeError) -> Self {
        match err {
            ChangeError::Invalid(errors) => MeetingError::Invalid(errors),
            ChangeError::Conflict(message) => MeetingError::Conflict(message),
        }
    }
}

impl Service {
    /// The room of a meeting people can still join.
    pub(super) fn usable_room<'m>(&self, meeting: &'m Meeting) -> Result<&'m str, MeetingError> {
        match (meeting.status(now()), meeting.room_id.as_deref()) {
            (Status::Deleted | Status::Ended, _) | (_, None) => Err(MeetingError::Conflict(
                format!("the meeting is {}", meeting.status(now())),
            )),
            (_, Some(room_id)) => Ok(room_id),
        }
    }
}

/// The EnableX create body for a meeting.
fn room_request(m: &Meeting) -> CreateRoom {
    let s = &m.settings;
    CreateRoom {
        name: m.name.clone(),
        owner_ref: m.owner_ref.clone(),
        settings: RoomSettings {
            description: m.description.clone(),
            mode: s.mode.as_str().to_owned(),
            scheduled: m.kind == Kind::Scheduled,
            adhoc: m.kind == Kind::Adhoc,
            scheduled_time: m.schedule.map(|s| s.enablex_time()),
            duration: m.schedule.map(|s| s.duration_minutes()),
            moderators: s.moderators,
            participants: s.participants,
            quality: s.quality.as_str().to_owned(),
            max_active_talkers: s.max_active_talkers,
            screen_share: s.screen_share,
            canvas: s.canvas,
            abwd: s.abwd,
            auto_recording: s.auto_recording,
            knock: s.knock,
            wait_for_moderator: s.wait_for_moderator,
            media_zone: s.media_zone.as_str().to_owned(),
        },
        sip: Sip { enabled: false },
        data: RoomData {
            roomgate_meeting_id: m.id.to_string(),
        },
    }
}
