//! Callers: API keys, JWTs, ownership, rate limits, CORS, and secrets kept out of answers.

use crate::common::{
    Backend, TestApp, client_with_key, create_key, fresh_database, spawn_app, spawn_app_with,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use roomgate::auth::JwtSettings;
use roomgate::config::RateLimit;
use serde_json::{Value, json};
use sqlx::Connection;
use std::num::NonZeroU32;

const ISSUER: &str = "https://id.example.com/";
const AUDIENCE: &str = "roomgate-api";
pub(crate) const SECRET: &str = "an-hs256-secret-of-at-least-32-characters";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

pub(crate) fn jwt_settings() -> JwtSettings {
    JwtSettings {
        hs256_secret: Some(SECRET.to_owned().into()),
        public_key_pem: Some(fixture("rs256-public.pem")),
        jwks: Some(fixture("jwks.json")),
        jwks_url: None,
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        identity_claim: "sub".into(),
        leeway_secs: 0,
    }
}

pub(crate) fn claims(sub: &str, exp_from_now: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + exp_from_now})
}

pub(crate) fn hs256(claims: &Value, secret: &str) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("key");
    encode(&Header::new(Algorithm::HS256), claims, &key).expect("sign")
}

fn signed(alg: Algorithm, pem: &str, kid: Option<&str>, claims: &Value) -> String {
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(fixture(pem).as_bytes()),
        _ => EncodingKey::from_ec_pem(fixture(pem).as_bytes()),
    }
    .expect("key");
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, &key).expect("sign")
}

async fn status_with(
    app: &TestApp,
    bearer: Option<&str>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new().get(app.url("/meetings"));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.json().await.expect("json"), headers)
}

