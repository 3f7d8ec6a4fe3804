//! Bad input gets a clear problem+json error naming the problem, and changes nothing.

use crate::common::{Backend, TestApp, error_fields, in_minutes, spawn_app};
use serde_json::{Value, json};

async fn app() -> TestApp {
    spawn_app(Backend::Sqlite).await.expect("sqlite")
}

/// Posts `body` and expects a 422 naming exactly `fields` (in any order).
async fn rejects(app: &TestApp, body: Value, fields: &[&str]) -> Value {
    let response = app.post_json("/meetings", &body).await;
    assert_eq!(response.status(), 422, "{body}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "errors are problem+json"
    );
    let problem: Value = response.json().await.expect("json");
    let mut got = error_fields(&problem);
    got.sort();
    let mut want: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    want.sort();
    assert_eq!(got, want, "{body} -> {problem}");
    assert_eq!(problem["status"], 422);
    assert_eq!(problem["code"], "validation_failed");
    problem
}

#[tokio::test]
async fn each_bad_field_is_named_and_nothing_is_created() {
    let app = app().await;
    rejects(&app, json!({}), &["name"]).await;
    rejects(&app, json!({"name": "   "}), &["name"]).await;
    rejects(&app, json!({"name": "x".repeat(129)}), &["name"]).await;
    rejects(&app, json!({"name": "ok", "kind": "weekly"}), &["kind"]).await;
    rejects(&app, json!({"name": "ok", "embed": "gold"}), &["embed"]).await;
    rejects(
        &app,
        json!({"name": "ok", "kind": "scheduled"}),
        &["starts_at", "duration_minutes"],
    )
    .await;
    let problem = rejects(
        &app,
        json!({"name": "ok", "kind": "scheduled", "starts_at": "2030-12-01T10:30:00", "duration_minutes": 30}),
        &["starts_at"],
    )
    .await;
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .expect("m")
            .contains("offset")
    );
    let problem = rejects(
        &app,
        json!({"name": "ok", "kind": "scheduled", "starts_at": "2020-01-01T00:00:00Z", "duration_minutes": 30}),
        &["starts_at"],
    )
    .await;
    assert_eq!(problem["errors"][0]["message"], "must be in the future");
    rejects(
        &app,
        json!({"name": "ok", "kind": "scheduled", "starts_at": in_minutes(60), "duration_minutes": 1441}),
        &["duration_minutes"],
    )
    .await;
    rejects(
        &app,
        json!({"name": "ok", "kind": "adhoc", "starts_at": in_minutes(60)}),
        &["starts_at"],
    )
    .await;
    rejects(
        &app,
        json!({"name": "ok", "kind": "permanent", "duration_minutes": 5}),
        &["duration_minutes"],
    )
    .await;
    rejects(
        &app,
        json!({"name": "", "kind": "scheduled", "starts_at": "soon", "duration_minutes": 0,
               "embed": "x", "settings": {"mode": "theatre", "moderators": 6, "quality": "4K",
               "max_active_talkers": 0, "media_zone": "EU", "participants": -2}}),
        &[
            "name",
            "starts_at",
            "duration_minutes",
            "embed",
            "settings.mode",
            "settings.moderators",
            "settings.quality",
            "settings.max_active_talkers",
            "settings.media_zone",
            "settings.participants",
        ],
    )
    .await;
    // Shape errors name the field too.
    rejects(&app, json!({"name": "ok", "colour": "red"}), &["colour"]).await;
    rejects(
        &app,
        json!({"name": "ok", "settings": {"recording": true}}),
        &["settings.recording"],
    )
    .await;
    rejects(&app, json!({"name": 42}), &["name"]).await;
    rejects(
        &app,
        json!({"name": "ok", "settings": {"moderators": "two"}}),
        &["settings.moderators"],
    )
    .await;
    rejects(&app, json!(["not", "an", "object"]), &["body"]).await;

    // None of it reached EnableX or the database.
    assert!(app.sandbox_rooms().await.is_empty());
    for status in ["", "?status=failed", "?status=provisioning"] {
        let page: Value = app
            .get(&format!("/meetings{status}"))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(page["items"], json!([]), "{status}");
    }
}

