//! Meetings and idempotency records: their SQL, written once, and their row readers.

use super::idempotency::{IDEMPOTENCY_COLUMNS, RELEASE_CLAIM, idempotency_record};
use super::settings::StoredSettings;
use super::{Arg, Cells, SqlStore, Statement, StoreError, bad, batch, required};
use crate::meetings::{
    IdempotencyRecord, LetGo, ListFilter, Meeting, MeetingStore, ModeratorGrant, Schedule, Status,
};
use crate::metrics::PoolStats;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The columns every meeting query reads, in this order.
pub(super) const COLUMNS: &str = "id, room_id, kind, name, description, owner_ref, created_by, \
    embed, starts_at, duration_minutes, settings, state, failure, created_at, updated_at, \
    deleted_at, ended_at";

/// A row of a page that must know how far it got: the meeting, or the id of a row that cannot
/// be read (logged and counted, and left out).
pub(super) enum Scanned {
    Meeting(Box<Meeting>),
    Unreadable(Uuid),
}

fn scanned(row: &dyn Cells) -> Result<Scanned, StoreError> {
    match meeting(row) {
        Ok(m) => Ok(Scanned::Meeting(Box::new(m))),
        Err(err) => {
            super::unreadable(row, &err);
            Ok(Scanned::Unreadable(row.id("id")?))
        }
    }
}

impl SqlStore {
    /// Up to `limit` readable meetings of a keyset-paged query, from `cursor` on: rows that
    /// cannot be read are stepped over (not counted against `limit`), so they neither shorten
    /// a page nor make it look like the last one. `page(cursor, n)` builds the query for the
    /// next `n` rows after `cursor`.
    pub(super) async fn scan(
        &self,
        page: impl Fn(Option<Uuid>, u32) -> Statement,
        mut cursor: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<Meeting>, StoreError> {
        let mut found = Vec::new();
        loop {
            let want = limit - found.len() as u32;
            let q = page(cursor, want);
            let rows = self.fetch(&q.sql, q.args, scanned).await?;
            let read = rows.len();
            for row in rows {
                match row {
                    Scanned::Meeting(m) => {
                        cursor = Some(m.id);
                        found.push(*m);
                    }
                    Scanned::Unreadable(id) => cursor = Some(id),
                }
            }
            if read < want as usize || found.len() >= limit as usize {
                return Ok(found);
            }
        }
    }
}

/// A meeting row as the domain wants it.
pub(super) fn meeting(row: &dyn Cells) -> Result<Meeting, StoreError> {
    let text = |column: &str| required(column, row.text(column)?);
    let schedule = match (row.time("starts_at")?, row.int("duration_minutes")?) {
        (Some(start), Some(minutes)) => Some(Schedule::from_stored(
            start,
            u32::try_from(minutes).map_err(|e| bad("duration_minutes", e))?,
        )),
        _ => None,
    };
    let settings: StoredSettings =
        serde_json::from_str(row.json("settings")?).map_err(|e| bad("settings", e))?;
    Ok(Meeting {
        id: row.id("id")?,
        room_id: row.text("room_id")?,
        kind: choice(row, "kind")?,
        name: text("name")?,
        description: row.text("description")?,
        owner_ref: text("owner_ref")?,
        created_by: text("created_by")?,
        embed: choice(row, "embed")?,
        schedule,
        settings: settings.into_domain()?,
        state: choice(row, "state")?,
        failure: row.text("failure")?,
        created_at: required("created_at", row.time("created_at")?)?,
        updated_at: required("updated_at", row.time("updated_at")?)?,
        deleted_at: row.time("deleted_at")?,
        ended_at: row.time("ended_at")?,
    })
}

/// A text column holding one of a closed set of names.
fn choice<T: std::str::FromStr<Err: std::fmt::Display>>(
    row: &dyn Cells,
    column: &str,
) -> Result<T, StoreError> {
    required(column, row.text(column)?)?
        .parse()
        .map_err(|e| bad(column, e))
}

/// The values of a new meeting's row, in the order of `batch::INSERT_COLUMNS`.
pub(super) fn insert_args(m: &Meeting) -> Vec<Arg> {
    let mut args: Vec<Arg> = vec![
        m.id.into(),
        m.room_id.clone().into(),
        m.kind.as_str().into(),
        m.name.as_str().into(),
        m.description.clone().into(),
        m.owner_ref.as_str().into(),
        m.created_by.as_str().into(),
        m.embed.as_str().into(),
    ];
    args.extend(schedule_args(m));
    args.extend([
        Arg::Json(StoredSettings::from_domain(&m.settings)),
        m.state.as_str().into(),
        m.failure.clone().into(),
        m.created_at.into(),
        m.updated_at.into(),
        m.deleted_at.into(),
    ]);
    args
}

/// The values of a meeting's schedule columns: start, end, joinable-from and duration.
fn schedule_args(m: &Meeting) -> [Arg; 4] {
    let s = m.schedule;
    [
        s.map(|s| s.starts_at()).into(),
        s.map(|s| s.ends_at()).into(),
        s.map(|s| s.joinable_from()).into(),
        s.map(|s| i64::from(s.duration_minutes())).into(),
    ]
}

#[async_trait::async_trait]
impl MeetingStore for SqlStore {
    fn backend(&self) -> &'static str {
        match self.db {
            super::Db::Postgres(_) => "postgres",
            super::Db::Sqlite(_) => "sqlite",
        }
    }

