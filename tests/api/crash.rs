//! The real binary is killed with SIGKILL while creates are in flight (EnableX has made the
//! rooms, roomgate has not completed the rows); restarted, it settles every meeting: no row
//! lost, no room orphaned, and retries with the same Idempotency-Key get the meeting.
//!
//! Nothing may settle a row before the kill, so the process that is killed keeps the
//! reconciler's default grace period (the creates in flight are younger than it), runs its
//! background jobs once, at start-up, and is sent the creates only once that run is over (so
//! it holds no job lease when it dies), and its timeouts outlast the test's wait for the rooms.

use crate::common::{
    Backend, TempDir, client_with_key, create_key, each_backend, fresh_database, spawn_sandbox,
};
use crate::process::{Binary, free_port};
use roomgate::sandbox::{Faults, SandboxConfig};
use roomgate::store::MeetingStore;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::time::Duration;

const CREATES: usize = 20;
/// How long the test waits for EnableX to have made every room before it kills roomgate.
const ROOMS_WITHIN: Duration = Duration::from_secs(20);
/// How long EnableX holds back its answer to a create, and roomgate waits for one: both far
/// beyond `ROOMS_WITHIN`, so no create is answered, or given up on and marked failed, before
/// the kill.
const HELD_SECS: u64 = 120;

/// The variables both processes share. Neither sets `RECONCILE_GRACE_SECS`: see the callers.
fn env(
    database: &str,
    api_url: &str,
    creds: &SandboxConfig,
    port: u16,
) -> Vec<(&'static str, String)> {
    vec![
        ("ENABLEX_APP_ID", creds.app_id.clone()),
        ("ENABLEX_APP_KEY", creds.app_key.expose_secret().to_owned()),
        ("ENABLEX_API_URL", api_url.to_owned()),
        ("EMBED_SUBDOMAIN", "acme".to_owned()),
        ("DATABASE_URL", database.to_owned()),
        ("ROOMGATE_LISTEN", format!("127.0.0.1:{port}")),
        ("ENABLEX_TIMEOUT_SECS", HELD_SECS.to_string()),
        ("REQUEST_TIMEOUT_SECS", (2 * HELD_SECS).to_string()),
        ("RATE_LIMIT_PER_MINUTE", "0".to_owned()),
        ("LOG_FORMAT", "json".to_owned()),
    ]
}

// Multi-threaded: the sandbox runs on this runtime while the test blocks reading the child's
// output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_create_loses_no_row_and_orphans_no_room() {
    for backend in each_backend().await {
        crash_story(backend).await;
    }
}

