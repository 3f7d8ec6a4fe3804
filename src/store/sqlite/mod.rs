//! The SQLite store: the zero-setup default. Ids are stored as hyphenated text and times as
//! fixed-width RFC 3339 text in UTC, so text order is id and time order.

mod jobs;
mod keys;

use super::{
    BoxFuture, COLUMNS, MeetingStore, PoolOptions, RawMeeting, StoreError, instant_text,
    list_query, settings_json,
};
use crate::meetings::{ListFilter, Meeting};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Meetings in a SQLite file (created if absent).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub async fn connect(url: &str, options: &PoolOptions) -> Result<Self, StoreError> {
        let connect = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        // An in-memory database lives only as long as its one connection.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut pool = SqlitePoolOptions::new().acquire_timeout(options.acquire_timeout);
        pool = if in_memory {
            pool.max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            pool.max_connections(options.max_connections)
        };
        let pool = pool.connect_with(connect).await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool, for tests and ops commands that need raw access.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn fetch_one(
        &self,
        sql: &str,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Meeting, StoreError> {
        let row = sqlx::query(sql)
            .bind(id.to_string())
            .bind(instant_text(at))
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        read(&row)?.into_meeting()
    }
}

fn read(row: &SqliteRow) -> Result<RawMeeting, StoreError> {
    let text = |col: &str| row.try_get::<String, _>(col);
    let opt = |col: &str| row.try_get::<Option<String>, _>(col);
    let bad = |col: &str, e: String| StoreError::Other(format!("stored {col}: {e}"));
    let instant = |col: &str, value: String| {
        DateTime::parse_from_rfc3339(&value)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| bad(col, e.to_string()))
    };
    let optional_instant = |col: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        opt(col)?.map(|v| instant(col, v)).transpose()
    };
    Ok(RawMeeting {
        id: Uuid::parse_str(&text("id")?).map_err(|e| bad("id", e.to_string()))?,
        room_id: opt("room_id")?,
        kind: text("kind")?,
        name: text("name")?,
        description: opt("description")?,
        owner_ref: text("owner_ref")?,
        created_by: text("created_by")?,
        embed: text("embed")?,
        starts_at: optional_instant("starts_at")?,
        duration_minutes: row.try_get("duration_minutes")?,
        settings: serde_json::from_str(&text("settings")?)
            .map_err(|e| bad("settings", e.to_string()))?,
        state: text("state")?,
        failure: opt("failure")?,
        created_at: instant("created_at", text("created_at")?)?,
        updated_at: instant("updated_at", text("updated_at")?)?,
        deleted_at: optional_instant("deleted_at")?,
        ended_at: optional_instant("ended_at")?,
    })
}

impl MeetingStore for SqliteStore {
    fn pool_stats(&self) -> super::PoolStats {
        super::PoolStats {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }
    }

    fn backend(&self) -> &'static str {
        "sqlite"
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
            let settings = settings_json(&m)?.to_string();
            let schedule = m.schedule;
            sqlx::query(
                "INSERT INTO meetings (id, room_id, kind, name, description, owner_ref, created_by, embed, \
                 starts_at, ends_at, joinable_from, duration_minutes, settings, state, failure, \
                 created_at, updated_at, deleted_at) \
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)",
            )
            .bind(m.id.to_string())
            .bind(&m.room_id)
            .bind(m.kind.as_str())
            .bind(&m.name)
            .bind(&m.description)
            .bind(&m.owner_ref)
            .bind(&m.created_by)
            .bind(m.embed.as_str())
            .bind(schedule.map(|s| instant_text(s.starts_at())))
            .bind(schedule.map(|s| instant_text(s.ends_at())))
            .bind(schedule.map(|s| instant_text(s.joinable_from())))
            .bind(schedule.map(|s| s.duration_minutes() as i32))
            .bind(settings)
            .bind(m.state.as_str())
            .bind(&m.failure)
            .bind(instant_text(m.created_at))
            .bind(instant_text(m.updated_at))
            .bind(m.deleted_at.map(instant_text))
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
                "UPDATE meetings SET room_id = ?3, state = 'active', failure = NULL, \
                 updated_at = ?2 WHERE id = ?1 AND state IN ('provisioning', 'failed') RETURNING {COLUMNS}"
            );
            let row = sqlx::query(&sql)
                .bind(id.to_string())
                .bind(instant_text(at))
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
                "UPDATE meetings SET state = 'failed', failure = ?3, updated_at = ?2 \
                 WHERE id = ?1 AND state = 'provisioning'",
            )
            .bind(id.to_string())
            .bind(instant_text(at))
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
                "UPDATE meetings SET state = 'deleted', deleted_at = COALESCE(deleted_at, ?2), \
                 updated_at = ?2 WHERE id = ?1 AND state IN ('active', 'deleted') \
                 RETURNING {COLUMNS}"
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
                "UPDATE meetings SET name = ?3, description = ?4, starts_at = ?5, ends_at = ?6, \
                 joinable_from = ?7, duration_minutes = ?8, settings = ?9, updated_at = ?10 \
                 WHERE id = ?1 AND state = 'active' AND updated_at = ?2 RETURNING {COLUMNS}"
            );
            let schedule = m.schedule;
            let row = sqlx::query(&sql)
                .bind(m.id.to_string())
                .bind(instant_text(expected_updated_at))
                .bind(&m.name)
                .bind(&m.description)
                .bind(schedule.map(|s| instant_text(s.starts_at())))
                .bind(schedule.map(|s| instant_text(s.ends_at())))
                .bind(schedule.map(|s| instant_text(s.joinable_from())))
                .bind(schedule.map(|s| s.duration_minutes() as i32))
                .bind(settings_json(m)?.to_string())
                .bind(instant_text(m.updated_at))
                .fetch_optional(&self.pool)
                .await?;
            row.map(|r| read(&r)?.into_meeting()).transpose()
        })
    }

    fn get(&self, id: Uuid) -> BoxFuture<'_, Result<Option<Meeting>, StoreError>> {
        Box::pin(async move {
            let sql = format!("SELECT {COLUMNS} FROM meetings WHERE id = ?1");
            let row = sqlx::query(&sql)
                .bind(id.to_string())
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
            let mut query = list_query::<sqlx::Sqlite>(filter, now, "", "");
            let rows = query.build().fetch_all(&self.pool).await?;
            rows.iter().map(|r| read(r)?.into_meeting()).collect()
        })
    }
}
