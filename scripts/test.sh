#!/usr/bin/env bash
# Runs Baton's whole test suite: what CI runs (.ci/run calls this).
#
#   scripts/test.sh [extra swift test arguments]
#
# Installs the Python packages the schema check needs (jsonschema, PyYAML) with pip when they are
# missing, builds everything, then runs `swift test`. Exit status: swift test's.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if ! python3 -c 'import jsonschema, yaml' 2>/dev/null; then
    echo "installing jsonschema and PyYAML for the schema check" >&2
    python3 -m pip install --quiet 'jsonschema>=4.18' PyYAML >&2
fi

swift build --build-tests >&2
swift test "$@"
