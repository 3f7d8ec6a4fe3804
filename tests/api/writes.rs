//! Creates that share their commits (issue 11): under concurrency every answered create has
//! its row and its room, and one row that cannot be written fails only its own request.

use crate::common::{Backend, TestApp, client_with_key, create_key, each_backend, spawn_app_with};
use roomgate::jobs::ReconcileReport;
use roomgate::meetings::{EmbedPlan, Kind, Meeting, Settings, State, now};
use roomgate::store::MeetingStore;
use serde_json::{Value, json};
use std::collections::HashSet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_create_has_its_row_when_many_share_commits() {
    for backend in each_backend().await {
        let app = spawn_app_with(backend, |c| c).await.expect("backend");
        let answered: HashSet<String> = creates_at_once(&app, 64, "Burst")
            .await
            .iter()
            .map(|m| m["id"].as_str().expect("id").to_owned())
            .collect();
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

/// `count` permanent meetings created at once, each answered 201; their answers.
async fn creates_at_once(app: &TestApp, count: usize, name: &str) -> Vec<Value> {
    let creates: Vec<_> = (0..count)
        .map(|i| {
            let http = app.http.clone();
            let url = app.url("/meetings");
            let name = format!("{name} {i}");
            tokio::spawn(async move {
                let response = http
                    .post(url)
                    .json(&json!({"name": name, "kind": "permanent"}))
                    .send()
                    .await
                    .expect("post");
                assert_eq!(response.status(), 201);
                response.json::<Value>().await.expect("json")
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(count);
    for create in creates {
        answers.push(create.await.expect("task"));
    }
    answers
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

/// Reads by id share their queries (issue 11): many at once, for different meetings and for
/// ones that do not exist, each get their own answer. With PostgreSQL the database ends every
/// connection between two waves of reads, while the workers hold theirs: the wave right after
/// may see 503s (never a wrong meeting, a 404 for one that exists, or a 500), and every wave
/// after that is answered in full, since a broken connection is never used twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_that_share_a_query_each_get_their_own_meeting() {
    for backend in each_backend().await {
        let app = spawn_app_with(backend, |c| c).await.expect("backend");
        let mut ids = Vec::new();
        for i in 0..12 {
            let meeting = app
                .create(json!({"name": format!("Read {i}"), "kind": "permanent"}))
                .await;
            ids.push(meeting["id"].as_str().expect("id").to_owned());
        }
        let missing: Vec<String> = (0..4).map(|_| uuid::Uuid::now_v7().to_string()).collect();
        let name = app
            .database_url
            .rsplit('/')
            .next()
            .expect("name")
            .to_owned();
        let postgres = matches!(backend, crate::common::Backend::Postgres);
        for wave in 0..8 {
            if wave == 2 && postgres {
                end_connections(&name).await;
            }
            let reads: Vec<_> = (0..64)
                .map(|i| {
                    let (id, exists) = if i % 5 == 4 {
                        (missing[i % missing.len()].clone(), false)
                    } else {
                        (ids[(i + wave) % ids.len()].clone(), true)
                    };
                    let http = app.http.clone();
                    let url = app.url(&format!("/meetings/{id}"));
                    tokio::spawn(async move {
                        let response = http.get(url).send().await.expect("get");
                        let status = response.status().as_u16();
                        let body: Value = response.json().await.expect("json");
                        (id, exists, status, body)
                    })
                })
                .collect();
            for read in reads {
                let (id, exists, status, body) = read.await.expect("task");
                match (exists, status) {
                    (true, 200) => assert_eq!(body["id"], id.as_str(), "{backend:?}"),
                    (false, 404) => {}
                    (_, 503) if wave == 2 && postgres => {}
                    other => panic!("{backend:?} wave {wave}: {id}: {other:?} {body}"),
                }
            }
        }
    }
}

/// Ends every connection to the database `name` (PostgreSQL).
async fn end_connections(name: &str) {
    use sqlx::Connection;
    let base = std::env::var("TEST_DATABASE_URL").expect("set");
    let mut admin = sqlx::PgConnection::connect(&base).await.expect("connect");
    for _ in 0..3 {
        let ended: Result<Vec<bool>, _> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(name)
        .fetch_all(&mut admin)
        .await;
        if ended.is_ok() {
            break;
        }
    }
    let _ = admin.close().await;
}

/// A create's moderator URL is recorded in the commit that completes its row (issue 11):
/// many creates at once each leave exactly one grant, to their creator, and none when answers
/// withhold the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_create_records_the_moderator_url_it_hands_out_once() {
    for backend in each_backend().await {
        for in_answers in [true, false] {
            let app = spawn_app_with(backend, |mut c| {
                c.security.moderator_url_in_answers = in_answers;
                c
            })
            .await
            .expect("backend");
            let created = creates_at_once(&app, 40, "Granted").await;
            let store = roomgate::store::connect(&app.database_url, &Default::default())
                .await
                .expect("store");
            for meeting in created {
                assert_eq!(meeting["moderator_url"].is_string(), in_answers);
                let id = meeting["id"].as_str().expect("id").parse().expect("uuid");
                let grants = store.grants(id).await.expect("grants");
                let expected = usize::from(in_answers);
                assert_eq!(
                    grants.len(),
                    expected,
                    "{backend:?} {in_answers}: {grants:?}"
                );
                for grant in grants {
                    assert_eq!(grant.caller, "key:owner");
                    assert_eq!(grant.what.as_str(), "url");
                }
            }
        }
    }
}

/// Creates with idempotency keys share their claims' and answers' commits (issue 11): many at
/// once, four requests for each key, each key makes one meeting and one room, every request of
/// a key gets that meeting, and the answer recorded under the key is replayed afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_creates_share_commits_and_each_key_makes_one_meeting() {
    const KEYS: usize = 16;
    for backend in each_backend().await {
        let app = spawn_app_with(backend, |c| c).await.expect("backend");
        let post = |key: String| {
            let http = app.http.clone();
            let url = app.url("/meetings");
            let body = json!({"name": format!("Keyed {key}"), "kind": "permanent"});
            async move {
                let response = http
                    .post(url)
                    .header("idempotency-key", key)
                    .json(&body)
                    .send()
                    .await
                    .expect("post");
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.expect("json"))
            }
        };
        let requests: Vec<_> = (0..KEYS * 4)
            .map(|i| {
                let key = format!("burst-{}", i % KEYS);
                let request = post(key.clone());
                tokio::spawn(async move { (key, request.await) })
            })
            .collect();
        let mut ids: std::collections::HashMap<String, HashSet<String>> = Default::default();
        for request in requests {
            let (key, (status, answer)) = request.await.expect("task");
            assert_eq!(status, 201, "{backend:?}: {key}: {answer}");
            let id = answer["id"].as_str().expect("id").to_owned();
            ids.entry(key).or_default().insert(id);
        }
        assert_eq!(ids.len(), KEYS, "{backend:?}");
        for (key, got) in &ids {
            assert_eq!(got.len(), 1, "{backend:?}: {key} made {got:?}");
            let (status, replay) = post(key.clone()).await;
            assert_eq!(status, 201, "{backend:?}: {key} replayed: {replay}");
            assert!(
                got.contains(replay["id"].as_str().expect("id")),
                "{backend:?}"
            );
        }
        assert_eq!(app.sandbox_rooms().await.len(), KEYS, "{backend:?}");
    }
}

/// A claim whose request is cut off while it waits in the queue holds no key (issue 11's
/// review): either it is never written, or it is written and at once released, so the key is
/// free for the next request instead of held for a meeting that is never made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_whose_request_was_cut_off_holds_no_key() {
    use roomgate::meetings::IdempotencyRecord;
    use std::time::Duration;
    for backend in each_backend().await {
        let app = spawn_app_with(backend, |c| c).await.expect("backend");
        let store = roomgate::store::connect(&app.database_url, &Default::default())
            .await
            .expect("store");
        let record = |i: usize| {
            let at = now();
            IdempotencyRecord {
                caller: "key:cut".into(),
                key: format!("cut-{i}"),
                request_hash: "h".into(),
                meeting_id: uuid::Uuid::now_v7(),
                status: None,
                body: None,
                created_at: at,
                expires_at: at + chrono::Duration::hours(1),
            }
        };
        // Each claim is queued, then its caller stops waiting at once.
        let cut: Vec<_> = (0..32)
            .map(|i| {
                let store = store.clone();
                let r = record(i);
                tokio::spawn(async move {
                    // Polled once (it queues its claim), then dropped: not a timeout, whose
                    // timer may first fire after the claim is answered.
                    let mut claim = std::pin::pin!(store.claim_idempotency(&r));
                    std::future::poll_fn(|cx| {
                        std::task::Poll::Ready(claim.as_mut().poll(cx).is_pending())
                    })
                    .await
                })
            })
            .collect();
        for claim in cut {
            assert!(claim.await.expect("task"), "{backend:?}: cut off");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let mut held = Vec::new();
            for i in 0..32 {
                if let Some(r) = store
                    .find_idempotency("key:cut", &format!("cut-{i}"))
                    .await
                    .expect("find")
                {
                    held.push(r.key);
                }
            }
            if held.is_empty() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{backend:?}: keys held by requests that are gone: {held:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The next request with one of those keys claims it.
        assert_eq!(
            store.claim_idempotency(&record(3)).await.expect("claim"),
            None,
            "{backend:?}"
        );
    }
}

/// A grouped statement that stops answering gives its connection up (the second review of
/// issue 11): with the audit table locked from outside, reads that must record a grant answer
/// 503 once the statement limit passes, instead of their worker waiting for as long as the
/// lock is held, and once the lock is gone reads are answered again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_that_does_not_answer_frees_its_worker() {
    use sqlx::Connection;
    use std::time::Duration;
    if !each_backend()
        .await
        .contains(&crate::common::Backend::Postgres)
    {
        return;
    }
    let app = spawn_app_with(crate::common::Backend::Postgres, |mut c| {
        c.database.pool.statement_limit = Duration::from_secs(1);
        c
    })
    .await
    .expect("backend");
    let id = creates_at_once(&app, 1, "Locked").await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let read = || {
        let http = app.http.clone();
        let url = app.url(&format!("/meetings/{id}"));
        async move { http.get(url).send().await.expect("get").status().as_u16() }
    };
    assert_eq!(read().await, 200);

    let mut outside = sqlx::PgConnection::connect(&app.database_url)
        .await
        .expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut outside)
        .await
        .expect("begin");
    sqlx::query("LOCK TABLE moderator_grants IN ACCESS EXCLUSIVE MODE")
        .execute(&mut outside)
        .await
        .expect("lock");
    let reads: Vec<_> = (0..4).map(|_| tokio::spawn(read())).collect();
    for r in reads {
        let status = tokio::time::timeout(Duration::from_secs(6), r)
            .await
            .expect("answered while the lock is still held")
            .expect("task");
        assert_eq!(status, 503, "the grant could not be recorded");
    }
    sqlx::query("ROLLBACK")
        .execute(&mut outside)
        .await
        .expect("rollback");
    let _ = outside.close().await;
    for _ in 0..3 {
        assert_eq!(read().await, 200, "the workers are free again");
    }
}

/// An app whose EnableX makes rooms at once but answers creates 4 s later, within the client's
/// time limit (raised to 20 s): the window in which the reconciler can settle a create first.
async fn app_with_slow_create_answers(backend: Backend, delay_ms: u64) -> TestApp {
    let app = spawn_app_with(backend, |mut c| {
        c.request_timeout = std::time::Duration::from_secs(20);
        c
    })
    .await
    .expect("backend");
    app.set_faults(json!({"answer_delay_ms": delay_ms, "operations": ["create"]}))
        .await;
    app
}

/// Waits (up to 10 s) until EnableX has made `rooms` rooms, then runs the reconciler once.
async fn reconcile_once_rooms_are_made(app: &TestApp, rooms: usize) -> ReconcileReport {
    let waited = std::time::Instant::now();
    while app.sandbox_stats().await["rooms_created"] != rooms {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(10),
            "rooms not made"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.jobs(false).await.reconcile().await.expect("reconcile")
}

/// A create whose room the reconciler completes first still succeeds: EnableX makes the room
/// but its answer is slow, the reconciler lists the room and activates the row, and only then
/// does the create's own activation run (and find the row no longer `provisioning`). Each
/// create answers 201 with its meeting, its creator's moderator URL is recorded once, a key's
/// answer is kept for replays, and no second room is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_the_reconciler_completed_first_still_answers_its_meeting() {
    const CREATES: usize = 8;
    for backend in each_backend().await {
        let app = app_with_slow_create_answers(backend, 4000).await;
        let post = |i: usize| {
            let http = app.http.clone();
            let url = app.url("/meetings");
            let body = json!({"name": format!("Raced {i}"), "kind": "permanent"});
            async move {
                let mut request = http.post(url).json(&body);
                if i.is_multiple_of(2) {
                    request = request.header("idempotency-key", format!("raced-{i}"));
                }
                let response = request.send().await.expect("post");
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.expect("json"))
            }
        };
        let creates: Vec<_> = (0..CREATES).map(|i| tokio::spawn(post(i))).collect();
        let report = reconcile_once_rooms_are_made(&app, CREATES).await;
        assert_eq!(report.completed.len(), CREATES, "{backend:?}: {report:?}");

        let store = roomgate::store::connect(&app.database_url, &Default::default())
            .await
            .expect("store");
        let mut answered = HashSet::new();
        for (i, create) in creates.into_iter().enumerate() {
            let (status, answer) = create.await.expect("task");
            assert_eq!(status, 201, "{backend:?}: create {i}: {answer}");
            assert!(answer["moderator_url"].is_string(), "{backend:?}: {answer}");
            let id: uuid::Uuid = answer["id"].as_str().expect("id").parse().expect("uuid");
            let row = store.get(id).await.expect("get").expect("row");
            assert_eq!(row.state, State::Active, "{backend:?}");
            assert_eq!(answer["room_id"].as_str(), row.room_id.as_deref());
            let grants = store.grants(id).await.expect("grants");
            assert_eq!(grants.len(), 1, "{backend:?}: {grants:?}");
            assert_eq!(grants[0].caller, "key:owner");
            answered.insert(id);
        }
        assert_eq!(answered.len(), CREATES, "{backend:?}");
        app.set_faults(json!({})).await;
        for i in (0..CREATES).step_by(2) {
            let (status, replay) = post(i).await;
            assert_eq!(status, 201, "{backend:?}: replay {i}: {replay}");
            let id: uuid::Uuid = replay["id"].as_str().expect("id").parse().expect("uuid");
            assert!(answered.contains(&id), "{backend:?}: replay {i} made {id}");
        }
        assert_eq!(app.sandbox_rooms().await.len(), CREATES, "{backend:?}");
    }
}

/// A create whose meeting the reconciler completed and someone deleted before EnableX's answer
/// came says so (`409`), and with an idempotency key that answer is kept: a retry replays it
/// instead of waiting on a key that can never be answered, and no second room is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_meeting_was_deleted_meanwhile_says_so() {
    for backend in each_backend().await {
        let app = app_with_slow_create_answers(backend, 4000).await;
        let post = || {
            app.http
                .post(app.url("/meetings"))
                .header("idempotency-key", "gone")
                .json(&json!({"name": "Gone", "kind": "permanent"}))
                .send()
        };
        let create = tokio::spawn(post());
        let report = reconcile_once_rooms_are_made(&app, 1).await;
        assert_eq!(report.completed.len(), 1, "{backend:?}: {report:?}");
        let id = report.completed[0];
        let deleted = app.delete(&format!("/meetings/{id}")).await;
        assert_eq!(deleted.status(), 204, "{backend:?}");

        let response = create.await.expect("task").expect("post");
        assert_eq!(response.status(), 409, "{backend:?}");
        let problem: Value = response.json().await.expect("json");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("deleted")),
            "{backend:?}: {problem}"
        );
        app.set_faults(json!({})).await;
        let retry = tokio::time::timeout(std::time::Duration::from_secs(5), post())
            .await
            .expect("the retry is answered at once")
            .expect("post");
        assert_eq!(retry.status(), 409, "{backend:?}");
        assert!(
            retry.headers().contains_key("idempotent-replayed"),
            "{backend:?}"
        );
        assert_eq!(app.sandbox_stats().await["rooms_created"], 1, "{backend:?}");
    }
}

