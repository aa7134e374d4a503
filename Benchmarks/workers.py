#!/usr/bin/env python3
"""Benchmarks of the PostgreSQL queue (`baton submit` / `baton worker`, issue 17). Prints figures; asserts nothing.

  python3 Benchmarks/workers.py [--binary PATH] [--runs N] [--workers 1,2,3] [--concurrency N] [--samples N]
                                [--chain N] [--reps N] [--quick]

Everything runs on the RELEASE build (built first into /tmp/baton-release unless --binary is given), the built-in echo
runtime with zero delay (profile `ci`), and a throwaway PostgreSQL cluster on loopback (scripts/start-postgres.sh in a
temporary folder; fsync off, as in the tests), with a fresh database for every measurement.

1. Throughput: --runs runs (default 60) of the tests' five-stage pipeline (Tests/BatonCommandsTests/Fixtures/workers/
   relay.yaml: outline, draft with a critic loop that revises once, facts, summary: 7 model calls) are submitted with
   `baton submit`, then 1, 2 and 3 `baton worker` processes (--concurrency each, default 1) start at once and drain
   the queue. Runs per second = runs / (last run's finished_at - first run-claimed event), both from the database, so
   worker start-up is left out. Also printed: `baton submit`'s own time per run (spawn to exit).
2. Claim latency: one idle worker (default --poll 2 s, so a wake-up by NOTIFY and one by the poll differ) and
   --samples runs (default 20) submitted one at a time, each after the last finished; latency = the run's
   `run-claimed` event time - its `run-submitted` event time (both taken by baton, on one machine's clock). Target:
   under 100 ms with LISTEN/NOTIFY.
3. Engine overhead per stage, PostgreSQL against SQLite: a generated --chain-stage linear chain (default 200) with
   `baton run FILE --runtime echo --db X --quiet`, X a fresh SQLite file or a fresh PostgreSQL database; per stage =
   the run's own duration (runs.created_at -> finished_at, as Benchmarks/engine.py's in-run figure) / attempts.
   Medians over --reps (default 3) with min-max.

--quick: 20 runs, 8 samples, a 50-stage chain, 1 repetition (about a minute). Results also go to
Benchmarks/out/workers-DATE.json (git-ignored).
"""

import argparse
import datetime
import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ROOT / "Tests/BatonCommandsTests/Fixtures/workers/relay.yaml"
SCRIPT = ROOT / "Tests/BatonCommandsTests/Fixtures/workers/relay-script.yaml"
TOPICS = ["the garden", "a bike ride", "the harbour", "a rainy day", "the night train"]


