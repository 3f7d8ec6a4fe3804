//! Who holds what: key names that are never handed to a new key by accident, explicit
//! rotation, and the audit trail of moderator access (issue 9, items 11 and 12). Both databases.

use crate::common::{TestApp, client_with_key, create_key, each_backend, spawn_app_with};
use roomgate::config::{DatabaseArgs, KeysCommand, MeetingsCommand};
use serde_json::{Value, json};

fn database(app: &TestApp) -> DatabaseArgs {
    DatabaseArgs {
        database_url: Some(app.database_url.to_string()),
        ..Default::default()
    }
}

/// Runs `roomgate keys ...` against the app's database; the key it prints, or its error.
async fn keys(app: &TestApp, command: KeysCommand) -> Result<String, String> {
    let mut out = Vec::new();
    roomgate::ops::keys_command(command, database(app), &mut out).await?;
    Ok(String::from_utf8(out).expect("utf8").trim().to_owned())
}

fn create(name: &str) -> KeysCommand {
    KeysCommand::Create {
        name: name.into(),
        admin: false,
    }
}

fn rotate(name: &str, grace_secs: u32) -> KeysCommand {
    KeysCommand::Rotate {
        name: name.into(),
        grace_secs,
    }
}

async fn status_of(app: &TestApp, key: &str, path: &str) -> u16 {
    client_with_key(key)
        .get(app.url(path))
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_revoked_name_is_never_reused_and_rotation_keeps_the_identity() {
    for backend in each_backend().await {
        let app = spawn_app_with(backend, |c| c).await.expect("backend");
        // A revoked key's name cannot be taken by a new key, which would inherit its meetings.
        let old = keys(&app, create("svc")).await.expect("create");
        let meeting: Value = client_with_key(&old)
            .post(app.url("/meetings"))
            .json(&json!({"name": "Theirs", "kind": "permanent"}))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        keys(&app, KeysCommand::Revoke { name: "svc".into() })
            .await
            .expect("revoke");
        let refused = keys(&app, create("svc")).await.unwrap_err();
        assert!(refused.contains("never reused"), "{backend:?}: {refused}");
        assert!(
            keys(&app, rotate("svc", 0)).await.is_err(),
            "a revoked identity is not brought back by rotation"
        );
        let path = format!("/meetings/{}", meeting["id"].as_str().expect("id"));
        assert_eq!(status_of(&app, &old, &path).await, 401);

        // Rotation: a new secret for the same identity; the old one works for its grace period.
        let first = keys(&app, create("rot")).await.expect("create");
        let made: Value = client_with_key(&first)
            .post(app.url("/meetings"))
            .json(&json!({"name": "Rotated", "kind": "permanent"}))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        let path = format!("/meetings/{}", made["id"].as_str().expect("id"));
        let second = keys(&app, rotate("rot", 3600)).await.expect("rotate");
        for key in [&first, &second] {
            let seen: Value = client_with_key(key)
                .get(app.url(&path))
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            assert!(
                seen["moderator_url"].is_string(),
                "{backend:?}: still the owner: {seen}"
            );
        }
        let third = keys(&app, rotate("rot", 0)).await.expect("rotate");
        assert_eq!(status_of(&app, &first, &path).await, 401, "{backend:?}");
        assert_eq!(status_of(&app, &second, &path).await, 401, "{backend:?}");
        assert_eq!(status_of(&app, &third, &path).await, 200, "{backend:?}");
        keys(&app, KeysCommand::Revoke { name: "rot".into() })
            .await
            .expect("revoke");
        assert_eq!(status_of(&app, &third, &path).await, 401, "{backend:?}");
    }
}

#[tokio::test]
async fn every_moderator_url_link_and_token_handed_out_is_recorded() {
    for backend in each_backend().await {
        let app = spawn_app_with(backend, |c| c).await.expect("backend");
        let meeting = app
            .create(json!({"name": "Audited", "kind": "permanent"}))
            .await;
        let id = meeting["id"].as_str().expect("id");
        assert!(meeting["moderator_url"].is_string());
        app.get(&format!("/meetings/{id}")).await;
        app.get("/meetings").await;
        let post = |path: String, body: Value| {
            let app = &app;
            async move {
                let response = app.post_json(&path, &body).await;
                assert_eq!(response.status(), 200, "{path}");
            }
        };
        post(
            format!("/meetings/{id}/links"),
            json!({"role": "moderator"}),
        )
        .await;
        post(
            format!("/meetings/{id}/links"),
            json!({"role": "participant"}),
        )
        .await;
        post(
            format!("/meetings/{id}/tokens"),
            json!({"role": "moderator", "name": "Ana", "user_ref": "u1"}),
        )
        .await;
        let admin = client_with_key(&create_key(&app.database_url, "ops", true).await);
        let trail: Value = admin
            .get(app.url(&format!("/meetings/{id}/moderator-grants")))
            .send()
            .await
            .expect("grants")
            .json()
            .await
            .expect("json");
        let what: Vec<&str> = trail["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|g| g["what"].as_str().expect("what"))
            .collect();
        assert_eq!(what, ["url", "url", "url", "link", "token"], "{backend:?}");
        assert!(
            trail["items"]
                .as_array()
                .expect("items")
                .iter()
                .all(|g| g["caller"] == "key:owner")
        );
        // Only ops read the trail.
        let own = app.get(&format!("/meetings/{id}/moderator-grants")).await;
        assert_eq!(own.status(), 404);
        let mut out = Vec::new();
        roomgate::ops::meetings_command(
            MeetingsCommand::Show {
                id: id.to_owned(),
                json: true,
            },
            database(&app),
            &mut out,
        )
        .await
        .expect("show");
        let shown: Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(
            shown["moderator_grants"].as_array().expect("grants").len(),
            5
        );
    }
}

#[tokio::test]
async fn withheld_moderator_urls_are_handed_out_only_through_links() {
    for backend in each_backend().await {
        let app = spawn_app_with(backend, |mut c| {
            c.security.moderator_url_in_answers = false;
            c
        })
        .await
        .expect("backend");
        let meeting = app
            .create(json!({"name": "Quiet", "kind": "permanent"}))
            .await;
        assert!(meeting["moderator_url"].is_null(), "{backend:?}: {meeting}");
        let id = meeting["id"].as_str().expect("id");
        let read: Value = app
            .get(&format!("/meetings/{id}"))
            .await
            .json()
            .await
            .expect("json");
        assert!(read["moderator_url"].is_null());
        let link: Value = app
            .post_json(
                &format!("/meetings/{id}/links"),
                &json!({"role": "moderator"}),
            )
            .await
            .json()
            .await
            .expect("json");
        assert!(link["url"].as_str().expect("url").contains("/host/"));
        let admin = client_with_key(&create_key(&app.database_url, "ops", true).await);
        let trail: Value = admin
            .get(app.url(&format!("/meetings/{id}/moderator-grants")))
            .send()
            .await
            .expect("grants")
            .json()
            .await
            .expect("json");
        assert_eq!(trail["items"].as_array().expect("items").len(), 1);
        assert_eq!(trail["items"][0]["what"], "link");
    }
}

#[tokio::test]
async fn a_revoked_key_stops_working_on_every_replica_within_a_second() {
    for backend in each_backend().await {
        let app = spawn_app_with(backend, |c| c).await.expect("backend");
        // A second replica over the same database, with its own cache of verified keys.
        let mut other = crate::common::config(
            &app.database_url,
            &app.sandbox.api_url(),
            &app.sandbox_config,
        );
        other.security.rate_limit = None;
        let (addr, _stop) = crate::common::spawn_roomgate(other).await;
        let replicas = [app.url("/meetings"), format!("http://{addr}/meetings")];
        let key = keys(&app, create("shared")).await.expect("create");
        for url in &replicas {
            let status = client_with_key(&key)
                .get(url)
                .send()
                .await
                .expect("get")
                .status();
            assert_eq!(
                status, 200,
                "{backend:?}: {url} knows the key (and caches it)"
            );
        }
        keys(
            &app,
            KeysCommand::Revoke {
                name: "shared".into(),
            },
        )
        .await
        .expect("revoke");
        let revoked = std::time::Instant::now();
        for url in &replicas {
            loop {
                let status = client_with_key(&key)
                    .get(url)
                    .send()
                    .await
                    .expect("get")
                    .status();
                if status == 401 {
                    break;
                }
                assert!(
                    revoked.elapsed() < std::time::Duration::from_secs(1),
                    "{backend:?}: {url} still takes the revoked key after {:?}",
                    revoked.elapsed()
                );
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
        eprintln!(
            "{backend:?}: the revoked key was refused by both replicas after {:?}",
            revoked.elapsed()
        );
    }
}
