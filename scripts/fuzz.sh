#!/usr/bin/env bash
# Fuzzes the spec layer (pipeline compiler and profile decoder) with libFuzzer.
#
#   scripts/fuzz.sh [SECONDS]      default 600
#
# Builds Fuzz/ (its own package: libFuzzer supplies main) with -sanitize=fuzzer in release mode, seeds the
# corpus with every shipped and fixture YAML file, and runs for SECONDS. A crash, a hang (over 10 s for one
# input) or a broken promise (a rejection without a located error, a location outside the file) stops the
# run and leaves the input in Fuzz/artifacts/. The corpus grows in Fuzz/corpus/ (not committed).
# Prints libFuzzer's final statistics; the number of inputs run is its "stat::number_of_executed_units".
# Exit status: 0 when the time ran out without a finding, libFuzzer's non-zero status otherwise.
set -euo pipefail
seconds="${1:-600}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/Fuzz"
swift build -c release -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library >&2
binary="$(swift build -c release -Xswiftc -sanitize=fuzzer -Xswiftc -parse-as-library --show-bin-path)/BatonFuzz"
mkdir -p corpus artifacts
find "$root/pipelines" "$root/profiles" "$root/Tests" -name '*.yaml' -exec cp {} corpus/ \;
SWIFT_BACKTRACE=enable=no "$binary" corpus -max_total_time="$seconds" -timeout=10 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix=artifacts/ -dict="$root/Fuzz/yaml.dict" 2>&1 | tail -n 40
