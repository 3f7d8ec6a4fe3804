//! Changing a meeting after creation: what may change, and when.

use super::{
    Caller, FieldError, Kind, LetGo, Meeting, MeetingError, MeetingStore, Schedule, Service,
    SettingsInput, State, StoreError, now,
};
use crate::enablex::{EnableXClient, EnableXError, UpdateFailed, Updated};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

/// A requested change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct MeetingChange {
    pub name: Option<String>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    /// Fixed at creation; given only to be refused if it differs.
    pub kind: Option<Kind>,
    pub starts_at: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i64>,
    pub settings: Option<SettingsInput>,
}

/// Why a change cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeError {
    /// The request itself is wrong (`422`).
    Invalid(Vec<FieldError>),
    /// The meeting is in no state to change (`409`).
    Conflict(String),
}

impl Meeting {
    /// The meeting as `change` would leave it. A deleted meeting cannot change; a scheduled one
    /// only until its room opens (15 minutes before the start, as EnableX asks); `kind` and
    /// `settings.mode` never.
    pub fn changed(
        &self,
        change: MeetingChange,
        now: DateTime<Utc>,
    ) -> Result<Meeting, ChangeError> {
        if self.state != State::Active {
            return Err(ChangeError::Conflict(format!(
                "the meeting is {}",
                self.status(now)
            )));
        }
        if let Some(schedule) = &self.schedule
            && now >= schedule.joinable_from()
        {
            return Err(ChangeError::Conflict(
                "a scheduled meeting can only be changed until 15 minutes before it starts".into(),
            ));
        }
        let mut errors = Vec::new();
        if change.kind.is_some_and(|kind| kind != self.kind) {
            errors.push(FieldError::new("kind", "cannot be changed after creation"));
        }
        let schedule = match (&self.schedule, change.starts_at, change.duration_minutes) {
            (_, None, None) => self.schedule,
            (Some(current), starts_at, minutes) => {
                let start = starts_at.unwrap_or(current.starts_at());
                let minutes = minutes.or(Some(i64::from(current.duration_minutes())));
                Schedule::new(Some(start), minutes, now)
                    .map_err(|mut problems| errors.append(&mut problems))
                    .ok()
            }
            (None, starts_at, minutes) => {
                for (field, given) in [
                    ("starts_at", starts_at.is_some()),
                    ("duration_minutes", minutes.is_some()),
                ] {
                    if given {
                        errors.push(FieldError::new(field, "is only for scheduled meetings"));
                    }
                }
                None
            }
        };
        let settings = match change.settings {
            None => Some(self.settings.clone()),
            Some(input) => {
                if input.mode.is_some_and(|mode| mode != self.settings.mode) {
                    errors.push(FieldError::new(
                        "settings.mode",
                        "cannot be changed after creation",
                    ));
                }
                self.settings
                    .apply(input)
                    .map_err(|mut problems| errors.append(&mut problems))
                    .ok()
            }
        };
        match settings {
            Some(settings) if errors.is_empty() => Ok(Meeting {
                name: change.name.unwrap_or_else(|| self.name.clone()),
                description: change
                    .description
                    .unwrap_or_else(|| self.description.clone()),
                schedule,
                settings,
                ..self.clone()
            }),
            _ => Err(ChangeError::Invalid(errors)),
        }
    }
}

impl Service {
    /// Changes a meeting: EnableX first (a repeated PATCH is harmless), then the row, guarded
    /// against a concurrent change by the row's `updated_at`.
    #[tracing::instrument(skip(self, change, caller))]
    pub async fn update(
        &self,
        id: Uuid,
        change: MeetingChange,
        caller: &Caller,
    ) -> Result<Meeting, MeetingError> {
        let conflict = || {
            MeetingError::Conflict(
                "the meeting was changed at the same time; read it again and retry".into(),
            )
        };
        let current = self.get(id, caller).await?;
        let mut changed = current.changed(change, now())?;
        // Hold the row before EnableX hears of the change: a concurrent change loses here,
        // before it reaches EnableX, so EnableX and the record never disagree.
        let hold = ChangeHold::take(self.store.clone(), &current, None).await?;
        let Some(hold) = hold else {
            return Err(conflict());
        };
        // An earlier attempt of the push that went unanswered may still land after it.
        let mut unsynced_at = None;
        if let Some(room_id) = &current.room_id {
            match hold.push(&self.enablex, room_id, &changed).await {
                Ok(pushed) => unsynced_at = pushed.after_unknown.then(now),
                Err(failed) => {
                    // Let go before answering, so the caller's next change finds it free.
                    hold.release(let_go_after(&failed), now()).await;
                    if failed.error.is_room_not_found() {
                        // Deleted meanwhile (a DELETE that raced this change).
                        return Err(MeetingError::Conflict(
                            "the meeting's room is gone: the meeting was deleted meanwhile".into(),
                        ));
                    }
                    return Err(failed.error.into());
                }
            }
        }
        changed.updated_at = now();
        // Should the row not be written (the database failed, the meeting was deleted
        // meanwhile, the request was cut off), the hold goes with the row still marked
        // unsynced: EnableX has taken the change.
        let updated = self
            .store
            .update(&changed, current.updated_at, hold.token, unsynced_at)
            .await?;
        if updated.is_some() {
            hold.written();
        }
        updated.ok_or_else(conflict)
    }
}

