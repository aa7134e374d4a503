#!/usr/bin/env bash
# stop-llama-router.sh — stop a router started by start-llama-router.sh.
#
# Usage:
#   scripts/stop-llama-router.sh [--state-dir DIR] [--timeout 20]
#
# What it does:
#   Reads the router PID from STATE/pid (state dir default as in
#   start-llama-router.sh: ${BATON_LLAMA_STATE_DIR:-${TMPDIR:-/tmp}/baton-llama-router-$(id -u)}),
#   checks that the PID is a llama-server, sends SIGTERM (the router then stops
#   its child model servers), waits up to --timeout seconds, then SIGKILLs the
#   router's process group (router + children) if anything is left. Removes
#   STATE/pid, STATE/url and STATE/port; keeps STATE/llama-server.log.
#   Caches nothing. Running it when no router is running is not an error.
#
# Output: one line on stderr saying what happened; nothing on stdout.
#
# Exit codes:
#   0  stopped, or nothing was running
#   1  the process could not be stopped
#   2  usage error
set -euo pipefail

log() { echo "stop-llama-router: $*" >&2; }
STATE="${BATON_LLAMA_STATE_DIR:-${TMPDIR:-/tmp}/baton-llama-router-$(id -u)}"
TIMEOUT=20
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
    --state-dir) [[ $# -ge 2 ]] || { log "error: --state-dir needs a value"; exit 2; }; STATE="$2"; shift 2 ;;
    --timeout) [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || { log "error: --timeout needs a number"; exit 2; }; TIMEOUT="$2"; shift 2 ;;
    *) log "error: unknown argument: $1 (try --help)"; exit 2 ;;
  esac
done

PID_FILE="$STATE/pid"
cleanup_files() { rm -f "$STATE/pid" "$STATE/url" "$STATE/port"; }

if [[ ! -f "$PID_FILE" ]]; then
  log "no router running (no $PID_FILE)"
  exit 0
fi
pid=$(cat "$PID_FILE" 2>/dev/null || true)
if [[ ! "$pid" =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then
  cleanup_files
  log "no router running (stale pid file removed)"
  exit 0
fi
if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'llama-server'; then
  cleanup_files
  log "pid $pid is not a llama-server; removed stale pid file, killed nothing"
  exit 0
fi

# The router was started with setsid, so its PID is its process-group id.
pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ' || true)
group_alive() { [[ "$pgid" == "$pid" ]] && kill -0 -- "-$pgid" 2>/dev/null; }

kill -TERM "$pid" 2>/dev/null || true
deadline=$(( $(date +%s) + TIMEOUT ))
while { kill -0 "$pid" 2>/dev/null || group_alive; } && [[ $(date +%s) -lt $deadline ]]; do
  sleep 0.2
done
if kill -0 "$pid" 2>/dev/null || group_alive; then
  log "still running after ${TIMEOUT}s, sending SIGKILL"
  if [[ "$pgid" == "$pid" ]]; then kill -KILL -- "-$pgid" 2>/dev/null || true; else kill -KILL "$pid" 2>/dev/null || true; fi
  sleep 0.5
fi
if kill -0 "$pid" 2>/dev/null; then
  log "error: could not stop llama-server pid $pid"
  exit 1
fi
cleanup_files
log "stopped llama-server router pid $pid (log kept at $STATE/llama-server.log)"
