#!/usr/bin/env bash
# Runs a shipped pipeline end to end on a real model: builds llama-server and fetches Gemma 3 270M on
# first use (cached under ~/.cache/baton, keyed by version), starts llama-server in router mode on a free
# loopback port, builds baton, and runs `baton run hello --profile local-gemma`, streaming, with the
# summary at the end. The router is stopped afterwards.
#
#   scripts/demo.sh [PIPELINE] [baton run options...]     default: hello
#
# First run: about 5 minutes to build llama-server on 2 cores, 15 s for the model; later runs: seconds.
# Exit status: baton's (0 completed; see the README for the others), or the setup scripts' on failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
pipeline="${1:-hello}"
shift || true

state="${TMPDIR:-/tmp}/baton-demo-$(id -u)"
url_line="$(scripts/start-llama-router.sh --state-dir "$state" --models-max 0 --names "planner critic executor")"
export "${url_line?}"
trap 'scripts/stop-llama-router.sh --state-dir "$state" >/dev/null 2>&1 || true' EXIT

swift build --product baton >&2
export BATON_DB="${BATON_DB:-$state/baton.sqlite}"
status=0
.build/debug/baton run "$pipeline" --profile local-gemma "$@" || status=$?
exit "$status"
