#!/usr/bin/env bash
# `make bench`: throughput, latency and memory of every worker against the raw exactly-once
# copy, side by side in one run on breadcrumb-broker (README "Performance").
#
#   tools/bench/run.sh [--quick] [--out FILE] [--work DIR]
#
# Prints a table on stdout and writes build/bench/results.json (or --out). The binaries must
# be built (`make bench` builds them first). QUICK=1 / --quick: small sizes, about 2-3 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
export BC_ROOT=$PWD
export BC_BUILD=${BC_BUILD:-build/rel}
export BC_BIN=$BC_ROOT/bin
export BC_TEST_BIN=$BC_ROOT/$BC_BUILD/tests/tools
export PYTHONPATH=$BC_ROOT/tests/integration${PYTHONPATH:+:$PYTHONPATH}
exec /usr/bin/python3 "$BC_ROOT/tools/bench/bench.py" "$@"
