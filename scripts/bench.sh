#!/usr/bin/env bash
# The SCIM API load benchmark: builds the release binary, starts `roster serve` on a fresh
# database, runs `roster bench` against it and prints the table, then stops the server.
#
#   ./scripts/bench.sh                         # SQLite, 100,000 users
#   ./scripts/bench.sh sqlite --users 1000000  # SQLite, a million users
#   ./scripts/bench.sh postgres                # a throwaway PostgreSQL 15 cluster
#   ./scripts/bench.sh both --users 1000000
#
# Arguments after the backend go to `roster bench` (see `roster bench --help`); ROSTER_BIN=path
# benchmarks that binary instead of building one (to compare two builds); ROSTER_LOG=info logs
# more of the server (e.g. how long a rule change's walk and catch-up took),
# BENCH_LOG_DIR=dir (relative to the checkout, e.g. target/bench-logs) keeps the logs there
# (server-sqlite.log, server-postgres.log, PostgreSQL's pg.log), and BENCH_PG_OPTIONS="-c …"
# adds PostgreSQL settings (e.g. auto_explain). The PostgreSQL
# cluster is durable as shipped (fsync and synchronous_commit on), like a production one.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

BACKEND="${1:-sqlite}"
case "$BACKEND" in
  sqlite | postgres | both) shift || true ;;
  -*) BACKEND=sqlite ;;
  *) echo "usage: $0 [sqlite|postgres|both] [roster bench options]" >&2; exit 2 ;;
esac

# ROSTER_BIN=path runs that binary instead (to compare two builds side by side).
if [ -n "${ROSTER_BIN:-}" ]; then
  BIN="$ROSTER_BIN"
else
  say "cargo build --release -p roster-server"
  cargo build --release -q -p roster-server
  BIN="$ROOT/target/release/roster"
fi
WORK="$(mktemp -d /tmp/roster-bench.XXXXXX)"
SERVER_PID=""
PG_DATA=""
PG_BIN=/usr/lib/postgresql/15/bin

# The throwaway cluster stops with `-m immediate`: its directory is deleted right after, so a
# shutdown checkpoint (a minute or more after a million-user run on a slow disk) is wasted.
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$PG_DATA" ]; then pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true; fi
  if [ -n "${BENCH_LOG_DIR:-}" ]; then mkdir -p "$BENCH_LOG_DIR" && cp "$WORK"/server-*.log "$WORK"/pg.log "$BENCH_LOG_DIR"/ 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

pg_as() {
  if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_postgres() {
  [ -x "$PG_BIN/initdb" ] || apt_install postgresql
  [ "$(id -u)" = 0 ] && chown nobody "$WORK"
  local port
  port="$(free_port)"
  pg_as "$PG_BIN/initdb" -D "$PG_DATA" -U roster --auth=trust --encoding=UTF8 --locale=C >/dev/null
  pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$WORK/pg.log" -w -t 60 \
    -o "-p $port -k $WORK -c listen_addresses=127.0.0.1 -c shared_buffers=512MB -c max_connections=100 ${BENCH_PG_OPTIONS:-}" start >/dev/null
  echo "postgres://roster@127.0.0.1:$port/postgres"
}

bench_one() {
  local backend="$1"; shift
  local url
  # PG_DATA is set here, not in start_postgres: that runs in a subshell ($(…)), where it was
  # lost, so neither this function nor the cleanup stopped the cluster.
  if [ "$backend" = postgres ]; then
    PG_DATA="$WORK/pg"
    url="$(start_postgres)"
  else
    url="sqlite://$WORK/bench.db"
  fi
  local port
  port="$(free_port)"
  say "roster serve on $backend (port $port)"
  RUST_LOG="${ROSTER_LOG:-warn}" "$BIN" serve --database-url "$url" --bind "127.0.0.1:$port" --webhook-allow-loopback \
    --public-url "http://127.0.0.1:$port" --scim-rate-limit 0 2>"$WORK/server-$backend.log" &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  RUST_LOG=warn "$BIN" bench --database-url "$url" --url "http://127.0.0.1:$port" --server-pid "$SERVER_PID" "$@"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  if [ -n "$PG_DATA" ]; then pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null; PG_DATA=""; fi
}

case "$BACKEND" in
  sqlite) bench_one sqlite "$@" ;;
  postgres) bench_one postgres "$@" ;;
  both) bench_one sqlite "$@"; bench_one postgres "$@" ;;
esac
