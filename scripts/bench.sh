#!/usr/bin/env bash
# roomgate side by side with the two-write reference (bench/reference.rs) and the Node sample
# stand-in (bench/node-sample/server.js), all against one EnableX sandbox, in one run (issue 11).
# roomgate runs twice over one database: with its defaults ("roomgate": answers carry the owner's
# moderator URL, each one recorded durably before the answer) and with MODERATOR_URL_IN_ANSWERS=false
# ("withheld": no URL in answers, so nothing to record). Reads cycle over 1,000 meetings each.
#
#   cargo build --release --locked --bin roomgate --examples
#   BENCH_DATABASE_URL=postgres://user:pass@127.0.0.1:5432/db ./scripts/bench.sh [--write]
#
# BENCH_DATABASE_URL: a PostgreSQL role that may CREATE DATABASE; two fresh databases are made
#   (roomgate's, the reference's) and dropped at the end.
# BENCH_SECONDS (10): seconds per wrk run. BENCH_ROUNDS (3): runs per server and scenario, the
#   order rotated each round (roomgate, withheld, reference, node; withheld, reference, node, roomgate; ...); the
#   median run (by requests/s) is reported. CARGO_TARGET_DIR (target): where the builds are.
# Every run also counts the CPU time (from /proc) of the server under test, of PostgreSQL (the
#   connections to the server's database, which both roomgates share; the rest of the local
#   postgres processes apart, including work left by the run before) and of the sandbox, per
#   request answered: where each figure's time went.
# BENCH_PROFILE=1: after every counted run, one more roomgate run (defaults) of each 64-client
#   scenario under `perf record -a`; its profile (the machine's samples by process, then each
#   process's top functions) is printed and, with --write, kept as docs/profiles/<scenario>.txt.
#   Needs perf and the right to profile every process (root, or kernel.perf_event_paranoid <= 0).
# --write: rewrites the marked section of docs/benchmarks.md with the table and this command.
# Builds nothing. Everything shares this machine's cores: compare ratios, not absolute figures.
set -euo pipefail
cd "$(dirname "$0")/.."
write=false
case "${1:-}" in
  --write) write=true ;;
  "") ;;
  *) awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0" >&2; exit 2 ;;
esac
: "${BENCH_DATABASE_URL:?set BENCH_DATABASE_URL to a PostgreSQL URL whose role may CREATE DATABASE}"
seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
rows_wanted=100000
held_connections=1000
target=${CARGO_TARGET_DIR:-target}
bin=$target/release/roomgate
reference=$target/release/examples/reference
build="cargo build --release --locked --bin roomgate --examples"
sources=(src migrations bench/reference.rs build.rs Cargo.toml Cargo.lock) # what the builds are made of
for f in "$bin" "$reference"; do
  [[ -x $f ]] || { echo "$f is missing: $build" >&2; exit 1; }
  # A build older than the sources would measure other code than the run says it does.
  newer=$(find "${sources[@]}" -type f \( -name '*.rs' -o -name '*.sql' -o -name '*.html' \
             -o -name '*.js' -o -name '*.css' -o -name 'Cargo.*' \) -newer "$f" -print -quit)
  [[ -z $newer ]] || {
    echo "$f is older than $newer: $build (if cargo says it is fresh: touch $f)" >&2; exit 1; }
done
for tool in wrk node psql python3 curl pgrep; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (wrk: apt-get install wrk)" >&2; exit 1; }
done
profile=${BENCH_PROFILE:-0}
if [[ $profile == 1 ]]; then
  command -v perf >/dev/null || { echo "BENCH_PROFILE=1 needs perf (apt-get install linux-perf)" >&2; exit 1; }
  perf record -a -o /dev/null -- true >/dev/null 2>&1 ||
    { echo "BENCH_PROFILE=1: perf may not profile every process here (run as root, or lower kernel.perf_event_paranoid)" >&2; exit 1; }
fi

