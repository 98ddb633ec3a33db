#!/usr/bin/env bash
# `breadcrumb validate`: exit codes and output on the default topology, the examples and
# broken files (every error reported, FILE:LINE:COL format), --quiet, --help, --reference.
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }

unset BREADCRUMB_KAFKA BREADCRUMB_PROFILE BREADCRUMB_REGISTRY BREADCRUMB_LOG_LEVEL || true

# The default topology and the examples validate clean, with a one-line summary.
out=$(breadcrumb validate "$BC_ROOT/config/topology.yaml")
[ "$out" = "$BC_ROOT/config/topology.yaml: ok: pipeline tracking, 19 topics, 6 workers" ] ||
    fail "summary: $out"
for f in "$BC_ROOT"/config/examples/*.yaml; do
    breadcrumb validate --quiet "$f" || fail "$f does not validate"
done
[ -z "$(breadcrumb validate --quiet "$BC_ROOT/config/topology.yaml")" ] || fail "--quiet printed"

# --verbose: effective topics, implicit ones included, and workers with their hashes.
breadcrumb validate --verbose "$BC_ROOT/config/topology.yaml" >verbose.txt
grep -qx "topic tracking.deduplicator.seen.changelog partitions=6 replication_factor=1 cleanup=compact retention=default (implicit)" verbose.txt ||
    fail "no changelog topic in --verbose"
grep -Eq "^worker deduplicator type=deduplicator replicas=2 input=tracking.normalized outputs=unique:tracking.unique,dlq:tracking.dlq hash=[0-9a-f]{16}$" verbose.txt ||
    fail "deduplicator line in --verbose"
[ "$(grep -c '^worker ' verbose.txt)" = 6 ] || fail "six workers"

# A broken file: exit 1, every error on stderr, in file order, nothing on stdout.
cat >broken.yaml <<'YAML'
pipeline: shop
topics:
  shop.raw: {partitions: 0}
  shop.normalized: {}
  shop.dlq: {}
workers:
  normalizer:
    input: shop.raw
    outputs: {normalized: shop.normalized, dlq: shop.missing}
    replica: 2
    options:
      max_clock_skew: 10 minutes
YAML
set +e
breadcrumb validate broken.yaml >stdout.txt 2>stderr.txt
rc=$?
set -e
[ $rc -eq 1 ] || fail "exit code $rc for a broken file"
[ ! -s stdout.txt ] || fail "stdout not empty: $(cat stdout.txt)"
cat stderr.txt
expected="broken.yaml:3:26: error: topics.shop.raw.partitions: 0 is out of range (1 .. 10000)
broken.yaml:9:49: error: workers.normalizer.outputs.dlq: topic 'shop.missing' is not declared in topics
broken.yaml:10:5: error: unknown key 'replica' in workers.normalizer (expected one of: type, input, outputs, replicas, commit_interval_ms, max_batch, max_attempts, metrics_port, options)
broken.yaml:12:23: error: workers.normalizer.options.max_clock_skew: expected a duration with a unit (ms, s, m, h, d, w; e.g. 500ms, 10m), got '10 minutes'
broken.yaml: 4 errors"
[ "$(cat stderr.txt)" = "$expected" ] || fail "unexpected errors"

# Environment substitution from the real environment.
cat >env.yaml <<'YAML'
pipeline: ${SHOP_PIPELINE:?set SHOP_PIPELINE}
topics:
  shop.raw: {partitions: "${SHOP_PARTITIONS:-3}"}
  shop.normalized: {}
  shop.dlq: {}
workers:
  normalizer: {input: shop.raw, outputs: {normalized: shop.normalized, dlq: shop.dlq}}
YAML
set +e
err=$(breadcrumb validate env.yaml 2>&1 >/dev/null)
rc=$?
set -e
[ $rc -eq 1 ] || fail "unset required variable: exit $rc"
[ "$(echo "$err" | head -1)" = "env.yaml:1:11: error: SHOP_PIPELINE: set SHOP_PIPELINE" ] ||
    fail "env error: $err"
out=$(SHOP_PIPELINE=shop SHOP_PARTITIONS=12 breadcrumb validate env.yaml)
[ "$out" = "env.yaml: ok: pipeline shop, 3 topics, 1 workers" ] || fail "env ok: $out"

# Several files: each reported; exit 1 when any fails.
set +e
breadcrumb validate "$BC_ROOT/config/topology.yaml" broken.yaml >both.txt 2>&1
rc=$?
set -e
[ $rc -eq 1 ] || fail "two files: exit $rc"
grep -q "topology.yaml: ok" both.txt || fail "two files: no ok line"
grep -q "broken.yaml: 4 errors" both.txt || fail "two files: no error count"

# Usage.
breadcrumb validate --help | grep -q "usage: breadcrumb validate" || fail "--help"
set +e
breadcrumb validate >/dev/null 2>&1; rc=$?
set -e
[ $rc -eq 2 ] || fail "no file: exit $rc"
set +e
breadcrumb validate does-not-exist.yaml 2>err.txt; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "does-not-exist.yaml: error: cannot open" err.txt || fail "missing file"

# The reference README embeds is what --reference prints.
breadcrumb validate --reference >ref.md
sed -n '/<!-- reference:begin -->/,/<!-- reference:end -->/p' "$BC_ROOT/README.md" |
    sed '1d;$d' >readme-ref.md
cmp -s ref.md readme-ref.md || fail "README.md's reference is stale"
echo "RESULT validate: good and broken files, env substitution, reference in sync"
