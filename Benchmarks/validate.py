#!/usr/bin/env python3
"""Benchmarks of `baton validate` (issue: the spec layer). Prints figures; asserts nothing.

  python3 Benchmarks/validate.py [--runs N] [--files N] [--binary PATH]

1. Process wall time of `baton validate pipelines/code-task.yaml`, from spawn to exit, release build,
   run from the repository root (so the default profile is loaded and checked too). N runs after 5
   warm-up runs; prints median, min, max. Target: under 50 ms.
   The same for pipelines/support-router.yaml (conditions and routes) and for
   Benchmarks/pipelines/every-construct.yaml, which uses every control-flow construct of issue 11 at once
   (critic loops, when, route, for_each with a per-item critic, repeat with vote, and a sub-pipeline call that
   itself calls another). Target: under 50 ms.
2. Throughput: 1,000 generated pipelines of 10 stages each (inputs, a chain of template references,
   a critic loop, JSON output with a schema, retries), validated by one `baton validate DIR` process.
   Prints files per second (median of 5 runs, wall time of the whole process). Target: over 2,000/s.

Builds the release binary first unless --binary is given. Also prints the machine (cores, CPU model)
so the README can say where figures were measured.
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build() -> Path:
    subprocess.run(["swift", "build", "-c", "release", "--product", "baton"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    out = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    return Path(out) / "baton"


def timed(argv, cwd) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(map(str, argv))} exited {result.returncode}")
    return elapsed


def generate(folder: Path, count: int) -> None:
    for n in range(count):
        stages = []
        for s in range(10):
            if s == 0:
                prompt = "Plan {{inputs.task}} in {{inputs.language}}.\\n{{#feedback}}Fix: {{feedback}}{{/feedback}}"
                extra = "    role: planner\n    temperature: 0.2\n"
            elif s == 1:
                prompt = "Review this plan: {{stages.s0.output}}"
                extra = "    role: critic\n    reviews: s0\n    max_rounds: 3\n    on_exhausted: accept\n"
            elif s == 2:
                prompt = "List the files for {{stages.s0.output}}"
                extra = ("    role: executor\n    output:\n      format: json\n      schema:\n        type: object\n"
                         "        properties:\n          files: {type: array, items: {type: string}}\n")
            else:
                prompt = f"Step {s} of {{{{inputs.task}}}} after {{{{stages.s{s-1}.output}}}}"
                if s == 3:
                    prompt += " touching {{#stages.s2.json.files}}{{.}} {{/stages.s2.json.files}}"
                extra = "    role: executor\n    max_tokens: 512\n    retry: {max_attempts: 3, initial_backoff: 1s}\n"
            stages.append(f"  s{s}:\n{extra}    prompt: \"{prompt}\"\n")
        text = (f"version: 1\nname: gen-{n:04d}\ndescription: Generated pipeline {n}.\n"
                "inputs:\n  task: {description: The task}\n  language: {default: Swift}\n"
                "defaults:\n  num_ctx: 8192\nstages:\n" + "".join(stages))
        (folder / f"gen-{n:04d}.yaml").write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--binary", type=Path)
    args = parser.parse_args()
    binary = args.binary or build()

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    print(f"machine: {os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}")
    print(f"binary: {binary}")

    for pipeline in ["pipelines/code-task.yaml", "pipelines/support-router.yaml", "Benchmarks/pipelines/every-construct.yaml"]:
        argv = [binary, "validate", pipeline]
        for _ in range(5):
            timed(argv, ROOT)
        times = sorted(timed(argv, ROOT) * 1000 for _ in range(args.runs))
        print(f"validate {pipeline}, process wall time over {args.runs} runs: "
              f"median {statistics.median(times):.1f} ms, min {times[0]:.1f} ms, max {times[-1]:.1f} ms (target < 50 ms)")

    with tempfile.TemporaryDirectory(prefix="baton-bench-") as folder:
        generate(Path(folder), args.files)
        argv = [binary, "validate", folder]
        timed(argv, ROOT)
        rates = sorted(args.files / timed(argv, ROOT) for _ in range(5))
        print(f"validate {args.files} generated pipelines of 10 stages in one process: "
              f"median {statistics.median(rates):.0f} files/s, min {rates[0]:.0f}, max {rates[-1]:.0f} (target > 2000 files/s)")


if __name__ == "__main__":
    main()
