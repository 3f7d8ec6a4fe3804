//! The JSON EnableX takes and gives, as far as roomgate uses it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /rooms` body.
#[derive(Debug, Clone, Serialize)]
pub struct CreateRoom {
    pub name: String,
    pub owner_ref: String,
    pub settings: RoomSettings,
    pub sip: Sip,
    /// Free-form; roomgate puts its meeting id here so a lost answer can be found again.
    pub data: RoomData,
}

/// The `sip` object of a create body.
#[derive(Debug, Clone, Serialize)]
pub struct Sip {
    pub enabled: bool,
}

/// What roomgate stores in a room's `data`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoomData {
    /// The roomgate meeting this room belongs to.
    pub roomgate_meeting_id: String,
}

/// A room's settings. Numbers are sent as JSON numbers; optional keys are left out.
#[derive(Debug, Clone, Serialize)]
pub struct RoomSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub mode: String,
    pub scheduled: bool,
    pub adhoc: bool,
    /// `YYYY-MM-DD HH:MM:SS` in UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<u32>,
    pub moderators: u32,
    pub participants: u32,
    pub quality: String,
    pub max_active_talkers: u32,
    pub screen_share: bool,
    pub canvas: bool,
    pub abwd: bool,
    pub auto_recording: bool,
    pub knock: bool,
    pub wait_for_moderator: bool,
    pub media_zone: String,
}

/// A room as EnableX returns it. Everything but the id is optional: EnableX may trim its echo.
#[derive(Debug, Clone, Deserialize)]
pub struct Room {
    pub room_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub owner_ref: Option<String>,
    #[serde(default)]
    pub settings: Option<Value>,
    #[serde(default)]
    pub data: Option<Value>,
    #[serde(default)]
    pub created: Option<String>,
}

impl Room {
    /// The roomgate meeting id carried in the room's `data`, if any.
    pub fn roomgate_meeting_id(&self) -> Option<&str> {
        self.data.as_ref()?.get("roomgate_meeting_id")?.as_str()
    }
}

/// `POST /rooms/{room_id}/tokens` body.
#[derive(Debug, Clone, Serialize)]
pub struct TokenRequest {
    pub name: String,
    /// `moderator`, `participant` or `viewer`.
    pub role: String,
    pub user_ref: String,
}
