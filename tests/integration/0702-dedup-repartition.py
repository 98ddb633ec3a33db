"""The deduplicator in repartition mode: key [attributes.idempotency_key], while every
copy of a billing event arrives under its own Kafka key (a per-request id), so copies land
on different partitions of tracking.normalized. The workers forward records through
tracking.deduplicator.repartition (keyed by the key's digest), decide there, and restore
the original Kafka key on output. Spans (no idempotency key) pass with the flag
dedup_key_missing, copies included. Two instances, one killed with SIGKILL and restarted;
read_committed: every unique billing event exactly once under one of its copies' keys.
Then `breadcrumb replay` of the middle third of tracking.normalized (through the replay's
own copy of the repartition topic) writes what the live run wrote."""
import collections
import json
import os
import subprocess

from confluent_kafka import Consumer, TopicPartition

import bclib
import deduplib
import eoslib

PARTS = 4
# 12,000 raw records: 331 unique billing events, 161 repeats, 116 keys split over partitions
# (seed 5); only a tenth of the spans and the billing events are fed.
RECORDS = 20000 if os.environ.get("BC_LONG") else 12000


def cli(*args, rc=0):
    p = subprocess.run([os.path.join(bclib.BC_BIN, "breadcrumb")] + list(args),
                       capture_output=True, text=True, timeout=180)
    bclib.check(rc is None or p.returncode == rc, "breadcrumb %s: exit %d\n%s%s"
                % (" ".join(args[:2]), p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return p.stdout


def replay_middle(broker, topology):
    """An audit replay of the middle third of tracking.normalized: the replay forwards through
    its own copy of the repartition topic and writes what the live run wrote."""
    os.environ["BREADCRUMB_BROKERS"] = broker.bootstrap
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "peek"})
    his = [c.get_watermark_offsets(TopicPartition("tracking.normalized", p), timeout=10)[1]
           for p in range(PARTS)]
    c.close()
    frm = ",".join("tracking.normalized:%d:%d" % (p, his[p] // 3) for p in range(PARTS))
    to = ",".join("tracking.normalized:%d:%d" % (p, 2 * his[p] // 3) for p in range(PARTS))
    out = cli("replay", "--topology", topology, "--worker", "deduplicator", "--from", frm,
              "--to", to, "--id", "r1")
    rng = []
    for line in out.splitlines():
        if line.strip().startswith("breadcrumb diff "):
            parts = line.split()
            for i in range(1, len(parts)):
                if parts[i - 1] == "--range":
                    rng += ["--range", parts[i]]
    bclib.check(rng, "replay printed its ranges: " + out)
    rep = json.loads(cli("diff", "tracking.unique", "audit.r1.tracking.unique", "--json", *rng,
                         rc=None))  # exit 1 when different: the check below says how
    bclib.check(rep["equal"] and rep["identical"] > 0 and rep["missing"] == rep["extra"] ==
                rep["differing"] == 0, "the replay wrote what the live run wrote: %s"
                % json.dumps(rep)[:2000])
    print("RESULT replay of the middle third in repartition mode: %d records identical, 0 "
          "differences" % rep["identical"])


def run():
    broker = deduplib.start_broker(PARTS, repartition=True)
    try:
        eoslib.skip_unless_transactions(broker)
        events, truth = deduplib.gen_events(RECORDS, seed=5,
                                            extra=["--spans-min", "8", "--spans-max", "12",
                                                   "--dup-rate", "0.5", "--log-rate", "0"])
        billing_ids = set(truth["unique_event_ids"]["event"])
        billing = [e for e in events if e.event_id in billing_ids]
        spans = [e for e in events if e.event_id not in billing_ids and
                 int(e.event_id[:4], 16) % 10 == 0]
        feed = sorted(billing + spans, key=lambda e: (e.raw_offset, e.ts))
        keys = [b"req-%d" % i if e.event_id in billing_ids else e.key for i, e in enumerate(feed)]
        copies = collections.defaultdict(list)
        for k, e in zip(keys, feed):
            if e.event_id in billing_ids:
                copies[e.event_id].append(k)
        repeats = len(billing) - len(billing_ids)
        split = sum(1 for ks in copies.values()
                    if len(set(deduplib.murmur2_partition(k, PARTS) for k in ks)) > 1)
        print("MEASURED input: %d billing events, %d unique (truth), %d repeats; %d keys with "
              "copies on different partitions; %d spans without the key"
              % (len(billing), len(billing_ids), repeats, split, len(spans)), flush=True)
        bclib.check(repeats > 100 and split > 50, "enough repeats across partitions")
        topology = deduplib.write_topology(PARTS, key="[attributes.idempotency_key]",
                                           repartition=True)
        deduplib.produce(broker.bootstrap, feed, keys=keys)
        reader = eoslib.Reader(broker.bootstrap, "tracking.unique", PARTS)
        a = deduplib.Worker(broker, topology, "a").start()
        b = deduplib.Worker(broker, topology, "b").start()
        total = len(billing_ids) + len(spans)
        eoslib.wait_output(reader, total // 3, 120, "a third of the output")
        a.kill9()
        a.start()
        # The repartition topic ends with transaction markers (never consumed): its lag
        # never reaches 0, so completion is the input's lag and the whole output.
        deduplib.wait_lag_zero(broker.bootstrap, ["tracking.normalized"], PARTS, 180)
        eoslib.wait_output(reader, total, 120, "every output")
        for x in (a, b):
            bclib.check(x.stop() == 0, "instance %s exits 0" % x.instance)
        bclib.check("mode=repartition" in a.log(), "the worker says it repartitions")
        reader.drain()
        out_billing = collections.Counter()
        out_spans = 0
        for m in reader.records:
            event_id = deduplib.event_id_of(m.value())
            if event_id in billing_ids:
                out_billing[event_id] += 1
                bclib.check(m.key() in copies[event_id],
                            "billing event %s keeps one of its copies' Kafka keys (got %r)"
                            % (event_id, m.key()))
            else:
                out_spans += 1
                ev = eoslib.decode("TrackingEvent", m.value())
                bclib.check("dedup_key_missing" in ev["flags"], "a span passes flagged")
        twice = [i for i, n in out_billing.items() if n > 1]
        missing = billing_ids - set(out_billing)
        print("MEASURED repartition: %d unique billing events expected, %d twice, %d missing; "
              "%d of %d spans passed" % (len(billing_ids), len(twice), len(missing), out_spans,
                                         len(spans)), flush=True)
        bclib.check(not twice and not missing, "each billing event exactly once")
        bclib.check(out_spans == len(spans), "every span (copies included) passed")
        reader.close()
        fates = deduplib.read_fates(broker.bootstrap)
        bclib.check(len(fates) == repeats and
                    all(f["related"]["topic"] == "tracking.normalized" for f in fates),
                    "one Fate per repeat naming the first occurrence on tracking.normalized "
                    "(%d fates, %d repeats)" % (len(fates), repeats))
        print("RESULT dedup repartition: %d billing events, %d unique exactly once (%d keys "
              "split over partitions), original keys restored, %d spans flagged"
              % (len(billing), len(billing_ids), split, len(spans)))
        replay_middle(broker, topology)
    finally:
        broker.kill()


bclib.main(run)
