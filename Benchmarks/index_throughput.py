#!/usr/bin/env python3
"""Indexing throughput of `baton index` on the real embedding model (issue 13). Prints figures; asserts nothing.

  python3 Benchmarks/index_throughput.py [--binary PATH] [--corpus docs|fixture] [--reps R] [--batch N]
                                         [--chunk-size C] [--gguf PATH] [--threads T]

all-MiniLM-L6-v2 (the GGUF of scripts/setup-embedding-model.sh, or --gguf / $BATON_EMBED_GGUF) served by a
llama-server router of this script's own (scripts/start-llama-router.sh --embedding all-minilm=GGUF, stopped at
the end). The corpus is the repository's docs/ (default) or the golden retrieval fixture
(Tests/BatonCommandsTests/Fixtures/retrieval-corpus), indexed with `chunk: {by: heading, size: C, overlap: 150}`
and `embed: {batch: N}`.

- Warm-up: one `baton index` (loads the model, builds the index).
- `baton index --rebuild --json`, R times: chunks embedded / the command's own `seconds` (scan, chunk, embed,
  store, rename), median (min-max) of the repetitions; the process wall time beside it.
- `baton index --json` with nothing changed: the wall time of an update that embeds nothing (hashing the files and
  the GGUF's SHA-256 for the fingerprint).
- The embedding model's server: peak resident memory (VmHWM), the footprint to put in a profile.
"""
import argparse
import json
import os
import platform
import shutil
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


def machine() -> dict:
    cpu = platform.processor()
    if Path("/proc/cpuinfo").exists():
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), cpu)
    return {"cores": os.cpu_count(), "cpu": cpu, "system": f"{platform.system()} {platform.release()}",
            "loadavg": os.getloadavg()}


def gguf_path(given: str | None) -> str:
    path = given or os.environ.get("BATON_EMBED_GGUF")
    if path:
        return path
    return subprocess.run(["bash", str(ROOT / "scripts/setup-embedding-model.sh")], check=True, capture_output=True,
                          text=True).stdout.strip()


def start_router(state: Path, gguf: str, threads: int) -> str:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts/start-llama-router.sh"), "--state-dir", str(state), "--names", "planner",
         "--models-max", "0", "--threads", str(threads), "--timeout", "120", "--embedding", f"all-minilm={gguf}"],
        capture_output=True, text=True)
    line = next((l for l in result.stdout.splitlines() if l.startswith("BATON_LLAMA_URL=")), None)
    if result.returncode != 0 or line is None:
        sys.exit(f"start-llama-router.sh failed ({result.returncode}):\n{result.stderr}")
    return line.split("=", 1)[1]


def model_peak_rss(gguf: str) -> int | None:
    """VmHWM in bytes of the llama-server process serving `gguf` (its child of the router)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if gguf.encode() not in cmdline:
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            continue
    return None


def run(binary: Path, arguments: list, env: dict, cwd: Path) -> tuple:
    started = time.perf_counter()
    result = subprocess.run([str(binary)] + arguments, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"baton {' '.join(arguments)} exited {result.returncode}:\n{result.stderr}")
    return json.loads(result.stdout), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, help="a baton binary (default: build the release one)")
    parser.add_argument("--corpus", choices=["docs", "fixture"], default="docs")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32, help="chunks per embedding request (embed.batch)")
    parser.add_argument("--chunk-size", type=int, default=1200, help="chunk.size in characters")
    parser.add_argument("--gguf", help="the all-MiniLM-L6-v2 GGUF (default: $BATON_EMBED_GGUF, else the setup script's)")
    parser.add_argument("--threads", type=int, default=1, help="llama-server threads (1: the tests' setting)")
    args = parser.parse_args()

    binary = args.binary.resolve() if args.binary else release_binary()
    gguf = gguf_path(args.gguf)
    corpus = ROOT / "docs" if args.corpus == "docs" else ROOT / "Tests/BatonCommandsTests/Fixtures/retrieval-corpus"
    pattern = "**/*.md" if args.corpus == "docs" else "**/*"
    scratch = Path(tempfile.mkdtemp(prefix="baton-index-bench-"))
    state = scratch / "router"
    try:
        url = start_router(state, gguf, args.threads)
        (scratch / "bench.yaml").write_text(f"""version: 1
name: bench
memory_budget: 2GB
default_runtime: local
runtimes:
  local: {{kind: llama-server, url: "{url}"}}
models:
  all-minilm: {{runtime: local, footprint: 120MB, context_length: 512, file: "{gguf}"}}
""")
        (scratch / "corpus.yaml").write_text(f"""version: 1
name: corpus
indexes:
  corpus:
    sources: ["{corpus}/{pattern}"]
    exclude: ["**/questions.json"]
    chunk: {{by: heading, size: {args.chunk_size}, overlap: 150}}
    embed: {{model: all-minilm, batch: {args.batch}}}
stages:
  facts: {{retrieve: {{index: corpus, query: x}}}}
""")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "XDG_"))}
        env.update({"BATON_DB": str(scratch / "runs.sqlite"), "BATON_PIPELINE_PATH": str(scratch),
                    "BATON_PROFILE": str(scratch / "bench.yaml"), "XDG_CONFIG_HOME": str(scratch / "config"),
                    "NO_COLOR": "1"})

        first, first_wall = run(binary, ["index", "corpus", "--json"], env, scratch)
        rates, walls, seconds = [], [], []
        for _ in range(args.reps):
            summary, wall = run(binary, ["index", "corpus", "--rebuild", "--json"], env, scratch)
            rates.append(summary["chunks_embedded"] / summary["seconds"])
            seconds.append(summary["seconds"])
            walls.append(wall)
        noop, noop_wall = run(binary, ["index", "corpus", "--json"], env, scratch)
        peak = model_peak_rss(gguf)

        files = first["added"]
        chunks = first["chunks_embedded"]
        print(f"machine: {machine()}")
        print(f"binary: {binary}")
        print(f"corpus: {corpus} ({pattern}): {files} files, {chunks} chunks (heading, size {args.chunk_size}, "
              f"overlap 150), batch {args.batch}, llama-server threads {args.threads}")
        print(f"first build (model load included): {first_wall:.2f} s wall")
        print(f"rebuild, {args.reps} reps: {statistics.median(rates):.1f} chunks/s median "
              f"({min(rates):.1f}-{max(rates):.1f}); {statistics.median(seconds):.2f} s per rebuild "
              f"({statistics.median(walls):.2f} s process wall)")
        print(f"update with nothing changed: {noop['chunks_embedded']} chunks embedded, {noop_wall * 1000:.0f} ms wall")
        if peak:
            print(f"embedding model server peak RSS (VmHWM): {peak / 2**20:.0f} MiB")
    finally:
        subprocess.run(["bash", str(ROOT / "scripts/stop-llama-router.sh"), "--state-dir", str(state), "--timeout", "3"],
                       capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
