//! EnableX calls fit inside the request's own time limit: retries stop in time for roomgate to
//! answer with what EnableX did, instead of being cut off by the limit.

use crate::common::{each_backend, spawn_app_with};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_retried_call_that_runs_out_of_request_time_answers_504_within_the_limit() {
    let request_limit = Duration::from_secs(2);
    for backend in each_backend().await {
        let app = spawn_app_with(backend, |mut c| {
            // Three attempts of 1.5 s each cannot fit in the request's 2 s.
            c.security.request_timeout = request_limit;
            c.request_timeout = Duration::from_millis(1500);
            c.resilience.policy.retries = 2;
            c.resilience.policy.base_backoff = Duration::from_millis(20);
            c.resilience.policy.breaker_threshold = 1000;
            c
        })
        .await
        .expect("backend available");
        let meeting = app
            .create(json!({"name": "Out of time", "kind": "permanent"}))
            .await;
        let id = meeting["id"].as_str().expect("id");
        // EnableX never says who is in the room: the delete's first, retried, call hangs.
        app.set_faults(json!({"hang_rate": 1.0, "operations": ["users"]}))
            .await;

        let started = Instant::now();
        let response = app.delete(&format!("/meetings/{id}")).await;
        let took = started.elapsed();
        let status = response.status().as_u16();
        let problem: Value = response.json().await.expect("json");

        assert_eq!(
            (status, problem["code"].as_str()),
            (504, Some("enablex_timeout")),
            "{backend:?}: {problem}"
        );
        assert!(took < request_limit, "{backend:?}: answered after {took:?}");
        app.set_faults(json!({})).await;
        let read: Value = app
            .get(&format!("/meetings/{id}"))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(read["status"], "open", "{backend:?}: nothing was deleted");
        assert_eq!(app.sandbox_rooms().await.len(), 1);
    }
}
