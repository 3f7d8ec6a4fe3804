//! Writes that share their commits. Concurrent creates each write a row before EnableX is
//! called and update it after; instead of one statement and one commit each, the rows queued
//! while a few workers are busy go in together: one multi-row statement, one commit. Each
//! caller still gets its answer only once its own row is committed, and a batch that fails is
//! retried row by row, so one bad row fails only its own request.

use super::meetings::{COLUMNS, insert_args, meeting};
use super::{Arg, SqlStore, Statement, StoreError};
use crate::meetings::{Meeting, ModeratorGrant};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

/// Rows written by one statement at most.
const MAX_BATCH: usize = 64;
/// Statements in flight at once (the pool has more connections, for reads).
const WORKERS: usize = 3;

type Reply<R> = oneshot::Sender<Result<R, StoreError>>;
/// The queue's receiving end, shared by the workers.
type Queue<W> =
    Arc<Mutex<mpsc::Receiver<(<W as BatchWrite>::Item, Reply<<W as BatchWrite>::Out>)>>>;

/// One kind of write that can be grouped.
#[async_trait::async_trait]
pub(super) trait BatchWrite: Send + Sync + 'static {
    type Item: Send + 'static;
    type Out: Send + 'static;
    /// Writes `items` together; one answer per item, in order.
    async fn write(store: &SqlStore, items: &[Self::Item]) -> Vec<Result<Self::Out, StoreError>>;
}

/// A queue of writes of one kind and the workers that drain it a batch at a time.
pub(super) struct Batcher<W: BatchWrite> {
    queue: mpsc::Sender<(W::Item, Reply<W::Out>)>,
}

impl<W: BatchWrite> std::fmt::Debug for Batcher<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Batcher")
    }
}

impl<W: BatchWrite> Batcher<W> {
    /// Starts the workers; they stop when the batcher is dropped.
    pub fn start(store: SqlStore) -> Self {
        let (queue, receiver) = mpsc::channel(MAX_BATCH * WORKERS * 4);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..WORKERS {
            tokio::spawn(work::<W>(store.clone(), receiver.clone()));
        }
        Self { queue }
    }

    /// Queues `items` together and waits for each to be committed.
    pub async fn write_all(&self, items: Vec<W::Item>) -> Vec<Result<W::Out, StoreError>> {
        let mut answers = Vec::with_capacity(items.len());
        for item in items {
            let (reply, answer) = oneshot::channel();
            if self.queue.send((item, reply)).await.is_err() {
                break;
            }
            answers.push(answer);
        }
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            results.push(answer.await.unwrap_or_else(|_| {
                Err(StoreError::Unavailable("the write was abandoned".into()))
            }));
        }
        results
    }

    /// Queues `item` and waits for its write to be committed.
    pub async fn write(&self, item: W::Item) -> Result<W::Out, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((item, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the store is shutting down".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the write was abandoned".into()))?
    }
}

