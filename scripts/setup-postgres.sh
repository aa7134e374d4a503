#!/usr/bin/env bash
# setup-postgres.sh — make PostgreSQL's server programs available and print the folder they are in.
#
# Usage: scripts/setup-postgres.sh            # prints e.g. /usr/lib/postgresql/15/bin
#
# Uses the newest /usr/lib/postgresql/N/bin that has initdb, pg_ctl and postgres; when there is none, installs
# Debian's `postgresql` package (PostgreSQL 15 on Debian 12) with apt-get, without starting its system cluster
# (policy-rc.d answers 101 for the install). Debian keeps one version per release, so the package is the cache:
# nothing is downloaded again once it is installed. The tests start throwaway clusters of their own
# (scripts/start-postgres.sh); the system cluster is never used.
set -euo pipefail

find_bin() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

if bin="$(find_bin)"; then
    echo "$bin"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "setup-postgres.sh: PostgreSQL is not installed and installing it needs root: apt-get install postgresql" >&2
    exit 1
fi
echo "installing PostgreSQL from Debian's packages" >&2
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    created_policy=1
fi
status=0
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2 || status=$?
if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
if [ "$status" != 0 ]; then
    echo "setup-postgres.sh: apt-get install postgresql failed (exit $status)" >&2
    exit "$status"
fi
find_bin || { echo "setup-postgres.sh: postgresql installed but no server programs under /usr/lib/postgresql" >&2; exit 1; }
