//! The background jobs on listings that are large, paged, cut off, short or silently missing
//! rooms, and under leases shorter than a run (issue 10). Both databases.

use crate::common::{Backend, TestApp, each_backend, spawn_app_with};
use roomgate::store::{JobStore, MeetingStore};
use serde_json::{Value, json};
use std::time::Duration;

async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |mut c| {
        c.request_timeout = Duration::from_secs(2);
        c.resilience.policy.breaker_threshold = 1000;
        c
    })
    .await
    .expect("backend available")
}

async fn seed(app: &TestApp, count: usize) {
    let response = reqwest::Client::new()
        .post(format!("{}/_sandbox/seed", app.sandbox.embed_origin()))
        .json(&json!({ "count": count }))
        .send()
        .await
        .expect("seed");
    assert_eq!(response.status(), 200);
}

/// Deletes a room at the sandbox behind roomgate's back, as EnableX does after an ad-hoc
/// meeting's session.
async fn remove_room(app: &TestApp, room_id: &str) {
    let response = app
        .http
        .delete(format!("{}/rooms/{room_id}", app.sandbox.api_url()))
        .basic_auth(
            &app.sandbox_config.app_id,
            Some(secrecy::ExposeSecret::expose_secret(
                &app.sandbox_config.app_key,
            )),
        )
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 200);
}

async fn status_of(app: &TestApp, meeting: &Value) -> String {
    let id = meeting["id"].as_str().expect("id");
    let store = roomgate::store::connect(&app.database_url, &Default::default())
        .await
        .expect("store");
    let m = store
        .get(id.parse().expect("uuid"))
        .await
        .expect("get")
        .expect("row");
    m.status(chrono::Utc::now()).to_string()
}

#[tokio::test]
async fn a_listing_not_read_whole_ends_nothing_and_fails_nothing() {
    for backend in each_backend().await {
        let app = app(backend).await;
        seed(&app, 1_200).await;
        // An ad-hoc meeting whose room EnableX has removed, and a creation that made nothing.
        let gone = app.create(json!({"name": "Gone", "kind": "adhoc"})).await;
        remove_room(&app, gone["room_id"].as_str().expect("room")).await;
        app.set_faults(json!({"drop_rate": 1.0, "operations": ["create"]}))
            .await;
        let lost = app.post_json("/meetings", &json!({"name": "Lost"})).await;
        assert_eq!(lost.status(), 502);
        app.set_faults(json!({})).await;
        let jobs = app.jobs(false).await;
        for broken in [
            json!({"cut_after": 700}),
            json!({"short_by": 3}),
            json!({"page_size": 500, "short_by": 1}),
        ] {
            app.set_listing(broken.clone()).await;
            let report = jobs.reconcile().await.expect("reconcile");
            assert!(!report.listing_complete, "{backend:?} {broken}: {report:?}");
            assert!(
                report.failed.is_empty(),
                "{backend:?} {broken}: nothing failed"
            );
            let swept = jobs.sweep().await.expect("sweep");
            assert_eq!(swept.ended, 0, "{backend:?} {broken}: nothing ended");
            assert_eq!(status_of(&app, &gone).await, "open");
            assert_eq!(app.all_with_status("provisioning").await.len(), 1);
        }
        // Read whole (here in pages), the listing settles both: the room was confirmed gone.
        app.set_listing(json!({"page_size": 500})).await;
        let report = jobs.reconcile().await.expect("reconcile");
        assert!(report.listing_complete, "{backend:?}: {report:?}");
        assert_eq!(report.failed.len(), 1, "{backend:?}");
        assert_eq!(report.rooms_listed, 1_200, "{backend:?}: every page read");
        assert_eq!(
            report.orphans_total, 1_200,
            "{backend:?}: seeded rooms have no rows"
        );
        assert!(report.orphans.len() <= 100, "only a sample is kept");
        let swept = jobs.sweep().await.expect("sweep");
        assert_eq!(swept.ended, 1, "{backend:?}: {swept:?}");
        assert_eq!(status_of(&app, &gone).await, "ended");
    }
}

#[tokio::test]
async fn a_room_missing_from_the_listing_but_found_on_its_own_keeps_its_meeting_open() {
    for backend in each_backend().await {
        let app = app(backend).await;
        let hidden = app.create(json!({"name": "Hidden", "kind": "adhoc"})).await;
        let room_id = hidden["room_id"].as_str().expect("room");
        app.set_listing(json!({"hide": [room_id]})).await;
        let swept = app.jobs(false).await.sweep().await.expect("sweep");
        assert_eq!(
            (swept.ended, swept.adhoc_kept),
            (0, 1),
            "{backend:?}: {swept:?}"
        );
        assert_eq!(status_of(&app, &hidden).await, "open", "{backend:?}");
    }
}

#[tokio::test]
async fn every_open_adhoc_meeting_is_visited_when_there_are_more_than_a_run_holds() {
    for backend in each_backend().await {
        let app = app(backend).await;
        let mut meetings = Vec::new();
        for i in 0..7 {
            meetings.push(
                app.create(json!({"name": format!("Drop-in {i}"), "kind": "adhoc"}))
                    .await,
            );
        }
        // The four newest sessions are over; the three oldest rooms are still there.
        for gone in &meetings[3..] {
            remove_room(&app, gone["room_id"].as_str().expect("room")).await;
        }
        let jobs = app.jobs(false).await.with_adhoc_per_run(3);
        for _ in 0..3 {
            jobs.sweep().await.expect("sweep");
        }
        for (i, meeting) in meetings.iter().enumerate() {
            let expected = if i < 3 { "open" } else { "ended" };
            assert_eq!(status_of(&app, meeting).await, expected, "{backend:?}: {i}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_outlasts_its_lease_keeps_it_and_a_run_that_loses_it_stops() {
    for backend in each_backend().await {
        let app = app(backend).await;
        app.set_faults(json!({"latency_ms": 1500, "operations": ["list"]}))
            .await;
        let lease = Duration::from_millis(300);
        let first = app.jobs(false).await.with_lease(lease);
        let second = app.jobs(false).await.with_lease(lease);
        let running = tokio::spawn(async move { first.reconcile().await });
        // Twice past the lease's length, the first run still holds it.
        for _ in 0..2 {
            // Time itself: this waits past the lease's original length.
            tokio::time::sleep(lease * 2).await;
            let report = second.reconcile().await.expect("reconcile");
            assert!(report.skipped, "{backend:?}: the job ran twice at once");
        }
        let report = running.await.expect("task").expect("reconcile");
        assert!(!report.skipped, "{backend:?}");

        // Another process takes the lease in the middle of a run: the run stops.
        let third = app.jobs(false).await.with_lease(lease);
        let running = tokio::spawn(async move { third.reconcile().await });
        tokio::time::sleep(lease).await;
        let store = roomgate::store::connect(&app.database_url, &Default::default())
            .await
            .expect("store");
        // A replica whose clock runs ten minutes ahead takes the lease while the run goes on.
        let at = roomgate::meetings::now();
        let forced = store
            .try_lease(
                "reconciler",
                "usurper",
                at + chrono::Duration::minutes(5),
                at + chrono::Duration::minutes(10),
            )
            .await
            .expect("lease");
        assert!(forced);
        let stopped = running.await.expect("task");
        assert!(
            matches!(stopped, Err(roomgate::jobs::JobError::LeaseLost)),
            "{backend:?}: {stopped:?}"
        );
    }
}
