//! EnableX failures reach callers as the design maps them, and leave the records straight.

use crate::common::{
    Backend, TestApp, client_with_key, config, create_key, fresh_database, spawn_app_with,
    spawn_roomgate,
};
use roomgate::sandbox::SandboxConfig;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpListener;

async fn meetings_with_status(app_url: &str, key: &str, status: &str) -> Vec<Value> {
    let page: Value = client_with_key(key)
        .get(format!("{app_url}/meetings?status={status}"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    page["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn an_enablex_refusal_is_502_with_enablex_code_and_no_credentials() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let wrong_key = "WrongKey0123456789abcdefWrongKey01234567";
        let Some(app) = spawn_app_with(backend, |mut c| {
            c.app_key = SecretString::from(wrong_key.to_owned());
            c
        })
        .await
        else {
            continue;
        };
        let response = app
            .post_json("/meetings", &json!({"name": "Refused"}))
            .await;
        assert_eq!(response.status(), 502, "{backend:?}");
        let text = response.text().await.expect("body");
        assert!(!text.contains(wrong_key), "the key must never be echoed");
        assert!(!text.contains(app.sandbox_config.app_key.expose_secret()));
        let problem: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(problem["code"], "enablex_error");
        assert_eq!(problem["enablex"]["code"], "10000");
        assert_eq!(problem["enablex"]["status"], 401);
        // The attempt is on record for ops as failed, and invisible to the API's default list.
        let failed = meetings_with_status(&app.url(""), &app.key, "failed").await;
        assert_eq!(failed.len(), 1, "{backend:?}");
        assert_eq!(failed[0]["status"], "failed");
        assert!(
            meetings_with_status(&app.url(""), &app.key, "open")
                .await
                .is_empty()
        );
    }
}

#[tokio::test]
async fn enablex_unreachable_is_503_with_retry_after() {
    // A port that was just free: nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    let database = fresh_database(Backend::Sqlite).await.expect("sqlite");
    let creds = SandboxConfig::generated();
    let key = create_key(&database, "owner", false).await;
    let (addr, _stop) = spawn_roomgate(config(
        &database,
        &format!("http://{closed}/video/v1"),
        &creds,
    ))
    .await;
    let response = client_with_key(&key)
        .post(format!("http://{addr}/meetings"))
        .json(&json!({"name": "Nobody home"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "enablex_unavailable");
    // Nothing was sent, so nothing can exist upstream: the record is marked failed.
    assert_eq!(
        meetings_with_status(&format!("http://{addr}"), &key, "failed")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn an_enablex_that_never_answers_is_504_and_the_record_waits_for_reconciliation() {
    // Accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let database = fresh_database(Backend::Sqlite).await.expect("sqlite");
    let creds = SandboxConfig::generated();
    let mut cfg = config(&database, &format!("http://{silent_addr}/video/v1"), &creds);
    cfg.request_timeout = Duration::from_secs(1);
    let key = create_key(&database, "owner", false).await;
    let (addr, _stop) = spawn_roomgate(cfg).await;
    let started = std::time::Instant::now();
    let response = client_with_key(&key)
        .post(format!("http://{addr}/meetings"))
        .json(&json!({"name": "Hanging"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 504);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the caller is not left hanging"
    );
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "enablex_timeout");
    // The room may exist upstream: the row stays provisioning, not failed, for the reconciler.
    let base = format!("http://{addr}");
    assert_eq!(
        meetings_with_status(&base, &key, "provisioning")
            .await
            .len(),
        1
    );
    assert!(meetings_with_status(&base, &key, "failed").await.is_empty());
}

#[tokio::test]
async fn readiness_names_the_postgres_backend() {
    let Some(app): Option<TestApp> = spawn_app_with(Backend::Postgres, |c| c).await else {
        return;
    };
    let ready: Value = app.get("/readyz").await.json().await.expect("json");
    assert_eq!(ready, json!({"status": "ready", "database": "postgres"}));
}

#[tokio::test]
async fn postgres_columns_are_properly_typed_for_ops() {
    let Some(url) = fresh_database(Backend::Postgres).await else {
        return;
    };
    let store = roomgate::store::SqlStore::connect(&url, &Default::default())
        .await
        .expect("connect");
    let types: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_name = 'meetings' AND column_name IN ('id','starts_at','created_at','settings') \
         ORDER BY column_name",
    )
    .fetch_all(store.pg_pool().expect("postgres"))
    .await
    .expect("schema");
    assert_eq!(
        types,
        [
            ("created_at".into(), "timestamp with time zone".into()),
            ("id".into(), "uuid".into()),
            ("settings".into(), "jsonb".into()),
            ("starts_at".into(), "timestamp with time zone".into()),
        ]
    );
    let indexes: Vec<String> =
        sqlx::query_scalar("SELECT indexname::text FROM pg_indexes WHERE tablename = 'meetings'")
            .fetch_all(store.pg_pool().expect("postgres"))
            .await
            .expect("indexes");
    for wanted in [
        "meetings_owner_id",
        "meetings_kind_id",
        "meetings_starts_at",
        "meetings_state_id",
    ] {
        assert!(
            indexes.iter().any(|i| i == wanted),
            "{wanted} missing from {indexes:?}"
        );
    }
}

#[tokio::test]
async fn an_unreadable_answer_about_live_users_is_502_and_deletes_nothing() {
    for backend in crate::common::each_backend().await {
        let app = spawn_app_with(backend, |c| c)
            .await
            .expect("backend available");
        let meeting = app
            .create(json!({"name": "Still here", "kind": "permanent"}))
            .await;
        let id = meeting["id"].as_str().expect("id");
        // EnableX answers "success" about the room's users, with neither `total` nor `users`.
        app.set_faults(json!({"hollow_rate": 1.0, "operations": ["users"]}))
            .await;

        let response = app.delete(&format!("/meetings/{id}")).await;
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);

        assert_eq!(
            (status, problem["code"].as_str()),
            (502, Some("enablex_error")),
            "{backend:?}: {problem}"
        );
        let rooms = app.sandbox_rooms().await;
        assert_eq!(rooms.len(), 1, "{backend:?}: the room still exists");
        assert_eq!(rooms[0]["room_id"], meeting["room_id"]);
        app.set_faults(json!({})).await;
        let read: Value = app
            .get(&format!("/meetings/{id}"))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(
            read["status"], "open",
            "{backend:?}: the meeting is not deleted"
        );
    }
}
