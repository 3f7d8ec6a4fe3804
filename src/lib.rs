//! roomgate: an app-server for EnableX video meetings.
//!
//! Data flows one way: [`http`] (extract, validate, map errors) → [`meetings`] (the domain) →
//! [`enablex`], and through the storage traits the domain owns ([`meetings::MeetingStore`],
//! [`auth::KeyStore`], [`jobs::JobStore`]) to [`store`], which implements them. This file
//! wires the pieces together. [`sandbox`] imitates EnableX over real HTTP.
#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod deadline;
pub mod enablex;
pub mod http;
pub mod jobs;
pub mod meetings;
pub mod metrics;
pub mod ops;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod store;
pub mod telemetry;

use auth::{Authenticator, JwtVerifier};
use axum::http::HeaderValue;
use config::{Config, EmbedTarget};
use enablex::{ClientConfig, EnableXClient, EnableXError};
use meetings::StoreError;
use meetings::{EmbedUrls, Service};
use secrecy::ExposeSecret;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use http::router;

/// Why roomgate could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("EnableX client: {0}")]
    Upstream(#[from] EnableXError),
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Config(String),
}

/// Serves roomgate on an already-bound `listener` until `shutdown` completes, then lets
/// requests in flight finish for at most `config.shutdown_grace`. With `config.sandbox`, a
/// sandbox is started on a loopback port and stands in for EnableX.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    #[cfg(not(feature = "sandbox"))]
    if config.sandbox {
        return Err(RunError::Config(
            "this roomgate was built without the sandbox (cargo feature `sandbox`)".into(),
        ));
    }
    #[cfg(feature = "sandbox")]
    let mut config = config;
    #[cfg(feature = "sandbox")]
    if config.sandbox {
        let sandbox_listener = TcpListener::bind("127.0.0.1:0").await?;
        let sandbox = sandbox::spawn(
            sandbox_listener,
            sandbox::SandboxConfig {
                app_id: config.app_id.clone(),
                app_key: config.app_key.clone(),
                refusal_status: 400,
                faults: sandbox::Faults::default(),
            },
            wait_for_stop(stop_rx.clone()),
        )?;
        config.api_url = sandbox.api_url();
        if config.embed == EmbedTarget::Sandbox {
            config.embed = EmbedTarget::Origin(sandbox.embed_origin());
        }
        tracing::warn!(
            sandbox = %sandbox.addr,
            "SANDBOX MODE: rooms are simulated by a built-in EnableX imitation; no real meeting can be held"
        );
    }
    let (state, store) = build_state(&config).await?;
    let keys = state.auth.key_cache();
    store.watch_key_changes(move |name| keys.forget(name), stop_rx.clone());
    announce_access(&config, &store).await?;
    if config.resilience.background_jobs {
        jobs_for(&config, &store, state.service.enablex())
            .spawn(config.resilience.reconcile_interval, stop_rx.clone());
    }
    if let Some(limiter) = state.limiter.clone() {
        let mut stopped = stop_rx.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = every.tick() => limiter.forget_idle(),
                    _ = stopped.wait_for(|s| *s) => break,
                }
            }
        });
    }
    let app = router(state);
    tracing::info!(addr = %listener.local_addr()?, "roomgate listening");
    let limits = ConnectionLimits {
        header_read_timeout: config.security.header_read_timeout,
        max_connections: config.security.max_connections,
        per_address: config.security.max_connections_per_address,
        grace: config.shutdown_grace,
    };
    serve(listener, app, limits, async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stop_tx.send(true);
    })
    .await;
    Ok(())
}

/// What `serve` allows a connection.
struct ConnectionLimits {
    /// Longest wait for a whole request head, on a new connection or an idle kept-alive one.
    header_read_timeout: Duration,
    /// Connections served at once; at the cap the next one waits in the listen queue.
    max_connections: usize,
    /// Connections one client address may hold at once; more are closed on arrival, so one
    /// client cannot take every slot (health probes come from elsewhere).
    per_address: usize,
    /// How long requests in flight get once `shutdown` completes.
    grace: Duration,
}

/// Open connections per client address.
type PerAddress = Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>;

/// One connection counted against its address until dropped.
struct AddressSlot {
    counts: PerAddress,
    ip: std::net::IpAddr,
}

