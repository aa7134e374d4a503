#!/usr/bin/env python3
"""Benchmarks Baton on a real llama-server with Gemma 3 270M. Prints figures; asserts nothing.

  python3 Benchmarks/llama.py [--reps N] [--modes preload,no-preload[,unload-after-each-stage]] [--binary PATH]

Starts a router with scripts/start-llama-router.sh (--models-max 0: only Baton unloads; --threads 1, which every
model's child server inherits, so a load and a generation can each have one of two cores) with three model names
(planner, critic, executor: the same GGUF, so each is a real, separate load), and runs a generated six-stage
pipeline that uses all three, under a budget where two models fit (900 MB; each is about 430 MB), in these ways
(the modes of one repetition run one after another, so they see the same machine):
  - preload: the profile as shipped (preloading on: a load may start while the stage before it generates);
  - no-preload: the same profile with `preload: false` (loads just in time, the memory planner alone);
  - unload-after-each-stage: load before a stage, unload right after (Baton's predecessor), via
    BATON_BENCH_UNLOAD_AFTER_EACH_STAGE=1 (with `preload: false`).
Every profile has `after_run: keep` and the script unloads all three models before each run, so each run starts
from an empty server and its time holds no clean-up.

For each run:
  - in-run wall: the run's own duration in its database (runs.created_at to runs.finished_at);
    process wall: the `baton run` process, spawn to exit;
  - loads and unloads (model-loaded / model-unloaded events), preloads (preload-started events) and the hidden
    load time: the sum of the attempts' `load_hidden_ms` timings (the part of a preload the stage did not wait for);
  - the lower bound: the runtime's own time, summed over the run's attempts (llama-server's `timings.prompt_ms` and
    `timings.predicted_ms`, kept as the attempt timings `prompt` and `generation`), plus the loads that cannot
    overlap a generation: the run's k-th load (the k-th model-loaded event, its `seconds`) is matched to the k-th
    loading row of `baton plan --json` under the preloading profile, and counts when that row has no
    `preload_during` (the first load always; here also a load whose room only the stage before it frees), or names
    another model, or does not exist (unload-after-each-stage loads more often than the plan). The same bound is
    computed for every mode, from that mode's own measured times; the ratio is in-run wall / bound.
    Not in the bound: unloads, HTTP, the engine's own time, and the wait for a preload when the generation it
    overlaps is shorter than the load. Since a generation that shares the cores with a load runs slower, the
    script also divides each preload run's in-run wall by the paired no-preload run's runtime time plus the
    preload run's loads that cannot overlap (a stricter bound, where nothing slows the generation).
Median (min–max) over reps. Also per stage the engine's own time: the attempt's wall time minus the runtime's
prompt and generation time (Baton loads before an attempt starts, so loads are not in it).
"""

import argparse
import json
import os
import platform
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

MODES = ("preload", "no-preload", "unload-after-each-stage")
NAMES = ("planner", "critic", "executor")


def med(values, digits=1):
    values = sorted(values)
    if not values:
        return "–"
    return f"{statistics.median(values):.{digits}f} ({values[0]:.{digits}f}–{values[-1]:.{digits}f})"


def machine() -> dict:
    cpu = platform.processor()
    if Path("/proc/cpuinfo").exists():
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), cpu)
    return {"cores": os.cpu_count(), "cpu": cpu, "system": f"{platform.system()} {platform.release()}",
            "loadavg": os.getloadavg()}


def write_profiles(folder: Path):
    """The shipped local-gemma profile with a 900 MB budget and `after_run: keep`, once as shipped (preload on)
    and once with `preload: false`."""
    folder.mkdir()
    text = (ROOT / "profiles/local-gemma.yaml").read_text()
    if "memory_budget: 1GB" not in text:
        raise SystemExit("profiles/local-gemma.yaml no longer sets memory_budget: 1GB; update Benchmarks/llama.py")
    text = text.replace("memory_budget: 1GB", "memory_budget: 900MB\nafter_run: keep")
    (folder / "bench.yaml").write_text(text.replace("name: local-gemma", "name: bench"))
    (folder / "bench-no-preload.yaml").write_text(
        text.replace("name: local-gemma", "name: bench-no-preload").replace("after_run: keep", "after_run: keep\npreload: false"))


