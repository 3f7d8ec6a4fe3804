//! EnableX's checks on room settings, its error codes and its envelopes.

use super::Sandbox;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDateTime, Utc};
use serde_json::{Map, Value, json};

/// `scheduled_time`'s format: `YYYY-MM-DD HH:MM:SS`, UTC.
pub(crate) const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// The settings keys EnableX knows.
const SETTINGS_KEYS: &[&str] = &[
    "description",
    "mode",
    "scheduled",
    "adhoc",
    "scheduled_time",
    "duration",
    "moderators",
    "participants",
    "quality",
    "max_active_talkers",
    "screen_share",
    "canvas",
    "abwd",
    "auto_recording",
    "knock",
    "wait_for_moderator",
    "watermark",
    "media_zone",
    "billing_code",
];
/// Settings fixed at creation.
const FIXED_KEYS: &[&str] = &["mode", "scheduled", "adhoc"];

/// A refusal in EnableX's classic envelope: `{"result": code, "error", "desc"}`.
pub(crate) struct Refusal {
    status: u16,
    code: u32,
    error: &'static str,
    desc: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = json!({ "result": self.code, "error": self.error, "desc": self.desc });
        (status, Json(body)).into_response()
    }
}

/// The same refusal as the error of a handler's result.
pub(crate) fn reject<T>(
    status: u16,
    code: u32,
    error: &'static str,
    desc: impl Into<String>,
) -> Result<T, Refusal> {
    Err(refuse(status, code, error, desc))
}

pub(crate) fn refuse(
    status: u16,
    code: u32,
    error: &'static str,
    desc: impl Into<String>,
) -> Refusal {
    Refusal {
        status,
        code,
        error,
        desc: desc.into(),
    }
}

pub(crate) type Answer = Result<Response, Refusal>;

pub(crate) fn ok(mut body: Map<String, Value>) -> Answer {
    body.insert("result".into(), json!(0));
    Ok(Json(Value::Object(body)).into_response())
}

/// A whole number given as a JSON number or a numeric string.
pub(crate) fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A boolean given as a JSON bool or as `"true"`/`"false"`.
fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => None,
    }
}

/// Checks one settings object the way EnableX does, returning the first refusal.
pub(crate) fn check_settings(
    sandbox: &Sandbox,
    settings: &Map<String, Value>,
    creating: bool,
) -> Result<(), Refusal> {
    let status = sandbox.config.refusal_status;
    if let Some(key) = settings
        .keys()
        .find(|k| !SETTINGS_KEYS.contains(&k.as_str()))
    {
        return Err(refuse(
            status,
            10009,
            "Invalid Settings",
            format!("Unknown settings key: {key}"),
        ));
    }
    if !creating && let Some(key) = settings.keys().find(|k| FIXED_KEYS.contains(&k.as_str())) {
        return Err(refuse(
            status,
            10009,
            "Invalid Settings",
            format!("{key} cannot be changed"),
        ));
    }
    let invalid = |desc: String| Err(refuse(status, 10010, "Invalid Data", desc));
    let scheduled = match settings.get("scheduled") {
        None => false,
        Some(v) => match boolean(v) {
            Some(b) => b,
            None => {
                return Err(refuse(
                    status,
                    10003,
                    "Invalid Scheduled",
                    "scheduled must be true or false",
                ));
            }
        },
    };
    let adhoc = settings.get("adhoc").map(boolean);
    if adhoc == Some(None) || (scheduled && adhoc == Some(Some(true))) {
        return invalid("adhoc must be a boolean and only with scheduled:false".into());
    }
    if scheduled && creating {
        let Some(time) = settings.get("scheduled_time") else {
            return Err(refuse(
                status,
                10004,
                "Missing Scheduled Time",
                "scheduled_time is required",
            ));
        };
        let parsed = time
            .as_str()
            .and_then(|t| NaiveDateTime::parse_from_str(t, TIME_FORMAT).ok());
        let Some(parsed) = parsed else {
            return Err(refuse(
                status,
                10005,
                "Invalid Scheduled Time",
                "Use YYYY-MM-DD HH:MM:SS in UTC",
            ));
        };
        if parsed.and_utc() <= Utc::now() {
            return Err(refuse(
                status,
                10006,
                "Invalid Scheduled Time",
                "scheduled_time is in the past",
            ));
        }
        if settings
            .get("duration")
            .and_then(int)
            .is_none_or(|d| d <= 0)
        {
            return invalid("duration is required for a scheduled room".into());
        }
    }
    if let Some(v) = settings.get("participants")
        && int(v).is_none_or(|n| n < 0)
    {
        return Err(refuse(
            status,
            10007,
            "Invalid Participants",
            "participants must be a non-negative number",
        ));
    }
    if let Some(v) = settings.get("auto_recording")
        && boolean(v).is_none()
    {
        return Err(refuse(
            status,
            10008,
            "Invalid Auto Recording",
            "auto_recording must be a boolean",
        ));
    }
    let ranges = [
        ("moderators", 1, 5),
        ("max_active_talkers", 1, 16),
        ("duration", 1, 100_000),
    ];
    for (key, min, max) in ranges {
        if let Some(v) = settings.get(key)
            && !int(v).is_some_and(|n| (min..=max).contains(&n))
        {
            return invalid(format!("{key} must be between {min} and {max}"));
        }
    }
    let choices: [(&str, &[&str]); 3] = [
        ("mode", &["group", "lecture"]),
        ("quality", &["HD", "SD", "LD"]),
        ("media_zone", &["IN", "SG", "US", "XX"]),
    ];
    for (key, allowed) in choices {
        if let Some(v) = settings.get(key)
            && !v.as_str().is_some_and(|s| allowed.contains(&s))
        {
            return invalid(format!("{key} must be one of {}", allowed.join(", ")));
        }
    }
    Ok(())
}
