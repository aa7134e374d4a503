#!/usr/bin/env python3
"""End-to-end cost of tool stages in the shipped binary (issue 12). Prints figures; asserts nothing.

  python3 Benchmarks/tool_stages.py [--binary PATH] [--stages N] [--reps R] [--mcp-bin DIR]

Baton's own time per tool stage: `baton run` on a chain of N tool stages (R repetitions); the time per stage in
steady state, read from the run database (the first attempt's recorded end to the last one's, over N - 1; median of
the repetitions), minus the same call made directly by this script. "Spawn to recorded result" is inside it:
rendering, the allow-list, the intent commit, the call, the result commit with the attempt, the events. The
wall-clock slope (T(N) - T(1)) / (N - 1) is printed too; it also carries once-per-run costs' variance (an MCP
server's start and stop), so it is noisier.

- `run`: N stages `run: [true]` (effects: none) on a profile that allows `true`; direct: os.posix_spawn of
  /usr/bin/true and waitpid, N times (median). Target: under 5 ms of Baton's own time.
- `mcp`: N stages calling `get_current_time` on mcp-server-time (started once per run, warm after the first call);
  direct: the same `tools/call` over the same server's stdio from this script (newline-delimited JSON-RPC, after
  `initialize`), N times (median). Target: under 2 ms. Needs the private environment of scripts/setup-mcp.sh
  (--mcp-bin, default $BATON_MCP_BIN).
- For reference, the slope of a chain of N echo model stages (`--runtime echo`), the engine's per-stage cost.

Each figure is also read from the run database: tool_calls.finished_at - started_at (intent commit to result
commit) per call, median. Results go to Benchmarks/out/tool-stages-STAMP.json.
"""
import argparse
import datetime
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def release_binary() -> Path:
    subprocess.run(["swift", "build", "-c", "release", "--product", "baton"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    out = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    return Path(out) / "baton"


def clean_env(scratch: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "XDG_"))}
    env["XDG_CONFIG_HOME"] = str(scratch / "config")
    env["XDG_STATE_HOME"] = str(scratch / "state")
    env["NO_COLOR"] = "1"
    return env


PROFILE = """version: 1
name: tools-bench
default_runtime: echo
runtimes:
  echo: {kind: echo}
models:
  echo-small: {runtime: echo, footprint: 256MB}
tools:
  allow: [true]
"""


def run_pipeline(count: int) -> str:
    lines = ["version: 1", "stages:"]
    for index in range(count):
        lines.append(f"  s{index}: {{run: [\"true\"], effects: none}}")
    return "\n".join(lines) + "\n"


def mcp_pipeline(count: int, server: str) -> str:
    lines = ["version: 1", "mcp_servers:", f"  time: {{command: [\"{server}\"]}}", "stages:"]
    for index in range(count):
        lines.append(f"  s{index}: {{mcp: {{server: time, tool: get_current_time, arguments: {{timezone: UTC}}}}, "
                     "effects: none}")
    return "\n".join(lines) + "\n"


def echo_pipeline(count: int) -> str:
    lines = ["version: 1", "stages:"]
    for index in range(count):
        lines.append(f"  s{index}: {{model: echo-small, prompt: \"p{index}\"}}")
    return "\n".join(lines) + "\n"


def timed_run(binary: Path, pipeline: Path, db: Path, scratch: Path, args) -> float:
    # The file and its WAL and shared-memory files: a stale -shm beside a new database is a disk I/O error.
    for stale in db.parent.glob(db.name + "*"):
        stale.unlink()
    start = time.perf_counter()
    result = subprocess.run([str(binary), "run", str(pipeline), "--db", str(db), "--quiet", "--trust", *args],
                            cwd=scratch, env=clean_env(scratch), capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-2000:] + result.stderr[-2000:])
        raise SystemExit(f"baton run {pipeline.name} exited {result.returncode}")
    return wall


def steady_per_stage(db: Path) -> float:
    """Seconds per stage after the first: from the first attempt's recorded end to the last one's, over N - 1.

    Leaves out what happens once per run (process start, the database, an MCP server's start and stop), whose
    variance swamps a wall-clock slope."""
    connection = sqlite3.connect(db)  # closed by hand: `with` only commits, and an open reader keeps the -shm
    ends = [row[0] for row in connection.execute(
        "SELECT finished_at FROM attempts WHERE status = 'completed' ORDER BY finished_at").fetchall()]
    connection.close()
    return (ends[-1] - ends[0]) / (len(ends) - 1)


def call_times(db: Path) -> list:
    connection = sqlite3.connect(db)
    rows = connection.execute(
        "SELECT finished_at - started_at FROM tool_calls WHERE status = 'done' AND finished_at IS NOT NULL").fetchall()
    connection.close()
    return [row[0] for row in rows]


