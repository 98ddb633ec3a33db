#!/usr/bin/env bash
# breadcrumb-broker part 1: produce/consume rates of 100-byte records through librdkafka,
# measured in the same run against librdkafka's mock cluster (created in-process by
# tests/tools/broker_bench.c) and against breadcrumb-broker persisting to disk. 24
# partitions so that the mock (which keeps ~5 MiB per partition) still holds every record.
# Rounds alternate; the best of each is reported. The check is loose (the machine is
# shared, and the in-process mock suffers less from CPU contention than a separate
# process): the broker must reach at least a third of the mock's rate. The goal, written in
# README.md with the numbers, is the mock's rate.
. "$BC_ROOT/tests/integration/lib.sh"

records=1000000
rounds=2
[ -n "${BC_LONG:-}" ] && records=4000000
topics=()
for r in $(seq 1 $rounds); do topics+=(--topic "bench$r:24"); done
broker_start "${topics[@]}"

best() { sort -n | tail -1; }
: >rounds.txt
for r in $(seq 1 $rounds); do
    "$BC_TEST_BIN/broker_bench" --brokers mock --topic "bench$r" --records $records --partitions 24 2>/dev/null | tee -a rounds.txt
    "$BC_TEST_BIN/broker_bench" --brokers "$BROKER" --topic "bench$r" --records $records --partitions 24 | tee -a rounds.txt
done
field() { grep "^$1 " rounds.txt | sed "s/.*$2=\([0-9]*\).*/\1/" | best; }
mp=$(field librdkafka-mock produce_msgs_s); mc=$(field librdkafka-mock consume_msgs_s)
bp=$(field breadcrumb-broker produce_msgs_s); bc=$(field breadcrumb-broker consume_msgs_s)
echo "MEASURED 100-byte records, idempotent acks=all, best of $rounds x $records:"
echo "MEASURED   produce: breadcrumb-broker $bp msg/s (on disk), librdkafka mock $mp msg/s (in memory)"
echo "MEASURED   consume: breadcrumb-broker $bc msg/s, librdkafka mock $mc msg/s"
# The broker's own CPU time (utime + stime, in clock ticks) for everything above.
ticks=$(awk '{print $14 + $15}' "/proc/$BROKER_PID/stat")
hz=$(getconf CLK_TCK)
echo "MEASURED   broker CPU: $((ticks * 1000 / hz)) ms for $((rounds * records)) records produced and consumed" \
    "($((ticks * 1000000000 / hz / (rounds * records * 2))) ns per record per direction)"
[ "$bp" -ge $((mp / 3)) ] || fail "produce rate $bp is below a third of the mock's $mp"
[ "$bc" -ge $((mc / 3)) ] || fail "consume rate $bc is below a third of the mock's $mc"
broker_stop
rm -rf "$BC_WORK/broker-data"
