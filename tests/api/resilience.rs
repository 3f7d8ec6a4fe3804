//! Idempotent creation and EnableX faults, through the real client and the sandbox, on both
//! databases.

use crate::common::{Backend, TestApp, each_backend, spawn_app_with};
use serde_json::{Value, json};
use std::time::Duration;

async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |mut c| {
        c.request_timeout = Duration::from_secs(1);
        c.resilience.policy.base_backoff = Duration::from_millis(20);
        // These tests inject outages one after another; the breaker has its own test.
        c.resilience.policy.breaker_threshold = 1000;
        c
    })
    .await
    .expect("backend available")
}

async fn post_with_key(
    app: &TestApp,
    key: &str,
    body: &Value,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let response = app
        .http
        .post(app.url("/meetings"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.json().await.expect("json"), headers)
}

#[tokio::test]
async fn a_retried_create_with_the_same_key_returns_the_first_answer() {
    for backend in each_backend().await {
        let app = app(backend).await;
        let body = json!({"name": "Once", "kind": "permanent"});
        let (status, first, headers) = post_with_key(&app, "create-42", &body).await;
        assert_eq!(status, 201);
        assert!(!headers.contains_key("idempotent-replayed"));
        // Same body written differently: still the same request.
        let (status, again, headers) = post_with_key(
            &app,
            "create-42",
            &json!({"kind": "permanent", "name": "Once"}),
        )
        .await;
        assert_eq!(status, 201, "{backend:?}");
        assert_eq!(again, first);
        assert_eq!(headers["idempotent-replayed"], "true");
        assert_eq!(
            headers["location"],
            format!("/meetings/{}", first["id"].as_str().expect("id"))
        );
        assert_eq!(app.sandbox_rooms().await.len(), 1, "one room");

        let (status, problem, _) =
            post_with_key(&app, "create-42", &json!({"name": "Another"})).await;
        assert_eq!(status, 422);
        assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
        let (status, _, _) = post_with_key(&app, "create-43", &body).await;
        assert_eq!(status, 201, "another key is another meeting");
        assert_eq!(app.sandbox_rooms().await.len(), 2);
        let bad = app
            .http
            .post(app.url("/meetings"))
            .header("idempotency-key", "")
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(bad.status(), 422);
    }
}

#[tokio::test]
async fn many_concurrent_retries_with_one_key_make_one_room() {
    for backend in each_backend().await {
        let app = app(backend).await;
        app.set_faults(json!({"latency_ms": 300, "operations": ["create"]}))
            .await;
        let body = json!({"name": "Stampede", "kind": "permanent"});
        let attempts = 25;
        let answers = futures_join(&app, attempts, &body).await;
        let first_id = answers[0].1["id"].clone();
        for (status, meeting) in &answers {
            assert_eq!(*status, 201, "{backend:?}: {meeting}");
            assert_eq!(meeting["id"], first_id, "every retry gets the same meeting");
        }
        assert_eq!(
            app.sandbox_rooms().await.len(),
            1,
            "{backend:?}: exactly one upstream room"
        );
        assert_eq!(app.sandbox_stats().await["rooms_created"], 1);
    }
}

async fn futures_join(app: &TestApp, n: usize, body: &Value) -> Vec<(u16, Value)> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let request = app
            .http
            .post(app.url("/meetings"))
            .header("idempotency-key", "same-key")
            .json(body);
        tasks.push(tokio::spawn(async move {
            let response = request.send().await.expect("post");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task"));
    }
    answers
}

#[tokio::test]
async fn idempotency_keys_expire() {
    let app = spawn_app_with(Backend::Sqlite, |mut c| {
        c.resilience.idempotency_ttl = Duration::from_millis(300);
        c
    })
    .await
    .expect("sqlite");
    let body = json!({"name": "Short memory"});
    let (_, first, _) = post_with_key(&app, "k", &body).await;
    // The key's lifetime has to pass: this test waits it out.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, second, headers) = post_with_key(&app, "k", &body).await;
    assert_eq!(status, 201);
    assert_ne!(second["id"], first["id"]);
    assert!(!headers.contains_key("idempotent-replayed"));
}

/// Creates one meeting while `faults` are set, then clears them and runs the reconciler.
/// Returns the create's status and problem, and what the reconciler reported.
async fn create_under(
    app: &TestApp,
    faults: Value,
) -> (u16, Value, roomgate::jobs::ReconcileReport) {
    app.set_faults(faults).await;
    let response = app
        .post_json("/meetings", &json!({"name": "Under fault"}))
        .await;
    let status = response.status().as_u16();
    let problem: Value = response.json().await.expect("json");
    app.set_faults(json!({})).await;
    let report = app.jobs(false).await.reconcile().await.expect("reconcile");
    (status, problem, report)
}

/// Every meeting row and every upstream room agree: no row without its room, no room without
/// its row.
async fn rows_match_rooms(app: &TestApp) -> (usize, usize) {
    let rooms = app.sandbox_rooms().await;
    let active: Vec<Value> = [
        app.all_with_status("open").await,
        app.all_with_status("scheduled").await,
    ]
    .concat();
    assert!(
        app.all_with_status("provisioning").await.is_empty(),
        "nothing left unsettled"
    );
    for room in &rooms {
        assert!(
            active.iter().any(|m| m["room_id"] == room["room_id"]
                && m["id"] == room["data"]["roomgate_meeting_id"]),
            "orphan room {room}"
        );
    }
    for meeting in &active {
        assert!(
            rooms.iter().any(|r| r["room_id"] == meeting["room_id"]),
            "row without room {meeting}"
        );
    }
    (active.len(), rooms.len())
}

#[tokio::test]
async fn each_upstream_fault_is_mapped_and_settled() {
    for backend in each_backend().await {
        let app = app(backend).await;
        let create = json!(["create"]);
        // A hang: the caller gets 504; no room was made; the reconciler fails the row.
        let (status, problem, report) =
            create_under(&app, json!({"hang_rate": 1.0, "operations": create})).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (504, Some("enablex_timeout")),
            "{backend:?}"
        );
        assert_eq!((report.completed.len(), report.failed.len()), (0, 1));
        // Slow beyond the timeout: 504. Whether the sandbox finished the call after the caller
        // hung up or dropped it with the connection, the row is settled either way.
        let (status, _, report) =
            create_under(&app, json!({"latency_ms": 1500, "operations": create})).await;
        assert_eq!(status, 504);
        assert_eq!(
            report.completed.len() + report.failed.len(),
            1,
            "{report:?}"
        );
        // A garbled answer: 502; the room exists; completed.
        let (status, _, report) =
            create_under(&app, json!({"malformed_rate": 1.0, "operations": create})).await;
        assert_eq!(status, 502);
        assert_eq!(report.completed.len(), 1);
        // A dropped connection before EnableX acts: 502; no room; failed.
        let (status, _, report) =
            create_under(&app, json!({"drop_rate": 1.0, "operations": create})).await;
        assert_eq!(status, 502);
        assert_eq!(report.failed.len(), 1);
        // The room was made but the answer was lost: 502; completed from the room's data.
        let (status, _, report) = create_under(
            &app,
            json!({"lose_response_rate": 1.0, "operations": create}),
        )
        .await;
        assert_eq!(status, 502);
        assert_eq!(report.completed.len(), 1);
        assert!(report.orphans.is_empty());
        // EnableX errors: a 5xx is 502 with EnableX's words; a 429 is 503 with Retry-After.
        let (status, problem, _) = create_under(
            &app,
            json!({"fail_next": 1, "error_status": 500, "operations": create}),
        )
        .await;
        assert_eq!(status, 502);
        assert_eq!(problem["enablex"]["status"], 500);
        app.set_faults(json!({"fail_next": 1, "error_status": 429, "retry_after_secs": 7, "operations": create})).await;
        let response = app
            .post_json("/meetings", &json!({"name": "Limited"}))
            .await;
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "7");
        app.set_faults(json!({})).await;
        app.jobs(false).await.reconcile().await.expect("reconcile");
        let (rows, rooms) = rows_match_rooms(&app).await;
        assert_eq!(rows, rooms);
        assert!(rows >= 2, "{backend:?}: {rows}");
    }
}

