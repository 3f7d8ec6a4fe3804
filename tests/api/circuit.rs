//! The circuit breaker recovers by itself however its trial call ends: answered, out of the
//! request's time, or abandoned by a caller that hung up.

use crate::common::{Backend, TestApp, each_backend, spawn_app_with};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const COOLDOWN: Duration = Duration::from_secs(1);

/// Threshold 3, a short cool-down, and an EnableX timeout longer than the request's limit.
async fn app(backend: Backend, request_limit: Duration) -> TestApp {
    spawn_app_with(backend, |mut c| {
        c.security.request_timeout = request_limit;
        c.request_timeout = Duration::from_secs(10);
        c.resilience.policy.breaker_threshold = 3;
        c.resilience.policy.breaker_cooldown = COOLDOWN;
        c
    })
    .await
    .expect("backend available")
}

async fn try_create(app: &TestApp) -> (u16, Value) {
    let response = app
        .post_json("/meetings", &json!({"name": "Circuit"}))
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// Three 503s from EnableX open the circuit.
async fn open_the_circuit(app: &TestApp) {
    app.set_faults(json!({"error_rate": 1.0, "error_status": 503}))
        .await;
    for _ in 0..3 {
        assert_eq!(try_create(app).await.0, 502);
    }
    let (status, problem) = try_create(app).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (503, Some("enablex_unavailable"))
    );
}

/// Asks for creates until one is not failed fast by the open circuit (that one is the trial
/// call), giving up at `deadline`. Returns the trial's answer.
async fn until_not_failed_fast<T>(
    deadline: Instant,
    mut attempt: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    while Instant::now() < deadline {
        if let Some(answer) = attempt().await {
            return Some(answer);
        }
        // Polling for the circuit's cool-down to pass: there is nothing to await instead.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Once EnableX is healthy, a create succeeds within a few cool-downs.
async fn creates_succeed_again(app: &TestApp, backend: Backend) {
    app.set_faults(json!({})).await;
    let healthy_since = Instant::now();
    let created = until_not_failed_fast(healthy_since + 6 * COOLDOWN, async || {
        let (status, problem) = try_create(app).await;
        (status != 503).then_some((status, problem))
    })
    .await;
    let Some((status, meeting)) = created else {
        panic!(
            "{backend:?}: every create still failed fast {:?} after EnableX was healthy again",
            healthy_since.elapsed()
        );
    };
    assert_eq!(status, 201, "{backend:?}: {meeting}");
}

#[tokio::test]
async fn a_trial_call_that_outlasts_the_request_limit_does_not_keep_the_circuit_open() {
    for backend in each_backend().await {
        let app = app(backend, Duration::from_secs(2)).await;
        open_the_circuit(&app).await;
        // EnableX is slow now: longer than the request's limit, shorter than the EnableX timeout.
        app.set_faults(json!({"latency_ms": 5000})).await;
        let trial = until_not_failed_fast(Instant::now() + 3 * COOLDOWN, async || {
            let (status, problem) = try_create(&app).await;
            (problem["code"] != "enablex_unavailable").then_some((status, problem))
        })
        .await
        .expect("a trial call after the cool-down");
        // The trial gets only the time left in its request, and fails within it.
        assert_eq!(
            (trial.0, trial.1["code"].as_str()),
            (504, Some("enablex_timeout")),
            "{backend:?}: the trial runs out of the request's time"
        );
        creates_succeed_again(&app, backend).await;
    }
}

#[tokio::test]
async fn a_trial_call_whose_caller_hung_up_does_not_keep_the_circuit_open() {
    for backend in each_backend().await {
        let app = app(backend, Duration::from_secs(30)).await;
        open_the_circuit(&app).await;
        // EnableX never answers now; the caller gives up long before the EnableX timeout.
        app.set_faults(json!({"hang_rate": 1.0})).await;
        let impatient = reqwest::Client::builder()
            .timeout(Duration::from_millis(500))
            .build()
            .expect("client");
        let hung_up = until_not_failed_fast(Instant::now() + 3 * COOLDOWN, async || {
            let answer = impatient
                .post(app.url("/meetings"))
                .bearer_auth(&app.key)
                .json(&json!({"name": "Hang up"}))
                .send()
                .await;
            match answer {
                Ok(response) => {
                    assert_eq!(response.status(), 503, "{backend:?}: failed fast");
                    None
                }
                Err(err) => Some(err.is_timeout()),
            }
        })
        .await;
        assert_eq!(
            hung_up,
            Some(true),
            "{backend:?}: the trial's caller hung up"
        );
        creates_succeed_again(&app, backend).await;
    }
}
