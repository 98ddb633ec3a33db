"""breadcrumb-broker part 1: produce/consume round trips with python3-confluent-kafka:
keys, null keys and values, headers, timestamps, all four compressions, acks 0/1/-1,
ListOffsets earliest/latest/by time, long-poll fetch woken by a produce."""
import time

from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic

import bclib
from bclib import check

N = 2000


def produce(bootstrap, topic, compression, acks, base_ts):
    p = Producer({"bootstrap.servers": bootstrap, "compression.type": compression,
                  "acks": acks, "linger.ms": 5, "batch.num.messages": 300})
    errors = []
    sent = []
    for i in range(N):
        key = None if i % 10 == 0 else ("key-%d" % (i % 37)).encode()
        value = None if i % 101 == 0 else (("%s-%d-" % (compression, i)) * (1 + i % 7)).encode()
        # (no null header values here: confluent-kafka 1.7 crashes at exit on them; kcat and
        # kafkajs cover null header values)
        headers = [("h1", b"v%d" % i), ("empty", b""), ("h1", b"repeat")] if i % 3 == 0 else None
        ts = base_ts + i
        p.produce(topic, value=value, key=key, headers=headers, timestamp=ts, partition=i % 2,
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
        sent.append((i % 2, key, value, headers, ts))
        if i % 500 == 0:
            p.poll(0)
    check(p.flush(30) == 0, "flush")
    check(not errors, "delivery errors: %r" % errors[:3])
    return sent


def consume_all(bootstrap, topic, partitions, expect):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 100, "enable.partition.eof": True})
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    got = []
    eof = set()
    deadline = time.monotonic() + 30
    while len(eof) < len(partitions) or len(got) < expect:
        check(time.monotonic() < deadline, "consume timed out with %d/%d" % (len(got), expect))
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition())
                continue
            bclib.fail("consume error %s" % m.error())
        eof.discard(m.partition())
        got.append(m)
    c.close()
    return got


def norm_headers(h):
    return [(k, v if v is not None else None) for k, v in h] if h else None


def test():
    broker = bclib.Broker(args=["--topic", "rt:2"]).start()
    bs = broker.bootstrap
    admin = AdminClient({"bootstrap.servers": bs})
    total = 0
    base = 1_700_000_000_000
    for n, (compression, acks) in enumerate([("none", "all"), ("gzip", "1"), ("snappy", "all"),
                                             ("lz4", "all"), ("zstd", "all")]):
        topic = "rt-" + compression
        admin.create_topics([NewTopic(topic, 2, 1)])[topic].result()
        sent = produce(bs, topic, compression, acks, base + n * 100000)
        got = consume_all(bs, topic, [0, 1], N)
        check(len(got) == N, "%s: got %d of %d" % (compression, len(got), N))
        by_part = {0: [s for s in sent if s[0] == 0], 1: [s for s in sent if s[0] == 1]}
        seen = {0: 0, 1: 0}
        for m in got:
            p = m.partition()
            want = by_part[p][seen[p]]
            check(m.offset() == seen[p], "%s: offsets dense in order" % compression)
            seen[p] += 1
            check(m.key() == want[1], "%s: key at %d/%d" % (compression, p, m.offset()))
            check(m.value() == want[2], "%s: value at %d/%d" % (compression, p, m.offset()))
            check(norm_headers(m.headers()) == norm_headers(want[3]), "%s: headers %r != %r" % (compression, m.headers(), want[3]))
            check(m.timestamp() == (1, want[4]), "%s: timestamp %r != %r" % (compression, m.timestamp(), want[4]))
        total += len(got)

        # ListOffsets: earliest, latest, by time.
        c = Consumer({"bootstrap.servers": bs, "group.id": "unused", "enable.auto.commit": False})
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, 1), timeout=10)
        check((lo, hi) == (0, N // 2), "%s: watermarks %r" % (compression, (lo, hi)))
        t0 = base + n * 100000
        # (one query per partition: librdkafka merges repeats of a partition)
        res = c.offsets_for_times([TopicPartition(topic, 0, t0 + 1001), TopicPartition(topic, 1, t0 + 1001)],
                                  timeout=10)
        res += c.offsets_for_times([TopicPartition(topic, 0, t0 + 10 * N)], timeout=10)
        # record i has timestamp t0+i and sits in partition i%2 at offset i//2
        # (exact in compressed batches too: the broker decompresses the batch holding the time)
        check(res[0].offset == 501, "%s: by time p0: %r" % (compression, res[0]))  # i=1002
        check(res[1].offset == 500, "%s: by time p1: %r" % (compression, res[1]))  # i=1001
        check(res[2].offset == -1, "past the end: %r" % res[2])
        c.close()
    print("RESULT round trips: %d records over 5 compressions, keys/headers/timestamps exact" % total)

    # acks=0: no responses at all, records still land.
    p = Producer({"bootstrap.servers": bs, "acks": "0", "linger.ms": 2})
    for i in range(100):
        p.produce("rt", value=b"fire-and-forget-%d" % i, partition=0)
    check(p.flush(10) == 0, "acks=0 flush")
    c = Consumer({"bootstrap.servers": bs, "group.id": "unused", "enable.auto.commit": False})
    bclib.wait_for(lambda: c.get_watermark_offsets(TopicPartition("rt", 0), timeout=5)[1] == 100, 10,
                   "acks=0 records to land")

    # Long-poll: a fetch waiting at the end is answered when a record arrives, not at max wait.
    # (no group: enable.auto.commit off, or close() waits for a coordinator until part 2)
    c2 = Consumer({"bootstrap.servers": bs, "group.id": "unused", "fetch.wait.max.ms": 5000,
                   "fetch.min.bytes": 1, "enable.auto.commit": False})
    c2.assign([TopicPartition("rt", 1, OFFSET_BEGINNING)])
    p = Producer({"bootstrap.servers": bs, "linger.ms": 0})
    p.produce("rt", value=b"warm-up", partition=0)  # connect and fetch metadata first
    p.flush(10)
    check(c2.poll(1) is None, "nothing in rt/1 yet")
    t = time.monotonic()
    p.produce("rt", value=b"wake", partition=1)
    p.flush(10)
    m = None
    while m is None and time.monotonic() - t < 10:
        m = c2.poll(0.05)
    waited = time.monotonic() - t
    check(m is not None and m.value() == b"wake", "long-poll got the record")
    check(waited < 2.0, "long-poll answered in %.2fs, well before fetch.wait.max.ms=5s" % waited)
    print("MEASURED long-poll wake latency: %.0f ms (fetch.wait.max.ms=5000)" % (waited * 1000))
    c.close()
    c2.close()
    broker.stop()
    check("connection closed" in broker.log(), "connections are logged")


bclib.main(test)
