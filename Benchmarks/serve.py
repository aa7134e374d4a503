#!/usr/bin/env python3
"""Benchmark of `baton serve` under load (issue 16). Prints figures; asserts nothing.

  python3 Benchmarks/serve.py [--binary PATH] [--stages N] [--streams N] [--reps N] [--wait SECONDS] [--quick]

A 1,000-stage linear chain (Benchmarks/engine.py's chain1000: every stage `model: echo-small`, the echo runtime with
zero delay, `baton run FILE --runtime echo --db TMP --quiet`) runs at full speed, once with `baton serve` on its
database and --streams (default 50) clients following the run's event stream (`GET /api/runs/ID/events`, server-sent
events, each an `http.client` connection in a thread of this driver reading to the stream's `end`), and once with no
server. The two alternate within every repetition (without first on even repetitions, with first on odd ones) so
machine noise falls on both; default 5 repetitions.

The run's first stage waits --wait seconds (default 3; an echo script `delay`) so the clients connect while nothing
else happens; the figure leaves that stage out:
- per-stage µs: from the second attempt's started_at to the run's finished_at (as recorded by baton), divided by
  the stages after the first. The target: with serve and 50 streams, under 1.20 × without;
- events per stream: the `id:` events each client received before `end`, against the run's rows in `events`
  (every stream must have all of them, each once);
- baton serve's peak RSS: VmHWM of /proc/PID/status read before it is stopped (target: under 100 MB).
Also printed: the process wall time of `baton run`, and how many clients were connected before the second stage began.

Every run gets a fresh database in a temporary folder, created by a one-stage run first (`baton serve` needs an
existing database), in both modes. Uses the release build when .build/release/baton exists, else the debug build
(the figures say which); --binary overrides. Results also go to Benchmarks/out/serve-DATE.json (git-ignored).
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Benchmarks"))
from engine import chain_yaml, clean_env  # noqa: E402  (the same chain and environment as the engine benchmark)


def default_binary() -> Path:
    release = ROOT / ".build" / "release" / "baton"
    return release if release.exists() else ROOT / ".build" / "debug" / "baton"


def run_figures(db: Path) -> dict:
    """The newest run's per-stage time after its first stage, from the database."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        run_id, status, finished = conn.execute(
            "SELECT id, status, finished_at FROM runs ORDER BY created_at DESC LIMIT 1").fetchone()
        starts = [row[0] for row in conn.execute(
            "SELECT started_at FROM attempts WHERE run_id = ? ORDER BY started_at LIMIT 2", (run_id,))]
        attempts, = conn.execute("SELECT count(*) FROM attempts WHERE run_id = ?", (run_id,)).fetchone()
        events = [row[0] for row in conn.execute("SELECT id FROM events WHERE run_id = ? ORDER BY id", (run_id,))]
    if status != "completed":
        sys.exit(f"run {run_id} ended {status}")
    second = starts[1]
    return {"id": run_id, "attempts": attempts, "second_start": second, "events": events,
            "us_per_stage": (finished - second) / (attempts - 1) * 1e6}