load=$(cut -d' ' -f1-3 /proc/loadavg) # other work on the machine skews every figure: say so
dir=$(mktemp -d)
mkdir "$dir/wrk" "$dir/cpu" "$dir/profiles"
pids=()
databases=()
admin_psql() { psql "$BENCH_DATABASE_URL" -v ON_ERROR_STOP=1 -qAtX "$@"; }
cleanup() {
  local pid i
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  for db in "${databases[@]}"; do
    admin_psql -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || echo "could not drop $db" >&2
  done
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# BENCH_DATABASE_URL with another database name.
db_url() {
  python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' \
    "$BENCH_DATABASE_URL" "$1"
}
new_database() {
  admin_psql -c "CREATE DATABASE $1"
  databases+=("$1")
}
# start NAME COMMAND...: in the background, logging to $dir/NAME.log; sets $started.
start() {
  local name=$1; shift
  "$@" >"$dir/$name.log" 2>&1 &
  started=$!
  pids+=("$started")
}
# until_answers NAME PID URL: waits up to 10 s for any HTTP answer at URL.
until_answers() {
  local i
  for i in $(seq 1 100); do
    curl -s -o /dev/null "$3" && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "$1 did not start:" >&2; cat "$dir/$1.log" >&2; exit 1
}
rss_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

id=$$
rg_db=roomgate_bench_${id}_roomgate
ref_db=roomgate_bench_${id}_reference
new_database "$rg_db"
new_database "$ref_db"
export ENABLEX_APP_ID ENABLEX_APP_KEY
ENABLEX_APP_ID=$(python3 -c 'import secrets; print(secrets.token_hex(12))')
ENABLEX_APP_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(20))')
sandbox_port=$(free_port) rg_port=$(free_port) wh_port=$(free_port) ref_port=$(free_port) node_port=$(free_port)
upstream=http://127.0.0.1:$sandbox_port/video/v1

start sandbox "$bin" sandbox --listen "127.0.0.1:$sandbox_port" --app-id "$ENABLEX_APP_ID" --app-key "$ENABLEX_APP_KEY"
sandbox_pid=$started
until_answers sandbox "$started" "http://127.0.0.1:$sandbox_port/"
start roomgate env DATABASE_URL="$(db_url "$rg_db")" ENABLEX_API_URL="$upstream" EMBED_SUBDOMAIN=bench \
  ROOMGATE_LISTEN="127.0.0.1:$rg_port" RATE_LIMIT_PER_MINUTE=0 BACKGROUND_JOBS=false RUST_LOG=warn \
  MAX_CONNECTIONS_PER_ADDRESS=$((held_connections + 100)) \
  "$bin" serve
rg_pid=$started
until_answers roomgate "$rg_pid" "http://127.0.0.1:$rg_port/healthz"
start withheld env DATABASE_URL="$(db_url "$rg_db")" ENABLEX_API_URL="$upstream" EMBED_SUBDOMAIN=bench \
  ROOMGATE_LISTEN="127.0.0.1:$wh_port" RATE_LIMIT_PER_MINUTE=0 BACKGROUND_JOBS=false RUST_LOG=warn \
  MODERATOR_URL_IN_ANSWERS=false "$bin" serve
wh_pid=$started
until_answers withheld "$started" "http://127.0.0.1:$wh_port/healthz"
start reference env DATABASE_URL="$(db_url "$ref_db")" ENABLEX_API_URL="$upstream" \
  LISTEN="127.0.0.1:$ref_port" "$reference"
ref_pid=$started
until_answers reference "$started" "http://127.0.0.1:$ref_port/"
start node env PORT="$node_port" ENABLEX_API_URL="$upstream" node bench/node-sample/server.js
node_pid=$started
until_answers node "$started" "http://127.0.0.1:$node_port/"
declare -A server_pid=([roomgate]=$rg_pid [withheld]=$wh_pid [reference]=$ref_pid [node]=$node_pid)
declare -A server_db=([roomgate]=$rg_db [withheld]=$rg_db [reference]=$ref_db [node]="")
sleep 1
echo "rss_idle_kb=$(rss_kb "$rg_pid" VmRSS)" >>"$dir/facts"

key=$(DATABASE_URL=$(db_url "$rg_db") "$bin" keys create --name bench 2>"$dir/keys.log") ||
  { cat "$dir/keys.log" >&2; exit 1; }
