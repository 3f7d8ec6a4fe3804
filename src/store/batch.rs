//! Writes that share their commits, and reads that share their queries. Concurrent creates
//! each write a row before EnableX is called and update it after; instead of one statement and
//! one commit each, the rows queued while a few workers are busy go in together: one multi-row
//! statement, one commit. Each caller still gets its answer only once its own row is
//! committed, and a batch that fails is retried row by row, so one bad row fails only its own
//! request (not one whose connection broke: it may have been committed). Reads by id are grouped the same way (one `IN (…)` query for the ids asked for
//! meanwhile). Each worker keeps its connection while its queue has work ([`Lane`]).

use super::lane::Lane;
use super::meetings::{COLUMNS, insert_args, meeting};
use super::{Arg, SqlStore, Statement, StoreError};
use crate::meetings::{Meeting, ModeratorGrant};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

/// Rows written by one statement at most.
const MAX_BATCH: usize = 64;
/// Statements of one kind in flight at once. Each worker holds a connection only while its
/// queue has work and the pool has connections to spare (see [`Lane`]).
const WORKERS: usize = 2;
/// How long an idle worker keeps its connection, for the next request in a steady trickle.
const IDLE_HOLD: std::time::Duration = std::time::Duration::from_millis(20);

type Reply<R> = oneshot::Sender<Result<R, StoreError>>;
/// The queue's receiving end, shared by the workers.
type Queue<W> =
    Arc<Mutex<mpsc::Receiver<(<W as BatchWrite>::Item, Reply<<W as BatchWrite>::Out>)>>>;

/// One kind of write that can be grouped.
#[async_trait::async_trait]
pub(super) trait BatchWrite: Send + Sync + 'static {
    type Item: Send + Sync + 'static;
    type Out: Send + 'static;
    /// Writes `items` in one statement (or transaction): `Err` when that failed as a whole,
    /// else one answer per item, in order.
    async fn write_together(
        lane: &mut Lane,
        items: &[Self::Item],
    ) -> Result<Vec<Result<Self::Out, StoreError>>, StoreError>;

    /// Writes `items` together; one answer per item, in order. A group that failed is written
    /// again item by item, so that one bad item fails only its own request; not when the
    /// connection broke or the database went away, since the group may have been committed
    /// (trying again could write an item twice): then every item is told so.
    async fn write(lane: &mut Lane, items: &[Self::Item]) -> Vec<Result<Self::Out, StoreError>> {
        match Self::write_together(lane, items).await {
            Ok(results) => results,
            Err(err) if items.len() > 1 && !matches!(err, StoreError::Unavailable(_)) => {
                let mut results = Vec::with_capacity(items.len());
                for item in items {
                    match Self::write_together(lane, std::slice::from_ref(item)).await {
                        Ok(one) => results.extend(one),
                        Err(err) => results.push(Err(err)),
                    }
                }
                results
            }
            Err(err) => items.iter().map(|_| Err(err.clone())).collect(),
        }
    }
}

/// A queue of writes of one kind and the workers that drain it a batch at a time.
pub(super) struct Batcher<W: BatchWrite> {
    queue: mpsc::Sender<(W::Item, Reply<W::Out>)>,
    /// For writes made directly, when nothing else is in flight.
    store: SqlStore,
    /// Writes of this kind asked for and not yet answered.
    in_flight: Arc<AtomicUsize>,
}

