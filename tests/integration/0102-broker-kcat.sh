#!/usr/bin/env bash
# breadcrumb-broker part 1 with kcat: metadata, produce with keys and headers in every
# compression (under --fsync always), consume them back exactly; SIGTERM stops the broker cleanly and a restart
# serves the same records.
. "$BC_ROOT/tests/integration/lib.sh"

broker_start --topic kc:1 --fsync always
kcat -b "$BROKER" -L -J >meta.json
grep -q '"topic":"kc"' meta.json || fail "kcat -L lists topic kc"

: >expected
for z in none gzip snappy lz4 zstd; do
    for i in $(seq 1 50); do echo "k$i|$z value $i"; done >in.txt
    kcat -b "$BROKER" -P -t kc -p 0 -K '|' -z "$z" -H "codec=$z" -H "trace=abc" -X linger.ms=5 <in.txt
    sed "s/^\(k[0-9]*\)|\(.*\)/\1|\2|codec=$z,trace=abc/" in.txt >>expected
done
kcat -b "$BROKER" -C -t kc -p 0 -o beginning -e -q -f '%k|%s|%h\n' >got
diff -u expected got || fail "kcat round trip differs"
[ "$(wc -l <got)" -eq 250 ] || fail "250 records"

# Offsets are dense: the last record is at offset 249.
last=$(kcat -b "$BROKER" -C -t kc -p 0 -o -1 -e -q -f '%o\n')
[ "$last" = 249 ] || fail "last offset $last, want 249"

broker_stop
grep -q 'broker stopped' "$BC_WORK/broker.log" || fail "clean stop logged"
broker_start
kcat -b "$BROKER" -C -t kc -p 0 -o beginning -e -q -f '%k|%s|%h\n' >got2
diff -u expected got2 || fail "records differ after restart"
echo "RESULT kcat: 250 records in 5 compressions with keys and headers, same after restart"
