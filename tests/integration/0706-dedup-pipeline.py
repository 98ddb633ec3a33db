"""End to end with the real normalizer: `breadcrumb gen --brokers` writes the shop's raw
telemetry (many re-sent exports and duplicate billing events, malformed records too) to
tracking.raw; bin/normalizer and two bin/deduplicator instances run from one topology.
read_committed, tracking.unique holds every id-bearing item of the generator's ground truth
(spans, logs with log.record.uid, events with an idempotency key) exactly once, no event id
twice, and about as many records without an id field as the truth counts distinct ones (the
normalizer's content hash decides what "the same content" is; the difference is printed)."""
import collections
import json
import os
import subprocess

import bclib
import deduplib
import eoslib

PARTS = 4
TOPOLOGY = """\
pipeline: tracking
kafka:
  brokers: embedded
  profile: test
schemas:
  dir: {schemas}
topics:
  tracking.raw: {{partitions: 2}}
  tracking.normalized: {{partitions: {parts}}}
  tracking.unique: {{partitions: {parts}}}
  tracking.dlq: {{partitions: 1}}
workers:
  normalizer:
    input: tracking.raw
    outputs: {{normalized: tracking.normalized, dlq: tracking.dlq}}
    options:
      max_payload_bytes: 64KiB
      event_id_field: attributes.idempotency_key
  deduplicator:
    input: tracking.normalized
    outputs: {{unique: tracking.unique}}
    options:
      key: [event_id]
      window: 1h
"""


def run():
    if not os.path.exists(os.path.join(bclib.BC_BIN, "normalizer")):
        print("RESULT skipped: bin/normalizer is not built", flush=True)
        return
    broker = bclib.Broker(args=["--topic", "tracking.raw:2", "--topic", "tracking.deploys:1",
                                "--topic", "tracking.normalized:%d" % PARTS,
                                "--topic", "tracking.unique:%d" % PARTS,
                                "--topic", "tracking.dlq:1", "--topic", "tracking.fates:1",
                                "--topic", "tracking.deduplicator.seen.changelog:%d" % PARTS]
                         ).start()
    try:
        eoslib.skip_unless_transactions(broker)
        topology = os.path.join(bclib.WORK, "topology.yaml")
        with open(topology, "w") as f:
            f.write(TOPOLOGY.format(schemas=os.path.join(deduplib.ROOT, "schemas"), parts=PARTS))
        truth_path = os.path.join(bclib.WORK, "truth.json")
        p = subprocess.run([os.path.join(bclib.BC_BIN, "breadcrumb"), "gen", "--brokers",
                            broker.bootstrap, "--records", "4000", "--retry-rate", "0.3",
                            "--dup-rate", "0.5", "--max-bytes", "65536", "--truth", truth_path,
                            "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=120)
        bclib.check(p.returncode == 0, "breadcrumb gen (%s)" % p.stderr[-500:])
        with open(truth_path) as f:
            truth = json.load(f)
        ids = deduplib.truth_ids(truth)
        without = truth["without_id"]["log"]["unique"] + truth["without_id"]["event"]["unique"]
        procs = []
        for worker, instance in (("normalizer", "n"), ("deduplicator", "a"),
                                 ("deduplicator", "b")):
            log = open(os.path.join(bclib.WORK, "%s-%s.log" % (worker, instance)), "a")
            procs.append(subprocess.Popen(
                [os.path.join(bclib.BC_BIN, worker), "--config", topology, "--worker", worker,
                 "--instance", instance, "--brokers", broker.bootstrap], stdout=log, stderr=log))
            log.close()
        reader = eoslib.Reader(broker.bootstrap, "tracking.unique", PARTS)
        # tracking.raw comes from a plain producer: its lag is exact. tracking.normalized ends
        # with transaction markers, so the deduplicator is done when unique records plus its
        # Fates account for every normalized record.
        bclib.wait_for(lambda: eoslib.group_lag(broker.bootstrap, "tracking.normalizer",
                                                "tracking.raw", 2) == 0,
                       120, "the normalizer to commit everything", interval=0.5)
        normalized = eoslib.Reader(broker.bootstrap, "tracking.normalized", PARTS)
        normalized.drain()  # the normalizer committed all its input: its output is complete
        n_normalized = len(normalized.records)
        normalized.close()

        def accounted():
            fates = [f for f in deduplib.read_fates(broker.bootstrap)
                     if f["worker"] == "tracking.deduplicator"]
            return reader.poll(0.5) + len(fates) >= n_normalized
        bclib.wait_for(accounted, 120, "unique records and Fates for every normalized record",
                       interval=0.5)
        for proc in procs:
            proc.terminate()
        for proc in procs:
            bclib.check(proc.wait(timeout=60) == 0, "a worker exits 0")
        reader.drain()  # the workers are stopped: everything is committed
        got = collections.Counter(deduplib.event_id_of(m.value()) for m in reader.records)
        reader.close()
        twice = [i for i, n in got.items() if n > 1]
        missing = ids - set(got)
        others = sum(n for i, n in got.items() if i not in ids)
        items = (truth["counts"]["span_copies"] + truth["counts"]["log_copies"] +
                 truth["counts"]["event_copies"])
        print("MEASURED pipeline: %d items normalized; %d with ids expected once: %d twice, %d "
              "missing; %d without id field on tracking.unique, truth counts %d distinct"
              % (items, len(ids), len(twice), len(missing), others, without), flush=True)
        bclib.check(not twice and not missing, "every id-bearing item exactly once, no id twice "
                    "(twice e.g. %s, missing e.g. %s)" % (twice[:3], sorted(missing)[:3]))
        bclib.check(abs(others - without) <= max(3, without // 100),
                    "items without id near the truth's distinct count")
        print("RESULT dedup pipeline: gen -> normalizer -> 2 deduplicators: %d id-bearing items "
              "exactly once, %d without id (truth %d), out of %d normalized items"
              % (len(ids), others, without, items))
    finally:
        broker.kill()


bclib.main(run)
