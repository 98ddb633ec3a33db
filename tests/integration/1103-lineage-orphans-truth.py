"""Orphan spans equal the generator's truth, and lineage-builders on the same input write
the same orphans. `breadcrumb gen` writes a dataset with the orphan fault (traces whose span
with children was never sent), late spans and far retries, on 3 raw partitions; the
normalizer writes them to 2 trace-topic partitions, each holding records of the 3 raw
partitions in whatever order its fetches gave. A second, shorter dataset an hour of
simulated time later (no orphan fault) moves every source's time past the first one, so
every trace of the first is decided (max_source_skew 2h: a source reaching the second
dataset does not drag the clock past the others' first). Three builders (worker type
lineage-builder, separate groups and outputs) read tracking.normalized: one alongside the
normalizer (small batches), one started once the normalizer is done (everything at once),
and one with idle_timeout 1s, which also decides the second dataset's last traces on idle.
Checks: the first builder's orphans are exactly the truth's orphan spans of the first
dataset; the others wrote the same records (the idle one nothing more: no orphan flagged
idle_decided)."""
import json
import os
import subprocess

import bclib
import eoslib
from bclib import check

ROOT = os.environ["BC_ROOT"]
BIN = os.environ.get("BC_BIN", os.path.join(ROOT, "bin"))
START_NS = 1795737600000000000  # gen's default start, 2026-11-27T00:00:00Z
HOUR_NS = 3600 * 1000000000

BUILDER = """\
  %(name)s:
    type: lineage-builder
    input: [tracking.normalized, tracking.dlq, %(prefix)s.repartition]
    outputs: {lineage: %(prefix)s.lineage, repartition: %(prefix)s.repartition,
              orphans: %(prefix)s.orphans}
    commit_interval_ms: 100
    options: {orphan_window: 3m, max_source_skew: 2h, idle_timeout: %(idle)s}
"""

TOPOLOGY = """\
pipeline: tracking
kafka: {brokers: embedded, profile: test}
schemas: {dir: %(root)s/schemas}
topics:
  tracking.raw: {partitions: 3}
  tracking.deploys: {partitions: 1, cleanup: compact}
  tracking.normalized: {partitions: 2}
  tracking.dlq: {partitions: 1}
  a.lineage: {partitions: 1, cleanup: compact}
  a.repartition: {partitions: 1}
  a.orphans: {partitions: 1}
  b.lineage: {partitions: 1, cleanup: compact}
  b.repartition: {partitions: 1}
  b.orphans: {partitions: 1}
  c.lineage: {partitions: 1, cleanup: compact}
  c.repartition: {partitions: 1}
  c.orphans: {partitions: 1}
workers:
  normalizer:
    input: tracking.raw
    outputs: {normalized: tracking.normalized, dlq: tracking.dlq}
    commit_interval_ms: 100
%(a)s%(b)s%(c)s""" % {
    "root": ROOT, "a": BUILDER % {"name": "lineage-builder", "prefix": "a", "idle": "1h"},
    "b": BUILDER % {"name": "lineage-twin", "prefix": "b", "idle": "1h"},
    "c": BUILDER % {"name": "lineage-idle", "prefix": "c", "idle": "1s"}}