#[tokio::test]
async fn safe_calls_are_retried_and_rate_limits_waited_out() {
    for backend in each_backend().await {
        let app = app(backend).await;
        let meeting = app
            .create(json!({"name": "Retry me", "kind": "permanent"}))
            .await;
        let id = meeting["id"].as_str().expect("id");
        // Two 503s, then success: the delete goes through on the third attempt.
        app.set_faults(json!({"fail_next": 2, "error_status": 503, "operations": ["users"]}))
            .await;
        assert_eq!(
            app.delete(&format!("/meetings/{id}")).await.status(),
            204,
            "{backend:?}"
        );
        // A 429 with Retry-After: 1 is waited for, then the call succeeds.
        let other = app
            .create(json!({"name": "Patient", "kind": "permanent"}))
            .await;
        app.set_faults(json!({"fail_next": 1, "error_status": 429, "retry_after_secs": 1, "operations": ["users"]})).await;
        let started = std::time::Instant::now();
        assert_eq!(
            app.delete(&format!("/meetings/{}", other["id"].as_str().expect("id")))
                .await
                .status(),
            204
        );
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "Retry-After was honoured"
        );
        // More failures than retries: 502, and the meeting is not marked deleted.
        let third = app
            .create(json!({"name": "Stubborn", "kind": "permanent"}))
            .await;
        let tid = third["id"].as_str().expect("id");
        app.set_faults(json!({"fail_next": 10, "error_status": 500, "operations": ["delete"]}))
            .await;
        assert_eq!(app.delete(&format!("/meetings/{tid}")).await.status(), 502);
        app.set_faults(json!({})).await;
        let read: Value = app
            .get(&format!("/meetings/{tid}"))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(read["status"], "open");
        assert_eq!(
            app.sandbox_stats().await["faults_injected"],
            2 + 1 + 3,
            "2 users, 1 users, 3 delete attempts"
        );
    }
}

