//! Hostile inputs and faults that once got through (issue 9): idempotency keys from every state,
//! instants outside the representable range, unreadable rows, and databases that refuse or are
//! busy. Through real HTTP, on both databases where a database is involved.

use crate::common::{
    Backend, TestApp, client_with_key, create_key, each_backend, error_fields, spawn_app_with,
};
use roomgate::jobs::JobStore;
use serde_json::{Value, json};
use sqlx::Connection;
use std::time::Duration;

async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |mut c| {
        c.request_timeout = Duration::from_secs(1);
        c.resilience.policy.base_backoff = Duration::from_millis(20);
        c.resilience.policy.breaker_threshold = 1000;
        c
    })
    .await
    .expect("backend available")
}

async fn post_with_key(app: &TestApp, key: &str, body: &Value) -> (u16, Value, bool) {
    let response = app
        .http
        .post(app.url("/meetings"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    let replayed = response.headers().contains_key("idempotent-replayed");
    (status, response.json().await.expect("json"), replayed)
}

#[tokio::test]
async fn concurrent_retries_after_a_failed_attempt_make_exactly_one_room() {
    for backend in each_backend().await {
        let app = app(backend).await;
        let body = json!({"name": "Retried", "kind": "permanent"});
        // The connection drops before EnableX acts: the outcome is unknown, the claim stays.
        app.set_faults(json!({"drop_rate": 1.0, "operations": ["create"]}))
            .await;
        let (status, _, _) = post_with_key(&app, "k-1", &body).await;
        assert_eq!(status, 502, "{backend:?}");
        app.set_faults(json!({})).await;
        // The reconciler finds no room and settles the attempt as failed.
        let report = app.jobs(false).await.reconcile().await.expect("reconcile");
        assert_eq!(report.failed.len(), 1, "{backend:?}: {report:?}");

        let retries: Vec<_> = (0..16)
            .map(|_| {
                let http = app.http.clone();
                let url = app.url("/meetings");
                let body = body.clone();
                tokio::spawn(async move {
                    let response = http
                        .post(url)
                        .header("idempotency-key", "k-1")
                        .json(&body)
                        .send()
                        .await
                        .expect("post");
                    let status = response.status().as_u16();
                    let json: Value = response.json().await.expect("json");
                    (status, json)
                })
            })
            .collect();
        let mut ids = std::collections::HashSet::new();
        for retry in retries {
            let (status, json) = retry.await.expect("task");
            assert_eq!(status, 201, "{backend:?}: {json}");
            ids.insert(json["id"].as_str().expect("id").to_owned());
        }
        assert_eq!(ids.len(), 1, "{backend:?}: every retry got one meeting");
        assert_eq!(
            app.sandbox_stats().await["rooms_created"],
            1,
            "{backend:?}: exactly one room"
        );
    }
}

#[tokio::test]
async fn a_refusal_stays_with_its_key_and_an_outage_frees_it() {
    for backend in each_backend().await {
        let app = app(backend).await;
        let body = json!({"name": "Keyed", "kind": "permanent"});
        // EnableX answers 503: nothing was made, so the same key may try again and succeed.
        app.set_faults(json!({"fail_next": 1, "error_status": 503, "operations": ["create"]}))
            .await;
        assert_eq!(post_with_key(&app, "outage", &body).await.0, 502);
        let (status, created, replayed) = post_with_key(&app, "outage", &body).await;
        assert_eq!((status, replayed), (201, false), "{backend:?}: {created}");
        assert!(post_with_key(&app, "outage", &body).await.2, "replayed");
        // EnableX refuses the request itself (a 4xx): that answer stands for the key.
        app.set_faults(json!({"fail_next": 1, "error_status": 400, "operations": ["create"]}))
            .await;
        assert_eq!(post_with_key(&app, "refused", &body).await.0, 502);
        let (status, problem, replayed) = post_with_key(&app, "refused", &body).await;
        assert_eq!((status, replayed), (502, true), "{backend:?}: {problem}");
        assert_eq!(problem["enablex"]["status"], 400);
        assert_eq!(app.sandbox_stats().await["rooms_created"], 1);
    }
}

#[tokio::test]
async fn instants_outside_the_range_and_leap_seconds_are_refused_by_name() {
    for backend in each_backend().await {
        let app = app(backend).await;
        for (starts_at, minutes) in [
            ("9999-12-31T23:59:59-23:59", 30),
            ("9999-12-31T23:00:00Z", 120),
            ("2030-06-30T23:59:60Z", 30),
            ("+10000-01-01T00:00:00Z", 30),
        ] {
            let response = app
                .post_json(
                    "/meetings",
                    &json!({"name": "Far", "kind": "scheduled", "starts_at": starts_at,
                            "duration_minutes": minutes}),
                )
                .await;
            assert_eq!(response.status(), 422, "{backend:?}: {starts_at}");
            let problem: Value = response.json().await.expect("json");
            assert_eq!(error_fields(&problem), ["starts_at"], "{problem}");
        }
        for filter in [
            "starts_before=9999-12-31T23:59:59-23:59",
            "starts_after=1969-12-31T23:00:00Z",
            "starts_after=2030-06-30T23:59:60Z",
        ] {
            let response = app.get(&format!("/meetings?{filter}")).await;
            assert_eq!(response.status(), 422, "{backend:?}: {filter}");
        }
        assert!(app.sandbox_rooms().await.is_empty(), "nothing was created");
        // The last representable second is fine.
        app.create(json!({"name": "Last", "kind": "scheduled",
                          "starts_at": "9999-12-31T22:00:00Z", "duration_minutes": 60}))
            .await;
        let page: Value = app
            .get("/meetings?starts_before=9999-12-31T23:59:59Z")
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(page["items"][0]["ends_at"], "9999-12-31T23:00:00Z");
    }
}

/// Writes a meeting row that cannot be read back, as an older version or a hand edit could.
async fn poison(url: &str, backend: Backend) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    let now = "2026-11-29T00:00:00.000000Z";
    match backend {
        Backend::Sqlite => {
            let mut db = sqlx::SqliteConnection::connect(url).await.expect("connect");
            sqlx::query(
                "INSERT INTO meetings (id, kind, name, owner_ref, created_by, embed, starts_at, \
                 ends_at, joinable_from, duration_minutes, settings, state, created_at, updated_at) \
                 VALUES ($1, 'scheduled', 'Poison', 'owner', 'key:owner', 'premium', \
                 '+10000-01-01T00:00:00.000000Z', '+10000-01-01T01:00:00.000000Z', \
                 '+09999-12-31T23:45:00.000000Z', 60, '{}', 'active', $2, $2)",
            )
            .bind(&id)
            .bind(now)
            .execute(&mut db)
            .await
            .expect("poison");
        }
        Backend::Postgres => {
            let mut db = sqlx::PgConnection::connect(url).await.expect("connect");
            sqlx::query(
                "INSERT INTO meetings (id, kind, name, owner_ref, created_by, embed, settings, \
                 state, created_at, updated_at) VALUES ($1::uuid, 'adhoc', 'Poison', 'owner', \
                 'key:owner', 'premium', '{\"mode\": \"theatre\"}', 'active', now(), now())",
            )
            .bind(&id)
            .execute(&mut db)
            .await
            .expect("poison");
        }
    }
    id
}

#[tokio::test]
async fn a_row_that_cannot_be_read_breaks_no_listing_and_no_job() {
    for backend in each_backend().await {
        let app = app(backend).await;
        let good = app.create(json!({"name": "Good", "kind": "adhoc"})).await;
        let bad = poison(&app.database_url, backend).await;
        let page: Value = app.get("/meetings").await.json().await.expect("json");
        let ids: Vec<&str> = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|m| m["id"].as_str().expect("id"))
            .collect();
        assert_eq!(ids, [good["id"].as_str().expect("id")], "{backend:?}");
        let admin = client_with_key(&create_key(&app.database_url, "ops", true).await);
        let response = admin.get(app.url("/meetings")).send().await.expect("list");
        assert_eq!(response.status(), 200, "{backend:?}: the admin list too");
        assert_eq!(app.get(&format!("/meetings/{bad}")).await.status(), 404);
        let jobs = app.jobs(false).await;
        jobs.reconcile().await.expect("the reconciler runs");
        jobs.sweep().await.expect("the sweeper runs");
        let metrics = reqwest::get(app.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        assert!(
            metrics.contains("roomgate_unreadable_rows_total"),
            "{backend:?}: counted"
        );
    }
}

#[tokio::test]
async fn a_database_that_refuses_connections_answers_503_not_500() {
    let Some(app) = spawn_app_with(Backend::Postgres, |c| c).await else {
        return;
    };
    // Started and connected before the database starts refusing.
    assert_eq!(app.get("/readyz").await.status(), 200);
    let name = app
        .database_url
        .rsplit('/')
        .next()
        .expect("database name")
        .to_owned();
    let base = std::env::var("TEST_DATABASE_URL").expect("set");
    let mut admin = sqlx::PgConnection::connect(&base).await.expect("connect");
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .execute(&mut admin)
        .await
        .expect("alter");
    // Backends can come and go while they are being ended: a failed try is tried again, and
    // the 503 below is what shows the database refused.
    for _ in 0..3 {
        let ended = sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
        )
        .bind(&name)
        .execute(&mut admin)
        .await;
        match ended {
            Ok(_) => break,
            Err(err) => eprintln!("terminating {name}'s connections: {err}; trying again"),
        }
    }
    let response = app.get("/meetings").await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "database_unavailable");
    assert_eq!(app.get("/readyz").await.status(), 503);
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .execute(&mut admin)
        .await
        .expect("alter back");
    assert_eq!(
        app.get("/meetings").await.status(),
        200,
        "recovers by itself"
    );
}