/// A request that outlives its claim leaves the key's answer alone. Each key's first create is
/// slow at EnableX; while it waits the listing hides its room, so the reconciler settles its
/// meeting `failed`; two retries with the key then claim it anew and are answered with a second
/// meeting at once. When the first request's room turns up after all, it answers its own caller
/// with the first meeting, but the key keeps the answer its retries got: a later replay names
/// the second meeting. Before the fix the late answer overwrote the key's. EnableX holds the
/// first answers 8 s, far longer than the retries take even on a loaded machine (checked: the
/// first requests must still be waiting when the retries are done).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_answer_leaves_a_key_claimed_anew_alone() {
    const KEYS: usize = 4;
    for backend in each_backend().await {
        let app = app_with_slow_create_answers(backend, 8000).await;
        let post = |key: usize| {
            let request = app
                .http
                .post(app.url("/meetings"))
                .header("idempotency-key", format!("outlived-{key}"))
                .json(&json!({"name": format!("Outlived {key}"), "kind": "permanent"}));
            async move {
                let response = request.send().await.expect("post");
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.expect("json"))
            }
        };
        let firsts: Vec<_> = (0..KEYS).map(|k| tokio::spawn(post(k))).collect();
        let waited = std::time::Instant::now();
        while app.sandbox_stats().await["rooms_created"] != KEYS {
            assert!(waited.elapsed() < std::time::Duration::from_secs(10));
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let hidden: Vec<Value> = app
            .sandbox_rooms()
            .await
            .iter()
            .map(|r| r["room_id"].clone())
            .collect();
        app.set_listing(json!({ "hide": hidden })).await;
        let report = app.jobs(false).await.reconcile().await.expect("reconcile");
        assert_eq!(report.failed.len(), KEYS, "{backend:?}: {report:?}");
        app.set_faults(json!({})).await;

        // Two retries per key, all at once, while the first requests still wait.
        let retries: Vec<_> = (0..KEYS)
            .flat_map(|k| [k, k])
            .map(|k| tokio::spawn(post(k)))
            .collect();
        let mut second = vec![None; KEYS];
        for (i, retry) in retries.into_iter().enumerate() {
            let (status, answer) = retry.await.expect("task");
            assert_eq!(status, 201, "{backend:?}: retry {i}: {answer}");
            let id = answer["id"].as_str().expect("id").to_owned();
            let kept = second[i / 2].get_or_insert_with(|| id.clone());
            assert_eq!(
                *kept,
                id,
                "{backend:?}: the retries of key {} differ",
                i / 2
            );
        }
        assert!(
            firsts.iter().all(|f| !f.is_finished()),
            "{backend:?}: a first answer came before the retries were done"
        );
        for (k, first) in firsts.into_iter().enumerate() {
            let (status, answer) = first.await.expect("task");
            assert_eq!(status, 201, "{backend:?}: first {k}: {answer}");
            assert_ne!(answer["id"].as_str(), second[k].as_deref(), "{backend:?}");
        }
        for (k, kept) in second.iter().enumerate() {
            let (status, replay) = post(k).await;
            assert_eq!(status, 201, "{backend:?}: replay {k}: {replay}");
            assert_eq!(
                replay["id"].as_str(),
                kept.as_deref(),
                "{backend:?}: key {k}"
            );
        }
        assert_eq!(
            app.sandbox_stats().await["rooms_created"],
            2 * KEYS,
            "{backend:?}"
        );
    }
}

