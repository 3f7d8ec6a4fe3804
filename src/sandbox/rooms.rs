//! The sandbox's room API: create, read, list, change and delete rooms, live users, tokens.

use super::{Room, Sandbox};
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{Duration, NaiveDateTime, Utc};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};

use super::validate::{Answer, Refusal, TIME_FORMAT, check_settings, ok, refuse, reject};

/// Checks `Authorization: Basic base64(APP_ID:APP_KEY)` on every API call.
pub(crate) async fn require_basic_auth(
    State(sandbox): State<Sandbox>,
    request: Request,
    next: Next,
) -> Response {
    let expected = STANDARD.encode(format!(
        "{}:{}",
        sandbox.config.app_id,
        sandbox.config.app_key.expose_secret()
    ));
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    if given != Some(expected.as_str()) {
        return refuse(
            401,
            10000,
            "Unauthorized",
            "Application not found or key mismatch",
        )
        .into_response();
    }
    next.run(request).await
}

pub(crate) async fn unknown_route() -> Refusal {
    refuse(404, 404, "Not Found", "No such API route")
}

fn read_object(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Value>, Refusal> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return Err(refuse(
            415,
            10010,
            "Invalid Content-Type",
            "Send application/json",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(refuse(
            400,
            10010,
            "Invalid JSON",
            "The body is not a JSON object",
        )),
    }
}

pub(crate) async fn create(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let status = sandbox.config.refusal_status;
    let mut body = read_object(&headers, &body)?;
    if body
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(|n| n.trim().is_empty())
    {
        return reject(status, 10002, "Invalid Name", "Room name is missing");
    }
    if !body.get("owner_ref").is_some_and(Value::is_string) {
        return reject(
            status,
            10010,
            "Required Data Missing",
            "owner_ref is required",
        );
    }
    let settings = match body.get("settings") {
        None => Map::new(),
        Some(Value::Object(settings)) => settings.clone(),
        Some(_) => return reject(status, 10010, "Invalid Data", "settings must be an object"),
    };
    check_settings(&sandbox, &settings, true)?;
    if body.get("data").is_some_and(|d| !d.is_object()) {
        return reject(status, 10010, "Invalid Data", "data must be an object");
    }
    let room_id = uuid::Uuid::new_v4().simple().to_string()[..24].to_owned();
    body.insert("room_id".into(), json!(room_id));
    body.insert(
        "created".into(),
        json!(Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
    );
    body.insert("settings".into(), Value::Object(settings));
    let room = Value::Object(body);
    sandbox
        .counters
        .rooms_created
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    sandbox.rooms.insert(
        room_id,
        Room {
            json: room.clone(),
            live_users: 0,
        },
    );
    ok(Map::from_iter([("room".to_owned(), room)]))
}

fn not_found(room_id: &str) -> Answer {
    reject(
        404,
        4001,
        "Room Not Found",
        format!("No room with id {room_id}"),
    )
}

pub(crate) async fn get_one(State(sandbox): State<Sandbox>, Path(room_id): Path<String>) -> Answer {
    match sandbox.rooms.of(&room_id).get(&room_id) {
        Some(room) => ok(Map::from_iter([("room".to_owned(), room.json.clone())])),
        None => not_found(&room_id),
    }
}

pub(crate) async fn update(
    State(sandbox): State<Sandbox>,
    Path(room_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let patch = read_object(&headers, &body)?;
    let patch_settings = match patch.get("settings") {
        None => Map::new(),
        Some(Value::Object(s)) => s.clone(),
        Some(_) => {
            return reject(
                sandbox.config.refusal_status,
                10010,
                "Invalid Data",
                "settings must be an object",
            );
        }
    };
    check_settings(&sandbox, &patch_settings, false)?;
    let mut rooms = sandbox.rooms.of(&room_id);
    let Some(room) = rooms.get_mut(&room_id) else {
        return not_found(&room_id);
    };
    for key in ["name", "owner_ref"] {
        if let Some(value) = patch.get(key) {
            room.json[key] = value.clone();
        }
    }
    if let Some(settings) = room.json["settings"].as_object_mut() {
        settings.extend(patch_settings);
    }
    ok(Map::new())
}

pub(crate) async fn delete(State(sandbox): State<Sandbox>, Path(room_id): Path<String>) -> Answer {
    let mut rooms = sandbox.rooms.of(&room_id);
    match rooms.get(&room_id) {
        None => not_found(&room_id),
        Some(room) if room.live_users > 0 => reject(
            409,
            4005,
            "Room In Use",
            "A session is running in this room",
        ),
        Some(_) => {
            rooms.remove(&room_id);
            ok(Map::new())
        }
    }
}

pub(crate) async fn users(State(sandbox): State<Sandbox>, Path(room_id): Path<String>) -> Answer {
    let Some(count) = sandbox
        .rooms
        .of(&room_id)
        .get(&room_id)
        .map(|r| r.live_users)
    else {
        return not_found(&room_id);
    };
    let users: Vec<Value> = (1..=count)
        .map(|i| json!({ "name": format!("sandbox user {i}"), "role": "participant" }))
        .collect();
    ok(Map::from_iter([
        ("total".to_owned(), json!(count)),
        ("users".to_owned(), json!(users)),
    ]))
}

pub(crate) async fn token(
    State(sandbox): State<Sandbox>,
    Path(room_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let status = sandbox.config.refusal_status;
    let body = read_object(&headers, &body)?;
    let text = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let (Some(name), Some(role), Some(user_ref)) = (text("name"), text("role"), text("user_ref"))
    else {
        return reject(
            status,
            10010,
            "Required Data Missing",
            "name, role and user_ref are required",
        );
    };
    if !["moderator", "participant", "viewer"].contains(&role) {
        return reject(
            status,
            10010,
            "Invalid Role",
            "role must be moderator, participant or viewer",
        );
    }
    let Some(room) = sandbox
        .rooms
        .of(&room_id)
        .get(&room_id)
        .map(|r| r.json.clone())
    else {
        return not_found(&room_id);
    };
    let opens = room["settings"]["scheduled_time"]
        .as_str()
        .and_then(|t| NaiveDateTime::parse_from_str(t, TIME_FORMAT).ok())
        .map(|t| t.and_utc() - Duration::minutes(15));
    if opens.is_some_and(|opens| Utc::now() < opens) {
        return reject(
            status,
            10010,
            "Too Early",
            "Tokens are issued from 15 minutes before the start",
        );
    }
    let claims = json!({
        "room_id": room_id, "name": name, "role": role, "user_ref": user_ref,
        "exp": (Utc::now() + Duration::minutes(15)).timestamp(), "sandbox": true,
    });
    let token = [
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(b"sandbox"),
    ]
    .join(".");
    ok(Map::from_iter([("token".to_owned(), json!(token))]))
}

/// Sandbox-only control: `{"users": N}` puts N people into the room's live session.
pub(crate) async fn set_live(
    State(sandbox): State<Sandbox>,
    Path(room_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let body = read_object(&headers, &body)?;
    let Some(users) = body.get("users").and_then(Value::as_u64) else {
        return reject(
            400,
            10010,
            "Invalid Data",
            "users must be a non-negative number",
        );
    };
    match sandbox.rooms.of(&room_id).get_mut(&room_id) {
        Some(room) => {
            room.live_users = users;
            ok(Map::new())
        }
        None => not_found(&room_id),
    }
}
