#!/usr/bin/env bash
# Checks the Swift sources against .swift-format with the formatter that ships with the toolchain.
#
#   scripts/lint.sh            lint only: prints file:line:column: error: [Rule] message; exit 1 on any finding
#   scripts/lint.sh --fix      rewrite the files in place with `swift format format`, then lint
#
# The configuration (.swift-format) is chosen so that `swift format format` fixes everything the lint
# reports: 4 spaces, 140 columns (the width the code is written to), 2 spaces before an end-of-line
# comment, and the toolchain's default rules except three lint-only rules the code does not follow
# on purpose and the formatter cannot fix:
#   - OnlyOneTrailingClosureArgument: the runtime clients poll with `confirm(by:every:else: { ... }) { ... }`,
#     a labelled failure closure before the trailing polling closure, which reads better than either rewrite;
#   - AlwaysUseLowerCamelCase: C functions declared by their C names (`posix_openpt` via @_silgen_name in a
#     test) and a `where_` local named after the keyword it stands for;
#   - ReplaceForEachWithForLoop: `defer { (argv + envp).forEach { free($0) } }` is clearer than a loop in a defer.
# Three lint-only rules the code already follows everywhere are turned on so it stays that way:
# NeverUseForceTry, NeverUseImplicitlyUnwrappedOptionals, NoLeadingUnderscores. The formatter cannot move an
# end-of-line comment that pushes a line past 140 columns ([EndOfLineComment]); put such a comment on its own
# line above. Exit status: swift format's (0 clean, 1 findings).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--fix" ]; then
    swift format format --in-place --recursive Sources Tests Package.swift
fi
exec swift format lint --strict --recursive Sources Tests Package.swift
