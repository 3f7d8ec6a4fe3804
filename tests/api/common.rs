//! `spawn_app()`: every test gets its own roomgate on port 0, its own database and its own
//! EnableX sandbox, all over real HTTP.

use roomgate::config::{Config, Database, EmbedTarget, Resilience, Security};
use roomgate::meetings::EmbedPlan;
use roomgate::sandbox::{self, RunningSandbox, SandboxConfig};
use roomgate::store::{KeyStore, PoolOptions};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sqlx::Connection;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running roomgate with its sandbox.
pub struct TestApp {
    pub addr: SocketAddr,
    /// Sends the owner key with every request.
    pub http: reqwest::Client,
    /// An ordinary (non-admin) API key, the one `http` sends.
    pub key: String,
    pub database_url: String,
    pub sandbox: RunningSandbox,
    pub sandbox_config: SandboxConfig,
    _stop: Vec<oneshot::Sender<()>>,
    /// roomgate's task: it ends once roomgate has stopped.
    server: Option<JoinHandle<()>>,
    /// Declared last, so dropped last: roomgate has been told to stop before its database goes.
    _database: TestDatabase,
}

/// A test's own database, gone when this guard is dropped, whether the test passed or
/// panicked: a PostgreSQL database is dropped `WITH (FORCE)` (which ends the connections a
/// roomgate or a pool may still hold), a SQLite file is deleted with its `-wal` and `-shm`.
/// Derefs to its URL.
pub struct TestDatabase {
    url: String,
    place: Place,
}

enum Place {
    SqliteFile(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl std::ops::Deref for TestDatabase {
    type Target = String;

    fn deref(&self) -> &String {
        &self.url
    }
}

impl std::fmt::Display for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl Drop for TestDatabase {
    // Never panics: it may run while a failed test unwinds.
    fn drop(&mut self) {
        match &self.place {
            Place::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    match std::fs::remove_file(&file) {
                        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                            eprintln!("could not delete {}: {err}", file.to_string_lossy());
                        }
                        _ => {}
                    }
                }
            }
            Place::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime, which cannot be blocked on: the DROP
                // gets a thread and a runtime of its own, and this waits for it.
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?;
                    runtime.block_on(async {
                        let mut admin = sqlx::PgConnection::connect(&admin_url)
                            .await
                            .map_err(|e| e.to_string())?;
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut admin)
                            .await
                            .map_err(|e| e.to_string())?;
                        let _ = admin.close().await;
                        Ok::<_, String>(())
                    })
                })
                .join();
                match dropped {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => eprintln!("could not drop test database {}: {err}", self.url),
                    Err(_) => eprintln!("dropping test database {} panicked", self.url),
                }
            }
        }
    }
}

/// A fresh database for `backend`, removed when the guard is dropped; `None` for PostgreSQL
/// when `TEST_DATABASE_URL` is not set.
pub async fn fresh_database(backend: Backend) -> Option<TestDatabase> {
    match backend {
        Backend::Sqlite => {
            let path =
                std::env::temp_dir().join(format!("roomgate-test-{}.db", uuid::Uuid::new_v4()));
            Some(TestDatabase {
                url: format!("sqlite://{}", path.display()),
                place: Place::SqliteFile(path),
            })
        }
        Backend::Postgres => {
            let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
                eprintln!("TEST_DATABASE_URL is not set: skipping the PostgreSQL run of this test");
                return None;
            };
            let name = format!("roomgate_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(&base)
                .await
                .expect("connect to TEST_DATABASE_URL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .expect("create test database");
            let _ = admin.close().await;
            let (without_query, query) = match base.split_once('?') {
                Some((head, q)) => (head, format!("?{q}")),
                None => (base.as_str(), String::new()),
            };
            let (server, _) = without_query
                .rsplit_once('/')
                .expect("TEST_DATABASE_URL names a database");
            Some(TestDatabase {
                url: format!("{server}/{name}{query}"),
                place: Place::Postgres {
                    admin_url: base.clone(),
                    name,
                },
            })
        }
    }
}

/// A fresh directory under the temp dir, deleted with everything in it when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_dir_all(&self.0)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("could not delete {}: {err}", self.0.display());
        }
    }
}

