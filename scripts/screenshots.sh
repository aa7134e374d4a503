#!/usr/bin/env bash
# screenshots.sh — regenerate the dashboard screenshots in docs/images from a built baton.
#
#   scripts/screenshots.sh [--binary PATH] [--out DIR] [--real]
#
# Builds nothing. With the given baton (default .build/debug/baton) it makes a temporary run database with echo
# runs (CI's `ci` profile, delays so the timings look like a model's):
#   1. launch-plan: a planner, a critic that asks for one revision, a JSON stage that fails once and is retried,
#      and a writer;
#   2. and 3. the same pipeline twice more, the writer's temperature 0.3 then 0.9 (the third run's writer also
#      answers differently, so the output diff shows);
# starts `baton serve --port 0` on it, and writes with Playwright and Debian's Chromium (scripts/setup-browser.sh)
#   DIR/serve-run.png      the first run's page at 1280×800, the critic's second round open in the attempt panel
#   DIR/serve-compare.png  the compare page of runs 2 and 3 at 1280×800
# With --real it also starts a llama-server router (scripts/start-llama-router.sh: the cached llama-server and Gemma 3
# 270M, under three names), runs Benchmarks/llama.py's six-stage, three-model pipeline under its 900 MB budget, and
# writes
#   DIR/serve-memory.png   that run's page: real loads, preloads and unloads in the memory lane
# DIR defaults to docs/images. Look at them before committing them.
#
# Environment: BATON_BROWSER_PYTHON (default: what scripts/setup-browser.sh prints), BATON_CHROMIUM.
# Exit codes: 0 written; 1 a run, the server or the browser failed; 2 usage error; 3 no baton binary.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
binary="$root/.build/debug/baton"
out="$root/docs/images"
real=0
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    --real) real=1; shift ;;
    -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
    *) echo "screenshots.sh: unexpected argument: $1 (try --help)" >&2; exit 2 ;;
  esac
done
[ -x "$binary" ] || { echo "screenshots.sh: no baton at $binary; run swift build --product baton or pass --binary" >&2; exit 3; }
python="${BATON_BROWSER_PYTHON:-$("$root/scripts/setup-browser.sh")}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

