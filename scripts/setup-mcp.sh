#!/usr/bin/env bash
# setup-mcp.sh — make real MCP servers available for the tool tests, from PyPI.
#
# What it does:
#   Creates a private Python virtual environment and installs into it, with pip, the reference MCP servers
#   mcp-server-time (read-only tools: get_current_time, convert_time) and mcp-server-git (read and write tools
#   on a local repository, every tool annotated), at pinned versions. Both work offline once installed.
#
# What it caches where:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/baton/mcp/<time version>-<git version>/
#       bin/mcp-server-time, bin/mcp-server-git   the servers' entry points
#       installed.txt                            `pip freeze` of the environment, written last
#   A failed install leaves nothing that counts as cached (installed.txt is missing), so a re-run starts over.
#   When the cached environment exists and both entry points run, nothing is done (well under a second).
#
# Output:
#   stdout: exactly one line, the absolute path of the environment's bin folder.
#   stderr: progress messages (silent on a cache hit).
#
# Environment:
#   XDG_CACHE_HOME               cache root (default $HOME/.cache)
#   BATON_MCP_TIME_VERSION       mcp-server-time version (default 2026.10.19)
#   BATON_MCP_GIT_VERSION        mcp-server-git version (default 2026.10.19)
#   PYTHON                       the interpreter that makes the environment (default python3; needs 3.10 or later)
#
# Exit codes:
#   0  success (path printed)
#   1  the environment could not be made or pip failed (its log tail printed to stderr)
#   2  usage error
#   3  no suitable Python
set -euo pipefail

usage() { awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; }
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) echo "setup-mcp.sh: unexpected argument: $1 (try --help)" >&2; exit 2 ;;
esac

TIME_VERSION="${BATON_MCP_TIME_VERSION:-2026.10.19}"
GIT_VERSION="${BATON_MCP_GIT_VERSION:-2026.10.19}"
PYTHON="${PYTHON:-python3}"
BASE="${XDG_CACHE_HOME:-$HOME/.cache}/baton/mcp"
DEST="$BASE/$TIME_VERSION-$GIT_VERSION"

log() { echo "setup-mcp: $*" >&2; }
die() { local code="$1"; shift; echo "setup-mcp: error: $*" >&2; exit "$code"; }

# installed.txt is written only after both servers started once, so its presence is the proof (starting them
# again costs 2 s of Python imports on every test run).
cached_ok() { [[ -f "$DEST/installed.txt" && -x "$DEST/bin/mcp-server-time" && -x "$DEST/bin/mcp-server-git" ]]; }
# Both entry points must start: `--help` makes each print its usage and exit without waiting on stdin.
servers_start() {
  "$DEST/bin/mcp-server-time" --help >/dev/null 2>&1 && "$DEST/bin/mcp-server-git" --help >/dev/null 2>&1
}

if cached_ok; then echo "$DEST/bin"; exit 0; fi

mkdir -p "$BASE"
# Serialize concurrent runs (e.g. two CI steps); the second one finds the cache.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$BASE/.lock-$TIME_VERSION-$GIT_VERSION"
  flock 9
  if cached_ok; then echo "$DEST/bin"; exit 0; fi
fi

command -v "$PYTHON" >/dev/null 2>&1 || die 3 "no $PYTHON on PATH; install python3 (3.10 or later) or set PYTHON"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' ||
  die 3 "$PYTHON is $("$PYTHON" --version 2>&1); the MCP servers need Python 3.10 or later (set PYTHON)"

rm -rf "$DEST"
LOG="$BASE/.pip-$TIME_VERSION-$GIT_VERSION.log"
log "making a Python environment in $DEST"
if ! "$PYTHON" -m venv "$DEST" >"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  die 1 "python3 -m venv failed (on Debian: apt-get install python3-venv)"
fi
log "installing mcp-server-time $TIME_VERSION and mcp-server-git $GIT_VERSION from PyPI"
if ! "$DEST/bin/pip" install --quiet --disable-pip-version-check \
  "mcp-server-time==$TIME_VERSION" "mcp-server-git==$GIT_VERSION" >>"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  die 1 "pip install failed (log: $LOG)"
fi
servers_start || die 1 "the servers were installed but do not start; see $LOG"
"$DEST/bin/pip" freeze --disable-pip-version-check >"$DEST/installed.txt.tmp"
mv "$DEST/installed.txt.tmp" "$DEST/installed.txt"
rm -f "$LOG"
echo "$DEST/bin"