/// Every moderator URL handed out is recorded once, and an answer's grants all or none, when
/// many answers' grants share their commits. At once: 48 list pages (limits 5 to 39) and 48
/// reads by the owner of 40 meetings, every eighth read given up after a few milliseconds;
/// and 24 pages of all 20 meetings of a second caller, half of them given up. The owner's
/// meetings each have one grant per URL its answers carried, plus at most one per read given
/// up. The second caller's 20 meetings all have the same number of grants (a page's 20 are
/// written together or not at all), at least one per page answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_moderator_url_handed_out_is_recorded_when_grants_share_commits() {
    const MEETINGS: usize = 40;
    const OTHERS: usize = 20;
    for backend in each_backend().await {
        let app = spawn_app_with(backend, |c| c).await.expect("backend");
        let made = creates_at_once(&app, MEETINGS, "Audited").await;
        let ids: Vec<String> = made
            .iter()
            .map(|m| m["id"].as_str().expect("id").to_owned())
            .collect();
        let other = client_with_key(&create_key(&app.database_url, "other", false).await);
        let mut other_ids = Vec::new();
        for i in 0..OTHERS {
            let response = other
                .post(app.url("/meetings"))
                .json(&json!({"name": format!("Other {i}"), "kind": "permanent"}))
                .send()
                .await
                .expect("post");
            assert_eq!(response.status(), 201);
            let made: Value = response.json().await.expect("json");
            other_ids.push(made["id"].as_str().expect("id").to_owned());
        }
        // (path, the caller's client, how long it waits for the answer)
        let give_up = |i: usize| std::time::Duration::from_millis(1 + (i as u64 % 7));
        let wait = std::time::Duration::from_secs(30);
        let mut plan: Vec<(String, reqwest::Client, std::time::Duration, bool)> = (0..96)
            .map(|i| {
                if i % 2 == 0 {
                    (
                        format!("/meetings?limit={}", 5 + (i * 7) % 35),
                        app.http.clone(),
                        wait,
                        false,
                    )
                } else {
                    let patience = if i % 8 == 7 { give_up(i) } else { wait };
                    (
                        format!("/meetings/{}", ids[i % MEETINGS]),
                        app.http.clone(),
                        patience,
                        false,
                    )
                }
            })
            .collect();
        plan.extend((0..24).map(|i| {
            let patience = if i % 2 == 0 { give_up(i) } else { wait };
            (
                format!("/meetings?limit={OTHERS}"),
                other.clone(),
                patience,
                true,
            )
        }));
        let requests: Vec<_> = plan
            .into_iter()
            .map(|(path, http, patience, by_other)| {
                let url = app.url(&path);
                tokio::spawn(async move {
                    let answer = tokio::time::timeout(patience, async {
                        let response = http.get(url).send().await.expect("get");
                        assert_eq!(response.status(), 200);
                        response.json::<Value>().await.expect("json")
                    })
                    .await;
                    (path, by_other, answer.ok())
                })
            })
            .collect();
        let mut handed: std::collections::HashMap<String, usize> = Default::default();
        let mut reads_given_up: std::collections::HashMap<String, usize> = Default::default();
        let mut other_pages = 0;
        for request in requests {
            let (path, by_other, answer) = request.await.expect("task");
            let Some(answer) = answer else {
                if let Some(id) = path.strip_prefix("/meetings/") {
                    *reads_given_up.entry(id.to_owned()).or_default() += 1;
                }
                continue;
            };
            let items = match answer["items"].as_array() {
                Some(items) => items.clone(),
                None => vec![answer],
            };
            if by_other {
                assert_eq!(items.len(), OTHERS, "{backend:?}");
                other_pages += 1;
                continue;
            }
            assert!(!items.is_empty(), "{backend:?}: {path}");
            for item in items {
                assert!(item["moderator_url"].is_string(), "{backend:?}: {item}");
                *handed
                    .entry(item["id"].as_str().expect("id").to_owned())
                    .or_default() += 1;
            }
        }
        // A request given up may still have its grants committed a moment later: read until
        // two readings, 200 ms apart, agree.
        let store = roomgate::store::connect(&app.database_url, &Default::default())
            .await
            .expect("store");
        let mut last: Option<Vec<Vec<roomgate::meetings::ModeratorGrant>>> = None;
        let all = loop {
            let mut now_seen = Vec::new();
            for id in ids.iter().chain(&other_ids) {
                let id = id.parse().expect("uuid");
                now_seen.push(store.grants(id).await.expect("grants"));
            }
            let counts: Vec<usize> = now_seen.iter().map(Vec::len).collect();
            if last
                .as_ref()
                .map(|l| l.iter().map(Vec::len).collect::<Vec<_>>())
                == Some(counts)
            {
                break now_seen;
            }
            last = Some(now_seen);
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        let (owners, others) = all.split_at(ids.len());
        for (id, grants) in ids.iter().zip(owners) {
            assert!(grants.iter().all(|g| g.caller == "key:owner"));
            // The create's own answer carried one too.
            let least = handed.get(id).copied().unwrap_or(0) + 1;
            let most = least + reads_given_up.get(id).copied().unwrap_or(0);
            assert!(
                (least..=most).contains(&grants.len()),
                "{backend:?}: {id}: {} grants, {least} to {most} expected",
                grants.len()
            );
        }
        let mut counts = HashSet::new();
        for grants in others {
            assert!(grants.iter().all(|g| g.caller == "key:other"));
            counts.insert(grants.len());
        }
        assert_eq!(
            counts.len(),
            1,
            "{backend:?}: pages recorded in part: {counts:?}"
        );
        // Less the create's own grant.
        let pages = counts.into_iter().next().expect("count").checked_sub(1);
        let pages = pages.unwrap_or_else(|| panic!("{backend:?}: a create recorded no grant"));
        assert!(
            (other_pages..=24).contains(&pages),
            "{backend:?}: {pages} pages recorded, {other_pages} answered"
        );
    }
}

