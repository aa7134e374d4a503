#!/usr/bin/env python3
"""Benchmarks of the tool runners (issue 12). Prints figures; asserts nothing.

  python3 Benchmarks/tools.py [--runs N] [--release] [--no-build]

`run` stage overhead: N spawns of `true` through ProcessTool (exact environment, own session and process
group, stdin writer, both outputs drained with caps, timeout timer) against N spawns of the same `true` made
directly with swift-subprocess (`Subprocess.run(.path("/usr/bin/true"), output: .discarded)`), interleaved in
one process after 10 warm-up pairs. The harness is the test `benchmark: spawn-to-result of true, ...` in
Tests/BatonEngineTests/ProcessToolTests.swift, enabled by BATON_BENCH_TOOLS=N (no executable target is needed,
so Package.swift is untouched). Figures: median, p90 and min of each, and the median of the per-pair
difference: Baton's own time per `run` (issue target: under 5 ms).

By default the debug test build is used (what `swift build --build-tests` leaves); --release builds and runs the
tests in release mode (`-c release`, slower to build) for figures closer to the shipped binary.
Results are also written to Benchmarks/out/tools-STAMP.json.
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="measured pairs (default 200)")
    parser.add_argument("--release", action="store_true", help="build and run the tests in release mode")
    parser.add_argument("--no-build", action="store_true", help="use the test build as it is")
    args = parser.parse_args()

    mode = ["-c", "release"] if args.release else []
    if not args.no_build:
        build = subprocess.run(["swift", "build", "--build-tests", *mode], cwd=ROOT, capture_output=True, text=True)
        if build.returncode != 0:
            sys.stderr.write(build.stdout[-4000:] + build.stderr[-4000:])
            return 1
    env = dict(os.environ, BATON_BENCH_TOOLS=str(args.runs))
    test = subprocess.run(
        ["swift", "test", "--skip-build", *mode, "--filter", "ProcessToolTests/benchmarkSpawn"],
        cwd=ROOT, env=env, capture_output=True, text=True)
    lines = [line for line in (test.stdout + test.stderr).splitlines() if line.startswith("BENCH ")]
    if test.returncode != 0 or len(lines) < 3:
        sys.stderr.write(test.stdout[-4000:] + test.stderr[-4000:])
        return 1
    figures = {}
    for line in lines:
        name, *pairs = line[len("BENCH "):].split()
        figures[name] = {key: float(value) for key, value in (pair.split("=") for pair in pairs)}
    build_mode = "release" if args.release else "debug"
    print(f"run-stage spawn overhead ({build_mode} test build, {args.runs} pairs of `true`, machine: {os.cpu_count()} cores)")
    for name in ("process-tool-true", "direct-subprocess-true"):
        f = figures[name]
        print(f"  {name:24} median {f['median_ms']:.3f} ms  p90 {f['p90_ms']:.3f} ms  min {f['min_ms']:.3f} ms")
    overhead = figures["overhead-per-run"]
    print(f"  Baton's own time per run (paired difference): median {overhead['median_ms']:.3f} ms, "
          f"p90 {overhead['p90_ms']:.3f} ms (target < 5 ms)")
    out = os.path.join(ROOT, "Benchmarks", "out")
    os.makedirs(out, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    with open(os.path.join(out, f"tools-{stamp}.json"), "w") as handle:
        json.dump({"build": build_mode, "runs": args.runs, "figures": figures}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
