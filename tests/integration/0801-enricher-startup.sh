#!/usr/bin/env bash
# The enricher's start-up checks, without a broker: a tokenize rule whose HMAC key variable
# is unset or empty stops the start (exit 2) naming the variable, never a key; the key never
# appears in any output; a broken service catalog stops the start with FILE:LINE:COL; a bad
# PII rule is reported by `breadcrumb validate` at FILE:LINE:COL.
set -euo pipefail
fail() { echo "FAILED: $*" >&2; exit 1; }
unset BREADCRUMB_PII_KEY BREADCRUMB_KAFKA BREADCRUMB_PROFILE || true

# A copy of the default topology with absolute paths, and variants of it.
sed -e "s|dir: ../schemas|dir: $BC_ROOT/schemas|" \
    -e "s|catalog: config/services.yaml|catalog: $BC_ROOT/config/services.yaml|" \
    "$BC_ROOT/config/topology.yaml" >topology.yaml
grep -q "catalog: $BC_ROOT/config/services.yaml" topology.yaml || fail "catalog line not found"

run() { # run ENV... -- : runs the enricher for at most 3 s; sets rc, out
    set +e
    out=$(env "$@" timeout -s KILL 3 enricher --config topology.yaml --worker enricher \
        --instance x --brokers 127.0.0.1:1 2>&1)
    rc=$?
    set -e
}

# 1. Key variable unset, then empty: exit 2, the variable named.
run BC_UNUSED=1
[ "$rc" = 2 ] || fail "unset key: exit $rc, want 2: $out"
grep -q 'HMAC key is missing.*environment_variable=BREADCRUMB_PII_KEY' <<<"$out" || fail "unset key: $out"
run BREADCRUMB_PII_KEY=
[ "$rc" = 2 ] || fail "empty key: exit $rc, want 2"

# 2. With a key: it starts (killed after 3 s while it looks for the broker), and the key
#    appears nowhere in what it printed.
KEY=never-print-me-7c1e9b
run BREADCRUMB_PII_KEY=$KEY
grep -q 'msg="enricher ready"' <<<"$out" || fail "with a key, no start: $out"
if grep -q "$KEY" <<<"$out"; then fail "the key was printed"; fi

# 3. The variable is the one the topology names.
sed -e 's|tokenize_key_env: BREADCRUMB_PII_KEY|tokenize_key_env: SHOP_PII_KEY|' topology.yaml >t2.yaml
mv t2.yaml topology.yaml
run BREADCRUMB_PII_KEY=$KEY
[ "$rc" = 2 ] || fail "other variable: exit $rc, want 2"
grep -q 'environment_variable=SHOP_PII_KEY' <<<"$out" || fail "other variable not named: $out"

# 4. A broken catalog: exit 2 with its position.
printf 'services:\n  cart: {owner: o@x, team: t, tier: 7}\n' >services.yaml
sed -e "s|catalog: $BC_ROOT/config/services.yaml|catalog: $BC_WORK/services.yaml|" topology.yaml >t2.yaml
mv t2.yaml topology.yaml
run SHOP_PII_KEY=$KEY
[ "$rc" = 2 ] || fail "broken catalog: exit $rc, want 2"
grep -q "services.yaml:2:[0-9]*: .*tier" <<<"$out" || fail "broken catalog position: $out"

# 5. `breadcrumb validate` runs the enricher's rule compiler.
sed -e 's|          detect: email|          detect: [email, phone]|' "$BC_ROOT/config/topology.yaml" >bad.yaml
set +e
vout=$(breadcrumb validate bad.yaml 2>&1)
vrc=$?
set -e
[ "$vrc" = 1 ] || fail "validate: exit $vrc"
grep -q "bad.yaml:[0-9]*:[0-9]*: error: workers.enricher.options.pii: detect takes email" <<<"$vout" ||
    fail "validate: $vout"
echo "RESULT enricher start-up: missing key (exit 2, variable named, key never printed), broken catalog and bad rule at FILE:LINE:COL"