def slope(binary, scratch, name, text_n, text_1, count, reps, args):
    big, one = scratch / f"{name}-{count}.yaml", scratch / f"{name}-1.yaml"
    big.write_text(text_n)
    one.write_text(text_1)
    db = scratch / f"{name}.sqlite"
    walls_n, walls_1, calls, steady = [], [], [], []
    for _ in range(reps):
        walls_1.append(timed_run(binary, one, db, scratch, args))
        walls_n.append(timed_run(binary, big, db, scratch, args))
        steady.append(steady_per_stage(db))
        if name != "echo":
            calls.extend(call_times(db))
    slope_s = (statistics.median(walls_n) - statistics.median(walls_1)) / (count - 1)
    return {"median_wall_n_s": statistics.median(walls_n), "median_wall_1_s": statistics.median(walls_1),
            "wall_slope_ms": slope_s * 1000, "per_stage_ms": statistics.median(steady) * 1000,
            "call_median_ms": statistics.median(calls) * 1000 if calls else None}


def direct_spawns(count: int) -> float:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        pid = os.posix_spawn("/usr/bin/true", ["true"], {"PATH": "/usr/bin:/bin"})
        os.waitpid(pid, 0)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def direct_mcp_calls(server: str, count: int) -> float:
    process = subprocess.Popen([server], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, bufsize=0)

    def request(ident, method, params):
        process.stdin.write((json.dumps({"jsonrpc": "2.0", "id": ident, "method": method, "params": params}) + "\n").encode())
        while True:
            line = json.loads(process.stdout.readline())
            if line.get("id") == ident:
                return line

    request(0, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                              "clientInfo": {"name": "bench", "version": "1"}})
    process.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    times = []
    for ident in range(1, count + 11):
        start = time.perf_counter()
        request(ident, "tools/call", {"name": "get_current_time", "arguments": {"timezone": "UTC"}})
        if ident > 10:
            times.append(time.perf_counter() - start)
    process.stdin.close()
    process.wait(timeout=10)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, help="a built baton (default: build the release product)")
    parser.add_argument("--stages", type=int, default=200, help="stages in the long chain (default 200)")
    parser.add_argument("--reps", type=int, default=5, help="repetitions of each run (default 5)")
    parser.add_argument("--mcp-bin", default=os.environ.get("BATON_MCP_BIN"), help="folder with mcp-server-time")
    args = parser.parse_args()
    binary = args.binary or release_binary()
    figures = {}
    with tempfile.TemporaryDirectory(prefix="baton-tool-bench-") as folder:
        scratch = Path(folder)
        profile = scratch / "tools-bench.yaml"
        profile.write_text(PROFILE)
        profile_args = ["--profile", str(profile)]
        figures["echo"] = slope(binary, scratch, "echo", echo_pipeline(args.stages), echo_pipeline(1), args.stages,
                                args.reps, profile_args)
        figures["run"] = slope(binary, scratch, "run", run_pipeline(args.stages), run_pipeline(1), args.stages,
                               args.reps, profile_args)
        figures["run"]["direct_ms"] = direct_spawns(args.stages)
        figures["run"]["own_ms"] = figures["run"]["per_stage_ms"] - figures["run"]["direct_ms"]
        server = os.path.join(args.mcp_bin, "mcp-server-time") if args.mcp_bin else None
        if server and os.path.exists(server):
            figures["mcp"] = slope(binary, scratch, "mcp", mcp_pipeline(args.stages, server), mcp_pipeline(1, server),
                                   args.stages, args.reps, profile_args)
            figures["mcp"]["direct_ms"] = direct_mcp_calls(server, args.stages)
            figures["mcp"]["own_ms"] = figures["mcp"]["per_stage_ms"] - figures["mcp"]["direct_ms"]
        else:
            print("mcp: skipped (no mcp-server-time; run scripts/setup-mcp.sh and pass --mcp-bin)")

    print(f"tool stages, {binary} ({args.stages}-stage chains, {args.reps} reps, {os.cpu_count()} cores)")
    print(f"  echo model stage   {figures['echo']['per_stage_ms']:.2f} ms per stage (reference)")
    for name, target in (("run", 5), ("mcp", 2)):
        if name not in figures:
            continue
        f = figures[name]
        call = f"{f['call_median_ms']:.2f} ms" if f["call_median_ms"] is not None else "n/a"
        print(f"  {name:4} stage         {f['per_stage_ms']:.2f} ms per stage (wall slope {f['wall_slope_ms']:.2f} ms); "
              f"direct call {f['direct_ms']:.2f} ms; Baton's own time {f['own_ms']:.2f} ms (target < {target} ms); "
              f"intent-to-result per call {call}")
    out = ROOT / "Benchmarks" / "out"
    out.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    (out / f"tool-stages-{stamp}.json").write_text(json.dumps({"stages": args.stages, "reps": args.reps,
                                                              "figures": figures}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