rg=http://127.0.0.1:$rg_port wh=http://127.0.0.1:$wh_port ref=http://127.0.0.1:$ref_port node=http://127.0.0.1:$node_port
body='{"name":"Bench","kind":"permanent"}'
lua() { # lua FILE METHOD [HEADER VALUE]
  { echo "wrk.method = \"$2\""
    [[ $2 == POST ]] && echo "wrk.body = '$body'" && echo 'wrk.headers["Content-Type"] = "application/json"'
    [[ -n ${3:-} ]] && echo "wrk.headers[\"$3\"] = \"$4\""
    true; } >"$dir/$1"
}
lua rg_post.lua POST Authorization "Bearer $key"
lua rg_get.lua GET Authorization "Bearer $key"
lua get.lua GET
lua post.lua POST
declare -A creates=(
  [roomgate]="-s $dir/rg_post.lua $rg/meetings"
  [withheld]="-s $dir/rg_post.lua $wh/meetings"
  [reference]="-s $dir/post.lua $ref/meetings"
  [node]="-s $dir/post.lua $node/api/create-room"
)

# cpu_snapshot SERVER_PID DATABASE: "group pid ticks" lines, utime + stime in clock ticks (the
# fields after the command name's closing parenthesis), for the server, the sandbox and every local
# postgres process: "postgres" for the connections to DATABASE (PostgreSQL names it in each
# connection's command line), "postgres_bg" for the rest (autovacuum, checkpointer, WAL writer,
# other databases' connections), and "postgres_gone" for the CPU of postgres processes that ended
# (the postmaster's cutime + cstime: an autovacuum worker or a connection that came, or was
# there before, and went).
cpu_snapshot() {
  local group pid title stat fields
  for pid in "$1" "$sandbox_pid" $(pgrep -x postgres || true); do
    stat=$(cat 2>/dev/null /proc/"$pid"/stat) || continue
    read -ra fields <<<"${stat##*) }" # [1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime
    case $pid in
      "$1") group=server ;;
      "$sandbox_pid") group=sandbox ;;
      *) title=$(tr '\0' ' ' 2>/dev/null </proc/"$pid"/cmdline) || continue
         if [[ -n $2 && " $title " == *" $2 "* && $title != *"autovacuum worker"* ]]; then
           group=postgres
         else
           group=postgres_bg
         fi
         if [[ $(cat 2>/dev/null /proc/"${fields[1]}"/comm) != postgres ]]; then # the postmaster
           echo "postgres_gone $pid $((fields[13] + fields[14]))"
         fi ;;
    esac
    echo "$group $pid $((fields[11] + fields[12]))"
  done
}
# wrk_run NAME SERVER CONNECTIONS SECONDS ARGS...: one wrk run, kept as $dir/wrk/NAME.txt, with
# the CPU snapshots around it as $dir/cpu/NAME.before and .after.
wrk_run() {
  local name=$1 pid=${server_pid[$2]} db=${server_db[$2]} conns=$3 secs=$4; shift 4
  cpu_snapshot "$pid" "$db" >"$dir/cpu/$name.before"
  wrk -t1 -c"$conns" -d"${secs}s" --latency "$@" >"$dir/wrk/$name.txt" 2>&1 ||
    { echo "wrk failed ($name):" >&2; cat "$dir/wrk/$name.txt" >&2; exit 1; }
  cpu_snapshot "$pid" "$db" >"$dir/cpu/$name.after"
}
# profiled SCENARIO CONNECTIONS ARGS_ARRAY: with BENCH_PROFILE=1, one more roomgate run under
# `perf record -a`, summed up by process and function in $dir/profiles/SCENARIO.txt.
profiled() {
  [[ $profile == 1 ]] || return 0
  local scenario=$1 conns=$2 data="$dir/profiles/$1.data"; local -n runs=$3
  perf record -a -e cpu-clock -F 997 -o "$data" -- wrk -t1 -c"$conns" -d"${seconds}s" --latency ${runs[roomgate]} \
    >"$dir/profiles/$scenario.wrk.txt" 2>"$dir/profiles/$scenario.perf.log" ||
    { echo "perf record failed ($scenario); no profile:" >&2; cat "$dir/profiles/$scenario.perf.log" >&2
      rm -f "$data"; return 0; }
  # An optional profile that cannot be read is said so, and the run goes on.
  if perf script -i "$data" -F pid,comm,ip,sym,dso 2>"$dir/profiles/$scenario.script.log" |
       python3 scripts/bench.py profile --scenario "$scenario" --wrk "$dir/profiles/$scenario.wrk.txt" \
         --seconds "$seconds" --process roomgate="$rg_pid" --process sandbox="$sandbox_pid" \
         --process withheld="$wh_pid" --process reference="$ref_pid" --process node="$node_pid" \
         >"$dir/profiles/$scenario.txt"; then
    cat "$dir/profiles/$scenario.txt"
  else
    echo "the $scenario profile could not be read:" >&2; cat "$dir/profiles/$scenario.script.log" >&2
    rm -f "$dir/profiles/$scenario.txt"
  fi
  rm -f "$data"
}
# side_by_side SCENARIO CONNECTIONS ARGS_ARRAY SERVER...: one run per server, BENCH_ROUNDS times,
# the order rotated every round.
side_by_side() {
  local scenario=$1 conns=$2 r s; local -n args=$3; shift 3
  local servers=("$@")
  for r in $(seq 1 "$rounds"); do
    for s in "${servers[@]}"; do
      wrk_run "$scenario.$s.r$r" "$s" "$conns" "$seconds" ${args[$s]}
      printf '%-9s %-10s round %s: %s\n' "$scenario" "$s" "$r" \
        "$(python3 scripts/bench.py line "$dir/wrk/$scenario.$s.r$r.txt")"
    done
    servers=("${servers[@]:1}" "${servers[0]}") # rotate: each server takes each place in turn
  done
}