impl AddressSlot {
    fn take(counts: &PerAddress, ip: std::net::IpAddr, cap: usize) -> Option<Self> {
        let mut map = counts.lock().unwrap_or_else(|p| p.into_inner());
        let held = map.entry(ip).or_insert(0);
        if *held >= cap {
            return None;
        }
        *held += 1;
        Some(Self {
            counts: counts.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = map.get_mut(&self.ip) {
            *held -= 1;
            if *held == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// The accept loop (`axum::serve` can set neither a header timeout nor a connection cap).
/// Each connection holds a permit until it closes; at the cap nothing is accepted until one
/// is free, so slow clients can neither exhaust file descriptors nor hold sockets for long.
async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let accept_errors = telemetry::Throttle::new(Duration::from_secs(1));
    let per_address = PerAddress::default();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(&err, &accept_errors).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = AddressSlot::take(&per_address, peer.ip(), limits.per_address) else {
            // Over its share: closed at once, its permit free again.
            drop(stream);
            continue;
        };
        // What `into_make_service_with_connect_info` would give: the auth layer reads it.
        let service = app
            .clone()
            .map_request(move |mut request: axum::http::Request<_>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            });
        let connection = graceful.watch(http.serve_connection(
            TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(service),
        ));
        ::metrics::gauge!(metrics::OPEN_CONNECTIONS).increment(1.0);
        tokio::spawn(async move {
            // Header timeouts and clients that vanish end here; neither is the server's fault.
            if let Err(err) = connection.await {
                tracing::debug!(%peer, error = %err, "connection closed with an error");
            }
            ::metrics::gauge!(metrics::OPEN_CONNECTIONS).decrement(1.0);
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.grace) => {
            tracing::warn!(grace = ?limits.grace, "shutdown grace period over; dropping open connections");
        }
    }
}

/// A failed accept does not end the loop. Running out of file descriptors (EMFILE) repeats
/// until a connection closes, so it is logged at most once a second and followed by a pause.
async fn accept_failed(err: &std::io::Error, throttle: &telemetry::Throttle) {
    use std::io::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return; // The client gave up before we took the connection.
    }
    if let Some(errors) = throttle.count() {
        tracing::error!(error = %err, errors, "accept failed; pausing before the next accept");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[cfg(feature = "sandbox")]
async fn wait_for_stop(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stopped| *stopped).await;
}

/// The reconciler and sweeper for this configuration.
pub fn jobs_for(config: &Config, store: &Store, enablex: &EnableXClient) -> jobs::Jobs {
    // Creations younger than twice the EnableX timeout may still be in flight on a replica.
    let grace = config
        .resilience
        .reconcile_grace
        .unwrap_or(config.request_timeout * 2 + Duration::from_secs(5));
    jobs::Jobs::new(
        store.clone(),
        enablex.clone(),
        grace,
        config.resilience.sweep_delete_ended_rooms,
    )
}

/// Says at start-up how callers get in. In sandbox mode with no key yet, makes an admin key
/// and prints it once to standard output (not to the log), so the README's examples work.
async fn announce_access(config: &Config, store: &Store) -> Result<(), RunError> {
    use auth::KeyStore;
    let live_keys = store.count_live_keys(meetings::now()).await?;
    if config.sandbox && live_keys == 0 {
        // Names are never reused: after a revoked dev key, the next is sandbox-admin-2, ...
        let mut n = 1;
        let key = loop {
            let name = match n {
                1 => "sandbox-admin".to_owned(),
                n => format!("sandbox-admin-{n}"),
            };
            let key =
                auth::keys::generate(&name, true, meetings::now()).map_err(RunError::Config)?;
            match store.insert_key(&key.record).await {
                Err(StoreError::Conflict(_)) if n < 100 => n += 1,
                Err(err) => return Err(err.into()),
                Ok(()) => break key,
            }
        };
        println!(
            "roomgate sandbox: admin API key (shown once, stored hashed):\n  export ROOMGATE_API_KEY={}",
            key.text
        );
    } else if live_keys == 0 && config.security.jwt.is_none() {
        tracing::warn!(
            "no API key exists and no JWT verifier is configured: every /meetings request will be refused; create a key with `roomgate keys create --name NAME`"
        );
    }
    Ok(())
}

/// Connects the store (running migrations), builds the EnableX client and the service.
/// Returns the handlers' state and the store itself, for the background jobs.
pub async fn build_state(config: &Config) -> Result<(http::AppState, Store), RunError> {
    // Install the metrics recorder before anything is counted.
    metrics::handle();
    let store = store::connect(config.database.url.expose_secret(), &config.database.pool).await?;
    tracing::info!(
        backend = meetings::MeetingStore::backend(store.as_ref()),
        "database ready"
    );
    let client = EnableXClient::new(ClientConfig {
        base_url: config.api_url.clone(),
        app_id: config.app_id.clone(),
        app_key: config.app_key.clone(),
        connect_timeout: config.connect_timeout,
        request_timeout: config.request_timeout,
        policy: config.resilience.policy.clone(),
    })?;
    let urls = match &config.embed {
        EmbedTarget::Subdomain(sub) => EmbedUrls::for_subdomain(sub, &config.app_id),
        EmbedTarget::Origin(origin) => EmbedUrls::for_origin(origin, &config.app_id),
        // Only when state is built outside `run` (which points this at the sandbox it
        // starts): the sandbox serves its pages at the root of the API's origin.
        EmbedTarget::Sandbox => EmbedUrls::for_origin(origin_of(&config.api_url), &config.app_id),
    };
    let jwt = match &config.security.jwt {
        None => None,
        Some(settings) => {
            let verifier = JwtVerifier::new(settings.clone()).map_err(RunError::Config)?;
            verifier.refresh().await;
            Some(Arc::new(verifier))
        }
    };
    let limiter = config
        .security
        .rate_limit
        .map(|limit| Arc::new(http::Limiter::new(limit.per_minute, limit.burst)));
    let cors_origins = config
        .security
        .cors_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    let state = http::AppState {
        auth: Authenticator::new(store.clone(), jwt),
        service: Arc::new(
            Service::new(store.clone(), client, urls)
                .withholding_moderator_urls(!config.security.moderator_url_in_answers),
        ),
        limiter,
        default_plan: config.embed_plan,
        request_timeout: config.security.request_timeout,
        cors_origins,
        idempotency_ttl: config.resilience.idempotency_ttl,
        spec: Default::default(),
    };
    Ok((state, store))
}

/// `scheme://host:port` of a URL.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_origin_of_an_api_url_drops_its_path() {
        assert_eq!(
            super::origin_of("http://127.0.0.1:9/video/v1"),
            "http://127.0.0.1:9"
        );
        assert_eq!(
            super::origin_of("https://api.example.com"),
            "https://api.example.com"
        );
    }
}