/// A group of grants larger than one SQLite statement takes (64 rows) is still all or nothing:
/// 100 grants whose 90th names a meeting that does not exist (SQLite keeps the foreign key)
/// record none of the others, and the same group without it records all 99. PostgreSQL writes
/// any group in one statement and has no such key (migration `20261130000001`): SQLite only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_group_of_grants_is_recorded_whole_or_not_at_all() {
    use roomgate::meetings::{GrantKind, ModeratorGrant};
    if !each_backend().await.contains(&Backend::Sqlite) {
        return;
    }
    let app = spawn_app_with(Backend::Sqlite, |c| c)
        .await
        .expect("sqlite");
    let id: uuid::Uuid = creates_at_once(&app, 1, "Many grants").await[0]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let store = roomgate::store::connect(&app.database_url, &Default::default())
        .await
        .expect("store");
    let grant = |meeting_id| ModeratorGrant {
        meeting_id,
        caller: "key:owner".into(),
        what: GrantKind::Url,
        at: now(),
    };
    let mut group: Vec<ModeratorGrant> = (0..100).map(|_| grant(id)).collect();
    group[89] = grant(uuid::Uuid::now_v7());
    assert!(store.record_grants(&group).await.is_err());
    // The create's own grant only.
    assert_eq!(store.grants(id).await.expect("grants").len(), 1);
    group.remove(89);
    store.record_grants(&group).await.expect("record");
    assert_eq!(store.grants(id).await.expect("grants").len(), 100);
}

