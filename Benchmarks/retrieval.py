#!/usr/bin/env python3
"""Benchmark of index search (issue 13). Prints figures; asserts nothing.

  python3 Benchmarks/retrieval.py [--queries N] [--release] [--scratch-path DIR] [--no-build] [--no-sqlite-vec]
                                  [--all-cores] [--package-path DIR]

Exact top-10 query latency over 100,000 random unit vectors of 384 dimensions (what `vector: exact` does: a
contiguous copy of every vector, SIMD dot products, a bounded heap), side by side with sqlite-vec's `vec0` KNN on
the same index file (`vector: sqlite-vec`; its table is filled from the stored vectors when the store opens).
Each is timed over N queries (default 100) after one warm-up query that loads exact search's vector copy; the
figures are median, p95 and min per query. The search is single-threaded; the test process is pinned to one core
with taskset(1) unless --all-cores. The index is built once in a temporary file (its build time is printed too).

The harness is the test `benchmarkExactSearch` in Tests/BatonEngineTests/IndexStoreTests.swift, enabled by
BATON_BENCH_RETRIEVAL=N (no executable target, so Package.swift is untouched). sqlite-vec comes from
scripts/setup-sqlite-vec.sh (the PyPI wheel, cached) unless BATON_SQLITE_VEC is set or --no-sqlite-vec is given.

By default the debug test build is used (what `swift build --build-tests` leaves), which makes exact search
several times slower than shipped; --release builds and runs the tests in release mode (`-c release`, in
--scratch-path when given, so the shared debug build is left alone). The issue's target is the release figure:
under 30 ms on one core. Results are also written to Benchmarks/out/retrieval-STAMP.json.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=100, help="measured queries per backend (default 100)")
    parser.add_argument("--release", action="store_true", help="build and run the tests in release mode")
    parser.add_argument("--scratch-path", help="SwiftPM's build folder (e.g. /tmp/rb-release for a separate release build)")
    parser.add_argument("--no-build", action="store_true", help="use the test build as it is")
    parser.add_argument("--no-sqlite-vec", action="store_true", help="measure exact search only")
    parser.add_argument("--all-cores", action="store_true", help="do not pin the test process to one core")
    parser.add_argument("--package-path", default=ROOT, help="the package to build and test (default: this checkout)")
    args = parser.parse_args()

    # Test files use @testable imports, which a release build allows only when compiled for testing.
    mode = ["-c", "release", "-Xswiftc", "-enable-testing"] if args.release else []
    if args.scratch_path:
        mode += ["--scratch-path", args.scratch_path]
    if not args.no_build:
        build = subprocess.run(["swift", "build", "--build-tests", *mode], cwd=args.package_path, capture_output=True, text=True)
        if build.returncode != 0:
            sys.stderr.write(build.stdout[-4000:] + build.stderr[-4000:])
            return 1
    env = dict(os.environ, BATON_BENCH_RETRIEVAL=str(args.queries))
    if args.no_sqlite_vec:
        env.pop("BATON_SQLITE_VEC", None)
    elif not env.get("BATON_SQLITE_VEC"):
        setup = subprocess.run([os.path.join(ROOT, "scripts", "setup-sqlite-vec.sh")], capture_output=True, text=True)
        if setup.returncode == 0:
            env["BATON_SQLITE_VEC"] = setup.stdout.strip()
        else:
            sys.stderr.write("sqlite-vec unavailable, exact search only:\n" + setup.stderr[-2000:])
    command = ["swift", "test", "--skip-build", *mode, "--filter", "IndexStoreTests/benchmarkExactSearch"]
    if not args.all_cores and shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    test = subprocess.run(command, cwd=args.package_path, env=env, capture_output=True, text=True)
    lines = [line for line in (test.stdout + test.stderr).splitlines() if line.startswith("BENCH ")]
    if test.returncode != 0 or not any(line.startswith("BENCH exact-top10") for line in lines):
        sys.stderr.write(test.stdout[-4000:] + test.stderr[-4000:])
        return 1
    figures = {}
    notes = []
    for line in lines:
        name, *pairs = line[len("BENCH "):].split()
        values = {}
        for pair in pairs:
            if "=" in pair:
                key, value = pair.split("=", 1)
                try:
                    values[key] = float(value)
                except ValueError:
                    values[key] = value
        if values:
            figures[name] = values
        else:
            notes.append(line[len("BENCH "):])
    build_mode = "release" if args.release else "debug"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"index search, 100,000 random unit vectors of 384 dimensions, top 10, {args.queries} queries "
          f"({build_mode} test build, {'all cores' if args.all_cores else 'one core'}; machine: {os.cpu_count()} cores, "
          f"{platform.machine()}, {platform.system()} {platform.release()}, load average {load:.2f})")
    if "build" in figures:
        print(f"  index built in {figures['build']['seconds']:.1f} s (100 transactions of 1,000 chunks, FTS5 included)")
    if "first-search" in figures:
        print(f"  first search of a newly opened store (reads the 100,000 vectors into memory): {figures['first-search']['ms']:.0f} ms")
    for name, label in (("exact-top10", "exact (SIMD dot products)"), ("sqlite-vec-top10", "sqlite-vec vec0 KNN")):
        if name in figures:
            f = figures[name]
            print(f"  {label:28} median {f['median_ms']:7.2f} ms  p95 {f['p95_ms']:7.2f} ms  min {f['min_ms']:7.2f} ms")
    if "vec0-fill" in figures:
        print(f"  vec0 table filled from the stored vectors in {figures['vec0-fill']['seconds']:.1f} s")
    if "parity" in figures:
        p = figures["parity"]
        print(f"  same top-10 ids from both: {int(p['same_top10'])} of {int(p['of'])} queries")
    for note in notes:
        print(f"  {note}")
    print("  target (issue 13): exact top-10 under 30 ms on one core, release build")
    out = os.path.join(ROOT, "Benchmarks", "out")
    os.makedirs(out, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    with open(os.path.join(out, f"retrieval-{stamp}.json"), "w") as handle:
        json.dump({"build": build_mode, "queries": args.queries, "load_average": load, "figures": figures}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