def cli(*args):
    p = subprocess.run([os.path.join(BIN, "breadcrumb")] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    check(p.returncode == 0, "breadcrumb %s: %s" % (" ".join(args[:2]), p.stderr[-2000:]))


def start(name, topology, bootstrap, binary=None):
    log = open(os.path.join(bclib.WORK, name + ".log"), "a")
    p = subprocess.Popen([os.path.join(BIN, binary or name), "--config", topology, "--worker",
                          name, "--instance", "0", "--brokers", bootstrap], stdout=log,
                         stderr=log, env=dict(os.environ, BREADCRUMB_BROKERS=bootstrap))
    log.close()
    return p


def caught_up(bootstrap, group, topics):
    """The group committed everything of topics."""
    return all(eoslib.group_lag(bootstrap, group, t) == 0 for t in topics)


def read_all(bootstrap, topic):
    return [m.value().decode() for m in eoslib.read_topic(bootstrap, topic)]


def test():
    broker = bclib.Broker(args=[]).start()
    eoslib.skip_unless_transactions(broker)
    bs = broker.bootstrap
    topology = os.path.join(bclib.WORK, "topology.yaml")
    with open(topology, "w") as f:
        f.write(TOPOLOGY)
    cli("topics", "create", topology, "--brokers", bs)
    truth_file = os.path.join(bclib.WORK, "truth.json")
    # A trace's records spread over up to 2 minutes of export time (slow traces, late spans
    # 3 s late): a window of 3 minutes. Far retries 4 minutes later, after their trace's
    # decision: they add nothing missing.
    common = ["--brokers", bs, "--trace-interval-ms", "400", "--late-ms", "3000",
              "--retry-far-ms", "240000", "--quiet"]
    cli("gen", "--records", "2500", "--orphan-rate", "0.08", "--seed", "13", "--truth",
        truth_file, *common)
    cli("gen", "--records", "300", "--orphan-rate", "0", "--late-rate", "0", "--seed", "14",
        "--start", str(START_NS + HOUR_NS), *common)
    with open(truth_file) as f:
        truth = json.load(f)
    want = sorted((o["trace_id"], s, o["missing_parent_span_id"])
                  for o in truth["orphans"] for s in o["span_ids"])
    check(len(want) >= 5, "the dataset has too few orphans: %d" % len(want))

    procs = [start("normalizer", topology, bs), start("lineage-builder", topology, bs)]
    try:
        bclib.wait_for(lambda: caught_up(bs, "tracking.normalizer", ["tracking.raw"]), 60,
                       "the normalizer to finish")
        procs.append(start("lineage-twin", topology, bs, "lineage-builder"))
        procs.append(start("lineage-idle", topology, bs, "lineage-builder"))
        for name, prefix in (("lineage-builder", "a"), ("lineage-twin", "b"),
                             ("lineage-idle", "c")):
            bclib.wait_for(lambda: caught_up(bs, "tracking." + name,
                                             ["tracking.normalized", prefix + ".repartition"]),
                           60, "%s to finish" % name, interval=0.3)
        # The idle builder decides the second dataset's last traces once quiet.
        def idle_decisions():
            with open(os.path.join(bclib.WORK, "lineage-idle.log")) as f:
                return f.read().count("traces decided on idle") >= 2
        bclib.wait_for(idle_decisions, 30, "idle decisions on both partitions", interval=0.3)
    finally:
        bclib.stop_all(procs)
    a, b = read_all(bs, "a.orphans"), read_all(bs, "b.orphans")
    got = sorted((o["trace_id"], o["span_id"], o["parent_span_id"]) for o in map(json.loads, a))
    check(got == want, "orphans of the builder running with the normalizer (%d) != the "
          "truth's (%d): %d extra, e.g. %s; %d missing, e.g. %s"
          % (len(got), len(want), len(set(got) - set(want)), sorted(set(got) - set(want))[:5],
             len(set(want) - set(got)), sorted(set(want) - set(got))[:5]))
    # Same records (values byte for byte); their order on the one orphans partition
    # interleaves the two trace-topic partitions' decisions as the fetches came.
    check(sorted(a) == sorted(b), "the two builders wrote different orphans:\n%s\n%s"
          % (sorted(set(a) - set(b))[:5], sorted(set(b) - set(a))[:5]))
    # Idle: the same orphans, and flagged ones only of the second dataset's last traces
    # (which has no orphan fault: none expected).
    c = read_all(bs, "c.orphans")
    flagged = [v for v in c if "idle_decided" in v]
    check(sorted(v for v in c if v not in flagged) == sorted(a) and not flagged,
          "the idle builder's orphans: %d unflagged (want %d), flagged: %s"
          % (len(c) - len(flagged), len(a), flagged[:5]))
    print("RESULT orphans: %d spans of %d traces, as the truth says; the same %d records from "
          "a second builder reading it all later" % (len(got), len(truth["orphans"]), len(b)))
    broker.stop()


bclib.main(test)
