//! Authentication and per-caller rate limiting for the `/meetings` routes.

use super::AppState;
use super::error::ApiError;
use crate::auth::AuthError;
use crate::meetings::Caller;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

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
        }
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

    /// Forgets callers whose buckets are full again, so memory stays bounded.
    pub fn forget_idle(&self) {
        self.buckets.retain_recent();
        self.buckets.shrink_to_fit();
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
/// attempts are limited per client address, so guessing keys is slow.
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
    let outcome = match bearer(request.headers()) {
        None => Err(AuthError::Missing),
        Some(token) => state.auth.authenticate(token).await,
    };
    let caller = match outcome {
        Ok(caller) => caller,
        Err(AuthError::Store(err)) => return ApiError::from(err).into_response(),
        Err(err) => {
            if let Some(limiter) = &state.limiter
                && let Err(standing) = limiter.check(&format!("failed-auth:{peer}"))
            {
                return too_many(limiter, &standing);
            }
            return ApiError::Unauthorized(err.to_string()).into_response();
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
