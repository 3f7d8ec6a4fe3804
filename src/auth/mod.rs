//! Who is calling: bearer API keys (stored hashed) and JWTs from the app's identity provider.

mod cache;
pub mod jwt;
pub mod keys;

pub use cache::{KEY_CACHE_TTL, KeyCache};
pub use jwt::{JwtSettings, JwtVerifier};
pub use keys::{KEY_PREFIX, KeyRecord, NewKey};

use crate::meetings::{Caller, StoreError};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Why a caller was not let in. The messages are safe to send back: they never echo the
/// credential and do not tell an unknown key from a revoked one.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("send 'Authorization: Bearer <API key or JWT>'")]
    Missing,
    #[error("the API key is not valid")]
    BadKey,
    #[error("{0}")]
    BadToken(String),
    #[error("JWTs are not accepted here: no verifier is configured")]
    NoVerifier,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    /// A short, fixed name for why a credential was refused (a metric label).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::BadKey => "bad_key",
            Self::BadToken(_) => "bad_token",
            Self::NoVerifier => "no_verifier",
            Self::Store(_) => "store_error",
        }
    }
}

/// How API keys are stored.
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Stores a key under a new name; a name any key ever had is a `Conflict`.
    async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError>;
    /// Stores `key` as the next key of its name, with the admin rights of the name's live key,
    /// and schedules every other live key of that name to be revoked at `old_until`. False
    /// (and nothing stored) when no key of that name is live at `now`.
    async fn rotate_key(
        &self,
        key: &KeyRecord,
        old_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// The key with this public id, revoked or not.
    async fn find_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError>;
    /// Every key, oldest first.
    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Revokes every key named `name` live at `at`; false if there is none.
    async fn revoke_key(&self, name: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// How many keys are live at `now`.
    async fn count_live_keys(&self, now: DateTime<Utc>) -> Result<i64, StoreError>;
}

/// Turns bearer credentials into a [`Caller`]. Cheap to clone.
#[derive(Clone)]
pub struct Authenticator {
    store: Arc<dyn KeyStore>,
    jwt: Option<Arc<JwtVerifier>>,
    keys: Arc<KeyCache>,
}

impl Authenticator {
    pub fn new(store: Arc<dyn KeyStore>, jwt: Option<Arc<JwtVerifier>>) -> Self {
        Self {
            store,
            jwt,
            keys: Arc::default(),
        }
    }

    /// The cache of verified keys, for announcements of revoked and rotated keys.
    pub fn key_cache(&self) -> Arc<KeyCache> {
        self.keys.clone()
    }

    /// Checks one bearer credential: an `rg_` API key against the store, anything else as a
    /// JWT.
    pub async fn authenticate(&self, bearer: &str) -> Result<Caller, AuthError> {
        if bearer.starts_with(KEY_PREFIX) {
            let (id, secret) = keys::parse(bearer).ok_or(AuthError::BadKey)?;
            let record = match self.keys.get(id) {
                Some(record) => Some(record),
                None => {
                    let found = self.store.find_key(id).await?;
                    if let Some(record) = &found {
                        self.keys.put(record.clone());
                    }
                    found
                }
            };
            return match record {
                Some(record)
                    if record.is_live(crate::meetings::now()) && keys::matches(&record, secret) =>
                {
                    Ok(Caller::for_key(&record.name, record.admin))
                }
                // Not logged here: a flood of wrong keys would write a line each. The HTTP layer
                // counts refusals and logs a summary at a bounded rate.
                _ => Err(AuthError::BadKey),
            };
        }
        let verifier = self.jwt.as_ref().ok_or(AuthError::NoVerifier)?;
        let subject = verifier.verify(bearer).await.map_err(AuthError::BadToken)?;
        Ok(Caller::for_user(&subject))
    }
}