class Stream(threading.Thread):
    """One client of /api/runs/ID/events: collects the `id:` events up to `end`, and like a browser's EventSource
    connects again with `Last-Event-ID` when the server closes the stream before `end` (it drops a client that falls
    more than its buffer behind)."""

    def __init__(self, port: int, run_id: str):
        super().__init__(daemon=True)
        self.port, self.run_id = port, run_id
        self.ids, self.ended, self.error, self.connected_at, self.reconnects = [], False, None, None, 0

    def run(self):
        try:
            while not self.ended:
                if self.connected_at is not None:
                    self.reconnects += 1
                    if self.reconnects > 100:
                        self.error = "more than 100 reconnects"
                        return
                self.follow()
        except Exception as error:  # noqa: BLE001 - reported in the figures
            self.error = f"{type(error).__name__}: {error}"

    def follow(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Accept": "text/event-stream"}
        if self.ids:
            headers["Last-Event-ID"] = str(self.ids[-1])
        conn.request("GET", f"/api/runs/{self.run_id}/events", headers=headers)
        response = conn.getresponse()
        if self.connected_at is None:
            self.connected_at = time.time()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {response.read(300)!r}")
        pending = b""
        while True:
            chunk = response.read1(65536)
            if not chunk:
                break
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if line.startswith(b"id:"):
                    self.ids.append(int(line[3:].strip()))
                elif line.startswith(b"event:") and line[6:].strip() == b"end":
                    self.ended = True
            if self.ended:
                break
        conn.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def one_run(binary: Path, scratch: Path, chain: Path, script: Path, streams: int, tag: str) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir=scratch))
    db = folder / "runs.sqlite"
    env = clean_env(folder, HOME=folder, XDG_CACHE_HOME=folder / "cache")
    subprocess.run([binary, "run", scratch / "one.yaml", "--runtime", "echo", "--db", db, "--quiet"], env=env,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with sqlite3.connect(db) as conn:
        known = {row[0] for row in conn.execute("SELECT id FROM runs")}
    server, clients, port = None, [], None
    if streams:
        server = subprocess.Popen([binary, "serve", "--port", "0", "--db", db], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        url = server.stdout.readline().strip()
        if not url.startswith("http://"):
            sys.exit(f"baton serve printed {url!r} instead of its URL")
        port = int(url.rstrip("/").rsplit(":", 1)[1])
    run_env = dict(env, BATON_ECHO_SCRIPT=str(script))
    serve_cpu = cpu_seconds(server.pid) if server else 0.0
    own_cpu = time.process_time()
    start = time.perf_counter()
    process = subprocess.Popen([binary, "run", chain, "--runtime", "echo", "--db", db, "--quiet"], env=run_env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if streams:
        run_id = None
        while run_id is None and process.poll() is None:
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                    run_id = next((row[0] for row in conn.execute("SELECT id FROM runs") if row[0] not in known), None)
            except sqlite3.OperationalError:
                pass
            time.sleep(0.02)
        clients = [Stream(port, run_id) for _ in range(streams)]
        for client in clients:
            client.start()
    _, err = process.communicate()
    wall = time.perf_counter() - start
    if process.returncode != 0:
        sys.exit(f"baton run exited {process.returncode}: {err[-2000:]!r}")
    figures = run_figures(db)
    figures["wall_s"] = wall
    if streams:
        for client in clients:
            client.join(120)
        figures["received"] = [len(c.ids) for c in clients]
        figures["complete"] = sum(c.ids == figures["events"] and c.ended for c in clients)
        figures["errors"] = sorted({c.error for c in clients if c.error})
        figures["reconnects"] = sum(c.reconnects for c in clients)
        figures["connected_before_stage_2"] = sum(
            c.connected_at is not None and c.connected_at < figures["second_start"] for c in clients)
        figures["serve_hwm_kib"] = vm_hwm_kib(server.pid)
        figures["serve_cpu_s"] = cpu_seconds(server.pid) - serve_cpu
        figures["clients_cpu_s"] = time.process_time() - own_cpu
        server.send_signal(signal.SIGTERM)
        try:
            figures["serve_exit"] = server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            figures["serve_exit"] = "killed after 30 s"
    figures["event_count"] = len(figures.pop("events"))
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", type=Path, default=None)
    parser.add_argument("--stages", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--wait", type=float, default=3.0)
    parser.add_argument("--quick", action="store_true", help="200 stages, 2 repetitions")
    args = parser.parse_args()
    if args.quick:
        args.stages, args.reps = 200, 2
    binary = (args.binary or default_binary()).resolve()
    build = "release" if "/release/" in str(binary) else "debug" if "/debug/" in str(binary) else "given"
    scratch = Path(tempfile.mkdtemp(prefix="baton-serve-bench-"))
    chain = scratch / f"chain{args.stages}.yaml"
    chain.write_text(chain_yaml(args.stages))
    (scratch / "one.yaml").write_text("version: 1\nname: one\nstages:\n  only:\n    model: echo-small\n    prompt: Hi.\n")
    width = max(4, len(str(args.stages)))
    script = scratch / "script.yaml"
    script.write_text(f"s{1:0{width}d}:\n  1: {{delay: {args.wait}s}}\n")

    print(f"baton serve benchmark: {binary} ({build} build), chain of {args.stages} stages, {args.streams} streams, "
          f"{args.reps} repetitions", flush=True)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"machine: {os.cpu_count()} cores, {cpu}, {platform.platform()}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}", flush=True)
    samples = {"without": [], "with": []}
    for rep in range(args.reps):
        order = ["without", "with"] if rep % 2 == 0 else ["with", "without"]
        for mode in order:
            figures = one_run(binary, scratch, chain, script, args.streams if mode == "with" else 0, f"{mode}{rep}")
            samples[mode].append(figures)
            extra = ""
            if mode == "with":
                extra = (f", events/stream {min(figures['received'])}–{max(figures['received'])} of "
                         f"{figures['event_count']} ({figures['complete']}/{args.streams} complete, "
                         f"{figures['reconnects']} reconnects), "
                         f"{figures['connected_before_stage_2']} connected before stage 2, serve VmHWM "
                         f"{figures['serve_hwm_kib'] / 1024:.1f} MiB, CPU serve {figures['serve_cpu_s']:.2f} s "
                         f"clients {figures['clients_cpu_s']:.2f} s, exit {figures['serve_exit']}"
                         + (f", errors {figures['errors']}" if figures["errors"] else ""))
            print(f"  rep {rep + 1} {mode:>7}: {figures['us_per_stage']:.0f} µs/stage, wall {figures['wall_s']:.2f} s{extra}",
                  flush=True)

    def median(mode, key):
        return statistics.median(s[key] for s in samples[mode])

    without, with_serve = median("without", "us_per_stage"), median("with", "us_per_stage")
    ratios = [w["us_per_stage"] / o["us_per_stage"] for w, o in zip(samples["with"], samples["without"])]
    hwm = max(s["serve_hwm_kib"] for s in samples["with"]) / 1024
    complete = all(s["complete"] == args.streams for s in samples["with"])
    print()
    print("| figure | value | target |")
    print("|---|---|---|")
    print(f"| per-stage µs without serve (median, min–max) | {without:.0f} ({min(s['us_per_stage'] for s in samples['without']):.0f}–"
          f"{max(s['us_per_stage'] for s in samples['without']):.0f}) | |")
    print(f"| per-stage µs with serve and {args.streams} streams | {with_serve:.0f} ({min(s['us_per_stage'] for s in samples['with']):.0f}–"
          f"{max(s['us_per_stage'] for s in samples['with']):.0f}) | |")
    print(f"| ratio of medians (paired ratios min–max) | {with_serve / without:.3f} ({min(ratios):.3f}–{max(ratios):.3f}) | < 1.20 |")
    print(f"| events per stream = the run's events, every stream, every repetition | {'yes' if complete else 'NO'} "
          f"({samples['with'][0]['event_count']} events) | all |")
    print(f"| baton serve peak RSS (VmHWM, max over repetitions) | {hwm:.1f} MiB | < 100 MB |")
    out = ROOT / "Benchmarks" / "out"
    out.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (out / f"serve-{stamp}.json").write_text(json.dumps(
        {"binary": str(binary), "build": build, "stages": args.stages, "streams": args.streams, "samples": samples},
        indent=1))
    subprocess.run(["rm", "-rf", str(scratch)])


if __name__ == "__main__":
    main()
