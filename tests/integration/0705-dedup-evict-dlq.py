"""The deduplicator's edges, one instance: a store bound (max_bytes 1MiB: 11,397 keys of
92 B) far below the keys seen, and records without the key sent to the DLQ. Input: the
generator's spans and billing events (no re-sent copies; the few logs left out), key [trace_id, span_id], so
billing events (no span_id) have no key; then copies of the 100 oldest spans (evicted: they
pass again, as documented) and of the 100 newest (remembered: Fates), and one value that is
not a TrackingEvent. Expected exactly: unique = spans + 100, Fates = 100, DLQ = billing
events (missing_field) + 1 (wrong_type), and the worker reports evictions."""
import collections
import re

from confluent_kafka import Consumer, Producer, TopicPartition

import bclib
import deduplib
import eoslib

PARTS = 3


def read_dlq_reasons(bootstrap):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "dlq-reader",
                  "isolation.level": "read_committed", "enable.auto.commit": False})
    tp = TopicPartition("tracking.dlq", 0, 0)
    _lo, hi = c.get_watermark_offsets(tp, timeout=20)
    c.assign([tp])
    reasons = collections.Counter()
    idle = 0.0
    # Until the position (past records and transaction markers) reaches the end, or 2 s
    # bring nothing (a batch call waits for a full batch: short calls, not 2 s ones).
    while idle < 2.0:
        msgs = c.consume(num_messages=10000, timeout=0.2)
        idle = 0.0 if msgs else idle + 0.2
        for m in msgs:
            if m.error() is None:
                reasons[dict(m.headers() or []).get("bc.dlq.reason", b"").decode()] += 1
        if c.position([tp])[0].offset >= hi:
            break
    c.close()
    return reasons


def run():
    broker = deduplib.start_broker(PARTS)
    try:
        eoslib.skip_unless_transactions(broker)
        events, truth = deduplib.gen_events(10000, seed=3,
                                            extra=["--spans-min", "20", "--spans-max", "40",
                                                   "--retry-rate", "0", "--dup-rate", "0",
                                                   "--log-rate", "0"])
        billing_ids = set(truth["unique_event_ids"]["event"])
        span_ids = set(truth["unique_event_ids"]["span"])
        events = [e for e in events if e.event_id in billing_ids or e.event_id in span_ids]
        spans = [e for e in events if e.event_id in span_ids]
        billing = [e for e in events if e.event_id in billing_ids]
        bclib.check(len(set(e.event_id for e in spans)) == len(spans), "no repeats in the input")
        bclib.check(len(spans) > 2 * 11397, "far more keys than the store holds")
        last_ts = max(e.ts for e in events)
        tail = [deduplib.Event(e.key, last_ts + 1, e.value, e.event_id, e.raw_offset)
                for e in spans[:100] + spans[-100:]]
        deduplib.produce(broker.bootstrap, events)
        topology = deduplib.write_topology(PARTS, key="[trace_id, span_id]", max_bytes="1MiB",
                                           missing="dlq")
        reader = eoslib.Reader(broker.bootstrap, "tracking.unique", PARTS)
        w = deduplib.Worker(broker, topology, "a").start()
        # The copies go in once everything else is processed: produced with the rest, they
        # could be read from one partition before another partition's earlier records had
        # evicted their originals (24 of the 100 were once remembered).
        deduplib.wait_lag_zero(broker.bootstrap, ["tracking.normalized"], PARTS, 120)
        deduplib.produce(broker.bootstrap, tail)
        p = Producer({"bootstrap.servers": broker.bootstrap})
        p.produce("tracking.normalized", key=b"garbage", value=b"not avro", timestamp=last_ts + 2)
        bclib.check(p.flush(30) == 0, "garbage record produced")
        deduplib.wait_lag_zero(broker.bootstrap, ["tracking.normalized"], PARTS, 120)
        eoslib.wait_output(reader, len(spans) + 100, 60, "every span and the evicted copies")
        bclib.check(w.stop() == 0, "worker exits 0")
        reader.drain()
        got = collections.Counter(deduplib.event_id_of(m.value()) for m in reader.records)
        reader.close()
        twice = sorted(i for i, n in got.items() if n > 1)
        bclib.check(twice == sorted(e.event_id for e in spans[:100]),
                    "exactly the 100 oldest (evicted) keys passed twice (%d twice)" % len(twice))
        bclib.check(set(got) == set(e.event_id for e in spans) and
                    sum(got.values()) == len(spans) + 100, "every span once, plus the 100")
        fates = deduplib.read_fates(broker.bootstrap)
        bclib.check(sorted(f["event_id"] for f in fates) ==
                    sorted(e.event_id for e in spans[-100:]),
                    "the 100 newest copies became Fates (%d fates)" % len(fates))
        reasons = read_dlq_reasons(broker.bootstrap)
        bclib.check(reasons == {"missing_field": len(billing), "wrong_type": 1},
                    "DLQ: keyless billing events and the garbage (%s, %d billing)"
                    % (dict(reasons), len(billing)))
        m = re.findall(r'msg="deduplicator counts" .* evicted=(\d+)', w.log())
        evicted = int(m[-1]) if m else 0
        bclib.check(evicted >= len(spans) - 11397, "evictions reported (%d)" % evicted)
        print("RESULT dedup evict/dlq: %d keys through a 1MiB store (%d evicted, counted); "
              "100 evicted repeats passed, 100 remembered became Fates; %d keyless and 1 "
              "undecodable to the DLQ" % (len(spans), evicted, len(billing)))
    finally:
        broker.kill()


bclib.main(run)
