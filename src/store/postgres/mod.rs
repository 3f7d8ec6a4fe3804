//! The PostgreSQL store: the production backend. Columns are typed (`uuid`, `timestamptz`,
//! `jsonb`) so ops can query the table directly.

mod jobs;
mod keys;

use super::{
    BoxFuture, COLUMNS, MeetingStore, PoolOptions, RawMeeting, StoreError, list_query,
    settings_json,
};
use crate::meetings::{ListFilter, Meeting};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Row, types::Json};
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Meetings in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects and applies any migration not yet applied.
    pub async fn connect(url: &str, options: &PoolOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect(url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool, for tests and ops commands that need raw access.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn fetch_one(
        &self,
        sql: &str,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Meeting, StoreError> {
        let row = sqlx::query(sql)
            .bind(id)
            .bind(at)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        read(&row)?.into_meeting()
    }
}

fn read(row: &PgRow) -> Result<RawMeeting, sqlx::Error> {
    Ok(RawMeeting {
        id: row.try_get("id")?,
        room_id: row.try_get("room_id")?,
        kind: row.try_get("kind")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        owner_ref: row.try_get("owner_ref")?,
        created_by: row.try_get("created_by")?,
        embed: row.try_get("embed")?,
        starts_at: row.try_get("starts_at")?,
        duration_minutes: row.try_get("duration_minutes")?,
        settings: row.try_get::<Json<serde_json::Value>, _>("settings")?.0,
        state: row.try_get("state")?,
        failure: row.try_get("failure")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        deleted_at: row.try_get("deleted_at")?,
        ended_at: row.try_get("ended_at")?,
    })
}

impl MeetingStore for PgStore {
    fn pool_stats(&self) -> super::PoolStats {
        super::PoolStats {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let applied: i64 =
                sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
                    .fetch_one(&self.pool)
                    .await?;
            if applied < MIGRATOR.migrations.len() as i64 {
                return Err(StoreError::Other("migrations are not all applied".into()));
            }
            Ok(())
        })
    }

    fn insert(&self, m: &Meeting) -> BoxFuture<'_, Result<(), StoreError>> {
        let m = m.clone();
        Box::pin(async move {
            let settings = settings_json(&m)?;
            let schedule = m.schedule;
            sqlx::query(
                "INSERT INTO meetings (id, room_id, kind, name, description, owner_ref, created_by, embed, \
                 starts_at, ends_at, joinable_from, duration_minutes, settings, state, failure, \
                 created_at, updated_at, deleted_at) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)",
            )
            .bind(m.id)
            .bind(&m.room_id)
            .bind(m.kind.as_str())
            .bind(&m.name)
            .bind(&m.description)
            .bind(&m.owner_ref)
            .bind(&m.created_by)
            .bind(m.embed.as_str())
            .bind(schedule.map(|s| s.starts_at()))
            .bind(schedule.map(|s| s.ends_at()))
            .bind(schedule.map(|s| s.joinable_from()))
            .bind(schedule.map(|s| s.duration_minutes() as i32))
            .bind(Json(settings))
            .bind(m.state.as_str())
            .bind(&m.failure)
            .bind(m.created_at)
            .bind(m.updated_at)
            .bind(m.deleted_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn activate(
        &self,
        id: Uuid,
        room_id: &str,
        at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Meeting, StoreError>> {
        let room_id = room_id.to_owned();
        Box::pin(async move {
            let sql = format!(
                "UPDATE meetings SET room_id = $3, state = 'active', failure = NULL, \
                 updated_at = $2 WHERE id = $1 AND state IN ('provisioning', 'failed') RETURNING {COLUMNS}"
            );
            let row = sqlx::query(&sql)
                .bind(id)
                .bind(at)
                .bind(room_id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(StoreError::NotFound)?;
            read(&row)?.into_meeting()
        })
    }

    fn mark_failed(
        &self,
        id: Uuid,
        reason: &str,
        at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        let reason = reason.to_owned();
        Box::pin(async move {
            sqlx::query(
                "UPDATE meetings SET state = 'failed', failure = $3, updated_at = $2 \
                 WHERE id = $1 AND state = 'provisioning'",
            )
            .bind(id)
            .bind(at)
            .bind(reason)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn mark_deleted(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Meeting, StoreError>> {
        Box::pin(async move {
            let sql = format!(
                "UPDATE meetings SET state = 'deleted', deleted_at = COALESCE(deleted_at, $2), \
                 updated_at = $2 WHERE id = $1 AND state IN ('active', 'deleted') \
                 RETURNING {COLUMNS}",
            );
            self.fetch_one(&sql, id, at).await
        })
    }

    fn update<'a>(
        &'a self,
        m: &'a Meeting,
        expected_updated_at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Option<Meeting>, StoreError>> {
        Box::pin(async move {
            let sql = format!(
                "UPDATE meetings SET name = $3, description = $4, starts_at = $5, ends_at = $6, \
                 joinable_from = $7, duration_minutes = $8, settings = $9, updated_at = $10 \
                 WHERE id = $1 AND state = 'active' AND updated_at = $2 RETURNING {COLUMNS}"
            );
            let schedule = m.schedule;
            let row = sqlx::query(&sql)
                .bind(m.id)
                .bind(expected_updated_at)
                .bind(&m.name)
                .bind(&m.description)
                .bind(schedule.map(|s| s.starts_at()))
                .bind(schedule.map(|s| s.ends_at()))
                .bind(schedule.map(|s| s.joinable_from()))
                .bind(schedule.map(|s| s.duration_minutes() as i32))
                .bind(Json(settings_json(m)?))
                .bind(m.updated_at)
                .fetch_optional(&self.pool)
                .await?;
            row.map(|r| read(&r)?.into_meeting()).transpose()
        })
    }

    fn get(&self, id: Uuid) -> BoxFuture<'_, Result<Option<Meeting>, StoreError>> {
        Box::pin(async move {
            let sql = format!("SELECT {COLUMNS} FROM meetings WHERE id = $1");
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            row.map(|r| read(&r)?.into_meeting()).transpose()
        })
    }

    fn list<'a>(
        &'a self,
        filter: &'a ListFilter,
        now: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<Meeting>, StoreError>> {
        Box::pin(async move {
            let mut query = list_query::<sqlx::Postgres>(filter, now, "::timestamptz", "::uuid");
            let rows = query.build().fetch_all(&self.pool).await?;
            rows.iter().map(|r| read(r)?.into_meeting()).collect()
        })
    }
}