#[tokio::test]
async fn the_circuit_opens_fails_fast_and_closes_by_itself() {
    let app = spawn_app_with(Backend::Sqlite, |mut c| {
        c.resilience.policy.breaker_threshold = 3;
        c.resilience.policy.breaker_cooldown = Duration::from_millis(800);
        c
    })
    .await
    .expect("sqlite");
    app.set_faults(json!({"error_rate": 1.0, "error_status": 503}))
        .await;
    for _ in 0..3 {
        assert_eq!(
            app.post_json("/meetings", &json!({"name": "Down"}))
                .await
                .status(),
            502
        );
    }
    let before = app.sandbox_stats().await["requests"].as_u64().expect("n");
    let response = app
        .post_json("/meetings", &json!({"name": "Fast fail"}))
        .await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "enablex_unavailable");
    assert_eq!(
        app.sandbox_stats().await["requests"].as_u64().expect("n"),
        before,
        "nothing reached EnableX"
    );
    assert_eq!(
        app.all_with_status("failed").await.len(),
        3,
        "a fast failure writes no row"
    );
    app.set_faults(json!({})).await;
    // The cooldown has to pass before a trial call: this test waits it out.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        app.post_json("/meetings", &json!({"name": "Back"}))
            .await
            .status(),
        201
    );
}

#[tokio::test]
async fn the_reconciler_reports_rooms_nobody_tracks() {
    for backend in each_backend().await {
        let app = app(backend).await;
        let stray = uuid::Uuid::now_v7().to_string();
        let response = app
            .http
            .post(format!("{}/rooms", app.sandbox.api_url()))
            .basic_auth(
                &app.sandbox_config.app_id,
                Some(secrecy::ExposeSecret::expose_secret(
                    &app.sandbox_config.app_key,
                )),
            )
            .json(
                &json!({"name": "stray", "owner_ref": "x", "data": {"roomgate_meeting_id": stray}}),
            )
            .send()
            .await
            .expect("sandbox");
        assert_eq!(response.status(), 200);
        app.create(json!({"name": "Tracked"})).await;
        let report = app.jobs(false).await.reconcile().await.expect("reconcile");
        assert!(!report.skipped);
        assert_eq!(report.orphans.len(), 1, "{backend:?}: {report:?}");
        assert_eq!(report.orphans[0].meeting_id, stray);
    }
}