/// A config pointing at `api_url`, with a subdomain so URLs have EnableX's real shape.
pub fn config(database_url: &str, api_url: &str, creds: &SandboxConfig) -> Config {
    Config {
        sandbox: false,
        api_url: api_url.to_owned(),
        app_id: creds.app_id.clone(),
        app_key: creds.app_key.clone(),
        embed: EmbedTarget::Subdomain("acme".into()),
        embed_plan: EmbedPlan::Premium,
        database: Database {
            url: SecretString::from(database_url.to_owned()),
            pool: PoolOptions::default(),
        },
        listen: "127.0.0.1:0".parse().expect("addr"),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        // Tests that are not about rate limits must not trip them.
        security: Security {
            rate_limit: None,
            ..Security::default()
        },
        // Tests run the background jobs themselves, when they want them.
        resilience: Resilience {
            background_jobs: false,
            ..Resilience::default()
        },
        shutdown_grace: Duration::from_secs(2),
    }
}

pub async fn spawn_sandbox(sandbox_config: SandboxConfig) -> (RunningSandbox, oneshot::Sender<()>) {
    let (tx, rx) = oneshot::channel::<()>();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sandbox");
    let running = sandbox::spawn(listener, sandbox_config, async {
        let _ = rx.await;
    })
    .expect("sandbox");
    (running, tx)
}

/// Starts roomgate with `config` on port 0; returns its address and a stop handle. The
/// listener is bound first, so requests wait for start-up instead of racing it.
pub async fn spawn_roomgate(config: Config) -> (SocketAddr, oneshot::Sender<()>) {
    let (addr, stop, _) = start_roomgate(config).await;
    (addr, stop)
}

/// As [`spawn_roomgate`], with the task that runs roomgate, to await its end.
async fn start_roomgate(config: Config) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
    let (tx, rx) = oneshot::channel::<()>();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        roomgate::run(config, listener, async {
            let _ = rx.await;
        })
        .await
        .expect("roomgate runs");
    });
    (addr, tx, task)
}

/// roomgate on `backend` with a sandbox as EnableX; `None` if that backend is not available.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |c| c).await
}

/// As [`spawn_app`], with a chance to change the config first.
pub async fn spawn_app_with(
    backend: Backend,
    tweak: impl FnOnce(Config) -> Config,
) -> Option<TestApp> {
    let database = fresh_database(backend).await?;
    let sandbox_config = SandboxConfig::generated();
    let (sandbox, stop_sandbox) = spawn_sandbox(sandbox_config.clone()).await;
    let config = tweak(config(&database, &sandbox.api_url(), &sandbox_config));
    let key = create_key(&database, "owner", false).await;
    let (addr, stop_app, server) = start_roomgate(config).await;
    Some(TestApp {
        addr,
        http: client_with_key(&key),
        key,
        database_url: String::clone(&database),
        sandbox,
        sandbox_config,
        _stop: vec![stop_app, stop_sandbox],
        server: Some(server),
        _database: database,
    })
}

impl TestApp {
    /// Asks roomgate to shut down (as SIGTERM would).
    pub fn stop(&mut self) {
        if !self._stop.is_empty() {
            let _ = self._stop.remove(0).send(());
        }
    }