echo "roomgate (defaults and URLs withheld), reference and Node stand-in against one sandbox; ${seconds}s per run, $rounds round(s), $(nproc) cores"
for s in roomgate withheld reference node; do wrk -t1 -c64 -d1s ${creates[$s]} >/dev/null; done # warm-up
side_by_side create64 64 creates roomgate withheld reference node
# Reads cycle over 1,000 of the meetings just made, the same list for every client, as real
# traffic reads many meetings (one hot row would make every audit row lock the same meeting).
rg_psql() { psql "$(db_url "$rg_db")" -v ON_ERROR_STOP=1 -qAtX "$@"; }
ref_psql() { psql "$(db_url "$ref_db")" -v ON_ERROR_STOP=1 -qAtX "$@"; }
# reads_lua FILE IDS_FILE: a wrk script reading /meetings/ID for each id in turn.
reads_lua() {
  { echo 'local ids = {'; sed 's/.*/"&",/' "$2"; echo '}'
    echo 'local i = 0'
    echo 'request = function() i = i % #ids + 1; return wrk.format(nil, "/meetings/" .. ids[i]) end'
  } >>"$dir/$1"
}
rg_psql -c "SELECT id FROM meetings WHERE state = 'active' AND created_by = 'key:bench' ORDER BY id DESC LIMIT 1000" >"$dir/rg_ids"
ref_psql -c "SELECT id FROM reference_meetings WHERE state = 'active' ORDER BY id DESC LIMIT 1000" >"$dir/ref_ids"
[[ $(wc -l <"$dir/rg_ids") == 1000 && $(wc -l <"$dir/ref_ids") == 1000 ]] ||
  { echo "fewer than 1,000 meetings made to read" >&2; exit 1; }
reads_lua rg_get.lua "$dir/rg_ids"
reads_lua get.lua "$dir/ref_ids"
declare -A reads=([roomgate]="-s $dir/rg_get.lua $rg/" [withheld]="-s $dir/rg_get.lua $wh/"
                  [reference]="-s $dir/get.lua $ref/")
side_by_side read64 64 reads roomgate withheld reference
side_by_side create1 1 creates roomgate withheld reference
side_by_side read1 1 reads roomgate withheld reference

# The list: a caller of its own ("list") given 100,000 meetings by one INSERT (rows shaped like
# the ones roomgate writes: UUID v7 ids in time order, its default settings), then ANALYZE; the
# table also holds every meeting the runs above made.
list_key=$(DATABASE_URL=$(db_url "$rg_db") "$bin" keys create --name list 2>"$dir/keys.log") ||
  { cat "$dir/keys.log" >&2; exit 1; }
rg_psql -v n="$rows_wanted" >/dev/null <<'SQL'
INSERT INTO meetings (id, room_id, kind, name, description, owner_ref, embed, settings, state,
                      created_at, updated_at, created_by)
SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7'
        || substr(md5(g::text), 1, 3) || '8' || substr(md5(g::text), 4, 15))::uuid,
       'seed' || lpad(to_hex(g), 20, '0'), 'permanent', 'Seeded ' || g, NULL, 'list', 'lite',
       '{"mode": "group", "moderators": 1, "participants": 10, "quality": "SD",
         "max_active_talkers": 6, "screen_share": false, "canvas": false, "abwd": true,
         "auto_recording": false, "wait_for_moderator": false, "knock": false,
         "media_zone": "XX"}'::jsonb,
       'active', t, t, 'key:list'
FROM generate_series(1, :n) AS g,
     LATERAL (SELECT now() - interval '1 day' + g * interval '1 ms' AS t) AS at;
ANALYZE meetings;
SQL
echo "rows=$(rg_psql -c "SELECT count(*) FROM meetings WHERE created_by = 'key:list' AND state = 'active'")" >>"$dir/facts"
echo "table_rows=$(rg_psql -c "SELECT count(*) FROM meetings")" >>"$dir/facts"
seeded=$(rg_psql -c "SELECT id FROM meetings WHERE name LIKE 'Seeded %' ORDER BY id LIMIT 1")
if [[ -z $seeded ]] || ! curl -fsS -o /dev/null -H "Authorization: Bearer $list_key" "$rg/meetings/$seeded"; then
  echo "roomgate cannot read a seeded row ($seeded): the seed's shape is wrong" >&2; exit 1
fi
lua rg_list.lua GET Authorization "Bearer $list_key"
declare -A lists=([roomgate]="-s $dir/rg_list.lua $rg/meetings?limit=50"
                  [withheld]="-s $dir/rg_list.lua $wh/meetings?limit=50")
for s in roomgate withheld; do wrk -t1 -c64 -d1s ${lists[$s]} >/dev/null; done # warm-up
side_by_side list64 64 lists roomgate withheld
side_by_side list1 1 lists roomgate withheld

sleep 1
{ echo "rss_after_kb=$(rss_kb "$rg_pid" VmRSS)"; echo "hwm_after_kb=$(rss_kb "$rg_pid" VmHWM)"; } >>"$dir/facts"
python3 scripts/bench.py hold --port "$rg_port" --pid "$rg_pid" --count "$held_connections" >>"$dir/facts"
# The profiles last, so that their runs' rows and leftovers touch no counted run.
profiled create64 64 creates
profiled read64 64 reads
profiled list64 64 lists

redacted=$(python3 -c 'import re, sys; print(re.sub(r"://([^:/@]+):[^@]*@", r"://\1:…@", sys.argv[1]))' "$BENCH_DATABASE_URL")
cmdline="${CARGO_TARGET_DIR:+CARGO_TARGET_DIR=$CARGO_TARGET_DIR }${BENCH_PROFILE:+BENCH_PROFILE=$BENCH_PROFILE }BENCH_SECONDS=$seconds BENCH_ROUNDS=$rounds BENCH_DATABASE_URL=$redacted ./scripts/bench.sh${1:+ $1}"
{ echo "seconds=$seconds"; echo "rounds=$rounds"; echo "cores=$(nproc)"; echo "load=$load"
  echo "cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "postgres=$(admin_psql -c 'SHOW server_version' | cut -d' ' -f1)"
  echo "commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- "${sources[@]}" || echo +changes)"
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"; echo "clk_tck=$(getconf CLK_TCK)"; } >>"$dir/facts"
echo
if $write; then
  python3 scripts/bench.py report --dir "$dir" --write docs/benchmarks.md --command "$cmdline"
  if [[ $profile == 1 ]]; then
    mkdir -p docs/profiles
    for f in "$dir"/profiles/*64.txt; do
      [[ -e $f ]] || continue
      { echo "$cmdline"; echo "$(grep '^date=' "$dir/facts" | cut -d= -f2), roomgate at $(grep '^commit=' "$dir/facts" | cut -d= -f2)"; echo
        cat "$f"; } >"docs/profiles/$(basename "$f")"
    done
    echo "(profiles written to docs/profiles/)"
  fi
else
  python3 scripts/bench.py report --dir "$dir" --command "$cmdline"
fi
