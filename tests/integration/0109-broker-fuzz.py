"""breadcrumb-broker part 1: hostile input. tests/tools/broker_fuzz.c sends truncated,
oversized, negative-size and random frames, valid headers with random bodies, mutated
valid requests and floods of unread requests, connection after connection, while a
well-behaved producer and consumer keep working on another topic: every one of their
records arrives intact and in order, the broker never crashes, and each bad connection is
closed with a log line."""
import subprocess
import time
import os

from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

import bclib
from bclib import check

SECONDS = 8


def test():
    broker = bclib.Broker(args=["--topic", "good:1", "--topic", "fuzz:1"]).start()
    fuzz = subprocess.Popen([os.path.join(bclib.BC_TEST_BIN, "broker_fuzz"), "--brokers", broker.bootstrap,
                             "--seconds", str(SECONDS)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 2})
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 50})
    c.assign([TopicPartition("good", 0, OFFSET_BEGINNING)])
    sent = 0
    got = []
    errors = []
    end = time.monotonic() + SECONDS
    while time.monotonic() < end or fuzz.poll() is None:
        check(time.monotonic() < end + 60, "fuzzer did not finish")
        if time.monotonic() < end and sent < 50000:
            for _ in range(50):
                p.produce("good", value=b"good-%08d" % sent,
                          on_delivery=lambda err, msg: errors.append(err) if err else None)
                sent += 1
            p.poll(0)
        m = c.poll(0.02)
        if m is not None and not m.error():
            got.append(m.value())
    check(p.flush(30) == 0, "flush")
    check(not errors, "delivery errors: %r" % errors[:3])
    deadline = time.monotonic() + 30
    while len(got) < sent:
        check(time.monotonic() < deadline, "consumed %d of %d" % (len(got), sent))
        m = c.poll(0.1)
        if m is not None and not m.error():
            got.append(m.value())
    c.close()
    out = fuzz.stdout.read()
    print(out.strip().splitlines()[-1])
    check(fuzz.returncode == 0, "fuzzer failed (broker unhealthy):\n" + out[-2000:])
    check(got == [b"good-%08d" % i for i in range(sent)], "the good client's records intact and in order")
    check(broker.alive(), "broker still running")
    log = broker.log()
    check("malformed request" in log and "invalid request size" in log, "bad connections are logged")
    print("RESULT fuzz: meanwhile a producer and a consumer moved %d records correctly" % sent)
    broker.stop()


bclib.main(test)