/// Counts a write in flight until it is answered or its caller gives up.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Counts one more; says whether it is the only one.
    fn enter(count: &Arc<AtomicUsize>) -> (Self, bool) {
        let before = count.fetch_add(1, Ordering::AcqRel);
        (Self(count.clone()), before == 0)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
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
        Self {
            queue,
            store,
            in_flight: Arc::default(),
        }
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

    /// Queues `item` and waits for its write to be committed. When nothing else of its kind
    /// is in flight there is nothing to share the write with: it is made at once, on a
    /// connection from the pool, saving the hand-over to a worker. Either way the write is
    /// finished even if the caller stops waiting (its request was cut off).
    pub async fn write(&self, item: W::Item) -> Result<W::Out, StoreError> {
        let (counted, alone) = InFlight::enter(&self.in_flight);
        if alone {
            let store = self.store.clone();
            let alone = tokio::spawn(async move {
                let _counted = counted;
                let mut lane = Lane::new(store);
                W::write(&mut lane, std::slice::from_ref(&item)).await.pop()
            });
            return match alone.await {
                Ok(Some(result)) => result,
                Ok(None) => Err(StoreError::Other("a write gave no answer".into())),
                Err(_) => Err(StoreError::Other("a write failed unexpectedly".into())),
            };
        }
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
    let mut lane = Lane::new(store);
    loop {
        let mut batch = Vec::new();
        {
            // One worker at a time takes what is queued; the others write meanwhile. A worker
            // that waits longer than IDLE_HOLD gives its connection back to the pool.
            if lane.pool_is_tight() {
                lane.release();
            }
            let mut queue = match tokio::time::timeout(IDLE_HOLD, receiver.lock()).await {
                Ok(queue) => queue,
                Err(_) => {
                    lane.release();
                    receiver.lock().await
                }
            };
            let first = match tokio::time::timeout(IDLE_HOLD, queue.recv()).await {
                Ok(Some(first)) => first,
                Ok(None) => return,
                Err(_) => {
                    lane.release();
                    let Some(first) = queue.recv().await else {
                        return;
                    };
                    first
                }
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
        let results = W::write(&mut lane, &items).await;
        lane.batch_done();
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

    async fn write_together(
        lane: &mut Lane,
        items: &[Meeting],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        insert_rows(lane, items).await?;
        Ok(items.iter().map(|_| Ok(())).collect())
    }
}

/// The columns [`insert_args`] gives values for, in order.
pub(super) const INSERT_COLUMNS: &str = "id, room_id, kind, name, description, owner_ref, \
    created_by, embed, starts_at, ends_at, joinable_from, duration_minutes, settings, state, \
    failure, created_at, updated_at, deleted_at";

/// Writes new meetings' rows in one statement.
async fn insert_rows(lane: &mut Lane, items: &[Meeting]) -> Result<(), StoreError> {
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
    lane.fetch(&q.sql, q.args, nothing).await.map(drop)
}

/// For statements that return no rows.
fn nothing(_: &dyn super::Cells) -> Result<(), StoreError> {
    Ok(())
}

/// A room recorded on its meeting, and the moderator URL the creator's answer will carry,
/// recorded in the same commit.
#[derive(Debug, Clone)]
pub(super) struct Activation {
    pub id: Uuid,
    pub room_id: String,
    pub at: DateTime<Utc>,
    pub grant: Option<ModeratorGrant>,
}

/// Rooms recorded on their meetings.
pub(super) struct Activations;

#[async_trait::async_trait]
impl BatchWrite for Activations {
    type Item = Activation;
    type Out = Meeting;

    async fn write_together(
        lane: &mut Lane,
        items: &[Activation],
    ) -> Result<Vec<Result<Meeting, StoreError>>, StoreError> {
        // The same meeting twice in one group (a create and the reconciler at once): one at a
        // time, so that each is answered by its own statement.
        let mut ids: Vec<Uuid> = items.iter().map(|a| a.id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() < items.len() {
            return Err(StoreError::Other(
                "the same meeting twice in one group".into(),
            ));
        }
        let mut done = activate(lane, items).await?;
        Ok(items
            .iter()
            .map(|a| done.remove(&a.id).ok_or(StoreError::NotFound))
            .collect())
    }
}

/// Makes `provisioning` (or `failed`) meetings active with their rooms, in one statement, and
/// records the grants that go with them in the same transaction: only for the meetings this
/// statement activated (state, room and time as it set them).
async fn activate(
    lane: &mut Lane,
    items: &[Activation],
) -> Result<HashMap<Uuid, Meeting>, StoreError> {
    let mut q = Statement::new("WITH v(id, room_id, at) AS (VALUES ");
    for (i, a) in items.iter().enumerate() {
        q.push(if i == 0 { "(" } else { ", (" })
            .bind(a.id)
            .push(", ")
            .bind(Arg::from(a.room_id.as_str()))
            .push(", ")
            .bind(a.at)
            .push(")");
    }
    q.push(&format!(
        ") UPDATE meetings SET room_id = (SELECT v.room_id FROM v WHERE v.id = meetings.id), \
         state = 'active', failure = NULL, \
         updated_at = (SELECT v.at FROM v WHERE v.id = meetings.id) \
         WHERE id IN (SELECT v.id FROM v) AND state IN ('provisioning', 'failed') \
         RETURNING {COLUMNS}"
    ));
    let mut g = Statement::new(
        "WITH v(id, meeting_id, caller, what, at, room_id, activated_at) AS (VALUES ",
    );
    for (i, (a, grant)) in items
        .iter()
        .filter_map(|a| Some((a, a.grant.as_ref()?)))
        .enumerate()
    {
        g.push(if i == 0 { "(" } else { ", (" })
            .bind(Uuid::now_v7())
            .push(", ")
            .bind(a.id)
            .push(", ")
            .bind(grant.caller.as_str())
            .push(", ")
            .bind(grant.what.as_str())
            .push(", ")
            .bind(grant.at)
            .push(", ")
            .bind(a.room_id.as_str())
            .push(", ")
            .bind(a.at)
            .push(")");
    }
    let rows = if g.args.is_empty() {
        lane.fetch(&q.sql, q.args, meeting).await?
    } else {
        g.push(
            ") INSERT INTO moderator_grants (id, meeting_id, caller, what, at) \
             SELECT v.id, v.meeting_id, v.caller, v.what, v.at FROM v WHERE EXISTS \
             (SELECT 1 FROM meetings m WHERE m.id = v.meeting_id AND m.state = 'active' \
              AND m.room_id = v.room_id AND m.updated_at = v.activated_at)",
        );
        lane.transaction(vec![(&q.sql, q.args), (&g.sql, g.args)], meeting)
            .await?
    };
    Ok(rows.into_iter().map(|m| (m.id, m)).collect())
}

/// Moderator access handed out (the audit trail): reads and lists that carry moderator URLs
/// write these, so they are grouped like the creates' rows.
pub(super) struct Grants;

#[async_trait::async_trait]
impl BatchWrite for Grants {
    type Item = ModeratorGrant;
    type Out = ();

    async fn write_together(
        lane: &mut Lane,
        items: &[ModeratorGrant],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        insert_grants(lane, items).await?;
        Ok(items.iter().map(|_| Ok(())).collect())
    }
}

async fn insert_grants(lane: &mut Lane, grants: &[ModeratorGrant]) -> Result<(), StoreError> {
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
    lane.fetch(&q.sql, q.args, nothing).await.map(drop)
}

/// Meetings read by id: the ids asked for while the workers were busy, in one query.
pub(super) struct Lookups;

#[async_trait::async_trait]
impl BatchWrite for Lookups {
    type Item = Uuid;
    type Out = Option<Meeting>;

    async fn write_together(
        lane: &mut Lane,
        ids: &[Uuid],
    ) -> Result<Vec<Result<Option<Meeting>, StoreError>>, StoreError> {
        let mut unique = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let mut q = Statement::new(format!("SELECT {COLUMNS} FROM meetings WHERE id IN ("));
        for (i, id) in unique.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.bind(*id);
        }
        q.push(")");
        let rows = lane.read(&q.sql, q.args, meeting).await?;
        let found: HashMap<Uuid, Meeting> = rows.into_iter().map(|m| (m.id, m)).collect();
        Ok(ids.iter().map(|id| Ok(found.get(id).cloned())).collect())
    }
}
