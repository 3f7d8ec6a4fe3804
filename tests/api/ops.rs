//! The ops commands against a real database, and the README's SQL against the real schema.

use crate::common::{Backend, each_backend, in_minutes, spawn_app};
use clap::Parser;
use roomgate::config::{Cli, Command, DatabaseArgs, MeetingsCommand};
use serde_json::{Value, json};

fn database(url: &str) -> DatabaseArgs {
    DatabaseArgs {
        database_url: Some(url.to_owned()),
        ..Default::default()
    }
}

fn list(kind: Option<&str>, status: Option<&str>, json: bool) -> MeetingsCommand {
    MeetingsCommand::List {
        owner_ref: None,
        kind: kind.map(str::to_owned),
        status: status.map(str::to_owned),
        starts_after: None,
        starts_before: None,
        limit: 50,
        after: None,
        json,
    }
}

async fn run(command: MeetingsCommand, url: &str) -> Result<String, String> {
    let mut out = Vec::new();
    roomgate::ops::meetings_command(command, database(url), &mut out).await?;
    Ok(String::from_utf8(out).expect("utf8"))
}

#[tokio::test]
async fn meetings_list_show_migrate_and_reconcile() {
    for backend in each_backend().await {
        let app = spawn_app(backend).await.expect("backend");
        let scheduled = app.create(json!({"name": "Board meeting", "kind": "scheduled", "starts_at": in_minutes(90), "duration_minutes": 60})).await;
        app.create(json!({"name": "Drop-in", "kind": "permanent"}))
            .await;
        let listed: Value = serde_json::from_str(
            &run(list(Some("scheduled"), None, true), &app.database_url)
                .await
                .expect("list"),
        )
        .expect("json");
        assert_eq!(listed.as_array().expect("rows").len(), 1, "{backend:?}");
        assert_eq!(listed[0]["id"], scheduled["id"]);
        assert_eq!(listed[0]["created_by"], "key:owner");
        let table = run(list(None, None, false), &app.database_url)
            .await
            .expect("list");
        assert!(
            table.starts_with("ID") && table.contains("Board meeting") && table.contains("Drop-in"),
            "{table}"
        );
        let bad = run(list(Some("weekly"), None, false), &app.database_url)
            .await
            .unwrap_err();
        assert!(bad.contains("--kind"), "{bad}");

        let id = scheduled["id"].as_str().expect("id").to_owned();
        let shown: Value = serde_json::from_str(
            &run(
                MeetingsCommand::Show {
                    id: id.clone(),
                    json: true,
                },
                &app.database_url,
            )
            .await
            .expect("show"),
        )
        .expect("json");
        assert_eq!(
            (shown["name"].clone(), shown["status"].clone()),
            (json!("Board meeting"), json!("scheduled"))
        );
        let text = run(MeetingsCommand::Show { id, json: false }, &app.database_url)
            .await
            .expect("show");
        assert!(
            text.lines().any(|l| l.starts_with("room_id")
                && l.contains(scheduled["room_id"].as_str().expect("room"))),
            "{text}"
        );

        let mut out = Vec::new();
        roomgate::ops::migrate_command(database(&app.database_url), &mut out)
            .await
            .expect("migrate");
        assert!(
            String::from_utf8(out)
                .expect("utf8")
                .contains("latest schema")
        );

        // `roomgate reconcile` with serve's settings, parsed as the command line would be.
        let cli = Cli::try_parse_from([
            "roomgate",
            "reconcile",
            "--json",
            "--app-id",
            &app.sandbox_config.app_id,
            "--app-key",
            secrecy::ExposeSecret::expose_secret(&app.sandbox_config.app_key),
            "--api-url",
            &app.sandbox.api_url(),
            "--embed-subdomain",
            "acme",
            "--database-url",
            &app.database_url,
        ])
        .expect("parses");
        let Some(Command::Reconcile { serve, json }) = cli.command else {
            panic!("reconcile")
        };
        let mut out = Vec::new();
        roomgate::ops::reconcile_command(*serve, json, &mut out)
            .await
            .expect("reconcile");
        let report: Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(report["reconciler"]["skipped"], false);
        assert_eq!(report["reconciler"]["orphans"], json!([]));
        assert_eq!(report["sweeper"]["ended"], 0);
    }
}

#[tokio::test]
async fn the_readme_sql_runs_against_the_real_schema() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    app.create(json!({"name": "Counted", "kind": "permanent", "settings": {"quality": "HD"}}))
        .await;
    let readme = std::fs::read_to_string(format!("{}/README.md", env!("CARGO_MANIFEST_DIR")))
        .expect("README");
    let queries: Vec<&str> = readme
        .split("```sql")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .collect();
    assert!(queries.len() >= 4, "the README documents its queries");
    let pool = sqlx::PgPool::connect(&app.database_url)
        .await
        .expect("connect");
    for query in queries {
        let rows = sqlx::query(query).fetch_all(&pool).await;
        assert!(
            rows.is_ok(),
            "README query fails: {query}\n{:?}",
            rows.err()
        );
    }
    let (per_caller,): (i64,) =
        sqlx::query_as("SELECT count(*) FILTER (WHERE settings->>'quality' = 'HD') FROM meetings")
            .fetch_one(&pool)
            .await
            .expect("query");
    assert_eq!(per_caller, 1);
}