#[tokio::test]
async fn a_busy_sqlite_database_answers_503_not_500() {
    let app = app(Backend::Sqlite).await;
    let mut holder = sqlx::SqliteConnection::connect(&app.database_url)
        .await
        .expect("connect");
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .expect("lock");
    // The write waits out SQLite's busy timeout (5 s), then gives up.
    let response = app
        .post_json(
            "/meetings",
            &json!({"name": "Blocked", "kind": "permanent"}),
        )
        .await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "database_unavailable", "{problem}");
    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("unlock");
    app.create(json!({"name": "Free again", "kind": "permanent"}))
        .await;
}

async fn patch_name(app: &TestApp, id: &str, name: &str) -> u16 {
    app.http
        .patch(app.url(&format!("/meetings/{id}")))
        .json(&json!({ "name": name }))
        .send()
        .await
        .expect("patch")
        .status()
        .as_u16()
}

#[tokio::test]
async fn of_two_concurrent_changes_only_the_one_recorded_reaches_enablex() {
    for backend in each_backend().await {
        let app = std::sync::Arc::new(app(backend).await);
        let meeting = app
            .create(json!({"name": "Before", "kind": "permanent"}))
            .await;
        let id = meeting["id"].as_str().expect("id").to_owned();
        let room_id = meeting["room_id"].as_str().expect("room").to_owned();
        // EnableX takes its time over updates, so the two changes overlap there.
        app.set_faults(json!({"latency_ms": 400, "operations": ["update"]}))
            .await;
        let before = app.sandbox_stats().await["requests"].as_u64().expect("n");
        let first = {
            let (app, id) = (app.clone(), id.clone());
            tokio::spawn(async move { patch_name(&app, &id, "First").await })
        };
        // The second change starts once the first is at EnableX.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while app.sandbox_stats().await["requests"].as_u64().expect("n") == before {
            assert!(
                std::time::Instant::now() < deadline,
                "the first change reached EnableX"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let second = patch_name(&app, &id, "Second").await;
        let first = first.await.expect("task");
        assert_eq!((first, second), (200, 409), "{backend:?}");
        app.set_faults(json!({})).await;
        let recorded: Value = app
            .get(&format!("/meetings/{id}"))
            .await
            .json()
            .await
            .expect("json");
        let upstream = app
            .sandbox_rooms()
            .await
            .into_iter()
            .find(|r| r["room_id"] == room_id.as_str())
            .expect("room");
        assert_eq!(recorded["name"], "First", "{backend:?}");
        assert_eq!(
            upstream["name"], recorded["name"],
            "{backend:?}: EnableX agrees"
        );
        // A change EnableX refuses lets go of the meeting: the next one goes through.
        app.set_faults(json!({"fail_next": 1, "error_status": 400, "operations": ["update"]}))
            .await;
        assert_eq!(patch_name(&app, &id, "Refused").await, 502);
        assert_eq!(patch_name(&app, &id, "After").await, 200, "{backend:?}");
    }
}

/// The room's name as EnableX holds it.
async fn upstream_name(app: &TestApp, room_id: &str) -> String {
    let room = app.upstream_room(room_id).await;
    room["name"].as_str().expect("name").to_owned()
}

/// Each meeting's name as recorded and as EnableX holds it, in `ids`' order.
async fn names(app: &TestApp, ids: &[(String, String)]) -> Vec<(String, String)> {
    let rooms = app.sandbox_rooms().await;
    let mut names = Vec::new();
    for (id, room_id) in ids {
        let recorded: Value = app
            .get(&format!("/meetings/{id}"))
            .await
            .json()
            .await
            .expect("json");
        let upstream = rooms
            .iter()
            .find(|r| r["room_id"] == room_id.as_str())
            .expect("room");
        names.push((
            recorded["name"].as_str().expect("name").to_owned(),
            upstream["name"].as_str().expect("name").to_owned(),
        ));
    }
    names
}

/// A change whose outcome at EnableX is unknown (EnableX took it but its answer was lost, or
/// the request was cut off while EnableX had it, or a retry was refused after an attempt that
/// went unanswered) leaves the meeting marked; once the grace period has passed, the
/// reconciler pushes the record's values to EnableX again, racing fresh changes, until both
/// agree. A refusal after such a change keeps the mark, and so does a change written after it
/// (the lost call might still land after it).
#[tokio::test]
async fn a_change_with_an_unknown_outcome_is_pushed_again_until_enablex_agrees() {
    for backend in each_backend().await {
        let app = std::sync::Arc::new(app(backend).await);
        let mut meetings = Vec::new();
        for i in 0..10 {
            let m = app
                .create(json!({"name": format!("Before {i}"), "kind": "permanent"}))
                .await;
            meetings.push((
                m["id"].as_str().expect("id").to_owned(),
                m["room_id"].as_str().expect("room").to_owned(),
            ));
        }
        // 0-4: EnableX takes every change and loses every answer; three changes per meeting
        // at once (one holds the meeting, the others are turned away or come after).
        app.set_faults(json!({"lose_response_rate": 1.0, "operations": ["update"]}))
            .await;
        let mut tasks = Vec::new();
        for (i, (id, _)) in meetings.iter().enumerate().take(5) {
            for j in 0..3 {
                let (app, id) = (app.clone(), id.clone());
                tasks.push(tokio::spawn(async move {
                    patch_name(&app, &id, &format!("Lost {i}.{j}")).await
                }));
            }
        }
        for task in tasks {
            let status = task.await.expect("task");
            assert!([409, 502, 504].contains(&status), "{backend:?}: {status}");
        }
        // 5-6: EnableX takes the change and holds its answer; the caller gives up once EnableX
        // has it.
        app.set_faults(json!({"answer_delay_ms": 3000, "operations": ["update"]}))
            .await;
        for (i, (id, room_id)) in meetings.iter().enumerate().skip(5).take(2) {
            let name = format!("Cut {i}");
            let request = {
                let (app, id, name) = (app.clone(), id.clone(), name.clone());
                tokio::spawn(async move { patch_name(&app, &id, &name).await })
            };
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while upstream_name(&app, room_id).await != name {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{backend:?}: {i} reached EnableX"
                );
                // The sandbox offers nothing to await: its rooms are polled, within a deadline.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            request.abort();
            assert!(
                request.await.is_err_and(|e| e.is_cancelled()),
                "{backend:?}: cut off"
            );
        }
        // 7: answers lost, then a change refused outright: the refusal keeps the mark.
        app.set_faults(json!({"lose_response_rate": 1.0, "operations": ["update"]}))
            .await;
        assert_eq!(patch_name(&app, &meetings[7].0, "Lost 7").await, 502);
        app.set_faults(json!({"fail_next": 1, "error_status": 400, "operations": ["update"]}))
            .await;
        assert_eq!(patch_name(&app, &meetings[7].0, "Refused 7").await, 502);
        // 8: the first attempt goes through unanswered, its retry is refused (EnableX still
        // busy with the first): the last word is a refusal, yet EnableX took the change.
        app.set_faults(json!({"lose_next": 1, "fail_next": 1, "error_status": 409,
                              "operations": ["update"]}))
            .await;
        assert_eq!(patch_name(&app, &meetings[8].0, "Retried 8").await, 502);
        // 9: the first attempt goes through unanswered, its retry is answered: the change is
        // written, and the first attempt may still land late.
        app.set_faults(json!({"lose_next": 1, "operations": ["update"]}))
            .await;
        assert_eq!(patch_name(&app, &meetings[9].0, "Retried 9").await, 200);
        // 4: a change written after the lost ones.
        app.set_faults(json!({})).await;
        assert_eq!(patch_name(&app, &meetings[4].0, "Written 4").await, 200);

        // EnableX has taken the cut changes (it answers them later).
        let before = names(&app, &meetings).await;
        for (i, (recorded, upstream)) in before.iter().enumerate() {
            let expected = match i {
                4 => "Written 4".to_owned(),
                9 => "Retried 9".to_owned(),
                _ => format!("Before {i}"),
            };
            assert_eq!(recorded, &expected, "{backend:?}: {i}");
            if i == 4 || i == 9 {
                assert_eq!(
                    upstream, recorded,
                    "{backend:?}: the written change reached EnableX"
                );
            } else {
                assert_ne!(
                    upstream, recorded,
                    "{backend:?}: {i}: EnableX took the change"
                );
            }
        }

        // Within the grace period nothing is pushed: the lost calls may still be on their way.
        let patient = app.jobs_with_grace(false, Duration::from_secs(600)).await;
        let report = patient.reconcile().await.expect("reconcile");
        assert!(report.resynced.is_empty(), "{backend:?}: {report:?}");

        // After it, the reconciler pushes the records while fresh changes race it on 0-2.
        let jobs = app.jobs(false).await;
        let mut changes = Vec::new();
        for (i, (id, _)) in meetings.iter().enumerate().take(3) {
            let (app, id) = (app.clone(), id.clone());
            changes.push(tokio::spawn(async move {
                patch_name(&app, &id, &format!("Fresh {i}")).await
            }));
        }
        let report = jobs.reconcile().await.expect("reconcile");
        for change in changes {
            let status = change.await.expect("task");
            assert!([200, 409].contains(&status), "{backend:?}: {status}");
        }
        assert!(report.resync_gave_up.is_empty(), "{backend:?}: {report:?}");
        let pushed: std::collections::HashSet<String> =
            report.resynced.iter().map(|id| id.to_string()).collect();
        for (i, (id, _)) in meetings.iter().enumerate().skip(3) {
            assert!(pushed.contains(id), "{backend:?}: {i} pushed: {report:?}");
        }
        // What a fresh change left marked is settled by the next run.
        let again = jobs.reconcile().await.expect("reconcile");
        assert!(again.resync_gave_up.is_empty(), "{backend:?}: {again:?}");
        let after = names(&app, &meetings).await;
        for (i, (recorded, upstream)) in after.iter().enumerate() {
            assert_eq!(
                upstream, recorded,
                "{backend:?}: {i}: EnableX agrees with the record"
            );
        }
        let store = roomgate::store::connect(&app.database_url, &Default::default())
            .await
            .expect("store");
        let now = chrono::Utc::now();
        let marked = store
            .unsynced_changes(now, now, 100)
            .await
            .expect("unsynced");
        assert!(
            marked.is_empty(),
            "{backend:?}: nothing is left marked: {marked:?}"
        );
    }
}

/// A push of the record's values that EnableX keeps refusing for a reason that may pass (here a
/// 401, as during a key rotation) keeps the mark and backs off: the next run does not try
/// again at once; once EnableX takes calls again, a later run pushes and both agree.
#[tokio::test]
async fn a_push_that_fails_backs_off_and_keeps_the_mark() {
    for backend in each_backend().await {
        let app = app(backend).await;
        let m = app
            .create(json!({"name": "Before", "kind": "permanent"}))
            .await;
        let (id, room_id) = (
            m["id"].as_str().expect("id").to_owned(),
            m["room_id"].as_str().expect("room").to_owned(),
        );
        app.set_faults(json!({"lose_response_rate": 1.0, "operations": ["update"]}))
            .await;
        assert_eq!(patch_name(&app, &id, "Lost").await, 502);
        // The mark is this old when the first push fails, so the next waits as long again.
        tokio::time::sleep(Duration::from_secs(3)).await;
        app.set_faults(json!({"error_rate": 1.0, "error_status": 401, "operations": ["update"]}))
            .await;
        let jobs = app.jobs(false).await;
        let refused = || async { app.sandbox_stats().await["faults_injected"].as_u64() };
        let before = refused().await;
        let first = jobs.reconcile().await.expect("reconcile");
        assert!(
            first.resynced.is_empty() && first.resync_gave_up.is_empty(),
            "{first:?}"
        );
        let tried = refused().await;
        assert!(tried > before, "{backend:?}: the push was tried");
        let second = jobs.reconcile().await.expect("reconcile");
        assert!(second.resynced.is_empty(), "{second:?}");
        assert_eq!(
            refused().await,
            tried,
            "{backend:?}: not tried again at once"
        );
        assert_ne!(upstream_name(&app, &room_id).await, "Before", "{backend:?}");

        app.set_faults(json!({})).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let report = jobs.reconcile().await.expect("reconcile");
            if report
                .resynced
                .iter()
                .any(|pushed| pushed.to_string() == id)
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{backend:?}: pushed in the end"
            );
            // The backoff runs on the clock: runs are repeated, within a deadline.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(upstream_name(&app, &room_id).await, "Before", "{backend:?}");
    }
}

