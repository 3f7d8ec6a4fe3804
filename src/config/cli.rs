//! The command line: `roomgate [serve] | sandbox | meetings | migrate | reconcile | health | keys`.

use super::{DatabaseArgs, ServeArgs};
#[cfg(feature = "sandbox")]
use clap::Args;
use clap::{Parser, Subcommand};

/// roomgate: EnableX video meetings behind a safe REST API.
#[derive(Debug, Parser)]
#[command(
    name = "roomgate",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `serve`'s flags, so that `roomgate --sandbox` is `roomgate serve --sandbox`.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once at start-up")]
pub enum Command {
    /// Serve the API (the default).
    Serve(ServeArgs),
    #[cfg(feature = "sandbox")]
    Sandbox(SandboxArgs),
    /// Query the stored meetings (ops: every caller's).
    Meetings {
        #[command(subcommand)]
        action: MeetingsCommand,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Apply any pending database migrations and list the applied ones.
    Migrate {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Run the reconciler and the sweeper once, now (takes `serve`'s settings).
    Reconcile {
        #[command(flatten)]
        serve: Box<ServeArgs>,
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a running roomgate's /healthz: exit 0 if it answers 200 (for container health checks).
    Health {
        /// What to ask.
        #[arg(long, default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
    },
    /// Manage API keys (stored hashed in the configured database).
    Keys {
        #[command(subcommand)]
        action: KeysCommand,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// `roomgate meetings ...`.
#[derive(Debug, Subcommand)]
pub enum MeetingsCommand {
    /// List meetings, newest first, with the API's filters.
    List {
        #[arg(long)]
        owner_ref: Option<String>,
        /// permanent, scheduled or adhoc.
        #[arg(long)]
        kind: Option<String>,
        /// scheduled, open, ended, deleted, provisioning or failed (default: all but deleted).
        #[arg(long)]
        status: Option<String>,
        /// RFC 3339 with an offset.
        #[arg(long)]
        starts_after: Option<String>,
        #[arg(long)]
        starts_before: Option<String>,
        /// 1 to 1000 (default 50).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue after this meeting id (the last one of the previous page).
        #[arg(long)]
        after: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one meeting, whoever owns it.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

/// `roomgate keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a key and print it once; only its hash is stored. A name is never reused: a new
    /// secret for an existing name is `rotate`.
    Create {
        #[arg(long)]
        name: String,
        /// Admin keys see and manage every caller's meetings.
        #[arg(long)]
        admin: bool,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke every live key with this name (the name stays taken).
    Revoke { name: String },
    /// Issue a new secret for the same identity (its meetings and admin rights); the old key
    /// keeps working for the grace period, then is revoked.
    Rotate {
        name: String,
        /// Seconds the old key keeps working (0 revokes it at once).
        #[arg(long, default_value_t = 3600)]
        grace_secs: u32,
    },
}

/// Run only the EnableX sandbox, for tests, benchmarks and front-end work.
#[cfg(feature = "sandbox")]
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Faults to inject from the start, as JSON (see `PUT /_sandbox/faults`).
    #[arg(long, env = "SANDBOX_FAULTS")]
    pub faults: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "SANDBOX_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: String,
    /// Credentials the sandbox accepts; random ones are made and printed if not given.
    #[arg(long, env = super::serve::ENABLEX_APP_ID.env)]
    pub app_id: Option<String>,
    #[arg(long, env = super::serve::ENABLEX_APP_KEY.env, hide_env_values = true)]
    pub app_key: Option<String>,
}
