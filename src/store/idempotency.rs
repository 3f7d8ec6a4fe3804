//! Idempotency records: claiming a caller's key in one transaction, and reading a record.

use super::{Cells, SqlStore, StoreError, required};
use crate::meetings::IdempotencyRecord;
#[cfg(doc)]
use crate::meetings::MeetingStore;

pub(super) const IDEMPOTENCY_COLUMNS: &str =
    "caller, key, request_hash, meeting_id, status, body, created_at, expires_at";

/// Frees `(caller $1, key $2)` if it is still held, unanswered, for meeting `$3`.
pub(super) const RELEASE_CLAIM: &str = "DELETE FROM idempotency_keys \
    WHERE caller = $1 AND key = $2 AND meeting_id = $3 AND status IS NULL";

pub(super) fn idempotency_record(row: &dyn Cells) -> Result<IdempotencyRecord, StoreError> {
    let text = |column: &str| required(column, row.text(column)?);
    Ok(IdempotencyRecord {
        caller: text("caller")?,
        key: text("key")?,
        request_hash: text("request_hash")?,
        meeting_id: row.id("meeting_id")?,
        status: row.int("status")?.and_then(|s| u16::try_from(s).ok()),
        body: row.text("body")?,
        created_at: required("created_at", row.time("created_at")?)?,
        expires_at: required("expires_at", row.time("expires_at")?)?,
    })
}

impl SqlStore {
    /// Claims `(caller, key)`: see [`MeetingStore::claim_idempotency`]. Claims made at the same
    /// time share one transaction (see `batch.rs`).
    pub(super) async fn claim(
        &self,
        r: &IdempotencyRecord,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        // A claim released between the insert and the read leaves no row: try again, a few
        // times at most.
        for _ in 0..5 {
            // Each request claims with a fresh meeting id: the row holds ours only if this call
            // wrote it. No row means the holder was released in between: claim again.
            match self.writes()?.claims.write(r.clone()).await? {
                Some(held) if held.meeting_id == r.meeting_id => return Ok(None),
                Some(held) => return Ok(Some(held)),
                None => continue,
            }
        }
        Err(StoreError::Unavailable(
            "the idempotency key is contended; retry shortly".into(),
        ))
    }
}