async fn crash_story(backend: Backend) {
    let database = fresh_database(backend).await.expect("database");
    let key = create_key(&database, "owner", false).await;
    // EnableX makes each room at once but holds its answer back.
    let creds = SandboxConfig {
        faults: Faults {
            answer_delay_ms: HELD_SECS * 1000,
            operations: vec!["create".into()],
            ..Faults::default()
        },
        ..SandboxConfig::generated()
    };
    let (sandbox, _stop) = spawn_sandbox(creds.clone()).await;
    let dir = TempDir::new("roomgate-crash");
    let port = free_port();
    let vars = env(&database, &sandbox.api_url(), &creds, port);
    // The process to be killed keeps the default grace period, which leaves creates in flight
    // alone; its jobs run only at start-up, and are over before any create is sent.
    let mut first_vars = vars.clone();
    first_vars.push(("RECONCILE_INTERVAL_SECS", "0".to_owned()));
    let mut first = Binary::start(&["serve"], &dir, &first_vars);
    first.wait_for("roomgate listening", Duration::from_secs(30));
    let line = first.wait_for("reconciler run finished", Duration::from_secs(30));
    assert!(line.contains("\"examined\":0"), "{line}");
    first.wait_for("sweeper run finished", Duration::from_secs(30));

    let base = format!("http://127.0.0.1:{port}");
    let http = client_with_key(&key);
    let mut in_flight = Vec::new();
    for i in 0..CREATES {
        let request = http
            .post(format!("{base}/meetings"))
            .header("idempotency-key", format!("crash-{i}"))
            .json(&json!({"name": format!("Crash {i}"), "kind": "permanent"}));
        in_flight.push(tokio::spawn(async move {
            request.send().await.map(|r| r.status().as_u16())
        }));
    }
    // Wait until EnableX has made every room, then kill roomgate before any row is completed.
    let stats_url = format!("{}/_sandbox/stats", sandbox.embed_origin());
    let deadline = std::time::Instant::now() + ROOMS_WITHIN;
    loop {
        let stats: Value = reqwest::get(&stats_url)
            .await
            .expect("stats")
            .json()
            .await
            .expect("json");
        if stats["rooms_created"] == CREATES {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "rooms were not all created: {stats}"
        );
        // The sandbox offers nothing to await: its counters are polled, within a deadline.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill_before_any_answer(&mut first, in_flight, "create").await;
    let store = roomgate::store::connect(&database, &Default::default())
        .await
        .expect("store");
    let filter = |status| roomgate::meetings::ListFilter {
        status: Some(status),
        limit: 100,
        ..Default::default()
    };
    let stranded = store
        .list(
            &filter(roomgate::meetings::Status::Provisioning),
            chrono::Utc::now(),
        )
        .await
        .expect("list");
    assert_eq!(
        stranded.len(),
        CREATES,
        "{backend:?}: every row was written before EnableX was called"
    );

    // EnableX answers promptly again; roomgate restarts and reconciles at start-up.
    reqwest::Client::new()
        .put(format!("{}/_sandbox/faults", sandbox.embed_origin()))
        .json(&json!({}))
        .send()
        .await
        .expect("faults");
    // The second process, started after the kill, has nothing in flight: no grace needed.
    let mut second_vars = vars;
    second_vars.push(("RECONCILE_GRACE_SECS", "0".to_owned()));
    let mut second = Binary::start(&["serve"], &dir, &second_vars);
    let line = second.wait_for("reconciler run finished", Duration::from_secs(30));
    assert!(line.contains(&format!("\"completed\":{CREATES}")), "{line}");
    second.wait_for("roomgate listening", Duration::from_secs(30));

    let open = store
        .list(
            &filter(roomgate::meetings::Status::Open),
            chrono::Utc::now(),
        )
        .await
        .expect("list");
    assert_eq!(
        open.len(),
        CREATES,
        "{backend:?}: every meeting settled as active"
    );
    assert!(
        store
            .list(
                &filter(roomgate::meetings::Status::Provisioning),
                chrono::Utc::now()
            )
            .await
            .expect("list")
            .is_empty()
    );
    let rooms = upstream_rooms(&sandbox.api_url(), &creds).await;
    assert_eq!(rooms.len(), CREATES, "no second room was made");
    for meeting in &open {
        let room = rooms
            .iter()
            .find(|r| Some(r["room_id"].as_str().expect("id")) == meeting.room_id.as_deref())
            .expect("its room exists");
        assert_eq!(room["data"]["roomgate_meeting_id"], meeting.id.to_string());
    }
    // A client retrying with its key now gets its meeting, and still no new room.
    let retried = http
        .post(format!("{base}/meetings"))
        .header("idempotency-key", "crash-7")
        .json(&json!({"name": "Crash 7", "kind": "permanent"}))
        .send()
        .await
        .expect("retry");
    assert_eq!(retried.status(), 201);
    let meeting: Value = retried.json().await.expect("json");
    assert_eq!(meeting["name"], "Crash 7");
    let stats: Value = reqwest::get(&stats_url)
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["rooms_created"], CREATES);
    eprintln!(
        "{backend:?}: {CREATES} creates in flight at SIGKILL; {} rooms upstream, {} rows active, 0 provisioning, 0 orphans",
        rooms.len(),
        open.len()
    );
    let status = second.terminate(Duration::from_secs(10));
    assert!(status.success());
}

/// SIGKILL, with every request still in flight: none of them may have been answered.
async fn kill_before_any_answer(
    roomgate: &mut Binary,
    in_flight: Vec<tokio::task::JoinHandle<reqwest::Result<u16>>>,
    what: &str,
) {
    roomgate.kill();
    for task in in_flight {
        assert!(
            task.await.expect("task").is_err(),
            "no {what} answered before the kill"
        );
    }
}

/// The rooms as EnableX holds them.
async fn upstream_rooms(sandbox_api: &str, creds: &SandboxConfig) -> Vec<Value> {
    let rooms: Value = reqwest::Client::new()
        .get(format!("{sandbox_api}/rooms"))
        .basic_auth(&creds.app_id, Some(creds.app_key.expose_secret()))
        .send()
        .await
        .expect("rooms")
        .json()
        .await
        .expect("json");
    rooms["rooms"].as_array().expect("rooms").clone()
}

/// Two minutes pass: the holds the killed process had on its meetings lapse.
async fn lapse_change_holds(backend: Backend, database: &str) {
    use sqlx::{Connection, Executor};
    match backend {
        Backend::Postgres => {
            let mut db = sqlx::PgConnection::connect(database).await.expect("db");
            db.execute("UPDATE meetings SET change_until = now() - interval '1 second' WHERE change_token IS NOT NULL")
                .await
                .expect("lapse");
        }
        Backend::Sqlite => {
            let mut db = sqlx::SqliteConnection::connect(database).await.expect("db");
            // Instants are text that sorts by time: any earlier year is past.
            db.execute("UPDATE meetings SET change_until = '2000-01-01T00:00:00.000000Z' WHERE change_token IS NOT NULL")
                .await
                .expect("lapse");
        }
    }
}

