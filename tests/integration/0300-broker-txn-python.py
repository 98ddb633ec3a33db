"""breadcrumb-broker part 3: transactions with python3-confluent-kafka (librdkafka).
- Raw requests: Kafka's error codes for AddPartitionsToTxn (unknown partition 3, the others
  55; wrong epoch 47 before v2, 90 from v2), EndTxn of an empty transaction (48), a
  transactional Produce batch for a partition not in the transaction (48), the wrong
  producer id (49).
- Interleaved committed and aborted transactions over two partitions, every record flushed
  before its transaction ends: read_committed sees exactly the committed records in order,
  read_uncommitted all of them.
- A read_committed consumer stops at the last stable offset while a transaction is open
  (records of the open transaction and committed records after it stay invisible) and
  goes on as soon as it commits.
- Fencing by transactional.id: a second producer with the same id aborts the first one's
  open transaction and fences it (its commit fails fatally); only the second's records are
  committed.
- A producer that vanishes (kill -9) with a transaction open: its transaction.timeout.ms
  (3 s) aborts it, and a read_committed consumer held at the LSO reaches the end.
- The broker kill -9ed with a transaction open: after the restart committed records and the
  committed transaction's offsets are there, the open transaction is aborted (its records
  invisible to read_committed, its pending offsets dropped) and the transactional.id goes on
  with a bumped epoch."""
import subprocess
import sys
import time

import struct

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition, OFFSET_BEGINNING

import bclib
from bclib import check, kstring, record_batch, RawClient


def txn_producer(bootstrap, txn_id):
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id,
                  "transaction.timeout.ms": 10000, "linger.ms": 5})
    p.init_transactions(15)
    # librdkafka 2.0 resolves a topic first produced to on its 1 s topic scan: every
    # producer's first transaction took 1 s more. Metadata of every topic up front.
    p.list_topics(timeout=10)
    return p


def consumer(bootstrap, isolation, wait_ms=100):
    return Consumer({"bootstrap.servers": bootstrap, "group.id": "reader-" + isolation,
                     "isolation.level": isolation, "enable.auto.commit": False,
                     "fetch.wait.max.ms": wait_ms})


