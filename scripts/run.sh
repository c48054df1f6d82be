#!/usr/bin/env bash
# Set up whatever is missing, build, and run `agentd serve` from the build
# tree on its embedded defaults (data in ./var, the local sandbox, the API on
# 127.0.0.1:7878). Ctrl-C stops it gracefully.
#
#   scripts/run.sh [agentd serve options...]
#
# Environment: AGENTD_BUILD_DIR (default: build), AGENTD_CONFIG (a config
# file instead of the defaults).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${AGENTD_BUILD_DIR:-$root/build}"
cd "$root"

"$root/scripts/setup-deps.sh"

echo "run: building in $build"
cmake -S "$root" -B "$build" -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j2

echo "run: $build/bin/agentd serve $*"
exec "$build/bin/agentd" serve "$@"
