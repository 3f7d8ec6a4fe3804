//! PostgreSQL: how an [`Arg`] is bound and a column read. Columns are typed (`uuid`,
//! `timestamptz`, `jsonb`) so ops can query the tables directly.

use super::{Arg, Backend, Cells, PoolOptions, StoreError, bad};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgValueFormat;
use sqlx::postgres::{PgArguments, PgPool, PgPoolOptions, PgRow};
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{Connection, Postgres, Row, TypeInfo, ValueRef};
use uuid::Uuid;

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A pooled connection idle this long is checked before it is used again.
const IDLE_CHECK_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

pub(super) async fn connect(url: &str, options: &PoolOptions) -> Result<PgPool, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.acquire_timeout)
        // sqlx checks every connection as it goes back to the pool (a round trip) and, by
        // default, again as it is taken out (another). The second check only matters for a
        // connection that sat idle long enough for the server or the network to drop it, or
        // when the database may have restarted (a connection broke in the last seconds), so
        // only then is it made: a busy pool saves one round trip per query.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= IDLE_CHECK_AFTER || super::connection_trouble_lately() {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect(url)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

pub(super) async fn applied_migrations(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await?,
    )
}

impl Backend for Postgres {
    fn bind<'q>(query: Query<'q, Self, PgArguments>, arg: Arg) -> Query<'q, Self, PgArguments> {
        match arg {
            Arg::Text(text) => query.bind(text),
            Arg::Int(n) => query.bind(n),
            Arg::Bool(b) => query.bind(b),
            Arg::Id(id) => query.bind(id),
            Arg::Time(t) => query.bind(t),
            Arg::Json(value) => query.bind(Json(value)),
            Arg::Column(values) => bind_column(query, values),
        }
    }

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }
}

/// Binds a column of values as one array of their kind. A value of another kind than the
/// first (never made) would be bound as NULL, which the column's constraints refuse.
fn bind_column(
    query: Query<'_, Postgres, PgArguments>,
    values: Vec<Arg>,
) -> Query<'_, Postgres, PgArguments> {
    fn each<T>(values: Vec<Arg>, value: impl Fn(Arg) -> Option<T>) -> Vec<Option<T>> {
        values.into_iter().map(value).collect()
    }
    match values.first() {
        Some(Arg::Text(_)) => query.bind(each(values, |v| match v {
            Arg::Text(t) => t,
            _ => None,
        })),
        Some(Arg::Int(_)) => query.bind(each(values, |v| match v {
            Arg::Int(n) => n,
            _ => None,
        })),
        Some(Arg::Bool(_)) => query.bind(each(values, |v| match v {
            Arg::Bool(b) => Some(b),
            _ => None,
        })),
        Some(Arg::Time(_)) => query.bind(each(values, |v| match v {
            Arg::Time(t) => t,
            _ => None,
        })),
        Some(Arg::Json(_)) => query.bind(each(values, |v| match v {
            Arg::Json(j) => Some(Json(j)),
            _ => None,
        })),
        Some(Arg::Id(_)) | Some(Arg::Column(_)) | None => query.bind(each(values, |v| match v {
            Arg::Id(id) => Some(id),
            _ => None,
        })),
    }
}

impl Cells for PgRow {
    fn text(&self, column: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        // `integer` columns read as i32, `bigint` ones (and counts) as i64.
        match self.try_get::<Option<i32>, _>(column) {
            Ok(n) => Ok(n.map(i64::from)),
            Err(_) => Ok(self.try_get::<Option<i64>, _>(column)?),
        }
    }

    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn id(&self, column: &str) -> Result<Uuid, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn json(&self, column: &str) -> Result<&str, StoreError> {
        let value = self.try_get_raw(column)?;
        let jsonb = value.type_info().name() == "JSONB";
        let bytes = value.as_bytes().map_err(|e| bad(column, e))?;
        // `jsonb` in binary is a version byte (1) and the text; in text, and `json`, the text.
        let text = match (value.format(), bytes.split_first()) {
            (PgValueFormat::Binary, Some((1, text))) if jsonb => text,
            (PgValueFormat::Binary, _) if jsonb => return Err(bad(column, "not jsonb version 1")),
            _ => bytes,
        };
        std::str::from_utf8(text).map_err(|e| bad(column, e))
    }
}

/// The channel revocations and rotations of API keys are announced on (the payload is the
/// key's name).
const KEY_CHANNEL: &str = "roomgate_keys";

pub(super) async fn announce_key_change(pool: &PgPool, name: &str) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(KEY_CHANNEL)
        .bind(name)
        .execute(pool)
        .await?;
    Ok(())
}

/// Calls `on_change` with each announced key name until `stop` turns true; with `None` when
/// announcements may have been missed (the listening connection was lost), so the caller
/// forgets everything it cached.
pub(super) async fn watch_key_changes(
    pool: PgPool,
    on_change: impl Fn(Option<&str>) + Send + Sync + 'static,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            err = listen(&pool, &on_change) => {
                tracing::warn!(error = %err, "listening for API key changes failed; cached keys expire by themselves meanwhile");
                on_change(None);
            }
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// Passes on announcements until listening fails; returns why.
async fn listen(pool: &PgPool, on_change: &(impl Fn(Option<&str>) + Sync)) -> sqlx::Error {
    let mut listener = match sqlx::postgres::PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(err) => return err,
    };
    if let Err(err) = listener.listen(KEY_CHANNEL).await {
        return err;
    }
    // Anything announced before this point may have been missed.
    on_change(None);
    loop {
        match listener.try_recv().await {
            Ok(Some(notice)) => on_change(Some(notice.payload())),
            // The connection was lost (sqlx reconnects): announcements may have been missed.
            Ok(None) => on_change(None),
            Err(err) => return err,
        }
    }
}
