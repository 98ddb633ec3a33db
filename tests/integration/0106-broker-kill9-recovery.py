"""breadcrumb-broker part 1: kill -9 of the broker mid-produce, a torn tail added to the
last segment (as a crash mid-write leaves it), restart on the same data dir and port while
the idempotent producer keeps going: every acknowledged record (acks=all) is there, in
order, exactly once; the torn tail is cut, never served."""
import glob
import os
import time

from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

import bclib
from bclib import check

BEFORE = 20000
TOTAL = 40000


def test():
    broker = bclib.Broker(args=["--topic", "crash:2"]).start()
    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 5, "batch.num.messages": 500, "reconnect.backoff.ms": 10,
                  "reconnect.backoff.max.ms": 100, "message.timeout.ms": 60000})
    acked = {0: [], 1: []}
    errors = []

    def cb(err, msg):
        if err:
            errors.append(err)
        else:
            acked[msg.partition()].append((msg.offset(), msg.value()))

    i = 0
    killed_at = None
    deadline = time.monotonic() + 60
    while i < TOTAL:
        check(time.monotonic() < deadline, "producing timed out at %d" % i)
        if killed_at is None and i - (len(acked[0]) + len(acked[1])) > 3000:
            p.poll(0.001)  # keep the kill in the middle of producing: at most 3000 unacked
            continue
        try:
            p.produce("crash", value=b"rec-%08d" % i, partition=i % 2, on_delivery=cb)
            i += 1
        except BufferError:
            p.poll(0.01)
            continue
        if i % 200 == 0:
            p.poll(0)
        n_acked = len(acked[0]) + len(acked[1])
        if killed_at is None and n_acked >= BEFORE:
            broker.kill()
            killed_at = n_acked
            # A torn tail: half of a batch-like chunk, then garbage.
            seg = sorted(glob.glob(os.path.join(broker.data_dir, "crash-0", "*.log")))[-1]
            with open(seg, "rb") as f:
                f.seek(max(0, os.path.getsize(seg) - 3000))
                tail = f.read(1500)
            with open(seg, "ab") as f:
                f.write(tail[:700] + os.urandom(300))
            broker.start()
    check(p.flush(60) == 0, "flush after restart")
    check(not errors, "delivery errors: %r" % errors[:3])
    check(killed_at is not None, "the broker was killed")
    check("truncated a torn or invalid tail" in broker.log(), "recovery logged the truncation")

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "enable.partition.eof": True, "check.crcs": True})
    c.assign([TopicPartition("crash", 0, OFFSET_BEGINNING), TopicPartition("crash", 1, OFFSET_BEGINNING)])
    got = {0: [], 1: []}
    eof = set()
    deadline = time.monotonic() + 30
    while len(eof) < 2 or len(got[0]) + len(got[1]) < TOTAL:
        check(time.monotonic() < deadline, "consume timed out at %d" % (len(got[0]) + len(got[1])))
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:
                eof.add(m.partition())
                continue
            bclib.fail("consume error: %s" % m.error())
        eof.discard(m.partition())
        got[m.partition()].append((m.offset(), m.value()))
    c.close()
    for part in (0, 1):
        values = [v for _, v in got[part]]
        check(all(v.startswith(b"rec-") and len(v) == 12 for v in values), "no garbage served")
        nums = [int(v[4:]) for v in values]
        check(nums == sorted(nums), "partition %d in produce order" % part)
        check(len(set(nums)) == len(nums), "partition %d: no duplicates" % part)
        check([o for o, _ in got[part]] == list(range(len(values))), "partition %d offsets dense" % part)
        on_disk = dict(got[part])
        for off, v in acked[part]:
            check(on_disk.get(off) == v, "acknowledged record %r at %d/%d is there" % (v, part, off))
        check(len(values) == TOTAL // 2, "partition %d has %d records" % (part, len(values)))
    print("RESULT kill -9 after %d acks, torn tail cut, restart: all %d acknowledged records present, "
          "in order, exactly once" % (killed_at, TOTAL))
    broker.stop()


bclib.main(test)
