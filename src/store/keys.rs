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

fn key_id(row: &dyn Cells) -> Result<String, StoreError> {
    required("id", row.text("id")?)
}

fn count(row: &dyn Cells) -> Result<i64, StoreError> {
    required("count", row.int("count")?)
}

#[async_trait::async_trait]
impl KeyStore for SqlStore {
    async fn insert_key(&self, k: &KeyRecord) -> Result<(), StoreError> {
        self.transaction(
            vec![
                (
                    "INSERT INTO key_names (name, created_at) VALUES ($1, $2)",
                    vec![k.name.as_str().into(), k.created_at.into()],
                ),
                (
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
                ),
            ],
            key,
        )
        .await?;
        Ok(())
    }

    async fn rotate_key(
        &self,
        k: &KeyRecord,
        old_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let rotated = self
            .transaction(
                vec![
                    (
                        "INSERT INTO api_keys (id, name, secret_hash, admin, created_at, revoked_at) \
                         SELECT $1, $2, $3, admin, $4, NULL FROM api_keys \
                         WHERE name = $2 AND (revoked_at IS NULL OR revoked_at > $4) \
                         ORDER BY created_at DESC LIMIT 1",
                        vec![
                            k.id.as_str().into(),
                            k.name.as_str().into(),
                            k.secret_hash.as_str().into(),
                            now.into(),
                        ],
                    ),
                    (
                        "UPDATE api_keys SET revoked_at = \
                         CASE WHEN revoked_at IS NULL OR revoked_at > $3 THEN $3 ELSE revoked_at END \
                         WHERE name = $1 AND id <> $2 AND (revoked_at IS NULL OR revoked_at > $4) \
                         AND EXISTS (SELECT 1 FROM api_keys WHERE id = $2) RETURNING id",
                        vec![
                            k.name.as_str().into(),
                            k.id.as_str().into(),
                            old_until.into(),
                            now.into(),
                        ],
                    ),
                ],
                key_id,
            )
            .await?;
        if !rotated.is_empty() {
            self.announce_key_change(&k.name).await?;
        }
        Ok(!rotated.is_empty())
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
                "UPDATE api_keys SET revoked_at = $2 \
                 WHERE name = $1 AND (revoked_at IS NULL OR revoked_at > $2)",
                vec![name.into(), at.into()],
            )
            .await?;
        if revoked > 0 {
            self.announce_key_change(name).await?;
        }
        Ok(revoked > 0)
    }

    async fn count_live_keys(&self, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let sql = "SELECT count(*) AS count FROM api_keys \
                   WHERE revoked_at IS NULL OR revoked_at > $1";
        let counted = self.fetch_one(sql, vec![now.into()], count).await?;
        Ok(counted.unwrap_or(0))
    }
}
