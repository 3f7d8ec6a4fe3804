//! The upstream client: EnableX's Video Server API over HTTPS with Basic auth.
//!
//! One pooled `reqwest::Client` with connect and request timeouts; every call goes through
//! [`EnableXClient::call`], which reads both of EnableX's error envelopes.

mod breaker;
mod error;
mod listing;
mod policy;
mod types;

pub use breaker::{Breaker, CircuitState, Permit};
pub use error::{EnableXError, UpdateFailed, Updated, parse_response};
pub use listing::{Listed, RoomStream};
pub use policy::Policy;
pub use types::{CreateRoom, Room, RoomData, RoomSettings, Sip, TokenRequest};

use reqwest::{Method, header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// What the client needs to know.
#[derive(Clone)]
pub struct ClientConfig {
    /// Base URL up to and including the version, e.g. `https://api.enablex.io/video/v1`.
    pub base_url: String,
    pub app_id: String,
    pub app_key: SecretString,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub policy: Policy,
}

/// EnableX's API, as roomgate uses it. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct EnableXClient {
    http: reqwest::Client,
    base_url: String,
    app_id: String,
    app_key: SecretString,
    policy: Policy,
    breaker: Arc<Breaker>,
    request_timeout: Duration,
}

impl std::fmt::Debug for EnableXClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnableXClient")
            .field("base_url", &self.base_url)
            .field("app_id", &self.app_id)
            .field("app_key", &"[redacted]")
            .finish()
    }
}

impl EnableXClient {
    /// Builds the one client roomgate uses for its whole life.
    pub fn new(config: ClientConfig) -> Result<Self, EnableXError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("roomgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(EnableXError::from_reqwest)?;
        Ok(Self {
            http,
            base_url: config.base_url.trim_end_matches('/').to_owned(),
            app_id: config.app_id,
            app_key: config.app_key,
            // No call outlives the request timeout, so neither may a trial.
            breaker: Arc::new(
                Breaker::new(
                    config.policy.breaker_threshold,
                    config.policy.breaker_cooldown,
                )
                .with_trial_limit(config.request_timeout),
            ),
            policy: config.policy,
            request_timeout: config.request_timeout,
        })
    }

    /// The application id (not secret; it is part of moderator URLs).
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// Whether a call would go out now (fails fast while the circuit is open).
    pub fn admit(&self) -> Result<(), EnableXError> {
        self.breaker.check()
    }

    /// Where the circuit breaker stands.
    pub fn circuit(&self) -> CircuitState {
        self.breaker.state()
    }

    /// `POST /rooms`. Never repeated: a lost answer may mean the room exists.
    #[tracing::instrument(skip_all)]
    pub async fn create_room(&self, body: &CreateRoom) -> Result<Room, EnableXError> {
        let json = self
            .call_once("create", Method::POST, "/rooms", Some(body))
            .await?;
        room_from(json.get("room"))
    }

    /// `GET /rooms/{room_id}`.
    #[tracing::instrument(skip(self))]
    pub async fn get_room(&self, room_id: &str) -> Result<Room, EnableXError> {
        let json = self
            .call("get", Method::GET, &room_path(room_id, ""), None::<&()>)
            .await?;
        room_from(json.get("room"))
    }

    /// `GET /rooms`.
    #[tracing::instrument(skip(self))]
    pub async fn list_rooms(&self) -> Result<Vec<Room>, EnableXError> {
        let json = self
            .call("list", Method::GET, "/rooms", None::<&()>)
            .await?;
        let rooms = json
            .get("rooms")
            .cloned()
            .unwrap_or(Value::Array(Vec::new()));
        serde_json::from_value(rooms).map_err(|e| EnableXError::Malformed(e.to_string()))
    }

    /// `PATCH /rooms/{room_id}` with a partial body. Either way the answer says whether an
    /// attempt went unanswered, broke off, or was answered with something unreadable or a 5xx:
    /// then a failure may have taken effect all the same, whatever the last attempt was told,
    /// and a success may be followed by that earlier attempt landing late.
    #[tracing::instrument(skip(self, patch))]
    pub async fn update_room(&self, room_id: &str, patch: &Value) -> Result<Updated, UpdateFailed> {
        let (result, maybe_taken) = self
            .call_tracked(
                "update",
                Method::PATCH,
                &room_path(room_id, ""),
                Some(patch),
            )
            .await;
        match result {
            Ok(_) => Ok(Updated {
                after_unknown: maybe_taken,
            }),
            Err(error) => Err(UpdateFailed { error, maybe_taken }),
        }
    }

    /// `DELETE /rooms/{room_id}`.
    #[tracing::instrument(skip(self))]
    pub async fn delete_room(&self, room_id: &str) -> Result<(), EnableXError> {
        self.call(
            "delete",
            Method::DELETE,
            &room_path(room_id, ""),
            None::<&()>,
        )
        .await
        .map(drop)
    }

    /// `GET /rooms/{room_id}/users`: how many people are in the room's live session. An answer
    /// with neither a readable `total` nor a `users` list is [`EnableXError::Malformed`], never
    /// zero: a room is deleted only on EnableX's word that it is empty.
    #[tracing::instrument(skip(self))]
    pub async fn live_user_count(&self, room_id: &str) -> Result<u64, EnableXError> {
        let json = self
            .call(
                "users",
                Method::GET,
                &room_path(room_id, "/users"),
                None::<&()>,
            )
            .await?;
        let total = json.get("total").and_then(|t| match t {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        });
        let listed = json.get("users").and_then(Value::as_array).map(Vec::len);
        total.or(listed.map(|n| n as u64)).ok_or_else(|| {
            EnableXError::Malformed("no readable total or users in the answer".to_owned())
        })
    }

