//! The real binary in sandbox mode, its whole output captured at debug level: neither the
//! EnableX app key nor an API key (after the one line that hands it out) appears in any
//! response or log line, and SIGTERM stops it cleanly.

use crate::common::TempDir;
use crate::process::{Binary, free_port};
use base64::Engine;
use serde_json::json;
use std::time::Duration;

const APP_ID: &str = "64a1b2c3d4e5f60718293a4b";
const APP_KEY: &str = "Zx9QvLm2Rt7Kp4Wn8Hs3Jd6Fg1Bc5Ya0Ue2Io7Pq";

#[tokio::test]
async fn no_response_or_log_line_holds_a_secret() {
    let dir = TempDir::new("roomgate-secrets");
    let port = free_port();
    let mut roomgate = Binary::start(
        &["serve", "--sandbox"],
        &dir,
        &[
            ("ENABLEX_APP_ID", APP_ID.to_owned()),
            ("ENABLEX_APP_KEY", APP_KEY.to_owned()),
            ("ROOMGATE_LISTEN", format!("127.0.0.1:{port}")),
            ("DATABASE_URL", format!("sqlite://{}/rg.db", dir.display())),
            ("LOG_FORMAT", "json".to_owned()),
            ("RUST_LOG", "debug".to_owned()),
        ],
    );
    let key_line = roomgate.wait_for("export ROOMGATE_API_KEY=", Duration::from_secs(30));
    let key = key_line
        .trim()
        .strip_prefix("export ROOMGATE_API_KEY=")
        .map(str::to_owned);
    roomgate.wait_for("roomgate listening", Duration::from_secs(30));
    let key = key.expect("a dev key");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut answers = Vec::new();
    let created = http
        .post(format!("{base}/meetings"))
        .bearer_auth(&key)
        .json(&json!({"name": "Secret test"}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    answers.push(format!("{:?}", created.headers()));
    let meeting: serde_json::Value = created.json().await.expect("json");
    answers.push(meeting.to_string());
    let id = meeting["id"].as_str().expect("id");
    for request in [
        http.get(format!("{base}/meetings/{id}")).bearer_auth(&key),
        http.get(format!("{base}/meetings")).bearer_auth(&key),
        http.post(format!("{base}/meetings/{id}/links"))
            .bearer_auth(&key)
            .json(&json!({"role": "moderator", "name": "Ana"})),
        http.post(format!("{base}/meetings/{id}/tokens"))
            .bearer_auth(&key)
            .json(&json!({"role": "participant", "name": "Ana", "user_ref": "u"})),
        http.post(format!("{base}/meetings"))
            .bearer_auth(&key)
            .json(&json!({"name": ""})),
        http.get(format!("{base}/meetings"))
            .bearer_auth(format!("{key}tampered")),
        http.get(format!("{base}/meetings"))
            .header("authorization", format!("Basic {key}")),
        http.get(format!("{base}/readyz")),
    ] {
        let response = request.send().await.expect("request");
        answers.push(format!("{} {:?}", response.status(), response.headers()));
        answers.push(response.text().await.expect("body"));
    }
    // SIGTERM: graceful shutdown, exit 0.
    let status = roomgate.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let lines = roomgate.all_lines();

    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{APP_ID}:{APP_KEY}"));
    // rg_<id>_<secret>: the secret is base64url and may itself hold '_'.
    let secret_part = key.splitn(3, '_').nth(2).expect("secret");
    for answer in &answers {
        assert!(
            !answer.contains(APP_KEY) && !answer.contains(&basic),
            "APP_KEY in a response: {answer}"
        );
        assert!(
            !answer.contains(secret_part),
            "API key in a response: {answer}"
        );
    }
    let handed_out = lines.iter().filter(|l| l.contains(secret_part)).count();
    assert_eq!(
        handed_out, 1,
        "the API key appears once, where it is handed out"
    );
    for line in &lines {
        assert!(
            !line.contains(APP_KEY) && !line.contains(&basic),
            "APP_KEY in the log: {line}"
        );
    }
    // The request headers were logged, with the credential replaced: the check above saw them.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("request received") && l.contains("Sensitive")),
        "debug header lines are present"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"status\":401") || l.contains("401"))
    );
}
