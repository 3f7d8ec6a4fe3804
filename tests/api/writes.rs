//! Creates that share their commits (issue 11): under concurrency every answered create has
//! its row and its room, and one row that cannot be written fails only its own request.

use crate::common::{each_backend, spawn_app_with};
use roomgate::meetings::{EmbedPlan, Kind, Meeting, Settings, State, now};
use roomgate::store::MeetingStore;
use serde_json::{Value, json};
use std::collections::HashSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_create_has_its_row_when_many_share_commits() {
    for backend in each_backend().await {
        let app = spawn_app_with(backend, |c| c).await.expect("backend");
        let creates: Vec<_> = (0..64)
            .map(|i| {
                let http = app.http.clone();
                let url = app.url("/meetings");
                tokio::spawn(async move {
                    let response = http
                        .post(url)
                        .json(&json!({"name": format!("Burst {i}"), "kind": "permanent"}))
                        .send()
                        .await
                        .expect("post");
                    assert_eq!(response.status(), 201);
                    let meeting: Value = response.json().await.expect("json");
                    meeting["id"].as_str().expect("id").to_owned()
                })
            })
            .collect();
        let mut answered = HashSet::new();
        for create in creates {
            answered.insert(create.await.expect("task"));
        }
        assert_eq!(answered.len(), 64, "{backend:?}");
        let store = roomgate::store::connect(&app.database_url, &Default::default())
            .await
            .expect("store");
        for id in &answered {
            let row = store.get(id.parse().expect("uuid")).await.expect("get");
            let row = row.unwrap_or_else(|| panic!("{backend:?}: no row for answered {id}"));
            assert_eq!(row.state, State::Active, "{backend:?}");
            assert!(row.room_id.is_some());
        }
        assert_eq!(app.sandbox_rooms().await.len(), 64, "{backend:?}");
    }
}

fn meeting(name: &str) -> Meeting {
    let at = now();
    Meeting {
        id: uuid::Uuid::now_v7(),
        room_id: None,
        kind: Kind::Permanent,
        name: name.to_owned(),
        description: None,
        owner_ref: "o".into(),
        created_by: "key:o".into(),
        embed: EmbedPlan::Premium,
        schedule: None,
        settings: Settings::default(),
        state: State::Provisioning,
        failure: None,
        created_at: at,
        updated_at: at,
        deleted_at: None,
        ended_at: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_that_cannot_be_written_fails_only_its_own_request() {
    for backend in each_backend().await {
        let app = spawn_app_with(backend, |c| c).await.expect("backend");
        let store = roomgate::store::connect(&app.database_url, &Default::default())
            .await
            .expect("store");
        let taken = meeting("First");
        store.insert(&taken).await.expect("insert");
        // 32 rows written at once, one of them with an id already taken.
        let mut rows: Vec<Meeting> = (0..31).map(|i| meeting(&format!("Row {i}"))).collect();
        rows.insert(
            17,
            Meeting {
                name: "Clash".into(),
                ..taken.clone()
            },
        );
        let writes: Vec<_> = rows
            .iter()
            .cloned()
            .map(|row| {
                let store = store.clone();
                tokio::spawn(async move { (row.name.clone(), store.insert(&row).await) })
            })
            .collect();
        for write in writes {
            let (name, result) = write.await.expect("task");
            if name == "Clash" {
                assert!(result.is_err(), "{backend:?}: the clashing row fails");
            } else {
                assert!(result.is_ok(), "{backend:?}: {name} is written: {result:?}");
            }
        }
        for row in rows.iter().filter(|r| r.name != "Clash") {
            assert!(
                store.get(row.id).await.expect("get").is_some(),
                "{backend:?}"
            );
        }
        let kept = store.get(taken.id).await.expect("get").expect("row");
        assert_eq!(
            kept.name, "First",
            "{backend:?}: the first row is untouched"
        );
    }
}
