//! Leases and the background jobs' queries, written once.

use super::meetings::{COLUMNS, meeting};
use super::{SqlStore, StoreError};
use crate::jobs::JobStore;
use crate::meetings::Meeting;
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[async_trait::async_trait]
impl JobStore for SqlStore {
    async fn purge_idempotency(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.execute(
            "DELETE FROM idempotency_keys WHERE expires_at <= $1",
            vec![now.into()],
        )
        .await
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let taken = self
            .execute(
                "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until \
                 WHERE leases.holder = EXCLUDED.holder OR leases.until <= $4",
                vec![name.into(), holder.into(), until.into(), now.into()],
            )
            .await?;
        Ok(taken == 1)
    }

    async fn unsettled_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Meeting>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM meetings WHERE state IN ('provisioning', 'failed') \
             AND created_at < $1 ORDER BY created_at LIMIT $2"
        );
        self.fetch(&sql, vec![cutoff.into(), i64::from(limit).into()], meeting)
            .await
    }

    async fn end_scheduled(&self, now: DateTime<Utc>) -> Result<Vec<Meeting>, StoreError> {
        let sql = format!(
            "UPDATE meetings SET ended_at = ends_at, updated_at = $1 WHERE state = 'active' \
             AND kind = 'scheduled' AND ended_at IS NULL AND ends_at <= $1 RETURNING {COLUMNS}"
        );
        self.fetch(&sql, vec![now.into()], meeting).await
    }

    async fn open_adhoc(&self, limit: u32) -> Result<Vec<Meeting>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM meetings WHERE state = 'active' AND kind = 'adhoc' \
             AND ended_at IS NULL ORDER BY id LIMIT $1"
        );
        self.fetch(&sql, vec![i64::from(limit).into()], meeting)
            .await
    }

    async fn mark_ended(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.execute(
            "UPDATE meetings SET ended_at = COALESCE(ended_at, $2), updated_at = $2 \
             WHERE id = $1 AND state = 'active'",
            vec![id.into(), at.into()],
        )
        .await?;
        Ok(())
    }
}
