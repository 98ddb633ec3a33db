"""A zombie instance is fenced: of 2 copy instances, one is SIGSTOPped (mid-transaction,
chosen by progress) past the session timeout, its partitions move to the other, then it is
SIGCONTed. Whatever it still tries to commit is fenced (KIP-447 generation check or
transactional fencing); the read_committed output still holds every input exactly once."""
import signal

import bclib
import eoslib

N = 30000
PARTS = 6


def run():
    broker = bclib.Broker(args=["--topic", "in:%d" % PARTS, "--topic", "out:%d" % PARTS,
                                "--topic", "p.fates:1", "--topic", "p.dlq:1"]).start()
    try:
        eoslib.skip_unless_transactions(broker)
        eoslib.produce(broker.bootstrap, "in", ((b"k%d" % i, b"v%d" % i) for i in range(N)))
        a = eoslib.Stage("copy", broker, "a", ["in"], {"out": "out"}).start()
        b = eoslib.Stage("copy", broker, "b", ["in"], {"out": "out"}).start()
        reader = eoslib.Reader(broker.bootstrap, "out", PARTS)
        eoslib.wait_output(reader, N // 5, 60, "a fifth of the output")
        b.proc.send_signal(signal.SIGSTOP)
        # Past the session timeout (6 s in the test profile): the group has rebalanced when
        # the survivor alone brings the lag to zero.
        bclib.wait_for(lambda: eoslib.group_lag(broker.bootstrap, "p.copy", "in", PARTS) == 0,
                       90, "the survivor to take over every partition")
        before = len(b.log())
        b.proc.send_signal(signal.SIGCONT)
        # The zombie wakes with its old generation: its next commit fails (abort) or its
        # assignment is lost or it exits fenced; in every case it rejoins or stops.
        signs = ("transaction call failed", "assignment lost", "partitions assigned")
        bclib.wait_for(lambda: b.proc.poll() is not None
                       or any(x in b.log()[before:] for x in signs),
                       60, "the zombie to notice it was fenced")
        rc_a = a.stop()
        rc_b = b.stop()
        bclib.check(rc_a == 0, "the survivor exits 0")
        bclib.check(rc_b in (0, 3), "the zombie exits 0 or 3 (fenced), got %s" % rc_b)
        eoslib.wait_output(reader, N, 30, "all outputs")
        reader.poll(1.0)
        values = [m.value() for m in reader.records]
        reader.close()
        bclib.check(len(values) == len(set(values)), "no duplicates after the zombie woke")
        bclib.check(set(values) == {b"v%d" % i for i in range(N)}, "every input on the output")
        print("RESULT zombie: SIGSTOP past the session timeout, SIGCONT; %d records exactly "
              "once; zombie exit %d" % (N, rc_b))
    finally:
        broker.kill()


bclib.main(run)