#[tokio::test]
async fn requests_without_a_valid_key_are_401_problems() {
    let app = spawn_app(Backend::Sqlite).await.expect("sqlite");
    let (status, problem, headers) = status_with(&app, None).await;
    assert_eq!(status, 401);
    assert_eq!(problem["code"], "unauthorized");
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert_eq!(headers["content-type"], "application/problem+json");
    let forged = format!("{}x", app.key);
    for bad in [
        "rg_0123456789abcdef_not-a-real-secret",
        forged.as_str(),
        "not a token at all",
    ] {
        let (status, problem, _) = status_with(&app, Some(bad)).await;
        assert_eq!(status, 401, "{bad}");
        assert!(
            !problem.to_string().contains(bad),
            "the credential is never echoed"
        );
    }
    // Health checks stay open.
    assert_eq!(
        reqwest::get(app.url("/healthz")).await.expect("h").status(),
        200
    );

    // A revoked key stops working at once.
    let (status, _, _) = status_with(&app, Some(&app.key)).await;
    assert_eq!(status, 200);
    let mut out = Vec::new();
    let database = roomgate::config::DatabaseArgs {
        database_url: Some(app.database_url.clone()),
        ..Default::default()
    };
    roomgate::ops::keys_command(
        roomgate::config::KeysCommand::Revoke {
            name: "owner".into(),
        },
        database,
        &mut out,
    )
    .await
    .expect("revoke");
    let (status, _, _) = status_with(&app, Some(&app.key)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn jwts_are_checked_for_signature_issuer_audience_and_expiry() {
    let app = spawn_app_with(Backend::Sqlite, |mut c| {
        c.security.jwt = Some(jwt_settings());
        c
    })
    .await
    .expect("sqlite");
    let good = hs256(&claims("user-42", 300), SECRET);
    let (status, _, _) = status_with(&app, Some(&good)).await;
    assert_eq!(status, 200);
    let created: Value = client_with_key(&good)
        .post(app.url("/meetings"))
        .json(&json!({"name": "Mine"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    assert_eq!(
        created["owner_ref"], "user-42",
        "owner_ref defaults to the JWT's subject"
    );

    let mut wrong_audience = claims("user-42", 300);
    wrong_audience["aud"] = json!("someone-else");
    let mut wrong_issuer = claims("user-42", 300);
    wrong_issuer["iss"] = json!("https://evil.example.com/");
    let mut no_subject = claims("x", 300);
    no_subject.as_object_mut().expect("object").remove("sub");
    for (token, why) in [
        (hs256(&claims("user-42", -60), SECRET), "expired"),
        (
            hs256(
                &claims("user-42", 300),
                "another-secret-that-is-32-chars-long!!",
            ),
            "signature",
        ),
        (hs256(&wrong_audience, SECRET), "audience"),
        (hs256(&wrong_issuer, SECRET), "issuer"),
        (hs256(&no_subject, SECRET), "sub"),
    ] {
        let (status, problem, _) = status_with(&app, Some(&token)).await;
        assert_eq!(status, 401, "{why}");
        assert!(
            problem["detail"].as_str().expect("detail").contains(why),
            "{why}: {problem}"
        );
    }

    // Public keys: RS256 from a PEM file, ES256 from a JWKS (matched by kid).
    let rs = signed(
        Algorithm::RS256,
        "rs256-private.pem",
        None,
        &claims("rsa-user", 300),
    );
    assert_eq!(status_with(&app, Some(&rs)).await.0, 200);
    let es = signed(
        Algorithm::ES256,
        "es256-private.pem",
        Some("ec-1"),
        &claims("ec-user", 300),
    );
    assert_eq!(status_with(&app, Some(&es)).await.0, 200);
    let unknown_kid = signed(
        Algorithm::ES256,
        "es256-private.pem",
        Some("ec-9"),
        &claims("ec-user", 300),
    );
    assert_eq!(status_with(&app, Some(&unknown_kid)).await.0, 401);
}

#[tokio::test]
async fn a_jwks_url_is_fetched_when_a_token_names_its_key() {
    let jwks = fixture("jwks.json");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().expect("addr")
    );
    let idp = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || async move { jwks }),
    );
    tokio::spawn(async move { axum::serve(listener, idp).await });
    let app = spawn_app_with(Backend::Sqlite, |mut c| {
        c.security.jwt = Some(JwtSettings {
            hs256_secret: None,
            public_key_pem: None,
            jwks: None,
            jwks_url: Some(url),
            ..jwt_settings()
        });
        c
    })
    .await
    .expect("sqlite");
    let rs = signed(
        Algorithm::RS256,
        "rs256-private.pem",
        Some("rsa-1"),
        &claims("rsa-user", 300),
    );
    assert_eq!(status_with(&app, Some(&rs)).await.0, 200);
    let hs = hs256(&claims("user", 300), SECRET);
    assert_eq!(
        status_with(&app, Some(&hs)).await.0,
        401,
        "no HS256 secret is configured"
    );
}

#[tokio::test]
async fn owners_see_their_own_and_admins_see_all() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = spawn_app(backend).await else {
            continue;
        };
        let other = client_with_key(&create_key(&app.database_url, "other", false).await);
        let admin = client_with_key(&create_key(&app.database_url, "ops", true).await);
        let mine = app
            .create(json!({"name": "Mine", "kind": "permanent"}))
            .await;
        let id = mine["id"].as_str().expect("id");
        assert!(
            mine["moderator_url"].is_string(),
            "the owner gets the moderator URL"
        );
        let theirs: Value = other
            .post(app.url("/meetings"))
            .json(&json!({"name": "Theirs"}))
            .send()
            .await
            .expect("c")
            .json()
            .await
            .expect("j");

        // Another caller cannot tell the meeting exists.
        let path = app.url(&format!("/meetings/{id}"));
        assert_eq!(other.get(&path).send().await.expect("g").status(), 404);
        assert_eq!(other.delete(&path).send().await.expect("d").status(), 404);
        assert_eq!(
            other
                .patch(&path)
                .json(&json!({"name": "Mine now"}))
                .send()
                .await
                .expect("p")
                .status(),
            404
        );
        assert_eq!(
            other
                .post(format!("{path}/links"))
                .json(&json!({}))
                .send()
                .await
                .expect("l")
                .status(),
            404
        );
        let listed: Value = other
            .get(app.url("/meetings"))
            .send()
            .await
            .expect("l")
            .json()
            .await
            .expect("j");
        let ids: Vec<&str> = listed["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|m| m["id"].as_str().expect("id"))
            .collect();
        assert_eq!(ids, [theirs["id"].as_str().expect("id")], "{backend:?}");
        let filtered: Value = other
            .get(app.url("/meetings?owner_ref=owner"))
            .send()
            .await
            .expect("l")
            .json()
            .await
            .expect("j");
        assert_eq!(
            filtered["items"],
            json!([]),
            "filters cannot reach others' meetings"
        );

        // An admin sees everything, but moderator access stays with the owner.
        let seen: Value = admin
            .get(&path)
            .send()
            .await
            .expect("g")
            .json()
            .await
            .expect("j");
        assert_eq!(seen["id"], id);
        assert_eq!(seen["moderator_url"], Value::Null);
        let all: Value = admin
            .get(app.url("/meetings"))
            .send()
            .await
            .expect("l")
            .json()
            .await
            .expect("j");
        assert_eq!(all["items"].as_array().expect("items").len(), 2);
        let link = admin
            .post(format!("{path}/links"))
            .json(&json!({"role": "moderator"}))
            .send()
            .await
            .expect("l");
        assert_eq!(link.status(), 403);
        assert_eq!(admin.delete(&path).send().await.expect("d").status(), 204);
    }
}

#[tokio::test]
async fn the_rate_limit_trips_with_retry_after_and_recovers() {
    let app = spawn_app_with(Backend::Sqlite, |mut c| {
        c.security.rate_limit = Some(RateLimit {
            per_minute: NonZeroU32::new(60).expect("n"),
            burst: NonZeroU32::new(3).expect("n"),
        });
        c
    })
    .await
    .expect("sqlite");
    for remaining in ["2", "1", "0"] {
        let response = app.get("/meetings").await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["ratelimit-remaining"], remaining);
        assert_eq!(response.headers()["ratelimit-limit"], "3");
    }
    let response = app.get("/meetings").await;
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("s")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&wait), "{wait}");
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "rate_limited");
    // Another caller has its own bucket.
    let other = client_with_key(&create_key(&app.database_url, "other", false).await);
    assert_eq!(
        other
            .get(app.url("/meetings"))
            .send()
            .await
            .expect("o")
            .status(),
        200
    );
    // One token comes back each second: the limit has to be waited out, so this test sleeps.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.get("/meetings").await.status(), 200);
}

