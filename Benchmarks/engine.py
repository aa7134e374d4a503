#!/usr/bin/env python3
"""Benchmarks of the execution engine (`baton run` / `baton resume`). Prints figures; asserts nothing.

  python3 Benchmarks/engine.py [--quick] [--binary PATH] [--baseline-binary PATH] [--reps N] [--resume-reps N]
                               [--resume-only] [--no-fanout] [--fanout-concurrency]
                               [--peer-harness DIR [--peer-python PATH]]

Everything runs on the RELEASE build (built first unless --binary is given) and the built-in `echo`
runtime with zero delay, so the figures are pure engine + checkpoint cost. Every run gets a fresh
SQLite run database in a temporary folder (WAL, synchronous=NORMAL: Baton's settings).

1. Per-stage overhead with checkpoints on:
   - chain1000: a generated 1,000-stage linear chain; stage sNNNN's prompt uses {{stages.s(NNNN-1).output}};
     every stage has `model: echo-small`; `baton run FILE --runtime echo --db TMP --quiet`, no profile.
   - loop100: planner, executor, critic reviewing the executor with max_rounds 101; BATON_ECHO_SCRIPT
     makes the critic answer `revise` in rounds 1..100 and `approve` in round 101:
     1 + 101 + 101 = 203 stage executions.
   Two figures per run, both divided by the stage executions (attempts in the database):
   - process: wall time of the whole `baton run` process measured by this driver (spawn to exit):
     process start, loading and compiling the YAML, opening/migrating the database, the run, the final
     report and exit;
   - in-run: the run's own duration recorded by baton, runs.created_at -> runs.finished_at (from just
     before the run's first INSERT to its final status UPDATE): the walk, rendering, the echo runtime,
     and the SQLite commits (one per attempt since issue 15: an attempt's end is written in the transaction
     that starts the next one; two before), without process start, YAML compile, database open and the
     end-of-run report. This is the per-stage engine overhead; the target is < 0.2 ms.
   Also shown: the sum of the attempts' own durations (started_at -> finished_at; this covers the
   attempt-start commit and the generation, not the attempt-finish commit or rendering).
2. Resume of a run with 10,000 recorded attempts: a 10,010-stage chain killed with
   BATON_TEST_KILL_AT=attempt-start-commit:10002 (SIGKILL inside the commit that would start the 10,002nd
   attempt: since issue 15 that transaction also holds the 10,001st attempt's end, so the store keeps 10,000
   completed attempts and the 10,001st as started; a binary from before keeps 10,001 completed). Each repetition
   restores a copy of the killed database (file + WAL, as the killed process left them) and times
   - `baton resume RUN --quiet`: the whole process (replays 10,000 reused stages, runs the last 10);
   - time to the first new stage: from spawn to the started_at of the first attempt it records;
   - `baton resume RUN --dry-run`: the whole process.
   Target: < 200 ms.
   Fan-out (issue 11): the same for a run of one `for_each` stage over 10,000 items (an input holding a JSON
   array of numbers) killed with BATON_TEST_KILL_AT=item-done:9990, so 9,990 items are done and 10 are left.
   Target: no more than 1.5 × the chain resume above, in the same run (the ratio is printed).
   Also in 1.: fanout1000, one `for_each` stage over 1,000 items; its in-run µs per item is compared with
   chain1000's µs per stage (target: no more).
   With --fanout-concurrency: one `for_each` stage over 100 items (20 with --quick) at `concurrency: 1` and
   `concurrency: 4`, on a profile whose echo runtime declares `parallel: 4` and waits 50 ms per call (standing in
   for a model's answer time); items per second = items / the run's in-run time. The first item runs alone, the
   rest 4 at once, so the ceiling is about 4 × 20 items/s.
3. Peak RSS (os.wait4 ru_maxrss of the child) of `baton run` for chain1000, loop100, the 10,000-attempt
   resume, and `baton run hello --profile ci` (from the repository root). Target: < 50 MB. (On Linux a
   child's ru_maxrss is at least the parent's RSS at fork, here the driver's ~14 MiB, far below baton's.)
4. With --peer-harness DIR, the same shapes through the LangGraph peer harness in DIR (the folder holding
   langgraph_pipeline.py and requirements.txt, kept outside this repository; see its README):
   `langgraph_pipeline.py --stages 1000 -k 0` and `--stages 3 -k 100 -m 100` (203 executions), with
   --checkpointer sqlite, --durability sync, --warmup, and PRAGMA synchronous FULL (the saver's default)
   and NORMAL (Baton's setting). Per-stage = the harness's own invoke() time / executions (in-process);
   process wall and RSS measured by this driver. Small run: the peer's default graph (3 stages, 1
   rejection = 5 executions) against a Baton loop of the same shape (plan, execute, review with one
   `revise`: 5 executions). The peer runs under --peer-python (default: the interpreter running this
   script), which needs the packages of DIR/requirements.txt. Its SQLite files go to a temporary folder.

With --baseline-binary PATH (an older release build, e.g. of the previous main), the per-stage shapes of 1. run
on both binaries in the same invocation, alternating baseline and new within every repetition so machine noise
falls on both alike; the table then gives both figures and the ratio new / baseline (the resume, the fan-out
and the peer run on --binary only). It also gives the time from the run's first attempt start to its end per
stage, which leaves out what happens before the first stage (encoding the pinned snapshot, the lease, reading
the store), so two binaries that take `created_at` at different moments compare alike.

Medians over --reps repetitions (default 7; 2 with --quick; the peer 5), with min-max; the shapes are
run round-robin so machine noise spreads over all of them. --quick shrinks the shapes (chain 200,
loop 20, resume 1,000 attempts, peer 1 repetition) for a smoke test of about 10 seconds. The full
script takes about 1 minute on 2 cores (plus the build; up to about 7 minutes if a resume of 10,000
attempts takes 15 s again, as it did at 0dd159a). Results also go to Benchmarks/out/engine-DATE.json (git-ignored).
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# MARK: - Processes

def build() -> Path:
    print("building the release binary (swift build -c release --product baton) ...", flush=True)
    subprocess.run(["swift", "build", "-c", "release", "--product", "baton"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    out = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    return Path(out) / "baton"


def clean_env(scratch: Path, **extra) -> dict:
    """The environment with every BATON_* and XDG_* setting replaced, so nothing outside the scratch
    folder (a default profile, a database) is picked up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "XDG_"))}
    env["XDG_CONFIG_HOME"] = str(scratch / "config")
    env["XDG_STATE_HOME"] = str(scratch / "state")
    env["NO_COLOR"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def spawn(argv, cwd, env, expect=(0,)) -> dict:
    """Runs argv; wall time measured here (spawn to exit), peak RSS from os.wait4."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start_epoch = time.time()
        start = time.perf_counter()
        process = subprocess.Popen([str(a) for a in argv], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = {"wall_s": wall, "rc": code, "rss_kib": usage.ru_maxrss, "start_epoch": start_epoch,
                  "user_s": usage.ru_utime, "sys_s": usage.ru_stime,
                  "stdout": out.read().decode(errors="replace"), "stderr": err.read().decode(errors="replace")}
    if expect is not None and code not in expect:
        sys.exit(f"{' '.join(map(str, argv))} exited {code}:\n{result['stderr'][-2000:]}")
    return result


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt(s, scale=1.0, digits=0, unit=""):
    if not s:
        return "–"
    f = f"{{:.{digits}f}}"
    return f"{f.format(s['median'] * scale)}{unit} ({f.format(s['min'] * scale)}–{f.format(s['max'] * scale)})"


# MARK: - Pipelines

def chain_yaml(count: int) -> str:
    width = max(4, len(str(count)))
    lines = [f"version: 1\nname: chain{count}\ndescription: A {count}-stage linear chain for the engine benchmark.\n",
             "stages:\n"]
    for n in range(1, count + 1):
        name = f"s{n:0{width}d}"
        prompt = "Start the chain." if n == 1 else f"Step {n} after: {{{{stages.s{n - 1:0{width}d}.output}}}}"
        lines.append(f"  {name}:\n    model: echo-small\n    prompt: \"{prompt}\"\n")
    return "".join(lines)


def loop_yaml(rounds: int) -> str:
    return f"""version: 1
name: loop{rounds - 1}
description: Planner, executor and a critic loop of up to {rounds} rounds, for the engine benchmark.
stages:
  plan:
    role: planner
    model: echo-small
    prompt: "Plan the task."
  execute:
    role: executor
    model: echo-small
    prompt: "Carry out {{{{stages.plan.output}}}}{{{{#feedback}}}} Reviewer said: {{{{feedback}}}}{{{{/feedback}}}}"
  review:
    role: critic
    model: echo-small
    reviews: execute
    max_rounds: {rounds}
    prompt: "Review {{{{stages.execute.output}}}}"
"""


def fanout_yaml(count: int, concurrency: int = 1) -> str:
    """One stage over the items of the input `items` (a JSON array), each item's prompt naming it."""
    width = f"\n    concurrency: {concurrency}" if concurrency > 1 else ""
    return f"""version: 1
name: fanout{count}
description: One for_each stage over {count} items, for the engine benchmark.
inputs:
  items: {{description: A JSON array}}
stages:
  each:
    model: echo-small
    for_each: inputs.items
    max_items: {count}{width}
    prompt: "Item {{{{item_index}}}}: {{{{item}}}}"
"""


def parallel_profile(slots: int, delay_ms: int) -> str:
    """A profile whose echo runtime answers `slots` requests at once, each after `delay_ms` (a model's think time)."""
    return f"""version: 1
name: parallel-echo
default_runtime: echo
runtimes:
  echo: {{kind: echo, parallel: {slots}, options: {{call_delay: {delay_ms}ms}}}}
models:
  echo-small: {{runtime: echo, footprint: 256MB}}
"""


def fanout_items(count: int) -> str:
    return "items=" + json.dumps(list(range(count)))


def loop_script(revisions: int) -> str:
    """`revise` in rounds 1..revisions (the "*" entry), `approve` in the round after."""
    return (f"review:\n  \"*\": {{verdict: revise, feedback: Please tighten it.}}\n"
            f"  {revisions + 1}: {{verdict: approve, feedback: Good.}}\n")


# MARK: - The run database

def db_run(db: Path) -> dict:
    """The only (or newest) run of a database, with its attempt counts and times."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        run_id, status, created, finished = conn.execute(
            "SELECT id, status, created_at, finished_at FROM runs ORDER BY created_at DESC LIMIT 1").fetchone()
        attempts, completed, attempt_seconds, first_started = conn.execute(
            "SELECT count(*), sum(status = 'completed'), sum(coalesce(finished_at, started_at) - started_at), "
            "min(started_at) FROM attempts WHERE run_id = ?", (run_id,)).fetchone()
    return {"id": run_id, "status": status, "created_at": created, "finished_at": finished,
            "attempts": attempts, "completed": completed or 0, "attempt_seconds": attempt_seconds or 0.0,
            "in_run_s": (finished - created) if finished else None,
            "stages_s": (finished - first_started) if finished and first_started else None}


def copy_db(source: Path, target: Path) -> None:
    for suffix in ("", "-wal"):
        src = Path(str(source) + suffix)
        dst = Path(str(target) + suffix)
        if src.exists():
            shutil.copyfile(src, dst)
        elif dst.exists():
            dst.unlink()
    Path(str(target) + "-shm").unlink(missing_ok=True)


# MARK: - Baton measurements

def baton_run(binary, scratch: Path, pipeline, executions: int, tag: str, cwd=None, args=(), env_extra=None) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=scratch))
    db = folder / "runs.sqlite"
    env = clean_env(scratch, **(env_extra or {}))
    result = spawn([binary, "run", pipeline, *args, "--db", db, "--quiet"], cwd or scratch, env)
    run = db_run(db)
    if run["status"] != "completed" or (executions and run["attempts"] != executions):
        sys.exit(f"{tag}: run {run['id']} {run['status']} with {run['attempts']} attempts (expected {executions})")
    n = run["attempts"]
    shutil.rmtree(folder)
    return {"wall_s": result["wall_s"], "rss_kib": result["rss_kib"], "user_s": result["user_s"],
            "sys_s": result["sys_s"], "executions": n, "in_run_s": run["in_run_s"],
            "attempt_seconds": run["attempt_seconds"],
            "process_us_per_stage": result["wall_s"] / n * 1e6, "in_run_us_per_stage": run["in_run_s"] / n * 1e6,
            "stages_us_per_stage": run["stages_s"] / n * 1e6 if run["stages_s"] else None,
            "attempt_us_per_stage": run["attempt_seconds"] / n * 1e6}


def overhead(binary, scratch: Path, reps: int, chain: int, loop: int, fanout: bool = True, baseline=None) -> dict:
    """The per-stage shapes on `binary`, and with `baseline` on it too, alternating the two within each repetition
    (baseline first on even repetitions, new first on odd ones). Returns the new binary's figures, and the baseline's
    under the key "baseline"."""
    chain_file = scratch / f"chain{chain}.yaml"
    chain_file.write_text(chain_yaml(chain))
    loop_file = scratch / f"loop{loop}.yaml"
    loop_file.write_text(loop_yaml(loop + 1))
    script = scratch / f"loop{loop}-script.yaml"
    script.write_text(loop_script(loop))
    small_file = scratch / "loop1.yaml"
    small_file.write_text(loop_yaml(2))
    small_script = scratch / "loop1-script.yaml"
    small_script.write_text(loop_script(1))
    fanout_file = scratch / f"fanout{chain}.yaml"
    fanout_file.write_text(fanout_yaml(chain))
    shapes = {
        f"chain{chain}": dict(pipeline=chain_file, executions=chain, args=["--runtime", "echo"]),
        f"fanout{chain}": dict(pipeline=fanout_file, executions=chain,
                               args=["--runtime", "echo", "--input", fanout_items(chain)]),
        f"loop{loop}": dict(pipeline=loop_file, executions=1 + 2 * (loop + 1), args=["--runtime", "echo"],
                            env_extra={"BATON_ECHO_SCRIPT": script}),
        "loop1": dict(pipeline=small_file, executions=5, args=["--runtime", "echo"],
                      env_extra={"BATON_ECHO_SCRIPT": small_script}),
        "hello": dict(pipeline="hello", executions=0, args=["--profile", "ci"], cwd=ROOT),
    }
    if not fanout:
        del shapes[f"fanout{chain}"]
    binaries = {"new": binary, **({"baseline": baseline} if baseline else {})}
    samples = {label: {name: [] for name in shapes} for label in binaries}
    validate = {label: [] for label in binaries}
    for exe in binaries.values():
        for name, shape in shapes.items():  # warm-up: page cache, dynamic linker
            baton_run(exe, scratch, tag=name, **shape)
    for rep in range(reps):  # round-robin so machine noise spreads over every shape
        for name, shape in shapes.items():
            order = list(binaries.items())
            for label, exe in (order if rep % 2 else order[::-1]):
                samples[label][name].append(baton_run(exe, scratch, tag=name, **shape))
        for label, exe in binaries.items():
            validate[label].append(spawn([exe, "validate", chain_file], scratch, clean_env(scratch))["wall_s"])
        print(f"  baton overhead: repetition {rep + 1}/{reps} done", flush=True)

    def figures(label):
        return {f"validate chain{chain}": summary(validate[label]),
                **{name: {"samples": runs, "executions": runs[0]["executions"],
                          **{key: summary([r[key] for r in runs]) for key in
                             ("wall_s", "rss_kib", "in_run_s", "process_us_per_stage", "in_run_us_per_stage",
                              "stages_us_per_stage", "attempt_us_per_stage", "user_s", "sys_s")}}
                   for name, runs in samples[label].items()}}

    result = figures("new")
    if baseline:
        result["baseline"] = figures("baseline")
    return result


def resume(binary, scratch: Path, reps: int, attempts: int) -> dict:
    folder = scratch / "resume"
    folder.mkdir()
    chain = attempts + 10
    pipeline = folder / f"chain{chain}.yaml"
    pipeline.write_text(chain_yaml(chain))
    killed = folder / "killed.sqlite"
    kill = f"attempt-start-commit:{attempts + 2}"
    print(f"  resume: recording {attempts} attempts of a {chain}-stage chain, killed at {kill} ...",
          flush=True)
    create = spawn([binary, "run", pipeline, "--runtime", "echo", "--db", killed, "--quiet"], folder,
                   clean_env(scratch, BATON_TEST_KILL_AT=kill), expect=None)
    if create["rc"] != -9:
        sys.exit(f"the run to be killed exited {create['rc']} instead of being killed: {create['stderr'][-2000:]}")
    # Read a copy: opening the killed file itself would checkpoint and drop its WAL.
    probe = folder / "probe.sqlite"
    copy_db(killed, probe)
    recorded = db_run(probe)
    if recorded["completed"] not in (attempts, attempts + 1):
        sys.exit(f"the killed run recorded {recorded['completed']} completed attempts, expected {attempts} "
                 f"(or {attempts + 1} from a binary before issue 15)")
    wal_bytes = Path(str(killed) + "-wal").stat().st_size if Path(str(killed) + "-wal").exists() else 0
    work = folder / "work.sqlite"
    env = clean_env(scratch)
    validate = spawn([binary, "validate", pipeline], folder, env)  # the load + compile alone, for scale
    samples = []
    for rep in range(reps):  # no warm-up: the files were just written and are in the page cache
        copy_db(killed, work)
        dry = spawn([binary, "resume", recorded["id"], "--dry-run", "--db", work], folder, env)
        copy_db(killed, work)
        full = spawn([binary, "resume", recorded["id"], "--db", work, "--quiet"], folder, env)
        with sqlite3.connect(f"file:{work}?mode=ro", uri=True) as conn:
            first_new, = conn.execute("SELECT min(started_at) FROM attempts WHERE run_id = ? AND started_at >= ?",
                                      (recorded["id"], full["start_epoch"])).fetchone()
            status, total = conn.execute(
                "SELECT status, (SELECT count(*) FROM attempts WHERE run_id = runs.id) FROM runs WHERE id = ?",
                (recorded["id"],)).fetchone()
        # The attempt the kill left started is kept (aborted) beside the one the resume runs.
        expected = chain + recorded["attempts"] - recorded["completed"]
        if status != "completed" or total != expected:
            sys.exit(f"resume left run {recorded['id']} {status} with {total} attempts (expected {expected})")
        print(f"  resume: repetition {rep + 1}/{reps} done", flush=True)
        samples.append({"resume_wall_s": full["wall_s"], "resume_rss_kib": full["rss_kib"],
                        "first_new_stage_s": first_new - full["start_epoch"] if first_new else None,
                        "dry_run_wall_s": dry["wall_s"], "dry_run_rss_kib": dry["rss_kib"],
                        "resume_user_s": full["user_s"], "dry_run_user_s": dry["user_s"]})
    db_bytes = killed.stat().st_size
    return {"attempts": attempts, "chain": chain, "create_wall_s": create["wall_s"], "create_rss_kib": create["rss_kib"],
            "validate_wall_s": validate["wall_s"], "validate_rss_kib": validate["rss_kib"],
            "db_bytes": db_bytes, "wal_bytes": wal_bytes, "samples": samples,
            **{key: summary([s[key] for s in samples]) for key in samples[0]}}


def fanout_resume(binary, scratch: Path, reps: int, attempts: int) -> dict:
    """Resume of a fan-out of `attempts` items with `attempts - 10` done (killed at item-done)."""
    folder = scratch / "fanout-resume"
    folder.mkdir()
    done = attempts - 10
    pipeline = folder / f"fanout{attempts}.yaml"
    pipeline.write_text(fanout_yaml(attempts))
    items = fanout_items(attempts)
    killed = folder / "killed.sqlite"
    print(f"  fan-out resume: recording {done} of {attempts} items, killed at item-done:{done} ...", flush=True)
    create = spawn([binary, "run", pipeline, "--runtime", "echo", "--input", items, "--db", killed, "--quiet"], folder,
                   clean_env(scratch, BATON_TEST_KILL_AT=f"item-done:{done}"), expect=None)
    if create["rc"] != -9:
        sys.exit(f"the fan-out run to be killed exited {create['rc']} instead of being killed: {create['stderr'][-2000:]}")
    probe = folder / "probe.sqlite"
    copy_db(killed, probe)
    recorded = db_run(probe)
    if recorded["completed"] != done:
        sys.exit(f"the killed fan-out run recorded {recorded['completed']} completed items, expected {done}")
    work = folder / "work.sqlite"
    env = clean_env(scratch)
    samples = []
    for rep in range(reps):
        copy_db(killed, work)
        full = spawn([binary, "resume", recorded["id"], "--db", work, "--quiet"], folder, env)
        with sqlite3.connect(f"file:{work}?mode=ro", uri=True) as conn:
            status, total = conn.execute(
                "SELECT status, (SELECT count(*) FROM attempts WHERE run_id = runs.id) FROM runs WHERE id = ?",
                (recorded["id"],)).fetchone()
        if status != "completed" or total != attempts:
            sys.exit(f"fan-out resume left run {recorded['id']} {status} with {total} attempts (expected {attempts})")
        print(f"  fan-out resume: repetition {rep + 1}/{reps} done", flush=True)
        samples.append({"resume_wall_s": full["wall_s"], "resume_rss_kib": full["rss_kib"], "resume_user_s": full["user_s"]})
    return {"items": attempts, "done": done, "create_wall_s": create["wall_s"], "db_bytes": killed.stat().st_size,
            "samples": samples, **{key: summary([s[key] for s in samples]) for key in samples[0]}}


def fanout_concurrency(binary, scratch: Path, reps: int, items: int, delay_ms: int, widths=(1, 4)) -> dict:
    """Items per second of a fan-out at each `concurrency` in `widths`, on an echo runtime that waits `delay_ms` per
    call and declares enough parallel slots; items / the run's in-run time (runs.created_at -> finished_at)."""
    folder = scratch / "fanout-concurrency"
    folder.mkdir()
    profile = folder / "parallel-echo.yaml"
    profile.write_text(parallel_profile(max(widths), delay_ms))
    shapes = {}
    for width in widths:
        pipeline = folder / f"fanout{items}-c{width}.yaml"
        pipeline.write_text(fanout_yaml(items, concurrency=width))
        shapes[width] = dict(pipeline=pipeline, executions=items,
                             args=["--profile", str(profile), "--input", fanout_items(items)])
    samples = {width: [] for width in widths}
    for rep in range(reps):  # round-robin, as the overhead shapes
        for width, shape in shapes.items():
            samples[width].append(baton_run(binary, scratch, tag=f"fanout-c{width}", **shape))
        print(f"  fan-out concurrency: repetition {rep + 1}/{reps} done", flush=True)
    return {"items": items, "delay_ms": delay_ms,
            **{f"concurrency {width}": {"samples": runs,
                                        "items_per_s": summary([items / r["in_run_s"] for r in runs]),
                                        "in_run_s": summary([r["in_run_s"] for r in runs])}
               for width, runs in samples.items()}}


# MARK: - The LangGraph peer

def peer(harness: Path, python: Path, scratch: Path, reps: int, chain: int, loop: int) -> dict:
    folder = scratch / "peer"
    folder.mkdir()
    configs = {}
    for sync in ("FULL", "NORMAL"):
        extra = [] if sync == "FULL" else ["--sqlite-synchronous", "NORMAL"]
        configs[f"chain{chain} sqlite sync {sync}"] = ["--stages", str(chain), "-k", "0", "--warmup", *extra]
        configs[f"loop{loop} sqlite sync {sync}"] = ["--stages", "3", "-k", str(loop), "-m", str(loop), "--warmup", *extra]
    configs["small (5 executions) sqlite sync FULL"] = ["--stages", "3", "-k", "1"]
    configs["small (5 executions) sqlite sync NORMAL"] = ["--stages", "3", "-k", "1", "--sqlite-synchronous", "NORMAL"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    samples = {name: [] for name in configs}
    for rep in range(reps):
        for name, args in configs.items():
            db = folder / f"lg-{rep}.sqlite"
            result = spawn([python, harness / "langgraph_pipeline.py", *args, "--checkpointer", "sqlite",
                            "--durability", "sync", "--db", db, "--fresh-db", "--json"], folder, env)
            data = json.loads(result["stdout"])
            run = data["runs"][0]
            samples[name].append({"wall_s": result["wall_s"], "rss_kib": result["rss_kib"],
                                  "executions": run["stage_executions"], "per_stage_us": run["per_stage_us"],
                                  "invoke_s": run["invoke_seconds"], "import_s": data["import_seconds"],
                                  "build_s": data["build_seconds"],
                                  "synchronous": data.get("sqlite", {}).get("synchronous"),
                                  "db_bytes": data.get("db_bytes_after_close", {}).get("db")})
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
        print(f"  peer: repetition {rep + 1}/{reps} done", flush=True)
    versions = subprocess.run([python, "-c", "import importlib.metadata as m, sqlite3, sys; print(' '.join("
                               "[f'{p} {m.version(p)}' for p in ('langgraph', 'langgraph-checkpoint-sqlite')]"
                               " + ['CPython ' + sys.version.split()[0], 'SQLite ' + sqlite3.sqlite_version]))"],
                              capture_output=True, text=True).stdout.strip()
    return {"versions": versions,
            **{name: {"samples": runs, "executions": runs[0]["executions"],
                      **{key: summary([r[key] for r in runs]) for key in
                         ("wall_s", "rss_kib", "per_stage_us", "invoke_s", "import_s", "build_s")}}
               for name, runs in samples.items()}}


# MARK: - Report

def machine() -> dict:
    cpu = platform.processor()
    if Path("/proc/cpuinfo").exists():
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), cpu)
    return {"cores": os.cpu_count(), "cpu": cpu, "system": f"{platform.system()} {platform.release()}",
            "loadavg": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, help="a release baton binary (default: build it)")
    parser.add_argument("--baseline-binary", type=Path,
                        help="an older release baton binary: the per-stage shapes run on it too, alternating with "
                             "--binary in every repetition, and the table gives both and the ratio")
    parser.add_argument("--quick", action="store_true", help="small shapes, 2 repetitions: a smoke test")
    parser.add_argument("--reps", type=int, help="repetitions (default 7, --quick 2)")
    parser.add_argument("--resume-reps", type=int, help="repetitions of the resume measurement (default: --reps)")
    parser.add_argument("--resume-only", action="store_true",
                        help="measure only the resume of a run with 10,000 attempts (no overhead shapes, no peer)")
    parser.add_argument("--peer-harness", type=Path,
                        help="the LangGraph peer harness folder (langgraph_pipeline.py, requirements.txt); "
                             "without it the peer is not run")
    parser.add_argument("--peer-python", type=Path, default=Path(sys.executable),
                        help="the interpreter with the harness's requirements installed (default: this one)")
    parser.add_argument("--no-fanout", action="store_true",
                        help="leave out the fan-out shapes (for a binary from before issue 11, which refuses for_each)")
    parser.add_argument("--fanout-concurrency", action="store_true",
                        help="also measure fan-out items per second at concurrency 1 and 4 (echo runtime, 50 ms a call)")
    parser.add_argument("--no-peer", action="store_true", help="skip the LangGraph peer even with --peer-harness")
    parser.add_argument("--peer-reps", type=int, help="peer repetitions (default 5, --quick 1)")
    parser.add_argument("--out", type=Path, help="the JSON results file (default Benchmarks/out/engine-DATE.json)")
    args = parser.parse_args()

    reps = args.reps or (2 if args.quick else 7)
    peer_reps = args.peer_reps or (1 if args.quick else 5)
    chain, loop, attempts = (200, 20, 1000) if args.quick else (1000, 100, 10000)
    binary = (args.binary or build()).resolve()
    baseline = args.baseline_binary.resolve() if args.baseline_binary else None
    began = time.time()
    info = machine()
    sqlite_version = sqlite3.sqlite_version
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print(f"machine: {info['cores']} cores, {info['cpu']}, {info['system']}, load average {info['loadavg'][0]:.2f}")
    print(f"binary: {binary} (working tree {commit or '?'})")
    if baseline:
        print(f"baseline binary: {baseline} ({binary_version(baseline)})")

    results = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "machine": info,
               "binary": str(binary), "commit": commit, "quick": args.quick,
               "baseline_binary": str(baseline) if baseline else None, "reps": reps, "peer_reps": peer_reps,
               "python_sqlite": sqlite_version}
    with tempfile.TemporaryDirectory(prefix="baton-engine-bench-") as folder:
        scratch = Path(folder)
        if not args.resume_only:
            print(f"1/3 per-stage overhead: chain{chain}, loop{loop}, loop1, hello; {reps} repetitions", flush=True)
            results["overhead"] = overhead(binary, scratch, reps, chain, loop, fanout=not args.no_fanout,
                                           baseline=baseline)
        resume_reps = args.resume_reps or reps
        print(f"2/3 resume of a run with {attempts} attempts; {resume_reps} repetitions", flush=True)
        results["resume"] = resume(binary, scratch, resume_reps, attempts)
        if not args.no_fanout:
            print(f"2/3 resume of a {attempts}-item fan-out with {attempts - 10} done; {resume_reps} repetitions", flush=True)
            results["fanout_resume"] = fanout_resume(binary, scratch, resume_reps, attempts)
        if args.fanout_concurrency:
            count = 20 if args.quick else 100
            print(f"2/3 fan-out of {count} items at concurrency 1 and 4, 50 ms a call; {reps} repetitions", flush=True)
            results["fanout_concurrency"] = fanout_concurrency(binary, scratch, reps, count, 50)
        python, harness = args.peer_python, args.peer_harness
        if args.resume_only or args.no_peer:
            pass
        elif harness is None:
            print("3/3 LangGraph peer skipped: no --peer-harness DIR given")
        elif not (harness / "langgraph_pipeline.py").exists() or not python.exists():
            print(f"3/3 LangGraph peer skipped: no {harness / 'langgraph_pipeline.py'} or no {python}; create a venv with\n"
                  f"  python3 -m venv VENV && VENV/bin/pip install -r {harness / 'requirements.txt'}\n"
                  f"and pass --peer-python VENV/bin/python")
        else:
            print(f"3/3 LangGraph peer ({harness}, {python}); {peer_reps} repetitions", flush=True)
            results["peer"] = peer(harness, python, scratch, peer_reps, chain, loop)
    results["machine"]["loadavg_end"] = os.getloadavg()
    results["seconds"] = time.time() - began

    r = results["resume"]
    print()
    if args.resume_only:
        print(f"## Resume benchmark ({results['date'][:10]}, {info['cores']} cores, {info['cpu']}; median (min–max) of "
              f"{resume_reps}; load average {info['loadavg'][0]:.2f} → {results['machine']['loadavg_end'][0]:.2f})")
    else:
        print_overhead(results, info, reps, chain, loop)
    print_resume(r)
    print_fanout(results, chain)
    print_fanout_concurrency(results)
    if "peer" in results:
        print_peer(results, peer_reps, chain, loop)
    print(f"\nTotal benchmark time {results['seconds']:.0f} s.")

    out = args.out or ROOT / "Benchmarks" / "out" / f"engine-{datetime.datetime.now():%Y%m%d-%H%M%S}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"results: {out}")