    /// `POST /rooms/{room_id}/tokens`.
    #[tracing::instrument(skip(self, body))]
    pub async fn create_token(
        &self,
        room_id: &str,
        body: &TokenRequest,
    ) -> Result<String, EnableXError> {
        // A repeated token request makes another token; harmless, so it is retried.
        let json = self
            .call(
                "token",
                Method::POST,
                &room_path(room_id, "/tokens"),
                Some(body),
            )
            .await?;
        json.get("token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| EnableXError::Malformed("no token in the answer".to_owned()))
    }

    /// A call that is safe to repeat: retried with jittered backoff on outages and rate limits,
    /// within the policy's bounds and while the circuit lets calls through.
    async fn call<B: Serialize + ?Sized>(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Value, EnableXError> {
        self.call_tracked(op, method, path, body).await.0
    }

    /// [`Self::call`], and whether any failed attempt may have taken effect at EnableX.
    async fn call_tracked<B: Serialize + ?Sized>(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> (Result<Value, EnableXError>, bool) {
        let mut attempt = 0;
        let mut maybe_taken = false;
        loop {
            let result = self.call_once(op, method.clone(), path, body).await;
            let err = match result {
                Ok(json) => return (Ok(json), maybe_taken),
                Err(err) => err,
            };
            maybe_taken |= err.may_have_taken_effect();
            attempt += 1;
            if attempt > self.policy.retries || !err.is_retryable() {
                return (Err(err), maybe_taken);
            }
            let Some(wait) = policy::backoff(&self.policy, attempt, &err) else {
                return (Err(err), maybe_taken);
            };
            if !policy::time_for_another(wait) {
                tracing::debug!(attempt, error = %err, "no time left in the request for a retry");
                return (Err(err), maybe_taken);
            }
            tracing::debug!(attempt, ?wait, error = %err, "retrying EnableX call");
            tokio::time::sleep(wait).await;
        }
    }

    /// One request, if the circuit allows it, and its answer read by [`parse_response`].
    async fn call_once<B: Serialize + ?Sized>(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Value, EnableXError> {
        // The request this call serves must still be answered: an attempt gets only the time
        // left before its deadline, and none when there is none left.
        let time_limit = match policy::attempt_budget() {
            Some(budget) if budget.is_zero() => return Err(EnableXError::Timeout),
            Some(budget) => budget.min(self.request_timeout),
            None => self.request_timeout,
        };
        let permit = match self.breaker.admit() {
            Ok(permit) => permit,
            Err(err) => {
                metrics::counter!(crate::metrics::ENABLEX_CALLS, "operation" => op, "outcome" => "circuit_open").increment(1);
                return Err(err);
            }
        };
        let started = std::time::Instant::now();
        // If this future is dropped while the request is out, the permit's `Drop` tells the
        // breaker, so a half-open trial that never finishes cannot hold the circuit.
        let result = self.send(method, path, body, time_limit).await;
        permit.record(result.as_ref().map(drop));
        metrics::histogram!(crate::metrics::ENABLEX_DURATION, "operation" => op)
            .record(started.elapsed().as_secs_f64());
        metrics::counter!(crate::metrics::ENABLEX_CALLS, "operation" => op, "outcome" => outcome(&result)).increment(1);
        result
    }

    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        time_limit: Duration,
    ) -> Result<Value, EnableXError> {
        let url = format!("{}{path}", self.base_url);
        let mut request = self
            .http
            .request(method, url)
            .timeout(time_limit)
            .basic_auth(&self.app_id, Some(self.app_key.expose_secret()))
            .header(header::ACCEPT, "application/json");
        if let Some(body) = body {
            // `.json` sets Content-Type: application/json.
            request = request.json(body);
        }
        let response = request.send().await.map_err(EnableXError::from_reqwest)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response.bytes().await.map_err(EnableXError::from_reqwest)?;
        parse_response(status, retry_after, &bytes).map_err(|err| self.scrub(err))
    }

    /// Removes the app key from anything EnableX echoed back, so it cannot reach a log or a client.
    fn scrub(&self, err: EnableXError) -> EnableXError {
        match err {
            EnableXError::Refused {
                status,
                code,
                message,
            } => {
                let key = self.app_key.expose_secret();
                let message = if key.is_empty() {
                    message
                } else {
                    message.replace(key, "[redacted]")
                };
                EnableXError::Refused {
                    status,
                    code,
                    message,
                }
            }
            other => other,
        }
    }
}

/// A call's outcome as a metrics label.
fn outcome(result: &Result<Value, EnableXError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(EnableXError::Refused { status, .. }) if *status >= 500 => "server_error",
        Err(EnableXError::Refused { .. }) => "refused",
        Err(EnableXError::RateLimited { .. }) => "rate_limited",
        Err(EnableXError::Timeout) => "timeout",
        Err(EnableXError::Unreachable(_)) => "unreachable",
        Err(EnableXError::Interrupted(_)) => "interrupted",
        Err(EnableXError::Malformed(_)) => "malformed",
        Err(EnableXError::CircuitOpen { .. }) => "circuit_open",
    }
}

fn room_path(room_id: &str, suffix: &str) -> String {
    // Room ids are EnableX's hex ids; anything else is escaped so it cannot change the path.
    let escaped: String = room_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    format!("/rooms/{escaped}{suffix}")
}

fn room_from(value: Option<&Value>) -> Result<Room, EnableXError> {
    let value = value.ok_or_else(|| EnableXError::Malformed("no room in the answer".to_owned()))?;
    serde_json::from_value(value.clone()).map_err(|e| EnableXError::Malformed(e.to_string()))
}
