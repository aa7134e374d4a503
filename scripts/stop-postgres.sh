#!/usr/bin/env bash
# stop-postgres.sh — stop the throwaway cluster scripts/start-postgres.sh started in DIR.
#
# Usage: scripts/stop-postgres.sh --state-dir DIR [--remove]    (--remove also deletes DIR)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
state=""
remove=0
while [ $# -gt 0 ]; do
    case "$1" in
        --state-dir) state="$2"; shift 2 ;;
        --remove) remove=1; shift ;;
        *) echo "stop-postgres.sh: unknown option $1" >&2; exit 64 ;;
    esac
done
[ -n "$state" ] || { echo "stop-postgres.sh: --state-dir DIR is required" >&2; exit 64; }
bin="$("$root/scripts/setup-postgres.sh")"
if [ -f "$state/data/PG_VERSION" ]; then
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$bin/pg_ctl" -D "$state/data" -m fast -w stop >/dev/null 2>&1 || true
    else
        "$bin/pg_ctl" -D "$state/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
fi
if [ "$remove" = 1 ]; then rm -rf "$state"; fi
