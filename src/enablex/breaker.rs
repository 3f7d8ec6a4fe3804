//! The circuit breaker: fails calls fast while EnableX is down, lets one trial call through
//! after a cool-down, and never waits on a trial whose answer cannot come.

use super::EnableXError;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// Trial call number `trial` is out since `since`; others fail fast until it tells, is
    /// dropped, or outlives the trial limit.
    HalfOpen {
        trial: u64,
        since: Instant,
    },
}

/// Where the circuit stands, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
struct Circuit {
    state: State,
    /// Trials let through so far, so a late word from an old trial cannot settle a newer one.
    trials: u64,
}

/// How long a trial call may stay out when nobody said otherwise (longer than any call takes
/// with the default EnableX timeouts).
const DEFAULT_TRIAL_LIMIT: Duration = Duration::from_secs(30);

/// A circuit breaker shared by every call of one client.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    trial_limit: Duration,
    circuit: Mutex<Circuit>,
}

/// Leave for one call, from [`Breaker::admit`]. Report how the call ended with
/// [`Permit::record`]. A permit dropped unreported (its call cancelled: the request's time
/// limit, a caller that went away, a shutdown) counts as a failed trial if it carried the
/// half-open trial, so the circuit reopens instead of waiting for an answer that never comes;
/// an ordinary call dropped says nothing about EnableX and counts as nothing.
#[must_use = "a permit dropped unreported counts as a failed trial"]
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    trial: Option<u64>,
    recorded: bool,
}

impl Permit<'_> {
    /// Records how the call ended.
    pub fn record(mut self, outcome: Result<(), &EnableXError>) {
        self.recorded = true;
        self.breaker.settle(self.trial, outcome);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let (false, Some(trial)) = (self.recorded, self.trial) {
            let mut circuit = self.breaker.lock();
            if matches!(circuit.state, State::HalfOpen { trial: t, .. } if t == trial) {
                tracing::warn!(cooldown = ?self.breaker.cooldown, "EnableX circuit trial call abandoned: reopening");
                circuit.state = State::Open {
                    until: Instant::now() + self.breaker.cooldown,
                };
            }
        }
    }
}

