"""breadcrumb-broker part 1: retention by bytes and by time, per topic, deleting whole old
segments (an expired active segment is rolled first); consumers then start at the new log
start offset."""
import time

from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

import bclib
from bclib import check


def watermarks(c, topic):
    return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=5)


def test():
    broker = bclib.Broker(args=[
        "--retention-check-ms", "100", "--fsync", "interval", "--fsync-interval-ms", "50",
        "--topic", "by-bytes:1:segment.bytes=4096,retention.bytes=20000",
        "--topic", "by-time:1:segment.bytes=4096,retention.ms=60000",
        "--topic", "kept:1:segment.bytes=4096"]).start()
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "acks": "all"})
    old = int(time.time() * 1000) - 3600 * 1000
    for i in range(1000):
        v = b"%04d-" % i + b"x" * 95
        p.produce("by-bytes", value=v)
        p.produce("by-time", value=v, timestamp=old + i)  # an hour old: past retention.ms
        p.produce("kept", value=v)
        if i % 100 == 0:
            p.flush(10)
    check(p.flush(10) == 0, "flush")
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    def trimmed(topic, most):
        w = watermarks(c, topic)
        return w if w[1] - w[0] <= most else None
    lo = bclib.wait_for(lambda: trimmed("by-bytes", 400), 10, "retention.bytes to delete segments")
    # ~100-byte records: at least retention.bytes (~170 records) stay, minus one segment's worth
    kept = lo[1] - lo[0]
    check(lo[1] == 1000, "high watermark unchanged")
    check(120 <= kept <= 400, "by-bytes keeps about retention.bytes: %d records" % kept)
    lt = bclib.wait_for(lambda: trimmed("by-time", 0), 10, "retention.ms to delete segments")
    check(lt == (1000, 1000), "by-time: every record expired, the active segment too: %r" % (lt,))
    check(watermarks(c, "kept") == (0, 1000), "a topic without limits keeps everything")

    # A consumer from the beginning starts at the log start offset.
    c2 = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    c2.assign([TopicPartition("by-bytes", 0, OFFSET_BEGINNING)])
    m = bclib.wait_for(lambda: c2.poll(0.2), 10, "a record")
    check(not m.error() and m.offset() == watermarks(c, "by-bytes")[0], "first record at log start")
    check(m.value().startswith(b"%04d-" % m.offset()), "the right record")
    c.close()
    c2.close()
    broker.stop()
    # Restart: the log start offset stays.
    broker.start()
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False})
    check(watermarks(c, "by-bytes")[0] >= lo[0], "log start kept after restart")
    c.close()
    print("RESULT retention: by-bytes kept %d of 1000 records, by-time kept %d, unlimited kept 1000"
          % (kept, lt[1] - lt[0]))
    broker.stop()


bclib.main(test)
