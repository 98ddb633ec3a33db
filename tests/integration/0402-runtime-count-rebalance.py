"""A counting stage with a state store (changelog-backed) stays exact across kills and a
rebalance from 1 to 3 instances: for every key the read_committed output holds the counts
1..n exactly once, n being the true number of inputs with that key."""
import collections
import os

import bclib
import eoslib

N = 200000 if os.environ.get("BC_LONG") else 20000
KEYS = 100
PARTS = 6


def run():
    broker = bclib.Broker(args=["--topic", "in:%d" % PARTS, "--topic", "out:%d" % PARTS,
                                "--topic", "p.fates:1", "--topic", "p.dlq:1",
                                "--topic", "p.count.counts.changelog:%d" % PARTS]).start()
    try:
        eoslib.skip_unless_transactions(broker)
        records = [(b"key-%d" % (i % KEYS), b"%d" % i) for i in range(N)]
        truth = collections.Counter(k for k, _ in records)
        eoslib.produce(broker.bootstrap, "in", records)
        reader = eoslib.Reader(broker.bootstrap, "out", PARTS)
        a = eoslib.Stage("count", broker, "a", ["in"], {"out": "out"}).start()
        eoslib.wait_output(reader, N // 4, 60, "a quarter of the counts")
        a.kill9()
        a.start()
        eoslib.wait_output(reader, N // 2, 60, "half of the counts")
        b = eoslib.Stage("count", broker, "b", ["in"], {"out": "out"}).start()
        c = eoslib.Stage("count", broker, "c", ["in"], {"out": "out"}).start()
        eoslib.wait_output(reader, (N * 3) // 4, 90, "three quarters of the counts")
        b.kill9()
        b.start()
        bclib.wait_for(lambda: eoslib.group_lag(broker.bootstrap, "p.count", "in", PARTS) == 0,
                       120, "the group to commit every input")
        for s in (a, b, c):
            bclib.check(s.stop() == 0, "instance %s exits 0" % s.instance)
        eoslib.wait_output(reader, N, 30, "every count")
        reader.poll(1.0)
        seen = collections.defaultdict(list)
        for m in reader.records:
            seen[m.key()].append(int(m.value()))
        reader.close()
        for key, n in truth.items():
            got = sorted(seen[key])
            bclib.check(got == list(range(1, n + 1)),
                        "key %s: counts 1..%d exactly once (got %d values, max %s)"
                        % (key, n, len(got), got[-1] if got else None))
        print("RESULT count: %d keys exact after kill -9 and 1->3 rebalance (%d records)"
              % (KEYS, N))
    finally:
        broker.kill()


bclib.main(run)
