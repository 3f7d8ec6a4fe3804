//! Changing meetings, personal links and SDK tokens.

use crate::common::{Backend, TestApp, error_fields, in_minutes, spawn_app};
use serde_json::{Value, json};

async fn patch(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    let response = app
        .http
        .patch(app.url(&format!("/meetings/{id}")))
        .json(&body)
        .send()
        .await
        .expect("patch");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn changing_a_meeting_on_sqlite() {
    changing_a_meeting(spawn_app(Backend::Sqlite).await.expect("sqlite")).await;
}

#[tokio::test]
async fn changing_a_meeting_on_postgres() {
    if let Some(app) = spawn_app(Backend::Postgres).await {
        changing_a_meeting(app).await;
    }
}

async fn changing_a_meeting(app: TestApp) {
    let meeting = app
        .create(
            json!({"name": "Planning", "kind": "scheduled", "starts_at": in_minutes(120),
                       "duration_minutes": 30, "description": "first draft"}),
        )
        .await;
    let id = meeting["id"].as_str().expect("id");
    let room_id = meeting["room_id"].as_str().expect("room");

    let (status, changed) = patch(&app, id, json!({"name": "Planning v2", "duration_minutes": 45,
                                                    "description": "", "settings": {"quality": "HD"}})).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["name"], "Planning v2");
    assert_eq!(changed["duration_minutes"], 45);
    assert_eq!(
        changed["starts_at"], meeting["starts_at"],
        "the start is kept"
    );
    assert_eq!(
        changed["description"],
        Value::Null,
        "an empty description clears it"
    );
    assert_eq!(changed["settings"]["quality"], "HD");
    assert_eq!(
        changed["settings"]["moderators"], 1,
        "other settings are kept"
    );
    let room = app.upstream_room(room_id).await;
    assert_eq!(room["name"], "Planning v2");
    assert_eq!(room["settings"]["duration"], 45);
    assert_eq!(room["settings"]["quality"], "HD");
    let read: Value = app
        .get(&format!("/meetings/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(read, changed, "the change is stored");

    let new_start = in_minutes(300);
    let (status, moved) = patch(&app, id, json!({"starts_at": new_start})).await;
    assert_eq!(status, 200, "{moved}");
    let start = chrono::DateTime::parse_from_rfc3339(&new_start)
        .expect("start")
        .with_timezone(&chrono::Utc);
    assert_eq!(
        app.upstream_room(room_id).await["settings"]["scheduled_time"],
        start.format("%Y-%m-%d %H:%M:%S").to_string()
    );

    // Refused changes name the field and change nothing.
    for (body, fields) in [
        (json!({"kind": "permanent"}), vec!["kind"]),
        (
            json!({"settings": {"mode": "lecture"}}),
            vec!["settings.mode"],
        ),
        (
            json!({"settings": {"moderators": 9}}),
            vec!["settings.moderators"],
        ),
        (
            json!({"starts_at": "2020-01-01T00:00:00Z"}),
            vec!["starts_at"],
        ),
        (json!({"name": " "}), vec!["name"]),
        (json!({}), vec!["body"]),
        (json!({"embed": "lite"}), vec!["embed"]),
    ] {
        let (status, problem) = patch(&app, id, body.clone()).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(error_fields(&problem), fields, "{body}");
    }
    let read: Value = app
        .get(&format!("/meetings/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(read, moved);

    // Permanent rooms take no schedule; deleted meetings take no change.
    let permanent = app
        .create(json!({"name": "Lobby", "kind": "permanent"}))
        .await;
    let pid = permanent["id"].as_str().expect("id");
    let (status, problem) = patch(&app, pid, json!({"duration_minutes": 10})).await;
    assert_eq!(
        (status, error_fields(&problem)),
        (422, vec!["duration_minutes".to_owned()])
    );
    assert_eq!(app.delete(&format!("/meetings/{pid}")).await.status(), 204);
    let (status, _) = patch(&app, pid, json!({"name": "Gone"})).await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn a_scheduled_meeting_cannot_change_once_its_room_is_open() {
    let app = spawn_app(Backend::Sqlite).await.expect("sqlite");
    let soon = app
        .create(json!({"name": "Soon", "kind": "scheduled", "starts_at": in_minutes(10), "duration_minutes": 30}))
        .await;
    assert_eq!(soon["status"], "open");
    let (status, problem) = patch(
        &app,
        soon["id"].as_str().expect("id"),
        json!({"name": "Later"}),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(problem["code"], "conflict");
}

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = app.post_json(path, &body).await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn personal_links_carry_name_user_ref_and_landing() {
    let app = spawn_app(Backend::Sqlite).await.expect("sqlite");
    let meeting = app
        .create(json!({"name": "Clinic", "kind": "permanent"}))
        .await;
    let id = meeting["id"].as_str().expect("id");
    let path = format!("/meetings/{id}/links");
    let (status, link) = post(
        &app,
        &path,
        json!({"role": "participant", "name": "Ana María", "user_ref": "u1", "landing": false}),
    )
    .await;
    assert_eq!(status, 200, "{link}");
    assert_eq!(
        link["url"],
        format!(
            "{}?name=Ana%20Mar%C3%ADa&user_ref=u1&landing=no",
            meeting["participant_url"].as_str().expect("url")
        )
    );
    let (_, host) = post(&app, &path, json!({"role": "moderator", "name": "Dr Who"})).await;
    assert_eq!(
        host["url"],
        format!(
            "{}?name=Dr%20Who",
            meeting["moderator_url"].as_str().expect("url")
        )
    );
    let (status, problem) = post(&app, &path, json!({"landing": false})).await;
    assert_eq!(
        (status, error_fields(&problem)),
        (422, vec!["name".to_owned()])
    );
    let (status, problem) = post(&app, &path, json!({"role": "owner"})).await;
    assert_eq!(
        (status, error_fields(&problem)),
        (422, vec!["role".to_owned()])
    );
    assert_eq!(app.delete(&format!("/meetings/{id}")).await.status(), 204);
    let (status, _) = post(&app, &path, json!({"name": "Late"})).await;
    assert_eq!(status, 409, "no links to a deleted meeting");
}

#[tokio::test]
async fn tokens_come_from_enablex_and_only_when_the_room_can_be_joined() {
    let app = spawn_app(Backend::Sqlite).await.expect("sqlite");
    let open = app
        .create(json!({"name": "Now", "kind": "permanent"}))
        .await;
    let (status, token) = post(
        &app,
        &format!("/meetings/{}/tokens", open["id"].as_str().expect("id")),
        json!({"role": "viewer", "name": "Ana", "user_ref": "u1"}),
    )
    .await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(
        token["token"].as_str().expect("token").split('.').count(),
        3
    );
    let expires =
        chrono::DateTime::parse_from_rfc3339(token["expires_at"].as_str().expect("t")).expect("t");
    let minutes = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
    assert!((14..=15).contains(&minutes), "{minutes}");

    let later = app
        .create(json!({"name": "Later", "kind": "scheduled", "starts_at": in_minutes(120), "duration_minutes": 30}))
        .await;
    let (status, problem) = post(
        &app,
        &format!("/meetings/{}/tokens", later["id"].as_str().expect("id")),
        json!({"role": "participant", "name": "Ana", "user_ref": "u1"}),
    )
    .await;
    assert_eq!(status, 409);
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains(later["joinable_from"].as_str().expect("j"))
    );

    let (status, problem) = post(
        &app,
        &format!("/meetings/{}/tokens", open["id"].as_str().expect("id")),
        json!({"role": "boss"}),
    )
    .await;
    assert_eq!(status, 422);
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["name", "role", "user_ref"]);
}
