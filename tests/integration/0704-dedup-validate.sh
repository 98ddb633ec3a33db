#!/usr/bin/env bash
# `breadcrumb validate` on deduplicator topologies: --verbose names the partitioning mode
# (aligned for keys with event_id or trace_id, repartition otherwise); a key whose mode the
# outputs do not match, an unknown key field, or missing_key: dlq without a dlq output are
# errors at the key's line and column.
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }

unset BREADCRUMB_KAFKA BREADCRUMB_PROFILE BREADCRUMB_REGISTRY BREADCRUMB_LOG_LEVEL || true

topology() { # FILE INPUT OUTPUTS KEY [MISSING]
    cat >"$1" <<YAML
pipeline: tracking
kafka: {brokers: embedded}
topics:
  tracking.normalized: {partitions: 3}
  tracking.unique: {partitions: 3}
  tracking.deduplicator.repartition: {partitions: 3}
workers:
  deduplicator:
    input: $2
    outputs: $3
    options:
      key: $4
      missing_key: ${5:-pass}
YAML
}

ALIGNED_OUT="{unique: tracking.unique}"
REP_IN="[tracking.normalized, tracking.deduplicator.repartition]"
REP_OUT="{unique: tracking.unique, repartition: tracking.deduplicator.repartition}"

topology aligned.yaml tracking.normalized "$ALIGNED_OUT" "[service, event_id]"
breadcrumb validate --verbose aligned.yaml >out.txt || fail "aligned topology: $(cat out.txt)"
grep -qx "  note: deduplicator key \[service, event_id\] includes event_id or trace_id: aligned mode (equal keys share an input partition; no repartition)" out.txt ||
    fail "aligned note: $(cat out.txt)"

topology rep.yaml "$REP_IN" "$REP_OUT" "[attributes.idempotency_key]"
breadcrumb validate --verbose rep.yaml >out.txt || fail "repartition topology: $(cat out.txt)"
grep -qx "  note: deduplicator key \[attributes.idempotency_key\] is not derived from the partition key: repartition mode through tracking.deduplicator.repartition" out.txt ||
    fail "repartition note: $(cat out.txt)"
[ -z "$(breadcrumb validate --quiet rep.yaml)" ] || fail "--quiet printed a note"

expect_error() { # FILE MESSAGE
    if breadcrumb validate "$1" >out.txt 2>&1; then fail "$1 validated"; fi
    grep -qF "$2" out.txt || fail "$1: expected '$2', got: $(cat out.txt)"
}
topology e1.yaml tracking.normalized "$ALIGNED_OUT" "[attributes.idempotency_key]"
expect_error e1.yaml "e1.yaml:12:12: error: workers.deduplicator.options.key: not derived from the partition key (no event_id or trace_id): repartition mode needs output repartition"
topology e2.yaml "$REP_IN" "$REP_OUT" "[event_id]"
expect_error e2.yaml "e2.yaml:12:12: error: workers.deduplicator.options.key: includes event_id or trace_id, so equal keys share a partition (aligned mode): remove output repartition"
topology e3.yaml tracking.normalized "{unique: tracking.unique, repartition: tracking.deduplicator.repartition}" "[name]"
expect_error e3.yaml "repartition mode reads its output repartition (tracking.deduplicator.repartition) back: add it to input"
topology e4.yaml tracking.normalized "$ALIGNED_OUT" "[event_id, body]"
expect_error e4.yaml "unknown field 'body'"
topology e5.yaml tracking.normalized "$ALIGNED_OUT" "[event_id]" dlq
expect_error e5.yaml "missing_key: dlq needs a dlq output"
echo "RESULT dedup validate: modes noted, mismatched keys and outputs refused"
