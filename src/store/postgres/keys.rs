//! API keys in PostgreSQL.

use super::PgStore;
use crate::auth::KeyRecord;
use crate::store::{BoxFuture, KEY_COLUMNS, KeyStore, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;

fn read_key(row: &PgRow) -> Result<KeyRecord, sqlx::Error> {
    Ok(KeyRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        admin: row.try_get("admin")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl KeyStore for PgStore {
    fn insert_key(&self, key: &KeyRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        let key = key.clone();
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO api_keys (id, name, secret_hash, admin, created_at, revoked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&key.id)
            .bind(&key.name)
            .bind(&key.secret_hash)
            .bind(key.admin)
            .bind(key.created_at)
            .bind(key.revoked_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn find_key(&self, id: &str) -> BoxFuture<'_, Result<Option<KeyRecord>, StoreError>> {
        let id = id.to_owned();
        Box::pin(async move {
            let row = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.map(|r| read_key(&r)).transpose()?)
        })
    }

    fn list_keys(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, StoreError>> {
        Box::pin(async move {
            let rows = sqlx::query(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
            ))
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.iter().map(read_key).collect::<Result<_, _>>()?)
        })
    }

    fn revoke_key(&self, name: &str, at: DateTime<Utc>) -> BoxFuture<'_, Result<bool, StoreError>> {
        let name = name.to_owned();
        Box::pin(async move {
            let done = sqlx::query(
                "UPDATE api_keys SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
            )
            .bind(name)
            .bind(at)
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
