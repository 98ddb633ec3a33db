"""The topology of the lineage-builder tests (1100, 1101): normalizer, deduplicator and
router feeding a lineage-builder that also reads the workers' run records."""


def topology(root, chain=1, side=1, lineage=2, fates=False, replicas=None):
    """chain: partitions of tracking.normalized/unique; side: of the DLQ and the sinks;
    lineage: of tracking.lineage and its repartition topic; fates: declare tracking.fates
    with chain partitions; replicas: the lineage-builder's (else its commit interval only)."""
    fates_line = "  tracking.fates: {partitions: %d}\n" % chain if fates else ""
    builder = "    replicas: %d\n" % replicas if replicas else ""
    return """\
pipeline: tracking
kafka: {brokers: embedded, profile: test}
schemas: {dir: %(root)s/schemas}
topics:
  tracking.raw: {partitions: 1}
  tracking.normalized: {partitions: %(chain)d}
  tracking.unique: {partitions: %(chain)d}
%(fates)s  tracking.dlq: {partitions: %(side)d}
  sink.traces: {partitions: %(side)d}
  sink.default: {partitions: %(side)d}
  tracking.lineage: {partitions: %(lineage)d, cleanup: compact}
  tracking.lineage.repartition: {partitions: %(lineage)d}
  tracking.orphans: {partitions: 1}
  tracking.openlineage: {partitions: 1}
  tracking.runs: {partitions: 1}
workers:
  normalizer:
    input: tracking.raw
    outputs: {normalized: tracking.normalized, dlq: tracking.dlq}
    commit_interval_ms: 100
  deduplicator:
    input: tracking.normalized
    outputs: {unique: tracking.unique}
    commit_interval_ms: 100
  router:
    input: tracking.unique
    commit_interval_ms: 100
    options:
      rules:
        - name: traces
          when: {kind: span}
          to: sink.traces
      default: sink.default
  lineage-builder:
    input: [tracking.normalized, tracking.unique, tracking.dlq, tracking.fates, sink.traces,
            sink.default, tracking.lineage.repartition, tracking.runs]
    outputs: {lineage: tracking.lineage, repartition: tracking.lineage.repartition,
              orphans: tracking.orphans}
%(builder)s    commit_interval_ms: 100
    options: {orphan_window: 2s, openlineage_topic: tracking.openlineage, namespace: shop}
""" % {"root": root, "chain": chain, "side": side, "lineage": lineage, "fates": fates_line,
       "builder": builder}
