//! Ops commands: `roomgate keys`, `meetings`, `migrate` and `reconcile`.

use crate::auth::KeyStore;
use crate::auth::keys;
use crate::config::{Config, DatabaseArgs, KeysCommand, MeetingsCommand, ServeArgs};
use crate::meetings::{Kind, ListFilter, Meeting, Status, now, parse_instant};
use crate::meetings::{MeetingStore, StoreError};
use crate::store::{self, Store};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde_json::Value;
use serde_json::json;
use std::io::Write;
use uuid::Uuid;

/// Opens (and migrates) the configured database.
async fn open(database: DatabaseArgs) -> Result<Store, String> {
    let database = database
        .check()
        .map_err(|e| format!("configuration: {e}"))?;
    store::connect(database.url.expose_secret(), &database.pool)
        .await
        .map_err(|e| format!("database: {e}"))
}

/// Runs `roomgate keys ...`, writing what it has to say to `out`.
pub async fn keys_command(
    action: KeysCommand,
    database: DatabaseArgs,
    out: &mut impl Write,
) -> Result<(), String> {
    let store = open(database).await?;
    let io = |e: std::io::Error| e.to_string();
    match action {
        KeysCommand::Create { name, admin } => {
            let key = keys::generate(&name, admin, now())?;
            store.insert_key(&key.record).await.map_err(|e| match e {
                StoreError::Conflict(_) => format!(
                    "a key named '{name}' exists already (or did: names are never reused); pick another name, or `roomgate keys rotate {name}` for a new secret of the same identity"
                ),
                other => format!("database: {other}"),
            })?;
            writeln!(out, "{}", key.text).map_err(io)?;
            eprintln!(
                "created {} key '{name}' (id {}); it is shown only this once",
                if admin { "an admin" } else { "a" },
                key.record.id
            );
        }
        KeysCommand::List { json } => {
            let keys = store
                .list_keys()
                .await
                .map_err(|e| format!("database: {e}"))?;
            if json {
                let rows: Vec<_> = keys
                    .iter()
                    .map(|k| json!({"id": k.id, "name": k.name, "admin": k.admin, "created_at": k.created_at, "revoked_at": k.revoked_at}))
                    .collect();
                writeln!(out, "{}", serde_json::Value::Array(rows)).map_err(io)?;
            } else {
                writeln!(
                    out,
                    "{:<24} {:<16} {:<5} {:<25} REVOKED",
                    "NAME", "ID", "ADMIN", "CREATED"
                )
                .map_err(io)?;
                for k in keys {
                    let revoked = k.revoked_at.map_or("-".to_owned(), |t| t.to_rfc3339());
                    writeln!(
                        out,
                        "{:<24} {:<16} {:<5} {:<25} {revoked}",
                        k.name,
                        k.id,
                        k.admin,
                        k.created_at.format("%Y-%m-%dT%H:%M:%SZ")
                    )
                    .map_err(io)?;
                }
            }
        }
        KeysCommand::Rotate { name, grace_secs } => {
            let at = now();
            // The new key's admin rights are copied from the live key it replaces.
            let key = keys::generate(&name, false, at)?;
            let until = at + chrono::Duration::seconds(i64::from(grace_secs));
            if !store
                .rotate_key(&key.record, until, at)
                .await
                .map_err(|e| format!("database: {e}"))?
            {
                return Err(format!("no live key is named '{name}'; nothing to rotate"));
            }
            settle_key_caches().await;
            writeln!(out, "{}", key.text).map_err(io)?;
            eprintln!(
                "rotated '{name}': new key id {} (shown only this once); the old key works until {}",
                key.record.id,
                until.to_rfc3339()
            );
        }
        KeysCommand::Revoke { name } => {
            if !store
                .revoke_key(&name, now())
                .await
                .map_err(|e| format!("database: {e}"))?
            {
                return Err(format!("no live key is named '{name}'"));
            }
            settle_key_caches().await;
            writeln!(out, "revoked '{name}'").map_err(io)?;
        }
    }
    Ok(())
}

/// Waits out the replicas' key caches, so that when a revocation command returns no replica
/// accepts the revoked key any more (PostgreSQL replicas forget it at once on the announcement;
/// this covers SQLite and a replica whose listener was down).
async fn settle_key_caches() {
    tokio::time::sleep(crate::auth::KEY_CACHE_TTL).await;
}

