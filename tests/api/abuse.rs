//! A flood of wrong credentials from one address: once the address is over its limit it is
//! refused before any lookup, every refusal is counted, and the log stays small.

use crate::common::{Backend, TestApp, each_backend, spawn_app_with};
use crate::process::Binary;
use roomgate::config::RateLimit;
use sqlx::Connection;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

/// Shaped like a real key, so each attempt reaches the store until the address is limited.
const WRONG_KEY: &str = "rg_0123456789abcdef_not-a-real-secret";

/// `roomgate_auth_refusals_total{reason="…"}` as `/metrics` reports it (0 before the first).
async fn refusals(base: &str, reason: &str) -> u64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let series = format!("roomgate_auth_refusals_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |value| value.trim().parse().expect("a count"))
}

async fn status_with(app: &TestApp, key: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(app.url("/meetings"))
        .bearer_auth(key)
        .send()
        .await
        .expect("request")
}

/// Takes the keys table away, so any key lookup from now on fails.
async fn drop_keys_table(backend: Backend, database_url: &str) {
    let statement = "DROP TABLE api_keys";
    match backend {
        Backend::Sqlite => {
            let mut db = sqlx::SqliteConnection::connect(database_url)
                .await
                .expect("sqlite");
            sqlx::query(statement).execute(&mut db).await.expect("drop");
        }
        Backend::Postgres => {
            let mut db = sqlx::PgConnection::connect(database_url)
                .await
                .expect("postgres");
            sqlx::query(statement).execute(&mut db).await.expect("drop");
        }
    }
}

#[tokio::test]
async fn a_limited_address_is_refused_before_its_key_is_looked_up() {
    for backend in each_backend().await {
        let app = spawn_app_with(backend, |mut c| {
            c.security.rate_limit = Some(RateLimit {
                // One attempt back per minute: the address stays limited for this whole test.
                per_minute: NonZeroU32::MIN,
                burst: NonZeroU32::new(3).expect("n"),
            });
            c
        })
        .await
        .expect("backend");
        let base = app.url("");
        let limited_before = refusals(&base, "limited").await;
        for attempt in 1..=3 {
            let response = status_with(&app, WRONG_KEY).await;
            assert_eq!(response.status(), 401, "{backend:?} attempt {attempt}");
        }
        let tripped = status_with(&app, WRONG_KEY).await;
        assert_eq!(tripped.status(), 429, "{backend:?}");

        // With the keys gone, a lookup could only fail (5xx): a 429 shows none is made.
        drop_keys_table(backend, &app.database_url).await;
        for _ in 0..50 {
            let response = status_with(&app, WRONG_KEY).await;
            assert_eq!(response.status(), 429, "{backend:?}");
            let wait: u64 = response.headers()["retry-after"]
                .to_str()
                .expect("text")
                .parse()
                .expect("seconds");
            assert!((1..=60).contains(&wait), "{backend:?} {wait}");
            let problem: serde_json::Value = response.json().await.expect("json");
            assert_eq!(problem["code"], "rate_limited", "{backend:?}");
        }
        // Even a valid key from a limited address waits: it is not looked up either.
        assert_eq!(
            status_with(&app, &app.key).await.status(),
            429,
            "{backend:?}"
        );
        let limited = refusals(&base, "limited").await - limited_before;
        assert!(limited >= 51, "{backend:?}: {limited} counted");
    }
}

#[tokio::test]
async fn a_flood_of_wrong_keys_writes_a_bounded_log() {
    const ATTEMPTS: usize = 640;
    const WORKERS: usize = 16;
    let dir = std::env::temp_dir().join(format!("roomgate-abuse-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (mut roomgate, port) = Binary::start_listening(
        &["serve", "--sandbox"],
        &dir,
        &[
            ("DATABASE_URL", format!("sqlite://{}/rg.db", dir.display())),
            ("RATE_LIMIT_PER_MINUTE", "1".to_owned()),
            ("RATE_LIMIT_BURST", "2".to_owned()),
            // Only the refusals' lines are counted: the jobs' first runs log too, and on a
            // busy machine they finish during the flood.
            ("BACKGROUND_JOBS", "false".to_owned()),
        ],
    );
    let logged_before = roomgate.seen.len();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let http = reqwest::Client::new();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..WORKERS {
        let (http, url) = (http.clone(), format!("{base}/meetings"));
        workers.spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..ATTEMPTS / WORKERS {
                let response = http.get(&url).bearer_auth(WRONG_KEY).send().await;
                statuses.push(response.expect("answered").status().as_u16());
            }
            statuses
        });
    }
    let mut statuses = Vec::new();
    while let Some(done) = workers.join_next().await {
        statuses.extend(done.expect("worker"));
    }
    let flood = started.elapsed();
    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(unauthorized + limited, ATTEMPTS, "only 401 and 429");
    assert!(
        unauthorized <= 3,
        "{unauthorized} attempts got past the limit"
    );
    // Only the attempts already past the check when the limit tripped were looked up.
    let looked_up = refusals(&base, "bad_key").await;
    assert!(
        looked_up <= (WORKERS + 3) as u64,
        "{looked_up} keys looked up for {ATTEMPTS} attempts"
    );
    assert_eq!(
        refusals(&base, "limited").await + looked_up,
        ATTEMPTS as u64
    );

    let status = roomgate.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let lines = roomgate.all_lines();
    let during: Vec<&String> = lines[logged_before..].iter().collect();
    // One summary a second at most, plus the few lines of shutting down.
    let bound = flood.as_secs() as usize + 1 + 5;
    assert!(
        during.len() <= bound,
        "{} lines for {ATTEMPTS} refusals in {flood:?}:\n{}",
        during.len(),
        during
            .iter()
            .take(20)
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        during
            .iter()
            .any(|l| l.contains("refused authentication attempts")),
        "the refusals are summarised"
    );
    assert!(
        !during.iter().any(|l| l.contains("not-a-real-secret")),
        "no credential in the log"
    );
}
