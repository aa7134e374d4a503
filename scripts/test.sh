#!/usr/bin/env bash
# Runs Baton's whole test suite: what CI runs (.ci/run calls this).
#
#   scripts/test.sh [extra swift test arguments]
#
# 1. Installs what the suite needs and a fresh Debian machine may lack: the SQLite headers and GNU time
#    (apt), tmux for the terminal tests (apt), and the Python packages of the schema check (jsonschema, PyYAML; pip) and of the JUnit check (junitparser).
# 2. Builds llama-server and fetches the Gemma 3 270M model for the integration tests, converts the all-MiniLM-L6-v2
#    embedding model to GGUF (scripts/setup-embedding-model.sh, under 20 s the first time) and installs the sqlite-vec
#    extension (scripts/setup-sqlite-vec.sh), and makes Debian's Chromium and Playwright from PyPI ready for the
#    dashboard browser tests (scripts/setup-browser.sh: BATON_BROWSER_PYTHON, BATON_CHROMIUM), all cached under
#    ~/.cache/baton by version (about 6.5 minutes the first time on 2 cores, a second afterwards).
#    It also starts a throwaway PostgreSQL cluster for the run store's PostgreSQL tests (scripts/start-postgres.sh:
#    Debian's postgresql, installed when missing; about a second to initdb and start) in a temporary folder on a
#    loopback port, exports BATON_TEST_POSTGRES_URL, and stops and removes it when the suite ends. A set
#    BATON_TEST_POSTGRES_URL is used as it is. BATON_SKIP_INTEGRATION=1 skips this step and those tests.
# 3. Builds everything and runs `swift test`. Exit status: swift test's (or the failing step's).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if ! pkg-config --exists sqlite3 2>/dev/null && [ ! -f /usr/include/sqlite3.h ]; then
    echo "installing the SQLite headers" >&2
    (apt-get update -qq && apt-get install -y -qq libsqlite3-dev) >&2
fi
if [ "$(uname)" = Linux ] && [ ! -x /usr/bin/time ]; then
    # HostileFileTests read a child's own peak memory through GNU time (see that file for why).
    echo "installing GNU time for the memory checks" >&2
    (apt-get update -qq && apt-get install -y -qq time) >&2
fi
if [ "$(uname)" = Linux ] && [ ! -x /usr/bin/tmux ]; then
    # TerminalOutputTests run baton in a tmux pane and read back its text, title and paste buffers.
    echo "installing tmux for the terminal tests" >&2
    (apt-get update -qq && apt-get install -y -qq tmux) >&2
fi
if ! python3 -c 'import jsonschema, yaml, junitparser' 2>/dev/null; then
    echo "installing jsonschema and PyYAML for the schema check, junitparser for the JUnit check" >&2
    python3 -m pip install --quiet 'jsonschema>=4.18' PyYAML 'junitparser==5.0.3' >&2
fi
if [ "${BATON_SKIP_INTEGRATION:-0}" != "1" ]; then
    echo "llama-server: $(scripts/setup-llama-server.sh)" >&2
    BATON_GEMMA_GGUF="$(scripts/setup-model.sh)"
    export BATON_GEMMA_GGUF
    echo "model: $BATON_GEMMA_GGUF" >&2
    BATON_MCP_BIN="$(scripts/setup-mcp.sh)"
    export BATON_MCP_BIN
    echo "MCP servers: $BATON_MCP_BIN" >&2
    BATON_EMBED_GGUF="$(scripts/setup-embedding-model.sh)"
    export BATON_EMBED_GGUF
    echo "embedding model: $BATON_EMBED_GGUF" >&2
    BATON_SQLITE_VEC="$(scripts/setup-sqlite-vec.sh)"
    export BATON_SQLITE_VEC
    echo "sqlite-vec: $BATON_SQLITE_VEC" >&2
    BATON_BROWSER_PYTHON="$(scripts/setup-browser.sh)"
    BATON_CHROMIUM="${BATON_CHROMIUM:-/usr/bin/chromium}"
    export BATON_BROWSER_PYTHON BATON_CHROMIUM
    echo "browser: $BATON_CHROMIUM driven by $BATON_BROWSER_PYTHON" >&2
    if [ -z "${BATON_TEST_POSTGRES_URL:-}" ]; then
        pg_state="$(mktemp -d "${TMPDIR:-/tmp}/baton-test-postgres.XXXXXX")"
        trap 'scripts/stop-postgres.sh --state-dir "$pg_state" --remove' EXIT
        BATON_TEST_POSTGRES_URL="$(scripts/start-postgres.sh --state-dir "$pg_state" | sed -n 's/^BATON_POSTGRES_URL=//p')"
        export BATON_TEST_POSTGRES_URL
    fi
    echo "PostgreSQL: $BATON_TEST_POSTGRES_URL" >&2
fi

swift build --build-tests >&2
swift test "$@"
