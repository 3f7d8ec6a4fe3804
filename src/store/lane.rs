//! A connection that a write worker keeps while it has work. Taking a connection from sqlx's
//! pool and giving it back costs a round trip to the database each time (sqlx checks the
//! connection as it goes back); a worker that writes batch after batch keeps its connection
//! instead, and gives it back as soon as its queue is empty, after [`HOLD_BATCHES`] batches in
//! a row (so that other work waiting for a connection gets one), or after any error that is
//! not the database refusing a statement (the connection may be broken). A statement that has
//! not answered within the store's statement limit gives its connection up too.

use super::{
    Arg, Backend, Cells, Db, Reader, SqlStore, StoreError, connection_broke, fetch, retryable,
};
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Executor, IntoArguments, Postgres, Sqlite};
use std::time::Duration;

/// Batches a worker writes on one connection before giving it back to the pool.
pub(super) const HOLD_BATCHES: u32 = 32;

/// One statement and its arguments.
pub(super) type Step<'a> = (&'a str, Vec<Arg>);

/// A worker's connection, kept while it is busy.
pub(super) struct Lane {
    store: SqlStore,
    held: Option<Held>,
    batches: u32,
    /// The last statement failed because its connection broke or stopped answering.
    broke: bool,
}

enum Held {
    Postgres(PoolConnection<Postgres>),
    Sqlite(PoolConnection<Sqlite>),
}

impl Lane {
    pub(super) fn new(store: SqlStore) -> Self {
        Self {
            store,
            held: None,
            batches: 0,
            broke: false,
        }
    }

    /// Whether the last statement failed because its connection broke or stopped answering
    /// (not because the database refused it, was busy, or had no connection to give).
    pub(super) fn broke(&self) -> bool {
        self.broke
    }

    /// Whether the statements go to PostgreSQL (else SQLite).
    pub(super) fn postgres(&self) -> bool {
        matches!(self.store.db, Db::Postgres(_))
    }

    /// Gives the connection back to the pool.
    pub(super) fn release(&mut self) {
        self.held = None;
        self.batches = 0;
    }

    /// One batch written: gives the connection back once it has served its share, or at once
    /// when the pool has no idle connection left (others may be waiting for one; a small pool,
    /// or SQLite in memory with its one connection, is never held).
    pub(super) fn batch_done(&mut self) {
        self.batches += 1;
        if self.batches >= HOLD_BATCHES || self.pool_is_tight() {
            self.release();
        }
    }

    /// No idle connection in the pool: holding one while waiting could keep others waiting.
    pub(super) fn pool_is_tight(&self) -> bool {
        let (idle, size, max) = match &self.store.db {
            Db::Postgres(pool) => (
                pool.num_idle(),
                pool.size(),
                pool.options().get_max_connections(),
            ),
            Db::Sqlite(pool) => (
                pool.num_idle(),
                pool.size(),
                pool.options().get_max_connections(),
            ),
        };
        idle == 0 && size >= max
    }

    /// Runs one statement on its own (committed when it returns) and reads its rows.
    pub(super) async fn fetch<T>(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
        read: Reader<T>,
    ) -> Result<Vec<T>, StoreError> {
        self.run(vec![(sql, args)], read, false).await
    }

    /// Runs `steps` in one transaction and returns the rows all of them read, in order.
    pub(super) async fn transaction<T>(
        &mut self,
        steps: Vec<Step<'_>>,
        read: Reader<T>,
    ) -> Result<Vec<T>, StoreError> {
        self.run(steps, read, true).await
    }

    async fn run<T>(
        &mut self,
        steps: Vec<Step<'_>>,
        read: Reader<T>,
        atomic: bool,
    ) -> Result<Vec<T>, StoreError> {
        let mut tries = 1u64;
        self.broke = false;
        loop {
            if self.held.is_none() {
                self.held = Some(match &self.store.db {
                    Db::Postgres(pool) => Held::Postgres(pool.acquire().await?),
                    Db::Sqlite(pool) => Held::Sqlite(pool.acquire().await?),
                });
            }
            let attempt = async {
                match self.held.as_mut() {
                    Some(Held::Postgres(conn)) => {
                        Some(on::<Postgres, T>(&mut **conn, steps.clone(), read, atomic).await)
                    }
                    Some(Held::Sqlite(conn)) => {
                        Some(on::<Sqlite, T>(&mut **conn, steps.clone(), read, atomic).await)
                    }
                    None => None,
                }
            };
            let limit = self.store.statement_limit;
            let result = match tokio::time::timeout(limit, attempt).await {
                Ok(Some(result)) => result,
                Ok(None) => continue,
                Err(_) => {
                    // A connection that stopped answering (a partition, a frozen server, a
                    // lock held outside): dropped, so that its worker's kind is not stopped
                    // behind it. The statement may still have been committed.
                    self.release();
                    self.broke = true;
                    return Err(StoreError::Unavailable(format!(
                        "the database did not answer within {limit:?}"
                    )));
                }
            };
            match result {
                Ok(rows) => return Ok(rows),
                Err(sqlx::Error::Database(db)) if tries < 3 && retryable(db.as_ref()) => {
                    tracing::debug!(error = %db, tries, "retrying after a serialization failure");
                    tokio::time::sleep(Duration::from_millis(10 * tries)).await;
                    tries += 1;
                }
                Err(err) => {
                    // The database refused a statement: the connection is fine. Anything
                    // else (a cut connection, a protocol error, the server ending it) and it
                    // may not be.
                    if connection_broke(&err) || !matches!(err, sqlx::Error::Database(_)) {
                        self.release();
                        self.broke = !matches!(err, sqlx::Error::PoolTimedOut);
                    }
                    return Err(err.into());
                }
            }
        }
    }
}

/// Runs `steps` on `conn`, in a transaction when `atomic`.
async fn on<DB, T>(
    conn: &mut DB::Connection,
    steps: Vec<Step<'_>>,
    read: Reader<T>,
    atomic: bool,
) -> Result<Vec<T>, sqlx::Error>
where
    DB: Backend,
    DB::Row: Cells,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    let mut rows = Vec::new();
    if atomic {
        let mut tx = conn.begin().await?;
        for (sql, args) in steps {
            rows.extend(fetch(&mut *tx, sql, args, read).await?);
        }
        tx.commit().await?;
    } else {
        for (sql, args) in steps {
            rows.extend(fetch(&mut *conn, sql, args, read).await?);
        }
    }
    Ok(rows)
}