/// PostgreSQL records a list page's moderator URLs as one row naming every meeting on it
/// (migration `20261130000004`), and a meeting's grants are read from both tables. Many answers
/// at once, each group mixing pages and grants handed out alone: every page is one row, each
/// meeting has exactly the grants its answers handed out, a meeting named twice on a page
/// counts twice, and an answer whose grants cannot be written (a caller with a NUL, which
/// PostgreSQL's text refuses) fails alone, whether or not it shared its statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_page_s_grants_are_one_row_and_each_meeting_finds_its_own() {
    use roomgate::meetings::{GrantKind, ModeratorGrant};
    use sqlx::Connection;
    use std::collections::HashMap;
    use std::sync::Arc;
    if !each_backend().await.contains(&Backend::Postgres) {
        return;
    }
    let app = spawn_app_with(Backend::Postgres, |c| c)
        .await
        .expect("postgres");
    let ids: Vec<uuid::Uuid> = creates_at_once(&app, 12, "Paged")
        .await
        .iter()
        .map(|m| m["id"].as_str().expect("id").parse().expect("uuid"))
        .collect();
    let store = Arc::new(
        roomgate::store::connect(&app.database_url, &Default::default())
            .await
            .expect("store"),
    );
    let answer = |caller: &str, meetings: &[uuid::Uuid]| -> Vec<ModeratorGrant> {
        let at = now();
        meetings
            .iter()
            .map(|&meeting_id| ModeratorGrant {
                meeting_id,
                caller: caller.into(),
                what: GrantKind::Url,
                at,
            })
            .collect()
    };
    // (the answer's grants, whether it must be recorded)
    let mut answers: Vec<(Vec<ModeratorGrant>, bool)> = Vec::new();
    for round in 0..20 {
        let start = round % ids.len();
        let page: Vec<uuid::Uuid> = ids
            .iter()
            .cycle()
            .skip(start)
            .take(2 + round % 9)
            .copied()
            .collect();
        answers.push((answer("key:owner", &page), true));
        answers.push((answer("key:owner", &[ids[(round * 5) % ids.len()]]), true));
        if round % 4 == 0 {
            answers.push((answer("key:owner", &[ids[0], ids[0], ids[1]]), true));
        }
        if round % 5 == 0 {
            answers.push((answer("key:\0bad", &page), false));
            answers.push((answer("key:\0bad", &[ids[2]]), false));
        }
    }
    let writes: Vec<_> = answers
        .iter()
        .map(|(grants, _)| {
            let store = store.clone();
            let grants = grants.clone();
            tokio::spawn(async move { store.record_grants(&grants).await })
        })
        .collect();
    let mut expected: HashMap<uuid::Uuid, usize> = ids.iter().map(|&id| (id, 1)).collect();
    let mut pages = 0;
    for ((grants, good), write) in answers.iter().zip(writes) {
        let written = write.await.expect("task");
        assert_eq!(written.is_ok(), *good, "{grants:?}: {written:?}");
        if *good {
            pages += usize::from(grants.len() > 1);
            for g in grants {
                *expected.get_mut(&g.meeting_id).expect("ours") += 1;
            }
        }
    }
    for id in &ids {
        let grants = store.grants(*id).await.expect("grants");
        assert_eq!(grants.len(), expected[id], "{id}: {grants:?}");
        assert!(
            grants
                .iter()
                .all(|g| g.caller == "key:owner" && g.meeting_id == *id)
        );
        assert!(grants.windows(2).all(|w| w[0].at <= w[1].at), "in order");
    }
    let mut db = sqlx::PgConnection::connect(&app.database_url)
        .await
        .expect("connect");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM moderator_grant_pages")
        .fetch_one(&mut db)
        .await
        .expect("count");
    assert_eq!(rows as usize, pages, "one row per page");
    let alone: i64 = sqlx::query_scalar("SELECT count(*) FROM moderator_grants")
        .fetch_one(&mut db)
        .await
        .expect("count");
    assert_eq!(
        alone as usize,
        ids.len() + 20,
        "the creates' and the single reads'"
    );
}
