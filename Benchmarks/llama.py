#!/usr/bin/env python3
"""Benchmarks Baton on a real llama-server with Gemma 3 270M. Prints figures; asserts nothing.

  python3 Benchmarks/llama.py [--reps N] [--binary PATH]

Starts a router with scripts/start-llama-router.sh (--models-max 0: only Baton unloads) with three model
names (planner, critic, executor: the same GGUF, so each is a real, separate load), and runs a generated
six-stage pipeline that uses all three, under a budget where two models fit (900 MB; each is about
430 MB), in two ways:
  - planner: Baton's memory planner (loads just in time, unloads only what must go, farthest next use first);
  - unload-after-each-stage: load before a stage, unload right after (Baton's predecessor), via
    BATON_BENCH_UNLOAD_AFTER_EACH_STAGE=1.
For each run: wall time of the `baton run` process, model loads and unloads, and per stage the engine's own
time: the attempt's wall time minus the runtime's reported prompt and generation time (llama-server reports
no load time; Baton loads before the attempt starts, so loads are not in it). Median (min-max) over reps.
"""

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PIPELINE = """version: 1
name: three-models
defaults: {num_ctx: 2048, max_tokens: 32, seed: 5, temperature: 0}
stages:
  plan: {role: planner, prompt: "List two steps to water a plant."}
  review: {role: critic, reviews: plan, max_rounds: 1, on_exhausted: accept, max_tokens: 256, prompt: "The steps below are fine. Reply with verdict approve.\\n{{stages.plan.output}}"}
  draft: {role: executor, needs: [review], prompt: "Explain {{stages.plan.output}}"}
  check: {role: critic, reviews: draft, max_rounds: 1, on_exhausted: accept, max_tokens: 256, prompt: "The text below is fine. Reply with verdict approve.\\n{{stages.draft.output}}"}
  summary: {role: planner, needs: [check], prompt: "Summarize: {{stages.draft.output}}"}
  title: {role: executor, needs: [summary], prompt: "A title for: {{stages.summary.output}}"}
"""


def med(values):
    values = sorted(values)
    return f"{statistics.median(values):.1f} ({values[0]:.1f}–{values[-1]:.1f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--binary")
    args = parser.parse_args()
    if not args.binary:
        subprocess.run(["swift", "build", "-c", "release", "--product", "baton"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        args.binary = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                                     capture_output=True, text=True).stdout.strip() + "/baton"
    work = Path(tempfile.mkdtemp(prefix="baton-llama-bench-"))
    state = work / "router"
    line = subprocess.run([str(ROOT / "scripts/start-llama-router.sh"), "--state-dir", str(state), "--models-max", "0"],
                          check=True, capture_output=True, text=True).stdout.strip()
    url = line.split("=", 1)[1]
    try:
        (work / "profiles").mkdir()
        profile = (ROOT / "profiles/local-gemma.yaml").read_text().replace("memory_budget: 1GB", "memory_budget: 900MB")
        (work / "profiles/bench.yaml").write_text(profile.replace("name: local-gemma", "name: bench"))
        (work / "three.yaml").write_text(PIPELINE)
        results = {"planner": [], "unload-after-each-stage": []}
        for rep in range(args.reps):
            for mode in results:
                for name in ("planner", "critic", "executor"):  # start from an empty server
                    subprocess.run(["curl", "-s", "-X", "POST", f"{url}/models/unload", "-d", json.dumps({"model": name})],
                                   capture_output=True)
                time.sleep(0.5)
                db = work / f"{mode}-{rep}.sqlite"
                env = dict(os.environ, BATON_LLAMA_URL=url, BATON_DB=str(db), BATON_PROFILE_PATH=str(work / "profiles"))
                if mode != "planner":
                    env["BATON_BENCH_UNLOAD_AFTER_EACH_STAGE"] = "1"
                start = time.perf_counter()
                run = subprocess.run([args.binary, "run", str(work / "three.yaml"), "--profile", "bench", "--quiet"],
                                     env=env, capture_output=True, text=True)
                wall = time.perf_counter() - start
                if run.returncode != 0:
                    raise SystemExit(f"{mode}: baton exited {run.returncode}: {run.stderr}")
                con = sqlite3.connect(db)
                kinds = [k for (k,) in con.execute("SELECT kind FROM events")]
                engine, stage_wall = [], []
                for started, finished, timings in con.execute(
                        "SELECT started_at, finished_at, timings FROM attempts WHERE status = 'completed'"):
                    t = json.loads(timings or "{}")
                    duration = (finished - started) * 1000
                    engine.append(duration - t.get("prompt", 0) - t.get("generation", 0))
                    stage_wall.append(duration + t.get("load_ms", 0))
                con.close()
                results[mode].append({"wall_s": wall, "loads": kinds.count("model-loaded"), "unloads": kinds.count("model-unloaded"),
                                      "engine_ms": engine, "stage_ms": stage_wall})
                print(f"  {mode} rep {rep + 1}: {wall:.2f} s", flush=True)
        print(f"\n## Real llama-server, Gemma 3 270M, six stages over three models, budget 900 MB ({args.reps} reps)\n")
        print("| policy | wall s | loads | unloads | engine ms per stage | engine share of stage |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for mode, runs in results.items():
            engine = [e for r in runs for e in r["engine_ms"]]
            share = [100 * e / s for r in runs for e, s in zip(r["engine_ms"], r["stage_ms"]) if s > 0]
            print(f"| {mode} | {med([r['wall_s'] for r in runs])} | {runs[0]['loads']} | {runs[0]['unloads']} | "
                  f"{med(engine)} | {med(share)} % |")
        out = ROOT / "Benchmarks/out"
        out.mkdir(exist_ok=True)
        (out / f"llama-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(results, indent=1))
    finally:
        subprocess.run([str(ROOT / "scripts/stop-llama-router.sh"), "--state-dir", str(state), "--timeout", "3"], capture_output=True)


if __name__ == "__main__":
    main()
