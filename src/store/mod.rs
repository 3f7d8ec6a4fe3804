//! Where meetings, keys and job state are kept: one [`SqlStore`] over PostgreSQL or SQLite, the
//! backend chosen from the `DATABASE_URL` scheme. Every SQL statement is written once (in
//! `meetings.rs`, `keys.rs` and `jobs.rs`, with `$n` placeholders, which both drivers take);
//! a backend adds only how it binds an [`Arg`] and reads a column (`postgres.rs`, `sqlite.rs`).
//! The traits implemented here belong to the modules that use them: [`MeetingStore`],
//! [`KeyStore`] and [`JobStore`]. Nothing above this module writes SQL.

mod args;
mod batch;
mod idempotency;
mod jobs;
mod keys;
mod lane;
mod meetings;
mod postgres;
mod settings;
mod sqlite;

pub use crate::meetings::StoreError;

use args::{Arg, Statement};

use crate::metrics::PoolStats;
use chrono::{DateTime, Utc};
use sqlx::query::Query;
use sqlx::{Executor, IntoArguments, PgPool, Pool, SqlitePool};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use uuid::Uuid;

#[doc(no_inline)]
pub use crate::auth::KeyStore;
#[doc(no_inline)]
pub use crate::jobs::JobStore;
#[doc(no_inline)]
pub use crate::meetings::MeetingStore;

/// A shared handle to the configured store.
pub type Store = Arc<SqlStore>;

/// Pool settings shared by both backends. `PoolOptions::default()` is implemented in
/// `config`, next to the `DATABASE_*` settings whose defaults it takes.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// How long a grouped statement may run before its connection is given up and its callers
    /// are answered that the database is unavailable (10 s; not a setting, the tests shorten
    /// it).
    pub statement_limit: Duration,
}

/// Opens the store named by `url` (`postgres://`, `postgresql://` or `sqlite:`) and runs its
/// migrations. Any other scheme is an error.
pub async fn connect(url: &str, options: &PoolOptions) -> Result<Store, StoreError> {
    Ok(Arc::new(SqlStore::connect(url, options).await?))
}

/// The store: one connection pool of either backend, and the queues that let concurrent
/// creates share their commits.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: Db,
    /// See [`PoolOptions::statement_limit`].
    statement_limit: Duration,
    /// `None` only in the copies the write workers themselves use.
    writes: Option<Arc<Writes>>,
}

/// The writes of concurrent creates, grouped (see `batch.rs`).
#[derive(Debug)]
struct Writes {
    inserts: batch::Batcher<batch::Inserts>,
    activations: batch::Batcher<batch::Activations>,
    grants: batch::Batcher<batch::Grants>,
    lookups: batch::Batcher<batch::Lookups>,
    claims: batch::Batcher<batch::Claims>,
    completions: batch::Batcher<batch::Completions>,
}

