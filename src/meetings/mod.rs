//! The domain: what a meeting is, its kinds, schedule and lifecycle, and the service that
//! creates rooms at EnableX and keeps the record. Knows nothing of HTTP.

mod access;
mod change;
mod idempotency;
mod schedule;
mod service;
mod settings;
mod store;
mod urls;

pub use access::Person;
pub use change::{ChangeError, MeetingChange, PUSH_MARGIN, Resync, resync};
pub use idempotency::Idempotent;
pub use schedule::{
    JOIN_EARLY_MINUTES, MAX_DURATION_MINUTES, MAX_INSTANT, MIN_INSTANT, Schedule, parse_instant,
};
pub use service::{Created, MeetingError, Service, TOKEN_LIFETIME_MINUTES};
pub use settings::{MAX_PARTICIPANTS, Settings, SettingsInput};
pub use store::{LetGo, MeetingStore, StoreError};
pub use urls::{EmbedUrls, LinkOptions, moderator_hash};

use chrono::{DateTime, Utc};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// The current time at the precision both databases keep (microseconds), so a time written
/// and read back compares equal.
pub fn now() -> DateTime<Utc> {
    let t = Utc::now();
    chrono::DurationRound::duration_trunc(t, chrono::Duration::microseconds(1)).unwrap_or(t)
}

/// Unicode format characters (general category Cf: bidirectional controls, zero-width
/// characters, the BOM, tags) and the line and paragraph separators: they change how text
/// displays without being seen, so an identity holding one can pass for another.
pub fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}'
        | '\u{0890}'..='\u{0891}' | '\u{08E2}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{110BD}' | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
}

/// One problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name as the caller wrote it (`name`, `settings.mode`).
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A text that is not one of a closed set of names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{given}' is not one of {}", choices.join(", "))]
pub struct ChoiceError {
    /// What was given, cut to 32 characters.
    pub given: String,
    pub choices: &'static [&'static str],
}

/// Declares a closed set of names stored and sent as lowercase text.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value's name as stored and sent.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = ChoiceError;
            fn from_str(text: &str) -> Result<Self, ChoiceError> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(ChoiceError {
                        given: other.chars().take(32).collect(),
                        choices: &[$($text),+],
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// EnableX's three kinds of room.
    Kind { Permanent => "permanent", Scheduled => "scheduled", Adhoc => "adhoc" }
);
text_enum!(
    /// Which embed UI the meeting's links open: Lite (4 tiles) or Premium (12 tiles).
    EmbedPlan { Lite => "lite", Premium => "premium" }
);
text_enum!(
    /// Where a meeting's record stands. Stored; the public [`Status`] is derived from it.
    State { Provisioning => "provisioning", Active => "active", Failed => "failed", Deleted => "deleted" }
);
text_enum!(
    /// A meeting's status as callers see it, derived from its state and the time.
    Status {
        Scheduled => "scheduled", Open => "open", Ended => "ended", Deleted => "deleted",
        Provisioning => "provisioning", Failed => "failed",
    }
);

text_enum!(
    /// Who may publish in a room: everyone (`group`) or only moderators (`lecture`).
    Mode { Group => "group", Lecture => "lecture" }
);
text_enum!(
    /// EnableX's video quality levels.
    Quality { Hd => "HD", Sd => "SD", Ld => "LD" }
);
text_enum!(
    /// Where EnableX hosts the media: India, Singapore, the US, or wherever suits (`XX`).
    MediaZone { In => "IN", Sg => "SG", Us => "US", Any => "XX" }
);
text_enum!(
    /// Who a personal embed link is for.
    LinkRole { Participant => "participant", Moderator => "moderator" }
);
text_enum!(
    /// What an SDK token lets its holder do in the room.
    TokenRole { Participant => "participant", Moderator => "moderator", Viewer => "viewer" }
);

text_enum!(
    /// How moderator access was handed out.
    GrantKind { Url => "url", Link => "link", Token => "token" }
);

/// One moderator URL, link or token handed out: the audit trail of moderator access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeratorGrant {
    pub meeting_id: Uuid,
    /// The [`Caller::identity`] it was handed to.
    pub caller: String,
    pub what: GrantKind,
    pub at: DateTime<Utc>,
}

/// Who is calling, as far as meetings care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Whose meetings these are: `key:<name>` or `user:<subject>`, so a key and a user of the
    /// same name are never one owner.
    pub identity: String,
    /// The bare name or subject, the default `owner_ref` sent to EnableX.
    pub subject: String,
    /// Admins see and manage every meeting.
    pub admin: bool,
}

impl Caller {
    /// A caller holding the API key named `name`.
    pub fn for_key(name: &str, admin: bool) -> Self {
        Self {
            identity: format!("key:{name}"),
            subject: name.to_owned(),
            admin,
        }
    }

    /// A front-end user vouched for by a JWT.
    pub fn for_user(subject: &str) -> Self {
        Self {
            identity: format!("user:{subject}"),
            subject: subject.to_owned(),
            admin: false,
        }
    }

    /// Whether the meeting is this caller's own (only owners get moderator URLs).
    pub fn owns(&self, meeting: &Meeting) -> bool {
        meeting.created_by == self.identity
    }

    /// Whether this caller may see the meeting at all.
    pub fn can_see(&self, meeting: &Meeting) -> bool {
        self.admin || self.owns(meeting)
    }
}

