//! The deadline of the request being served, for work below the HTTP layer that must finish in
//! time for its outcome to be answered (the EnableX client's retries). A leaf module: the HTTP
//! layer sets the deadline, the client reads it, and neither has to know the other.

use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `work` with `deadline` as its deadline. Nested deadlines only ever tighten.
pub async fn within<F: Future>(deadline: Instant, work: F) -> F::Output {
    let deadline = DEADLINE
        .try_with(|outer| (*outer).min(deadline))
        .unwrap_or(deadline);
    DEADLINE.scope(deadline, work).await
}

/// Time left before the current deadline; `None` when there is none (background jobs, the
/// command line), zero once it has passed.
pub fn remaining() -> Option<Duration> {
    DEADLINE
        .try_with(|deadline| deadline.saturating_duration_since(Instant::now()))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_deadline_is_seen_inside_its_scope_and_only_tightens() {
        assert_eq!(remaining(), None);
        let soon = Instant::now() + Duration::from_secs(5);
        within(soon, async {
            let left = remaining().expect("a deadline");
            assert!(left <= Duration::from_secs(5) && left > Duration::from_secs(4));
            within(soon + Duration::from_secs(60), async {
                assert!(remaining().expect("a deadline") <= Duration::from_secs(5));
            })
            .await;
        })
        .await;
        within(Instant::now() - Duration::from_millis(1), async {
            assert_eq!(remaining(), Some(Duration::ZERO));
        })
        .await;
    }
}
