//! Room settings as the API takes and shows them, and the field checks the request bodies share.

use crate::meetings::{FieldError, Settings, SettingsInput};
use serde::{Deserialize, Serialize};
use std::fmt::Display;
use std::str::FromStr;
use utoipa::ToSchema;

/// The settings a caller sent; every key optional, unknown keys refused.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"mode": "group", "moderators": 1, "participants": 3, "quality": "SD"}))]
pub struct SettingsBody {
    /// `group` or `lecture` (only moderators publish); fixed at creation.
    #[schema(example = "group")]
    mode: Option<String>,
    /// 1 to 5.
    #[schema(minimum = 1, maximum = 5)]
    moderators: Option<i64>,
    /// Participants besides moderators, 0 to 1000.
    #[schema(minimum = 0, maximum = 1000)]
    participants: Option<i64>,
    /// `HD`, `SD` or `LD`.
    #[schema(example = "SD")]
    quality: Option<String>,
    /// 1 to 16.
    #[schema(minimum = 1, maximum = 16)]
    max_active_talkers: Option<i64>,
    screen_share: Option<bool>,
    canvas: Option<bool>,
    abwd: Option<bool>,
    auto_recording: Option<bool>,
    wait_for_moderator: Option<bool>,
    knock: Option<bool>,
    /// `IN`, `SG`, `US` or `XX`.
    media_zone: Option<String>,
}

impl SettingsBody {
    /// Reads the choices, naming each one that is not allowed (`settings.<key>`).
    pub(super) fn read(self, errors: &mut Vec<FieldError>) -> SettingsInput {
        SettingsInput {
            mode: choice("settings.mode", self.mode.as_deref(), errors),
            quality: choice("settings.quality", self.quality.as_deref(), errors),
            media_zone: choice("settings.media_zone", self.media_zone.as_deref(), errors),
            moderators: self.moderators,
            participants: self.participants,
            max_active_talkers: self.max_active_talkers,
            screen_share: self.screen_share,
            canvas: self.canvas,
            abwd: self.abwd,
            auto_recording: self.auto_recording,
            wait_for_moderator: self.wait_for_moderator,
            knock: self.knock,
        }
    }
}

/// A meeting's settings as answered, every default filled in.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsView {
    mode: &'static str,
    moderators: u32,
    participants: u32,
    quality: &'static str,
    max_active_talkers: u32,
    screen_share: bool,
    canvas: bool,
    abwd: bool,
    auto_recording: bool,
    wait_for_moderator: bool,
    knock: bool,
    media_zone: &'static str,
}

impl From<&Settings> for SettingsView {
    fn from(s: &Settings) -> Self {
        Self {
            mode: s.mode.as_str(),
            moderators: s.moderators,
            participants: s.participants,
            quality: s.quality.as_str(),
            max_active_talkers: s.max_active_talkers,
            screen_share: s.screen_share,
            canvas: s.canvas,
            abwd: s.abwd,
            auto_recording: s.auto_recording,
            wait_for_moderator: s.wait_for_moderator,
            knock: s.knock,
            media_zone: s.media_zone.as_str(),
        }
    }
}

/// Optional text: trimmed; blank counts as absent; at most `max` characters; no control
/// characters.
pub(super) fn optional_text(
    field: &str,
    value: Option<String>,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let value = value?.trim().to_owned();
    if value.is_empty() {
        return None;
    }
    if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
    } else if value.chars().any(crate::meetings::is_invisible_format) {
        errors.push(FieldError::new(
            field,
            "must not contain invisible formatting characters (such as a bidirectional override)",
        ));
    }
    Some(value)
}

/// Parses a text choice, or records why not.
pub(super) fn choice<T: FromStr<Err: Display>>(
    field: &str,
    value: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    value?
        .parse()
        .map_err(|e: T::Err| errors.push(FieldError::new(field, e.to_string())))
        .ok()
}
