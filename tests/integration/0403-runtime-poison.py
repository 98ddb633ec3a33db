"""A poison record (the stage fails on it every time) reaches the DLQ after max_attempts
with its reason and source offset, and the stream goes on: every other record is copied
exactly once."""
import bclib
import eoslib

N = 2000
PARTS = 3
POISON_AT = 777


def run():
    broker = bclib.Broker(args=["--topic", "in:%d" % PARTS, "--topic", "out:%d" % PARTS,
                                "--topic", "p.fates:1", "--topic", "p.dlq:1"]).start()
    try:
        eoslib.skip_unless_transactions(broker)
        eoslib.produce(broker.bootstrap, "in",
                       ((b"k%d" % i, b"poison" if i == POISON_AT else b"v%d" % i)
                        for i in range(N)))
        s = eoslib.Stage("copy", broker, "a", ["in"], {"out": "out"},
                         extra=["--max-attempts", "3"], env={"BC_COPY_POISON": "poison"}).start()
        bclib.wait_for(lambda: eoslib.group_lag(broker.bootstrap, "p.copy", "in", PARTS) == 0,
                       60, "every input committed")
        bclib.check(s.stop() == 0, "the stage exits 0")
        out = eoslib.Reader(broker.bootstrap, "out", PARTS)
        eoslib.wait_output(out, N - 1, 30, "every other record")
        out.poll(1.0)
        values = [m.value() for m in out.records]
        bclib.check(len(values) == N - 1 and len(set(values)) == N - 1, "N-1 records, once each")
        dlq = eoslib.Reader(broker.bootstrap, "p.dlq", 1)
        eoslib.wait_output(dlq, 1, 30, "the dead letter")
        dlq.poll(1.0)
        bclib.check(len(dlq.records) == 1, "exactly one dead letter")
        m = dlq.records[0]
        hdrs = dict(m.headers() or [])
        dl = eoslib.decode("DeadLetter", m.value())
        bclib.check(dl["raw"] == b"poison", "the dead letter holds the poison record")
        bclib.check(dl["reason"] == "max_attempts" and dl["attempts"] == 3, "DeadLetter fields")
        bclib.check(dl["worker"] == "p.copy" and dl["source"]["topic"] == "in", "DeadLetter source")
        bclib.check(hdrs.get("bc.dlq.reason") == b"max_attempts", "reason max_attempts")
        bclib.check(hdrs.get("bc.dlq.attempts") == b"3", "3 failed attempts, then the DLQ")
        bclib.check(hdrs.get("bc.src", b"").startswith(b"in:"), "source offset header")
        print("RESULT poison: DLQ after 3 attempts (%s), %d others copied once"
              % (hdrs.get("bc.src").decode(), N - 1))
    finally:
        broker.kill()


bclib.main(run)