/// A meeting record.
#[derive(Debug, Clone, PartialEq)]
pub struct Meeting {
    /// UUID v7: time-ordered, so ordering by id is ordering by creation.
    pub id: Uuid,
    /// EnableX's room id; none until EnableX has answered.
    pub room_id: Option<String>,
    pub kind: Kind,
    pub name: String,
    pub description: Option<String>,
    pub owner_ref: String,
    /// The [`Caller::identity`] that created it.
    pub created_by: String,
    pub embed: EmbedPlan,
    /// Only scheduled meetings have one.
    pub schedule: Option<Schedule>,
    pub settings: Settings,
    pub state: State,
    /// Why creation failed, for ops.
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// When the meeting was found to be over (set by the sweeper).
    pub ended_at: Option<DateTime<Utc>>,
}

impl Meeting {
    /// The status at `now`: a scheduled meeting is `scheduled` until 15 minutes before its
    /// start, `open` until its end and `ended` after; permanent and ad-hoc rooms are `open`.
    pub fn status(&self, now: DateTime<Utc>) -> Status {
        match self.state {
            State::Provisioning => Status::Provisioning,
            State::Failed => Status::Failed,
            State::Deleted => Status::Deleted,
            State::Active => match &self.schedule {
                _ if self.ended_at.is_some() => Status::Ended,
                Some(s) if now < s.joinable_from() => Status::Scheduled,
                Some(s) if now >= s.ends_at() => Status::Ended,
                _ => Status::Open,
            },
        }
    }

    /// Whether callers of the API can see this meeting at all: rooms still being made or
    /// never made are ops' business.
    pub fn is_visible(&self) -> bool {
        matches!(self.state, State::Active | State::Deleted)
    }
}

/// A checked request for a new meeting.
#[derive(Debug, Clone)]
pub struct NewMeeting {
    pub name: String,
    pub kind: Kind,
    pub schedule: Option<Schedule>,
    pub owner_ref: String,
    pub created_by: String,
    pub description: Option<String>,
    pub embed: EmbedPlan,
    pub settings: Settings,
}

/// The first answer to a `POST /meetings` with an `Idempotency-Key`, kept for replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The caller's identity: keys are per caller.
    pub caller: String,
    pub key: String,
    /// SHA-256 of the request body, to refuse the same key with another body.
    pub request_hash: String,
    /// The meeting the first request creates.
    pub meeting_id: Uuid,
    /// The answer, once there is one.
    pub status: Option<u16>,
    pub body: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Which meetings to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only meetings this identity created (set for every caller but admins).
    pub created_by: Option<String>,
    pub owner_ref: Option<String>,
    pub kind: Option<Kind>,
    /// `None` lists every meeting callers can see except deleted ones.
    pub status: Option<Status>,
    pub starts_after: Option<DateTime<Utc>>,
    pub starts_before: Option<DateTime<Utc>>,
    /// Only meetings older (smaller id) than this one: the keyset cursor.
    pub before_id: Option<Uuid>,
    pub limit: u32,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Meeting>,
    /// The id to continue after, when there may be more.
    pub next: Option<Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meeting(schedule: Option<Schedule>, state: State) -> Meeting {
        let t = parse_instant("2026-11-29T00:00:00Z").expect("valid");
        Meeting {
            id: Uuid::now_v7(),
            room_id: Some("r".into()),
            kind: if schedule.is_some() {
                Kind::Scheduled
            } else {
                Kind::Permanent
            },
            name: "n".into(),
            description: None,
            owner_ref: "o".into(),
            created_by: "key:o".into(),
            embed: EmbedPlan::Premium,
            schedule,
            settings: Settings::default(),
            state,
            failure: None,
            created_at: t,
            updated_at: t,
            deleted_at: None,
            ended_at: None,
        }
    }

    #[test]
    fn a_scheduled_meeting_moves_from_scheduled_to_open_to_ended() {
        let start = parse_instant("2026-12-01T10:00:00Z").expect("valid");
        let m = meeting(Some(Schedule::from_stored(start, 30)), State::Active);
        let at = |t: &str| m.status(parse_instant(t).expect("valid"));
        assert_eq!(at("2026-12-01T09:44:59Z"), Status::Scheduled);
        assert_eq!(at("2026-12-01T09:45:00Z"), Status::Open);
        assert_eq!(at("2026-12-01T10:29:59Z"), Status::Open);
        assert_eq!(at("2026-12-01T10:30:00Z"), Status::Ended);
    }

    #[test]
    fn permanent_rooms_are_open_until_deleted() {
        let now = Utc::now();
        assert_eq!(meeting(None, State::Active).status(now), Status::Open);
        assert_eq!(meeting(None, State::Deleted).status(now), Status::Deleted);
        assert!(!meeting(None, State::Failed).is_visible());
        let swept = Meeting {
            ended_at: Some(now),
            ..meeting(None, State::Active)
        };
        assert_eq!(
            swept.status(now),
            Status::Ended,
            "an ad-hoc room EnableX removed is ended"
        );
    }

    #[test]
    fn text_enums_round_trip_and_name_the_choices() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(*kind));
        }
        let err = "weekly".parse::<Kind>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "'weekly' is not one of permanent, scheduled, adhoc"
        );
    }
}