/// A meeting as ops commands print it (no embed URLs: those depend on the server's settings).
fn meeting_json(m: &Meeting, at: DateTime<Utc>) -> Value {
    json!({
        "id": m.id, "room_id": m.room_id, "kind": m.kind.as_str(), "status": m.status(at).as_str(),
        "state": m.state.as_str(), "name": m.name, "description": m.description,
        "owner_ref": m.owner_ref, "created_by": m.created_by, "embed": m.embed.as_str(),
        "starts_at": m.schedule.map(|s| s.starts_at()), "ends_at": m.schedule.map(|s| s.ends_at()),
        "joinable_from": m.schedule.map(|s| s.joinable_from()),
        "duration_minutes": m.schedule.map(|s| s.duration_minutes()), "settings": crate::http::SettingsView::from(&m.settings),
        "failure": m.failure, "created_at": m.created_at, "updated_at": m.updated_at,
        "deleted_at": m.deleted_at, "ended_at": m.ended_at,
    })
}

fn choice<T: std::str::FromStr<Err: std::fmt::Display>>(
    flag: &str,
    value: Option<String>,
) -> Result<Option<T>, String> {
    value
        .map(|v| v.parse::<T>().map_err(|e| format!("--{flag}: {e}")))
        .transpose()
}

fn instant(flag: &str, value: Option<String>) -> Result<Option<DateTime<Utc>>, String> {
    value
        .map(|v| parse_instant(&v).map_err(|e| format!("--{flag}: {e}")))
        .transpose()
}

/// Runs `roomgate meetings ...`.
pub async fn meetings_command(
    action: MeetingsCommand,
    database: DatabaseArgs,
    out: &mut impl Write,
) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    match action {
        MeetingsCommand::List {
            owner_ref,
            kind,
            status,
            starts_after,
            starts_before,
            limit,
            after,
            json,
        } => {
            if !(1..=1000).contains(&limit) {
                return Err("--limit: must be from 1 to 1000".into());
            }
            let filter = ListFilter {
                created_by: None,
                owner_ref,
                kind: choice::<Kind>("kind", kind)?,
                status: choice::<Status>("status", status)?,
                starts_after: instant("starts-after", starts_after)?,
                starts_before: instant("starts-before", starts_before)?,
                before_id: after
                    .map(|a| {
                        Uuid::parse_str(&a).map_err(|_| "--after: not a meeting id".to_owned())
                    })
                    .transpose()?,
                limit,
            };
            let store = open(database).await?;
            let at = now();
            let meetings = store
                .list(&filter, at)
                .await
                .map_err(|e| format!("database: {e}"))?;
            if json {
                let rows: Vec<Value> = meetings.iter().map(|m| meeting_json(m, at)).collect();
                writeln!(out, "{}", Value::Array(rows)).map_err(io)?;
                return Ok(());
            }
            writeln!(
                out,
                "{:<36}  {:<9}  {:<12}  {:<20}  {:<24}  {:<20}  NAME",
                "ID", "KIND", "STATUS", "STARTS (UTC)", "ROOM", "OWNER_REF"
            )
            .map_err(io)?;
            for m in &meetings {
                let starts = m.schedule.map_or("-".to_owned(), |s| {
                    s.starts_at().format("%Y-%m-%d %H:%M").to_string()
                });
                writeln!(
                    out,
                    "{:<36}  {:<9}  {:<12}  {:<20}  {:<24}  {:<20}  {}",
                    m.id,
                    m.kind.as_str(),
                    m.status(at).as_str(),
                    starts,
                    m.room_id.as_deref().unwrap_or("-"),
                    m.owner_ref,
                    m.name
                )
                .map_err(io)?;
            }
            if meetings.len() == limit as usize
                && let Some(last) = meetings.last()
            {
                eprintln!("more may follow: --after {}", last.id);
            }
        }
        MeetingsCommand::Show { id, json } => {
            let id = Uuid::parse_str(&id).map_err(|_| format!("'{id}' is not a meeting id"))?;
            let store = open(database).await?;
            let meeting = store
                .get(id)
                .await
                .map_err(|e| format!("database: {e}"))?
                .ok_or_else(|| format!("no meeting has the id {id}"))?;
            let grants = store
                .grants(id)
                .await
                .map_err(|e| format!("database: {e}"))?;
            let mut value = meeting_json(&meeting, now());
            if json {
                value["moderator_grants"] = grants
                    .iter()
                    .map(|g| json!({"caller": g.caller, "what": g.what.as_str(), "at": g.at}))
                    .collect();
                writeln!(out, "{value}").map_err(io)?;
                return Ok(());
            }
            if let Value::Object(fields) = value {
                for (key, field) in fields {
                    let text = match field {
                        Value::String(s) => s,
                        Value::Null => "-".into(),
                        other => other.to_string(),
                    };
                    writeln!(out, "{key:<17} {text}").map_err(io)?;
                }
            }
            writeln!(out, "moderator access handed out: {}", grants.len()).map_err(io)?;
            for g in &grants {
                writeln!(out, "  {}  {:<5}  {}", g.at.to_rfc3339(), g.what, g.caller)
                    .map_err(io)?;
            }
        }
    }
    Ok(())
}

