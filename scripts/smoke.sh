#!/usr/bin/env bash
# Starts a roomgate binary in sandbox mode on a free port, as the container would
# (0.0.0.0:8080-style listen address), checks it with `roomgate health`, creates a meeting with
# the dev key it prints, and stops it with SIGTERM.
set -euo pipefail
bin=$(realpath "${1:-target/release/roomgate}")
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cd "$dir"
ROOMGATE_LISTEN="0.0.0.0:$port" LOG_FORMAT=json "$bin" serve --sandbox >out.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 100); do
  "$bin" health --url "http://127.0.0.1:$port/healthz" 2>/dev/null && break
  sleep 0.1
done
"$bin" health --url "http://127.0.0.1:$port/healthz"
key=$(sed -n 's/^ *export ROOMGATE_API_KEY=//p' out.log)
status=$(python3 - "$port" "$key" <<'PY'
import json, sys, urllib.request
port, key = sys.argv[1], sys.argv[2]
req = urllib.request.Request(f"http://127.0.0.1:{port}/meetings", method="POST",
    data=json.dumps({"name": "Smoke test", "kind": "permanent"}).encode(),
    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
with urllib.request.urlopen(req) as r:
    body = json.load(r)
    assert body["participant_url"] and body["moderator_url"], body
    print(r.status)
PY
)
[ "$status" = "201" ] || { echo "smoke: create answered $status"; cat out.log; exit 1; }
kill -TERM $pid
wait $pid
echo "smoke: release binary served, created a meeting and stopped cleanly"
