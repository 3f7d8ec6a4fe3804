//! Writes that share their commits, and reads that share their queries. Concurrent creates
//! each write a row before EnableX is called and update it after; instead of one statement and
//! one commit each, the rows queued while a worker is busy go in together: one multi-row
//! statement, one commit. Each caller still gets its answer only once its own row is
//! committed, and a batch that fails is retried item by item (an item is one request's rows),
//! so one bad item fails only its own request (not when the connection broke: it may have been
//! committed). Reads by id are grouped the same way (one query for the ids asked for
//! meanwhile). Each worker keeps its connection while its queue has work ([`Lane`]). In
//! PostgreSQL a group's values go as one array per column (`UNNEST`), so each kind of
//! statement has one text, prepared once per connection, whatever the group's size.

use super::idempotency::{IDEMPOTENCY_COLUMNS, RELEASE_CLAIM, idempotency_record};
use super::lane::Lane;
use super::meetings::{COLUMNS, insert_args, meeting};
use super::{Arg, SqlStore, Statement, StoreError};
use crate::meetings::{IdempotencyRecord, Meeting, ModeratorGrant};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
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
    /// The kind's label in the metrics.
    const KIND: &'static str;
    /// Whether a group whose connection broke (or stopped answering) is written once more, on
    /// another connection: writing an item twice changes nothing (a claim finds its own row,
    /// a read reads again). Not when the database is busy or refused: that would only wait
    /// twice as long.
    const REPEATABLE: bool = false;
    /// Whether an item whose caller stopped waiting (its request was cut off) is left out,
    /// since nobody would use what it does, rather than written anyway.
    const SKIP_ABANDONED: bool = false;
    /// Rows a batch holds before its worker stops taking items (the last item taken may go
    /// past it by its own rows).
    const MAX_ROWS: usize = MAX_BATCH;

    /// The rows `item` writes.
    fn rows(_item: &Self::Item) -> usize {
        1
    }

    /// Writes `items` in one statement (or transaction): `Err` when that failed as a whole,
    /// else one answer per item, in order.
    async fn write_together(
        lane: &mut Lane,
        items: &[Self::Item],
    ) -> Result<Vec<Result<Self::Out, StoreError>>, StoreError>;

    /// Undoes what items did for callers that stopped waiting meanwhile (by default nothing:
    /// what they wrote stands).
    async fn abandoned(_lane: &mut Lane, _done: Vec<(Self::Item, Self::Out)>) {}

    /// Writes `items` together; one answer per item, in order. A group that failed is written
    /// again item by item, so that one bad item fails only its own request; not when the
    /// connection broke or the database went away, since the group may have been committed
    /// (trying again could write an item twice): then every item is told so, after one more
    /// try of the whole group if the kind is [`BatchWrite::REPEATABLE`].
    async fn write(lane: &mut Lane, items: &[Self::Item]) -> Vec<Result<Self::Out, StoreError>> {
        let mut together = counted::<Self>(lane, items).await;
        if Self::REPEATABLE && matches!(together, Err(StoreError::Unavailable(_))) && lane.broke() {
            together = counted::<Self>(lane, items).await;
        }
        match together {
            Ok(results) => results,
            Err(err) if items.len() > 1 && !matches!(err, StoreError::Unavailable(_)) => {
                // One bad item (or a statement that is wrong for every group): either way
                // worth knowing, since each item now costs a statement of its own.
                tracing::warn!(
                    kind = Self::KIND,
                    items = items.len(),
                    error = %err,
                    "a group of writes failed as a whole: writing its items one by one"
                );
                let mut results = Vec::with_capacity(items.len());
                for item in items {
                    match counted::<Self>(lane, std::slice::from_ref(item)).await {
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

/// [`BatchWrite::write_together`], counted in the metrics (statements, and rows or ids).
async fn counted<W: BatchWrite + ?Sized>(
    lane: &mut Lane,
    items: &[W::Item],
) -> Result<Vec<Result<W::Out, StoreError>>, StoreError> {
    metrics::counter!(crate::metrics::DB_STATEMENTS, "kind" => W::KIND).increment(1);
    let rows: usize = items.iter().map(W::rows).sum();
    metrics::counter!(crate::metrics::DB_ITEMS, "kind" => W::KIND).increment(rows as u64);
    W::write_together(lane, items).await
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

    /// Queues `item` and waits for its write to be committed. Once queued the write is made
    /// even if the caller stops waiting (its request was cut off), except for the kinds that
    /// skip abandoned items. A lone write goes through a worker too: the worker's connection
    /// is already taken from the pool, where a connection taken for one write costs sqlx's
    /// check as it goes back (measured: the worker is faster at one client too).
    pub async fn write(&self, item: W::Item) -> Result<W::Out, StoreError> {
        answered(self.enqueue(item).await?).await
    }

    /// Queues `item`. This does not wait while the queue has room, so a request cut off at
    /// any moment has either queued its item or not started it; only a full queue waits.
    async fn enqueue(
        &self,
        item: W::Item,
    ) -> Result<oneshot::Receiver<Result<W::Out, StoreError>>, StoreError> {
        let shutting_down = || StoreError::Unavailable("the store is shutting down".into());
        let (reply, answer) = oneshot::channel();
        match self.queue.try_send((item, reply)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(queued)) => {
                self.queue.send(queued).await.map_err(|_| shutting_down())?;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(shutting_down()),
        }
        Ok(answer)
    }
}

/// A queued item's answer; a worker that went away without one answers unavailable.
async fn answered<T>(answer: oneshot::Receiver<Result<T, StoreError>>) -> Result<T, StoreError> {
    answer
        .await
        .unwrap_or_else(|_| Err(StoreError::Unavailable("the write was abandoned".into())))
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
            let mut rows = W::rows(&first.0);
            batch.push(first);
            while batch.len() < MAX_BATCH && rows < W::MAX_ROWS {
                match queue.try_recv() {
                    Ok(next) => {
                        rows += W::rows(&next.0);
                        batch.push(next);
                    }
                    Err(_) => break,
                }
            }
        }
        if W::SKIP_ABANDONED {
            batch.retain(|(_, reply)| !reply.is_closed());
            if batch.is_empty() {
                continue;
            }
        }
        let (items, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let results = W::write(&mut lane, &items).await;
        let mut abandoned = Vec::new();
        for ((reply, result), item) in replies.into_iter().zip(results).zip(items) {
            // The caller may have gone (its request was cut off): what it wrote stands, unless
            // the kind undoes it.
            if let Err(Ok(out)) = reply.send(result) {
                abandoned.push((item, out));
            }
        }
        if !abandoned.is_empty() {
            W::abandoned(&mut lane, abandoned).await;
        }
        lane.batch_done();
    }
}

/// New meetings' rows.
pub(super) struct Inserts;

#[async_trait::async_trait]
impl BatchWrite for Inserts {
    const KIND: &'static str = "inserts";
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
    let mut q = Statement::new(format!("INSERT INTO meetings ({INSERT_COLUMNS}) "));
    q.rows(lane.postgres(), items.iter().map(insert_args).collect());
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
    const KIND: &'static str = "activations";
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
            let mut answers = Vec::with_capacity(items.len());
            for item in items {
                let done = activate(lane, std::slice::from_ref(item)).await;
                answers.push(
                    done.and_then(|mut done| done.remove(&item.id).ok_or(StoreError::NotFound)),
                );
            }
            return Ok(answers);
        }
        let mut done = activate(lane, items).await?;
        Ok(items
            .iter()
            .map(|a| done.remove(&a.id).ok_or(StoreError::NotFound))
            .collect())
    }
}

/// Makes `provisioning` (or `failed`) meetings active with their rooms, in one statement, and
/// records the grants that go with them in the same commit: only for the meetings this
/// statement activated.
async fn activate(
    lane: &mut Lane,
    items: &[Activation],
) -> Result<HashMap<Uuid, Meeting>, StoreError> {
    let postgres = lane.postgres();
    let rows = if postgres {
        // One statement (so one round trip, committed on its own): the update, and the grants
        // of the meetings it returned. The state test is wrapped (`IS TRUE`) so that it cannot
        // use the `(state, id)` index: the prepared statement's generic plan would otherwise
        // scan every `provisioning` entry of that index, where each create leaves a dead one
        // (14 ms and 8,000 pages after a few thousand creates), instead of finding each row by
        // its id.
        let mut q =
            Statement::new("WITH v(id, room_id, at, grant_id, caller, what, granted_at) AS (");
        q.rows(
            true,
            items
                .iter()
                .map(|a| {
                    let grant = a.grant.as_ref();
                    vec![
                        a.id.into(),
                        a.room_id.as_str().into(),
                        a.at.into(),
                        Uuid::now_v7().into(),
                        grant.map(|g| g.caller.as_str().to_owned()).into(),
                        grant.map(|g| g.what.as_str().to_owned()).into(),
                        grant.map(|g| g.at).into(),
                    ]
                })
                .collect(),
        );
        q.push(&format!(
            "), u AS (UPDATE meetings m SET room_id = v.room_id, state = 'active', \
             failure = NULL, updated_at = v.at FROM v \
             WHERE m.id = v.id AND (m.state IN ('provisioning', 'failed')) IS TRUE \
             RETURNING m.*), \
             g AS (INSERT INTO moderator_grants (id, meeting_id, caller, what, at) \
             SELECT v.grant_id, v.id, v.caller, v.what, v.granted_at FROM v JOIN u ON u.id = v.id \
             WHERE v.caller IS NOT NULL) \
             SELECT {COLUMNS} FROM u"
        ));
        lane.fetch(&q.sql, q.args, meeting).await?
    } else {
        let mut q = Statement::new("WITH v(id, room_id, at) AS (");
        q.rows(
            false,
            items
                .iter()
                .map(|a| vec![a.id.into(), a.room_id.as_str().into(), a.at.into()])
                .collect(),
        );
        q.push(&format!(
            ") UPDATE meetings SET room_id = (SELECT v.room_id FROM v WHERE v.id = meetings.id), \
             state = 'active', failure = NULL, \
             updated_at = (SELECT v.at FROM v WHERE v.id = meetings.id) \
             WHERE id IN (SELECT v.id FROM v) AND state IN ('provisioning', 'failed') \
             RETURNING {COLUMNS}"
        ));
        let grants: Vec<Vec<Arg>> = items
            .iter()
            .filter_map(|a| {
                let grant = a.grant.as_ref()?;
                Some(vec![
                    Uuid::now_v7().into(),
                    a.id.into(),
                    grant.caller.as_str().into(),
                    grant.what.as_str().into(),
                    grant.at.into(),
                    a.room_id.as_str().into(),
                    a.at.into(),
                ])
            })
            .collect();
        if grants.is_empty() {
            lane.fetch(&q.sql, q.args, meeting).await?
        } else {
            // SQLite has no writing WITH: a second statement in the same transaction, for the
            // meetings the first one activated (state, room and time as it set them).
            let mut g = Statement::new(
                "WITH v(id, meeting_id, caller, what, at, room_id, activated_at) AS (",
            );
            g.rows(false, grants).push(
                ") INSERT INTO moderator_grants (id, meeting_id, caller, what, at) \
                 SELECT v.id, v.meeting_id, v.caller, v.what, v.at FROM v WHERE EXISTS \
                 (SELECT 1 FROM meetings m WHERE m.id = v.meeting_id AND m.state = 'active' \
                  AND m.room_id = v.room_id AND m.updated_at = v.activated_at)",
            );
            lane.transaction(vec![(&q.sql, q.args), (&g.sql, g.args)], meeting)
                .await?
        }
    };
    Ok(rows.into_iter().map(|m| (m.id, m)).collect())
}

/// Moderator access handed out (the audit trail): reads and lists that carry moderator URLs
/// write these, so they are grouped like the creates' rows. An item is one answer's grants (a
/// list page hands out up to 100 at once): queued, written and answered together.
pub(super) struct Grants;

#[async_trait::async_trait]
impl BatchWrite for Grants {
    const KIND: &'static str = "grants";
    /// About ten list pages' worth (a page hands out up to 100 URLs). Counted in grants, as
    /// the metrics count them: in PostgreSQL a page is one row of `moderator_grant_pages`.
    const MAX_ROWS: usize = 1024;
    type Item = Vec<ModeratorGrant>;
    type Out = ();

    fn rows(item: &Vec<ModeratorGrant>) -> usize {
        item.len()
    }

    async fn write_together(
        lane: &mut Lane,
        items: &[Vec<ModeratorGrant>],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        insert_grants(lane, items).await?;
        Ok(items.iter().map(|_| Ok(())).collect())
    }
}

/// Whether `item` is one answer handing out several meetings' moderator URLs at once (a list
/// page): one caller, one kind, one instant. In PostgreSQL such an item is recorded as one
/// row of `moderator_grant_pages` naming every meeting (see its migration).
fn one_page(item: &[ModeratorGrant]) -> bool {
    let Some((first, rest)) = item.split_first() else {
        return false;
    };
    !rest.is_empty()
        && rest
            .iter()
            .all(|g| g.caller == first.caller && g.what == first.what && g.at == first.at)
}

async fn insert_grants(lane: &mut Lane, items: &[Vec<ModeratorGrant>]) -> Result<(), StoreError> {
    let postgres = lane.postgres();
    let (pages, alone): (Vec<&Vec<ModeratorGrant>>, Vec<&Vec<ModeratorGrant>>) =
        items.iter().partition(|item| postgres && one_page(item));
    let rows: Vec<Vec<Arg>> = alone
        .into_iter()
        .flatten()
        .map(|g| {
            vec![
                Uuid::now_v7().into(),
                g.meeting_id.into(),
                g.caller.as_str().into(),
                g.what.as_str().into(),
                g.at.into(),
            ]
        })
        .collect();
    const INSERT_ROWS: &str = "INSERT INTO moderator_grants (id, meeting_id, caller, what, at) ";
    if postgres {
        // One statement (one round trip, one commit) whatever the mix: the grants handed out
        // alone as rows, the pages as one row each, their meeting ids as an array literal.
        let pages: Vec<Vec<Arg>> = pages
            .into_iter()
            .map(|page| {
                let ids: Vec<String> = page.iter().map(|g| g.meeting_id.to_string()).collect();
                vec![
                    Uuid::now_v7().into(),
                    page[0].caller.as_str().into(),
                    page[0].what.as_str().into(),
                    page[0].at.into(),
                    format!("{{{}}}", ids.join(",")).into(),
                ]
            })
            .collect();
        let mut q = Statement::new("");
        let with_pages = !pages.is_empty();
        if !rows.is_empty() {
            // Followed by the pages, the rows' insert is a `WITH` of the pages' statement.
            q.push(if with_pages { "WITH r AS (" } else { "" })
                .push(INSERT_ROWS)
                .rows(true, rows)
                .push(if with_pages { ") " } else { "" });
        }
        if with_pages {
            q.push(
                "INSERT INTO moderator_grant_pages (id, caller, what, at, meeting_ids) \
                 SELECT i, c, w, a, CAST(m AS uuid[]) FROM (",
            )
            .rows(true, pages)
            .push(") AS p(i, c, w, a, m)");
        }
        return lane.fetch(&q.sql, q.args, nothing).await.map(drop);
    }
    let insert = |rows: Vec<Vec<Arg>>| {
        let mut q = Statement::new(INSERT_ROWS);
        q.rows(false, rows);
        q
    };
    if rows.len() <= MAX_BATCH {
        let q = insert(rows);
        return lane.fetch(&q.sql, q.args, nothing).await.map(drop);
    }
    // SQLite's `VALUES` list is a new statement text for every number of rows: a larger group
    // goes in pieces of at most MAX_BATCH rows, in one transaction, so that its texts are no
    // more than the other kinds' and the group is still all or nothing.
    let mut rows = rows.into_iter().peekable();
    let mut pieces = Vec::new();
    while rows.peek().is_some() {
        pieces.push(insert(rows.by_ref().take(MAX_BATCH).collect()));
    }
    let steps = pieces
        .iter()
        .map(|q| (q.sql.as_str(), q.args.clone()))
        .collect();
    lane.transaction(steps, nothing).await.map(drop)
}

/// Meetings read by id: the ids asked for while the workers were busy, in one query.
pub(super) struct Lookups;

#[async_trait::async_trait]
impl BatchWrite for Lookups {
    const KIND: &'static str = "lookups";
    const REPEATABLE: bool = true;
    const SKIP_ABANDONED: bool = true;
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
        q.rows(
            lane.postgres(),
            unique.iter().map(|id| vec![Arg::Id(*id)]).collect(),
        )
        .push(")");
        let rows = lane.fetch(&q.sql, q.args, meeting).await?;
        let found: HashMap<Uuid, Meeting> = rows.into_iter().map(|m| (m.id, m)).collect();
        Ok(ids.iter().map(|id| Ok(found.get(id).cloned())).collect())
    }
}

/// Idempotency keys claimed by creates that carry one.
pub(super) struct Claims;

#[async_trait::async_trait]
impl BatchWrite for Claims {
    const KIND: &'static str = "claims";
    const REPEATABLE: bool = true;
    const SKIP_ABANDONED: bool = true;
    type Item = IdempotencyRecord;
    /// The record held under the item's key once its claim is committed (its own if the claim
    /// won), or none if it was released meanwhile.
    type Out = Option<IdempotencyRecord>;

    async fn write_together(
        lane: &mut Lane,
        items: &[IdempotencyRecord],
    ) -> Result<Vec<Result<Self::Out, StoreError>>, StoreError> {
        let postgres = lane.postgres();
        // In key order, so that two groups never wait on each other's keys the other way round.
        let mut sorted: Vec<&IdempotencyRecord> = items.iter().collect();
        sorted.sort_by(|a, b| (&a.caller, &a.key).cmp(&(&b.caller, &b.key)));
        let mut expired = Statement::new("WITH v(caller, key, at) AS (");
        expired
            .rows(
                postgres,
                sorted
                    .iter()
                    .map(|r| {
                        vec![
                            r.caller.as_str().into(),
                            r.key.as_str().into(),
                            r.created_at.into(),
                        ]
                    })
                    .collect(),
            )
            // `(caller, key) IN (…)` finds each key by the primary key, in PostgreSQL and
            // SQLite alike; an `EXISTS` naming `v.at` made both scan the whole table.
            .push(
                ") DELETE FROM idempotency_keys WHERE (caller, key) IN (SELECT v.caller, v.key \
                 FROM v) AND expires_at <= (SELECT max(v.at) FROM v \
                 WHERE v.caller = idempotency_keys.caller AND v.key = idempotency_keys.key)",
            );
        let mut claim = Statement::new(
            "INSERT INTO idempotency_keys \
             (caller, key, request_hash, meeting_id, created_at, expires_at) ",
        );
        claim
            .rows(
                postgres,
                sorted
                    .iter()
                    .map(|r| {
                        vec![
                            r.caller.as_str().into(),
                            r.key.as_str().into(),
                            r.request_hash.as_str().into(),
                            r.meeting_id.into(),
                            r.created_at.into(),
                            r.expires_at.into(),
                        ]
                    })
                    .collect(),
            )
            .push(" ON CONFLICT (caller, key) DO NOTHING");
        let mut held = Statement::new("WITH v(caller, key) AS (");
        held.rows(
            postgres,
            sorted
                .iter()
                .map(|r| vec![r.caller.as_str().into(), r.key.as_str().into()])
                .collect(),
        )
        .push(&format!(
            ") SELECT {IDEMPOTENCY_COLUMNS} FROM idempotency_keys \
             WHERE (caller, key) IN (SELECT v.caller, v.key FROM v)"
        ));
        let rows = lane
            .transaction(
                vec![
                    (&expired.sql, expired.args),
                    (&claim.sql, claim.args),
                    (&held.sql, held.args),
                ],
                |row| idempotency_record(row).map(Some),
            )
            .await?;
        let found: HashMap<(String, String), IdempotencyRecord> = rows
            .into_iter()
            .flatten()
            .map(|r| ((r.caller.clone(), r.key.clone()), r))
            .collect();
        Ok(items
            .iter()
            .map(|r| Ok(found.get(&(r.caller.clone(), r.key.clone())).cloned()))
            .collect())
    }

    /// A claim won for a request that is gone would hold its key for a meeting that is never
    /// made, until it counts as abandoned: released at once instead.
    async fn abandoned(lane: &mut Lane, done: Vec<(IdempotencyRecord, Self::Out)>) {
        for (claim, held) in done {
            if held.is_none_or(|held| held.meeting_id != claim.meeting_id) {
                continue;
            }
            let args = vec![
                claim.caller.as_str().into(),
                claim.key.as_str().into(),
                claim.meeting_id.into(),
            ];
            if let Err(err) = lane.fetch(RELEASE_CLAIM, args, nothing).await {
                tracing::warn!(error = %err, "could not release the claim of a request that was cut off");
            }
        }
    }
}

/// An idempotency key's answer, kept for replays.
#[derive(Debug, Clone)]
pub(super) struct Completion {
    pub caller: String,
    pub key: String,
    /// The meeting of the claim the answer is for.
    pub meeting_id: Uuid,
    pub status: u16,
    pub body: String,
}

/// Idempotency keys' answers, recorded.
pub(super) struct Completions;

#[async_trait::async_trait]
impl BatchWrite for Completions {
    const KIND: &'static str = "completions";
    type Item = Completion;
    type Out = ();

    async fn write_together(
        lane: &mut Lane,
        items: &[Completion],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        // The same claim twice: the first answer is kept, as when written one after the other
        // (the statement answers only a claim that has no answer yet).
        let mut first: HashMap<(&str, &str, Uuid), &Completion> = HashMap::new();
        for c in items {
            first
                .entry((c.caller.as_str(), c.key.as_str(), c.meeting_id))
                .or_insert(c);
        }
        let mut sorted: Vec<&Completion> = first.into_values().collect();
        sorted.sort_by(|a, b| (&a.caller, &a.key).cmp(&(&b.caller, &b.key)));
        let mut q = Statement::new("WITH v(caller, key, meeting_id, status, body) AS (");
        q.rows(
            lane.postgres(),
            sorted
                .iter()
                .map(|c| {
                    vec![
                        c.caller.as_str().into(),
                        c.key.as_str().into(),
                        c.meeting_id.into(),
                        i64::from(c.status).into(),
                        c.body.as_str().into(),
                    ]
                })
                .collect(),
        )
        .push(
            ") UPDATE idempotency_keys SET status = v.status, body = v.body FROM v \
             WHERE idempotency_keys.caller = v.caller AND idempotency_keys.key = v.key \
             AND idempotency_keys.meeting_id = v.meeting_id AND idempotency_keys.status IS NULL",
        );
        lane.fetch(&q.sql, q.args, nothing).await?;
        Ok(items.iter().map(|_| Ok(())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Db;
    use super::*;
    use crate::meetings::{GrantKind, MeetingStore};
    use sqlx::Connection;
    use std::future::Future;

    /// Runs `body` against a store over a fresh PostgreSQL database, dropped however `body`
    /// ends; skipped without `TEST_DATABASE_URL`.
    async fn with_database<F: Future<Output = ()> + Send + 'static>(body: fn(SqlStore) -> F) {
        let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
            eprintln!("TEST_DATABASE_URL is not set: skipping");
            return;
        };
        let (without_query, query) = match base.split_once('?') {
            Some((head, query)) => (head.to_owned(), format!("?{query}")),
            None => (base.clone(), String::new()),
        };
        let (server, _) = without_query
            .rsplit_once('/')
            .expect("a database in the URL");
        let name = format!("roomgate_unit_{}", Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&base).await.expect("connect");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create database");
        // The body runs in a task of its own, so that the database is dropped however it ends.
        let url = format!("{server}/{name}{query}");
        let outcome = tokio::spawn(async move {
            let store = SqlStore::connect(&url, &Default::default())
                .await
                .expect("store");
            body(store.clone()).await;
            if let Db::Postgres(pool) = &store.db {
                pool.close().await;
            }
        })
        .await;
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .expect("drop database");
        if let Err(failed) = outcome {
            std::panic::resume_unwind(failed.into_panic());
        }
    }

    /// In PostgreSQL a group mixing list pages and grants handed out alone is written by one
    /// statement (`write_together` answers `Ok`, so nothing falls back to writing item by
    /// item), and so is a group of pages only or of single grants only: each page is one row,
    /// and each meeting's grants read back from both tables, a meeting named twice on a page
    /// counted twice.
    #[tokio::test]
    async fn a_group_of_pages_and_single_grants_is_one_statement() {
        with_database(pages_and_single_grants).await;
    }

    async fn pages_and_single_grants(store: SqlStore) {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let at = crate::meetings::now();
        let g = |meeting_id, caller: &str| ModeratorGrant {
            meeting_id,
            caller: caller.into(),
            what: GrantKind::Url,
            at,
        };
        let groups = [
            // pages and single grants
            vec![
                vec![g(a, "key:x"), g(b, "key:x")],
                vec![g(c, "key:x")],
                vec![g(a, "key:x"), g(a, "key:x"), g(c, "key:x")],
                vec![g(b, "key:y")],
            ],
            // pages only
            vec![vec![g(a, "key:x"), g(c, "key:x")]],
            // single grants only
            vec![vec![g(b, "key:x")], vec![g(c, "key:y")]],
        ];
        let mut lane = Lane::new(store.clone());
        for items in &groups {
            let written = Grants::write_together(&mut lane, items)
                .await
                .expect("the group in one statement");
            assert_eq!(written.len(), items.len());
            assert!(written.iter().all(Result::is_ok));
        }
        lane.release();

        for (meeting, expected) in [(a, 4), (b, 3), (c, 4)] {
            let grants = store.grants(meeting).await.expect("grants");
            assert_eq!(grants.len(), expected, "{grants:?}");
            assert!(grants.iter().all(|g| g.meeting_id == meeting && g.at == at));
        }
        let Db::Postgres(pool) = &store.db else {
            unreachable!("connected to PostgreSQL")
        };
        let count = |table: &str| {
            let sql = format!("SELECT count(*) FROM {table}");
            async move { sqlx::query_scalar::<_, i64>(&sql).fetch_one(pool).await }
        };
        assert_eq!(count("moderator_grant_pages").await.expect("pages"), 3);
        assert_eq!(count("moderator_grants").await.expect("rows"), 4);
    }

    /// A group that activates one meeting twice (a create and the reconciler at once) writes
    /// them one at a time, each answered by its own statement: the first activates it (and
    /// records its grant), the second finds it no longer waiting, and the group as a whole
    /// does not fail.
    #[tokio::test]
    async fn the_same_meeting_twice_in_one_group_is_activated_once() {
        with_database(same_meeting_twice).await;
    }

    async fn same_meeting_twice(store: SqlStore) {
        let at = crate::meetings::now();
        let meeting = Meeting {
            id: Uuid::now_v7(),
            room_id: None,
            kind: crate::meetings::Kind::Permanent,
            name: "Twice".into(),
            description: None,
            owner_ref: "o".into(),
            created_by: "key:o".into(),
            embed: crate::meetings::EmbedPlan::Premium,
            schedule: None,
            settings: Default::default(),
            state: crate::meetings::State::Provisioning,
            failure: None,
            created_at: at,
            updated_at: at,
            deleted_at: None,
            ended_at: None,
        };
        store.insert(&meeting).await.expect("insert");
        let activation = |caller: &str| Activation {
            id: meeting.id,
            room_id: "twice0000000000000000000".into(),
            at,
            grant: Some(ModeratorGrant {
                meeting_id: meeting.id,
                caller: caller.into(),
                what: GrantKind::Url,
                at,
            }),
        };
        let mut lane = Lane::new(store.clone());
        let answers =
            Activations::write_together(&mut lane, &[activation("key:o"), activation("key:o")])
                .await
                .expect("the group does not fail as a whole");
        lane.release();
        assert_eq!(answers.len(), 2);
        let active = answers[0].as_ref().expect("the first activates it");
        assert_eq!(active.state, crate::meetings::State::Active);
        assert_eq!(active.room_id.as_deref(), Some("twice0000000000000000000"));
        assert!(
            matches!(answers[1], Err(StoreError::NotFound)),
            "{:?}",
            answers[1]
        );
        assert_eq!(store.grants(meeting.id).await.expect("grants").len(), 1);
    }
}
