//! roomgate: an app-server for EnableX video meetings.
//!
//! Data flows one way: [`http`] (extract, validate, map errors) → [`meetings`] (the domain) →
//! [`store`] and [`enablex`]. [`sandbox`] imitates EnableX over real HTTP.
#![forbid(unsafe_code)]

pub mod config;
pub mod enablex;
pub mod http;
pub mod meetings;
pub mod sandbox;
pub mod store;
pub mod telemetry;

use config::{Config, EmbedTarget};
use enablex::{ClientConfig, EnableXClient, EnableXError};
use meetings::{EmbedUrls, Service};
use secrecy::ExposeSecret;
use std::future::Future;
use store::StoreError;
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
    let mut config = config;
    if config.sandbox {
        let sandbox_listener = TcpListener::bind("127.0.0.1:0").await?;
        let sandbox = sandbox::spawn(
            sandbox_listener,
            sandbox::SandboxConfig {
                app_id: config.app_id.clone(),
                app_key: config.app_key.clone(),
                refusal_status: 400,
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
    let state = build_state(&config).await?;
    let app = router(state);
    tracing::info!(addr = %listener.local_addr()?, "roomgate listening");
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stop_tx.send(true);
    });
    let grace = config.shutdown_grace;
    let deadline = async move {
        wait_for_stop(stop_rx).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        result = server => result?,
        () = deadline => tracing::warn!(?grace, "shutdown grace period over; dropping open connections"),
    }
    Ok(())
}

async fn wait_for_stop(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stopped| *stopped).await;
}

/// Connects the store (running migrations), builds the EnableX client and the service.
pub async fn build_state(config: &Config) -> Result<http::AppState, RunError> {
    let store = store::connect(config.database_url.expose_secret(), &config.pool).await?;
    tracing::info!(backend = store.backend(), "database ready");
    let client = EnableXClient::new(ClientConfig {
        base_url: config.api_url.clone(),
        app_id: config.app_id.clone(),
        app_key: config.app_key.clone(),
        connect_timeout: config.connect_timeout,
        request_timeout: config.request_timeout,
    })?;
    let urls = match &config.embed {
        EmbedTarget::Subdomain(sub) => EmbedUrls::for_subdomain(sub, &config.app_id),
        EmbedTarget::Origin(origin) => EmbedUrls::for_origin(origin, &config.app_id),
        EmbedTarget::Sandbox => EmbedUrls::for_origin(&config.api_url, &config.app_id),
    };
    Ok(http::AppState {
        service: Service::new(store, client, urls),
        default_plan: config.embed_plan,
    })
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
