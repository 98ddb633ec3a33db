"""breadcrumb-broker part 3: log compaction (cleanup.policy=compact) with
python3-confluent-kafka.
A compacted topic (small segments, delete.retention.ms=0) gets five rounds of values for
30 keys in every compression (none, gzip, snappy, lz4, zstd), a committed transaction, an
aborted transaction over other keys (flushed before the abort), tombstones, and a zstd
transaction. A consumer reading from the start rebuilds the same table before compaction,
after it (read_committed and read_uncommitted alike: the aborted records are gone) and
after a kill -9 and restart; the cleaned part of the log holds one record per live key, no
aborted records and no tombstones."""
import re
import time

from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

import bclib
from bclib import check, fail, wait_for

KEYS = 30


def read_log(bootstrap, isolation, timeout=20):
    """[(offset, key, value)] of the whole partition as `isolation` sees it."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "table-" + isolation,
                  "isolation.level": isolation, "enable.auto.commit": False,
                  "fetch.wait.max.ms": 50})
    c.assign([TopicPartition("table", 0, OFFSET_BEGINNING)])
    _lo, end = c.get_watermark_offsets(TopicPartition("table", 0), cached=False)
    out = []
    deadline = time.monotonic() + timeout
    while True:
        pos = c.position([TopicPartition("table", 0)])[0].offset
        if pos >= end:
            break
        if time.monotonic() > deadline:
            fail("reading the table: at %d of %d" % (pos, end))
        m = c.poll(0.1)
        if m is not None and m.error() is None:
            out.append((m.offset(), m.key().decode(), None if m.value() is None else m.value().decode()))
    c.close()
    return out


def table_of(records):
    t = {}
    for _off, k, v in records:
        if v is None:
            t.pop(k, None)
        else:
            t[k] = v
    return t


def run():
    b = bclib.Broker(args=["--topic", "table:1:cleanup.policy=compact,segment.bytes=1024,"
                           "delete.retention.ms=0,min.cleanable.dirty.ratio=0.01"])
    b.start(extra_args=["--compact-interval-ms", "3600000"])  # no compaction yet
    try:
        body(b)
    finally:
        b.kill()


def body(b):
    if True:
        expected = {}
        for r, codec in enumerate(["none", "gzip", "snappy", "lz4", "zstd"]):
            p = Producer({"bootstrap.servers": b.bootstrap, "compression.type": codec,
                          "linger.ms": 20, "enable.idempotence": True})
            for k in range(KEYS):
                key, value = "k%02d" % k, "r%d-%s-k%02d" % (r, codec, k)
                p.produce("table", key=key, value=value, partition=0)
                expected[key] = value
            check(p.flush(10) == 0, "round %d produced" % r)
        tp = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "table-writer",
                       "linger.ms": 5})
        tp.init_transactions(15)
        tp.begin_transaction()
        for k in range(0, 5):
            tp.produce("table", key="k%02d" % k, value="committed-k%02d" % k, partition=0)
            expected["k%02d" % k] = "committed-k%02d" % k
        tp.commit_transaction(10)
        tp.begin_transaction()
        for k in range(5, 10):
            tp.produce("table", key="k%02d" % k, value="aborted-k%02d" % k, partition=0)
        tp.flush(10)
        tp.abort_transaction(10)
        p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5})
        for k in range(10, 13):
            p.produce("table", key="k%02d" % k, value=None, partition=0)
            del expected["k%02d" % k]
        p.flush(10)
        zp = Producer({"bootstrap.servers": b.bootstrap, "transactional.id": "table-zstd",
                       "compression.type": "zstd", "linger.ms": 20})
        zp.init_transactions(15)
        zp.begin_transaction()
        for k in range(13, 15):
            zp.produce("table", key="k%02d" % k, value="zstd-txn-k%02d" % k, partition=0)
            expected["k%02d" % k] = "zstd-txn-k%02d" % k
        zp.commit_transaction(10)
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "x"})
        _lo, cleanable_end = c.get_watermark_offsets(TopicPartition("table", 0), cached=False)
        c.close()
        # Roll segments past everything above so it becomes cleanable.
        for i in range(20):
            p.produce("table", key="filler", value="f%02d-" % i + "x" * 200, partition=0)
            p.flush(10)
        expected["filler"] = "f19-" + "x" * 200
        before = read_log(b.bootstrap, "read_committed")
        check(table_of(before) == expected, "table before compaction: %s"
              % sorted(set(table_of(before).items()) ^ set(expected.items())))
        check(len(before) == 5 * KEYS + 5 + 3 + 2 + 20, "every record before compaction: %d" % len(before))
        check("log compacted" not in b.log(), "no compaction yet")
        b.stop()
        b.start(extra_args=["--compact-interval-ms", "100"])

        def cleaned():
            ups = [int(x) for x in re.findall(r'msg="log compacted" topic=table .*cleaned_upto=(\d+)', b.log())]
            return ups and max(ups) >= cleanable_end
        wait_for(cleaned, 20, "a compaction pass past offset %d" % cleanable_end)
        stats = re.findall(r'msg="log compacted" topic=table .*', b.log())
        after_rc = read_log(b.bootstrap, "read_committed")
        after_ru = read_log(b.bootstrap, "read_uncommitted")
        check(table_of(after_rc) == expected, "read_committed table after compaction")
        check(table_of(after_ru) == expected, "read_uncommitted table after compaction (aborted records gone)")
        low = [(o, k, v) for o, k, v in after_ru if o < cleanable_end]
        check(not [1 for _o, _k, v in low if v is None], "no tombstones left in the cleaned part")
        check(not [1 for _o, _k, v in low if v and v.startswith("aborted")], "no aborted records left")
        keys = [k for _o, k, _v in low]
        check(len(keys) == len(set(keys)), "one record per key in the cleaned part: %s" % keys)
        check(sorted(keys) == sorted(k for k in expected if k != "filler"),
              "the cleaned part holds exactly the live keys")
        b.kill()
        b.start()
        restarted = read_log(b.bootstrap, "read_committed")
        check(table_of(restarted) == expected, "table after kill -9 and restart")
        check(len(restarted) == len(after_rc), "the same records after restart")
        print("RESULT compaction: %d records below offset %d (5 codecs, committed and aborted "
              "transactions, 3 tombstones) -> %d (one per live key); tables equal before, after, "
              "and after kill -9 and restart (%d compaction passes)"
              % (len([1 for r in before if r[0] < cleanable_end]) + 5, cleanable_end, len(low),
                 len(stats)))


bclib.main(run)
