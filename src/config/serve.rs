//! `roomgate serve`'s own settings: EnableX, embed links, the listen address and timeouts.

use super::setting::{Number, Text};
use super::{DatabaseArgs, ResilienceArgs, SecurityArgs};
use clap::Args;

/// EnableX's API root used when `ENABLEX_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "https://api.enablex.io/video/v1";

pub const ENABLEX_APP_ID: Text = Text {
    env: "ENABLEX_APP_ID",
    about: "EnableX application id (required unless --sandbox)",
    default: None,
};
pub const ENABLEX_APP_KEY: Text = Text {
    env: "ENABLEX_APP_KEY",
    about: "EnableX application key, a secret never logged (required unless --sandbox)",
    default: None,
};
pub const ENABLEX_API_URL: Text = Text {
    env: "ENABLEX_API_URL",
    about: "EnableX API root (/video/v2 and /v1 also work)",
    default: Some(DEFAULT_API_URL),
};
pub const EMBED_SUBDOMAIN: Text = Text {
    env: "EMBED_SUBDOMAIN",
    about: "EnableX low-code subdomain: acme -> https://acme.yourvideo.live/... (required unless --sandbox or EMBED_BASE_URL)",
    default: None,
};
pub const EMBED_PLAN: Text = Text {
    env: "EMBED_PLAN",
    about: "lite (yourvideo.app, 4 tiles) or premium (yourvideo.live, 12 tiles)",
    default: Some("premium"),
};
pub const EMBED_BASE_URL: Text = Text {
    env: "EMBED_BASE_URL",
    about: "A custom domain serving the embed pages for every plan; overrides EMBED_SUBDOMAIN",
    default: None,
};
pub const ROOMGATE_LISTEN: Text = Text {
    env: "ROOMGATE_LISTEN",
    about: "Address to bind (0.0.0.0:8080 in a container)",
    default: Some("127.0.0.1:8080"),
};
pub const ENABLEX_CONNECT_TIMEOUT_SECS: Number<u64> = Number {
    env: "ENABLEX_CONNECT_TIMEOUT_SECS",
    about: "Seconds to wait for a connection to EnableX",
    default: 5,
    min: 1,
    max: 3600,
};
pub const ENABLEX_TIMEOUT_SECS: Number<u64> = Number {
    env: "ENABLEX_TIMEOUT_SECS",
    about: "Seconds a whole EnableX call may take",
    default: 15,
    min: 1,
    max: 3600,
};
pub const SHUTDOWN_GRACE_SECS: Number<u64> = Number {
    env: "SHUTDOWN_GRACE_SECS",
    about: "Seconds requests in flight get to finish after SIGTERM or SIGINT",
    default: 20,
    min: 1,
    max: 3600,
};

/// Settings for `roomgate serve`. Values are checked by [`super::Config::from_args`], not by
/// clap, so that every problem is reported the same way: one line naming the variable.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Run a built-in EnableX sandbox in this process instead of calling EnableX (refused at
    /// start-up by a build without the `sandbox` cargo feature).
    #[arg(long)]
    pub sandbox: bool,
    #[arg(long, env = ENABLEX_APP_ID.env, help = ENABLEX_APP_ID.help())]
    pub app_id: Option<String>,
    #[arg(long, env = ENABLEX_APP_KEY.env, help = ENABLEX_APP_KEY.help(), hide_env_values = true)]
    pub app_key: Option<String>,
    #[arg(long, env = ENABLEX_API_URL.env, help = ENABLEX_API_URL.help())]
    pub api_url: Option<String>,
    #[arg(long, env = EMBED_SUBDOMAIN.env, help = EMBED_SUBDOMAIN.help())]
    pub embed_subdomain: Option<String>,
    #[arg(long, env = EMBED_PLAN.env, help = EMBED_PLAN.help())]
    pub embed_plan: Option<String>,
    #[arg(long, env = EMBED_BASE_URL.env, help = EMBED_BASE_URL.help())]
    pub embed_base_url: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub security: SecurityArgs,
    #[command(flatten)]
    pub resilience: ResilienceArgs,
    #[arg(long, env = ROOMGATE_LISTEN.env, help = ROOMGATE_LISTEN.help())]
    pub listen: Option<String>,
    #[arg(long, env = ENABLEX_CONNECT_TIMEOUT_SECS.env, help = ENABLEX_CONNECT_TIMEOUT_SECS.help())]
    pub enablex_connect_timeout_secs: Option<String>,
    #[arg(long, env = ENABLEX_TIMEOUT_SECS.env, help = ENABLEX_TIMEOUT_SECS.help())]
    pub enablex_timeout_secs: Option<String>,
    #[arg(long, env = SHUTDOWN_GRACE_SECS.env, help = SHUTDOWN_GRACE_SECS.help())]
    pub shutdown_grace_secs: Option<String>,
}
