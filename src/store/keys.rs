//! API keys: their SQL, written once, and their row reader.

use super::{Cells, SqlStore, StoreError, required};
use crate::auth::{KeyRecord, KeyStore};
use chrono::{DateTime, Utc};

const KEY_COLUMNS: &str = "id, name, secret_hash, admin, created_at, revoked_at";

fn key(row: &dyn Cells) -> Result<KeyRecord, StoreError> {
    let text = |column: &str| required(column, row.text(column)?);
    Ok(KeyRecord {
        id: text("id")?,
        name: text("name")?,
        secret_hash: text("secret_hash")?,
        admin: row.flag("admin")?,
        created_at: required("created_at", row.time("created_at")?)?,
        revoked_at: row.time("revoked_at")?,
    })
}

fn count(row: &dyn Cells) -> Result<i64, StoreError> {
    required("count", row.int("count")?)
}

#[async_trait::async_trait]
impl KeyStore for SqlStore {
    async fn insert_key(&self, k: &KeyRecord) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO api_keys (id, name, secret_hash, admin, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                k.id.as_str().into(),
                k.name.as_str().into(),
                k.secret_hash.as_str().into(),
                k.admin.into(),
                k.created_at.into(),
                k.revoked_at.into(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn find_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1");
        self.fetch_one(&sql, vec![id.into()], key).await
    }

    async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id");
        self.fetch(&sql, Vec::new(), key).await
    }

    async fn revoke_key(&self, name: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let revoked = self
            .execute(
                "UPDATE api_keys SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
                vec![name.into(), at.into()],
            )
            .await?;
        Ok(revoked > 0)
    }

    async fn count_live_keys(&self) -> Result<i64, StoreError> {
        let sql = "SELECT count(*) AS count FROM api_keys WHERE revoked_at IS NULL";
        let counted = self.fetch_one(sql, Vec::new(), count).await?;
        Ok(counted.unwrap_or(0))
    }
}
