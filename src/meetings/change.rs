//! Changing a meeting after creation: what may change, and when.

use super::{FieldError, Kind, Meeting, Schedule, SettingsInput, State};
use chrono::{DateTime, Utc};

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