/// What a failed push leaves: EnableX holds what it held before only if no attempt may have
/// taken effect (every one was refused outright, rate limited, never connected or kept back
/// by the open circuit).
fn let_go_after(failed: &UpdateFailed) -> LetGo {
    if failed.maybe_taken {
        LetGo::Unsynced
    } else {
        LetGo::Unchanged
    }
}

/// What [`resync`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resync {
    /// EnableX took the row's values: the two agree again (unless an attempt of the push
    /// itself went unanswered: then the mark stays for one more push).
    Pushed,
    /// A change holds the meeting or changed it meanwhile: that change settles it.
    Busy,
    /// The room is gone (the meeting deleted meanwhile, or its room removed at EnableX):
    /// nothing to agree with; the mark is cleared.
    Gone,
    /// EnableX refused the row's values themselves (say, a scheduled room already open):
    /// pushing them again cannot help, and the mark is cleared.
    GaveUp(String),
}

/// Pushes a meeting's recorded values to EnableX after a change whose outcome there is unknown
/// left the row marked unsynced (the reconciler calls this, a grace period after the mark). The
/// meeting is held meanwhile, as a change would hold it, and only if it is still marked as of
/// `due` or before (a change whose outcome was unknown since then is left its grace). A push
/// that fails leaves the mark, as of what `retry_at` says when it failed, for a later run.
pub async fn resync(
    store: Arc<dyn MeetingStore>,
    enablex: &EnableXClient,
    meeting: &Meeting,
    due: DateTime<Utc>,
    retry_at: impl FnOnce() -> DateTime<Utc>,
) -> Result<Resync, MeetingError> {
    let Some(hold) = ChangeHold::take(store.clone(), meeting, Some(due)).await? else {
        return Ok(Resync::Busy);
    };
    let Some(room_id) = &meeting.room_id else {
        return settled(store, hold, Resync::Gone).await;
    };
    match hold.push(enablex, room_id, meeting).await {
        Ok(pushed) if pushed.after_unknown => {
            // The push's own lost attempt may land late: one more push, a grace period on.
            hold.release(LetGo::Unsynced, now()).await;
            Ok(Resync::Pushed)
        }
        Ok(_) => settled(store, hold, Resync::Pushed).await,
        Err(failed) if !failed.maybe_taken && failed.error.is_room_not_found() => {
            settled(store, hold, Resync::Gone).await
        }
        Err(failed) if !failed.maybe_taken && refuses_the_values(&failed.error) => {
            let why = failed.error.to_string();
            settled(store, hold, Resync::GaveUp(why)).await
        }
        Err(failed) => {
            hold.release(LetGo::Unsynced, retry_at()).await;
            Err(failed.error.into())
        }
    }
}

/// Lets go of the hold and clears the mark; [`Resync::Busy`] if the hold was lost meanwhile.
async fn settled(
    store: Arc<dyn MeetingStore>,
    hold: ChangeHold,
    outcome: Resync,
) -> Result<Resync, MeetingError> {
    if store.settle_unsynced(hold.id, hold.token).await? {
        hold.written();
        Ok(outcome)
    } else {
        Ok(Resync::Busy)
    }
}

/// EnableX answered and said no to the values themselves: pushing them again cannot help. Not
/// a refusal that may pass (authentication, a conflict while EnableX is busy, a rate limit):
/// those leave the mark for a later run.
fn refuses_the_values(err: &EnableXError) -> bool {
    matches!(err, EnableXError::Refused { status, .. } if matches!(status, 200 | 400 | 422))
}

/// How long a change may hold its meeting before another may take it, short enough that a
/// holder that died does not block for long. Its EnableX call, retries included, must end
/// [`PUSH_MARGIN`] before (see [`ChangeHold::push`]).
const CHANGE_HOLD: Duration = Duration::minutes(2);
/// What a hold keeps in hand after its push's last chance to end.
pub const PUSH_MARGIN: std::time::Duration = std::time::Duration::from_secs(20);

/// A meeting held for one change. Dropped before the change is written (EnableX failed, or the
/// request was cut off), it lets go of the meeting.
struct ChangeHold {
    store: Arc<dyn MeetingStore>,
    id: Uuid,
    token: Uuid,
    /// When the push to EnableX must have ended, so that it never outlasts the hold.
    push_by: tokio::time::Instant,
    written: bool,
}

impl ChangeHold {
    async fn take(
        store: Arc<dyn MeetingStore>,
        meeting: &Meeting,
        due: Option<DateTime<Utc>>,
    ) -> Result<Option<Self>, StoreError> {
        let token = Uuid::new_v4();
        let at = now();
        let push_by =
            tokio::time::Instant::now() + CHANGE_HOLD.to_std().unwrap_or_default() - PUSH_MARGIN;
        let held = store
            .hold_for_change(
                meeting.id,
                meeting.updated_at,
                token,
                at + CHANGE_HOLD,
                at,
                due,
            )
            .await?;
        Ok(held.then_some(Self {
            store,
            id: meeting.id,
            token,
            push_by,
            written: false,
        }))
    }

