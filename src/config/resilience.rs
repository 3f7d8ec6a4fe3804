//! Settings for riding out trouble: EnableX retries and circuit breaker, the reconciler and
//! sweeper, and how long idempotency keys are remembered.

use super::{ConfigError, given, number, problem};
use crate::enablex::Policy;
use clap::Args;
use std::time::Duration;

/// Flags and variables for upstream policy and background work.
#[derive(Debug, Clone, Default, Args)]
pub struct ResilienceArgs {
    /// Extra attempts for EnableX calls that are safe to repeat (default 2; creates never).
    #[arg(long, env = "ENABLEX_RETRIES")]
    pub enablex_retries: Option<String>,
    /// Consecutive EnableX failures that open the circuit (default 5).
    #[arg(long, env = "ENABLEX_BREAKER_THRESHOLD")]
    pub enablex_breaker_threshold: Option<String>,
    /// Seconds the circuit stays open before a trial call (default 30).
    #[arg(long, env = "ENABLEX_BREAKER_COOLDOWN_SECS")]
    pub enablex_breaker_cooldown_secs: Option<String>,
    /// Seconds between reconciler and sweeper runs (default 60; 0 runs them only at start-up).
    #[arg(long, env = "RECONCILE_INTERVAL_SECS")]
    pub reconcile_interval_secs: Option<String>,
    /// Age in seconds before an unsettled creation is reconciled (default: twice the EnableX
    /// timeout plus 5, so calls still in flight on any replica are left alone).
    #[arg(long, env = "RECONCILE_GRACE_SECS")]
    pub reconcile_grace_secs: Option<String>,
    /// Delete the EnableX rooms of ended meetings (default false).
    #[arg(long, env = "SWEEP_DELETE_ENDED_ROOMS")]
    pub sweep_delete_ended_rooms: Option<String>,
    /// Run the reconciler and sweeper in this process (default true; they are safe on every
    /// replica, but may be confined to some).
    #[arg(long, env = "BACKGROUND_JOBS")]
    pub background_jobs: Option<String>,
    /// How long an Idempotency-Key is remembered, in seconds (default 86400).
    #[arg(long, env = "IDEMPOTENCY_TTL_SECS")]
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

impl Default for Resilience {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            background_jobs: true,
            reconcile_interval: Some(Duration::from_secs(60)),
            reconcile_grace: None,
            sweep_delete_ended_rooms: false,
            idempotency_ttl: Duration::from_secs(86_400),
        }
    }
}

fn flag(variable: &'static str, value: Option<String>, default: bool) -> Result<bool, ConfigError> {
    match given(value).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(other) => Err(problem(
            variable,
            format!("must be true or false, got '{other}'"),
        )),
    }
}

impl ResilienceArgs {
    pub fn check(self) -> Result<Resilience, ConfigError> {
        let defaults = Resilience::default();
        let interval = number(
            "RECONCILE_INTERVAL_SECS",
            self.reconcile_interval_secs,
            60,
            0,
            86_400,
        )?;
        let grace = given(self.reconcile_grace_secs.clone())
            .map(|_| {
                number(
                    "RECONCILE_GRACE_SECS",
                    self.reconcile_grace_secs,
                    0,
                    0,
                    86_400,
                )
            })
            .transpose()?;
        let delete = flag(
            "SWEEP_DELETE_ENDED_ROOMS",
            self.sweep_delete_ended_rooms,
            false,
        )?;
        let background_jobs = flag("BACKGROUND_JOBS", self.background_jobs, true)?;
        Ok(Resilience {
            policy: Policy {
                retries: number("ENABLEX_RETRIES", self.enablex_retries, 2, 0, 10)? as u32,
                breaker_threshold: number(
                    "ENABLEX_BREAKER_THRESHOLD",
                    self.enablex_breaker_threshold,
                    5,
                    1,
                    1000,
                )? as u32,
                breaker_cooldown: Duration::from_secs(number(
                    "ENABLEX_BREAKER_COOLDOWN_SECS",
                    self.enablex_breaker_cooldown_secs,
                    30,
                    1,
                    3600,
                )?),
                ..defaults.policy
            },
            background_jobs,
            reconcile_interval: (interval > 0).then(|| Duration::from_secs(interval)),
            reconcile_grace: grace.map(Duration::from_secs),
            sweep_delete_ended_rooms: delete,
            idempotency_ttl: Duration::from_secs(number(
                "IDEMPOTENCY_TTL_SECS",
                self.idempotency_ttl_secs,
                86_400,
                60,
                30 * 86_400,
            )?),
        })
    }
}