impl Breaker {
    /// A closed breaker that opens after `threshold` consecutive outages and stays open for
    /// `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            trial_limit: DEFAULT_TRIAL_LIMIT,
            circuit: Mutex::new(Circuit {
                state: State::Closed { failures: 0 },
                trials: 0,
            }),
        }
    }

    /// How long a trial call may stay out before it counts as failed: the longest a call can
    /// take (the EnableX timeout), so a trial whose answer never comes cannot hold the circuit.
    pub fn with_trial_limit(mut self, limit: Duration) -> Self {
        self.trial_limit = limit;
        self
    }

    /// The circuit, with an overdue trial already counted as failed: it reopens as if the
    /// trial had failed when its time ran out.
    fn lock(&self) -> std::sync::MutexGuard<'_, Circuit> {
        let mut circuit = self.circuit.lock().unwrap_or_else(|p| p.into_inner());
        if let State::HalfOpen { since, .. } = circuit.state {
            let overdue_at = since + self.trial_limit;
            if Instant::now() >= overdue_at {
                tracing::warn!(limit = ?self.trial_limit, "EnableX circuit trial call overdue: reopening");
                circuit.state = State::Open {
                    until: overdue_at + self.cooldown,
                };
            }
        }
        circuit
    }

    /// Where the circuit stands.
    pub fn state(&self) -> CircuitState {
        match self.lock().state {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Would a call be let through now? Changes nothing (for checks before doing other work).
    pub fn check(&self) -> Result<(), EnableXError> {
        match self.lock().state {
            State::Open { until } if Instant::now() < until => Err(EnableXError::CircuitOpen {
                retry_after: until - Instant::now(),
            }),
            State::HalfOpen { .. } => Err(EnableXError::CircuitOpen {
                retry_after: Duration::from_secs(1),
            }),
            _ => Ok(()),
        }
    }

    /// May a call go out now? After the cooldown, lets one trial call through.
    pub fn admit(&self) -> Result<Permit<'_>, EnableXError> {
        let mut circuit = self.lock();
        let trial = match circuit.state {
            State::Closed { .. } => None,
            State::Open { until } if Instant::now() < until => {
                return Err(EnableXError::CircuitOpen {
                    retry_after: until - Instant::now(),
                });
            }
            State::Open { .. } => {
                circuit.trials += 1;
                circuit.state = State::HalfOpen {
                    trial: circuit.trials,
                    since: Instant::now(),
                };
                tracing::info!("EnableX circuit half-open: letting one trial call through");
                Some(circuit.trials)
            }
            State::HalfOpen { .. } => {
                return Err(EnableXError::CircuitOpen {
                    retry_after: Duration::from_secs(1),
                });
            }
        };
        Ok(Permit {
            breaker: self,
            trial,
            recorded: false,
        })
    }

    /// Records how a call that holds no trial ended.
    pub fn record(&self, outcome: Result<(), &EnableXError>) {
        self.settle(None, outcome);
    }

    fn settle(&self, trial: Option<u64>, outcome: Result<(), &EnableXError>) {
        let mut circuit = self.lock();
        let state = circuit.state;
        if let Some(trial) = trial
            && !matches!(state, State::HalfOpen { trial: t, .. } if t == trial)
        {
            // This trial was already counted as failed (overdue); a newer one may be out.
            return;
        }
        let outage = outcome.err().is_some_and(EnableXError::is_outage);
        let next = match (state, outage) {
            (_, false) => State::Closed { failures: 0 },
            (State::Closed { failures }, true) if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            (State::Open { until }, true) => State::Open { until },
            (_, true) => State::Open {
                until: Instant::now() + self.cooldown,
            },
        };
        if matches!(next, State::Open { .. }) && !matches!(state, State::Open { .. }) {
            tracing::warn!(cooldown = ?self.cooldown, "EnableX circuit opened: failing fast");
        }
        if matches!(next, State::Closed { .. }) && !matches!(state, State::Closed { .. }) {
            tracing::info!("EnableX circuit closed again");
        }
        circuit.state = next;
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
            breaker.admit().expect("closed").record(Err(&outage()));
        }
        assert_eq!(breaker.state(), CircuitState::Closed);
        breaker.admit().expect("closed").record(Err(&outage()));
        assert_eq!(breaker.state(), CircuitState::Open);
        assert!(matches!(
            breaker.admit(),
            Err(EnableXError::CircuitOpen { .. })
        ));
        std::thread::sleep(Duration::from_millis(25));
        let trial = breaker.admit().expect("trial");
        assert!(breaker.admit().is_err(), "only one trial at a time");
        trial.record(Ok(()));
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    /// Opens a breaker with threshold 1 and waits out its cool-down.
    fn opened_and_cooled(breaker: &Breaker, cooldown: Duration) {
        breaker.admit().expect("closed").record(Err(&outage()));
        assert_eq!(breaker.state(), CircuitState::Open);
        std::thread::sleep(cooldown + Duration::from_millis(5));
    }

    #[test]
    fn a_dropped_trial_reopens_the_circuit_and_another_trial_follows_the_cooldown() {
        let cooldown = Duration::from_millis(30);
        let breaker = Breaker::new(1, cooldown);
        // An ordinary call dropped says nothing about EnableX.
        drop(breaker.admit().expect("closed"));
        assert_eq!(breaker.state(), CircuitState::Closed);
        opened_and_cooled(&breaker, cooldown);
        let trial = breaker.admit().expect("trial");
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        drop(trial);
        assert_eq!(
            breaker.state(),
            CircuitState::Open,
            "a dropped trial failed"
        );
        std::thread::sleep(cooldown + Duration::from_millis(5));
        breaker.admit().expect("a new trial").record(Ok(()));
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    #[test]
    fn an_overdue_trial_reopens_the_circuit_and_its_late_answer_is_ignored() {
        let cooldown = Duration::from_millis(30);
        let limit = Duration::from_millis(30);
        let breaker = Breaker::new(1, cooldown).with_trial_limit(limit);
        opened_and_cooled(&breaker, cooldown);
        let late = breaker.admit().expect("trial");
        std::thread::sleep(limit + Duration::from_millis(5));
        assert_eq!(
            breaker.state(),
            CircuitState::Open,
            "an overdue trial failed"
        );
        late.record(Ok(()));
        assert_eq!(
            breaker.state(),
            CircuitState::Open,
            "the overdue trial no longer speaks for the circuit"
        );
        std::thread::sleep(cooldown + Duration::from_millis(5));
        let trial = breaker.admit().expect("a new trial after the cool-down");
        assert!(breaker.admit().is_err(), "only one trial at a time");
        trial.record(Ok(()));
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
}
