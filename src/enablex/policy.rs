//! How the client treats a struggling EnableX: bounded retries with jittered backoff for
//! calls that are safe to repeat, and a circuit breaker that fails fast while EnableX is down.

use super::EnableXError;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Retry and circuit-breaker settings. `Policy::default()` is implemented in `config`, next to
/// the `ENABLEX_*` settings whose defaults it takes.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Extra attempts for calls that are safe to repeat (never a create).
    pub retries: u32,
    /// First backoff; each retry waits a random time up to twice the previous ceiling.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// A `Retry-After` longer than this is not waited for: the error goes back to the caller.
    pub max_retry_after: Duration,
    /// Consecutive failures (no answer, or a 5xx) that open the circuit.
    pub breaker_threshold: u32,
    /// How long the circuit stays open before one trial call is let through.
    pub breaker_cooldown: Duration,
}

impl Policy {
    /// A policy with these limits and the client's own backoff: 100 ms doubling up to 2 s, and
    /// no waiting for a `Retry-After` longer than 5 s.
    pub const fn new(retries: u32, breaker_threshold: u32, breaker_cooldown: Duration) -> Self {
        Self {
            retries,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(5),
            breaker_threshold,
            breaker_cooldown,
        }
    }
}

impl EnableXError {
    /// Whether this outcome says EnableX itself is in trouble (counts towards opening the
    /// circuit). A refusal of the request (4xx) or a rate limit says EnableX is up.
    pub(crate) fn is_outage(&self) -> bool {
        match self {
            EnableXError::Refused { status, .. } => *status >= 500,
            EnableXError::Timeout
            | EnableXError::Unreachable(_)
            | EnableXError::Interrupted(_)
            | EnableXError::Malformed(_) => true,
            EnableXError::RateLimited { .. } | EnableXError::CircuitOpen { .. } => false,
        }
    }

    /// Whether repeating a call that is safe to repeat may help.
    pub(crate) fn is_retryable(&self) -> bool {
        self.is_outage() || matches!(self, EnableXError::RateLimited { .. })
    }
}

/// The wait before retry number `attempt` (1-based): "full jitter" backoff.
pub(crate) fn backoff(policy: &Policy, attempt: u32, err: &EnableXError) -> Option<Duration> {
    if let EnableXError::RateLimited { retry_after } = err {
        let wait = retry_after.unwrap_or(policy.base_backoff);
        return (wait <= policy.max_retry_after).then_some(wait);
    }
    let ceiling = policy
        .base_backoff
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(policy.max_backoff);
    let mut bytes = [0u8; 8];
    let fraction = match getrandom::fill(&mut bytes) {
        Ok(()) => (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    };
    Some(ceiling.mul_f64(fraction))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One trial call is out; others fail fast until it tells.
    HalfOpen,
}

/// Where the circuit stands, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

/// A circuit breaker shared by every call of one client.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn state(&self) -> CircuitState {
        match *self.lock() {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen => CircuitState::HalfOpen,
        }
    }

    /// Would a call be let through now? Changes nothing (for checks before doing other work).
    pub fn check(&self) -> Result<(), EnableXError> {
        match *self.lock() {
            State::Open { until } if Instant::now() < until => Err(EnableXError::CircuitOpen {
                retry_after: until - Instant::now(),
            }),
            State::HalfOpen => Err(EnableXError::CircuitOpen {
                retry_after: Duration::from_secs(1),
            }),
            _ => Ok(()),
        }
    }

    /// May a call go out now? After the cooldown, lets one trial call through.
    pub fn admit(&self) -> Result<(), EnableXError> {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } if Instant::now() < until => Err(EnableXError::CircuitOpen {
                retry_after: until - Instant::now(),
            }),
            State::Open { .. } => {
                *state = State::HalfOpen;
                tracing::info!("EnableX circuit half-open: letting one trial call through");
                Ok(())
            }
            State::HalfOpen => Err(EnableXError::CircuitOpen {
                retry_after: Duration::from_secs(1),
            }),
        }
    }

    /// Records how a call that was let through ended.
    pub fn record(&self, outcome: Result<(), &EnableXError>) {
        let mut state = self.lock();
        let outage = outcome.err().is_some_and(EnableXError::is_outage);
        let next = match (*state, outage) {
            (_, false) => State::Closed { failures: 0 },
            (State::Closed { failures }, true) if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            (State::Open { until }, true) => State::Open { until },
            (_, true) => State::Open {
                until: Instant::now() + self.cooldown,
            },
        };
        if matches!(next, State::Open { .. }) && !matches!(*state, State::Open { .. }) {
            tracing::warn!(cooldown = ?self.cooldown, "EnableX circuit opened: failing fast");
        }
        if matches!(next, State::Closed { .. }) && !matches!(*state, State::Closed { .. }) {
            tracing::info!("EnableX circuit closed again");
        }
        *state = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outage() -> EnableXError {
        EnableXError::Refused {
            status: 503,
            code: None,
            message: "down".into(),
        }
    }

    #[test]
    fn the_circuit_opens_after_the_threshold_and_closes_after_a_good_trial() {
        let breaker = Breaker::new(3, Duration::from_millis(20));
        for _ in 0..2 {
            breaker.admit().expect("closed");
            breaker.record(Err(&outage()));
        }
        assert_eq!(breaker.state(), CircuitState::Closed);
        breaker.admit().expect("closed");
        breaker.record(Err(&outage()));
        assert_eq!(breaker.state(), CircuitState::Open);
        assert!(matches!(
            breaker.admit(),
            Err(EnableXError::CircuitOpen { .. })
        ));
        std::thread::sleep(Duration::from_millis(25));
        breaker.admit().expect("trial");
        assert!(breaker.admit().is_err(), "only one trial at a time");
        breaker.record(Ok(()));
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    #[test]
    fn a_refusal_is_not_an_outage() {
        let breaker = Breaker::new(1, Duration::from_secs(60));
        let refused = EnableXError::Refused {
            status: 400,
            code: Some("10002".into()),
            message: "x".into(),
        };
        breaker.record(Err(&refused));
        assert_eq!(breaker.state(), CircuitState::Closed);
        breaker.record(Err(&EnableXError::Timeout));
        assert_eq!(breaker.state(), CircuitState::Open);
    }

    #[test]
    fn backoff_is_bounded_and_honours_retry_after() {
        let policy = Policy::new(2, 5, Duration::from_secs(30));
        for attempt in 1..10 {
            let wait = backoff(&policy, attempt, &EnableXError::Timeout).expect("wait");
            assert!(wait <= policy.max_backoff);
        }
        let limited = EnableXError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(backoff(&policy, 1, &limited), Some(Duration::from_secs(2)));
        let too_long = EnableXError::RateLimited {
            retry_after: Some(Duration::from_secs(60)),
        };
        assert_eq!(backoff(&policy, 1, &too_long), None);
    }
}
