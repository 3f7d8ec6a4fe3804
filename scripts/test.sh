#!/usr/bin/env bash
# Runs roomgate's whole test suite against SQLite and PostgreSQL.
# On a fresh Debian machine it installs PostgreSQL if missing, starts it, and creates a test
# role and database; with TEST_DATABASE_URL already set it uses that server instead.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    echo "== installing PostgreSQL"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version main"; then
    as_root pg_createcluster "$version" main >/dev/null
  fi
  as_root pg_ctlcluster "$version" main start 2>/dev/null || true
  port=$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')
  for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 0.5
  done
  pg_isready -h 127.0.0.1 -p "$port"
  as_root su postgres -c "psql -q -p $port -v ON_ERROR_STOP=1" <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'roomgate_test') THEN
    CREATE ROLE roomgate_test LOGIN CREATEDB PASSWORD 'roomgate_test';
  END IF;
END $$;
SQL
  if ! as_root su postgres -c "psql -p $port -tAc \"SELECT 1 FROM pg_database WHERE datname = 'roomgate_test'\"" | grep -q 1; then
    as_root su postgres -c "createdb -p $port -O roomgate_test roomgate_test"
  fi
  export TEST_DATABASE_URL="postgres://roomgate_test:roomgate_test@127.0.0.1:$port/roomgate_test"
fi

echo "== cargo test (SQLite, and PostgreSQL at ${TEST_DATABASE_URL%%@*}@...)"
cargo test --locked "$@"
