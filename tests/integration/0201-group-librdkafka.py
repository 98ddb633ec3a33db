"""breadcrumb-broker part 2: a consumer group of 3 librdkafka processes (python3-confluent-kafka)
splits 6 partitions; a dynamic member leaves (LeaveGroup) and the others take its partitions;
a static member is kill -9'ed and evicted after its 6 s session timeout; it comes back with
the same group.instance.id (a new member, so a rebalance); then it is kill -9'ed and
restarted before its session expires: it gets its partitions back without a rebalance (the
other member sees no revoke/assign, the generation stays). Every record is consumed exactly
once: members commit synchronously after processing each record, and membership changes
happen while the group is idle.

Run as `0201-group-librdkafka.py consumer BOOTSTRAP GROUP TOPIC INSTANCE|- OUTFILE` it is
one member: it writes ASSIGN/REVOKE lines on rebalances and `MSG partition offset value` for
each record, then commits it synchronously.
"""
import os
import signal
import subprocess
import sys
import time

GROUP = "g-rdkafka"
TOPIC = "grp"
BATCH = 120


def consumer_main(bootstrap, group, topic, instance, outfile):
    from confluent_kafka import Consumer, KafkaException
    out = open(outfile, "a", buffering=1)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    conf = {
        "bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
        "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
        "max.poll.interval.ms": 20000, "partition.assignment.strategy": "range",
    }
    if instance != "-":
        conf["group.instance.id"] = instance
    c = Consumer(conf)

    def on_assign(cons, parts):
        out.write("ASSIGN %s\n" % ",".join(str(p.partition) for p in parts))

    def on_revoke(cons, parts):
        out.write("REVOKE %s\n" % ",".join(str(p.partition) for p in parts))

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    out.write("STARTED\n")
    while not stop:
        m = c.poll(0.1)
        if m is None:
            continue
        if m.error():
            out.write("ERROR %s\n" % m.error())
            continue
        out.write("MSG %d %d %s\n" % (m.partition(), m.offset(), m.value().decode()))
        try:
            c.commit(message=m, asynchronous=False)
        except KafkaException as e:
            out.write("COMMITFAIL %d %d %s\n" % (m.partition(), m.offset(), e))
    c.close()
    out.write("CLOSED\n")


if len(sys.argv) > 1 and sys.argv[1] == "consumer":
    consumer_main(*sys.argv[2:7])
    sys.exit(0)

import bclib  # noqa: E402
from bclib import check  # noqa: E402
from confluent_kafka import Producer  # noqa: E402