#[derive(Debug, Clone)]
enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl SqlStore {
    /// Connects to `url` and applies any migration not yet applied.
    pub async fn connect(url: &str, options: &PoolOptions) -> Result<Self, StoreError> {
        let scheme = url.split(':').next().unwrap_or_default();
        let db = match scheme {
            "postgres" | "postgresql" => Db::Postgres(postgres::connect(url, options).await?),
            "sqlite" => Db::Sqlite(sqlite::connect(url, options).await?),
            _ => {
                return Err(StoreError::Other(format!(
                    "unsupported database scheme '{scheme}': use postgres:// or sqlite://"
                )));
            }
        };
        let plain = Self {
            db,
            statement_limit: options.statement_limit,
            writes: None,
        };
        let writes = Writes {
            inserts: batch::Batcher::start(plain.clone()),
            activations: batch::Batcher::start(plain.clone()),
            grants: batch::Batcher::start(plain.clone()),
            lookups: batch::Batcher::start(plain.clone()),
            claims: batch::Batcher::start(plain.clone()),
            completions: batch::Batcher::start(plain.clone()),
        };
        Ok(Self {
            writes: Some(Arc::new(writes)),
            ..plain
        })
    }

    /// The grouped writes. Only the write workers' own copies have none, and they never ask.
    fn writes(&self) -> Result<&Writes, StoreError> {
        self.writes
            .as_deref()
            .ok_or_else(|| StoreError::Other("a write worker's store has no write queues".into()))
    }

    /// The PostgreSQL pool, for tests and ops that query the schema directly.
    pub fn pg_pool(&self) -> Option<&PgPool> {
        match &self.db {
            Db::Postgres(pool) => Some(pool),
            Db::Sqlite(_) => None,
        }
    }

    /// Tells every replica that the API keys named `name` were revoked or rotated, so they
    /// forget them at once (PostgreSQL `NOTIFY`; with SQLite, one process, cached keys expire
    /// within [`crate::auth::KEY_CACHE_TTL`]).
    async fn announce_key_change(&self, name: &str) -> Result<(), StoreError> {
        match &self.db {
            Db::Postgres(pool) => postgres::announce_key_change(pool, name).await,
            Db::Sqlite(_) => Ok(()),
        }
    }

    /// Calls `on_change` with the name of each API key announced revoked or rotated (`None`:
    /// forget them all) until `stop` turns true. PostgreSQL only; a no-op for SQLite.
    pub fn watch_key_changes(
        &self,
        on_change: impl Fn(Option<&str>) + Send + Sync + 'static,
        stop: tokio::sync::watch::Receiver<bool>,
    ) {
        if let Db::Postgres(pool) = &self.db {
            tokio::spawn(postgres::watch_key_changes(pool.clone(), on_change, stop));
        }
    }

    fn pool_stats(&self) -> PoolStats {
        let (size, idle, max) = match &self.db {
            Db::Postgres(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
            Db::Sqlite(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
        };
        PoolStats {
            size,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max,
        }
    }

    async fn ready(&self) -> Result<(), StoreError> {
        let (applied, wanted) = match &self.db {
            Db::Postgres(pool) => (
                postgres::applied_migrations(pool).await?,
                postgres::MIGRATOR.migrations.len(),
            ),
            Db::Sqlite(pool) => (
                sqlite::applied_migrations(pool).await?,
                sqlite::MIGRATOR.migrations.len(),
            ),
        };
        if applied < wanted as i64 {
            return Err(StoreError::Other("migrations are not all applied".into()));
        }
        Ok(())
    }

    /// Runs a statement; returns how many rows it touched.
    async fn execute(&self, sql: &str, args: Vec<Arg>) -> Result<u64, StoreError> {
        retrying(|| async {
            match &self.db {
                Db::Postgres(pool) => execute(pool, sql, args.clone()).await,
                Db::Sqlite(pool) => execute(pool, sql, args.clone()).await,
            }
        })
        .await
    }

    /// Runs a query and reads each row it returns with `read`.
    async fn fetch<T>(
        &self,
        sql: &str,
        args: Vec<Arg>,
        read: Reader<T>,
    ) -> Result<Vec<T>, StoreError> {
        retrying(|| async {
            match &self.db {
                Db::Postgres(pool) => fetch(pool, sql, args.clone(), read).await,
                Db::Sqlite(pool) => fetch(pool, sql, args.clone(), read).await,
            }
        })
        .await
    }

    /// As [`SqlStore::fetch`], for a query that returns at most one row.
    async fn fetch_one<T>(
        &self,
        sql: &str,
        args: Vec<Arg>,
        read: Reader<T>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.fetch(sql, args, read).await?.into_iter().next())
    }

    /// Runs `statements` in one transaction; returns what the last one read.
    async fn transaction<T>(
        &self,
        statements: Vec<(&str, Vec<Arg>)>,
        read: Reader<T>,
    ) -> Result<Vec<T>, StoreError> {
        retrying(|| async {
            match &self.db {
                Db::Postgres(pool) => transaction(pool, statements.clone(), read).await,
                Db::Sqlite(pool) => transaction(pool, statements.clone(), read).await,
            }
        })
        .await
    }
}

/// What a backend adds to the SQL written once: how it binds each [`Arg`]. (How it reads a
/// column is its [`Cells`] implementation.)
trait Backend: sqlx::Database {
    fn bind<'q>(
        query: Query<'q, Self, Self::Arguments<'q>>,
        arg: Arg,
    ) -> Query<'q, Self, Self::Arguments<'q>>;

    fn rows_affected(result: &Self::QueryResult) -> u64;
}

fn query<DB: Backend>(sql: &str, args: Vec<Arg>) -> Query<'_, DB, DB::Arguments<'_>> {
    args.into_iter().fold(sqlx::query(sql), DB::bind)
}

/// Runs `attempt` again (up to three times in all, after a short pause) when the database
/// rolled it back for a serialization failure or a deadlock, which another try resolves.
async fn retrying<T, Attempt>(mut attempt: impl FnMut() -> Attempt) -> Result<T, StoreError>
where
    Attempt: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut tries = 1u64;
    loop {
        match attempt().await {
            Err(sqlx::Error::Database(db)) if tries < 3 && retryable(db.as_ref()) => {
                tracing::debug!(error = %db, tries, "retrying after a serialization failure");
                tokio::time::sleep(Duration::from_millis(10 * tries)).await;
                tries += 1;
            }
            result => return Ok(result?),
        }
    }
}

/// A serialization failure or a deadlock: the database rolled the statement back, and another
/// try resolves it.
fn retryable(db: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(db.code().as_deref(), Some("40001" | "40P01"))
}

async fn execute<'c, DB, E>(db: E, sql: &str, args: Vec<Arg>) -> Result<u64, sqlx::Error>
where
    DB: Backend,
    E: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    Ok(DB::rows_affected(
        &query::<DB>(sql, args).execute(db).await?,
    ))
}