def print_overhead(results, info, reps, chain, loop) -> None:
    o, r = results["overhead"], results["resume"]
    c, lp = o[f"chain{chain}"], o[f"loop{loop}"]
    print(f"## Engine benchmark ({results['date'][:10]}, {info['cores']} cores, {info['cpu']}; "
          f"median (min–max) of {reps}; load average {info['loadavg'][0]:.2f} → {results['machine']['loadavg_end'][0]:.2f})")
    print()
    print("| what | executions | in-run µs/stage | process µs/stage | process wall ms | peak RSS MiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in (f"chain{chain}", f"loop{loop}", "loop1", "hello"):
        s = o[name]
        print(f"| baton {name} | {s['executions']} | {fmt(s['in_run_us_per_stage'])} | {fmt(s['process_us_per_stage'])} "
              f"| {fmt(s['wall_s'], 1e3)} | {fmt(s['rss_kib'], 1 / 1024, 1)} |")
    if "baseline" in o:
        print_comparison(o, reps, chain, loop)
    print()
    print(f"Sum of the attempts' own durations per stage: chain{chain} {fmt(c['attempt_us_per_stage'])} µs, "
          f"loop{loop} {fmt(lp['attempt_us_per_stage'])} µs. `baton validate` of the generated chain{chain} file "
          f"(load + compile only): {fmt(o[f'validate chain{chain}'], 1e3)} ms; of the chain{r['chain']} file: "
          f"{r['validate_wall_s'] * 1e3:.0f} ms.")


def print_comparison(o, reps, chain, loop) -> None:
    """The per-stage shapes on the baseline binary and the new one, measured alternately in this run."""
    b = o["baseline"]
    print()
    print(f"Baseline against new, alternating in every repetition (median (min–max) of {reps}; ratio = new / baseline "
          "of the medians):")
    print()
    print("| shape | figure | baseline | new | ratio |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name in (f"chain{chain}", f"loop{loop}", "loop1"):
        old, new = b[name], o[name]
        for key, label, scale in (("in_run_us_per_stage", "in-run µs/stage", 1), ("stages_us_per_stage",
                                  "first attempt's start to the end, µs/stage", 1),
                                  ("process_us_per_stage", "process µs/stage", 1), ("wall_s", "process ms", 1e3)):
            if not old.get(key) or not new.get(key):
                continue
            ratio = new[key]["median"] / old[key]["median"]
            print(f"| {name} | {label} | {fmt(old[key], scale)} | {fmt(new[key], scale)} | {ratio:.2f} |")


def binary_version(binary) -> str:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
    return (out.stdout or out.stderr).strip() or "?"


def print_resume(r) -> None:
    print()
    print(f"Resume of a run with {r['attempts']} completed attempts ({r['chain']}-stage chain, killed; "
          f"database {r['db_bytes'] / 2**20:.1f} MiB + WAL {r['wal_bytes'] / 2**20:.1f} MiB; recording it took "
          f"{r['create_wall_s']:.1f} s and peaked at {r['create_rss_kib'] / 1024:.1f} MiB; `baton validate` of that file "
          f"alone peaks at {r['validate_rss_kib'] / 1024:.1f} MiB):")
    print()
    print("| what | ms | peak RSS MiB |")
    print("| --- | ---: | ---: |")
    print(f"| `baton resume RUN` (whole process, runs the last 10 stages) | {fmt(r['resume_wall_s'], 1e3)} "
          f"| {fmt(r['resume_rss_kib'], 1 / 1024, 1)} |")
    print(f"| … spawn to the first new stage's started_at | {fmt(r['first_new_stage_s'], 1e3)} | |")
    print(f"| `baton resume RUN --dry-run` (whole process) | {fmt(r['dry_run_wall_s'], 1e3)} "
          f"| {fmt(r['dry_run_rss_kib'], 1 / 1024, 1)} |")


def print_fanout(results, chain) -> None:
    """The fan-out figures beside their targets (issue 11), from this same run."""
    print()
    if "fanout_resume" not in results:
        return
    o, r, f = results.get("overhead"), results["resume"], results["fanout_resume"]
    if o:
        c, fo = o[f"chain{chain}"], o[f"fanout{chain}"]
        ratio = fo["in_run_us_per_stage"]["median"] / c["in_run_us_per_stage"]["median"]
        print(f"Fan-out over {chain} items: {fmt(fo['in_run_us_per_stage'])} µs in-run per item, against chain{chain}'s "
              f"{fmt(c['in_run_us_per_stage'])} µs per stage in this run (ratio {ratio:.2f}; target ≤ 1); process "
              f"{fmt(fo['wall_s'], 1e3)} ms, peak RSS {fmt(fo['rss_kib'], 1 / 1024, 1)} MiB.")
    ratio = f["resume_wall_s"]["median"] / r["resume_wall_s"]["median"]
    print(f"Resume of a {f['items']}-item fan-out with {f['done']} done: {fmt(f['resume_wall_s'], 1e3)} ms "
          f"(peak RSS {fmt(f['resume_rss_kib'], 1 / 1024, 1)} MiB), against {fmt(r['resume_wall_s'], 1e3)} ms for the "
          f"{r['attempts']}-attempt chain resume in this run (ratio {ratio:.2f}; target ≤ 1.5).")


def print_fanout_concurrency(results) -> None:
    """Items per second at each concurrency (issue 11 item 3), with the ceiling the call delay allows."""
    f = results.get("fanout_concurrency")
    if not f:
        return
    widths = [key for key in f if key.startswith("concurrency ")]
    rates = ", ".join(f"{key} {fmt(f[key]['items_per_s'], digits=1)} items/s" for key in widths)
    one, last = f[widths[0]]["items_per_s"]["median"], f[widths[-1]]["items_per_s"]["median"]
    print(f"Fan-out of {f['items']} items on the echo runtime waiting {f['delay_ms']} ms a call: {rates} "
          f"(speed-up {last / one:.2f}; one at a time allows at most {1000 / f['delay_ms']:.0f} items/s).")


def print_peer(results, peer_reps, chain, loop) -> None:
    o, p = results["overhead"], results["peer"]
    print()
    print(f"Side by side with the LangGraph peer ({p['versions']}; median (min–max) of {peer_reps}; "
          "peer per-stage = its in-process invoke() time / executions after --warmup):")
    print()
    print("| shape | engine | per-stage µs (in-process) | process wall ms | peak RSS MiB |")
    print("| --- | --- | ---: | ---: | ---: |")
    rows = [(f"chain{chain}", f"chain{chain}", ""), (f"loop{loop}", f"loop{loop}", ""),
            ("loop1", "small (5 executions)", ", cold: no warm-up")]
    for baton_name, peer_name, note in rows:
        s = o[baton_name]
        print(f"| {baton_name} ({s['executions']} executions{note}) | baton (WAL, sync NORMAL) "
              f"| {fmt(s['in_run_us_per_stage'])} | {fmt(s['wall_s'], 1e3)} | {fmt(s['rss_kib'], 1 / 1024, 1)} |")
        if "baseline" in o:
            s0 = o["baseline"][baton_name]
            print(f"| | baton baseline binary | {fmt(s0['in_run_us_per_stage'])} | {fmt(s0['wall_s'], 1e3)} "
                  f"| {fmt(s0['rss_kib'], 1 / 1024, 1)} |")
        for sync in ("FULL", "NORMAL"):
            q = p[f"{peer_name} sqlite sync {sync}"]
            print(f"| | langgraph (WAL, sync {sync}) | {fmt(q['per_stage_us'])} | {fmt(q['wall_s'], 1e3)} "
                  f"| {fmt(q['rss_kib'], 1 / 1024, 1)} |")
    print()
    for baton_name, peer_name, _ in rows[:2]:
        ours = o[baton_name]["in_run_us_per_stage"]["median"]
        ratios = ", ".join(
            f"sync {sync} {p[f'{peer_name} sqlite sync {sync}']['per_stage_us']['median'] / ours:.1f}x"
            for sync in ("FULL", "NORMAL"))
        line = f"LangGraph / baton per stage, {baton_name}: {ratios}"
        if "baseline" in o:
            old = o["baseline"][baton_name]["in_run_us_per_stage"]["median"]
            line += (f" (baseline binary: sync FULL "
                     f"{p[f'{peer_name} sqlite sync FULL']['per_stage_us']['median'] / old:.1f}x)")
        print(line + ".")
    q = p["small (5 executions) sqlite sync FULL"]
    print()
    print(f"Peer import time in those runs: {fmt(q['import_s'], 1e3)} ms; "
          f"graph build for chain{chain}: {fmt(p[f'chain{chain} sqlite sync FULL']['build_s'], 1e3)} ms.")


if __name__ == "__main__":
    main()
