//! Command line and configuration: flags or environment (`.env` honoured), checked once at
//! start-up. A missing or bad setting is one line naming the variable. Each setting (its
//! variable, meaning, default and range) is declared once, as a constant next to the flags
//! that read it; see [`setting`].

mod cli;
mod database;
mod resilience;
mod security;
mod serve;
mod setting;

#[cfg(feature = "sandbox")]
pub use cli::SandboxArgs;
pub use cli::{Cli, Command, KeysCommand, MeetingsCommand};
pub use database::{Database, DatabaseArgs};
pub use resilience::{Resilience, ResilienceArgs};
pub use security::{RateLimit, Security, SecurityArgs};
pub use serve::{DEFAULT_API_URL, ServeArgs};

use crate::meetings::EmbedPlan;
use secrecy::SecretString;
use serve::{
    EMBED_BASE_URL, EMBED_PLAN, EMBED_SUBDOMAIN, ENABLEX_API_URL, ENABLEX_APP_ID, ENABLEX_APP_KEY,
    ENABLEX_CONNECT_TIMEOUT_SECS, ENABLEX_TIMEOUT_SECS, ROOMGATE_LISTEN, SHUTDOWN_GRACE_SECS,
};
use setting::http_url;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

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

impl Config {
    /// Checks `serve`'s settings. Credentials and the subdomain are required unless
    /// `--sandbox` is given.
    pub fn from_args(args: ServeArgs) -> Result<Self, ConfigError> {
        let sandbox = args.sandbox;
        let unless = "(or run with --sandbox)";
        let (app_id, app_key) = if sandbox {
            sandbox_credentials(args.app_id, args.app_key)?
        } else {
            let id = ENABLEX_APP_ID.required(args.app_id, unless)?;
            let key = ENABLEX_APP_KEY.required(args.app_key, unless)?;
            (id, SecretString::from(key))
        };
        let api_url = http_url(
            &ENABLEX_API_URL,
            ENABLEX_API_URL.read(args.api_url).unwrap_or_default(),
        )?;
        let embed = match (
            EMBED_BASE_URL.read(args.embed_base_url),
            EMBED_SUBDOMAIN.read(args.embed_subdomain),
        ) {
            (Some(origin), _) => EmbedTarget::Origin(http_url(&EMBED_BASE_URL, origin)?),
            (None, _) if sandbox => EmbedTarget::Sandbox,
            (None, Some(sub)) => {
                let ok = sub.len() <= 63
                    && sub.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !sub.starts_with('-')
                    && !sub.ends_with('-');
                if !ok {
                    return Err(EMBED_SUBDOMAIN
                        .problem(format!("must be a DNS label such as 'acme', got '{sub}'")));
                }
                EmbedTarget::Subdomain(sub.to_ascii_lowercase())
            }
            (None, None) => {
                return Err(EMBED_SUBDOMAIN
                    .problem("is required (or set EMBED_BASE_URL, or run with --sandbox)"));
            }
        };
        let embed_plan = EMBED_PLAN
            .read(args.embed_plan)
            .unwrap_or_default()
            .parse::<EmbedPlan>()
            .map_err(|e| EMBED_PLAN.problem(e.to_string()))?;
        let database = args.database.check()?;
        let security = args.security.check()?;
        let resilience = args.resilience.check()?;
        let listen_text = ROOMGATE_LISTEN.read(args.listen).unwrap_or_default();
        let listen = listen_text.parse().map_err(|_| {
            ROOMGATE_LISTEN.problem(format!(
                "must be an address such as 127.0.0.1:8080, got '{listen_text}'"
            ))
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
            connect_timeout: ENABLEX_CONNECT_TIMEOUT_SECS
                .seconds(args.enablex_connect_timeout_secs)?,
            request_timeout: ENABLEX_TIMEOUT_SECS.seconds(args.enablex_timeout_secs)?,
            security,
            resilience,
            shutdown_grace: SHUTDOWN_GRACE_SECS.seconds(args.shutdown_grace_secs)?,
        })
    }
}

/// `--sandbox`'s credentials: the ones given, or fresh random ones.
#[cfg(feature = "sandbox")]
fn sandbox_credentials(
    app_id: Option<String>,
    app_key: Option<String>,
) -> Result<(String, SecretString), ConfigError> {
    use setting::given;
    let generated = crate::sandbox::SandboxConfig::generated();
    Ok((
        given(app_id).unwrap_or(generated.app_id),
        given(app_key)
            .map(SecretString::from)
            .unwrap_or(generated.app_key),
    ))
}

