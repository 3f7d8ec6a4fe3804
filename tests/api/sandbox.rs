//! The sandbox imitates EnableX as shared/enablex-api.md describes it, and `serve --sandbox`
//! gives working embed pages.

use crate::common::{Backend, config, fresh_database, spawn_sandbox};
use roomgate::sandbox::SandboxConfig;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

struct Upstream {
    base: String,
    creds: SandboxConfig,
    http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn upstream() -> Upstream {
    let creds = SandboxConfig::generated();
    let (running, stop) = spawn_sandbox(creds.clone()).await;
    Upstream {
        base: running.embed_origin(),
        creds,
        http: reqwest::Client::new(),
        _stop: stop,
    }
}

impl Upstream {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.creds.app_id, Some(self.creds.app_key.expose_secret()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("sandbox");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    async fn create(&self, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, "/video/v1/rooms", Some(body))
            .await
    }
}

#[tokio::test]
async fn every_prefix_serves_the_same_rooms() {
    let up = upstream().await;
    let (status, created) = up
        .create(json!({"name": "r", "owner_ref": "o", "settings": {}}))
        .await;
    assert_eq!((status, created["result"].clone()), (200, json!(0)));
    let room_id = created["room"]["room_id"].as_str().expect("id");
    assert_eq!(room_id.len(), 24);
    for prefix in ["/video/v1", "/video/v2", "/v1"] {
        let (status, got) = up
            .call(
                reqwest::Method::GET,
                &format!("{prefix}/rooms/{room_id}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{prefix}");
        assert_eq!(got["room"]["room_id"], room_id);
    }
}

#[tokio::test]
async fn calls_without_the_right_basic_auth_are_refused() {
    let up = upstream().await;
    let response = up
        .http
        .get(format!("{}/video/v1/rooms", up.base))
        .send()
        .await
        .expect("req");
    assert_eq!(response.status(), 401);
    let response = up
        .http
        .get(format!("{}/v1/rooms", up.base))
        .basic_auth(&up.creds.app_id, Some("wrong"))
        .send()
        .await
        .expect("req");
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["result"], 10000);
}

#[tokio::test]
async fn create_bodies_are_checked_with_enablex_codes() {
    let up = upstream().await;
    let future = (chrono::Utc::now() + chrono::Duration::hours(2))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let cases = [
        (json!({"owner_ref": "o", "settings": {}}), 10002),
        (
            json!({"name": "r", "owner_ref": "o", "settings": {"scheduled": "maybe"}}),
            10003,
        ),
        (
            json!({"name": "r", "owner_ref": "o", "settings": {"scheduled": true, "duration": 30}}),
            10004,
        ),
        (
            json!({"name": "r", "owner_ref": "o", "settings": {"scheduled": true, "duration": 30, "scheduled_time": "2030-01-01T10:00:00Z"}}),
            10005,
        ),
        (
            json!({"name": "r", "owner_ref": "o", "settings": {"scheduled": true, "duration": 30, "scheduled_time": "2020-01-01 10:00:00"}}),
            10006,
        ),
        (
            json!({"name": "r", "owner_ref": "o", "settings": {"participants": "-3"}}),
            10007,
        ),
        (
            json!({"name": "r", "owner_ref": "o", "settings": {"auto_recording": "yes"}}),
            10008,
        ),
        (
            json!({"name": "r", "owner_ref": "o", "settings": {"colour": "red"}}),
            10009,
        ),
        (json!({"name": "r", "settings": {}}), 10010),
    ];
    for (body, code) in cases {
        let (status, answer) = up.create(body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(answer["result"], code, "{body} -> {answer}");
        assert!(answer["desc"].is_string());
    }
    // Numbers as strings are accepted, as EnableX's own samples send them.
    let (status, answer) = up
        .create(
            json!({"name": "r", "owner_ref": "o", "settings": {"scheduled": true, "duration": "30",
                       "scheduled_time": future, "moderators": "1", "participants": "3"}}),
        )
        .await;
    assert_eq!(
        (status, answer["result"].clone()),
        (200, json!(0)),
        "{answer}"
    );
    let (_, rooms) = up.call(reqwest::Method::GET, "/video/v1/rooms", None).await;
    assert_eq!(
        rooms["rooms"].as_array().expect("rooms").len(),
        1,
        "refused bodies create nothing"
    );
}

#[tokio::test]
async fn fixed_settings_cannot_be_patched_and_tokens_are_issued() {
    let up = upstream().await;
    let (_, created) = up
        .create(json!({"name": "r", "owner_ref": "o", "settings": {"mode": "group"}}))
        .await;
    let room_id = created["room"]["room_id"].as_str().expect("id");
    let path = format!("/video/v1/rooms/{room_id}");
    let (status, answer) = up
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"settings": {"mode": "lecture"}})),
        )
        .await;
    assert_eq!((status, answer["result"].clone()), (400, json!(10009)));
    let (status, _) = up
        .call(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"name": "renamed", "settings": {"quality": "HD"}})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, got) = up.call(reqwest::Method::GET, &path, None).await;
    assert_eq!(
        (
            got["room"]["name"].clone(),
            got["room"]["settings"]["quality"].clone()
        ),
        (json!("renamed"), json!("HD"))
    );
    let (status, token) = up
        .call(
            reqwest::Method::POST,
            &format!("{path}/tokens"),
            Some(json!({"name": "Ana", "role": "participant", "user_ref": "u1"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        token["token"].as_str().expect("token").split('.').count(),
        3
    );
    let (status, _) = up
        .call(
            reqwest::Method::POST,
            &format!("{path}/tokens"),
            Some(json!({"name": "Ana", "role": "boss", "user_ref": "u1"})),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_enablex_client_reads_sandbox_answers() {
    use roomgate::enablex::{ClientConfig, EnableXClient, TokenRequest};
    let up = upstream().await;
    let client = EnableXClient::new(ClientConfig {
        base_url: format!("{}/v1", up.base),
        app_id: up.creds.app_id.clone(),
        app_key: up.creds.app_key.clone(),
        connect_timeout: std::time::Duration::from_secs(2),
        request_timeout: std::time::Duration::from_secs(5),
        policy: Default::default(),
    })
    .expect("client");
    let (_, created) = up
        .create(json!({"name": "r", "owner_ref": "o", "data": {"roomgate_meeting_id": "m-1"}}))
        .await;
    let room_id = created["room"]["room_id"].as_str().expect("id");
    let room = client.get_room(room_id).await.expect("get");
    assert_eq!(room.roomgate_meeting_id(), Some("m-1"));
    assert_eq!(client.list_rooms().await.expect("list").len(), 1);
    client
        .update_room(room_id, &json!({"settings": {"canvas": true}}))
        .await
        .expect("update");
    assert_eq!(client.live_user_count(room_id).await.expect("users"), 0);
    let token = client
        .create_token(
            room_id,
            &TokenRequest {
                name: "Ana".into(),
                role: "viewer".into(),
                user_ref: "u".into(),
            },
        )
        .await
        .expect("token");
    assert!(!token.is_empty());
    client.delete_room(room_id).await.expect("delete");
    let gone = client.get_room(room_id).await.unwrap_err();
    assert!(gone.is_room_not_found(), "{gone}");
}

#[tokio::test]
async fn serve_with_sandbox_gives_embed_urls_that_open_pages() {
    let database = fresh_database(Backend::Sqlite).await.expect("sqlite");
    let creds = SandboxConfig::generated();
    let mut cfg = config(&database, "http://unused.invalid/video/v1", &creds);
    cfg.sandbox = true;
    cfg.embed = roomgate::config::EmbedTarget::Sandbox;
    let key = crate::common::create_key(&database, "owner", false).await;
    let (addr, _stop) = crate::common::spawn_roomgate(cfg).await;
    let http = crate::common::client_with_key(&key);
    let meeting: Value = http
        .post(format!("http://{addr}/meetings"))
        .json(&json!({"name": "Demo <b>room</b>"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    for (field, role) in [
        ("participant_url", "participant"),
        ("moderator_url", "moderator"),
    ] {
        let url = meeting[field].as_str().expect("url");
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let page = http
            .get(format!("{url}?name=Ana"))
            .send()
            .await
            .expect("page");
        assert_eq!(page.status(), 200, "{url}");
        let html = page.text().await.expect("html");
        assert!(
            html.contains("Demo &lt;b&gt;room&lt;/b&gt;"),
            "names are escaped: {html}"
        );
        assert!(html.contains(role) && html.contains("Ana"), "{html}");
        assert!(!html.contains(creds.app_key.expose_secret()));
    }
    let forged = meeting["moderator_url"]
        .as_str()
        .expect("url")
        .replace("/host/", "/host/AA");
    assert_eq!(http.get(forged).send().await.expect("page").status(), 404);
}
