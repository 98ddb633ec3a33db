#!/usr/bin/env bash
# breadcrumb-broker part 1: 1 GiB (4 GiB under BC_LONG=1) of 1 KiB records through one
# partition with librdkafka, every record verified byte for byte in C (tests/tools/broker_bulk.c);
# then a clean restart recovers the whole log (CRC-checked) and serves it intact again.
. "$BC_ROOT/tests/integration/lib.sh"

bytes=$((1024 * 1024 * 1024))
[ -n "${BC_LONG:-}" ] && bytes=$((4 * 1024 * 1024 * 1024))

broker_start --topic bulk:1
"$BC_TEST_BIN/broker_bulk" --brokers "$BROKER" --topic bulk --bytes "$bytes"
broker_stop
broker_start
ms=$(grep 'broker listening' "$BC_WORK/broker.log" | tail -1 | sed 's/.*recovery_ms=\([0-9]*\).*/\1/')
echo "MEASURED recovery of $((bytes / 1024 / 1024)) MiB log at startup (every batch CRC-checked): ${ms} ms"
"$BC_TEST_BIN/broker_bulk" --brokers "$BROKER" --topic bulk --bytes "$bytes" --verify-only | grep -v RESULT
broker_stop
rm -rf "$BC_WORK/broker-data"
