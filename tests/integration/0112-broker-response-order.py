"""breadcrumb-broker part 1: a deferred response keeps its place. On one connection, a Fetch
that long-polls at the end of a partition, then an ApiVersions and a Metadata: the later
answers wait behind the parked Fetch and all three come back in request order once a
record from another connection wakes the Fetch (well before its max wait)."""
import struct
import time

import bclib
from bclib import check, RawClient, record_batch, kstring


def fetch_v4(topic, partition, offset, max_wait_ms):
    return struct.pack(">iiiib", -1, max_wait_ms, 1, 1 << 20, 0) + struct.pack(">i", 1) + \
        kstring(topic) + struct.pack(">iiqi", 1, partition, offset, 1 << 20)


def test():
    broker = bclib.Broker(args=["--topic", "order:1"]).start()
    c = RawClient(broker.bootstrap)
    t0 = time.monotonic()
    f = c.send(1, 4, fetch_v4("order", 0, 0, 10000))
    a = c.send(18, 0, b"")
    m = c.send(3, 1, struct.pack(">i", -1))
    c.sock.settimeout(0.5)
    try:
        c.recv()
        bclib.fail("an answer overtook the parked Fetch")
    except OSError:
        pass  # nothing yet: timeout
    c.sock.settimeout(10)
    other = RawClient(broker.bootstrap)
    err, base = other.produce("order", 0, record_batch([b"wake"]))
    check((err, base) == (0, 0), "produce on the other connection")
    got = [c.recv() for _ in range(3)]
    waited = time.monotonic() - t0
    check([g[0] for g in got] == [f, a, m], "answers in request order: %r" % [g[0] for g in got])
    check(b"wake" in got[0][1], "the Fetch carries the record")
    check(waited < 5, "woken by the produce, not the 10 s max wait (%.1fs)" % waited)
    print("RESULT response order: parked Fetch, ApiVersions, Metadata answered in order after the wake-up")
    c.close()
    other.close()
    broker.stop()


bclib.main(test)
