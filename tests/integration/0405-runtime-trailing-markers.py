"""Transaction markers after the last record are committed past: three transactional
producers write one record each to a partition before any of them commits, so it ends in
three consecutive commit markers (records at 0-2, markers at 3-5; run records of workers
starting together look like this). The copy stage reads the three records and its group's
committed offset reaches the end (6), not the offset after the last record (3). Then, with
the stage idle, an aborted transaction (a record and its abort marker) and two more
interleaved ones: the committed offset follows to each end (8, then 12), the lag is 0 and
exactly the five committed records are on the output."""
from confluent_kafka import Consumer, Producer, TopicPartition

import bclib
import eoslib


def interleaved(bootstrap, names, commit=True):
    """One record per transactional producer on in[0], all written before any transaction
    ends; then every transaction ends (committed or aborted) in order."""
    producers = []
    for name in names:
        p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "t-0405-" + name})
        p.init_transactions(30)
        p.begin_transaction()
        p.produce("in", value=name.encode(), partition=0)
        bclib.check(p.flush(30) == 0, "record of %s written" % name)
        producers.append(p)
    for p in producers:
        if commit:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)


def offsets(bootstrap):
    """(the group's committed offset, the read_committed end) of in[0]."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "p.copy",
                  "isolation.level": "read_committed", "enable.auto.commit": False})
    try:
        committed = c.committed([TopicPartition("in", 0)], timeout=10)[0].offset
        _lo, hi = c.get_watermark_offsets(TopicPartition("in", 0), timeout=10, cached=False)
        return committed, hi
    finally:
        c.close()


def wait_committed(bootstrap, want, what):
    got = []

    def reached():
        got[:] = [offsets(bootstrap)]
        return got[0] == (want, want)

    try:
        bclib.wait_for(reached, 30, what, interval=0.2)
    except bclib.TestFailure:
        bclib.fail("%s: (committed, end) = %s, want (%d, %d)" % (what, got, want, want))


def run():
    broker = bclib.Broker(args=["--topic", "in:1", "--topic", "out:1", "--topic", "p.fates:1",
                                "--topic", "p.dlq:1"]).start()
    try:
        eoslib.skip_unless_transactions(broker)
        interleaved(broker.bootstrap, ["a", "b", "c"])
        stage = eoslib.Stage("copy", broker, "0", ["in"], {"out": "out"}).start()
        wait_committed(broker.bootstrap, 6, "committed past the three trailing markers")
        reader = eoslib.Reader(broker.bootstrap, "out", 1)
        eoslib.wait_output(reader, 3, 30, "the three records copied")

        # Idle: an aborted transaction moves only the consumer's position.
        interleaved(broker.bootstrap, ["d"], commit=False)
        wait_committed(broker.bootstrap, 8, "committed past an aborted transaction while idle")
        interleaved(broker.bootstrap, ["e", "f"])
        wait_committed(broker.bootstrap, 12, "committed past two more trailing markers")
        bclib.check(eoslib.group_lag(broker.bootstrap, "p.copy", "in", 1) == 0, "lag 0")
        bclib.check(stage.stop() == 0, "the stage exits 0 on SIGTERM")
        reader.drain()
        values = sorted(m.value() for m in reader.records)
        reader.close()
        bclib.check(values == [b"a", b"b", b"c", b"e", b"f"],
                    "exactly the committed records copied: %s" % values)
        print("RESULT trailing markers: committed offset at the partition's end (6, 8, 12) "
              "after 3 interleaved transactions, an aborted one while idle and 2 more; lag 0; "
              "5 records copied once")
    finally:
        broker.kill()


bclib.main(run)
