//! JWT claims that must be checked before a token names a caller: `nbf`, and an identity
//! that is plain printable text.

use crate::auth::{SECRET, claims, hs256, jwt_settings};
use crate::common::{Backend, TestApp, client_with_key, create_key, each_backend, spawn_app_with};
use serde_json::{Value, json};

async fn app_with_jwts(backend: Backend, leeway_secs: u64) -> Option<TestApp> {
    spawn_app_with(backend, |mut c| {
        let mut jwt = jwt_settings();
        jwt.leeway_secs = leeway_secs;
        c.security.jwt = Some(jwt);
        c
    })
    .await
}

async fn create_with(app: &TestApp, token: &str) -> (u16, Value) {
    let response = client_with_key(token)
        .post(app.url("/meetings"))
        .json(&json!({"name": "Mine"}))
        .send()
        .await
        .expect("create");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused_beyond_the_leeway() {
    let app = app_with_jwts(Backend::Sqlite, 30).await.expect("sqlite");
    let now = chrono::Utc::now().timestamp();
    let mut later = claims("user-42", 7200);
    later["nbf"] = json!(now + 3600);
    let (status, problem) = create_with(&app, &hs256(&later, SECRET)).await;
    assert_eq!(status, 401, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("not valid yet"),
        "{problem}"
    );
    // A clock a few seconds ahead of ours is within the leeway.
    let mut skewed = claims("user-42", 300);
    skewed["nbf"] = json!(now + 10);
    let (status, problem) = create_with(&app, &hs256(&skewed, SECRET)).await;
    assert_eq!(status, 201, "{problem}");
}

#[tokio::test]
async fn identities_that_are_not_plain_text_are_refused_and_nothing_is_stored() {
    for backend in each_backend().await {
        let app = app_with_jwts(backend, 0).await.expect("backend");
        let too_long = "x".repeat(129);
        for (subject, why) in [
            ("evil\r\nX: 1\u{202e}\u{0}", "NUL"),
            ("evil\r\nX: 1", "control character"),
            ("user\u{0}", "NUL"),
            ("admin\u{202e}nimda", "bidirectional"),
            ("zero\u{200b}width", "invisible"),
            ("   ", "blank"),
            (too_long.as_str(), "longer than 128"),
        ] {
            let token = hs256(&claims(subject, 300), SECRET);
            let (status, problem) = create_with(&app, &token).await;
            assert_eq!(status, 401, "{backend:?} {subject:?}: {problem}");
            let detail = problem["detail"].as_str().expect("detail");
            assert!(
                detail.contains(why) && detail.contains("'sub'"),
                "{backend:?} {subject:?}: {detail}"
            );
            assert!(!detail.contains(subject), "the identity is not echoed");
            let listing = client_with_key(&token)
                .get(app.url("/meetings"))
                .send()
                .await
                .expect("list");
            assert_eq!(listing.status(), 401, "{backend:?} {subject:?}");
        }
        // A plain identity still works, and its meeting is the only one stored.
        let (status, created) = create_with(&app, &hs256(&claims("ana", 300), SECRET)).await;
        assert_eq!(status, 201, "{created}");
        let admin = client_with_key(&create_key(&app.database_url, "ops", true).await);
        let all: Value = admin
            .get(app.url("/meetings?limit=100"))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        let owners: Vec<&Value> = all["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|m| &m["owner_ref"])
            .collect();
        assert_eq!(owners, [&json!("ana")], "{backend:?}");
        assert_eq!(app.sandbox_rooms().await.len(), 1, "{backend:?}");
    }
}