def build() -> Path:
    print("building the release binary (swift build -c release --product baton --scratch-path /tmp/baton-release) ...",
          flush=True)
    args = ["swift", "build", "-c", "release", "--product", "baton", "--scratch-path", "/tmp/baton-release"]
    subprocess.run(args, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    out = subprocess.run(args[:4] + ["--scratch-path", "/tmp/baton-release", "--show-bin-path"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    return Path(out) / "baton"


def env_for(scratch: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "XDG_"))}
    env.update(XDG_CONFIG_HOME=str(scratch / "config"), XDG_STATE_HOME=str(scratch / "state"), NO_COLOR="1",
               BATON_PROFILE_PATH=str(ROOT / "profiles"), BATON_ECHO_SCRIPT=str(SCRIPT))
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Cluster:
    """A throwaway PostgreSQL cluster (scripts/start-postgres.sh) with a database per measurement."""

    def __init__(self, scratch: Path):
        self.state = scratch / "pg"
        out = subprocess.run([ROOT / "scripts/start-postgres.sh", "--state-dir", self.state], check=True,
                             capture_output=True, text=True).stdout
        self.url = next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("BATON_POSTGRES_URL="))
        self.count = 0

    def database(self) -> str:
        self.count += 1
        name = f"bench{self.count}"
        self.psql(self.url, f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + "/" + name

    @staticmethod
    def psql(url: str, sql: str) -> list:
        out = subprocess.run(["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True,
                             capture_output=True, text=True).stdout
        return [line.split("|") for line in out.splitlines() if line]

    def stop(self):
        subprocess.run([ROOT / "scripts/stop-postgres.sh", "--state-dir", self.state, "--remove"], check=False)


def spawn(argv, env, cwd) -> dict:
    start = time.perf_counter()
    result = subprocess.run([str(a) for a in argv], env=env, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(map(str, argv))} exited {result.returncode}:\n{result.stderr[-2000:]}")
    return {"wall_s": time.perf_counter() - start, "stdout": result.stdout}


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    ordered = sorted(values)
    return {"median": statistics.median(values), "min": ordered[0], "max": ordered[-1], "n": len(values),
            "p90": ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]}


def fmt(s, scale=1.0, digits=0, unit=""):
    if not s:
        return "–"
    f = f"{{:.{digits}f}}"
    return f"{f.format(s['median'] * scale)}{unit} ({f.format(s['min'] * scale)}–{f.format(s['max'] * scale)})"


def start_workers(binary, url, count, scratch, concurrency=1, extra=()):
    workers = []
    for index in range(count):
        log = open(scratch / f"worker-{index}.log", "ab")
        argv = [binary, "worker", "--db", url, "--id", f"bench-w{index + 1}", "--concurrency", str(concurrency), *extra]
        workers.append(subprocess.Popen([str(a) for a in argv], env=env_for(scratch), cwd=scratch,
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=log))
    return workers


def stop_workers(workers):
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def wait_for(url, runs: int, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        done = int(Cluster.psql(url, "SELECT count(*) FROM runs WHERE status IN ('completed', 'failed')")[0][0])
        if done >= runs:
            failed = int(Cluster.psql(url, "SELECT count(*) FROM runs WHERE status = 'failed'")[0][0])
            if failed:
                sys.exit(f"{failed} runs failed")
            return
        time.sleep(0.1)
    sys.exit(f"runs did not finish within {timeout} s")


def submit(binary, url, scratch, topic) -> dict:
    return spawn([binary, "submit", PIPELINE, "--profile", "ci", "--input", f"topic={topic}", "--db", url],
                 env_for(scratch), scratch)


# MARK: - Measurements

def throughput(binary, cluster, scratch, runs, counts, concurrency) -> dict:
    results = {}
    for count in counts:
        url = cluster.database()
        submits = [submit(binary, url, scratch, TOPICS[i % len(TOPICS)])["wall_s"] for i in range(runs)]
        workers = start_workers(binary, url, count, scratch, concurrency)
        try:
            wait_for(url, runs)
        finally:
            stop_workers(workers)
        first_claim = float(Cluster.psql(url, "SELECT min(at) FROM events WHERE kind = 'run-claimed'")[0][0])
        last_finish = float(Cluster.psql(url, "SELECT max(finished_at) FROM runs")[0][0])
        per_worker = Cluster.psql(
            url, "SELECT coalesce(payload, ''), count(*) FROM events WHERE kind = 'run-claimed' GROUP BY 1 ORDER BY 1")
        seconds = last_finish - first_claim
        results[count] = {"runs": runs, "seconds": seconds, "runs_per_s": runs / seconds,
                          "submit_s": summary(submits), "claims": len(per_worker)}
        print(f"  {count} worker(s): {runs} runs in {seconds:.2f} s = {runs / seconds:.1f} runs/s", flush=True)
    return results


def latency(binary, cluster, scratch, samples) -> dict:
    url = cluster.database()
    workers = start_workers(binary, url, 1, scratch)
    try:
        time.sleep(1.0)  # the worker registers and LISTENs
        for index in range(samples):
            submit(binary, url, scratch, TOPICS[index % len(TOPICS)])
            wait_for(url, index + 1)
            time.sleep(0.05)
    finally:
        stop_workers(workers)
    rows = Cluster.psql(
        url, "SELECT s.at, c.at FROM events s JOIN events c ON c.run_id = s.run_id AND c.kind = 'run-claimed' "
             "WHERE s.kind = 'run-submitted' ORDER BY s.id")
    values = [float(claimed) - float(submitted) for submitted, claimed in rows]
    return {"samples": summary(values), "values": values}


def chain_yaml(count: int) -> str:
    lines = [f"version: 1\nname: chain{count}\ndescription: A {count}-stage chain for the store benchmark.\nstages:\n"]
    for n in range(1, count + 1):
        prompt = "Start the chain." if n == 1 else f"Step {n} after: {{{{stages.s{n - 1:04d}.output}}}}"
        lines.append(f"  s{n:04d}:\n    model: echo-small\n    prompt: \"{prompt}\"\n")
    return "".join(lines)


def overhead(binary, cluster, scratch, chain, reps) -> dict:
    pipeline = scratch / f"chain{chain}.yaml"
    pipeline.write_text(chain_yaml(chain))
    figures = {"sqlite": [], "postgres": []}
    for rep in range(reps):
        for backend in (("sqlite", "postgres") if rep % 2 == 0 else ("postgres", "sqlite")):
            if backend == "sqlite":
                db = scratch / f"chain-{rep}.sqlite"
                spawn([binary, "run", pipeline, "--runtime", "echo", "--db", db, "--quiet"], env_for(scratch), scratch)
                with sqlite3.connect(db) as conn:
                    created, finished = conn.execute("SELECT created_at, finished_at FROM runs").fetchone()
                    attempts = conn.execute("SELECT count(*) FROM attempts").fetchone()[0]
            else:
                url = cluster.database()
                spawn([binary, "run", pipeline, "--runtime", "echo", "--db", url, "--quiet"], env_for(scratch), scratch)
                created, finished = map(float, Cluster.psql(url, "SELECT created_at, finished_at FROM runs")[0])
                attempts = int(Cluster.psql(url, "SELECT count(*) FROM attempts")[0][0])
            figures[backend].append((finished - created) / attempts)
    return {name: summary(values) for name, values in figures.items()}


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
    parser.add_argument("--runs", type=int)
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--samples", type=int)
    parser.add_argument("--chain", type=int)
    parser.add_argument("--reps", type=int)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs = args.runs or (20 if args.quick else 60)
    samples = args.samples or (8 if args.quick else 20)
    chain = args.chain or (50 if args.quick else 200)
    reps = args.reps or (1 if args.quick else 3)
    binary = args.binary or build()
    info = machine()
    print(f"machine: {info['cores']} cores, {info['cpu']}, {info['system']}, load {info['loadavg']}", flush=True)
    with tempfile.TemporaryDirectory(prefix="baton-workers-bench-") as folder:
        scratch = Path(folder)
        cluster = Cluster(scratch)
        try:
            print(f"1/3 throughput: {runs} runs of relay.yaml with {args.workers} workers", flush=True)
            counts = [int(c) for c in args.workers.split(",")]
            results = {"throughput": throughput(binary, cluster, scratch, runs, counts, args.concurrency)}
            print(f"2/3 claim latency: {samples} runs, one at a time, one idle worker", flush=True)
            results["latency"] = latency(binary, cluster, scratch, samples)
            print(f"3/3 engine overhead per stage: chain{chain}, {reps} repetitions", flush=True)
            results["overhead"] = overhead(binary, cluster, scratch, chain, reps)
        finally:
            cluster.stop()
    results["machine"] = info
    results["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    print()
    print("| workers | runs | seconds | runs/s | submit per run |")
    print("| --- | --- | --- | --- | --- |")
    for count, row in results["throughput"].items():
        print(f"| {count} | {row['runs']} | {row['seconds']:.2f} | {row['runs_per_s']:.1f} | "
              f"{fmt(row['submit_s'], 1000, 0, ' ms')} |")
    lat = results["latency"]["samples"]
    print(f"\nClaim latency submit → run-claimed: median {lat['median'] * 1000:.1f} ms, p90 {lat['p90'] * 1000:.1f} ms, "
          f"max {lat['max'] * 1000:.1f} ms ({lat['n']} samples; target < 100 ms)")
    o = results["overhead"]
    print(f"Engine overhead per stage (chain{chain}, in-run): SQLite {fmt(o['sqlite'], 1e6, 0, ' µs')}, "
          f"PostgreSQL {fmt(o['postgres'], 1e6, 0, ' µs')}")
    out = ROOT / "Benchmarks/out"
    out.mkdir(exist_ok=True)
    path = out / f"workers-{datetime.date.today().isoformat()}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
