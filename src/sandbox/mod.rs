//! An imitation of EnableX's Video Server API, over real HTTP and in memory, for
//! `serve --sandbox`, the tests and the benchmarks. It follows `shared/enablex-api.md`: Basic
//! auth, EnableX's envelopes and error codes, numbers as numbers or strings, the `/video/v1`,
//! `/video/v2` and `/v1` prefixes, and placeholder pages at the embed paths.

mod faults;
mod listing;
mod pages;
mod rooms;
mod validate;

pub use faults::Faults;
pub use listing::{Listing, seeded_meeting_id};

use axum::Router;
use axum::routing::{get, post};
use secrecy::SecretString;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpListener;

/// The API prefixes EnableX has used; the sandbox answers on all of them.
pub const PREFIXES: [&str; 3] = ["/video/v1", "/video/v2", "/v1"];

/// How the sandbox behaves.
#[derive(Clone)]
pub struct SandboxConfig {
    /// The credentials it accepts.
    pub app_id: String,
    pub app_key: SecretString,
    /// The HTTP status of its refusals (EnableX does not document it; 200 with a non-zero
    /// `result` is as plausible as 400).
    pub refusal_status: u16,
    /// Faults to inject from the start.
    pub faults: Faults,
}

impl SandboxConfig {
    /// A sandbox with fresh random credentials in EnableX's shapes (24 hex, 40 alphanumerics).
    pub fn generated() -> Self {
        let hex = || uuid::Uuid::new_v4().simple().to_string();
        Self {
            app_id: hex()[..24].to_owned(),
            app_key: SecretString::from(format!("{}{}", hex(), &hex()[..8])),
            refusal_status: 400,
            faults: Faults::default(),
        }
    }
}

/// Shared state: the rooms, and how many people each room's live session has.
#[derive(Clone)]
pub(crate) struct Sandbox {
    config: Arc<SandboxConfig>,
    pub(crate) rooms: Arc<Rooms>,
    faults: Arc<Mutex<Faults>>,
    listing: Arc<Mutex<Listing>>,
    counters: Arc<faults::Counters>,
}

/// A stored room: EnableX's JSON for it, and its live session's head count.
#[derive(Clone)]
pub(crate) struct Room {
    pub json: Value,
    pub live_users: u64,
}

/// The rooms, in shards by room id. One map behind one lock stalled every call for as long as
/// it took to grow: at 900,000 rooms (a benchmark's worth) half a second, charged to whichever
/// server was being measured. A shard grows on its own, 1/64th of the rooms at a time.
pub(crate) struct Rooms {
    shards: [Mutex<HashMap<String, Room>>; SHARDS],
}

impl Default for Rooms {
    fn default() -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::default()),
        }
    }
}

const SHARDS: usize = 64;

impl Rooms {
    /// The shard that holds (or would hold) room `room_id`.
    pub(crate) fn of(&self, room_id: &str) -> MutexGuard<'_, HashMap<String, Room>> {
        use std::hash::{BuildHasher, RandomState};
        static SEED: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
        let shard = SEED.get_or_init(RandomState::new).hash_one(room_id) as usize % SHARDS;
        lock(&self.shards[shard])
    }

    /// Stores a room.
    pub(crate) fn insert(&self, room_id: String, room: Room) {
        self.of(&room_id).insert(room_id, room);
    }

    /// How many rooms there are.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).len()).sum()
    }

    /// `f` of every room, a shard at a time (not one snapshot of all: rooms made or removed
    /// meanwhile may or may not be seen, as in a listing of EnableX's own).
    pub(crate) fn collect<T>(&self, mut f: impl FnMut(&Room) -> Option<T>) -> Vec<T> {
        let mut all = Vec::new();
        for shard in &self.shards {
            all.extend(lock(shard).values().filter_map(&mut f));
        }
        all
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a room half-written: every write is one
    // insert or remove, so a poisoned lock is still consistent.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sandbox {
    pub(crate) fn listing(&self) -> MutexGuard<'_, Listing> {
        self.listing.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sandbox's routes: the room API under every prefix, the embed pages, and a control
/// endpoint that puts people into a room's live session.
pub fn router(config: SandboxConfig) -> Router {
    let state = Sandbox {
        faults: Arc::new(Mutex::new(config.faults.clone())),
        config: Arc::new(config),
        rooms: Arc::default(),
        listing: Arc::default(),
        counters: Arc::default(),
    };
    let api = Router::new()
        .route("/rooms", post(rooms::create).get(listing::list))
        .route(
            "/rooms/{room_id}",
            get(rooms::get_one)
                .patch(rooms::update)
                .delete(rooms::delete),
        )
        .route("/rooms/{room_id}/users", get(rooms::users))
        .route("/rooms/{room_id}/tokens", post(rooms::token))
        .fallback(rooms::unknown_route)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rooms::require_basic_auth,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            faults::inject,
        ));
    let mut app = Router::new();
    for prefix in PREFIXES {
        app = app.nest(prefix, api.clone());
    }
    app.route("/", get(pages::index))
        .route("/{room_id}", get(pages::participant))
        .route("/host/{hash}", get(pages::moderator))
        .route("/_sandbox/rooms/{room_id}/live", post(rooms::set_live))
        .route(
            "/_sandbox/faults",
            get(faults::current).put(faults::replace),
        )
        .route("/_sandbox/stats", get(faults::stats))
        .route(
            "/_sandbox/listing",
            get(listing::current).put(listing::replace),
        )
        .route("/_sandbox/seed", post(listing::seed))
        .with_state(state)
}

/// A sandbox running in this process.
#[derive(Debug, Clone)]
pub struct RunningSandbox {
    pub addr: SocketAddr,
}

impl RunningSandbox {
    /// The API base URL under EnableX's current prefix.
    pub fn api_url(&self) -> String {
        format!("http://{}/video/v1", self.addr)
    }

    /// Where its embed pages are served.
    pub fn embed_origin(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Serves the sandbox on `listener` until `shutdown` completes, in a background task.
pub fn spawn(
    listener: TcpListener,
    config: SandboxConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<RunningSandbox> {
    let addr = listener.local_addr()?;
    let app = router(config);
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %err, "sandbox server stopped");
        }
    });
    Ok(RunningSandbox { addr })
}
