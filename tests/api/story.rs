//! The whole life of meetings, run on SQLite and on PostgreSQL: create each kind, read, list
//! with each filter and across pages, delete, read again.

use crate::common::{Backend, TestApp, in_minutes, spawn_app};
use base64::Engine;
use serde_json::{Value, json};

#[tokio::test]
async fn meetings_story_on_sqlite() {
    story(
        spawn_app(Backend::Sqlite)
            .await
            .expect("sqlite always runs"),
    )
    .await;
}

#[tokio::test]
async fn meetings_story_on_postgres() {
    if let Some(app) = spawn_app(Backend::Postgres).await {
        story(app).await;
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn list(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/meetings?{query}")).await;
    assert_eq!(response.status(), 200, "GET /meetings?{query}");
    response.json().await.expect("json")
}

async fn story(app: TestApp) {
    // Create one of each kind.
    let permanent = app
        .create(
            json!({"name": "Standing room", "kind": "permanent", "owner_ref": "team-a",
                       "settings": {"mode": "lecture", "moderators": 2, "quality": "HD"}}),
        )
        .await;
    let starts_at = in_minutes(120);
    let scheduled = app
        .create(
            json!({"name": "Weekly sync", "kind": "scheduled", "starts_at": starts_at,
                       "duration_minutes": 30, "owner_ref": "team-b", "embed": "lite",
                       "description": "agenda in the doc"}),
        )
        .await;
    let adhoc = app.create(json!({"name": "Quick call"})).await;

    // What came back is complete and consistent.
    assert_eq!(permanent["kind"], "permanent");
    assert_eq!(permanent["status"], "open");
    assert_eq!(permanent["settings"]["mode"], "lecture");
    assert_eq!(permanent["settings"]["moderators"], 2);
    assert_eq!(
        permanent["settings"]["abwd"], true,
        "defaults are filled in"
    );
    assert_eq!(permanent["starts_at"], Value::Null);
    assert_eq!(adhoc["kind"], "adhoc", "adhoc is the default kind");
    assert_eq!(
        adhoc["owner_ref"], "owner",
        "owner_ref defaults to the caller"
    );
    assert_eq!(scheduled["status"], "scheduled");
    assert_eq!(scheduled["duration_minutes"], 30);
    let start = chrono::DateTime::parse_from_rfc3339(&starts_at).expect("start");
    let stored_start =
        chrono::DateTime::parse_from_rfc3339(scheduled["starts_at"].as_str().expect("s"))
            .expect("s");
    assert_eq!(start, stored_start, "the same instant, now in UTC");
    assert!(scheduled["starts_at"].as_str().expect("s").ends_with('Z'));
    let ends =
        chrono::DateTime::parse_from_rfc3339(scheduled["ends_at"].as_str().expect("e")).expect("e");
    let joinable =
        chrono::DateTime::parse_from_rfc3339(scheduled["joinable_from"].as_str().expect("j"))
            .expect("j");
    assert_eq!((ends - start).num_minutes(), 30);
    assert_eq!((start - joinable).num_minutes(), 15);

    // Embed URLs: plan-specific origin, moderator hash = base64(room-app) with padding.
    let room_id = scheduled["room_id"].as_str().expect("room id");
    assert_eq!(
        scheduled["participant_url"],
        format!("https://acme.yourvideo.app/{room_id}")
    );
    let hash = scheduled["moderator_url"]
        .as_str()
        .expect("url")
        .strip_prefix("https://acme.yourvideo.app/host/")
        .expect("lite host url");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(hash)
        .expect("standard base64");
    assert_eq!(
        String::from_utf8(decoded).expect("utf8"),
        format!("{room_id}-{}", app.sandbox_config.app_id)
    );
    assert!(
        permanent["participant_url"]
            .as_str()
            .expect("url")
            .starts_with("https://acme.yourvideo.live/")
    );

    // EnableX got one room per meeting, each carrying its meeting id, times in UTC.
    let rooms = app.sandbox_rooms().await;
    assert_eq!(rooms.len(), 3);
    for meeting in [&permanent, &scheduled, &adhoc] {
        let room = rooms
            .iter()
            .find(|r| r["room_id"] == meeting["room_id"])
            .expect("room exists upstream");
        assert_eq!(room["data"]["roomgate_meeting_id"], meeting["id"]);
        assert_eq!(room["name"], meeting["name"]);
    }
    let upstream = rooms
        .iter()
        .find(|r| r["room_id"] == room_id)
        .expect("scheduled room");
    assert_eq!(upstream["settings"]["scheduled"], true);
    assert_eq!(
        upstream["settings"]["scheduled_time"],
        start
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    );
    assert_eq!(upstream["settings"]["duration"], 30);
    let adhoc_room = rooms
        .iter()
        .find(|r| r["room_id"] == adhoc["room_id"])
        .expect("adhoc room");
    assert_eq!(
        (
            adhoc_room["settings"]["adhoc"].clone(),
            adhoc_room["settings"]["scheduled"].clone()
        ),
        (json!(true), json!(false))
    );

    // Read each back: the same meeting.
    for meeting in [&permanent, &scheduled, &adhoc] {
        let id = meeting["id"].as_str().expect("id");
        let response = app.get(&format!("/meetings/{id}")).await;
        assert_eq!(response.status(), 200);
        let read: Value = response.json().await.expect("json");
        assert_eq!(&read, meeting);
    }

    // List: newest first, and each filter.
    let all = list(&app, "").await;
    let newest_first: Vec<String> = [&adhoc, &scheduled, &permanent]
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids(&all), newest_first);
    assert_eq!(all["next_cursor"], Value::Null);
    assert_eq!(
        ids(&list(&app, "kind=scheduled").await),
        [scheduled["id"].as_str().expect("id")]
    );
    assert_eq!(
        ids(&list(&app, "kind=permanent").await),
        [permanent["id"].as_str().expect("id")]
    );
    assert_eq!(
        ids(&list(&app, "owner_ref=team-a").await),
        [permanent["id"].as_str().expect("id")]
    );
    assert_eq!(
        ids(&list(&app, "status=scheduled").await),
        [scheduled["id"].as_str().expect("id")]
    );
    assert_eq!(ids(&list(&app, "status=open").await).len(), 2);
    assert!(ids(&list(&app, "status=ended").await).is_empty());
    let after = urlencode(&in_minutes(60));
    let before = urlencode(&in_minutes(180));
    assert_eq!(
        ids(&list(
            &app,
            &format!("starts_after={after}&starts_before={before}")
        )
        .await)
        .len(),
        1
    );
    assert!(ids(&list(&app, &format!("starts_before={after}")).await).is_empty());
    assert!(ids(&list(&app, &format!("starts_after={before}")).await).is_empty());

    // Pages: two, then the rest; a meeting created between pages does not disturb the walk.
    let first = list(&app, "limit=2").await;
    assert_eq!(ids(&first), newest_first[..2]);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a cursor when more follow")
        .to_owned();
    let late = app
        .create(json!({"name": "Late arrival", "kind": "permanent"}))
        .await;
    let second = list(&app, &format!("limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&second), newest_first[2..]);
    assert_eq!(second["next_cursor"], Value::Null);
    assert_eq!(
        ids(&list(&app, "limit=1").await),
        [late["id"].as_str().expect("id")]
    );

    // Delete: the room goes upstream, the row stays as deleted, and deleting again is harmless.
    let id = scheduled["id"].as_str().expect("id");
    let response = app.delete(&format!("/meetings/{id}")).await;
    assert_eq!(response.status(), 204);
    assert!(
        !app.sandbox_rooms()
            .await
            .iter()
            .any(|r| r["room_id"] == room_id)
    );
    let read: Value = app
        .get(&format!("/meetings/{id}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(read["status"], "deleted");
    assert!(read["deleted_at"].is_string());
    assert_eq!(app.delete(&format!("/meetings/{id}")).await.status(), 204);
    assert!(!ids(&list(&app, "").await).contains(&id.to_owned()));
    assert_eq!(ids(&list(&app, "status=deleted").await), [id]);

    // A room with people in it is not deleted.
    let busy = permanent["room_id"].as_str().expect("room");
    app.set_live_users(busy, 3).await;
    let response = app
        .delete(&format!(
            "/meetings/{}",
            permanent["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(response.status(), 409);
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "conflict");
    assert!(
        app.sandbox_rooms()
            .await
            .iter()
            .any(|r| r["room_id"] == busy)
    );
    let read: Value = app
        .get(&format!(
            "/meetings/{}",
            permanent["id"].as_str().expect("id")
        ))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(read["status"], "open");

    // A room EnableX already dropped (ad-hoc rooms go after their session) counts as deleted.
    app.http
        .delete(format!(
            "{}/rooms/{}",
            app.sandbox.api_url(),
            adhoc["room_id"].as_str().expect("room")
        ))
        .basic_auth(
            &app.sandbox_config.app_id,
            Some(secrecy::ExposeSecret::expose_secret(
                &app.sandbox_config.app_key,
            )),
        )
        .send()
        .await
        .expect("sandbox delete");
    let response = app
        .delete(&format!("/meetings/{}", adhoc["id"].as_str().expect("id")))
        .await;
    assert_eq!(response.status(), 204);
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