async fn fetch<'c, DB, E, T>(
    db: E,
    sql: &str,
    args: Vec<Arg>,
    read: Reader<T>,
) -> Result<Vec<T>, sqlx::Error>
where
    DB: Backend,
    DB::Row: Cells,
    E: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    let rows = query::<DB>(sql, args).fetch_all(db).await?;
    Ok(rows
        .iter()
        .filter_map(|row| read(row).map_err(|err| unreadable(row, &err)).ok())
        .collect())
}

/// A stored row that does not read back (written by an older version, or by hand) is left
/// out of every answer and job run rather than failing them for every other row: logged the
/// first time it is seen, and counted each time.
fn unreadable(row: &dyn Cells, err: &StoreError) {
    static SEEN: std::sync::Mutex<Option<std::collections::HashSet<String>>> =
        std::sync::Mutex::new(None);
    metrics::counter!(crate::metrics::UNREADABLE_ROWS).increment(1);
    let which = match row.id("id") {
        Ok(id) => id.to_string(),
        Err(_) => row.text("id").ok().flatten().unwrap_or_default(),
    };
    let first = {
        let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
        let seen = seen.get_or_insert_with(Default::default);
        // Bounded: past this many distinct rows, each is logged again rather than remembered.
        if seen.len() >= 1024 {
            seen.clear();
        }
        seen.insert(format!("{which} {err}"))
    };
    if first {
        tracing::warn!(row = %which, error = %err, "skipping a stored row that cannot be read");
    }
}

async fn transaction<DB, T>(
    pool: &Pool<DB>,
    statements: Vec<(&str, Vec<Arg>)>,
    read: Reader<T>,
) -> Result<Vec<T>, sqlx::Error>
where
    DB: Backend,
    DB::Row: Cells,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    let mut tx = pool.begin().await?;
    let mut rows = Vec::new();
    for (sql, args) in statements {
        rows = fetch(&mut *tx, sql, args, read).await?;
    }
    tx.commit().await?;
    Ok(rows)
}

/// Reads one row, whichever backend it came from.
pub(crate) type Reader<T> = fn(&dyn Cells) -> Result<T, StoreError>;

/// A row's columns by name, as the backends store them. Each backend implements this once;
/// every row reader is written against it.
pub(crate) trait Cells {
    fn text(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    fn flag(&self, column: &str) -> Result<bool, StoreError>;
    fn id(&self, column: &str) -> Result<Uuid, StoreError>;
    fn time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// JSON as its text, for the reader to parse into its own shape (which checks it).
    fn json(&self, column: &str) -> Result<&str, StoreError>;
}

/// A column that must not be null.
fn required<T>(column: &str, value: Option<T>) -> Result<T, StoreError> {
    value.ok_or_else(|| StoreError::Other(format!("stored {column} is null")))
}

/// A stored value that does not read back as what was written: the row, not the database,
/// is at fault.
fn bad(column: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Other(format!("stored {column}: {why}"))
}

/// When a database connection last broke, in milliseconds since the Unix epoch (0: never).
static CONNECTION_TROUBLE: AtomicI64 = AtomicI64::new(0);
/// How long after a broken connection every pooled connection is checked before use.
const TROUBLE_WINDOW_MS: i64 = 10_000;

fn epoch_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Whether a database connection broke in the last few seconds: the database may have
/// restarted, and the other connections in the pool may be dead too.
fn connection_trouble_lately() -> bool {
    epoch_ms() - CONNECTION_TROUBLE.load(Ordering::Relaxed) < TROUBLE_WINDOW_MS
}

/// A connection-level failure (not the database refusing one statement).
fn connection_broke(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if connection_broke(&err) {
            CONNECTION_TROUBLE.store(epoch_ms(), Ordering::Relaxed);
        }
        match err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_) => StoreError::Unavailable(err.to_string()),
            sqlx::Error::Database(db) if unavailable(db.as_ref()) => {
                StoreError::Unavailable(db.to_string())
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.constraint().unwrap_or("unique").to_owned())
            }
            other => StoreError::Other(other.to_string()),
        }
    }
}

/// "The database is unavailable or busy: try again later." PostgreSQL: connection failures
/// (08), a server shutting down or not accepting connections (57P, 55000: for instance
/// `ALLOW_CONNECTIONS false`), out of resources (53), serialization failures and deadlocks
/// still failing after their retries (40001, 40P01). SQLite: `BUSY` and `LOCKED` (primary codes
/// 5 and 6, whatever their extended code).
fn unavailable(db: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = db.code() else { return false };
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6));
    }
    code.starts_with("08")
        || code.starts_with("57P")
        || code.starts_with("53")
        || matches!(code.as_ref(), "55000" | "40001" | "40P01")
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        StoreError::Other(format!("migration failed: {err}"))
    }
}
