//! Prometheus metrics: the recorder, the names, and what is sampled when `/metrics` is read.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

pub const HTTP_REQUESTS: &str = "roomgate_http_requests_total";
pub const HTTP_DURATION: &str = "roomgate_http_request_duration_seconds";
pub const ENABLEX_CALLS: &str = "roomgate_enablex_calls_total";
pub const ENABLEX_DURATION: &str = "roomgate_enablex_call_duration_seconds";
pub const ENABLEX_CIRCUIT_OPEN: &str = "roomgate_enablex_circuit_open";
pub const MEETINGS_CREATED: &str = "roomgate_meetings_created_total";
pub const DB_POOL_CONNECTIONS: &str = "roomgate_db_pool_connections";
pub const DB_POOL_MAX: &str = "roomgate_db_pool_max_connections";
pub const JOB_RUNS: &str = "roomgate_job_runs_total";
pub const RECONCILED: &str = "roomgate_reconciled_meetings_total";
pub const ORPHANED_ROOMS: &str = "roomgate_orphaned_rooms";
pub const MEETINGS_ENDED: &str = "roomgate_meetings_ended_total";
pub const UNREADABLE_ROWS: &str = "roomgate_unreadable_rows_total";
pub const OPEN_CONNECTIONS: &str = "roomgate_http_connections_open";
pub const AUTH_REFUSALS: &str = "roomgate_auth_refusals_total";
pub const DB_STATEMENTS: &str = "roomgate_db_grouped_statements_total";
pub const DB_ITEMS: &str = "roomgate_db_grouped_items_total";

/// Connection pool figures, sampled when metrics are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder, installed on first use (later calls share it).
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let latency = [
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ];
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".into()), &latency)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then this handle renders an
        // empty registry rather than stopping the service.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed");
        }
        for (name, help) in [
            (
                HTTP_REQUESTS,
                "HTTP requests by matched route, method and status",
            ),
            (
                HTTP_DURATION,
                "HTTP request latency by matched route and method",
            ),
            (ENABLEX_CALLS, "EnableX calls by operation and outcome"),
            (ENABLEX_DURATION, "EnableX call latency by operation"),
            (
                ENABLEX_CIRCUIT_OPEN,
                "1 while the EnableX circuit breaker fails calls fast",
            ),
            (MEETINGS_CREATED, "Meetings created, by kind"),
            (
                DB_POOL_CONNECTIONS,
                "Database pool connections by state (idle, in_use)",
            ),
            (DB_POOL_MAX, "Database pool size limit"),
            (
                JOB_RUNS,
                "Background job runs by job (reconciler, sweeper) and outcome (ok, skipped, error)",
            ),
            (
                RECONCILED,
                "Meetings the reconciler settled, by result (completed, failed; resynced and resync_gave_up for changes whose outcome at EnableX was unknown)",
            ),
            (
                ORPHANED_ROOMS,
                "Upstream rooms no active meeting accounts for, at the last reconciler run",
            ),
            (MEETINGS_ENDED, "Meetings the sweeper marked ended"),
            (
                UNREADABLE_ROWS,
                "Stored rows left out of an answer or a job run because they cannot be read",
            ),
            (
                DB_STATEMENTS,
                "Grouped database statements (one commit or query each), by kind (inserts, activations, grants, lookups, claims, completions)",
            ),
            (
                DB_ITEMS,
                "Rows written or ids read by grouped statements, by kind: divided by the statements, the mean group size",
            ),
            (
                AUTH_REFUSALS,
                "Requests refused by authentication, by reason (missing, bad_key, bad_token, no_verifier, limited)",
            ),
        ] {
            metrics::describe_counter!(name, help);
        }
        metrics::describe_gauge!(
            OPEN_CONNECTIONS,
            "HTTP connections open now (at most MAX_CONNECTIONS)"
        );
        handle
    })
}

/// Samples the gauges that are read, not counted, and renders the exposition text.
pub fn render(pool: PoolStats, circuit_open: bool) -> String {
    let handle = handle();
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "in_use")
        .set(f64::from(pool.size.saturating_sub(pool.idle)));
    metrics::gauge!(DB_POOL_MAX).set(f64::from(pool.max));
    metrics::gauge!(ENABLEX_CIRCUIT_OPEN).set(if circuit_open { 1.0 } else { 0.0 });
    handle.render()
}