#[tokio::test]
async fn malformed_json_is_400_and_not_json_is_415() {
    let app = app().await;
    let response = app
        .http
        .post(app.url("/meetings"))
        .header("content-type", "application/json")
        .body("{\"name\": \"unterminated")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "malformed_request");

    let response = app
        .http
        .post(app.url("/meetings"))
        .header("content-type", "application/json")
        .body("{\"name\": \"a\"} trailing")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);

    let response = app
        .http
        .post(app.url("/meetings"))
        .body("name=a")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 415);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert!(app.sandbox_rooms().await.is_empty());
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = app().await;
    let body = json!({"name": "big", "description": "x".repeat(100 * 1024)});
    let response = app.post_json("/meetings", &body).await;
    assert_eq!(response.status(), 413);
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "payload_too_large");
}

#[tokio::test]
async fn bad_list_parameters_are_named() {
    let app = app().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("status=running", "status"),
        ("kind=daily", "kind"),
        ("starts_after=yesterday", "starts_after"),
        ("starts_before=2026-12-01T10:00:00", "starts_before"),
        ("cursor=not-a-cursor", "cursor"),
    ] {
        let response = app.get(&format!("/meetings?{query}")).await;
        assert_eq!(response.status(), 422, "{query}");
        let problem: Value = response.json().await.expect("json");
        assert_eq!(error_fields(&problem), [field], "{query}");
    }
    let response = app.get("/meetings?colour=red").await;
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.expect("json");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("colour")
    );
}

#[tokio::test]
async fn unknown_ids_routes_and_methods_get_problems_not_500s() {
    let app = app().await;
    for path in [
        "/meetings/not-a-uuid",
        "/meetings/01931b3e-0000-7000-8000-000000000000",
        "/nowhere",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    assert_eq!(
        app.delete("/meetings/01931b3e-0000-7000-8000-000000000000")
            .await
            .status(),
        404
    );
    let response = app
        .http
        .put(app.url("/meetings"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 405);
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "method_not_allowed");
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let ready: Value = app.get("/readyz").await.json().await.expect("json");
    assert_eq!(ready, json!({"status": "ready", "database": "sqlite"}));
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_the_callers() {
    let app = app().await;
    let response = app.get("/healthz").await;
    assert!(response.headers().contains_key("x-request-id"));
    let response = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
}

/// A key named twice in one JSON object is refused (`422`, naming it), in a create (with or
/// without an idempotency key), in a nested object and in a change, and nothing is made or
/// changed: serde_json alone would keep the last value silently.
#[tokio::test]
async fn a_key_given_twice_is_named_and_nothing_changes() {
    let app = app().await;
    let post = |body: &'static str, key: Option<&'static str>| {
        let mut request = app
            .http
            .post(app.url("/meetings"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send()
    };
    for (body, key, field) in [
        (
            r#"{"name": "a", "kind": "permanent", "name": "b"}"#,
            None,
            "name",
        ),
        (
            r#"{"name": "a", "kind": "permanent", "kind": "adhoc"}"#,
            Some("twice"),
            "kind",
        ),
        // The same key spelled with an escape is the same key.
        (
            r#"{"name": "a", "kind": "permanent", "n\u0061me": "b"}"#,
            Some("twice"),
            "name",
        ),
        (
            r#"[{"a": 1}, {"a": 1, "b": [{"c": 1, "c": 2}]}]"#,
            None,
            "[1].b[0].c",
        ),
        (
            r#"{"name": "a", "kind": "permanent", "settings": {"quality": "SD", "quality": "HD"}}"#,
            None,
            "settings.quality",
        ),
    ] {
        let response = post(body, key).await.expect("post");
        assert_eq!(response.status(), 422, "{body}");
        let problem: Value = response.json().await.expect("json");
        assert_eq!(error_fields(&problem), vec![field.to_owned()], "{problem}");
        assert!(problem.to_string().contains("more than once"), "{problem}");
    }
    assert!(app.sandbox_rooms().await.is_empty());
    // The key was not taken by the refused body: the same key with a sound body creates.
    let response = post(r#"{"name": "a", "kind": "permanent"}"#, Some("twice"))
        .await
        .expect("post");
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.expect("json");
    let id = created["id"].as_str().expect("id");

    let response = app
        .http
        .patch(app.url(&format!("/meetings/{id}")))
        .header("content-type", "application/json")
        .body(r#"{"name": "b", "name": "c"}"#)
        .send()
        .await
        .expect("patch");
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.expect("json");
    assert_eq!(error_fields(&problem), vec!["name".to_owned()], "{problem}");
    let now: Value = app
        .get(&format!("/meetings/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(now["name"], "a");
    // The same keys in different objects are not repeats.
    let response = post(
        r#"{"name": "n", "kind": "permanent", "settings": {"mode": "group"}, "description": "mode"}"#,
        None,
    )
    .await
    .expect("post");
    assert_eq!(response.status(), 201);
}
