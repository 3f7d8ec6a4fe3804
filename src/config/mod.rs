//! Command line and configuration: flags or environment (`.env` honoured), checked once at
//! start-up. A missing or bad setting is one line naming the variable.

mod cli;
mod resilience;
mod security;

pub use cli::{Cli, Command, KeysCommand, MeetingsCommand, SandboxArgs};
pub use resilience::{Resilience, ResilienceArgs};
pub use security::{RateLimit, Security, SecurityArgs};

use crate::meetings::EmbedPlan;
use crate::store::PoolOptions;
use clap::Args;
use secrecy::SecretString;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// EnableX's API root used when `ENABLEX_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "https://api.enablex.io/video/v1";

/// Where meetings and keys are stored.
#[derive(Debug, Clone, Default, Args)]
pub struct DatabaseArgs {
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS")]
    pub database_max_connections: Option<String>,
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT_SECS")]
    pub database_acquire_timeout_secs: Option<String>,
}

/// Checked database settings.
#[derive(Clone)]
pub struct Database {
    /// May hold a password: never printed.
    pub url: SecretString,
    pub pool: PoolOptions,
}

impl DatabaseArgs {
    /// Checks the database settings (default `sqlite://roomgate.db`).
    pub fn check(self) -> Result<Database, ConfigError> {
        let url = given(self.database_url).unwrap_or_else(|| "sqlite://roomgate.db".into());
        let scheme = url.split(':').next().unwrap_or_default();
        if !matches!(scheme, "sqlite" | "postgres" | "postgresql") {
            return Err(problem(
                "DATABASE_URL",
                format!("must start with sqlite:// or postgres://, got scheme '{scheme}'"),
            ));
        }
        let max_connections = number(
            "DATABASE_MAX_CONNECTIONS",
            self.database_max_connections,
            PoolOptions::default().max_connections,
            1,
            1000,
        )?;
        Ok(Database {
            url: SecretString::from(url),
            pool: PoolOptions {
                max_connections,
                acquire_timeout: seconds(
                    "DATABASE_ACQUIRE_TIMEOUT_SECS",
                    self.database_acquire_timeout_secs,
                    5,
                )?,
            },
        })
    }
}

/// Settings for `roomgate serve`. Values are checked by [`Config::from_args`], not by clap,
/// so that every problem is reported the same way.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Run a built-in EnableX sandbox in this process instead of calling EnableX.
    #[arg(long)]
    pub sandbox: bool,
    #[arg(long, env = "ENABLEX_APP_ID")]
    pub app_id: Option<String>,
    #[arg(long, env = "ENABLEX_APP_KEY", hide_env_values = true)]
    pub app_key: Option<String>,
    #[arg(long, env = "ENABLEX_API_URL")]
    pub api_url: Option<String>,
    #[arg(long, env = "EMBED_SUBDOMAIN")]
    pub embed_subdomain: Option<String>,
    /// `lite` or `premium`.
    #[arg(long, env = "EMBED_PLAN")]
    pub embed_plan: Option<String>,
    #[arg(long, env = "EMBED_BASE_URL")]
    pub embed_base_url: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub security: SecurityArgs,
    #[command(flatten)]
    pub resilience: ResilienceArgs,
    #[arg(long, env = "ROOMGATE_LISTEN")]
    pub listen: Option<String>,
    #[arg(long, env = "ENABLEX_CONNECT_TIMEOUT_SECS")]
    pub enablex_connect_timeout_secs: Option<String>,
    #[arg(long, env = "ENABLEX_TIMEOUT_SECS")]
    pub enablex_timeout_secs: Option<String>,
    #[arg(long, env = "SHUTDOWN_GRACE_SECS")]
    pub shutdown_grace_secs: Option<String>,
}

/// A bad setting, named by its environment variable.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

fn problem(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        message: message.into(),
    }
}

/// Where embed links point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedTarget {
    /// EnableX's hosted pages under the low-code subdomain.
    Subdomain(String),
    /// One origin for every plan (a custom domain, or the sandbox's pages).
    Origin(String),
    /// The in-process sandbox's pages, known once it is listening.
    Sandbox,
}

/// Everything `serve` needs, checked.
#[derive(Clone)]
pub struct Config {
    /// Start the in-process sandbox and point the client and embed links at it.
    pub sandbox: bool,
    pub api_url: String,
    pub app_id: String,
    pub app_key: SecretString,
    pub embed: EmbedTarget,
    pub embed_plan: EmbedPlan,
    pub database: Database,
    pub listen: SocketAddr,
    /// EnableX connect and request timeouts.
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub security: Security,
    pub resilience: Resilience,
    pub shutdown_grace: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("sandbox", &self.sandbox)
            .field("api_url", &self.api_url)
            .field("app_id", &self.app_id)
            .field("app_key", &"[redacted]")
            .field("embed", &self.embed)
            .field("embed_plan", &self.embed_plan)
            .field("database_url", &"[redacted]")
            .field("listen", &self.listen)
            .field("rate_limit", &self.security.rate_limit)
            .field("cors_origins", &self.security.cors_origins)
            .field("jwt", &self.security.jwt.is_some())
            .finish_non_exhaustive()
    }
}

/// A whole number within `min..=max`, or `default` when not set.
fn number<T>(
    variable: &'static str,
    value: Option<String>,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(text) = given(value) else {
        return Ok(default);
    };
    text.parse::<T>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            problem(
                variable,
                format!("must be a whole number from {min} to {max}, got '{text}'"),
            )
        })
}

