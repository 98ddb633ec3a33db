#!/usr/bin/env bash
# breadcrumb schemas: list, show and check (the check `breadcrumb validate` also runs), with
# exact exit codes and messages, on the real registry and on the evolution fixtures.
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }
cd "$BC_ROOT"

out=$(breadcrumb schemas list)
echo "$out"
echo "$out" | grep -Eq '^TrackingEvent +1 +1  io\.breadcrumb\.TrackingEvent +TrackingEvent\.v1\.avsc$' ||
    fail "list: TrackingEvent line"
[ "$(echo "$out" | wc -l)" -eq 5 ] || fail "list: expected a header and 4 schemas"

breadcrumb schemas show TrackingEvent | cmp - schemas/TrackingEvent.v1.avsc ||
    fail "show: not the original .avsc text"
breadcrumb schemas show Nope 2>/dev/null && fail "show: unknown subject accepted"

[ "$(breadcrumb schemas check)" = "schemas: ok" ] || fail "check: schemas"
[ "$(breadcrumb schemas check schemas/test/evolution)" = "schemas/test/evolution: ok" ] ||
    fail "check: evolution fixtures"

set +e
out=$(breadcrumb schemas check schemas/test/incompatible)
rc=$?
set -e
echo "$out"
[ "$rc" -eq 1 ] || fail "check: incompatible exited $rc"
expected="error: Widget v2 (Widget.v2.avsc) cannot read v1 (Widget.v1.avsc): count: type changed from int to string
error: Widget v2 (Widget.v2.avsc) cannot read v1 (Widget.v1.avsc): color: enum symbol BLUE removed and io.breadcrumb.test.Color has no default
error: Widget v2 (Widget.v2.avsc) cannot read v1 (Widget.v1.avsc): required_now: field missing from the writer's io.breadcrumb.test.Widget and has no default
schemas/test/incompatible: 3 problems"
[ "$out" = "$expected" ] || fail "check: incompatible output"

# A registered schema edited in place: a doc change keeps its fingerprint, a new field not.
cp -r schemas "$BC_WORK/copy"
sed -i 's/"doc": "human-readable detail, no payload data"/"doc": "reworded"/' \
    "$BC_WORK/copy/DeadLetter.v1.avsc"
[ "$(breadcrumb schemas check "$BC_WORK/copy")" = "$BC_WORK/copy: ok" ] || fail "doc edit rejected"
sed -i 's/{"name": "worker", "type": "string"},/&\n    {"name": "host", "type": "string", "default": ""},/' \
    "$BC_WORK/copy/DeadLetter.v1.avsc"
set +e
out=$(breadcrumb schemas check "$BC_WORK/copy")
rc=$?
set -e
echo "$out"
[ "$rc" -eq 1 ] || fail "edited schema: exit $rc"
echo "$out" | grep -q "^error: DeadLetter v1 (id 2): .*DeadLetter.v1.avsc: fingerprint [0-9a-f]\{16\}, the manifest registered 52088ccbbbde4a54: a registered schema must not change (add a new version)$" ||
    fail "edited schema: message"
fp=$(breadcrumb schemas fingerprint schemas/DeadLetter.v1.avsc)
[ "$fp" = "52088ccbbbde4a54 schemas/DeadLetter.v1.avsc" ] || fail "fingerprint: $fp"

set +e
breadcrumb schemas bogus >/dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "usage error exited $rc"
echo "RESULT schemas list/show/check/fingerprint: exact output; incompatible v2 rejected with 3 problems; an edited registered schema rejected"
