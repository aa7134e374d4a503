#!/usr/bin/env bash
# setup-browser.sh — make a real headless browser and Playwright available for the dashboard tests.
#
# What it does:
#   Makes sure Debian's Chromium is installed at /usr/bin/chromium (`apt-get install -y --no-install-recommends
#   chromium` when it is missing and we are root or have passwordless sudo), then creates a private Python virtual
#   environment with Playwright from PyPI at a pinned version. Playwright's own browser download is never used: the
#   tests launch /usr/bin/chromium through `executable_path` (Debian's build, updated with the system). Before it
#   counts as installed, Playwright launches that Chromium once and loads a page.
#
# What it caches where:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/baton/playwright-<version>/
#       bin/python       the environment's interpreter (what the tests run the drivers with)
#       installed.txt    `pip freeze` of the environment and the Chromium version, written last
#   A failed install leaves nothing that counts as cached (installed.txt is missing), so a re-run starts over.
#   When the cached environment and /usr/bin/chromium exist, nothing is done (well under a second).
#
# Output:
#   stdout: exactly one line, the absolute path of the environment's python.
#   stderr: progress messages (silent on a cache hit).
#
# Environment:
#   XDG_CACHE_HOME               cache root (default $HOME/.cache)
#   BATON_PLAYWRIGHT_VERSION     Playwright version (default 1.65.2)
#   BATON_CHROMIUM               the Chromium binary (default /usr/bin/chromium; only that path is installed by apt)
#   PYTHON                       the interpreter that makes the environment (default python3; needs 3.9 or later)
#
# Exit codes:
#   0  success (path printed)
#   1  the environment could not be made, pip failed, or Playwright could not start Chromium (log tail on stderr)
#   2  usage error
#   3  Chromium or a suitable Python missing and cannot be installed
set -euo pipefail

usage() { awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; }
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) echo "setup-browser.sh: unexpected argument: $1 (try --help)" >&2; exit 2 ;;
esac

VERSION="${BATON_PLAYWRIGHT_VERSION:-1.65.2}"
CHROMIUM="${BATON_CHROMIUM:-/usr/bin/chromium}"
PYTHON="${PYTHON:-python3}"
BASE="${XDG_CACHE_HOME:-$HOME/.cache}/baton"
DEST="$BASE/playwright-$VERSION"

log() { echo "setup-browser: $*" >&2; }
die() { local code="$1"; shift; echo "setup-browser: error: $*" >&2; exit "$code"; }

# installed.txt is written only after Playwright drove Chromium once, so its presence is the proof (launching the
# browser again costs seconds on every test run).
cached_ok() { [[ -f "$DEST/installed.txt" && -x "$DEST/bin/python" && -x "$CHROMIUM" ]]; }

if cached_ok; then echo "$DEST/bin/python"; exit 0; fi

mkdir -p "$BASE"
# Serialize concurrent runs (e.g. two CI steps); the second one finds the cache.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$BASE/.lock-playwright-$VERSION"
  flock 9
  if cached_ok; then echo "$DEST/bin/python"; exit 0; fi
fi

# ---------------------------------------------------------------- Chromium
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=(sudo -n); fi
fi
APT_LOG="$BASE/.apt-chromium.log"
apt_install() {  # quiet; prints the apt log tail on failure
  command -v apt-get >/dev/null 2>&1 || return 1
  if [[ $(id -u) -ne 0 && ${#SUDO[@]} -eq 0 ]]; then return 1; fi
  log "apt-get update"
  if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update >"$APT_LOG" 2>&1; then
    tail -n 20 "$APT_LOG" >&2; return 1
  fi
  log "apt-get install $*"
  if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >>"$APT_LOG" 2>&1; then
    tail -n 20 "$APT_LOG" >&2; return 1
  fi
  rm -f "$APT_LOG"
}

if [[ ! -x "$CHROMIUM" ]]; then
  [[ "$CHROMIUM" == /usr/bin/chromium ]] || die 3 "BATON_CHROMIUM=$CHROMIUM is not an executable file"
  apt_install chromium || die 3 "no $CHROMIUM and cannot install Debian's chromium package (need root or passwordless sudo with apt-get)"
  [[ -x "$CHROMIUM" ]] || die 3 "apt-get installed chromium but $CHROMIUM is still missing"
fi

# ---------------------------------------------------------------- Python environment
command -v "$PYTHON" >/dev/null 2>&1 || die 3 "no $PYTHON on PATH; install python3 (3.9 or later) or set PYTHON"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' ||
  die 3 "$PYTHON is $("$PYTHON" --version 2>&1); Playwright needs Python 3.9 or later (set PYTHON)"

rm -rf "$DEST"
LOG="$BASE/.pip-playwright-$VERSION.log"
log "making a Python environment in $DEST"
if ! "$PYTHON" -m venv "$DEST" >"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  die 1 "python3 -m venv failed (on Debian: apt-get install python3-venv)"
fi
log "installing playwright $VERSION from PyPI (no browser download)"
if ! PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$DEST/bin/pip" install --quiet --disable-pip-version-check \
  "playwright==$VERSION" >>"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  die 1 "pip install failed (log: $LOG)"
fi

# One launch through executable_path proves the pair works (Playwright's driver speaks CDP to Debian's build).
log "starting $CHROMIUM through Playwright once"
if ! "$DEST/bin/python" - "$CHROMIUM" >>"$LOG" 2>&1 <<'EOF'
import sys
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=sys.argv[1], args=["--no-sandbox"])
    page = browser.new_page()
    page.set_content("<p id=x>ok</p>")
    assert page.text_content("#x") == "ok"
    print("chromium", browser.version)
    browser.close()
EOF
then
  tail -n 20 "$LOG" >&2
  die 1 "Playwright $VERSION could not start $CHROMIUM (log: $LOG)"
fi
{
  "$DEST/bin/pip" freeze --disable-pip-version-check
  grep '^chromium ' "$LOG" | tail -n 1
} >"$DEST/installed.txt.tmp"
mv "$DEST/installed.txt.tmp" "$DEST/installed.txt"
rm -f "$LOG"
echo "$DEST/bin/python"
