"""breadcrumb-broker part 1: idempotent producers.
- Raw requests: a resent batch is answered with its original base offset and appended
  once, also after a kill -9 and restart (state rebuilt from the log); a sequence gap gets
  OUT_OF_ORDER_SEQUENCE_NUMBER (45) and an older epoch INVALID_PRODUCER_EPOCH (47).
- librdkafka's idempotent producer against a broker that drops the connection after every
  10th append (--fault-drop-after-append, test only): retries produce no duplicates and no
  gaps, in order."""
import time

from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

import bclib
from bclib import check, RawClient, record_batch


def raw_checks(broker):
    c = RawClient(broker.bootstrap)
    pid, epoch = c.init_producer_id()
    pid2, _ = c.init_producer_id()
    check(pid2 != pid, "fresh producer ids")
    epoch = 3
    b0 = record_batch([b"a", b"b"], pid, epoch, 0)
    b1 = record_batch([b"c"], pid, epoch, 2)
    check(c.produce("idem", 0, b0) == (0, 0), "first batch at 0")
    check(c.produce("idem", 0, b1) == (0, 2), "second batch at 2")
    check(c.produce("idem", 0, b0) == (0, 0), "resent first batch -> original offset 0")
    check(c.produce("idem", 0, b1) == (0, 2), "resent second batch -> original offset 2")
    err, _ = c.produce("idem", 0, record_batch([b"x"], pid, epoch, 9))
    check(err == 45, "sequence gap -> 45, got %d" % err)
    err, _ = c.produce("idem", 0, record_batch([b"x"], pid, epoch - 1, 3))
    check(err == 47, "older epoch -> 47, got %d" % err)
    err, _ = c.produce("idem", 0, record_batch([b"x"], pid, epoch + 1, 5))
    check(err == 45, "new epoch not at sequence 0 -> 45, got %d" % err)
    bad = bytearray(record_batch([b"crc"]))
    bad[-1] ^= 1
    err, _ = c.produce("idem", 0, bytes(bad))
    check(err == 2, "corrupt batch -> CORRUPT_MESSAGE, got %d" % err)
    c.close()

    broker.kill()  # state must come back from the log alone
    broker.start()
    c = RawClient(broker.bootstrap)
    check(c.produce("idem", 0, b1) == (0, 2), "after kill -9: resent batch -> original offset 2")
    check(c.produce("idem", 0, record_batch([b"d"], pid, epoch, 3)) == (0, 3), "next in sequence at 3")
    err, _ = c.produce("idem", 0, record_batch([b"x"], pid, epoch - 1, 4))
    check(err == 47, "after restart, older epoch -> 47, got %d" % err)
    # InitProducerId never hands out an id used before the restart.
    pid3, _ = c.init_producer_id()
    check(pid3 > max(pid, pid2), "producer ids keep growing across restarts: %d" % pid3)
    c.close()
    print("RESULT raw idempotence: duplicates answered with original offsets, 45/47 codes, state survives kill -9")


def librdkafka_retries(bootstrap, n):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                  "linger.ms": 2, "batch.num.messages": 50, "retry.backoff.ms": 10,
                  "reconnect.backoff.ms": 10, "reconnect.backoff.max.ms": 100,
                  "max.in.flight.requests.per.connection": 5})
    acked = []
    errors = []

    def cb(err, msg):
        if err:
            errors.append(err)
        else:
            acked.append(msg.value())
    for i in range(n):
        p.produce("drops", value=b"%08d" % i, partition=0, on_delivery=cb)
        if i % 100 == 0:
            p.poll(0)
    check(p.flush(60) == 0, "flush with retries")
    check(not errors, "delivery errors: %r" % errors[:3])
    check(len(acked) == n, "all acknowledged")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "enable.partition.eof": True})
    c.assign([TopicPartition("drops", 0, OFFSET_BEGINNING)])
    got = []
    deadline = time.monotonic() + 30
    while True:
        check(time.monotonic() < deadline, "consume timed out at %d" % len(got))
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191 and len(got) >= n:
                break
            continue
        got.append(m.value())
    c.close()
    check(len(got) == n, "exactly %d records in the log, found %d (duplicates!)" % (n, len(got)))
    check(got == [b"%08d" % i for i in range(n)], "in order, no gaps")


def test():
    broker = bclib.Broker(args=["--topic", "idem:1"]).start()
    raw_checks(broker)
    broker.stop()

    faulty = bclib.Broker(name="faulty", args=["--topic", "drops:1", "--fault-drop-after-append", "10",
                                                  "--log-level", "debug"]).start()
    librdkafka_retries(faulty.bootstrap, 10000)
    drops = faulty.log().count("test fault: dropping")
    dups = faulty.log().count("duplicate batch answered")
    check(drops >= 3, "the fault fired (%d times)" % drops)
    check(dups >= 1, "retried batches reached the broker as duplicates (%d)" % dups)
    print("RESULT librdkafka idempotent producer: 10000 records, %d dropped connections, %d duplicate "
          "batches answered, none appended twice" % (drops, dups))
    faulty.stop()


bclib.main(test)