work="$(mktemp -d "${TMPDIR:-/tmp}/baton-screenshots.XXXXXX")"
serve_pid=""
cleanup() {
  if [ -n "$serve_pid" ]; then kill -TERM "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  if [ -f "$work/router/pid" ]; then "$root/scripts/stop-llama-router.sh" --state-dir "$work/router" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export BATON_DB="$work/runs.sqlite" BATON_PROFILE_PATH="$root/profiles" HOME="$work" XDG_CONFIG_HOME="$work/config"
export XDG_CACHE_HOME="$work/cache" NO_COLOR=1 BATON_ECHO_CALL_DELAY=400ms BATON_ECHO_TOKEN_DELAY=15ms

pipeline() {  # the launch-plan pipeline with the writer at temperature $1
  cat <<EOF
version: 1
name: launch-plan
description: Plan a product launch, review the plan, extract the key facts, write the announcement.
inputs:
  product: {description: What is launched}
outputs: [facts, announce]
stages:
  plan:
    role: planner
    temperature: 0.2
    prompt: |
      Plan the launch of {{inputs.product}} in numbered steps.
      {{#feedback}}The reviewer asked: {{feedback}}{{/feedback}}
  review:
    role: critic
    reviews: plan
    max_rounds: 3
    prompt: "Review this launch plan for gaps: {{stages.plan.output}}"
  facts:
    role: researcher
    needs: [review]
    retry: {max_attempts: 3, initial_backoff: 300ms}
    prompt: "Extract the launch facts as JSON from: {{stages.plan.output}}"
    output:
      format: json
      schema:
        type: object
        required: [product, date, channels]
        properties:
          product: {type: string}
          date: {type: string}
          channels: {type: integer}
  announce:
    role: writer
    temperature: $1
    prompt: |
      Write the announcement of {{stages.facts.json.product}} for {{stages.facts.json.date}} from this plan:
      {{stages.plan.output}}
EOF
}

script() {  # the echo answers; $1 = the writer's closing line
  cat <<EOF
plan:
  1: {output: "1. Pick the date\n2. Write the announcement\n3. Brief support"}
  2: {output: "1. Pick the date (March 3)\n2. Write the announcement\n3. Brief support\n4. Owner for each step: Ada, Lin, Sam"}
review:
  1: {verdict: revise, feedback: Name an owner for each step.}
  2: {verdict: approve, feedback: Clear owners and a date. Ready.}
facts:
  1: {fail: transient, times: 1, output: '{"product": "Baton 1.0", "date": "March 3", "channels": 3}'}
  "*": {output: '{"product": "Baton 1.0", "date": "March 3", "channels": 3}'}
announce:
  "*": {output: "Baton 1.0 ships on March 3.\nIt runs local multi-model pipelines with a memory planner.\n$1"}
EOF
}

run() {  # run the pipeline at writer temperature $1 with closing line $2
  pipeline "$1" >"$work/launch-plan.yaml"
  script "$2" >"$work/script.yaml"
  BATON_ECHO_SCRIPT="$work/script.yaml" "$binary" run "$work/launch-plan.yaml" --profile ci --quiet \
    --input "product=Baton 1.0" >/dev/null 2>"$work/run.log" || { cat "$work/run.log" >&2; exit 1; }
}

echo "screenshots: making three echo runs in $BATON_DB" >&2
run 0.3 "Try it today."
run 0.3 "Try it today."
run 0.9 "Try it today, and tell us what you build."

if [ "$real" = 1 ]; then
  echo "screenshots: starting a llama-server router and running three-models on it" >&2
  line="$("$root/scripts/start-llama-router.sh" --state-dir "$work/router" --models-max 0 --threads 1)"
  mkdir -p "$work/real"
  python3 - "$root" "$work/real" <<'EOF'
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1] + "/Benchmarks")
import llama  # the benchmark's pipeline and its 900 MB profile, so the picture is the benchmark's run
llama.write_profiles(Path(sys.argv[2]) / "profiles")
(Path(sys.argv[2]) / "three.yaml").write_text(llama.PIPELINE)
EOF
  BATON_LLAMA_URL="${line#BATON_LLAMA_URL=}" BATON_PROFILE_PATH="$work/real/profiles" \
    "$binary" run "$work/real/three.yaml" --profile bench --quiet >/dev/null 2>"$work/run.log" || { cat "$work/run.log" >&2; exit 1; }
fi

"$binary" serve --port 0 --db "$BATON_DB" >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
url=""
for _ in $(seq 1 300); do
  url="$(head -n 1 "$work/serve.out" 2>/dev/null || true)"
  [ -n "$url" ] && break
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.1
done
case "$url" in http://*) ;; *) echo "screenshots.sh: baton serve printed no URL" >&2; cat "$work/serve.err" >&2; exit 1 ;; esac
echo "screenshots: serving $url" >&2

"$python" - "$url" "$BATON_DB" "$out" <<'EOF'
import os, sqlite3, sys
from playwright.sync_api import sync_playwright

url, db, out = sys.argv[1].rstrip("/") + "/", sys.argv[2], sys.argv[3]
with sqlite3.connect(db) as connection:
    runs = [row[0] for row in connection.execute("SELECT id FROM runs ORDER BY created_at")]
    attempt = connection.execute(
        "SELECT id FROM attempts WHERE run_id = ? AND stage = 'plan' ORDER BY id DESC LIMIT 1", (runs[0],)).fetchone()[0]
    events = connection.execute("SELECT count(*) FROM events WHERE run_id = ?", (runs[0],)).fetchone()[0]
with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path=os.environ.get("BATON_CHROMIUM") or "/usr/bin/chromium",
                                         args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{url}runs/{runs[0]}?stage=plan&attempt={attempt}")
    page.wait_for_function("n => { const el = document.querySelector('#event-count'); return el && +el.textContent >= n; }",
                           arg=events, timeout=30_000)
    page.wait_for_function("() => { const el = document.querySelector('#attempt-output'); return el && el.textContent.length > 0; }",
                           timeout=30_000)
    page.wait_for_timeout(500)
    page.screenshot(path=f"{out}/serve-run.png")
    page.goto(f"{url}compare?a={runs[1]}&b={runs[2]}")
    page.wait_for_function("() => document.querySelectorAll('table#compare tr.stage-row').length > 0", timeout=30_000)
    page.evaluate("() => document.querySelectorAll('table#compare details').forEach(d => { d.open = true; })")
    page.wait_for_timeout(500)
    page.screenshot(path=f"{out}/serve-compare.png")
    if len(runs) > 3:  # --real: the run on llama-server
        with sqlite3.connect(db) as connection:
            count = connection.execute("SELECT count(*) FROM events WHERE run_id = ?", (runs[3],)).fetchone()[0]
        page.goto(f"{url}runs/{runs[3]}")
        page.wait_for_function("n => { const el = document.querySelector('#event-count'); return el && +el.textContent >= n; }",
                               arg=count, timeout=30_000)
        page.wait_for_timeout(500)
        page.screenshot(path=f"{out}/serve-memory.png")
        print(f"{out}/serve-memory.png")
    browser.close()
print(f"{out}/serve-run.png")
print(f"{out}/serve-compare.png")
EOF