    /// Waits until roomgate, once asked to [`stop`](Self::stop), has finished and closed its
    /// listener.
    pub async fn stopped(&mut self) {
        if let Some(server) = self.server.take() {
            server.await.expect("roomgate ran to its end");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("request")
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.http
            .delete(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// Creates a meeting and returns its JSON, failing the test on anything but 201.
    pub async fn create(&self, body: Value) -> Value {
        let response = self.post_json("/meetings", &body).await;
        let status = response.status();
        let json: Value = response.json().await.expect("json");
        assert_eq!(status, 201, "create failed: {json}");
        json
    }

    /// The sandbox's rooms, read through its API with the app's credentials.
    pub async fn sandbox_rooms(&self) -> Vec<Value> {
        let json: Value = self
            .http
            .get(format!("{}/rooms", self.sandbox.api_url()))
            .basic_auth(
                &self.sandbox_config.app_id,
                Some(self.sandbox_config.app_key.expose_secret()),
            )
            .send()
            .await
            .expect("sandbox")
            .json()
            .await
            .expect("json");
        json["rooms"].as_array().expect("rooms").clone()
    }

    /// One room as the sandbox (EnableX) holds it.
    pub async fn upstream_room(&self, room_id: &str) -> Value {
        self.sandbox_rooms()
            .await
            .into_iter()
            .find(|r| r["room_id"] == room_id)
            .expect("room upstream")
    }

    /// Puts `users` people into a room's live session in the sandbox.
    pub async fn set_live_users(&self, room_id: &str, users: u64) {
        let response = self
            .http
            .post(format!(
                "{}/_sandbox/rooms/{room_id}/live",
                self.sandbox.embed_origin()
            ))
            .json(&serde_json::json!({ "users": users }))
            .send()
            .await
            .expect("sandbox");
        assert_eq!(response.status(), 200);
    }
}

/// Stores a new API key in the database at `database_url` (migrating it first) and returns
/// its text.
pub async fn create_key(database_url: &str, name: &str, admin: bool) -> String {
    let store = roomgate::store::connect(database_url, &PoolOptions::default())
        .await
        .expect("store");
    let key = roomgate::auth::keys::generate(name, admin, roomgate::meetings::now()).expect("key");
    store.insert_key(&key.record).await.expect("insert key");
    key.text
}

/// A client that sends `key` as its bearer credential.
pub fn client_with_key(key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}")).expect("header");
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}

/// A start time `minutes` from now, in RFC 3339 with an offset.
pub fn in_minutes(minutes: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::minutes(minutes))
        .with_timezone(&chrono::FixedOffset::east_opt(5 * 3600 + 1800).expect("offset"))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// The `field`s named in a problem's `errors`.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

impl TestApp {
    /// Replaces the sandbox's faults (`{}` clears them).
    pub async fn set_faults(&self, faults: Value) {
        let response = reqwest::Client::new()
            .put(format!("{}/_sandbox/faults", self.sandbox.embed_origin()))
            .json(&faults)
            .send()
            .await
            .expect("sandbox");
        assert_eq!(response.status(), 200, "faults accepted");
    }

    /// Replaces how the sandbox's room listing answers (paged, cut, short, hiding rooms; `{}`
    /// restores the plain listing).
    pub async fn set_listing(&self, listing: Value) {
        let response = reqwest::Client::new()
            .put(format!("{}/_sandbox/listing", self.sandbox.embed_origin()))
            .json(&listing)
            .send()
            .await
            .expect("sandbox");
        assert_eq!(response.status(), 200, "listing accepted");
    }

    /// The sandbox's counters: requests, faults_injected, rooms_created, rooms.
    pub async fn sandbox_stats(&self) -> Value {
        reqwest::get(format!("{}/_sandbox/stats", self.sandbox.embed_origin()))
            .await
            .expect("sandbox")
            .json()
            .await
            .expect("json")
    }

    /// The background jobs, against this app's database and sandbox, with no grace period.
    pub async fn jobs(&self, delete_ended_rooms: bool) -> roomgate::jobs::Jobs {
        self.jobs_with_grace(delete_ended_rooms, Duration::ZERO)
            .await
    }

    /// The background jobs, leaving alone what is younger than `grace`.
    pub async fn jobs_with_grace(
        &self,
        delete_ended_rooms: bool,
        grace: Duration,
    ) -> roomgate::jobs::Jobs {
        let store = roomgate::store::connect(&self.database_url, &PoolOptions::default())
            .await
            .expect("store");
        let client = roomgate::enablex::EnableXClient::new(roomgate::enablex::ClientConfig {
            base_url: self.sandbox.api_url(),
            app_id: self.sandbox_config.app_id.clone(),
            app_key: self.sandbox_config.app_key.clone(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            policy: Default::default(),
        })
        .expect("client");
        roomgate::jobs::Jobs::new(store, client, grace, delete_ended_rooms)
    }

    /// Every meeting with `status`, seen by an admin.
    pub async fn all_with_status(&self, status: &str) -> Vec<Value> {
        let admin = client_with_key(
            &create_key(
                &self.database_url,
                &format!("admin-{}", uuid::Uuid::new_v4().simple()),
                true,
            )
            .await,
        );
        let page: Value = admin
            .get(self.url(&format!("/meetings?status={status}&limit=100")))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        page["items"].as_array().expect("items").clone()
    }
}

/// The backends to run on: SQLite always, PostgreSQL when configured.
pub async fn each_backend() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    if std::env::var("TEST_DATABASE_URL").is_ok() {
        backends.push(Backend::Postgres);
    }
    backends
}
