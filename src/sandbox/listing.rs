//! `GET /rooms` at scale: the sandbox can hold and list 100,000 rooms, be seeded with them in
//! one call, page its listing, and get its listing wrong on purpose (cut off mid-body, short of
//! the `total` it claims, or silently missing rooms that `GET /rooms/{id}` still finds), so the
//! background jobs' handling of each can be tested.

use super::validate::Answer;
use super::{Room, Sandbox};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashSet;

/// How the listing behaves (`PUT /_sandbox/listing`; `{}` restores a plain listing).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Listing {
    /// Answer in pages of this many rooms, with `total`, `page` and `pages`; `?page=N` (from 1)
    /// asks for another.
    pub page_size: Option<usize>,
    /// End the body (and close the connection) after this many rooms: a listing that fails
    /// part-way.
    pub cut_after: Option<usize>,
    /// Leave out the last this-many rooms while `total` still counts them: a listing cut short.
    pub short_by: usize,
    /// Rooms the listing leaves out without a word (their own `GET` still finds them).
    pub hide: Vec<String>,
}

/// `POST /_sandbox/seed` body: makes `count` rooms at once. Room `i` (from 0) has the id
/// `{prefix}{i:08}` and carries the roomgate meeting id `00000000-0000-7000-8000-{i:012}`, so
/// a benchmark can write the matching meeting rows with one SQL statement.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    pub count: usize,
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Make ad-hoc rooms (default permanent).
    #[serde(default)]
    pub adhoc: bool,
}

fn default_prefix() -> String {
    "seed".into()
}

/// The meeting id room `i` of a seed carries.
pub fn seeded_meeting_id(i: usize) -> String {
    format!("00000000-0000-7000-8000-{i:012}")
}

pub(crate) async fn seed(State(sandbox): State<Sandbox>, Json(seed): Json<Seed>) -> Response {
    if seed.count > 1_000_000 {
        return (StatusCode::UNPROCESSABLE_ENTITY, "count: at most 1,000,000").into_response();
    }
    let created = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    for i in 0..seed.count {
        let room_id = format!("{}{i:08}", seed.prefix);
        let json = json!({
            "room_id": room_id, "name": format!("Seeded {i}"), "owner_ref": "seed",
            "created": created,
            "settings": {"mode": "group", "scheduled": false, "adhoc": seed.adhoc,
                         "moderators": "1", "participants": "10", "quality": "SD"},
            "data": {"roomgate_meeting_id": seeded_meeting_id(i)},
        });
        sandbox.rooms.insert(
            room_id,
            Room {
                json,
                live_users: 0,
            },
        );
    }
    Json(json!({ "rooms": sandbox.rooms.len() })).into_response()
}

pub(crate) async fn current(State(sandbox): State<Sandbox>) -> Json<Listing> {
    Json(sandbox.listing().clone())
}

pub(crate) async fn replace(
    State(sandbox): State<Sandbox>,
    Json(listing): Json<Listing>,
) -> Json<Listing> {
    *sandbox.listing() = listing.clone();
    Json(listing)
}

#[derive(Debug, Deserialize)]
pub(crate) struct PageQuery {
    page: Option<usize>,
}

/// `GET /rooms`: every room, oldest first, as `{"result":0,"rooms":[...]}` (paged, cut or
/// thinned as [`Listing`] says).
pub(crate) async fn list(State(sandbox): State<Sandbox>, Query(query): Query<PageQuery>) -> Answer {
    let listing = sandbox.listing().clone();
    let hidden: HashSet<&str> = listing.hide.iter().map(String::as_str).collect();
    let mut rooms: Vec<(String, String)> = sandbox.rooms.collect(|r| {
        if hidden.contains(r.json["room_id"].as_str().unwrap_or_default()) {
            return None;
        }
        let created = r.json["created"].as_str().unwrap_or_default().to_owned();
        Some((created, r.json.to_string()))
    });
    rooms.sort_unstable();
    let total = rooms.len();
    let (page, pages, range) = match listing.page_size {
        Some(size) if size > 0 => {
            let pages = total.div_ceil(size).max(1);
            let page = query.page.unwrap_or(1).clamp(1, pages);
            let start = (page - 1) * size;
            (Some(page), Some(pages), start..(start + size).min(total))
        }
        _ => (None, None, 0..total),
    };
    let shown = range.end.saturating_sub(listing.short_by).max(range.start);
    let mut body = String::with_capacity(64 + rooms.len() * 256);
    body.push_str("{\"result\":0,\"rooms\":[");
    let mut cut = false;
    for (n, (_, json)) in rooms[range.start..shown].iter().enumerate() {
        if listing.cut_after == Some(n) {
            cut = true;
            break;
        }
        if n > 0 {
            body.push(',');
        }
        body.push_str(json);
    }
    if cut {
        // Half an answer, then the connection closes: the client sees a broken body.
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(Bytes::from(body)),
            Err(std::io::Error::other("sandbox listing cut off")),
        ];
        return Ok(Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from_stream(futures_util::stream::iter(chunks)))
            .unwrap_or_default());
    }
    body.push(']');
    if listing.page_size.is_some() || listing.short_by > 0 {
        body.push_str(&format!(",\"total\":{total}"));
    }
    if let (Some(page), Some(pages)) = (page, pages) {
        body.push_str(&format!(",\"page\":{page},\"pages\":{pages}"));
    }
    body.push('}');
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_default())
}
