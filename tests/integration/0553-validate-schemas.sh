#!/usr/bin/env bash
# breadcrumb validate checks the topology's file registry too: the default schemas pass, a
# registry whose v2 cannot read v1 data makes validate fail with each problem named.
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }
cd "$BC_ROOT"

out=$(breadcrumb validate config/topology.yaml) || fail "default topology rejected: $out"
echo "$out" | grep -q ': ok: pipeline tracking' || fail "no ok line: $out"

sed "s|^  dir: .*|  dir: $BC_ROOT/schemas/test/incompatible|" config/topology.yaml > "$BC_WORK/bad-schemas.yaml"
set +e
out=$(breadcrumb validate "$BC_WORK/bad-schemas.yaml" 2>&1)
rc=$?
set -e
echo "$out"
[ "$rc" -eq 1 ] || fail "incompatible registry: validate exited $rc"
echo "$out" | grep -q "incompatible: error: Widget v2 (Widget.v2.avsc) cannot read v1 (Widget.v1.avsc): count: type changed from int to string" ||
    fail "the type change is not reported"
[ "$(echo "$out" | grep -c ': error: Widget v2')" -eq 3 ] || fail "expected 3 problems"
echo "RESULT validate: default schemas ok; incompatible v2 rejected with 3 problems"
