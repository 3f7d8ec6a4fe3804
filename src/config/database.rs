//! Where meetings and keys are stored, and the connection pool.

use super::ConfigError;
use super::setting::{Number, Text};
use crate::store::PoolOptions;
use clap::Args;
use secrecy::SecretString;

pub const DATABASE_URL: Text = Text {
    env: "DATABASE_URL",
    about: "sqlite://FILE (created if absent) or postgres://user:password@host/db",
    default: Some("sqlite://roomgate.db"),
};
pub const DATABASE_MAX_CONNECTIONS: Number<u32> = Number {
    env: "DATABASE_MAX_CONNECTIONS",
    about: "Most database connections the pool holds",
    default: 10,
    min: 1,
    max: 1000,
};
pub const DATABASE_ACQUIRE_TIMEOUT_SECS: Number<u64> = Number {
    env: "DATABASE_ACQUIRE_TIMEOUT_SECS",
    about: "Seconds a request waits for a database connection",
    default: 5,
    min: 1,
    max: 3600,
};

/// Where meetings and keys are stored.
#[derive(Debug, Clone, Default, Args)]
pub struct DatabaseArgs {
    #[arg(long, env = DATABASE_URL.env, help = DATABASE_URL.help(), hide_env_values = true)]
    pub database_url: Option<String>,
    #[arg(long, env = DATABASE_MAX_CONNECTIONS.env, help = DATABASE_MAX_CONNECTIONS.help())]
    pub database_max_connections: Option<String>,
    #[arg(long, env = DATABASE_ACQUIRE_TIMEOUT_SECS.env, help = DATABASE_ACQUIRE_TIMEOUT_SECS.help())]
    pub database_acquire_timeout_secs: Option<String>,
}

/// Checked database settings.
#[derive(Clone)]
pub struct Database {
    /// May hold a password: never printed.
    pub url: SecretString,
    pub pool: PoolOptions,
}

/// The pool settings' defaults.
impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: DATABASE_MAX_CONNECTIONS.default,
            acquire_timeout: DATABASE_ACQUIRE_TIMEOUT_SECS.default_seconds(),
            statement_limit: std::time::Duration::from_secs(10),
        }
    }
}

impl DatabaseArgs {
    /// Checks the database settings.
    pub fn check(self) -> Result<Database, ConfigError> {
        let url = DATABASE_URL.read(self.database_url).unwrap_or_default();
        let scheme = url.split(':').next().unwrap_or_default();
        if !matches!(scheme, "sqlite" | "postgres" | "postgresql") {
            return Err(DATABASE_URL.problem(format!(
                "must start with sqlite:// or postgres://, got scheme '{scheme}'"
            )));
        }
        Ok(Database {
            url: SecretString::from(url),
            pool: PoolOptions {
                max_connections: DATABASE_MAX_CONNECTIONS.read(self.database_max_connections)?,
                acquire_timeout: DATABASE_ACQUIRE_TIMEOUT_SECS
                    .seconds(self.database_acquire_timeout_secs)?,
                ..PoolOptions::default()
            },
        })
    }
}
