//! API keys in Sqlite.

use super::SqliteStore;
use crate::auth::KeyRecord;
use crate::store::instant_text;
use crate::store::{BoxFuture, KEY_COLUMNS, KeyStore, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

fn read_key(row: &SqliteRow) -> Result<KeyRecord, StoreError> {
    let instant = |col: &str, value: String| {
        DateTime::parse_from_rfc3339(&value)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| StoreError::Other(format!("stored {col}: {e}")))
    };
    Ok(KeyRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        admin: row.try_get("admin")?,
        created_at: instant("created_at", row.try_get("created_at")?)?,
        revoked_at: row
            .try_get::<Option<String>, _>("revoked_at")?
            .map(|v| instant("revoked_at", v))
            .transpose()?,
    })
}

impl KeyStore for SqliteStore {
    fn insert_key(&self, key: &KeyRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        let key = key.clone();
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO api_keys (id, name, secret_hash, admin, created_at, revoked_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .bind(&key.id)
            .bind(&key.name)
            .bind(&key.secret_hash)
            .bind(key.admin)
            .bind(instant_text(key.created_at))
            .bind(key.revoked_at.map(instant_text))
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn find_key(&self, id: &str) -> BoxFuture<'_, Result<Option<KeyRecord>, StoreError>> {
        let id = id.to_owned();
        Box::pin(async move {
            let row = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            row.map(|r| read_key(&r)).transpose()
        })
    }

    fn list_keys(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
            ))
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(read_key).collect::<Result<_, _>>()
        })
    }

    fn revoke_key(&self, name: &str, at: DateTime<Utc>) -> BoxFuture<'_, Result<bool, StoreError>> {
        let name = name.to_owned();
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE api_keys SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
            )
            .bind(name)
            .bind(instant_text(at))
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    fn count_live_keys(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        Box::pin(async move {
            Ok(
                sqlx::query_scalar("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL")
                    .fetch_one(&self.pool)
                    .await?,
            )
        })
    }
}
