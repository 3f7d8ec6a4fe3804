//! The `roomgate` command. All the work is in the library.

use clap::Parser;
use roomgate::config::{Cli, Command, Config};
use std::process::ExitCode;
use tokio::net::TcpListener;

/// glibc's allocator took about a third of roomgate's CPU under load (issue 11's profile):
/// many threads allocating and freeing small buffers. mimalloc keeps per-thread free lists.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let json_logs = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    roomgate::telemetry::init(json_logs);
    let result = match cli.command {
        #[cfg(feature = "sandbox")]
        Some(Command::Sandbox(args)) => run_sandbox(args).await,
        Some(Command::Serve(args)) => serve(args).await,
        Some(Command::Meetings { action, database }) => {
            roomgate::ops::meetings_command(action, database, &mut std::io::stdout()).await
        }
        Some(Command::Migrate { database }) => {
            roomgate::ops::migrate_command(database, &mut std::io::stdout()).await
        }
        Some(Command::Reconcile { serve, json }) => {
            roomgate::ops::reconcile_command(*serve, json, &mut std::io::stdout()).await
        }
        Some(Command::Health { url }) => roomgate::ops::health_command(&url).await,
        Some(Command::Keys { action, database }) => {
            roomgate::ops::keys_command(action, database, &mut std::io::stdout()).await
        }
        None => serve(cli.serve).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("roomgate: {message}");
            ExitCode::from(2)
        }
    }
}

async fn serve(args: roomgate::config::ServeArgs) -> Result<(), String> {
    let config = Config::from_args(args).map_err(|e| format!("configuration: {e}"))?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("ROOMGATE_LISTEN: cannot listen on {}: {e}", config.listen))?;
    roomgate::run(config, listener, roomgate::shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

/// `roomgate sandbox`: the sandbox alone, until SIGINT or SIGTERM.
#[cfg(feature = "sandbox")]
async fn run_sandbox(args: roomgate::config::SandboxArgs) -> Result<(), String> {
    use roomgate::sandbox::{self, SandboxConfig};
    use secrecy::SecretString;
    let mut config = SandboxConfig::generated();
    if let Some(faults) = args.faults.as_deref() {
        config.faults = serde_json::from_str(faults).map_err(|e| format!("SANDBOX_FAULTS: {e}"))?;
    }
    let generated = args.app_id.is_none() && args.app_key.is_none();
    if let Some(id) = args.app_id {
        config.app_id = id;
    }
    if let Some(key) = args.app_key {
        config.app_key = SecretString::from(key);
    }
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("SANDBOX_LISTEN: cannot listen on {}: {e}", args.listen))?;
    if generated {
        use secrecy::ExposeSecret;
        // Sandbox credentials open nothing but this process; printing them is the point.
        println!(
            "ENABLEX_APP_ID={}\nENABLEX_APP_KEY={}",
            config.app_id,
            config.app_key.expose_secret()
        );
    }
    let running =
        sandbox::spawn(listener, config, roomgate::shutdown_signal()).map_err(|e| e.to_string())?;
    tracing::warn!(addr = %running.addr, api = %running.api_url(), "EnableX sandbox listening; rooms are simulated");
    roomgate::shutdown_signal().await;
    Ok(())
}
