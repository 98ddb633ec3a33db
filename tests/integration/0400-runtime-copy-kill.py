"""Exactly-once copy across a kill -9: the copy stage as 2 instances over a 6-partition
topic of 50,000 records (500,000 with BC_LONG=1); one instance is killed with SIGKILL once
a third of the output is committed (chosen by progress) and restarted; a read_committed
consumer then finds every input exactly once on the output, and both instances stop
cleanly on SIGTERM."""
import os
import time

import bclib
import eoslib

N = 500000 if os.environ.get("BC_LONG") else 50000
PARTS = 6


def run():
    broker = bclib.Broker(args=["--topic", "in:%d" % PARTS, "--topic", "out:%d" % PARTS,
                                "--topic", "p.fates:1", "--topic", "p.dlq:1"]).start()
    try:
        eoslib.skip_unless_transactions(broker)
        eoslib.produce(broker.bootstrap, "in",
                       ((b"k%d" % i, b"v%d" % i) for i in range(N)))
        started = time.monotonic()
        a = eoslib.Stage("copy", broker, "a", ["in"], {"out": "out"}).start()
        b = eoslib.Stage("copy", broker, "b", ["in"], {"out": "out"}).start()
        reader = eoslib.Reader(broker.bootstrap, "out", PARTS)
        eoslib.wait_output(reader, N // 3, 60, "a third of the output")
        a.kill9()
        killed_at = len(reader.records)
        a.start()
        bclib.wait_for(lambda: eoslib.group_lag(broker.bootstrap, "p.copy", "in", PARTS) == 0,
                       90, "the group to commit every input")
        secs = time.monotonic() - started
        bclib.check(a.stop() == 0, "instance a exits 0 on SIGTERM")
        bclib.check(b.stop() == 0, "instance b exits 0 on SIGTERM")
        eoslib.wait_output(reader, N, 30, "all %d outputs" % N)
        reader.poll(1.0)
        values = [m.value() for m in reader.records]
        reader.close()
        dupes = len(values) - len(set(values))
        bclib.check(dupes == 0, "no duplicates (found %d)" % dupes)
        bclib.check(set(values) == {b"v%d" % i for i in range(N)}, "every input on the output")
        for m in reader.records[:100]:
            hdrs = dict(m.headers() or [])
            bclib.check(hdrs.get("bc.worker") == b"p.copy", "bc.worker header")
            bclib.check(hdrs.get("bc.src", b"").startswith(b"in:"), "bc.src header")
        print("RESULT copy: %d records exactly once across a kill -9 at %d outputs" % (N, killed_at))
        print("MEASURED exactly-once copy, 2 instances incl. group join, kill and restart: "
              "%.0f records/s (%.1f s)" % (N / secs, secs))
    finally:
        broker.kill()


bclib.main(run)
