//! A meeting's room settings: what a caller may ask for, checked against EnableX's ranges,
//! and the normalised form with every default filled in.

use super::FieldError;
use serde::{Deserialize, Serialize};

/// Highest participant count roomgate passes on; EnableX's own limit depends on the plan.
pub const MAX_PARTICIPANTS: i64 = 1000;

/// The settings a caller sent; every key optional, unknown keys refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mode": "group", "moderators": 1, "participants": 3, "quality": "SD"}))]
pub struct SettingsInput {
    /// `group` or `lecture` (only moderators publish); fixed at creation.
    #[schema(example = "group")]
    pub mode: Option<String>,
    /// 1 to 5.
    #[schema(minimum = 1, maximum = 5)]
    pub moderators: Option<i64>,
    /// Participants besides moderators, 0 to 1000.
    #[schema(minimum = 0, maximum = 1000)]
    pub participants: Option<i64>,
    /// `HD`, `SD` or `LD`.
    #[schema(example = "SD")]
    pub quality: Option<String>,
    /// 1 to 16.
    #[schema(minimum = 1, maximum = 16)]
    pub max_active_talkers: Option<i64>,
    pub screen_share: Option<bool>,
    pub canvas: Option<bool>,
    pub abwd: Option<bool>,
    pub auto_recording: Option<bool>,
    pub wait_for_moderator: Option<bool>,
    pub knock: Option<bool>,
    /// `IN`, `SG`, `US` or `XX`.
    pub media_zone: Option<String>,
}

/// Normalised settings, as stored and returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Settings {
    pub mode: String,
    pub moderators: u32,
    pub participants: u32,
    pub quality: String,
    pub max_active_talkers: u32,
    pub screen_share: bool,
    pub canvas: bool,
    pub abwd: bool,
    pub auto_recording: bool,
    pub wait_for_moderator: bool,
    pub knock: bool,
    pub media_zone: String,
}

impl Default for Settings {
    /// EnableX's defaults, with roomgate's choices where EnableX leaves it to the plan.
    fn default() -> Self {
        Self {
            mode: "group".into(),
            moderators: 1,
            participants: 10,
            quality: "SD".into(),
            max_active_talkers: 6,
            screen_share: false,
            canvas: false,
            abwd: true,
            auto_recording: false,
            wait_for_moderator: false,
            knock: false,
            media_zone: "XX".into(),
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
        let defaults = self.clone();
        let mut one_of =
            |key: &str, value: Option<String>, allowed: &[&str], default: String| match value {
                None => default,
                Some(v) if allowed.contains(&v.as_str()) => v,
                Some(v) => {
                    errors.push(FieldError::new(
                        format!("settings.{key}"),
                        format!(
                            "'{}' is not one of {}",
                            v.chars().take(32).collect::<String>(),
                            allowed.join(", ")
                        ),
                    ));
                    default
                }
            };
        let mode = one_of("mode", input.mode, &["group", "lecture"], defaults.mode);
        let quality = one_of(
            "quality",
            input.quality,
            &["HD", "SD", "LD"],
            defaults.quality,
        );
        let media_zone = one_of(
            "media_zone",
            input.media_zone,
            &["IN", "SG", "US", "XX"],
            defaults.media_zone,
        );
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
            mode,
            quality,
            media_zone,
            moderators: within("moderators", input.moderators, 1, 5, defaults.moderators),
            participants: within(
                "participants",
                input.participants,
                0,
                MAX_PARTICIPANTS,
                defaults.participants,
            ),
            max_active_talkers: within(
                "max_active_talkers",
                input.max_active_talkers,
                1,
                16,
                defaults.max_active_talkers,
            ),
            screen_share: input.screen_share.unwrap_or(defaults.screen_share),
            canvas: input.canvas.unwrap_or(defaults.canvas),
            abwd: input.abwd.unwrap_or(defaults.abwd),
            auto_recording: input.auto_recording.unwrap_or(defaults.auto_recording),
            wait_for_moderator: input
                .wait_for_moderator
                .unwrap_or(defaults.wait_for_moderator),
            knock: input.knock.unwrap_or(defaults.knock),
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
            quality: "HD".into(),
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
            mode: Some("theatre".into()),
            moderators: Some(6),
            participants: Some(-1),
            quality: Some("4K".into()),
            max_active_talkers: Some(17),
            media_zone: Some("EU".into()),
            ..SettingsInput::default()
        };
        let errors = Settings::normalise(input).unwrap_err();
        let mut fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "settings.max_active_talkers",
                "settings.media_zone",
                "settings.mode",
                "settings.moderators",
                "settings.participants",
                "settings.quality"
            ]
        );
    }

    #[test]
    fn given_values_are_kept() {
        let input = SettingsInput {
            mode: Some("lecture".into()),
            moderators: Some(5),
            participants: Some(0),
            quality: Some("HD".into()),
            abwd: Some(false),
            ..SettingsInput::default()
        };
        let s = Settings::normalise(input).expect("valid");
        assert_eq!(
            (s.mode.as_str(), s.moderators, s.participants),
            ("lecture", 5, 0)
        );
        assert_eq!(s.quality, "HD");
        assert!(!s.abwd);
    }
}