class Member:
    """One consumer process and what it wrote."""

    def __init__(self, name, bootstrap, instance):
        self.name = name
        self.bootstrap = bootstrap
        self.instance = instance
        self.path = os.path.join(bclib.WORK, name + ".out")
        self.proc = None
        self.incarnations = 0

    def start(self):
        self.incarnations += 1
        with open(self.path, "a") as f:
            f.write("INCARNATION %d\n" % self.incarnations)
        err = open(os.path.join(bclib.WORK, self.name + ".err"), "a")
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "consumer",
                                      self.bootstrap, GROUP, TOPIC, self.instance or "-",
                                      self.path], stdout=err, stderr=err)
        err.close()

    def lines(self):
        with open(self.path) as f:
            return [l.rstrip("\n") for l in f]

    def current_lines(self):
        """Lines of the running incarnation."""
        out = []
        for l in self.lines():
            if l.startswith("INCARNATION "):
                out = []
            else:
                out.append(l)
        return out

    def assignment(self):
        """Partitions held now (None when not assigned)."""
        cur = None
        for l in self.current_lines():
            if l.startswith("ASSIGN"):
                parts = l[7:]
                cur = sorted(int(p) for p in parts.split(",")) if parts else []
            elif l.startswith("REVOKE"):
                cur = None
        return cur

    def rebalances(self):
        return sum(1 for l in self.current_lines() if l.startswith(("ASSIGN", "REVOKE")))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        check(self.proc.wait(30) == 0, "%s exited %s" % (self.name, self.proc.returncode))

    def kill(self):
        self.proc.kill()
        self.proc.wait(30)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def test():
    broker = bclib.Broker(args=["--topic", "%s:6" % TOPIC]).start()
    members = {n: Member(n, broker.bootstrap, inst) for n, inst in
               [("c1", "inst-1"), ("c2", "inst-2"), ("c3", None)]}
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    produced = []
    batches = [0]

    def produce_batch():
        batches[0] += 1
        for i in range(BATCH):
            v = "b%d-%d" % (batches[0], i)
            producer.produce(TOPIC, value=v, partition=i % 6)
            produced.append(v)
        check(producer.flush(30) == 0, "producer flushed")

    def consumed():
        return [l.split(" ", 3)[3] for m in members.values() for l in m.lines()
                if l.startswith("MSG ")]

    def wait_consumed(what):
        bclib.wait_for(lambda: len(consumed()) >= len(produced), 60, what)

    def wait_split(live, per):
        def ok():
            a = [members[n].assignment() for n in live]
            if any(x is None or len(x) != per for x in a):
                return False
            return sorted(p for x in a for p in x) == list(range(6))
        bclib.wait_for(ok, 60, "members %s to hold %d partitions each: %r" %
                       (live, per, {n: members[n].assignment() for n in live}))

    try:
        t0 = time.monotonic()
        for m in members.values():
            m.start()
        wait_split(["c1", "c2", "c3"], 2)
        print("RESULT 3 librdkafka members split 6 partitions 2/2/2 in %.1f s: %r" % (
            time.monotonic() - t0, {n: m.assignment() for n, m in members.items()}))
        produce_batch()
        wait_consumed("batch 1 consumed")

        # A dynamic member leaves: LeaveGroup, the others take its partitions at once.
        t0 = time.monotonic()
        members["c3"].stop()
        wait_split(["c1", "c2"], 3)
        print("RESULT dynamic member left (LeaveGroup): c1/c2 took its partitions in %.1f s" %
              (time.monotonic() - t0))
        produce_batch()
        wait_consumed("batch 2 consumed")

        # A static member is kill -9'ed: evicted when its session (6 s) expires.
        t0 = time.monotonic()
        members["c2"].kill()
        wait_split(["c1"], 6)
        evicted = time.monotonic() - t0
        check(evicted >= 4.5, "evicted after %.1f s, before its session timeout" % evicted)
        print("RESULT static member kill -9'ed: evicted after %.1f s (session.timeout.ms 6000), "
              "c1 holds all 6" % evicted)
        produce_batch()
        wait_consumed("batch 3 consumed")

        # It comes back after the eviction: a new member, so a rebalance.
        members["c2"].start()
        wait_split(["c1", "c2"], 3)
        produce_batch()
        wait_consumed("batch 4 consumed")

        # Killed and restarted within the session timeout: same group.instance.id, its old
        # partitions back, no rebalance for anyone.
        before = members["c2"].assignment()
        c1_rebalances = members["c1"].rebalances()
        log_before = broker.log().count("static member kept its assignment without a rebalance")
        gens_before = broker.log().count("group rebalance joined")
        t0 = time.monotonic()
        members["c2"].kill()
        members["c2"].start()
        bclib.wait_for(lambda: members["c2"].assignment() is not None, 30,
                       "the restarted c2 to get an assignment")
        back = time.monotonic() - t0
        check(members["c2"].assignment() == before, "c2 got %r back, had %r" % (
            members["c2"].assignment(), before))
        check(members["c1"].rebalances() == c1_rebalances, "c1 saw a rebalance")
        check(broker.log().count("static member kept its assignment without a rebalance") ==
              log_before + 1, "the broker replaced the static member without a rebalance")
        check(broker.log().count("group rebalance joined") == gens_before, "no new generation")
        print("RESULT static member restarted within its session: partitions %r back in %.1f s, "
              "no rebalance (c1 untouched, generation unchanged)" % (before, back))
        produce_batch()
        wait_consumed("batch 5 consumed")

        got = consumed()
        fails = [l for m in members.values() for l in m.lines() if l.startswith("COMMITFAIL")]
        check(not fails, "commit failures: %r" % fails[:5])
        check(len(got) == len(produced), "%d consumed, %d produced" % (len(got), len(produced)))
        check(sorted(got) == sorted(produced), "every record exactly once")
        print("RESULT %d records in %d batches consumed exactly once by the group" % (
            len(produced), batches[0]))
        for n in ("c1", "c2"):
            members[n].stop()
    finally:
        for m in members.values():
            if m.alive():
                m.kill()
        broker.kill()


bclib.main(test)
