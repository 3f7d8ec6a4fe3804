#!/usr/bin/env bash
# Issue 10's benchmark: one reconciler run and one sweeper run with ROOMS (100,000) rooms in the
# sandbox and as many meeting rows in PostgreSQL, and roomgate's resident memory while they run
# against its idle size.
#
#   cargo build --release --locked && ./scripts/bench-jobs.sh
#
# The sandbox runs in its own process (`roomgate sandbox`); roomgate serves with its background
# jobs on, starts idle (empty database, empty sandbox), is measured, then the sandbox is seeded
# and the rows written, and the next periodic run of both jobs is watched. Needs psql and a
# PostgreSQL where BENCH_DATABASE_URL's user may create databases (scripts/test.sh makes one).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${BIN:-target/release/roomgate}")
rooms=${ROOMS:-100000}
server=${BENCH_DATABASE_URL:-postgres://roomgate_test:roomgate_test@127.0.0.1:5432/roomgate_test}
interval=${INTERVAL_SECS:-20}
base=${server%/*}
name="roomgate_bench_jobs_$$"
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cleanup() {
  kill "${serve_pid:-}" "${sandbox_pid:-}" "${sampler_pid:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  psql "$server" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
psql "$server" -qc "CREATE DATABASE $name" >/dev/null
database="$base/$name"

sandbox_port=$(free_port)
"$bin" sandbox --listen "127.0.0.1:$sandbox_port" >"$work/sandbox.out" 2>"$work/sandbox.log" &
sandbox_pid=$!
for _ in $(seq 100); do grep -q ENABLEX_APP_KEY "$work/sandbox.out" 2>/dev/null && break; sleep 0.1; done
eval "export $(grep ENABLEX_APP_ID "$work/sandbox.out") $(grep ENABLEX_APP_KEY "$work/sandbox.out")"

port=$(free_port)
ENABLEX_API_URL="http://127.0.0.1:$sandbox_port/video/v1" EMBED_SUBDOMAIN=bench \
  DATABASE_URL="$database" ROOMGATE_LISTEN="127.0.0.1:$port" LOG_FORMAT=json \
  RECONCILE_INTERVAL_SECS="$interval" RECONCILE_GRACE_SECS=0 RATE_LIMIT_PER_MINUTE=0 \
  "$bin" serve >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 100); do grep -q '"sweeper run finished"' "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2}' "/proc/$serve_pid/status"; }
sleep 1
idle=$(rss)

# Seed: room i carries meeting id 00000000-0000-7000-8000-<i, 12 digits>. All but the last
# 1,000 rows are open ad-hoc meetings with their room; the last 1,000 are creations whose
# answer was lost (provisioning, no room id), which the reconciler completes from the listing.
curl -sf -X POST "http://127.0.0.1:$sandbox_port/_sandbox/seed" -H 'content-type: application/json' \
  -d "{\"count\": $rooms, \"adhoc\": true}" >/dev/null
psql "$database" -q <<SQL
INSERT INTO meetings (id, room_id, kind, name, owner_ref, created_by, embed, settings, state,
                      created_at, updated_at)
SELECT ('00000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid,
       CASE WHEN i < $rooms - 1000 THEN 'seed' || lpad(i::text, 8, '0') END,
       'adhoc', 'Seeded ' || i, 'bench', 'key:bench', 'premium',
       '{"mode":"group","moderators":1,"participants":10,"quality":"SD","max_active_talkers":6,
         "screen_share":false,"canvas":false,"abwd":true,"auto_recording":false,
         "wait_for_moderator":false,"knock":false,"media_zone":"XX"}'::jsonb,
       CASE WHEN i < $rooms - 1000 THEN 'active' ELSE 'provisioning' END,
       now() - interval '1 hour', now() - interval '1 hour'
FROM generate_series(0, $rooms - 1) AS i;
ANALYZE meetings;
SQL

# Sample the resident size while the next runs go on.
(while kill -0 "$serve_pid" 2>/dev/null; do rss >>"$work/rss" 2>/dev/null || true; sleep 0.1; done) &
sampler_pid=$!
for _ in $(seq $((interval * 10 + 1200))); do
  [ "$(grep -c '"sweeper run finished"' "$work/serve.log")" -ge 2 ] && break
  sleep 0.1
done
kill "$sampler_pid" 2>/dev/null || true
peak=$(sort -n "$work/rss" | tail -n 1)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$serve_pid/status")

python3 - "$work/serve.log" "$idle" "$peak" "$hwm" "$rooms" <<'PY'
import json, sys
log, idle, peak, hwm, rooms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
runs = {}
for line in open(log):
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    fields = entry.get("fields", entry)
    message = fields.get("message", "")
    if message in ("reconciler run finished", "sweeper run finished"):
        runs.setdefault(message.split()[0], []).append(fields)
rec, swe = runs["reconciler"][-1], runs["sweeper"][-1]
print(f"rooms upstream and meeting rows: {rooms:,}")
print(f"reconciler: {rec['elapsed_ms'] / 1000:.1f} s; {rec['rooms_listed']:,} rooms listed in "
      f"{rec['enablex_calls']} EnableX call(s), {rec['queries']} queries; completed "
      f"{rec['completed']}, failed {rec['failed']}, orphans {rec['orphans']}, whole listing: {rec['listing_complete']}")
print(f"sweeper:    {swe['elapsed_ms'] / 1000:.1f} s; {swe['adhoc_checked']:,} ad-hoc meetings checked, "
      f"{swe['enablex_calls']} EnableX call(s), {swe['queries']} queries; ended {swe['ended']}")
print(f"resident memory: idle {idle / 1024:.1f} MiB, peak while running {peak / 1024:.1f} MiB "
      f"(+{(peak - idle) / 1024:.1f} MiB; high-water mark {hwm / 1024:.1f} MiB)")
PY
