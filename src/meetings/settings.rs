//! A meeting's room settings: what a caller may ask for, checked against EnableX's ranges,
//! and the normalised form with every default filled in.

use super::{FieldError, MediaZone, Mode, Quality};

/// Highest participant count roomgate passes on; EnableX's own limit depends on the plan.
pub const MAX_PARTICIPANTS: i64 = 1000;

/// The settings a caller asked for, choices already read; every one optional. The numbers are
/// checked against EnableX's ranges by [`Settings::apply`].
#[derive(Debug, Clone, Default)]
pub struct SettingsInput {
    pub mode: Option<Mode>,
    pub moderators: Option<i64>,
    pub participants: Option<i64>,
    pub quality: Option<Quality>,
    pub max_active_talkers: Option<i64>,
    pub screen_share: Option<bool>,
    pub canvas: Option<bool>,
    pub abwd: Option<bool>,
    pub auto_recording: Option<bool>,
    pub wait_for_moderator: Option<bool>,
    pub knock: Option<bool>,
    pub media_zone: Option<MediaZone>,
}

/// A meeting's room settings, every default filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    pub moderators: u32,
    pub participants: u32,
    pub quality: Quality,
    pub max_active_talkers: u32,
    pub screen_share: bool,
    pub canvas: bool,
    pub abwd: bool,
    pub auto_recording: bool,
    pub wait_for_moderator: bool,
    pub knock: bool,
    pub media_zone: MediaZone,
}

impl Default for Settings {
    /// EnableX's defaults, with roomgate's choices where EnableX leaves it to the plan.
    fn default() -> Self {
        Self {
            mode: Mode::Group,
            moderators: 1,
            participants: 10,
            quality: Quality::Sd,
            max_active_talkers: 6,
            screen_share: false,
            canvas: false,
            abwd: true,
            auto_recording: false,
            wait_for_moderator: false,
            knock: false,
            media_zone: MediaZone::Any,
        }
    }
}

impl Settings {
    /// Checks `input` against EnableX's ranges and fills in defaults. Field names in errors are
    /// `settings.<key>`.
    pub fn normalise(input: SettingsInput) -> Result<Self, Vec<FieldError>> {
        Settings::default().apply(input)
    }

    /// These settings with `input`'s values laid over them, checked the same way.
    pub fn apply(&self, input: SettingsInput) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut within =
            |key: &str, value: Option<i64>, min: i64, max: i64, default: u32| match value {
                None => default,
                Some(v) if (min..=max).contains(&v) => u32::try_from(v).unwrap_or(default),
                Some(_) => {
                    errors.push(FieldError::new(
                        format!("settings.{key}"),
                        format!("must be between {min} and {max}"),
                    ));
                    default
                }
            };
        let settings = Settings {
            mode: input.mode.unwrap_or(self.mode),
            quality: input.quality.unwrap_or(self.quality),
            media_zone: input.media_zone.unwrap_or(self.media_zone),
            moderators: within("moderators", input.moderators, 1, 5, self.moderators),
            participants: within(
                "participants",
                input.participants,
                0,
                MAX_PARTICIPANTS,
                self.participants,
            ),
            max_active_talkers: within(
                "max_active_talkers",
                input.max_active_talkers,
                1,
                16,
                self.max_active_talkers,
            ),
            screen_share: input.screen_share.unwrap_or(self.screen_share),
            canvas: input.canvas.unwrap_or(self.canvas),
            abwd: input.abwd.unwrap_or(self.abwd),
            auto_recording: input.auto_recording.unwrap_or(self.auto_recording),
            wait_for_moderator: input.wait_for_moderator.unwrap_or(self.wait_for_moderator),
            knock: input.knock.unwrap_or(self.knock),
        };
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_keeps_what_is_not_given() {
        let base = Settings {
            quality: Quality::Hd,
            moderators: 3,
            ..Settings::default()
        };
        let changed = base
            .apply(SettingsInput {
                moderators: Some(2),
                ..SettingsInput::default()
            })
            .expect("valid");
        assert_eq!((changed.quality.as_str(), changed.moderators), ("HD", 2));
    }

    #[test]
    fn empty_input_gives_the_defaults() {
        assert_eq!(
            Settings::normalise(SettingsInput::default()),
            Ok(Settings::default())
        );
    }

    #[test]
    fn every_out_of_range_value_is_named() {
        let input = SettingsInput {
            moderators: Some(6),
            participants: Some(-1),
            max_active_talkers: Some(17),
            ..SettingsInput::default()
        };
        let errors = Settings::normalise(input).unwrap_err();
        let mut fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "settings.max_active_talkers",
                "settings.moderators",
                "settings.participants",
            ]
        );
    }

    #[test]
    fn given_values_are_kept() {
        let input = SettingsInput {
            mode: Some(Mode::Lecture),
            moderators: Some(5),
            participants: Some(0),
            quality: Some(Quality::Hd),
            abwd: Some(false),
            ..SettingsInput::default()
        };
        let s = Settings::normalise(input).expect("valid");
        assert_eq!(
            (s.mode.as_str(), s.moderators, s.participants),
            ("lecture", 5, 0)
        );
        assert_eq!(s.quality, Quality::Hd);
        assert!(!s.abwd);
    }
}
