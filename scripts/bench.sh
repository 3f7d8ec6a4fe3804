#!/usr/bin/env bash
# Load-tests a release build of roomgate against the sandbox with wrk, on this machine.
#   cargo build --release --locked && ./scripts/bench.sh            # SQLite
#   BENCH_DATABASE_URL=postgres://u:p@127.0.0.1/db ./scripts/bench.sh # PostgreSQL
# Prints requests/s and latency per scenario and roomgate's memory (RSS) before and after.
# wrk and roomgate share the machine's cores: the figures are for comparing runs, not a ceiling.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath target/release/roomgate)
duration=${BENCH_SECONDS:-10}
connections=${BENCH_CONNECTIONS:-32}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
dir=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
sandbox_port=$(free_port)
port=$(free_port)
export ENABLEX_APP_ID=64a1b2c3d4e5f60718293a4b ENABLEX_APP_KEY=benchKey0123456789abcdefghijklmnopqrstuv
export DATABASE_URL=${BENCH_DATABASE_URL:-sqlite://$dir/bench.db}
"$bin" sandbox --listen "127.0.0.1:$sandbox_port" >"$dir/sandbox.log" 2>&1 &
sandbox_pid=$!
RUST_LOG=warn ENABLEX_API_URL="http://127.0.0.1:$sandbox_port/video/v1" EMBED_SUBDOMAIN=bench \
  ROOMGATE_LISTEN="127.0.0.1:$port" RATE_LIMIT_PER_MINUTE=0 BACKGROUND_JOBS=false \
  "$bin" serve >"$dir/roomgate.log" 2>&1 &
pid=$!
trap 'kill $pid $sandbox_pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do "$bin" health --url "http://127.0.0.1:$port/healthz" 2>/dev/null && break; sleep 0.1; done
key=$("$bin" keys create --name "bench-$RANDOM" 2>/dev/null)
base="http://127.0.0.1:$port"
rss() { awk '/VmRSS|VmHWM/ {printf "%s %s kB  ", $1, $2}' "/proc/$pid/status"; echo; }
echo "roomgate $(basename "$DATABASE_URL" | cut -c1-20)… ${duration}s per scenario, $connections connections, $(nproc) cores"
echo "memory at rest: $(rss)"
create='{"name":"Bench","kind":"permanent"}'
id=$(curl -s -X POST "$base/meetings" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d "$create" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
cat >"$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$create'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
LUA
cat >"$dir/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $key"
LUA
run() {
  local name=$1; shift
  echo "--- $name"
  wrk -t2 -c"$connections" -d"${duration}s" --latency "$@" | grep -E "Requests/sec|Latency  |50%|99%|Non-2xx|errors"
}
run "GET /healthz (no auth, no database)" "$base/healthz"
run "GET /meetings/{id} (key check + one row)" -s "$dir/get.lua" "$base/meetings/$id"
run "POST /meetings (row, EnableX create, row update)" -s "$dir/post.lua" "$base/meetings"
run "GET /meetings?limit=20 (key check + page of 20)" -s "$dir/get.lua" "$base/meetings?limit=20"
echo "memory after load: $(rss)"
echo "meetings stored: $("$bin" meetings list --limit 1000 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') (listing capped at 1000)"
