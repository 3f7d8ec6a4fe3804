//! Authentication and per-caller rate limiting for the `/meetings` routes. Failed attempts
//! are limited per client address; an address over its limit is refused before its
//! credential is looked up, and refusals are counted in a metric and logged as a summary at
//! most once a second, so a flood of wrong keys costs neither queries nor disk.

use super::AppState;
use super::error::ApiError;
use crate::auth::AuthError;
use crate::meetings::Caller;
use crate::telemetry::Throttle;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// Most addresses remembered as limited at once; beyond it, an address is still limited,
/// but only after its credential is checked.
const MAX_LIMITED_ADDRESSES: usize = 100_000;

/// Refused credentials not yet reported in the log.
static REFUSALS: LazyLock<Throttle> = LazyLock::new(|| Throttle::new(Duration::from_secs(1)));

/// Marks a response that refused a caller's credentials: the trace layer logs it at debug
/// level, so a flood of them does not write a line each.
#[derive(Debug, Clone, Copy)]
pub(super) struct Refused;

/// A token bucket per caller: `burst` requests at once, refilled at `per_minute`.
pub struct Limiter {
    buckets: RateLimiter<
        String,
        DefaultKeyedStateStore<String>,
        DefaultClock,
        StateInformationMiddleware,
    >,
    clock: DefaultClock,
    burst: u32,
    per_minute: u32,
    /// Addresses over their failed-authentication limit, and until when.
    limited: Mutex<HashMap<String, Instant>>,
}

/// Where a caller stands against its limit, as the `RateLimit` headers say it.
struct Standing {
    remaining: u32,
    /// Seconds until the bucket is full again (or, when refused, until the next request fits).
    reset: u64,
}

impl Limiter {
    pub fn new(per_minute: NonZeroU32, burst: NonZeroU32) -> Self {
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Self {
            buckets: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            clock: DefaultClock::default(),
            burst: burst.get(),
            per_minute: per_minute.get(),
            limited: Mutex::default(),
        }
    }

    /// Counts a failed authentication from `peer`; over the limit, remembers until when the
    /// address stays refused.
    fn failed(&self, peer: &str) -> Result<(), Standing> {
        let key = format!("failed-auth:{peer}");
        match self.buckets.check_key(&key) {
            Ok(_) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let mut limited = self.limited.lock().unwrap_or_else(|p| p.into_inner());
                if limited.len() >= MAX_LIMITED_ADDRESSES {
                    let now = Instant::now();
                    limited.retain(|_, until| *until > now);
                }
                if limited.len() < MAX_LIMITED_ADDRESSES {
                    limited.insert(peer.to_owned(), Instant::now() + wait);
                }
                Err(Standing {
                    remaining: 0,
                    reset: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                })
            }
        }
    }

    /// Whether `peer` is still refused for failed authentication, without touching its
    /// bucket or the store.
    fn still_limited(&self, peer: &str) -> Option<Standing> {
        let limited = self.limited.lock().unwrap_or_else(|p| p.into_inner());
        let left = limited.get(peer)?.checked_duration_since(Instant::now())?;
        Some(Standing {
            remaining: 0,
            reset: left.as_secs() + u64::from(left.subsec_nanos() > 0),
        })
    }

    fn check(&self, key: &str) -> Result<Standing, Standing> {
        let refill = 60.0 / f64::from(self.per_minute);
        match self.buckets.check_key(&key.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let missing = f64::from(self.burst - remaining.min(self.burst));
                Ok(Standing {
                    remaining,
                    reset: (missing * refill).ceil() as u64,
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Err(Standing {
                    remaining: 0,
                    reset: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                })
            }
        }
    }

    /// Forgets callers whose buckets are full again and addresses no longer limited, so
    /// memory stays bounded, and reports refusals still waiting for a log line.
    pub fn forget_idle(&self) {
        self.buckets.retain_recent();
        self.buckets.shrink_to_fit();
        let now = Instant::now();
        let mut limited = self.limited.lock().unwrap_or_else(|p| p.into_inner());
        limited.retain(|_, until| *until > now);
        limited.shrink_to_fit();
        drop(limited);
        let pending = REFUSALS.take();
        if pending > 0 {
            tracing::info!(refused = pending, "refused authentication attempts");
        }
    }

    fn headers(&self, standing: &Standing, headers: &mut HeaderMap) {
        let window = u64::from(self.burst) * 60 / u64::from(self.per_minute).max(1);
        let pairs = [
            ("ratelimit-limit", self.burst.to_string()),
            ("ratelimit-remaining", standing.remaining.to_string()),
            ("ratelimit-reset", standing.reset.to_string()),
            (
                "ratelimit-policy",
                format!("{};w={}", self.burst, window.max(1)),
            ),
        ];
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Lets a request through only with a valid bearer credential and budget left; failed
/// attempts are limited per client address, so guessing keys is slow, and an address over
/// that limit is refused before its credential is looked up.
pub async fn require_caller(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    if let Some(limiter) = &state.limiter
        && let Some(standing) = limiter.still_limited(&peer)
    {
        return refused("limited", &peer, too_many(limiter, &standing));
    }
    let outcome = match bearer(request.headers()) {
        None => Err(AuthError::Missing),
        Some(token) => state.auth.authenticate(token).await,
    };
    let caller = match outcome {
        Ok(caller) => caller,
        Err(AuthError::Store(err)) => return ApiError::from(err).into_response(),
        Err(err) => {
            let response = match &state.limiter {
                Some(limiter) => match limiter.failed(&peer) {
                    Ok(()) => ApiError::Unauthorized(err.to_string()).into_response(),
                    Err(standing) => too_many(limiter, &standing),
                },
                None => ApiError::Unauthorized(err.to_string()).into_response(),
            };
            return refused(err.reason(), &peer, response);
        }
    };
    let standing = match &state.limiter {
        None => None,
        Some(limiter) => match limiter.check(&caller.identity) {
            Ok(standing) => Some(standing),
            Err(standing) => return too_many(limiter, &standing),
        },
    };
    request.extensions_mut().insert(caller);
    let mut response = next.run(request).await;
    if let (Some(limiter), Some(standing)) = (&state.limiter, standing) {
        limiter.headers(&standing, response.headers_mut());
    }
    response
}

/// Counts a refused credential and logs a summary when one is due (at most once a second).
fn refused(reason: &'static str, peer: &str, mut response: Response) -> Response {
    metrics::counter!(crate::metrics::AUTH_REFUSALS, "reason" => reason).increment(1);
    if let Some(refused) = REFUSALS.count() {
        tracing::info!(
            refused,
            last_reason = reason,
            last_peer = peer,
            "refused authentication attempts"
        );
    }
    response.extensions_mut().insert(Refused);
    response
}

fn too_many(limiter: &Limiter, standing: &Standing) -> Response {
    let mut response =
        ApiError::RateLimited(Duration::from_secs(standing.reset.max(1))).into_response();
    limiter.headers(standing, response.headers_mut());
    response
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthorized(AuthError::Missing.to_string()))
    }
}