def read_until(c, want, timeout=15):
    """Polls c until `want` records arrived (exactly: one more poll round must add none)."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < want:
        check(time.monotonic() < deadline, "timed out with %d of %d records" % (len(got), want))
        for m in c.consume(min(want - len(got), 1000), 0.2):
            check(m.error() is None, "consumer error %s" % m.error())
            got.append((m.partition(), m.value().decode()))
    return got


def read_all(bootstrap, topic, partitions, isolation, want):
    c = consumer(bootstrap, isolation)
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    got = read_until(c, want)
    # Nothing more: wait until the consumer's position reached the end it may read.
    def at_end():
        for p in range(partitions):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), cached=False)
            pos = c.position([TopicPartition(topic, p)])[0].offset
            if c.poll(0.05) is not None:
                fail_extra()
            if pos < hi:
                return False
        return True

    def fail_extra():
        bclib.fail("%s: more records than the %d expected" % (isolation, want))
    bclib.wait_for(at_end, 15, "the %s consumer to reach the end" % isolation)
    c.close()
    return got


def raw_codes(b):
    c = RawClient(b.bootstrap)
    data = c.request(22, 1, kstring("raw-txn") + struct.pack(">i", 10000))
    _t, err, pid, epoch = struct.unpack(">ihqh", data[:16])
    check(err == 0 and epoch == 0, "InitProducerId v1 with a transactional id: %d/%d" % (err, epoch))

    def add_partitions(version, p, e, parts):
        body = kstring("raw-txn") + struct.pack(">qh", p, e) + struct.pack(">i", 1) + \
            kstring(parts[0]) + struct.pack(">i", len(parts[1])) + \
            b"".join(struct.pack(">i", x) for x in parts[1])
        d = c.request(24, version, body)
        n = struct.unpack(">i", d[4:8])[0]
        check(n == 1, "one topic answered")
        off = 8
        tlen = struct.unpack(">h", d[off:off + 2])[0]
        off += 2 + tlen
        np = struct.unpack(">i", d[off:off + 4])[0]
        off += 4
        return [struct.unpack(">ih", d[off + 6 * i:off + 6 * i + 6]) for i in range(np)]

    def end_txn(p, e, commit):
        d = c.request(26, 0, kstring("raw-txn") + struct.pack(">qhb", p, e, 1 if commit else 0))
        return struct.unpack(">h", d[4:6])[0]

    got = add_partitions(0, pid, epoch, ("tx", [0, 7]))
    check(got == [(0, 55), (7, 3)], "unknown partition 3, the other 55: %s" % got)
    check(end_txn(pid, epoch, True) == 48, "EndTxn of an empty transaction: INVALID_TXN_STATE")
    check(add_partitions(0, pid, epoch + 1, ("tx", [0])) == [(0, 47)], "wrong epoch, v0: 47")
    check(add_partitions(2, pid, epoch + 1, ("tx", [0])) == [(0, 90)], "wrong epoch, v2: 90")
    check(add_partitions(0, pid + 1000, epoch, ("tx", [0])) == [(0, 49)], "wrong producer id: 49")
    check(add_partitions(0, pid, epoch, ("tx", [0])) == [(0, 0)], "partition 0 added")
    err, _ = c.produce("tx", 1, record_batch([b"x"], pid, epoch, 0, attributes=0x10))
    check(err == 48, "transactional batch for a partition not in the transaction: 48, got %d" % err)
    err, _ = c.produce("tx", 0, record_batch([b"\x00\x00\x00\x01"], pid, epoch, -1, attributes=0x30))
    check(err == 87, "a control batch from a client: INVALID_RECORD, got %d" % err)
    check(end_txn(pid, epoch, False) == 0, "abort")
    c.close()
    print("RESULT raw codes: AddPartitionsToTxn 3/55, 47 (v0) / 90 (v2), 49; EndTxn of an "
          "empty transaction 48; transactional Produce outside the transaction 48, a client's control "
          "batch 87")


def interleaved(b):
    p = txn_producer(b.bootstrap, "interleaved")
    committed = []
    everything = []
    for t in range(12):
        p.begin_transaction()
        recs = []
        for i in range(20):
            part = (t + i) % 2
            v = "t%02d-r%02d" % (t, i)
            p.produce("tx", value=v, partition=part)
            recs.append((part, v))
        p.flush(10)  # records are in the log before the transaction ends
        everything += recs
        if t % 3 == 1:
            p.abort_transaction(10)
        else:
            p.commit_transaction(10)
            committed += recs
    rc = read_all(b.bootstrap, "tx", 2, "read_committed", len(committed))
    ru = read_all(b.bootstrap, "tx", 2, "read_uncommitted", len(everything))
    for part in (0, 1):
        check([v for q, v in rc if q == part] == [v for q, v in committed if q == part],
              "read_committed partition %d: exactly the committed records in order" % part)
        check([v for q, v in ru if q == part] == [v for q, v in everything if q == part],
              "read_uncommitted partition %d: every record in order" % part)
    print("RESULT interleaved: 12 transactions (4 aborted) x 20 records: read_committed %d "
          "(exactly the committed), read_uncommitted %d" % (len(rc), len(ru)))
    return p


def lso_stop(b):
    opener = txn_producer(b.bootstrap, "opener")
    other = txn_producer(b.bootstrap, "other")
    # Long polls of 3 s: the commit must wake the parked fetch, not its deadline.
    c = consumer(b.bootstrap, "read_committed", wait_ms=3000)
    c.assign([TopicPartition("lso", 0, OFFSET_BEGINNING)])
    other.begin_transaction()
    for i in range(5):
        other.produce("lso", value="before-%d" % i, partition=0)
    other.commit_transaction(10)
    opener.begin_transaction()
    for i in range(5):
        opener.produce("lso", value="open-%d" % i, partition=0)
    opener.flush(10)
    other.begin_transaction()
    for i in range(5):
        other.produce("lso", value="after-%d" % i, partition=0)
    other.commit_transaction(10)
    got = [v for _, v in read_until(c, 5)]
    check(got == ["before-%d" % i for i in range(5)], "before the open transaction: %s" % got)
    # The high watermark is past the open transaction, the read_committed position stops at
    # its first offset (the LSO) and nothing more arrives while it stays open.
    lo, hi = c.get_watermark_offsets(TopicPartition("lso", 0), cached=False)
    # 5 records and a COMMIT marker come first: the open transaction starts at offset 6.
    check(hi == 6, "read_committed high watermark (the LSO) is 6, got %d" % hi)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        check(c.poll(0.1) is None, "nothing past the LSO while the transaction is open")
    opener.commit_transaction(10)
    t0 = time.monotonic()
    got = [v for _, v in read_until(c, 10)]
    woke = time.monotonic() - t0
    check(got == ["open-%d" % i for i in range(5)] + ["after-%d" % i for i in range(5)],
          "after the commit: %s" % got)
    check(woke < 1.5, "the commit woke the parked fetch (%.2f s, long poll 3 s)" % woke)
    c.close()
    print("RESULT lso: read_committed stopped at the LSO (6) with 10 records past it, "
          "got all 10 in order after the commit")
    print("MEASURED LSO wake: records of the committed transaction %.1f ms after the commit "
          "(fetch.wait.max.ms=3000)" % (woke * 1000))


def fencing(b):
    first = txn_producer(b.bootstrap, "fence-me")
    first.begin_transaction()
    for i in range(5):
        first.produce("fence", value="first-%d" % i, partition=0)
    first.flush(10)
    second = txn_producer(b.bootstrap, "fence-me")  # aborts and fences the first
    second.begin_transaction()
    for i in range(5):
        second.produce("fence", value="second-%d" % i, partition=0)
    second.commit_transaction(10)
    fatal = None
    try:
        first.commit_transaction(10)
    except KafkaException as e:
        fatal = e.args[0]
    check(fatal is not None, "the fenced producer's commit fails")
    check(fatal.fatal(), "the fenced producer's error is fatal: %s" % fatal)
    got = [v for _, v in read_all(b.bootstrap, "fence", 1, "read_committed", 5)]
    check(got == ["second-%d" % i for i in range(5)], "only the second's records: %s" % got)
    print("RESULT fencing: second producer with the same transactional.id fenced the first "
          "(fatal: %s), read_committed sees only its 5 records" % fatal.name())


VANISH = r"""
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "transactional.id": "vanishing",
              "transaction.timeout.ms": 3000})
