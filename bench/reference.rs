//! The two-write reference for `scripts/bench.sh` (issue 11): the least a crash-safe create
//! can do, to measure roomgate against in the same run.
//!
//! `POST /meetings`: one row inserted and committed, one upstream `POST {ENABLEX_API_URL}/rooms`
//! with Basic auth, the row updated with the room id and committed, 201. `GET /meetings/{id}`:
//! one SELECT by primary key, 200. One pooled `reqwest::Client`, one `PgPool` of 10 connections
//! (roomgate's default), and nothing else: no authentication, no validation, no limits, no
//! retries, no logging. Every statement is a single autocommitted, prepared statement.
//!
//! ```sh
//! cargo build --release --locked --examples
//! DATABASE_URL=postgres://… LISTEN=127.0.0.1:8081 ENABLEX_API_URL=http://127.0.0.1:8080/video/v1 \
//!   ENABLEX_APP_ID=… ENABLEX_APP_KEY=… target/release/examples/reference
//! ```

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::sync::Arc;
use uuid::Uuid;

struct App {
    db: PgPool,
    http: reqwest::Client,
    rooms_url: String,
    app_id: String,
    app_key: String,
}

type Shared = State<Arc<App>>;

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

fn fail(status: StatusCode, what: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": what.to_string() }))).into_response()
}

async fn create(State(app): Shared) -> Response {
    let id = Uuid::now_v7();
    let name = "Bench";
    let now = Utc::now();
    // Write 1: the row exists (and is committed) before EnableX is asked, so a crash after the
    // upstream call leaves a record to reconcile.
    if let Err(e) = sqlx::query(
        "INSERT INTO reference_meetings (id, name, state, room_id, created_at, updated_at) \
         VALUES ($1, $2, 'provisioning', NULL, $3, $3)",
    )
    .bind(id)
    .bind(name)
    .bind(now)
    .execute(&app.db)
    .await
    {
        return fail(StatusCode::INTERNAL_SERVER_ERROR, e);
    }
    // The one upstream call, with a body shaped like EnableX's create body (roomgate's defaults).
    let body = json!({
        "name": name,
        "owner_ref": id.to_string(),
        "settings": {
            "mode": "group", "scheduled": false, "adhoc": false, "moderators": 1,
            "participants": 10, "quality": "SD", "max_active_talkers": 6,
            "screen_share": false, "canvas": false, "abwd": true, "auto_recording": false,
            "knock": false, "wait_for_moderator": false, "media_zone": "XX"
        },
        "sip": { "enabled": false },
        "data": { "roomgate_meeting_id": id.to_string() }
    });
    let answer = app
        .http
        .post(&app.rooms_url)
        .basic_auth(&app.app_id, Some(&app.app_key))
        .json(&body)
        .send()
        .await;
    let room: Value = match answer {
        Ok(r) if r.status().is_success() => match r.json().await {
            Ok(v) => v,
            Err(e) => return fail(StatusCode::BAD_GATEWAY, e),
        },
        Ok(r) => return fail(StatusCode::BAD_GATEWAY, r.status()),
        Err(e) => return fail(StatusCode::BAD_GATEWAY, e),
    };
    let Some(room_id) = room["room"]["room_id"].as_str() else {
        return fail(
            StatusCode::BAD_GATEWAY,
            "no room.room_id in EnableX's answer",
        );
    };
    // Write 2: the room id, committed before the answer.
    if let Err(e) = sqlx::query(
        "UPDATE reference_meetings SET state = 'active', room_id = $2, updated_at = $3 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(room_id)
    .bind(Utc::now())
    .execute(&app.db)
    .await
    {
        return fail(StatusCode::INTERNAL_SERVER_ERROR, e);
    }
    let answer = json!({ "id": id, "name": name, "state": "active", "room_id": room_id });
    (StatusCode::CREATED, Json(answer)).into_response()
}

type Row = (
    Uuid,
    String,
    String,
    Option<String>,
    DateTime<Utc>,
    DateTime<Utc>,
);

async fn read(State(app): Shared, Path(id): Path<Uuid>) -> Response {
    let row: Result<Option<Row>, _> = sqlx::query_as(
        "SELECT id, name, state, room_id, created_at, updated_at \
         FROM reference_meetings WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&app.db)
    .await;
    match row {
        Ok(Some((id, name, state, room_id, created_at, updated_at))) => Json(json!({
            "id": id, "name": name, "state": state, "room_id": room_id,
            "created_at": created_at, "updated_at": updated_at
        }))
        .into_response(),
        Ok(None) => fail(StatusCode::NOT_FOUND, "no such meeting"),
        Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn run() -> Result<(), String> {
    let listen = env("LISTEN")?;
    let db = PgPoolOptions::new()
        .max_connections(10)
        .connect(&env("DATABASE_URL")?)
        .await
        .map_err(|e| format!("DATABASE_URL: {e}"))?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS reference_meetings (id uuid PRIMARY KEY, name text NOT NULL, \
         state text NOT NULL, room_id text, created_at timestamptz NOT NULL, \
         updated_at timestamptz NOT NULL)",
    )
    .execute(&db)
    .await
    .map_err(|e| format!("creating reference_meetings: {e}"))?;
    let app = Arc::new(App {
        db,
        http: reqwest::Client::new(),
        rooms_url: format!("{}/rooms", env("ENABLEX_API_URL")?.trim_end_matches('/')),
        app_id: env("ENABLEX_APP_ID")?,
        app_key: env("ENABLEX_APP_KEY")?,
    });
    let router = Router::new()
        .route("/meetings", post(create))
        .route("/meetings/{id}", get(read))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("LISTEN: cannot listen on {listen}: {e}"))?;
    axum::serve(listener, router)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("reference: {message}");
            std::process::ExitCode::from(2)
        }
    }
}