#[tokio::test]
async fn cors_answers_allowed_origins_only() {
    let app = spawn_app_with(Backend::Sqlite, |mut c| {
        c.security.cors_origins = vec!["https://app.example.com".into()];
        c
    })
    .await
    .expect("sqlite");
    let preflight = |origin: &'static str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, app.url("/meetings"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example.com")
        .await
        .expect("preflight");
    assert!(allowed.status().is_success());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .expect("m")
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");
    let refused = preflight("https://evil.example.com")
        .await
        .expect("preflight");
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

#[tokio::test]
async fn a_database_without_keys_needs_one_made_by_the_cli() {
    let database = fresh_database(Backend::Sqlite).await.expect("sqlite");
    let args = || roomgate::config::DatabaseArgs {
        database_url: Some(database.clone()),
        ..Default::default()
    };
    let mut out = Vec::new();
    roomgate::ops::keys_command(
        roomgate::config::KeysCommand::Create {
            name: "svc".into(),
            admin: true,
        },
        args(),
        &mut out,
    )
    .await
    .expect("create");
    let key = String::from_utf8(out).expect("utf8").trim().to_owned();
    assert!(key.starts_with("rg_"));
    let mut again = Vec::new();
    let duplicate = roomgate::ops::keys_command(
        roomgate::config::KeysCommand::Create {
            name: "svc".into(),
            admin: false,
        },
        args(),
        &mut again,
    )
    .await;
    assert!(duplicate.unwrap_err().contains("exists already"));
    let mut listing = Vec::new();
    roomgate::ops::keys_command(
        roomgate::config::KeysCommand::List { json: true },
        args(),
        &mut listing,
    )
    .await
    .expect("list");
    let listing = String::from_utf8(listing).expect("utf8");
    // rg_<id>_<secret>: the secret is base64url and may itself hold '_'.
    let secret = key.splitn(3, '_').nth(2).expect("secret");
    assert!(!listing.contains(secret), "listing never shows a secret");
    let rows: Value = serde_json::from_str(&listing).expect("json");
    assert_eq!(
        (rows[0]["name"].clone(), rows[0]["admin"].clone()),
        (json!("svc"), json!(true))
    );
}

#[tokio::test]
async fn a_request_over_its_time_limit_is_cut_off_with_a_problem() {
    let app = spawn_app_with(Backend::Sqlite, |mut c| {
        c.security.request_timeout = std::time::Duration::from_millis(300);
        c
    })
    .await
    .expect("sqlite");
    // EnableX calls fit in the request's time by themselves (504, see deadline.rs); what the
    // limit still has to cut off is time spent elsewhere: here the meeting's insert waits on a
    // write lock another connection holds.
    let mut holder = sqlx::SqliteConnection::connect(&app.database_url)
        .await
        .expect("sqlite");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .expect("lock");
    let started = std::time::Instant::now();
    let response = app
        .post_json("/meetings", &json!({"name": "Too slow"}))
        .await;
    assert!(started.elapsed() < std::time::Duration::from_millis(900));
    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("unlock");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let problem: Value = response.json().await.expect("json");
    assert_eq!(problem["code"], "request_timeout");
}
