#!/usr/bin/env bash
# `breadcrumb topics create`: creates the default topology's topics and changelogs through
# the admin API, leaves existing ones alone, and reports a partition-count mismatch (exit 1).
. "$BC_ROOT/tests/integration/lib.sh"

broker_start --topic tracking.raw:2
rc=0
breadcrumb topics create "$BC_ROOT/config/topology.yaml" --brokers "$BROKER" >first.txt || rc=$?
cat first.txt
[ "$rc" = 1 ] || fail "a mismatch exits 1 (got $rc)"
grep -qx 'mismatch tracking.raw: has 2 partitions, topology says 6' first.txt || fail "mismatch reported"
grep -qx 'created tracking.deduplicator.seen.changelog (6 partitions, compact)' first.txt ||
    fail "changelog created compacted with the input's partitions"
grep -qx 'created tracking.fates (6 partitions, delete)' first.txt || fail "fates topic created"
created=$(grep -c '^created ' first.txt)
kcat -b "$BROKER" -L -J >meta.json
"$PYTHON" - "$created" <<'PY'
import json, sys
md = json.load(open("meta.json"))
topics = {t["topic"]: len(t["partitions"]) for t in md["topics"]}
assert topics.get("tracking.deduplicator.seen.changelog") == 6, topics
assert topics.get("tracking.raw") == 2, topics  # left alone
assert len(topics) >= int(sys.argv[1]) + 1, topics
PY
rc=0
breadcrumb topics create "$BC_ROOT/config/topology.yaml" --brokers "$BROKER" >second.txt || rc=$?
[ "$rc" = 1 ] || fail "the mismatch is still reported"
grep -q '^created ' second.txt && fail "nothing is created twice"
grep -qx "topics: 0 created, $((created + 1)) existed, 1 mismatched, 0 failed" second.txt ||
    fail "second run summary: $(tail -1 second.txt)"
echo "RESULT topics create: $created topics created, existing left alone, mismatch reported"
