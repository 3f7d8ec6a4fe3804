//! What operators see: the OpenAPI document agrees with the router and its examples work,
//! `/docs` renders it, and `/metrics` counts real traffic.

use crate::browser::{CHROMIUM_FLAGS, which};
use crate::common::{Backend, TempDir, TestApp, in_minutes, spawn_app};
use serde_json::{Value, json};

const METHODS: [&str; 5] = ["get", "post", "patch", "delete", "put"];

async fn spec(app: &TestApp) -> Value {
    let response = reqwest::get(app.url("/openapi.json")).await.expect("spec");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

async fn call(app: &TestApp, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
    let mut request = app.http.request(method, app.url(path));
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn is_unrouted(status: u16, body: &Value) -> bool {
    status == 405 || (status == 404 && body["detail"] == "no such route")
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_is_served() {
    let app = spawn_app(Backend::Sqlite).await.expect("sqlite");
    let spec = spec(&app).await;
    assert_eq!(spec["openapi"], "3.1.0");
    let permanent = app
        .create(json!({"name": "Spec target", "kind": "permanent"}))
        .await;
    let id = permanent["id"].as_str().expect("id");
    let paths = spec["paths"].as_object().expect("paths");
    let mut documented = Vec::new();
    for (path, item) in paths {
        let concrete = path.replace("{id}", id);
        for method in METHODS {
            match item.get(method) {
                Some(operation) => {
                    documented.push(format!("{} {path}", method.to_uppercase()));
                    assert!(
                        operation["summary"].is_string(),
                        "{method} {path} has a summary"
                    );
                    let responses = operation["responses"].as_object().expect("responses");
                    assert!(
                        responses.keys().any(|c| c.starts_with('2')),
                        "{method} {path} documents success"
                    );
                    if operation.get("security").is_some() {
                        assert!(
                            responses.contains_key("401") && responses.contains_key("429"),
                            "{method} {path}"
                        );
                    }
                    let body = operation.pointer("/requestBody/content/application~1json/example");
                    let (status, answer) =
                        call(&app, method, &concrete, body.or(Some(&json!({})))).await;
                    assert!(
                        !is_unrouted(status, &answer),
                        "{method} {path} is documented but not served: {status} {answer}"
                    );
                }
                None => {
                    let (status, answer) = call(&app, method, &concrete, None).await;
                    assert!(
                        is_unrouted(status, &answer),
                        "{method} {path} is served but not documented: {status}"
                    );
                }
            }
        }
    }
    // The routes the design names are all there; nothing else is.
    let mut expected = vec![
        "GET /meetings",
        "POST /meetings",
        "GET /meetings/{id}",
        "PATCH /meetings/{id}",
        "DELETE /meetings/{id}",
        "POST /meetings/{id}/links",
        "POST /meetings/{id}/tokens",
        // Issue 9: the audit trail of moderator access, for admins.
        "GET /meetings/{id}/moderator-grants",
        // Issue 12: who the credential belongs to, for the console.
        "GET /me",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
        "GET /openapi.json",
        "GET /docs",
    ];
    expected.sort_unstable();
    documented.sort();
    assert_eq!(documented, expected);
    for stray in ["/meeting", "/meetings/x/extra", "/admin", "/v1/rooms"] {
        let (status, answer) = call(&app, "get", stray, None).await;
        assert!(is_unrouted(status, &answer), "{stray}");
    }
}

#[tokio::test]
async fn the_examples_in_the_spec_are_accepted_by_the_real_api() {
    let app = spawn_app(Backend::Sqlite).await.expect("sqlite");
    let spec = spec(&app).await;
    let example = |path: &str, method: &str| -> Value {
        spec["paths"][path][method]["requestBody"]["content"]["application/json"]["example"].clone()
    };
    let create = example("/meetings", "post");
    assert_eq!(
        create["kind"], "scheduled",
        "the create example shows a scheduled meeting"
    );
    let (status, scheduled) = call(&app, "post", "/meetings", Some(&create)).await;
    assert_eq!(status, 201, "{scheduled}");
    let sid = scheduled["id"].as_str().expect("id");
    let (status, changed) = call(
        &app,
        "patch",
        &format!("/meetings/{sid}"),
        Some(&example("/meetings/{id}", "patch")),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    let permanent = app
        .create(json!({"name": "Drop-in", "kind": "permanent"}))
        .await;
    let pid = permanent["id"].as_str().expect("id");
    let (status, link) = call(
        &app,
        "post",
        &format!("/meetings/{pid}/links"),
        Some(&example("/meetings/{id}/links", "post")),
    )
    .await;
    assert_eq!(status, 200, "{link}");
    let (status, token) = call(
        &app,
        "post",
        &format!("/meetings/{pid}/tokens"),
        Some(&example("/meetings/{id}/tokens", "post")),
    )
    .await;
    assert_eq!(status, 200, "{token}");
    // The schema examples are the shapes the API really uses.
    let schemas = &spec["components"]["schemas"];
    let meeting_example = schemas["MeetingView"]["example"]
        .as_object()
        .expect("example");
    let real = scheduled.as_object().expect("object");
    let mut example_keys: Vec<_> = meeting_example.keys().collect();
    let mut real_keys: Vec<_> = real.keys().collect();
    example_keys.sort();
    real_keys.sort();
    assert_eq!(
        example_keys, real_keys,
        "the MeetingView example has the real fields"
    );
    let (status, problem) = call(&app, "post", "/meetings", Some(&json!({}))).await;
    assert_eq!(status, 422);
    let problem_example = schemas["Problem"]["example"].as_object().expect("example");
    for key in problem_example.keys() {
        assert!(problem.get(key).is_some(), "problems carry {key}");
    }
}

#[tokio::test]
async fn docs_render_the_spec() {
    let app = spawn_app(Backend::Sqlite).await.expect("sqlite");
    let response = reqwest::get(app.url("/docs")).await.expect("docs");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/html")
    );
    let html = response.text().await.expect("html");
    assert!(html.contains("/openapi.json") && html.contains("<script>"));
    assert!(
        !html.contains("://cdn"),
        "the page loads nothing from elsewhere"
    );
}

/// The value of the sample `name{labels…}` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .filter(|line| labels.iter().all(|l| line.contains(l)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn metrics_count_real_requests_calls_and_jobs() {
    let app = spawn_app(Backend::Sqlite).await.expect("sqlite");
    let metrics = || async {
        reqwest::get(app.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    };
    let before = metrics().await;
    let created = app.create(json!({"name": "Counted", "kind": "scheduled", "starts_at": in_minutes(120), "duration_minutes": 15})).await;
    app.get("/meetings").await;
    app.get("/meetings?limit=0").await;
    app.jobs(false).await.reconcile().await.expect("reconcile");
    let after = metrics().await;
    let grew =
        |name: &str, labels: &[&str]| sample(&after, name, labels) - sample(&before, name, labels);
    // Metrics are process-wide and tests run in parallel: other tests may add to them too.
    assert!(
        grew(
            "roomgate_http_requests_total",
            &[
                r#"route="/meetings""#,
                r#"method="POST""#,
                r#"status="201""#
            ]
        ) >= 1.0
    );
    assert!(
        grew(
            "roomgate_http_requests_total",
            &[r#"route="/meetings""#, r#"method="GET""#, r#"status="422""#]
        ) >= 1.0
    );
    assert!(
        grew(
            "roomgate_http_request_duration_seconds_count",
            &[r#"route="/meetings""#]
        ) >= 3.0
    );
    assert!(after.contains("roomgate_http_request_duration_seconds_bucket{"));
    assert!(
        grew(
            "roomgate_enablex_calls_total",
            &[r#"operation="create""#, r#"outcome="ok""#]
        ) >= 1.0
    );
    assert!(
        grew(
            "roomgate_enablex_call_duration_seconds_count",
            &[r#"operation="list""#]
        ) >= 1.0
    );
    assert!(grew("roomgate_meetings_created_total", &[r#"kind="scheduled""#]) >= 1.0);
    assert!(
        grew(
            "roomgate_job_runs_total",
            &[r#"job="reconciler""#, r#"outcome="ok""#]
        ) >= 1.0
    );
    for gauge in [
        "roomgate_db_pool_connections{",
        "roomgate_db_pool_max_connections",
        "roomgate_enablex_circuit_open",
        "# HELP roomgate_meetings_created_total",
    ] {
        assert!(after.contains(gauge), "{gauge} missing");
    }
    assert!(
        !after.contains(app.key.as_str()) && !after.contains(created["id"].as_str().expect("id")),
        "no identifiers as labels"
    );
}

/// With Debian's Chromium installed, the page is rendered as a browser shows it: every
/// operation of the spec becomes an entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_render_in_a_real_browser() {
    let Ok(chromium) = which("chromium") else {
        eprintln!("chromium is not installed: skipping the browser check of /docs");
        return;
    };
    let app = spawn_app(Backend::Sqlite).await.expect("sqlite");
    let operations: usize = spec(&app).await["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| METHODS.iter().filter(|m| item.get(**m).is_some()).count())
        .sum();
    let profile = TempDir::new("roomgate-chromium");
    let url = app.url("/docs");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(chromium)
            .args(CHROMIUM_FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--virtual-time-budget=5000", "--dump-dom", &url])
            .output()
    })
    .await
    .expect("task")
    .expect("chromium runs");
    let dom = String::from_utf8_lossy(&output.stdout);
    let entries = dom.matches("data-path=").count();
    assert_eq!(
        entries, operations,
        "one entry per operation in the rendered page:\n{dom}"
    );
    assert!(operations >= 14, "{operations}");
    assert!(dom.contains("OpenAPI 3.1.0"));
}
