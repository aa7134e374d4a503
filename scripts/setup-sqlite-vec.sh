#!/usr/bin/env bash
# setup-sqlite-vec.sh — make the sqlite-vec extension (vec0) available for `vector: sqlite-vec` indexes and its tests.
#
# What it does:
#   Creates a private Python virtual environment and installs into it, with pip, the `sqlite-vec` wheel from PyPI at
#   a pinned version: the wheel ships the compiled loadable extension sqlite_vec/vec0.so. Python itself is only the
#   installer: the pyenv Python here cannot load SQLite extensions, so the check that vec0.so loads is made through
#   the system libsqlite3 (the one Baton's GRDB uses) with ctypes: sqlite3_enable_load_extension,
#   sqlite3_load_extension, then `SELECT vec_version()`.
#
# What it caches where:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/baton/sqlite-vec/<version>/
#       lib/python3.*/site-packages/sqlite_vec/vec0.so   the extension
#       installed.txt                                    `pip freeze` and the extension's path, written last
#   A failed install leaves nothing that counts as cached (installed.txt is missing), so a re-run starts over.
#   On a cache hit nothing is installed and nothing is loaded (well under a second).
#
# Output:
#   stdout: exactly one line, the absolute path of vec0.so (export it as BATON_SQLITE_VEC).
#   stderr: progress messages (silent on a cache hit).
#
# Environment:
#   XDG_CACHE_HOME               cache root (default $HOME/.cache)
#   BATON_SQLITE_VEC_VERSION     sqlite-vec version (default 0.1.9)
#   PYTHON                       the interpreter that makes the environment (default python3; needs 3.8 or later)
#   BATON_LIBSQLITE3             the SQLite library the load check uses (default: libsqlite3.so.0, or
#                                libsqlite3.dylib on macOS)
#
# Exit codes:
#   0  success (path printed)
#   1  the environment could not be made, pip failed, or the extension does not load (the reason printed to stderr)
#   2  usage error
#   3  no suitable Python
set -euo pipefail

usage() { awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; }
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) echo "setup-sqlite-vec.sh: unexpected argument: $1 (try --help)" >&2; exit 2 ;;
esac

VERSION="${BATON_SQLITE_VEC_VERSION:-0.1.9}"
PYTHON="${PYTHON:-python3}"
BASE="${XDG_CACHE_HOME:-$HOME/.cache}/baton/sqlite-vec"
DEST="$BASE/$VERSION"

log() { echo "setup-sqlite-vec: $*" >&2; }
die() { local code="$1"; shift; echo "setup-sqlite-vec: error: $*" >&2; exit "$code"; }

# installed.txt names the extension on its last line and is written only after the extension loaded once.
cached_path() {
  [[ -f "$DEST/installed.txt" ]] || return 1
  local path
  path="$(tail -n 1 "$DEST/installed.txt")"
  [[ "$path" == /*vec0.* && -f "$path" ]] || return 1
  echo "$path"
}

if path="$(cached_path)"; then echo "$path"; exit 0; fi

mkdir -p "$BASE"
# Serialize concurrent runs (e.g. two CI steps); the second one finds the cache.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$BASE/.lock-$VERSION"
  flock 9
  if path="$(cached_path)"; then echo "$path"; exit 0; fi
fi

command -v "$PYTHON" >/dev/null 2>&1 || die 3 "no $PYTHON on PATH; install python3 (3.8 or later) or set PYTHON"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 8) else 1)' ||
  die 3 "$PYTHON is $("$PYTHON" --version 2>&1); installing sqlite-vec needs Python 3.8 or later (set PYTHON)"

rm -rf "$DEST"
LOG="$BASE/.pip-$VERSION.log"
log "making a Python environment in $DEST"
if ! "$PYTHON" -m venv "$DEST" >"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  die 1 "python3 -m venv failed (on Debian: apt-get install python3-venv)"
fi
log "installing sqlite-vec $VERSION from PyPI"
if ! "$DEST/bin/pip" install --quiet --disable-pip-version-check "sqlite-vec==$VERSION" >>"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  die 1 "pip install failed (log: $LOG)"
fi
# The wheel's package folder holds the extension: vec0.so on Linux, vec0.dylib on macOS.
EXTENSION="$(find "$DEST/lib" -path '*/site-packages/sqlite_vec/vec0.*' \( -name 'vec0.so' -o -name 'vec0.dylib' \) | head -n 1)"
[[ -n "$EXTENSION" ]] || die 1 "the sqlite-vec $VERSION wheel has no vec0 extension for this platform ($(uname -sm)); see $LOG"

# Load it as Baton will: through the system SQLite's C API (Python's own sqlite3 module may lack load_extension).
if [[ -z "${BATON_LIBSQLITE3:-}" ]]; then
  if [[ "$(uname)" == Darwin ]]; then BATON_LIBSQLITE3=libsqlite3.dylib; else BATON_LIBSQLITE3=libsqlite3.so.0; fi
fi
if ! LOADED="$("$PYTHON" - "$EXTENSION" "$BATON_LIBSQLITE3" <<'PY' 2>&1
import ctypes, sys
extension, library = sys.argv[1], sys.argv[2]
sqlite = ctypes.CDLL(library)
sqlite.sqlite3_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
sqlite.sqlite3_enable_load_extension.argtypes = [ctypes.c_void_p, ctypes.c_int]
sqlite.sqlite3_load_extension.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
sqlite.sqlite3_prepare_v2.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
sqlite.sqlite3_step.argtypes = [ctypes.c_void_p]
sqlite.sqlite3_column_text.argtypes = [ctypes.c_void_p, ctypes.c_int]
sqlite.sqlite3_column_text.restype = ctypes.c_char_p
sqlite.sqlite3_finalize.argtypes = [ctypes.c_void_p]
sqlite.sqlite3_close.argtypes = [ctypes.c_void_p]
sqlite.sqlite3_libversion.restype = ctypes.c_char_p
db = ctypes.c_void_p()
if sqlite.sqlite3_open(b":memory:", ctypes.byref(db)) != 0:
    sys.exit("sqlite3_open failed")
sqlite.sqlite3_enable_load_extension(db, 1)
error = ctypes.c_char_p()
if sqlite.sqlite3_load_extension(db, extension.encode(), None, ctypes.byref(error)) != 0:
    sys.exit("sqlite3_load_extension: " + (error.value or b"unknown error").decode())
statement = ctypes.c_void_p()
if sqlite.sqlite3_prepare_v2(db, b"SELECT vec_version()", -1, ctypes.byref(statement), None) != 0:
    sys.exit("vec_version() is missing after loading")
sqlite.sqlite3_step(statement)
version = sqlite.sqlite3_column_text(statement, 0).decode()
sqlite.sqlite3_finalize(statement)
sqlite.sqlite3_close(db)
print(f"vec0 {version} loads into SQLite {sqlite.sqlite3_libversion().decode()}")
PY
)"; then
  die 1 "the extension $EXTENSION does not load into $BATON_LIBSQLITE3: $LOADED"
fi
log "$LOADED"
{ "$DEST/bin/pip" freeze --disable-pip-version-check; echo "$EXTENSION"; } >"$DEST/installed.txt.tmp"
mv "$DEST/installed.txt.tmp" "$DEST/installed.txt"
rm -f "$LOG"
echo "$EXTENSION"
