#!/usr/bin/env bash
# start-postgres.sh — start a throwaway PostgreSQL cluster for Baton's run store, and print its URL.
#
# Usage:
#   scripts/start-postgres.sh --state-dir DIR [--port N] [--listen ADDRESSES] [--timeout 60]
#
# What it does:
#   1. Finds the server programs (scripts/setup-postgres.sh; installs Debian's package when missing).
#   2. First time only: `initdb` of DIR/data with the role `baton` as superuser, trust authentication (a
#      throwaway cluster for tests and benchmarks: never expose it), UTF-8, no fsync (its data is not worth
#      keeping; a restart with `pg_ctl restart -m immediate` still recovers from the WAL, which is what the
#      tests exercise). PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres`
#      user and is run through runuser.
#   3. Starts it with pg_ctl on ADDRESSES (default 127.0.0.1; a test with network namespaces passes its
#      bridge address too) and port N (default: a free one), its Unix socket in DIR, its log in DIR/postgres.log,
#      and creates the database `baton`.
#   4. Prints BATON_POSTGRES_URL=postgres://baton@HOST:PORT/baton (HOST: the first listen address).
#
# Files in DIR: data/ (the cluster), port, url, postgres.log. Idempotent: when the cluster in DIR is
# running, it prints its URL again. scripts/stop-postgres.sh --state-dir DIR stops it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

state=""
port=""
listen="127.0.0.1"
timeout=60
while [ $# -gt 0 ]; do
    case "$1" in
        --state-dir) state="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        --listen) listen="$2"; shift 2 ;;
        --timeout) timeout="$2"; shift 2 ;;
        *) echo "start-postgres.sh: unknown option $1" >&2; exit 64 ;;
    esac
done
[ -n "$state" ] || { echo "start-postgres.sh: --state-dir DIR is required" >&2; exit 64; }
bin="$("$root/scripts/setup-postgres.sh")"
mkdir -p "$state"
state="$(cd "$state" && pwd)"

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "$(id -u)" = 0 ]; then chown postgres "$state"; fi
host="${listen%%,*}"
if [ -f "$state/port" ] && as_owner "$bin/pg_ctl" -D "$state/data" status >/dev/null 2>&1; then
    port="$(cat "$state/port")"
    echo "BATON_POSTGRES_URL=postgres://baton@$host:$port/baton"
    exit 0
fi
if [ ! -f "$state/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$state/data" -U baton --auth=trust -E UTF8 --locale=C.UTF-8 >"$state/initdb.log" 2>&1 \
        || { cat "$state/initdb.log" >&2; exit 1; }
fi
if [ -z "$port" ]; then
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
fi
echo "$port" > "$state/port"
# max_connections: several workers, each with a small pool and a LISTEN connection, plus the tests' samplers.
as_owner "$bin/pg_ctl" -D "$state/data" -l "$state/postgres.log" -w -t "$timeout" \
    -o "-c listen_addresses='$listen' -p $port -k $state -c fsync=off -c synchronous_commit=on -c max_connections=200 -c full_page_writes=off" \
    start >/dev/null || { tail -20 "$state/postgres.log" >&2; exit 1; }
if ! as_owner "$bin/psql" -h "$state" -p "$port" -U baton -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'baton'" | grep -q 1; then
    as_owner "$bin/createdb" -h "$state" -p "$port" -U baton baton
fi
echo "postgres://baton@$host:$port/baton" > "$state/url"
echo "BATON_POSTGRES_URL=postgres://baton@$host:$port/baton"
