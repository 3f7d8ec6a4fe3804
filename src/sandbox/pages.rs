//! Placeholder pages at the embed paths, so an embed URL opens to something in sandbox mode.

use super::Sandbox;
use crate::meetings::moderator_hash;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::HashMap;

pub(crate) async fn index() -> Html<String> {
    page(
        "roomgate sandbox",
        "<p>This is roomgate's EnableX sandbox. Rooms here are simulated: no video runs.</p>",
    )
}

pub(crate) async fn participant(
    State(sandbox): State<Sandbox>,
    Path(room_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, Html<String>) {
    room_page(&sandbox, &room_id, "participant", &query)
}

pub(crate) async fn moderator(
    State(sandbox): State<Sandbox>,
    Path(hash): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, Html<String>) {
    let decoded = STANDARD
        .decode(hash.as_bytes())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let room_id = decoded
        .as_deref()
        .and_then(|text| text.rsplit_once('-'))
        .filter(|(room, app)| *app == sandbox.config.app_id && moderator_hash(room, app) == hash)
        .map(|(room, _)| room.to_owned());
    match room_id {
        Some(room_id) => room_page(&sandbox, &room_id, "moderator", &query),
        None => (
            StatusCode::NOT_FOUND,
            page(
                "Not a moderator link",
                "<p>This host link is not valid.</p>",
            ),
        ),
    }
}

fn room_page(
    sandbox: &Sandbox,
    room_id: &str,
    role: &str,
    query: &HashMap<String, String>,
) -> (StatusCode, Html<String>) {
    let name = sandbox
        .rooms
        .of(room_id)
        .get(room_id)
        .map(|room| room.json["name"].as_str().unwrap_or_default().to_owned());
    match name {
        None => (
            StatusCode::NOT_FOUND,
            page(
                "No such room",
                "<p>The sandbox has no room with this id.</p>",
            ),
        ),
        Some(name) => {
            let who = query
                .get("name")
                .map(String::as_str)
                .unwrap_or("(not given)");
            let body = format!(
                "<h1>{}</h1><p>Simulated room <code>{}</code>.</p>\
                 <p>You would join as <strong>{}</strong>, named <strong>{}</strong>.</p>",
                escape(&name),
                escape(room_id),
                role,
                escape(who)
            );
            (StatusCode::OK, page(&format!("{name} (sandbox)"), &body))
        }
    }
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body>{body}</body></html>",
        escape(title)
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