async fn work<W: BatchWrite>(store: SqlStore, receiver: Queue<W>) {
    loop {
        let mut batch = Vec::new();
        {
            // One worker at a time takes what is queued; the others write meanwhile.
            let mut queue = receiver.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
        }
        let (items, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let results = W::write(&store, &items).await;
        for (reply, result) in replies.into_iter().zip(results) {
            // The caller may have gone (its request was cut off); its row is written anyway.
            let _ = reply.send(result);
        }
    }
}

/// New meetings' rows.
pub(super) struct Inserts;

#[async_trait::async_trait]
impl BatchWrite for Inserts {
    type Item = Meeting;
    type Out = ();

    async fn write(store: &SqlStore, items: &[Meeting]) -> Vec<Result<(), StoreError>> {
        match insert_rows(store, items).await {
            Ok(()) => items.iter().map(|_| Ok(())).collect(),
            // Row by row, so only the offending row's request fails.
            Err(_) if items.len() > 1 => {
                let mut results = Vec::with_capacity(items.len());
                for m in items {
                    results.push(insert_rows(store, std::slice::from_ref(m)).await);
                }
                results
            }
            Err(err) => vec![Err(err)],
        }
    }
}

/// The columns [`insert_args`] gives values for, in order.
pub(super) const INSERT_COLUMNS: &str = "id, room_id, kind, name, description, owner_ref, \
    created_by, embed, starts_at, ends_at, joinable_from, duration_minutes, settings, state, \
    failure, created_at, updated_at, deleted_at";

/// Writes new meetings' rows in one statement.
async fn insert_rows(store: &SqlStore, items: &[Meeting]) -> Result<(), StoreError> {
    let mut q = Statement::new(format!("INSERT INTO meetings ({INSERT_COLUMNS}) VALUES "));
    for (i, m) in items.iter().enumerate() {
        q.push(if i == 0 { "(" } else { ", (" });
        for (j, arg) in insert_args(m).into_iter().enumerate() {
            if j > 0 {
                q.push(", ");
            }
            q.bind(arg);
        }
        q.push(")");
    }
    store.execute(&q.sql, q.args).await.map(drop)
}

/// Rooms recorded on their meetings: `(meeting id, room id, when)`.
pub(super) struct Activations;

#[async_trait::async_trait]
impl BatchWrite for Activations {
    type Item = (Uuid, String, DateTime<Utc>);
    type Out = Meeting;

    async fn write(
        store: &SqlStore,
        items: &[(Uuid, String, DateTime<Utc>)],
    ) -> Vec<Result<Meeting, StoreError>> {
        match activate(store, items).await {
            Ok(mut done) => items
                .iter()
                .map(|(id, _, _)| done.remove(id).ok_or(StoreError::NotFound))
                .collect(),
            Err(_) if items.len() > 1 => {
                let mut results = Vec::with_capacity(items.len());
                for item in items {
                    let one = activate(store, std::slice::from_ref(item)).await;
                    results.push(
                        one.and_then(|mut done| done.remove(&item.0).ok_or(StoreError::NotFound)),
                    );
                }
                results
            }
            Err(err) => vec![Err(err)],
        }
    }
}

/// Makes `provisioning` (or `failed`) meetings active with their rooms, in one statement.
async fn activate(
    store: &SqlStore,
    items: &[(Uuid, String, DateTime<Utc>)],
) -> Result<HashMap<Uuid, Meeting>, StoreError> {
    let mut q = Statement::new("WITH v(id, room_id, at) AS (VALUES ");
    for (i, (id, room_id, at)) in items.iter().enumerate() {
        q.push(if i == 0 { "(" } else { ", (" })
            .bind(*id)
            .push(", ")
            .bind(Arg::from(room_id.as_str()))
            .push(", ")
            .bind(*at)
            .push(")");
    }
    q.push(&format!(
        ") UPDATE meetings SET room_id = (SELECT v.room_id FROM v WHERE v.id = meetings.id), \
         state = 'active', failure = NULL, \
         updated_at = (SELECT v.at FROM v WHERE v.id = meetings.id) \
         WHERE id IN (SELECT v.id FROM v) AND state IN ('provisioning', 'failed') \
         RETURNING {COLUMNS}"
    ));
    let rows = store.fetch(&q.sql, q.args, meeting).await?;
    Ok(rows.into_iter().map(|m| (m.id, m)).collect())
}

/// Moderator access handed out (the audit trail): reads and lists that carry moderator URLs
/// write these, so they are grouped like the creates' rows.
pub(super) struct Grants;

#[async_trait::async_trait]
impl BatchWrite for Grants {
    type Item = ModeratorGrant;
    type Out = ();

    async fn write(store: &SqlStore, items: &[ModeratorGrant]) -> Vec<Result<(), StoreError>> {
        match insert_grants(store, items).await {
            Ok(()) => items.iter().map(|_| Ok(())).collect(),
            Err(_) if items.len() > 1 => {
                let mut results = Vec::with_capacity(items.len());
                for item in items {
                    results.push(insert_grants(store, std::slice::from_ref(item)).await);
                }
                results
            }
            Err(err) => vec![Err(err)],
        }
    }
}

async fn insert_grants(store: &SqlStore, grants: &[ModeratorGrant]) -> Result<(), StoreError> {
    let mut q =
        Statement::new("INSERT INTO moderator_grants (id, meeting_id, caller, what, at) VALUES ");
    for (i, g) in grants.iter().enumerate() {
        q.push(if i == 0 { "(" } else { ", (" })
            .bind(Uuid::now_v7())
            .push(", ")
            .bind(g.meeting_id)
            .push(", ")
            .bind(g.caller.as_str())
            .push(", ")
            .bind(g.what.as_str())
            .push(", ")
            .bind(g.at)
            .push(")");
    }
    store.execute(&q.sql, q.args).await.map(drop)
}
