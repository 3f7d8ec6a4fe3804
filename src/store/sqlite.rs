//! SQLite, the zero-setup default: how an [`Arg`] is bound and a column read. Ids are stored
//! as hyphenated text and times as fixed-width RFC 3339 text in UTC ([`Instant`]), so text
//! order is id and time order.

use super::{Arg, Backend, Cells, PoolOptions, StoreError};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArgumentValue, SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteRow, SqliteTypeInfo, SqliteValueRef,
};
use sqlx::types::uuid::fmt::Hyphenated;
use sqlx::{Decode, Encode, Row, Sqlite, Type};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Opens (creating if needed) the database file and applies pending migrations.
pub(super) async fn connect(url: &str, options: &PoolOptions) -> Result<SqlitePool, StoreError> {
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
    Ok(pool)
}

pub(super) async fn applied_migrations(pool: &SqlitePool) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await?,
    )
}

/// An instant as SQLite stores it: `2026-12-01T05:00:00.000000Z`, always this wide, so that
/// comparing the text compares the times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Instant(pub DateTime<Utc>);

impl Instant {
    pub(crate) fn text(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

impl Type<Sqlite> for Instant {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Instant {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(self.text(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Instant {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<'r, Sqlite>>::decode(value)?;
        Ok(Instant(
            DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc),
        ))
    }
}

impl Backend for Sqlite {
    fn bind<'q>(
        query: Query<'q, Self, SqliteArguments<'q>>,
        arg: Arg,
    ) -> Query<'q, Self, SqliteArguments<'q>> {
        match arg {
            Arg::Text(text) => query.bind(text),
            Arg::Int(n) => query.bind(n),
            Arg::Bool(b) => query.bind(b),
            Arg::Id(id) => query.bind(id.hyphenated()),
            Arg::Time(t) => query.bind(t.map(Instant)),
            Arg::Json(value) => query.bind(value.get().to_owned()),
            // Never made for SQLite (`Statement::rows` writes `VALUES` there); NULL if it were.
            Arg::Column(_) => query.bind(None::<String>),
        }
    }

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

impl Cells for SqliteRow {
    fn text(&self, column: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn id(&self, column: &str) -> Result<Uuid, StoreError> {
        Ok(self.try_get::<Hyphenated, _>(column)?.into_uuid())
    }

    fn time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.try_get::<Option<Instant>, _>(column)?.map(|t| t.0))
    }

    fn json(&self, column: &str) -> Result<&str, StoreError> {
        Ok(self.try_get(column)?)
    }
}