/// A build without the sandbox refuses `--sandbox` rather than call EnableX unasked.
#[cfg(not(feature = "sandbox"))]
fn sandbox_credentials(
    _: Option<String>,
    _: Option<String>,
) -> Result<(String, SecretString), ConfigError> {
    Err(problem(
        "--sandbox",
        "this roomgate was built without the sandbox (cargo feature `sandbox`); set ENABLEX_APP_ID, ENABLEX_APP_KEY and EMBED_SUBDOMAIN instead",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    fn args(list: &[&str]) -> ServeArgs {
        let mut argv = vec!["roomgate"];
        argv.extend_from_slice(list);
        Cli::try_parse_from(argv).expect("parses").serve
    }

    /// Enough for `serve` to start, and then `list`.
    fn valid(list: &[&str]) -> ServeArgs {
        let mut all = vec![
            "--app-id",
            "a",
            "--app-key",
            "k",
            "--embed-subdomain",
            "acme",
        ];
        all.extend_from_slice(list);
        args(&all)
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
        Cli::command().debug_assert();
    }

    #[cfg(feature = "sandbox")]
    #[test]
    fn sandbox_mode_needs_nothing() {
        use secrecy::ExposeSecret;
        let config = Config::from_args(args(&["--sandbox"])).expect("valid");
        assert_eq!(config.embed, EmbedTarget::Sandbox);
        assert_eq!(config.app_id.len(), 24);
        assert_eq!(config.app_key.expose_secret().len(), 40);
    }

    #[cfg(not(feature = "sandbox"))]
    #[test]
    fn a_build_without_the_sandbox_refuses_it_in_one_line() {
        let err = Config::from_args(args(&["--sandbox"])).unwrap_err();
        assert_eq!(err.variable, "--sandbox");
        assert_eq!(err.to_string().lines().count(), 1);
    }

    #[test]
    fn a_bad_plan_is_named() {
        let err = Config::from_args(valid(&["--embed-plan", "gold"])).unwrap_err();
        assert_eq!(err.variable, "EMBED_PLAN");
        assert!(err.to_string().starts_with("EMBED_PLAN: "));
    }

    #[test]
    fn a_bad_number_is_one_line_naming_the_variable_and_the_range() {
        let err = Config::from_args(valid(&["--shutdown-grace-secs", "0"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SHUTDOWN_GRACE_SECS: must be a whole number from 1 to 3600, got '0'"
        );
        let err = Config::from_args(valid(&["--enablex-retries", "two"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ENABLEX_RETRIES: must be a whole number from 0 to 10, got 'two'"
        );
        let err = Config::from_args(valid(&["--background-jobs", "maybe"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "BACKGROUND_JOBS: must be true or false, got 'maybe'"
        );
    }

    #[test]
    fn unset_settings_take_the_same_defaults_as_the_default_impls() {
        let config = Config::from_args(valid(&[])).expect("valid");
        assert_eq!(config.api_url, DEFAULT_API_URL);
        assert_eq!(config.embed_plan, EmbedPlan::Premium);
        assert_eq!(config.listen, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(config.shutdown_grace, Duration::from_secs(20));
        let pool = crate::store::PoolOptions::default();
        assert_eq!(config.database.pool.max_connections, pool.max_connections);
        assert_eq!(config.database.pool.acquire_timeout, pool.acquire_timeout);
        assert_eq!(
            format!("{:?}", config.security),
            format!("{:?}", Security::default())
        );
        let resilience = format!("{:?}", config.resilience);
        assert_eq!(resilience, format!("{:?}", Resilience::default()));
        assert!(resilience.contains("retries: 2,"), "{resilience}");
    }

    #[test]
    fn an_unknown_database_scheme_is_named() {
        let err = Config::from_args(valid(&["--database-url", "mysql://x"])).unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
    }

    #[test]
    fn debug_output_hides_the_key_and_database_url() {
        let config = Config::from_args(ServeArgs {
            app_key: Some("supersecretkey".into()),
            ..valid(&["--database-url", "postgres://u:pw@h/db"])
        })
        .expect("valid");
        let text = format!("{config:?}");
        assert!(!text.contains("supersecretkey"));
        assert!(!text.contains("pw@"));
    }

    /// `.env.example` lists every variable, commented out with its default where it has one.
    #[test]
    fn the_env_example_documents_every_variable_and_default() {
        let example = include_str!("../../.env.example");
        let mut commands = vec![Cli::command()];
        let mut checked = 0;
        while let Some(command) = commands.pop() {
            commands.extend(command.get_subcommands().cloned());
            for arg in command.get_arguments() {
                let Some(env) = arg.get_env().and_then(|e| e.to_str()) else {
                    continue;
                };
                let line = example
                    .lines()
                    .find_map(|l| l.trim_start_matches('#').strip_prefix(&format!("{env}=")));
                let Some(value) = line else {
                    panic!(".env.example does not mention {env}");
                };
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                let default = arg
                    .get_default_values()
                    .first()
                    .and_then(|d| d.to_str())
                    .map(str::to_owned)
                    .or_else(|| {
                        let (_, rest) = help.split_once("[default: ")?;
                        Some(rest.split_once(']')?.0.to_owned())
                    });
                if let Some(default) = default {
                    assert_eq!(value, default, "{env} in .env.example");
                }
                checked += 1;
            }
        }
        assert!(checked > 30, "{checked}");
    }
}