p.init_transactions(15)
p.list_topics(timeout=10)
p.begin_transaction()
for i in range(10):
    p.produce("vanish", value="gone-%d" % i, partition=0)
p.flush(10)
print("open", flush=True)
sys.stdin.read()
"""


def vanished_producer(b):
    proc = subprocess.Popen([sys.executable, "-c", VANISH, b.bootstrap], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    check(proc.stdout.readline().strip() == "open", "the vanishing producer opened a transaction")
    t0 = time.monotonic()
    proc.kill()
    proc.wait(10)
    p = txn_producer(b.bootstrap, "after-vanish")
    p.begin_transaction()
    p.produce("vanish", value="after", partition=0)
    p.commit_transaction(10)
    c = consumer(b.bootstrap, "read_committed")
    c.assign([TopicPartition("vanish", 0, OFFSET_BEGINNING)])
    got = read_until(c, 1, timeout=20)
    waited = time.monotonic() - t0
    c.close()
    check(got == [(0, "after")], "only the committed record: %s" % got)
    check(waited >= 2.0, "held until the timeout (%.1f s)" % waited)
    check("transaction.timeout.ms passed" in b.log(), "aborted by its timeout")
    print("RESULT vanished producer: its open transaction (10 records) aborted by "
          "transaction.timeout.ms=3000 after %.1f s; read_committed then sees only the "
          "committed record behind it" % waited)


def broker_kill(b):
    p = txn_producer(b.bootstrap, "crash")
    meta = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "crash-g"}).consumer_group_metadata()
    p.begin_transaction()
    for i in range(10):
        p.produce("crash", value="kept-%d" % i, partition=0)
    p.send_offsets_to_transaction([TopicPartition("fence", 0, 10)], meta, 10)
    p.commit_transaction(10)
    p.begin_transaction()
    for i in range(10):
        p.produce("crash", value="lost-%d" % i, partition=0)
    p.send_offsets_to_transaction([TopicPartition("fence", 0, 20)], meta, 10)
    p.flush(10)
    b.kill()
    b.start()
    check("aborting an open transaction" in b.log(), "the restart aborted the open transaction")
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "crash-g",
                  "isolation.level": "read_committed"})
    offs = c.committed([TopicPartition("fence", 0)], timeout=10)
    check(offs[0].offset == 10, "committed offset after restart: 10, got %d" % offs[0].offset)
    c.close()
    got = [v for _, v in read_all(b.bootstrap, "crash", 1, "read_committed", 10)]
    check(got == ["kept-%d" % i for i in range(10)], "read_committed after restart: %s" % got)
    got = [v for _, v in read_all(b.bootstrap, "crash", 1, "read_uncommitted", 20)]
    check(len(got) == 20, "read_uncommitted sees the aborted records too")
    # The same transactional.id starts over with a fresh producer (epoch bumped again).
    p2 = txn_producer(b.bootstrap, "crash")
    p2.begin_transaction()
    p2.produce("crash", value="next", partition=0)
    p2.commit_transaction(10)
    got = [v for _, v in read_all(b.bootstrap, "crash", 1, "read_committed", 11)]
    check(got[-1] == "next", "a new producer commits after the restart")
    print("RESULT broker kill -9 with a transaction open: 10 committed records and the committed "
          "offset (10) survive, the 10 open records and the pending offset (20) aborted at "
          "restart, the transactional.id goes on")


def measure(b):
    p = txn_producer(b.bootstrap, "measure")
    n = 200
    t0 = time.monotonic()
    for i in range(n):
        p.begin_transaction()
        p.produce("measure", value=b"x", partition=0)
        p.commit_transaction(10)
    small = n / (time.monotonic() - t0)
    t0 = time.monotonic()
    big = 0
    for i in range(10):
        p.begin_transaction()
        for j in range(5000):
            p.produce("measure", value=b"%08d" % j, partition=0)
        p.commit_transaction(30)
        big += 5000
    rate = big / (time.monotonic() - t0)
    c = consumer(b.bootstrap, "read_committed")
    c.assign([TopicPartition("measure", 0, OFFSET_BEGINNING)])
    t0 = time.monotonic()
    got = len(read_until(c, n + big, timeout=60))
    crate = got / (time.monotonic() - t0)
    c.close()
    print("MEASURED transactions: %.0f commits/s with 1 record each; %.0f records/s in 5000-record "
          "transactions (linger.ms 5); read_committed consume %.0f records/s (python)"
          % (small, rate, crate))


def run():
    b = bclib.Broker(args=["--topic", "tx:2", "--topic", "lso:1", "--topic", "fence:1",
                           "--topic", "crash:1", "--topic", "vanish:1", "--topic", "measure:1"])
    with b:
        raw_codes(b)
        interleaved(b)
        lso_stop(b)
        fencing(b)
        vanished_producer(b)
        measure(b)
        broker_kill(b)


bclib.main(run)
