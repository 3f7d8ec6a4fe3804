//! Ops commands that work on the configured database: `roomgate keys ...`.

use crate::auth::keys;
use crate::config::{DatabaseArgs, KeysCommand};
use crate::meetings::now;
use crate::store::{self, Store, StoreError};
use secrecy::ExposeSecret;
use serde_json::json;
use std::io::Write;

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
                    "a live key named '{name}' exists already; revoke it first or pick another name"
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
        KeysCommand::Revoke { name } => {
            if !store
                .revoke_key(&name, now())
                .await
                .map_err(|e| format!("database: {e}"))?
            {
                return Err(format!("no live key is named '{name}'"));
            }
            writeln!(out, "revoked '{name}'").map_err(io)?;
        }
    }
    Ok(())
}
