//! A meeting's settings as the stored JSON: the domain's [`Settings`] has no serde of its own,
//! so the API and the database can each keep their shape.

use super::{StoreError, bad};
use crate::meetings::Settings;
use serde::{Deserialize, Serialize};

/// A meeting's settings as stored: the JSON every row has held since the first migration.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredSettings {
    mode: String,
    moderators: u32,
    participants: u32,
    quality: String,
    max_active_talkers: u32,
    screen_share: bool,
    canvas: bool,
    abwd: bool,
    auto_recording: bool,
    wait_for_moderator: bool,
    knock: bool,
    media_zone: String,
}

impl StoredSettings {
    pub(super) fn from_domain(s: &Settings) -> Box<serde_json::value::RawValue> {
        let stored = StoredSettings {
            mode: s.mode.as_str().to_owned(),
            moderators: s.moderators,
            participants: s.participants,
            quality: s.quality.as_str().to_owned(),
            max_active_talkers: s.max_active_talkers,
            screen_share: s.screen_share,
            canvas: s.canvas,
            abwd: s.abwd,
            auto_recording: s.auto_recording,
            wait_for_moderator: s.wait_for_moderator,
            knock: s.knock,
            media_zone: s.media_zone.as_str().to_owned(),
        };
        // Strings, numbers and booleans: serialising cannot fail.
        serde_json::value::to_raw_value(&stored)
            .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned())
    }

    pub(super) fn into_domain(self) -> Result<Settings, StoreError> {
        Ok(Settings {
            mode: self.mode.parse().map_err(|e| bad("settings.mode", e))?,
            moderators: self.moderators,
            participants: self.participants,
            quality: self
                .quality
                .parse()
                .map_err(|e| bad("settings.quality", e))?,
            max_active_talkers: self.max_active_talkers,
            screen_share: self.screen_share,
            canvas: self.canvas,
            abwd: self.abwd,
            auto_recording: self.auto_recording,
            wait_for_moderator: self.wait_for_moderator,
            knock: self.knock,
            media_zone: self
                .media_zone
                .parse()
                .map_err(|e| bad("settings.media_zone", e))?,
        })
    }
}
