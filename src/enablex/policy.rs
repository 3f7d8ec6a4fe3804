//! How the client treats a struggling EnableX: bounded retries with jittered backoff for
//! calls that are safe to repeat, kept within the time the request being served has left.
//! The circuit breaker these settings also configure is in `breaker.rs`.

use super::EnableXError;
use std::time::Duration;

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

/// Kept back from the request's deadline for roomgate to record the outcome and answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(250);
/// The least time worth giving an attempt; less than this and the last error is the answer.
const MIN_ATTEMPT: Duration = Duration::from_millis(250);

/// How long an attempt may take so that the request it serves is still answered in time;
/// `None` when no request is waiting (background jobs).
pub(crate) fn attempt_budget() -> Option<Duration> {
    crate::deadline::remaining().map(|left| left.saturating_sub(ANSWER_MARGIN))
}

/// Whether a retry after `wait` still leaves its attempt a useful time before the deadline.
pub(crate) fn time_for_another(wait: Duration) -> bool {
    attempt_budget().is_none_or(|budget| budget >= wait + MIN_ATTEMPT)
}

#[cfg(test)]
mod tests {
    use super::*;

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
