//! Settings for riding out trouble: EnableX retries and circuit breaker, the reconciler and
//! sweeper, and how long idempotency keys are remembered.

use super::ConfigError;
use super::setting::{Flag, Number, OptionalNumber};
use crate::enablex::Policy;
use clap::Args;
use std::time::Duration;

pub const ENABLEX_RETRIES: Number<u32> = Number {
    env: "ENABLEX_RETRIES",
    about: "Extra attempts for EnableX calls that are safe to repeat (creates never)",
    default: 2,
    min: 0,
    max: 10,
};
pub const ENABLEX_BREAKER_THRESHOLD: Number<u32> = Number {
    env: "ENABLEX_BREAKER_THRESHOLD",
    about: "Consecutive EnableX failures that open the circuit",
    default: 5,
    min: 1,
    max: 1000,
};
pub const ENABLEX_BREAKER_COOLDOWN_SECS: Number<u64> = Number {
    env: "ENABLEX_BREAKER_COOLDOWN_SECS",
    about: "Seconds the circuit stays open before a trial call",
    default: 30,
    min: 1,
    max: 3600,
};
pub const RECONCILE_INTERVAL_SECS: Number<u64> = Number {
    env: "RECONCILE_INTERVAL_SECS",
    about: "Seconds between reconciler and sweeper runs (0 runs them only at start-up)",
    default: 60,
    min: 0,
    max: 86_400,
};
pub const RECONCILE_GRACE_SECS: OptionalNumber<u64> = OptionalNumber {
    env: "RECONCILE_GRACE_SECS",
    about: "Age in seconds before an unsettled creation is reconciled (default: twice \
            ENABLEX_TIMEOUT_SECS plus 5, so calls still in flight on any replica are left alone)",
    min: 0,
    max: 86_400,
};
pub const SWEEP_DELETE_ENDED_ROOMS: Flag = Flag {
    env: "SWEEP_DELETE_ENDED_ROOMS",
    about: "Delete the EnableX rooms of ended meetings",
    default: false,
};
pub const BACKGROUND_JOBS: Flag = Flag {
    env: "BACKGROUND_JOBS",
    about: "Run the reconciler and sweeper in this process (they are safe on every replica, \
            but may be confined to some)",
    default: true,
};
pub const IDEMPOTENCY_TTL_SECS: Number<u64> = Number {
    env: "IDEMPOTENCY_TTL_SECS",
    about: "Seconds an Idempotency-Key is remembered",
    default: 86_400,
    min: 60,
    max: 30 * 86_400,
};

/// Flags and variables for upstream policy and background work.
#[derive(Debug, Clone, Default, Args)]
pub struct ResilienceArgs {
    #[arg(long, env = ENABLEX_RETRIES.env, help = ENABLEX_RETRIES.help())]
    pub enablex_retries: Option<String>,
    #[arg(long, env = ENABLEX_BREAKER_THRESHOLD.env, help = ENABLEX_BREAKER_THRESHOLD.help())]
    pub enablex_breaker_threshold: Option<String>,
    #[arg(long, env = ENABLEX_BREAKER_COOLDOWN_SECS.env, help = ENABLEX_BREAKER_COOLDOWN_SECS.help())]
    pub enablex_breaker_cooldown_secs: Option<String>,
    #[arg(long, env = RECONCILE_INTERVAL_SECS.env, help = RECONCILE_INTERVAL_SECS.help())]
    pub reconcile_interval_secs: Option<String>,
    #[arg(long, env = RECONCILE_GRACE_SECS.env, help = RECONCILE_GRACE_SECS.help())]
    pub reconcile_grace_secs: Option<String>,
    #[arg(long, env = SWEEP_DELETE_ENDED_ROOMS.env, help = SWEEP_DELETE_ENDED_ROOMS.help())]
    pub sweep_delete_ended_rooms: Option<String>,
    #[arg(long, env = BACKGROUND_JOBS.env, help = BACKGROUND_JOBS.help())]
    pub background_jobs: Option<String>,
    #[arg(long, env = IDEMPOTENCY_TTL_SECS.env, help = IDEMPOTENCY_TTL_SECS.help())]
    pub idempotency_ttl_secs: Option<String>,
}

/// Checked resilience settings.
#[derive(Debug, Clone)]
pub struct Resilience {
    pub policy: Policy,
    pub background_jobs: bool,
    /// `None`: run the background jobs only at start-up.
    pub reconcile_interval: Option<Duration>,
    /// `None`: derived from the EnableX timeout.
    pub reconcile_grace: Option<Duration>,
    pub sweep_delete_ended_rooms: bool,
    pub idempotency_ttl: Duration,
}

/// The `ENABLEX_*` settings' defaults, with the client's own backoff.
impl Default for Policy {
    fn default() -> Self {
        Policy::new(
            ENABLEX_RETRIES.default,
            ENABLEX_BREAKER_THRESHOLD.default,
            ENABLEX_BREAKER_COOLDOWN_SECS.default_seconds(),
        )
    }
}

/// The settings' defaults.
impl Default for Resilience {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            background_jobs: BACKGROUND_JOBS.default,
            reconcile_interval: every(RECONCILE_INTERVAL_SECS.default),
            reconcile_grace: None,
            sweep_delete_ended_rooms: SWEEP_DELETE_ENDED_ROOMS.default,
            idempotency_ttl: IDEMPOTENCY_TTL_SECS.default_seconds(),
        }
    }
}

/// An interval in seconds; 0 means never.
fn every(seconds: u64) -> Option<Duration> {
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

impl ResilienceArgs {
    /// Checks the settings.
    pub fn check(self) -> Result<Resilience, ConfigError> {
        Ok(Resilience {
            policy: Policy::new(
                ENABLEX_RETRIES.read(self.enablex_retries)?,
                ENABLEX_BREAKER_THRESHOLD.read(self.enablex_breaker_threshold)?,
                ENABLEX_BREAKER_COOLDOWN_SECS.seconds(self.enablex_breaker_cooldown_secs)?,
            ),
            background_jobs: BACKGROUND_JOBS.read(self.background_jobs)?,
            reconcile_interval: every(RECONCILE_INTERVAL_SECS.read(self.reconcile_interval_secs)?),
            reconcile_grace: RECONCILE_GRACE_SECS
                .read(self.reconcile_grace_secs)?
                .map(Duration::from_secs),
            sweep_delete_ended_rooms: SWEEP_DELETE_ENDED_ROOMS
                .read(self.sweep_delete_ended_rooms)?,
            idempotency_ttl: IDEMPOTENCY_TTL_SECS.seconds(self.idempotency_ttl_secs)?,
        })
    }
}