    fn pool_stats(&self) -> PoolStats {
        SqlStore::pool_stats(self)
    }

    async fn ready(&self) -> Result<(), StoreError> {
        SqlStore::ready(self).await
    }

    async fn insert(&self, m: &Meeting) -> Result<(), StoreError> {
        self.writes()?.inserts.write(m.clone()).await
    }

    async fn activate(
        &self,
        id: Uuid,
        room_id: &str,
        at: DateTime<Utc>,
        grant: Option<&ModeratorGrant>,
    ) -> Result<Meeting, StoreError> {
        let activation = batch::Activation {
            id,
            room_id: room_id.to_owned(),
            at,
            grant: grant.cloned(),
        };
        self.writes()?.activations.write(activation).await
    }

    async fn mark_failed(
        &self,
        id: Uuid,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE meetings SET state = 'failed', failure = $3, updated_at = $2 \
             WHERE id = $1 AND state = 'provisioning'",
            vec![id.into(), at.into(), reason.into()],
        )
        .await?;
        Ok(())
    }

    async fn mark_deleted(&self, id: Uuid, at: DateTime<Utc>) -> Result<Meeting, StoreError> {
        let sql = format!(
            "UPDATE meetings SET state = 'deleted', deleted_at = COALESCE(deleted_at, $2), \
             updated_at = $2, unsynced_by = NULL, unsynced_at = NULL, unsynced_since = NULL \
             WHERE id = $1 AND state IN ('active', 'deleted') RETURNING {COLUMNS}"
        );
        self.fetch_one(&sql, vec![id.into(), at.into()], meeting)
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn hold_for_change(
        &self,
        id: Uuid,
        expected_updated_at: DateTime<Utc>,
        token: Uuid,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        due: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let held = self
            .execute(
                "UPDATE meetings SET change_token = $3, change_until = $4, \
                 unsynced_at = CASE WHEN unsynced_by IS NULL THEN $5 ELSE unsynced_at END, \
                 unsynced_since = CASE WHEN unsynced_by IS NULL THEN $5 ELSE unsynced_since END, \
                 unsynced_by = COALESCE(unsynced_by, $3) \
                 WHERE id = $1 AND state = 'active' AND updated_at = $2 \
                 AND (change_token IS NULL OR change_until <= $5) \
                 AND ($6 IS NULL OR (unsynced_by IS NOT NULL AND unsynced_at <= $6))",
                vec![
                    id.into(),
                    expected_updated_at.into(),
                    token.into(),
                    until.into(),
                    now.into(),
                    due.into(),
                ],
            )
            .await?;
        Ok(held == 1)
    }

    async fn release_change(
        &self,
        id: Uuid,
        token: Uuid,
        how: LetGo,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (sql, args) = match how {
            // A mark an earlier change left stays: EnableX may still hold that change.
            LetGo::Unchanged => (
                "UPDATE meetings SET change_token = NULL, change_until = NULL, \
                 unsynced_at = CASE WHEN unsynced_by = $2 THEN NULL ELSE unsynced_at END, \
                 unsynced_since = CASE WHEN unsynced_by = $2 THEN NULL ELSE unsynced_since END, \
                 unsynced_by = CASE WHEN unsynced_by = $2 THEN NULL ELSE unsynced_by END \
                 WHERE id = $1 AND change_token = $2",
                vec![id.into(), token.into()],
            ),
            // The reconciler waits its grace from now: the call may still be on its way.
            LetGo::Unsynced => (
                "UPDATE meetings SET change_token = NULL, change_until = NULL, unsynced_at = $3 \
                 WHERE id = $1 AND change_token = $2",
                vec![id.into(), token.into(), at.into()],
            ),
        };
        self.execute(sql, args).await?;
        Ok(())
    }

    async fn settle_unsynced(&self, id: Uuid, token: Uuid) -> Result<bool, StoreError> {
        let settled = self
            .execute(
                "UPDATE meetings SET change_token = NULL, change_until = NULL, \
                 unsynced_by = NULL, unsynced_at = NULL, unsynced_since = NULL \
                 WHERE id = $1 AND change_token = $2",
                vec![id.into(), token.into()],
            )
            .await?;
        Ok(settled == 1)
    }

    async fn update(
        &self,
        m: &Meeting,
        expected_updated_at: DateTime<Utc>,
        token: Uuid,
        unsynced_at: Option<DateTime<Utc>>,
    ) -> Result<Option<Meeting>, StoreError> {
        // With `unsynced_at` the row stays marked (an earlier attempt of this very call may
        // still land); without, only its own hold's mark goes.
        let sql = format!(
            "UPDATE meetings SET name = $3, description = $4, starts_at = $5, ends_at = $6, \
             joinable_from = $7, duration_minutes = $8, settings = $9, updated_at = $10, \
             change_token = NULL, change_until = NULL, \
             unsynced_at = CASE WHEN $12 IS NOT NULL THEN $12 \
             WHEN unsynced_by = $11 THEN NULL ELSE unsynced_at END, \
             unsynced_since = CASE WHEN $12 IS NOT NULL THEN COALESCE(unsynced_since, $12) \
             WHEN unsynced_by = $11 THEN NULL ELSE unsynced_since END, \
             unsynced_by = CASE WHEN $12 IS NOT NULL THEN COALESCE(unsynced_by, $11) \
             WHEN unsynced_by = $11 THEN NULL ELSE unsynced_by END \
             WHERE id = $1 AND state = 'active' AND updated_at = $2 AND change_token = $11 \
             RETURNING {COLUMNS}"
        );
        let mut args: Vec<Arg> = vec![
            m.id.into(),
            expected_updated_at.into(),
            m.name.as_str().into(),
            m.description.clone().into(),
        ];
        args.extend(schedule_args(m));
        args.extend([
            Arg::Json(StoredSettings::from_domain(&m.settings)),
            m.updated_at.into(),
            token.into(),
            unsynced_at.into(),
        ]);
        self.fetch_one(&sql, args, meeting).await
    }

    async fn get(&self, id: Uuid) -> Result<Option<Meeting>, StoreError> {
        // With the reads by id of other requests meanwhile, in one query.
        self.writes()?.lookups.write(id).await
    }

    async fn list(
        &self,
        filter: &ListFilter,
        now: DateTime<Utc>,
    ) -> Result<Vec<Meeting>, StoreError> {
        let page = |before_id, limit| {
            list_statement(
                &ListFilter {
                    before_id,
                    limit,
                    ..filter.clone()
                },
                now,
            )
        };
        self.scan(page, filter.before_id, filter.limit).await
    }

    async fn claim_idempotency(
        &self,
        r: &IdempotencyRecord,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.claim(r).await
    }

    async fn complete_idempotency(
        &self,
        caller: &str,
        key: &str,
        meeting_id: Uuid,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError> {
        self.writes()?
            .completions
            .write(super::batch::Completion {
                caller: caller.to_owned(),
                key: key.to_owned(),
                meeting_id,
                status,
                body: body.to_owned(),
            })
            .await
    }

    async fn release_idempotency(
        &self,
        caller: &str,
        key: &str,
        meeting_id: Uuid,
    ) -> Result<(), StoreError> {
        self.execute(
            RELEASE_CLAIM,
            vec![caller.into(), key.into(), meeting_id.into()],
        )
        .await?;
        Ok(())
    }

    async fn find_idempotency(
        &self,
        caller: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let sql = format!(
            "SELECT {IDEMPOTENCY_COLUMNS} FROM idempotency_keys WHERE caller = $1 AND key = $2"
        );
        self.fetch_one(&sql, vec![caller.into(), key.into()], idempotency_record)
            .await
    }

    async fn record_grants(&self, grants: &[ModeratorGrant]) -> Result<(), StoreError> {
        if grants.is_empty() {
            return Ok(());
        }
        // One item, one answer: the answer's grants are committed together or not at all.
        self.writes()?.grants.write(grants.to_vec()).await
    }

    async fn grants(&self, meeting_id: Uuid) -> Result<Vec<ModeratorGrant>, StoreError> {
        // PostgreSQL records a list page's grants as one row naming all its meetings (see
        // `batch::insert_grants`); SQLite records each as its own row.
        let sql = match self.db {
            super::Db::Postgres(_) => {
                "SELECT meeting_id, caller, what, at FROM (\
                 SELECT meeting_id, caller, what, at, id FROM moderator_grants \
                 WHERE meeting_id = $1 \
                 UNION ALL SELECT m, caller, what, at, id \
                 FROM moderator_grant_pages, UNNEST(meeting_ids) AS m \
                 WHERE meeting_ids @> ARRAY[$1] AND m = $1) AS g ORDER BY at, id"
            }
            super::Db::Sqlite(_) => {
                "SELECT meeting_id, caller, what, at FROM moderator_grants \
                 WHERE meeting_id = $1 ORDER BY at, id"
            }
        };
        self.fetch(sql, vec![meeting_id.into()], grant).await
    }
}

fn grant(row: &dyn Cells) -> Result<ModeratorGrant, StoreError> {
    Ok(ModeratorGrant {
        meeting_id: row.id("meeting_id")?,
        caller: required("caller", row.text("caller")?)?,
        what: choice(row, "what")?,
        at: required("at", row.time("at")?)?,
    })
}

/// The listing query: one status condition, the filters given, newest id first.
fn list_statement(filter: &ListFilter, now: DateTime<Utc>) -> Statement {
    let mut q = Statement::new(format!("SELECT {COLUMNS} FROM meetings WHERE "));
    match filter.status {
        None => q.push("state = 'active'"),
        Some(Status::Deleted) => q.push("state = 'deleted'"),
        Some(Status::Provisioning) => q.push("state = 'provisioning'"),
        Some(Status::Failed) => q.push("state = 'failed'"),
        Some(Status::Scheduled) => q
            .push("state = 'active' AND ended_at IS NULL AND kind = 'scheduled' AND joinable_from > ")
            .bind(now),
        Some(Status::Ended) => q
            .push("state = 'active' AND (ended_at IS NOT NULL OR (kind = 'scheduled' AND ends_at <= ")
            .bind(now)
            .push("))"),
        Some(Status::Open) => q
            .push("state = 'active' AND ended_at IS NULL AND (kind <> 'scheduled' OR (joinable_from <= ")
            .bind(now)
            .push(" AND ends_at > ")
            .bind(now)
            .push("))"),
    };
    if let Some(creator) = &filter.created_by {
        q.push(" AND created_by = ").bind(creator.as_str());
    }
    if let Some(owner) = &filter.owner_ref {
        q.push(" AND owner_ref = ").bind(owner.as_str());
    }
    if let Some(kind) = filter.kind {
        q.push(" AND kind = ").bind(kind.as_str());
    }
    if let Some(after) = filter.starts_after {
        q.push(" AND starts_at > ").bind(after);
    }
    if let Some(before) = filter.starts_before {
        q.push(" AND starts_at < ").bind(before);
    }
    if let Some(cursor) = filter.before_id {
        q.push(" AND id < ").bind(cursor);
    }
    // The limit is bound, not written into the text, on purpose: with a bound limit every page
    // gets a plan made for its own values (the caller's share of the rows decides between
    // walking its own index and walking the primary key). A limit in the text lets PostgreSQL
    // keep one generic plan per connection, made for an average caller: where one caller holds
    // nearly every row that plan walks the primary key and filters, and a caller with a few
    // meetings would read the whole table for each page.
    q.push(" ORDER BY id DESC LIMIT ")
        .bind(i64::from(filter.limit));
    q
}
