//! Leases and the background jobs' queries, written once.

use super::meetings::{COLUMNS, meeting};
use super::{Cells, SqlStore, Statement, StoreError};
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
        // Creations still provisioning come first, oldest first: they hold their callers'
        // keys. Failed ones (whose room might turn up late) fill what is left, newest first and
        // from the last day only, so failures piling up can never crowd the others out.
        let sql = format!(
            "SELECT {COLUMNS} FROM meetings WHERE state = 'provisioning' AND created_at < $1 \
             ORDER BY created_at LIMIT $2"
        );
        let mut unsettled = self
            .fetch(&sql, vec![cutoff.into(), i64::from(limit).into()], meeting)
            .await?;
        let room = u32::try_from(unsettled.len()).map_or(0, |n| limit.saturating_sub(n));
        if room > 0 {
            let sql = format!(
                "SELECT {COLUMNS} FROM meetings WHERE state = 'failed' AND created_at < $1 \
                 AND created_at > $2 ORDER BY created_at DESC LIMIT $3"
            );
            let since = cutoff - chrono::Duration::days(1);
            unsettled.extend(
                self.fetch(
                    &sql,
                    vec![cutoff.into(), since.into(), i64::from(room).into()],
                    meeting,
                )
                .await?,
            );
        }
        Ok(unsettled)
    }

    async fn end_scheduled(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Meeting>, StoreError> {
        let sql = format!(
            "UPDATE meetings SET ended_at = ends_at, updated_at = $1, unsynced_by = NULL, \
             unsynced_at = NULL, unsynced_since = NULL WHERE id IN \
             (SELECT id FROM meetings WHERE state = 'active' AND kind = 'scheduled' \
              AND ended_at IS NULL AND ends_at <= $1 ORDER BY ends_at LIMIT $2) \
             RETURNING {COLUMNS}"
        );
        self.fetch(&sql, vec![now.into(), i64::from(limit).into()], meeting)
            .await
    }

    async fn ended_undeleted(&self, limit: u32) -> Result<Vec<Meeting>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM meetings WHERE state = 'active' AND kind = 'scheduled' \
             AND ended_at IS NOT NULL ORDER BY ended_at LIMIT $1"
        );
        self.fetch(&sql, vec![i64::from(limit).into()], meeting)
            .await
    }

    async fn open_adhoc_after(
        &self,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Meeting>, StoreError> {
        let page = |after: Option<Uuid>, limit: u32| {
            let mut q = Statement::new(format!(
                "SELECT {COLUMNS} FROM meetings WHERE state = 'active' AND kind = 'adhoc' \
                 AND ended_at IS NULL"
            ));
            if let Some(after) = after {
                q.push(" AND id > ").bind(after);
            }
            q.push(" ORDER BY id LIMIT ").bind(i64::from(limit));
            q
        };
        self.scan(page, after, limit).await
    }

    async fn meetings_by_ids(&self, ids: &[Uuid]) -> Result<Vec<Meeting>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Statement::new(format!("SELECT {COLUMNS} FROM meetings WHERE id IN ("));
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.bind(*id);
        }
        q.push(")");
        self.fetch(&q.sql, q.args, meeting).await
    }

    async fn job_cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        let rows = self
            .fetch(
                "SELECT cursor FROM leases WHERE name = $1",
                vec![name.into()],
                cursor,
            )
            .await?;
        Ok(rows.into_iter().next().flatten())
    }

    async fn set_job_cursor(
        &self,
        name: &str,
        holder: &str,
        cursor: Option<String>,
    ) -> Result<bool, StoreError> {
        let set = self
            .execute(
                "UPDATE leases SET cursor = $3 WHERE name = $1 AND holder = $2",
                vec![name.into(), holder.into(), cursor.into()],
            )
            .await?;
        Ok(set == 1)
    }

    async fn unsynced_changes(
        &self,
        lapsed_by: DateTime<Utc>,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(Meeting, DateTime<Utc>)>, StoreError> {
        // Through the index of marked rows only, longest waiting first. A mark whose change
        // still holds the row is that change's to settle.
        let sql = format!(
            "SELECT {COLUMNS}, unsynced_since FROM meetings WHERE unsynced_by IS NOT NULL \
             AND unsynced_at <= $2 AND state = 'active' AND ended_at IS NULL \
             AND (change_token IS NULL OR change_until <= $1) ORDER BY unsynced_at LIMIT $3"
        );
        self.fetch(
            &sql,
            vec![lapsed_by.into(), cutoff.into(), i64::from(limit).into()],
            |row| {
                let since = row
                    .time("unsynced_since")?
                    .ok_or_else(|| StoreError::Other("stored unsynced_since is null".into()))?;
                Ok((meeting(row)?, since))
            },
        )
        .await
    }

    async fn mark_ended(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.execute(
            "UPDATE meetings SET ended_at = COALESCE(ended_at, $2), updated_at = $2, \
             unsynced_by = NULL, unsynced_at = NULL, unsynced_since = NULL \
             WHERE id = $1 AND state = 'active'",
            vec![id.into(), at.into()],
        )
        .await?;
        Ok(())
    }
}

fn cursor(row: &dyn Cells) -> Result<Option<String>, StoreError> {
    row.text("cursor")
}
