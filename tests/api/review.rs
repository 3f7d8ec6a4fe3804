//! Defects a hostile review found in the hardening and scale work, each pinned by a test.

use crate::common::{Backend, TestApp, client_with_key, create_key, each_backend, spawn_app_with};
use roomgate::meetings::{EmbedPlan, Kind, Meeting, Settings, State, now};
use roomgate::store::MeetingStore;
use serde_json::{Value, json};
use sqlx::Connection;

async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |mut c| {
        c.resilience.policy.breaker_threshold = 1000;
        c
    })
    .await
    .expect("backend")
}

#[tokio::test]
async fn failed_creations_piling_up_do_not_starve_the_reconciler() {
    for backend in each_backend().await {
        let app = app(backend).await;
        let store = roomgate::store::connect(&app.database_url, &Default::default())
            .await
            .expect("store");
        let old = now() - chrono::Duration::hours(2);
        for i in 0..520 {
            let failed = Meeting {
                id: uuid::Uuid::now_v7(),
                room_id: None,
                kind: Kind::Permanent,
                name: format!("Refused {i}"),
                description: None,
                owner_ref: "o".into(),
                created_by: "key:o".into(),
                embed: EmbedPlan::Premium,
                schedule: None,
                settings: Settings::default(),
                state: State::Failed,
                failure: Some("EnableX refused".into()),
                created_at: old,
                updated_at: old,
                deleted_at: None,
                ended_at: None,
            };
            store.insert(&failed).await.expect("insert");
        }
        // A creation whose answer was lost: its room exists upstream.
        app.set_faults(json!({"lose_response_rate": 1.0, "operations": ["create"]}))
            .await;
        assert_eq!(
            app.post_json("/meetings", &json!({"name": "Lost"}))
                .await
                .status(),
            502
        );
        app.set_faults(json!({})).await;
        let report = app.jobs(false).await.reconcile().await.expect("reconcile");
        assert_eq!(report.completed.len(), 1, "{backend:?}: {report:?}");
        assert!(app.all_with_status("provisioning").await.is_empty());
    }
}

#[tokio::test]
async fn an_unreadable_row_does_not_end_a_page_early() {
    for backend in each_backend().await {
        let app = app(backend).await;
        let mut ids = Vec::new();
        for i in 0..25 {
            let m = app
                .create(json!({"name": format!("M{i}"), "kind": "permanent"}))
                .await;
            ids.push(m["id"].as_str().expect("id").to_owned());
        }
        // The 11th newest row becomes unreadable.
        let bad = &ids[14];
        let sql = "UPDATE meetings SET settings = '{\"mode\":\"bogus\"}' WHERE id = ";
        match backend {
            Backend::Sqlite => {
                let mut db = sqlx::SqliteConnection::connect(&app.database_url)
                    .await
                    .expect("db");
                sqlx::query(&format!("{sql}$1"))
                    .bind(bad)
                    .execute(&mut db)
                    .await
                    .expect("poison");
            }
            Backend::Postgres => {
                let mut db = sqlx::PgConnection::connect(&app.database_url)
                    .await
                    .expect("db");
                sqlx::query(&format!("{sql}$1::uuid"))
                    .bind(bad)
                    .execute(&mut db)
                    .await
                    .expect("poison");
            }
        }
        let mut seen = 0;
        let mut cursor: Option<String> = None;
        for _ in 0..10 {
            let path = match &cursor {
                None => "/meetings?limit=10".to_owned(),
                Some(c) => format!("/meetings?limit=10&cursor={c}"),
            };
            let page: Value = app.get(&path).await.json().await.expect("json");
            seen += page["items"].as_array().expect("items").len();
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, 24, "{backend:?}: every readable meeting is reached");
    }
}

#[tokio::test]
async fn a_replayed_answer_that_carries_a_moderator_url_is_recorded() {
    for backend in each_backend().await {
        let app = app(backend).await;
        let mut id = String::new();
        for _ in 0..3 {
            let response = app
                .http
                .post(app.url("/meetings"))
                .header("idempotency-key", "replayed")
                .json(&json!({"name": "Once", "kind": "permanent"}))
                .send()
                .await
                .expect("post");
            assert_eq!(response.status(), 201);
            let meeting: Value = response.json().await.expect("json");
            assert!(meeting["moderator_url"].is_string());
            id = meeting["id"].as_str().expect("id").to_owned();
        }
        let admin = client_with_key(&create_key(&app.database_url, "ops", true).await);
        let trail: Value = admin
            .get(app.url(&format!("/meetings/{id}/moderator-grants")))
            .send()
            .await
            .expect("grants")
            .json()
            .await
            .expect("json");
        assert_eq!(
            trail["items"].as_array().expect("items").len(),
            3,
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn whole_seconds_past_2262_and_invisible_characters_in_owner_ref() {
    for backend in each_backend().await {
        let app = app(backend).await;
        let made = app
            .create(json!({"name": "Far", "kind": "scheduled",
                           "starts_at": "2300-01-01T00:00:00.123456789Z", "duration_minutes": 30}))
            .await;
        assert_eq!(made["starts_at"], "2300-01-01T00:00:00Z", "{backend:?}");
        let response = app
            .post_json(
                "/meetings",
                &json!({"name": "Sly", "owner_ref": "ab\u{202e}cd"}),
            )
            .await;
        assert_eq!(response.status(), 422, "{backend:?}");
    }
}
