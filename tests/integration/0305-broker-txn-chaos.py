"""breadcrumb-broker part 3: exactly-once under repeated faults. A consume-transform-produce
copier (txn_copy.py, python3-confluent-kafka) copies N records (3000; 60000 under
BC_LONG=1) while, one after another and each chosen by progress (records committed, or the
copier holding an open transaction), the copier is killed with kill -9; the broker is
killed with kill -9 and restarted while the copier holds an open transaction (recovery
aborts it; the released copier is fenced and exits); the copier is killed again. At the end
every input record is on the output exactly once, in input order per partition."""
import os
import signal
import subprocess
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

import bclib
from bclib import check, fail, wait_for

N = 60000 if os.environ.get("BC_LONG") else 3000
# A killed copier holds its partitions until its session times out: 2 s (the broker allows
# it below), not 6 s, before the next copier gets them.
SESSION_MS = 2000
PARTS = 2
COPY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "txn_copy.py")


class Copier:
    count = 0

    def __init__(self, bootstrap, hold_after=0):
        Copier.count += 1
        self.bootstrap = bootstrap
        name = "chaos-copier-%d" % Copier.count
        self.progress_path = os.path.join(bclib.WORK, name + ".progress")
        self.release = os.path.join(bclib.WORK, name + ".release")
        self.log_path = os.path.join(bclib.WORK, name + ".log")
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [sys.executable, COPY, "--bootstrap", bootstrap, "--input", "in", "--output", "out",
             "--group", "chaos", "--txn-id", "chaos", "--batch", "100", "--pace-ms", "20",
             "--progress", self.progress_path, "--release", self.release,
             "--hold-after", str(hold_after), "--session-timeout-ms", str(SESSION_MS)],
            stdout=log, stderr=log)
        log.close()

    def state(self):
        try:
            with open(self.progress_path) as f:
                return dict(kv.split("=") for kv in f.read().split())
        except (OSError, ValueError):
            return {}

    def processed(self):
        return int(self.state().get("committed", 0))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(20)


def restart_if_exited(copier):
    current = restart_if_exited.last or copier
    if current.proc.poll() is not None:
        restart_if_exited.last = Copier(current.bootstrap)


restart_if_exited.last = None


def committed_output(bootstrap, timeout, on_idle=lambda: None):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "chaos-verify",
                  "isolation.level": "read_committed", "enable.auto.commit": False,
                  "fetch.wait.max.ms": 100})
    c.assign([TopicPartition("out", p, OFFSET_BEGINNING) for p in range(PARTS)])
    got = {p: [] for p in range(PARTS)}
    deadline = time.monotonic() + timeout
    while sum(len(v) for v in got.values()) < N:
        if time.monotonic() > deadline:
            fail("output: %d of %d committed records" % (sum(len(v) for v in got.values()), N))
        msgs = c.consume(1000, 0.2)
        for m in msgs:
            if m.error() is None:
                got[m.partition()].append(m.value().decode())
        if not msgs:
            on_idle()
    # nothing beyond N
    for m in c.consume(1000, 1.0):
        if m.error() is None:
            got[m.partition()].append(m.value().decode())
    c.close()
    return got


def run():
    b = bclib.Broker(args=["--group-min-session-timeout-ms", "1000", "--topic", "in:%d" % PARTS,
                           "--topic", "out:%d" % PARTS])
    with b:
        p = Producer({"bootstrap.servers": b.bootstrap, "enable.idempotence": True, "linger.ms": 5})
        for i in range(N):
            p.produce("in", value=b"v%06d" % i, partition=i % PARTS)
            if i % 10000 == 9999:
                p.flush(30)
        check(p.flush(30) == 0, "input produced")
        step = N // 5
        done = []

        def progressed(c):
            if c.proc.poll() is not None:
                fail("copier exited %s: %s" % (c.proc.returncode, open(c.log_path).read()[-1500:]))
            return c.processed() >= step

        # 1. kill -9 of the copier after `step` records
        copier = Copier(b.bootstrap)
        wait_for(lambda: progressed(copier), 90, "the first copier to commit %d records" % step)
        check(copier.processed() < N - step, "the first kill falls mid-copy")
        copier.kill()
        done.append("copier killed after %d committed" % copier.processed())
        # 2. kill -9 of the broker while the copier holds an open transaction
        copier = Copier(b.bootstrap, hold_after=step)
        wait_for(lambda: copier.state().get("state") == "holding", 90, "the copier to hold")
        aborted_before = b.log().count("aborting an open transaction")
        b.kill()
        b.start()
        check(b.log().count("aborting an open transaction") > aborted_before,
              "the restart aborted the copier's open transaction")
        open(copier.release, "w").close()
        try:
            rc = copier.proc.wait(60)
        except subprocess.TimeoutExpired:
            fail("the copier neither failed nor went on after the broker restart")
        check(rc == 3, "the copier whose transaction the restart aborted is fenced (exit 3), got %s"
              % rc)
        done.append("broker killed with a transaction open (copier fenced)")
        # 3. kill -9 of the copier again
        copier = Copier(b.bootstrap)
        wait_for(lambda: progressed(copier), 90, "the third copier to commit %d records" % step)
        check(copier.processed() < N - step, "the last kill falls mid-copy")
        copier.kill()
        done.append("copier killed after %d committed" % copier.processed())
        copier = Copier(b.bootstrap)
        # Finish, restarting the copier whenever it exits (fenced by the broker restart).
        got = committed_output(b.bootstrap, 600 if os.environ.get("BC_LONG") else 120,
                               on_idle=lambda: restart_if_exited(copier))
        copier = restart_if_exited.last or copier
        for q in range(PARTS):
            want = ["V%06d" % i for i in range(N) if i % PARTS == q]
            if got[q] != want:
                dups = len(got[q]) - len(set(got[q]))
                fail("partition %d: %d records (%d duplicates), want %d in order"
                     % (q, len(got[q]), dups, len(want)))
        copier.kill()
        print("RESULT chaos: %d records copied exactly once, in order, through: %s (%d copier "
              "processes)" % (N, ", ".join(done), Copier.count))


bclib.main(run)
