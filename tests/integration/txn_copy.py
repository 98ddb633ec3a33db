"""A consume-transform-produce process for the transaction tests (not a test itself).

Reads --input with read_committed in consumer group --group, writes every record to
--output (same key, value upper-cased, same partition) and commits the input offsets with
send_offsets_to_transaction, --batch records per transaction.

Progress goes to --progress (one line, rewritten: "processed=N committed=M state=S"), so a
test can pick a kill point by records processed, never by clock. With --hold-after N the
process stops after producing N records (flushed to the broker, transaction still open),
writes state=holding and waits until the file --release exists, then carries on.
--pace-ms pauses after each commit, so that kill points chosen by progress fall mid-copy.

A rebalance aborts the open transaction (its records may belong to revoked partitions).
Exit codes: 0 after SIGTERM, 3 when fenced (a fatal transaction error), 1 otherwise.
"""
import argparse
import os
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer

stop = False


def on_term(_sig, _frame):
    global stop
    stop = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--txn-id", required=True)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--progress", required=True)
    ap.add_argument("--hold-after", type=int, default=0)
    ap.add_argument("--release", default="")
    ap.add_argument("--pace-ms", type=int, default=0, help="pause after each commit (slows the copy)")
    ap.add_argument("--session-timeout-ms", type=int, default=6000,
                    help="how long a killed or stopped copier holds its partitions")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, on_term)

    processed = 0
    committed = 0

    def progress(state):
        tmp = a.progress + ".tmp"
        with open(tmp, "w") as f:
            f.write("processed=%d committed=%d state=%s pid=%d\n" % (processed, committed, state, os.getpid()))
        os.rename(tmp, a.progress)

    consumer = Consumer({"bootstrap.servers": a.bootstrap, "group.id": a.group,
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "session.timeout.ms": a.session_timeout_ms,
                         "heartbeat.interval.ms": 500, "max.poll.interval.ms": 8000,
                         "partition.assignment.strategy": "range", "fetch.wait.max.ms": 100})
    producer = Producer({"bootstrap.servers": a.bootstrap, "transactional.id": a.txn_id,
                         "transaction.timeout.ms": 10000, "linger.ms": 5})
    progress("starting")
    producer.init_transactions(30)
    # librdkafka 2.0 resolves a topic first produced to on its 1 s topic scan: metadata of
    # every topic up front, or the first transaction takes 1 s more.
    producer.list_topics(timeout=10)
    in_txn = 0

    def on_revoke(_consumer, _partitions):
        # Eager rebalance: the records of the open transaction may come from partitions
        # that go elsewhere. Abort it; the next assignment starts at the committed offsets.
        nonlocal in_txn, processed
        producer.abort_transaction(10)
        processed -= in_txn
        in_txn = 0
        producer.begin_transaction()

    consumer.subscribe([a.input], on_revoke=on_revoke)
    producer.begin_transaction()
    held = False
    progress("running")
    try:
        while not stop:
            msgs = consumer.consume(a.batch - in_txn if a.batch > in_txn else 1, 0.2)
            for m in msgs:
                if m.error():
                    raise KafkaException(m.error())
                producer.produce(a.output, key=m.key(), value=m.value().upper(), partition=m.partition())
                processed += 1
                in_txn += 1
            if a.hold_after and not held and processed >= a.hold_after:
                producer.flush(10)
                held = True
                progress("holding")
                while not os.path.exists(a.release) and not stop:
                    time.sleep(0.02)
                progress("released")
            if in_txn >= a.batch or (in_txn > 0 and not msgs):
                producer.send_offsets_to_transaction(
                    consumer.position(consumer.assignment()),
                    consumer.consumer_group_metadata(), 10)
                producer.commit_transaction(10)
                committed += in_txn
                in_txn = 0
                progress("running")
                if a.pace_ms:
                    time.sleep(a.pace_ms / 1000.0)
                producer.begin_transaction()
    except KafkaException as e:
        err = e.args[0]
        progress("fenced" if err.fatal() else "failed")
        print("txn_copy: %s (fatal=%s abortable=%s)" % (err, err.fatal(), err.txn_requires_abort()),
              flush=True)
        if err.fatal():
            os._exit(3)
        os._exit(1)
    progress("stopped")
    try:
        producer.abort_transaction(5)
    except KafkaException:
        pass
    consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
