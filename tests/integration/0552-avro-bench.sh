#!/usr/bin/env bash
# Encode/decode rates of a span-sized TrackingEvent with bc_avro next to avro-c's own
# writer/reader (reported, not asserted: the machine is shared). BC_LONG=1: 10x iterations.
set -euo pipefail
n=50000
[ -n "${BC_LONG:-}" ] && n=500000
"$BC_TEST_BIN/avro_bench" "$BC_ROOT/schemas" "$n"
