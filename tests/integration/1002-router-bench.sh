#!/usr/bin/env bash
# The router's per-record cost with the default topology's rules (compiled once): routing
# alone, and decode + route + encode per copy. Prints MEASURED lines.
set -euo pipefail
n=100000
[ -n "${BC_LONG:-}" ] && n=2000000
"$BC_TEST_BIN/router_bench" "$BC_ROOT/config/topology.yaml" router "$n"