def planned_loads(binary: str, pipeline: Path, env: dict) -> list:
    """The loading rows of `baton plan --json` under the preloading profile: [(model, preload_during or None)]."""
    result = subprocess.run([binary, "plan", str(pipeline), "--profile", "bench", "--json"], env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"baton plan exited {result.returncode}: {result.stderr}")
    plan = json.loads(result.stdout)
    rows = []
    for step in plan.get("steps", []):
        if step.get("load") is True:
            during = step.get("preload_during")
            rows.append((f"{step.get('runtime')}:{step.get('model')}", during))
    return rows


def measure(db: Path, plan: list, wall: float) -> dict:
    """One run's figures, read from its database (see the module's doc for each)."""
    con = sqlite3.connect(db)
    created, finished = con.execute("SELECT created_at, finished_at FROM runs").fetchone()
    events = con.execute("SELECT kind, payload FROM events ORDER BY id").fetchall()
    kinds = [kind for kind, _ in events]
    loads = [json.loads(payload or "{}") for kind, payload in events if kind == "model-loaded"]
    runtime_ms, engine, stage_wall, hidden_ms, wait_ms = 0.0, [], [], 0.0, 0.0
    for started, ended, timings, status in con.execute("SELECT started_at, finished_at, timings, status FROM attempts"):
        t = json.loads(timings or "{}")
        runtime_ms += t.get("prompt", 0) + t.get("generation", 0)
        hidden_ms += t.get("load_hidden_ms", 0)
        wait_ms += t.get("load_wait_ms", 0)
        if status == "completed" and ended is not None:
            duration = (ended - started) * 1000
            engine.append(duration - t.get("prompt", 0) - t.get("generation", 0))
            stage_wall.append(duration + t.get("load_ms", 0))
    con.close()
    matched = [f"{load.get('model')}" == model for load, (model, _) in zip(loads, plan)]
    if len(loads) != len(plan) or not all(matched):
        print(f"    note: the run's loads {[l.get('model') for l in loads]} differ from the plan's {[m for m, _ in plan]}")
    # A load the plan does not have at that place (unload-after-each-stage makes more) cannot overlap either.
    overlappable = [k < len(plan) and plan[k][1] is not None and load.get("model") == plan[k][0]
                    for k, load in enumerate(loads)]
    bound_loads = sum(float(load.get("seconds", 0)) for load, skip in zip(loads, overlappable) if not skip)
    return {"wall_s": wall, "in_run_s": finished - created, "loads": len(loads), "unloads": kinds.count("model-unloaded"),
            "preloads": kinds.count("preload-started"), "load_s": sum(float(l.get("seconds", 0)) for l in loads),
            "hidden_s": hidden_ms / 1000, "wait_s": wait_ms / 1000, "runtime_s": runtime_ms / 1000,
            "bound_loads_s": bound_loads, "bound_s": runtime_ms / 1000 + bound_loads,
            "engine_ms": engine, "stage_ms": stage_wall}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--modes", default="preload,no-preload", help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--binary")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    for mode in modes:
        if mode not in MODES:
            raise SystemExit(f"unknown mode '{mode}'; the modes are {', '.join(MODES)}")
    if not args.binary:
        subprocess.run(["swift", "build", "-c", "release", "--product", "baton"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        args.binary = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                                     capture_output=True, text=True).stdout.strip() + "/baton"
    info = machine()
    print(f"machine: {info['cores']} cores, {info['cpu']}, {info['system']}, load average {info['loadavg'][0]:.2f}")
    work = Path(tempfile.mkdtemp(prefix="baton-llama-bench-"))
    state = work / "router"
    line = subprocess.run([str(ROOT / "scripts/start-llama-router.sh"), "--state-dir", str(state), "--models-max", "0",
                           "--threads", "1"], check=True, capture_output=True, text=True).stdout.strip()
    url = line.split("=", 1)[1]
    try:
        write_profiles(work / "profiles")
        (work / "three.yaml").write_text(PIPELINE)
        base_env = dict(os.environ, BATON_LLAMA_URL=url, BATON_PROFILE_PATH=str(work / "profiles"),
                        BATON_DB=str(work / "plan.sqlite"))
        plan = planned_loads(args.binary, work / "three.yaml", base_env)
        print("plan (preloading profile): " + ", ".join(f"load {m}" + (f" during {d}" if d else "") for m, d in plan))
        results = {mode: [] for mode in modes}
        for rep in range(args.reps):
            for mode in modes:
                for name in NAMES:  # start from an empty server
                    subprocess.run(["curl", "-s", "-X", "POST", f"{url}/models/unload", "-d", json.dumps({"model": name})],
                                   capture_output=True)
                time.sleep(0.5)
                db = work / f"{mode}-{rep}.sqlite"
                env = dict(base_env, BATON_DB=str(db))
                if mode == "unload-after-each-stage":
                    env["BATON_BENCH_UNLOAD_AFTER_EACH_STAGE"] = "1"
                profile = "bench" if mode == "preload" else "bench-no-preload"
                start = time.perf_counter()
                run = subprocess.run([args.binary, "run", str(work / "three.yaml"), "--profile", profile, "--quiet"],
                                     env=env, capture_output=True, text=True)
                wall = time.perf_counter() - start
                if run.returncode != 0:
                    raise SystemExit(f"{mode}: baton exited {run.returncode}: {run.stderr}")
                figures = measure(db, plan, wall)
                results[mode].append(figures)
                print(f"  {mode} rep {rep + 1}: in-run {figures['in_run_s']:.2f} s, process {wall:.2f} s, "
                      f"bound {figures['bound_s']:.2f} s, hidden {figures['hidden_s']:.2f} s", flush=True)
        info["loadavg_end"] = os.getloadavg()
        print(f"\n## Real llama-server, Gemma 3 270M, six stages over three models, budget 900 MB ({args.reps} reps; "
              f"load average {info['loadavg'][0]:.2f} → {info['loadavg_end'][0]:.2f})\n")
        print("| mode | in-run wall s | process wall s | loads | unloads | preloads | load s | hidden load s | "
              "runtime s | lower bound s | in-run / bound |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for mode, runs in results.items():
            print(f"| {mode} | {med([r['in_run_s'] for r in runs], 2)} | {med([r['wall_s'] for r in runs], 2)} | "
                  f"{runs[0]['loads']} | {runs[0]['unloads']} | {runs[0]['preloads']} | {med([r['load_s'] for r in runs], 2)} | "
                  f"{med([r['hidden_s'] for r in runs], 2)} | {med([r['runtime_s'] for r in runs], 2)} | "
                  f"{med([r['bound_s'] for r in runs], 2)} | {med([r['in_run_s'] / r['bound_s'] for r in runs], 3)} |")
        print("\n| mode | engine ms per stage | engine share of stage |")
        print("| --- | ---: | ---: |")
        for mode, runs in results.items():
            engine = [e for r in runs for e in r["engine_ms"]]
            share = [100 * e / s for r in runs for e, s in zip(r["engine_ms"], r["stage_ms"]) if s > 0]
            print(f"| {mode} | {med(engine)} | {med(share)} % |")
        if "preload" in results and "no-preload" in results:
            pairs = [a["in_run_s"] / b["in_run_s"] for a, b in zip(results["preload"], results["no-preload"])]
            print(f"\npreload / no-preload in-run wall, paired by repetition: {med(pairs, 3)}")
            # The bound above takes each run's own runtime time, which grows when a load shares the cores with a
            # generation; this one takes the runtime time of the paired no-preload run, where nothing overlaps.
            strict = [a["in_run_s"] / (b["runtime_s"] + a["bound_loads_s"]) for a, b in zip(results["preload"], results["no-preload"])]
            print(f"preload in-run / (paired no-preload runtime s + preload's loads that cannot overlap): {med(strict, 3)}")
        out = ROOT / "Benchmarks/out"
        out.mkdir(exist_ok=True)
        (out / f"llama-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
            json.dumps({"machine": info, "plan": plan, "results": results}, indent=1))
    finally:
        subprocess.run([str(ROOT / "scripts/stop-llama-router.sh"), "--state-dir", str(state), "--timeout", "3"], capture_output=True)


if __name__ == "__main__":
    main()