/// The reconciler takes a marked meeting for a push only if its latest unknown outcome is older
/// than the grace's cutoff: a change that went unanswered after the queue was read keeps its
/// own grace, whatever the queue said.
#[tokio::test]
async fn a_push_is_held_off_by_a_newer_unknown_outcome() {
    use roomgate::store::MeetingStore;
    for backend in each_backend().await {
        let app = app(backend).await;
        let m = app
            .create(json!({"name": "Before", "kind": "permanent"}))
            .await;
        let id: uuid::Uuid = m["id"].as_str().expect("id").parse().expect("uuid");
        app.set_faults(json!({"lose_response_rate": 1.0, "operations": ["update"]}))
            .await;
        let queue_read = chrono::Utc::now();
        assert_eq!(patch_name(&app, &id.to_string(), "Lost").await, 502);
        let store = roomgate::store::connect(&app.database_url, &Default::default())
            .await
            .expect("store");
        let row = store.get(id).await.expect("get").expect("row");
        let now = chrono::Utc::now();
        let hold = |due| {
            let store = store.clone();
            async move {
                store
                    .hold_for_change(
                        id,
                        row.updated_at,
                        uuid::Uuid::new_v4(),
                        now + chrono::Duration::minutes(2),
                        now,
                        due,
                    )
                    .await
                    .expect("hold")
            }
        };
        assert!(
            !hold(Some(queue_read)).await,
            "{backend:?}: marked after the cutoff"
        );
        assert!(hold(Some(now)).await, "{backend:?}: due by now");
    }
}