/// Runs `roomgate migrate`: opening the store applies pending migrations.
pub async fn migrate_command(database: DatabaseArgs, out: &mut impl Write) -> Result<(), String> {
    let store = open(database).await?;
    store.ready().await.map_err(|e| format!("database: {e}"))?;
    writeln!(out, "{} database is at the latest schema", store.backend()).map_err(|e| e.to_string())
}

/// Runs `roomgate reconcile`: the reconciler and the sweeper once.
pub async fn reconcile_command(
    serve: ServeArgs,
    json: bool,
    out: &mut impl Write,
) -> Result<(), String> {
    let config = Config::from_args(serve).map_err(|e| format!("configuration: {e}"))?;
    let (state, store) = crate::build_state(&config)
        .await
        .map_err(|e| e.to_string())?;
    let jobs = crate::jobs_for(&config, &store, state.service.enablex());
    let reconciled = jobs
        .reconcile()
        .await
        .map_err(|e| format!("reconciler: {e}"))?;
    let swept = jobs.sweep().await.map_err(|e| format!("sweeper: {e}"))?;
    let io = |e: std::io::Error| e.to_string();
    if json {
        let orphans: Vec<Value> = reconciled
            .orphans
            .iter()
            .map(|o| json!({"room_id": o.room_id, "meeting_id": o.meeting_id, "reason": o.reason}))
            .collect();
        let report = json!({
            "reconciler": {"skipped": reconciled.skipped, "examined": reconciled.examined,
                           "completed": reconciled.completed, "failed": reconciled.failed,
                           "resynced": reconciled.resynced, "resync_gave_up": reconciled.resync_gave_up, "orphans": orphans,
                           "orphans_total": reconciled.orphans_total, "rooms_listed": reconciled.rooms_listed,
                           "listing_complete": reconciled.listing_complete, "queries": reconciled.queries},
            "sweeper": {"skipped": swept.skipped, "ended": swept.ended, "rooms_deleted": swept.rooms_deleted,
                        "idempotency_purged": swept.idempotency_purged, "adhoc_checked": swept.adhoc_checked,
                        "adhoc_kept": swept.adhoc_kept, "enablex_calls": swept.enablex_calls,
                        "queries": swept.queries},
        });
        writeln!(out, "{report}").map_err(io)?;
        return Ok(());
    }
    if reconciled.skipped {
        writeln!(out, "reconciler: skipped, another process is running it").map_err(io)?;
    } else {
        writeln!(
            out,
            "reconciler: examined {}, completed {}, failed {}, resynced {}{}, orphaned rooms {}{} ({} rooms listed{})",
            reconciled.examined,
            reconciled.completed.len(),
            reconciled.failed.len(),
            reconciled.resynced.len(),
            if reconciled.resync_gave_up.is_empty() {
                String::new()
            } else {
                format!(" ({} refused by EnableX)", reconciled.resync_gave_up.len())
            },
            reconciled.orphans_total,
            if reconciled.orphans_total > reconciled.orphans.len() as u64 {
                format!(", the first {} shown", reconciled.orphans.len())
            } else {
                String::new()
            },
            reconciled.rooms_listed,
            if reconciled.listing_complete {
                ""
            } else {
                "; the listing was not read whole, so nothing was failed"
            }
        )
        .map_err(io)?;
        for o in &reconciled.orphans {
            writeln!(
                out,
                "  orphan room {} (roomgate id {}): {}",
                o.room_id, o.meeting_id, o.reason
            )
            .map_err(io)?;
        }
    }
    writeln!(
        out,
        "sweeper: {}ended {}, rooms deleted {}, idempotency keys purged {}",
        if swept.skipped { "skipped; " } else { "" },
        swept.ended,
        swept.rooms_deleted,
        swept.idempotency_purged
    )
    .map_err(io)
}

/// Runs `roomgate health`: GETs the URL, succeeding only on `200`.
pub async fn health_command(url: &str) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{url}: {}", e.without_url()))?;
    if response.status() == reqwest::StatusCode::OK {
        Ok(())
    } else {
        Err(format!("{url}: HTTP {}", response.status()))
    }
}