    /// Tells EnableX the meeting's values, within the hold's time (whatever the request's own
    /// deadline or the EnableX timeouts and retries configured): a push that outlasted the
    /// hold could land after another change had taken the meeting.
    async fn push(
        &self,
        enablex: &EnableXClient,
        room_id: &str,
        meeting: &Meeting,
    ) -> Result<Updated, UpdateFailed> {
        let patch = room_patch(meeting);
        crate::deadline::within(self.push_by, enablex.update_room(room_id, &patch)).await
    }

    /// The change was written, which let go of the hold.
    fn written(mut self) {
        self.written = true;
    }

    /// Lets go of the meeting without changing it; with [`LetGo::Unsynced`], marked as of `at`.
    async fn release(mut self, how: LetGo, at: DateTime<Utc>) {
        self.written = true;
        if let Err(err) = self
            .store
            .release_change(self.id, self.token, how, at)
            .await
        {
            tracing::warn!(meeting_id = %self.id, error = %err, "could not let go of a change hold; it lapses by itself");
        }
    }
}

impl Drop for ChangeHold {
    fn drop(&mut self) {
        if self.written {
            return;
        }
        // Cut off (or failed) between taking the hold and writing the row: EnableX may have
        // taken the change, so the row stays marked unsynced.
        let (store, id, token) = (self.store.clone(), self.id, self.token);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(err) = store
                    .release_change(id, token, LetGo::Unsynced, now())
                    .await
                {
                    tracing::warn!(meeting_id = %id, error = %err, "could not let go of a change hold; it lapses by itself");
                }
            });
        }
    }
}

/// The EnableX PATCH body for a changed meeting: everything EnableX lets change.
fn room_patch(m: &Meeting) -> serde_json::Value {
    let s = &m.settings;
    let mut settings = json!({
        "description": m.description.clone().unwrap_or_default(),
        "moderators": s.moderators,
        "participants": s.participants,
        "quality": s.quality.as_str(),
        "max_active_talkers": s.max_active_talkers,
        "screen_share": s.screen_share,
        "canvas": s.canvas,
        "abwd": s.abwd,
        "auto_recording": s.auto_recording,
        "knock": s.knock,
        "wait_for_moderator": s.wait_for_moderator,
        "media_zone": s.media_zone.as_str(),
    });
    if let Some(schedule) = m.schedule {
        settings["scheduled_time"] = json!(schedule.enablex_time());
        settings["duration"] = json!(schedule.duration_minutes());
    }
    json!({ "name": m.name, "settings": settings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meetings::{EmbedPlan, Settings, parse_instant};
    use uuid::Uuid;

    fn scheduled(start: &str) -> Meeting {
        let t = parse_instant("2026-11-29T00:00:00Z").expect("valid");
        Meeting {
            id: Uuid::now_v7(),
            room_id: Some("r".into()),
            kind: Kind::Scheduled,
            name: "n".into(),
            description: Some("d".into()),
            owner_ref: "o".into(),
            created_by: "key:o".into(),
            embed: EmbedPlan::Premium,
            schedule: Some(Schedule::from_stored(
                parse_instant(start).expect("valid"),
                30,
            )),
            settings: Settings::default(),
            state: State::Active,
            failure: None,
            created_at: t,
            updated_at: t,
            deleted_at: None,
            ended_at: None,
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        parse_instant(text).expect("valid")
    }

    #[test]
    fn a_new_duration_keeps_the_start() {
        let m = scheduled("2026-12-01T10:00:00Z");
        let change = MeetingChange {
            duration_minutes: Some(45),
            description: Some(None),
            ..Default::default()
        };
        let changed = m
            .changed(change, at("2026-11-30T00:00:00Z"))
            .expect("valid");
        let s = changed.schedule.expect("schedule");
        assert_eq!(
            (s.starts_at(), s.duration_minutes()),
            (at("2026-12-01T10:00:00Z"), 45)
        );
        assert_eq!(changed.description, None);
        assert_eq!(changed.name, "n");
    }

    #[test]
    fn no_change_once_the_room_is_open() {
        let m = scheduled("2026-12-01T10:00:00Z");
        let err = m
            .changed(MeetingChange::default(), at("2026-12-01T09:46:00Z"))
            .unwrap_err();
        assert!(matches!(err, ChangeError::Conflict(_)));
    }

    #[test]
    fn kind_and_mode_are_fixed() {
        let m = scheduled("2026-12-01T10:00:00Z");
        let change = MeetingChange {
            kind: Some(Kind::Permanent),
            settings: Some(SettingsInput {
                mode: Some(crate::meetings::Mode::Lecture),
                ..Default::default()
            }),
            ..Default::default()
        };
        let Err(ChangeError::Invalid(errors)) = m.changed(change, at("2026-11-30T00:00:00Z"))
        else {
            panic!("expected invalid");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["kind", "settings.mode"]);
    }
}
