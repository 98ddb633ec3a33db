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

set +e
breadcrumb schemas bogus >/dev/null 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "usage error exited $rc"
echo "RESULT schemas list/show/check: exact output; incompatible v2 rejected with 3 problems"
