"""The deduplicator, exactly once across kill -9: the generator's data (spans and billing
events, no logs; many exports re-sent, some 10 minutes of event time later: far beyond any
batch) normalized by tests/tools/dedup_feed, >= 100,000 events with >= 20% repeats on 6
partitions; 3 bin/deduplicator instances in one group, two of them killed with SIGKILL at
different points and restarted. A read_committed consumer of tracking.unique must find every
unique event id of the generator's ground truth exactly once, and tracking.fates one
`deduplicated` Fate per repeat, naming its first occurrence. BC_LONG=1: 4x the data."""
import collections
import os
import time

import bclib
import deduplib
import eoslib

PARTS = 6
RECORDS = 115000 if os.environ.get("BC_LONG") else 28500


def run():
    broker = deduplib.start_broker(PARTS)
    try:
        eoslib.skip_unless_transactions(broker)
        t0 = time.monotonic()
        events, truth = deduplib.gen_events(RECORDS, extra=["--spans-min", "20", "--spans-max",
                                                             "40", "--retry-rate", "0.35",
                                                             "--log-rate", "0"])
        expected = deduplib.truth_ids(truth)
        ids = set(e.event_id for e in events)
        bclib.check(ids == expected, "the fed event ids are the generator's truth")
        repeats = len(events) - len(expected)
        dist = deduplib.copy_distances(events, PARTS)
        print("MEASURED input: %d events, %d unique (truth), %d repeats (%.1f%%); offset "
              "distance repeat-first: median %d, p90 %d, max %d"
              % (len(events), len(expected), repeats, 100.0 * repeats / len(events),
                 dist[len(dist) // 2], dist[len(dist) * 9 // 10], dist[-1]), flush=True)
        bclib.check(len(events) >= 100000 and repeats >= 0.2 * len(events),
                    ">= 100,000 events with >= 20% repeats")
        bclib.check(dist[-1] > 5000, "some repeats far beyond a batch (500)")
        t1 = time.monotonic()
        deduplib.produce(broker.bootstrap, events)
        t2 = time.monotonic()
        topology = deduplib.write_topology(PARTS)
        reader = eoslib.Reader(broker.bootstrap, "tracking.unique", PARTS)
        w = {i: deduplib.Worker(broker, topology, i).start() for i in ("a", "b", "c")}
        eoslib.wait_output(reader, len(expected) // 4, 120, "a quarter of the unique events")
        w["a"].kill9()
        w["a"].start()
        eoslib.wait_output(reader, (len(expected) * 3) // 5, 120, "60% of the unique events")
        w["b"].kill9()
        w["b"].start()
        deduplib.wait_lag_zero(broker.bootstrap, ["tracking.normalized"], PARTS, 180)
        for x in w.values():
            bclib.check(x.stop() == 0, "instance %s exits 0" % x.instance)
        eoslib.wait_output(reader, len(expected), 30, "every unique event")
        t3 = time.monotonic()
        deduplib.check_exactly_once(reader, expected, "kill -9 twice, 3 instances")
        reader.close()
        fates = deduplib.read_fates(broker.bootstrap)
        kinds = collections.Counter(f["fate"] for f in fates)
        bclib.check(kinds == {"deduplicated": repeats},
                    "one deduplicated Fate per repeat (%s, expected %d)" % (dict(kinds), repeats))
        bad = [f for f in fates if f["related"] is None or
               f["related"]["topic"] != "tracking.normalized" or
               f["related"]["partition"] != f["source"]["partition"] or
               f["related"]["offset"] >= f["source"]["offset"]]
        bclib.check(not bad, "every Fate names an earlier first occurrence (%s)" % bad[:2])
        print("MEASURED phases: gen+feed %.1f s, produce %.1f s, dedup with kills %.1f s, "
              "verify %.1f s" % (t1 - t0, t2 - t1, t3 - t2, time.monotonic() - t3), flush=True)
        print("RESULT dedup kill -9: %d events, %d unique exactly once, %d repeats as Fates "
              "(3 instances, 2 killed)" % (len(events), len(expected), repeats))
    finally:
        broker.kill()


bclib.main(run)
