//! Logging: human-readable by default, JSON lines with `LOG_FORMAT=json`; `RUST_LOG` filters.

use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// Counts events that a flood could repeat (refused credentials, accept errors) so that they
/// are logged as one summary line at most once a `period`, not one line each.
#[derive(Debug)]
pub struct Throttle {
    period: Duration,
    /// Events not yet reported, and when the last line was written.
    state: Mutex<(u64, Option<Instant>)>,
}

impl Throttle {
    /// At most one line each `period`.
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            state: Mutex::new((0, None)),
        }
    }

    /// Counts one event. When a line is due, returns how many events it should report (this
    /// one included) and starts counting afresh.
    pub fn count(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 += 1;
        let due = state.1.is_none_or(|last| last.elapsed() >= self.period);
        due.then(|| {
            state.1 = Some(Instant::now());
            std::mem::take(&mut state.0)
        })
    }

    /// Events counted since the last line (resetting the count), so a quiet period can report
    /// what is still pending.
    pub fn take(&self) -> u64 {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.0 > 0 {
            state.1 = Some(Instant::now());
        }
        std::mem::take(&mut state.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_reports_the_first_event_then_at_most_once_a_period() {
        let throttle = Throttle::new(Duration::from_secs(3600));
        assert_eq!(throttle.count(), Some(1));
        for _ in 0..10 {
            assert_eq!(throttle.count(), None);
        }
        assert_eq!(throttle.take(), 10);
        assert_eq!(throttle.take(), 0);
        let eager = Throttle::new(Duration::ZERO);
        assert_eq!(eager.count(), Some(1));
        assert_eq!(eager.count(), Some(1));
    }
}
