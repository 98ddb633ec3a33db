"""The deduplicator, exactly once across rebalances: the generator's data (many re-sent
exports) on 6 partitions, processed by 1 instance (the first third of the input), then 3 (two
join; the second third), then 2 (one leaves with SIGTERM; the rest): repeats of keys first
seen before a rebalance are recognized by the new owner from the restored store; a read_committed consumer of tracking.unique finds every unique
event id of the ground truth exactly once, and each repeat became one Fate."""
import collections
import os

import bclib
import deduplib
import eoslib

PARTS = 6
RECORDS = 60000 if os.environ.get("BC_LONG") else 15000


def run():
    # A static member stopped with SIGTERM does not leave its group (KIP-345): its
    # partitions move after session.timeout.ms, 2 s here instead of the test profile's 6 s.
    broker = deduplib.start_broker(PARTS, min_session_timeout_ms=1000)
    try:
        eoslib.skip_unless_transactions(broker)
        events, truth = deduplib.gen_events(RECORDS, seed=11,
                                             extra=["--spans-min", "20", "--spans-max", "40",
                                                    "--retry-rate", "0.35"])
        expected = deduplib.truth_ids(truth)
        bclib.check(set(e.event_id for e in events) == expected,
                    "the fed event ids are the generator's truth")
        repeats = len(events) - len(expected)
        third = len(events) // 3
        topology = deduplib.write_topology(PARTS, session_timeout_ms=2000)
        reader = eoslib.Reader(broker.bootstrap, "tracking.unique", PARTS)

        def assigned(worker, count):
            return 'msg="partitions assigned" worker=tracking.deduplicator count=%d' % count \
                in worker.log()

        def unique_upto(n):
            return len(set(e.event_id for e in events[:n]))

        # One instance owns all 6 partitions for the first third of the input.
        deduplib.produce(broker.bootstrap, events[:third])
        a = deduplib.Worker(broker, topology, "a").start()
        eoslib.wait_output(reader, unique_upto(third), 120, "the first third's unique events")
        # Three instances (2 partitions each) for the second third.
        b = deduplib.Worker(broker, topology, "b").start()
        c = deduplib.Worker(broker, topology, "c").start()
        bclib.wait_for(lambda: all(assigned(x, 2) for x in (a, b, c)), 120,
                       "three instances with 2 partitions each", interval=0.2)
        deduplib.produce(broker.bootstrap, events[third:2 * third])
        eoslib.wait_output(reader, unique_upto(2 * third), 120, "the second third's unique events")
        # Two instances (3 partitions each) for the rest.
        bclib.check(c.stop() == 0, "instance c leaves with exit 0")
        bclib.wait_for(lambda: assigned(a, 3) and assigned(b, 3), 120,
                       "two instances with 3 partitions each", interval=0.2)
        deduplib.produce(broker.bootstrap, events[2 * third:])
        deduplib.wait_lag_zero(broker.bootstrap, ["tracking.normalized"], PARTS, 180)
        for x in (a, b):
            bclib.check(x.stop() == 0, "instance %s exits 0" % x.instance)
        eoslib.wait_output(reader, len(expected), 30, "every unique event")
        deduplib.check_exactly_once(reader, expected, "1 -> 3 -> 2 instances")
        reader.close()
        kinds = collections.Counter(f["fate"] for f in deduplib.read_fates(broker.bootstrap))
        bclib.check(kinds == {"deduplicated": repeats},
                    "one deduplicated Fate per repeat (%s, expected %d)" % (dict(kinds), repeats))
        print("RESULT dedup rebalance: %d events, %d unique exactly once through 1 -> 3 -> 2 "
              "instances" % (len(events), len(expected)))
    finally:
        broker.kill()


bclib.main(run)
