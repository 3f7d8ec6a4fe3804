//! Idempotency records, leases and the background jobs' queries, in SQLite.

use super::{SqliteStore, read};
use crate::meetings::{IdempotencyRecord, Meeting};
use crate::store::{BoxFuture, COLUMNS, JobStore, StoreError, instant_text};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use uuid::Uuid;

const IDEMPOTENCY_COLUMNS: &str =
    "caller, key, request_hash, meeting_id, status, body, created_at, expires_at";

fn read_record(row: &SqliteRow) -> Result<IdempotencyRecord, StoreError> {
    let bad = |col: &str, e: String| StoreError::Other(format!("stored {col}: {e}"));
    let instant = |col: &str| -> Result<DateTime<Utc>, StoreError> {
        let text: String = row.try_get(col)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| bad(col, e.to_string()))
    };
    let meeting_id: String = row.try_get("meeting_id")?;
    Ok(IdempotencyRecord {
        caller: row.try_get("caller")?,
        key: row.try_get("key")?,
        request_hash: row.try_get("request_hash")?,
        meeting_id: Uuid::parse_str(&meeting_id).map_err(|e| bad("meeting_id", e.to_string()))?,
        status: row
            .try_get::<Option<i64>, _>("status")?
            .and_then(|s| u16::try_from(s).ok()),
        body: row.try_get("body")?,
        created_at: instant("created_at")?,
        expires_at: instant("expires_at")?,
    })
}

impl SqliteStore {
    async fn meetings<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Sqlite, SqliteArguments<'q>>,
    ) -> Result<Vec<Meeting>, StoreError> {
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(|r| read(r)?.into_meeting()).collect()
    }
}

impl JobStore for SqliteStore {
    fn claim_idempotency<'a>(
        &'a self,
        r: &'a IdempotencyRecord,
    ) -> BoxFuture<'a, Result<Option<IdempotencyRecord>, StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool().begin().await?;
            sqlx::query(
                "DELETE FROM idempotency_keys WHERE caller = ?1 AND key = ?2 AND expires_at <= ?3",
            )
            .bind(&r.caller)
            .bind(&r.key)
            .bind(instant_text(r.created_at))
            .execute(&mut *tx)
            .await?;
            let claimed = sqlx::query(
                "INSERT INTO idempotency_keys (caller, key, request_hash, meeting_id, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (caller, key) DO NOTHING",
            )
            .bind(&r.caller)
            .bind(&r.key)
            .bind(&r.request_hash)
            .bind(r.meeting_id.to_string())
            .bind(instant_text(r.created_at))
            .bind(instant_text(r.expires_at))
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            let existing = if claimed {
                None
            } else {
                let sql = format!(
                    "SELECT {IDEMPOTENCY_COLUMNS} FROM idempotency_keys WHERE caller = ?1 AND key = ?2"
                );
                let row = sqlx::query(&sql)
                    .bind(&r.caller)
                    .bind(&r.key)
                    .fetch_optional(&mut *tx)
                    .await?;
                row.map(|row| read_record(&row)).transpose()?
            };
            tx.commit().await?;
            Ok(existing)
        })
    }

    fn complete_idempotency<'a>(
        &'a self,
        caller: &'a str,
        key: &'a str,
        status: u16,
        body: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE idempotency_keys SET status = ?3, body = ?4 WHERE caller = ?1 AND key = ?2",
            )
            .bind(caller)
            .bind(key)
            .bind(i64::from(status))
            .bind(body)
            .execute(self.pool())
            .await?;
            Ok(())
        })
    }

    fn release_idempotency<'a>(
        &'a self,
        caller: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query(
                "DELETE FROM idempotency_keys WHERE caller = ?1 AND key = ?2 AND status IS NULL",
            )
            .bind(caller)
            .bind(key)
            .execute(self.pool())
            .await?;
            Ok(())
        })
    }

    fn find_idempotency<'a>(
        &'a self,
        caller: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<IdempotencyRecord>, StoreError>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT {IDEMPOTENCY_COLUMNS} FROM idempotency_keys WHERE caller = ?1 AND key = ?2"
            );
            let row = sqlx::query(&sql)
                .bind(caller)
                .bind(key)
                .fetch_optional(self.pool())
                .await?;
            row.map(|row| read_record(&row)).transpose()
        })
    }

    fn purge_idempotency(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let done = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= ?1")
                .bind(instant_text(now))
                .execute(self.pool())
                .await?;
            Ok(done.rows_affected())
        })
    }

    fn try_lease<'a>(
        &'a self,
        name: &'a str,
        holder: &'a str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let done = sqlx::query(
                "INSERT INTO leases (name, holder, until) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until \
                 WHERE leases.holder = EXCLUDED.holder OR leases.until <= ?4",
            )
            .bind(name)
            .bind(holder)
            .bind(instant_text(until))
            .bind(instant_text(now))
            .execute(self.pool())
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    fn unsettled_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<Meeting>, StoreError>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT {COLUMNS} FROM meetings WHERE state IN ('provisioning', 'failed') \
                 AND created_at < ?1 ORDER BY created_at LIMIT ?2"
            );
            self.meetings(
                sqlx::query(&sql)
                    .bind(instant_text(cutoff))
                    .bind(i64::from(limit)),
            )
            .await
        })
    }

    fn end_scheduled(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<Vec<Meeting>, StoreError>> {
        Box::pin(async move {
            let sql = format!(
                "UPDATE meetings SET ended_at = ends_at, updated_at = ?1 WHERE state = 'active' \
                 AND kind = 'scheduled' AND ended_at IS NULL AND ends_at <= ?1 RETURNING {COLUMNS}"
            );
            self.meetings(sqlx::query(&sql).bind(instant_text(now)))
                .await
        })
    }

    fn open_adhoc(&self, limit: u32) -> BoxFuture<'_, Result<Vec<Meeting>, StoreError>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT {COLUMNS} FROM meetings WHERE state = 'active' AND kind = 'adhoc' \
                 AND ended_at IS NULL ORDER BY id LIMIT ?1"
            );
            self.meetings(sqlx::query(&sql).bind(i64::from(limit)))
                .await
        })
    }

    fn mark_ended(&self, id: Uuid, at: DateTime<Utc>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query("UPDATE meetings SET ended_at = COALESCE(ended_at, ?2), updated_at = ?2 WHERE id = ?1 AND state = 'active'")
                .bind(id.to_string())
                .bind(instant_text(at))
                .execute(self.pool())
                .await?;
            Ok(())
        })
    }
}