const CHANGES: usize = 5;

// Multi-threaded, as above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_change_leaves_nothing_that_disagrees_with_enablex() {
    for backend in each_backend().await {
        crash_mid_change(backend).await;
    }
}

/// roomgate is killed while EnableX has taken changes whose rows are not written yet; once
/// their holds lapse, the next process's reconciler pushes the recorded values to EnableX.
async fn crash_mid_change(backend: Backend) {
    let database = fresh_database(backend).await.expect("database");
    let key = create_key(&database, "owner", false).await;
    let creds = SandboxConfig::generated();
    let (sandbox, _stop) = spawn_sandbox(creds.clone()).await;
    let faults_url = format!("{}/_sandbox/faults", sandbox.embed_origin());
    let dir = TempDir::new("roomgate-crash-change");
    let port = free_port();
    let vars = env(&database, &sandbox.api_url(), &creds, port);
    let mut first_vars = vars.clone();
    first_vars.push(("RECONCILE_INTERVAL_SECS", "0".to_owned()));
    let mut first = Binary::start(&["serve"], &dir, &first_vars);
    first.wait_for("roomgate listening", Duration::from_secs(30));
    first.wait_for("sweeper run finished", Duration::from_secs(30));

    let base = format!("http://127.0.0.1:{port}");
    let http = client_with_key(&key);
    let mut meetings = Vec::new();
    for i in 0..CHANGES {
        let meeting: Value = http
            .post(format!("{base}/meetings"))
            .json(&json!({"name": format!("Before {i}"), "kind": "permanent"}))
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        meetings.push(meeting);
    }
    // EnableX takes each change at once but holds its answer back.
    let held = json!({"answer_delay_ms": HELD_SECS * 1000, "operations": ["update"]});
    let put = |faults: Value| {
        let url = faults_url.clone();
        async move {
            let response = reqwest::Client::new()
                .put(url)
                .json(&faults)
                .send()
                .await
                .expect("faults");
            assert_eq!(response.status(), 200);
        }
    };
    put(held).await;
    let mut in_flight = Vec::new();
    for (i, meeting) in meetings.iter().enumerate() {
        let request = http
            .patch(format!(
                "{base}/meetings/{}",
                meeting["id"].as_str().expect("id")
            ))
            .json(&json!({"name": format!("After {i}")}));
        in_flight.push(tokio::spawn(async move {
            request.send().await.map(|r| r.status().as_u16())
        }));
    }
    let name_upstream = |rooms: &[Value], meeting: &Value| -> String {
        let room = rooms
            .iter()
            .find(|r| r["room_id"] == meeting["room_id"])
            .expect("room");
        room["name"].as_str().expect("name").to_owned()
    };
    let deadline = std::time::Instant::now() + ROOMS_WITHIN;
    loop {
        let rooms = upstream_rooms(&sandbox.api_url(), &creds).await;
        let taken = meetings
            .iter()
            .enumerate()
            .filter(|(i, m)| name_upstream(&rooms, m) == format!("After {i}"))
            .count();
        if taken == CHANGES {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "EnableX took {taken} of {CHANGES} changes"
        );
        // The sandbox offers nothing to await: its rooms are polled, within a deadline.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill_before_any_answer(&mut first, in_flight, "change").await;
    lapse_change_holds(backend, &database).await;
    put(json!({})).await;
    let mut second_vars = vars;
    second_vars.push(("RECONCILE_GRACE_SECS", "0".to_owned()));
    let mut second = Binary::start(&["serve"], &dir, &second_vars);
    let line = second.wait_for("reconciler run finished", Duration::from_secs(30));
    assert!(
        line.contains(&format!("\"resynced\":{CHANGES}")),
        "{backend:?}: {line}"
    );
    second.wait_for("roomgate listening", Duration::from_secs(30));
    let rooms = upstream_rooms(&sandbox.api_url(), &creds).await;
    for (i, meeting) in meetings.iter().enumerate() {
        let id = meeting["id"].as_str().expect("id");
        let recorded: Value = http
            .get(format!("{base}/meetings/{id}"))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(recorded["name"], format!("Before {i}"), "{backend:?}");
        assert_eq!(
            name_upstream(&rooms, meeting),
            format!("Before {i}"),
            "{backend:?}: EnableX is back in line with the record"
        );
    }
    // The meetings are free to change again.
    let id = meetings[0]["id"].as_str().expect("id");
    let changed = http
        .patch(format!("{base}/meetings/{id}"))
        .json(&json!({"name": "Changed again"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(changed.status(), 200);
    let rooms = upstream_rooms(&sandbox.api_url(), &creds).await;
    assert_eq!(name_upstream(&rooms, &meetings[0]), "Changed again");
    let status = second.terminate(Duration::from_secs(10));
    assert!(status.success());
}
