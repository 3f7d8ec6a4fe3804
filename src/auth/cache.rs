//! Verified API keys kept in the process, so a request costs no key lookup. An entry lives at
//! most [`KEY_CACHE_TTL`]; a revocation or rotation is also announced (PostgreSQL
//! `NOTIFY roomgate_keys`, see `store::SqlStore::watch_key_changes`) and forgets the key's
//! entries at once, on every replica listening.

use super::KeyRecord;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest a cached key is trusted: the bound on how late a revocation can take effect
/// on a replica that missed its announcement (SQLite, or a lost listener connection).
pub const KEY_CACHE_TTL: Duration = Duration::from_millis(500);
/// Keys kept at most; past that, expired entries go, and if none have, all do.
const MAX_KEYS: usize = 10_000;

/// Key records by public id, each with when it was read.
#[derive(Debug, Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, (KeyRecord, Instant)>>,
}

impl KeyCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (KeyRecord, Instant)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The record of key `id`, if read within the cache's lifetime.
    pub fn get(&self, id: &str) -> Option<KeyRecord> {
        let entries = self.entries();
        let (record, read) = entries.get(id)?;
        (read.elapsed() < KEY_CACHE_TTL).then(|| record.clone())
    }

    pub fn put(&self, record: KeyRecord) {
        let mut entries = self.entries();
        if entries.len() >= MAX_KEYS {
            entries.retain(|_, (_, read)| read.elapsed() < KEY_CACHE_TTL);
            if entries.len() >= MAX_KEYS {
                entries.clear();
            }
        }
        entries.insert(record.id.clone(), (record, Instant::now()));
    }

    /// Forgets every key named `name`, or every key when `None` (a missed announcement).
    pub fn forget(&self, name: Option<&str>) {
        let mut entries = self.entries();
        match name {
            Some(name) => entries.retain(|_, (record, _)| record.name != name),
            None => entries.clear(),
        }
    }
}