/// A set, non-blank value.
fn given(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn seconds(
    variable: &'static str,
    value: Option<String>,
    default: u64,
) -> Result<Duration, ConfigError> {
    number(variable, value, default, 1, 3600).map(Duration::from_secs)
}

fn http_url(variable: &'static str, text: String) -> Result<String, ConfigError> {
    let lower = text.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) || text.len() < 10 {
        return Err(problem(
            variable,
            format!("must be an http(s) URL, got '{text}'"),
        ));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

impl Config {
    /// Checks `serve`'s settings. Credentials and the subdomain are required unless
    /// `--sandbox` is given.
    pub fn from_args(args: ServeArgs) -> Result<Self, ConfigError> {
        let sandbox = args.sandbox;
        let required = |variable: &'static str, value: Option<String>| {
            given(value).ok_or_else(|| problem(variable, "is required (or run with --sandbox)"))
        };
        let (app_id, app_key) = if sandbox {
            let generated = crate::sandbox::SandboxConfig::generated();
            (
                given(args.app_id).unwrap_or(generated.app_id),
                given(args.app_key)
                    .map(SecretString::from)
                    .unwrap_or(generated.app_key),
            )
        } else {
            let id = required("ENABLEX_APP_ID", args.app_id)?;
            let key = required("ENABLEX_APP_KEY", args.app_key)?;
            (id, SecretString::from(key))
        };
        let api_url = match given(args.api_url) {
            Some(url) => http_url("ENABLEX_API_URL", url)?,
            None => DEFAULT_API_URL.to_owned(),
        };
        let embed = match (given(args.embed_base_url), given(args.embed_subdomain)) {
            (Some(origin), _) => EmbedTarget::Origin(http_url("EMBED_BASE_URL", origin)?),
            (None, _) if sandbox => EmbedTarget::Sandbox,
            (None, Some(sub)) => {
                let ok = sub.len() <= 63
                    && sub.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !sub.starts_with('-')
                    && !sub.ends_with('-');
                if !ok {
                    return Err(problem(
                        "EMBED_SUBDOMAIN",
                        format!("must be a DNS label such as 'acme', got '{sub}'"),
                    ));
                }
                EmbedTarget::Subdomain(sub.to_ascii_lowercase())
            }
            (None, None) => {
                return Err(problem(
                    "EMBED_SUBDOMAIN",
                    "is required (or set EMBED_BASE_URL, or run with --sandbox)",
                ));
            }
        };
        let embed_plan = match given(args.embed_plan) {
            None => EmbedPlan::Premium,
            Some(plan) => plan
                .parse()
                .map_err(|e: crate::meetings::ChoiceError| problem("EMBED_PLAN", e.to_string()))?,
        };
        let database = args.database.check()?;
        let security = args.security.check()?;
        let resilience = args.resilience.check()?;
        let listen_text = given(args.listen).unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen_text.parse().map_err(|_| {
            problem(
                "ROOMGATE_LISTEN",
                format!("must be an address such as 127.0.0.1:8080, got '{listen_text}'"),
            )
        })?;

        Ok(Config {
            sandbox,
            api_url,
            app_id,
            app_key,
            embed,
            embed_plan,
            database,
            listen,
            connect_timeout: seconds(
                "ENABLEX_CONNECT_TIMEOUT_SECS",
                args.enablex_connect_timeout_secs,
                5,
            )?,
            request_timeout: seconds("ENABLEX_TIMEOUT_SECS", args.enablex_timeout_secs, 15)?,
            security,
            resilience,
            shutdown_grace: seconds("SHUTDOWN_GRACE_SECS", args.shutdown_grace_secs, 20)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use secrecy::ExposeSecret;

    fn args(list: &[&str]) -> ServeArgs {
        let mut argv = vec!["roomgate"];
        argv.extend_from_slice(list);
        Cli::try_parse_from(argv).expect("parses").serve
    }

    #[test]
    fn without_sandbox_the_credentials_are_required_and_named() {
        let err = Config::from_args(ServeArgs {
            app_id: None,
            ..args(&[])
        })
        .unwrap_err();
        assert_eq!(err.variable, "ENABLEX_APP_ID");
        let err = Config::from_args(ServeArgs {
            app_id: Some("a".into()),
            app_key: None,
            ..args(&[])
        })
        .unwrap_err();
        assert_eq!(err.variable, "ENABLEX_APP_KEY");
        let err = Config::from_args(ServeArgs {
            app_id: Some("a".into()),
            app_key: Some("k".into()),
            embed_subdomain: None,
            embed_base_url: None,
            ..args(&[])
        })
        .unwrap_err();
        assert_eq!(err.variable, "EMBED_SUBDOMAIN");
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn sandbox_mode_needs_nothing() {
        let config = Config::from_args(args(&["--sandbox"])).expect("valid");
        assert_eq!(config.embed, EmbedTarget::Sandbox);
        assert_eq!(config.app_id.len(), 24);
        assert_eq!(config.app_key.expose_secret().len(), 40);
    }

    #[test]
    fn a_bad_plan_is_named() {
        let err = Config::from_args(args(&["--sandbox", "--embed-plan", "gold"])).unwrap_err();
        assert_eq!(err.variable, "EMBED_PLAN");
        assert!(err.to_string().starts_with("EMBED_PLAN: "));
    }

    #[test]
    fn an_unknown_database_scheme_is_named() {
        let err =
            Config::from_args(args(&["--sandbox", "--database-url", "mysql://x"])).unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
    }

    #[test]
    fn debug_output_hides_the_key_and_database_url() {
        let config = Config::from_args(args(&[
            "--sandbox",
            "--app-key",
            "supersecretkey",
            "--database-url",
            "postgres://u:pw@h/db",
        ]))
        .expect("valid");
        let text = format!("{config:?}");
        assert!(!text.contains("supersecretkey"));
        assert!(!text.contains("pw@"));
    }
}
