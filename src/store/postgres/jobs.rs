//! Idempotency records, leases and the background jobs' queries, in PostgreSQL.

use super::{PgStore, read};
use crate::meetings::{IdempotencyRecord, Meeting};
use crate::store::{BoxFuture, COLUMNS, JobStore, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

const IDEMPOTENCY_COLUMNS: &str =
    "caller, key, request_hash, meeting_id, status, body, created_at, expires_at";

fn read_record(row: &PgRow) -> Result<IdempotencyRecord, sqlx::Error> {
    Ok(IdempotencyRecord {
        caller: row.try_get("caller")?,
        key: row.try_get("key")?,
        request_hash: row.try_get("request_hash")?,
        meeting_id: row.try_get("meeting_id")?,
        status: row
            .try_get::<Option<i32>, _>("status")?
            .and_then(|s| u16::try_from(s).ok()),
        body: row.try_get("body")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

impl PgStore {
    async fn meetings(
        &self,
        query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<Vec<Meeting>, StoreError> {
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter().map(|r| read(r)?.into_meeting()).collect()
    }
}

impl JobStore for PgStore {
    fn claim_idempotency<'a>(
        &'a self,
        r: &'a IdempotencyRecord,
    ) -> BoxFuture<'a, Result<Option<IdempotencyRecord>, StoreError>> {
        Box::pin(async move {
            let mut tx = self.pool().begin().await?;
            sqlx::query(
                "DELETE FROM idempotency_keys WHERE caller = $1 AND key = $2 AND expires_at <= $3",
            )
            .bind(&r.caller)
            .bind(&r.key)
            .bind(r.created_at)
            .execute(&mut *tx)
            .await?;
            let claimed = sqlx::query(
                "INSERT INTO idempotency_keys (caller, key, request_hash, meeting_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (caller, key) DO NOTHING",
            )
            .bind(&r.caller)
            .bind(&r.key)
            .bind(&r.request_hash)
            .bind(r.meeting_id)
            .bind(r.created_at)
            .bind(r.expires_at)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            let existing = if claimed {
                None
            } else {
                let sql = format!(
                    "SELECT {IDEMPOTENCY_COLUMNS} FROM idempotency_keys WHERE caller = $1 AND key = $2"
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
                "UPDATE idempotency_keys SET status = $3, body = $4 WHERE caller = $1 AND key = $2",
            )
            .bind(caller)
            .bind(key)
            .bind(i32::from(status))
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
                "DELETE FROM idempotency_keys WHERE caller = $1 AND key = $2 AND status IS NULL",
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
                "SELECT {IDEMPOTENCY_COLUMNS} FROM idempotency_keys WHERE caller = $1 AND key = $2"
            );
            let row = sqlx::query(&sql)
                .bind(caller)
                .bind(key)
                .fetch_optional(self.pool())
                .await?;
            Ok(row.map(|row| read_record(&row)).transpose()?)
        })
    }

    fn purge_idempotency(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let done = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= $1")
                .bind(now)
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
                "INSERT INTO leases (name, holder, until) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until \
                 WHERE leases.holder = EXCLUDED.holder OR leases.until <= $4",
            )
            .bind(name)
            .bind(holder)
            .bind(until)
            .bind(now)
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
                 AND created_at < $1 ORDER BY created_at LIMIT $2"
            );
            self.meetings(sqlx::query(&sql).bind(cutoff).bind(i64::from(limit)))
                .await
        })
    }

    fn end_scheduled(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<Vec<Meeting>, StoreError>> {
        Box::pin(async move {
            let sql = format!(
                "UPDATE meetings SET ended_at = ends_at, updated_at = $1 WHERE state = 'active' \
                 AND kind = 'scheduled' AND ended_at IS NULL AND ends_at <= $1 RETURNING {COLUMNS}"
            );
            self.meetings(sqlx::query(&sql).bind(now)).await
        })
    }

    fn open_adhoc(&self, limit: u32) -> BoxFuture<'_, Result<Vec<Meeting>, StoreError>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT {COLUMNS} FROM meetings WHERE state = 'active' AND kind = 'adhoc' \
                 AND ended_at IS NULL ORDER BY id LIMIT $1"
            );
            self.meetings(sqlx::query(&sql).bind(i64::from(limit)))
                .await
        })
    }

    fn mark_ended(&self, id: Uuid, at: DateTime<Utc>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            sqlx::query("UPDATE meetings SET ended_at = COALESCE(ended_at, $2), updated_at = $2 WHERE id = $1 AND state = 'active'")
                .bind(id)
                .bind(at)
                .execute(self.pool())
                .await?;
            Ok(())
        })
    }
}
